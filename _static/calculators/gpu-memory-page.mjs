// The GPU-memory calculator's form: read the inputs, compute with gpu-memory.mjs, draw the result.
import {ACTIVATION_FORMULAS, COUNT_HELP, GPUS, OPTIMIZERS, PRECISIONS, bytesPerGpu, fits, parseCount} from "./gpu-memory.mjs";
import {addStyle, bytesText} from "./ui.mjs";

const PARTS = [["weights", "Weights", "#1f77b4"], ["gradients", "Gradients", "#ff7f0e"],
               ["optimizer", "Optimizer states", "#2ca02c"], ["activations", "Activations", "#d62728"]];
const SVG_NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

function fillSelect(select, options) {
  for (const [value, label] of Object.entries(options)) select.append(new Option(label, value));
}

function readInputs() {
  const whole = (id) => Math.floor(Number($(id).value));
  const custom = $("gm-gpu").value === "custom";
  return {
    nParams: parseCount($("gm-params").value), precision: $("gm-precision").value, optimizer: $("gm-optimizer").value,
    nGpus: whole("gm-gpus"), stage: Number($("gm-stage").value), formula: $("gm-activations").value,
    shape: {batch: whole("gm-batch"), seqLen: whole("gm-seq-len"), dModel: whole("gm-d-model"), nHeads: whole("gm-n-heads"),
            nLayers: whole("gm-n-layers"), vocabSize: whole("gm-vocab")},
    gpuBytes: custom ? Number($("gm-gpu-size").value) * Number($("gm-gpu-unit").value) : GPUS[$("gm-gpu").value].bytes,
  };
}

function problem(inputs) {
  if (!(inputs.nParams >= 0)) return COUNT_HELP;
  if (!(inputs.nGpus >= 1)) return "The number of GPUs must be at least 1.";
  const shape = Object.values(inputs.shape);
  if (inputs.formula !== "none" && !shape.every((v) => v >= 1)) return "Every size of the model shape must be at least 1.";
  if (!(inputs.gpuBytes > 0)) return "Type the GPU's memory size.";
  return "";
}

function drawBar(svg, bytes, gpuBytes, summary) {
  const width = 600, height = 74, barY = 8, barHeight = 34;
  const scale = Math.max(bytes.total, gpuBytes);
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("aria-label", summary);
  const title = document.createElementNS(SVG_NS, "title");
  title.textContent = summary;
  svg.append(title);
  let x = 0;
  for (const [key, , color] of PARTS) {
    const w = (bytes[key] / scale) * width;
    const rect = document.createElementNS(SVG_NS, "rect");
    Object.entries({x, y: barY, width: w, height: barHeight, fill: color}).forEach(([k, v]) => rect.setAttribute(k, v));
    svg.append(rect);
    x += w;
  }
  const lineX = Math.min((gpuBytes / scale) * width, width - 1);
  const line = document.createElementNS(SVG_NS, "line");
  Object.entries({x1: lineX, x2: lineX, y1: 2, y2: barY + barHeight + 6, class: "calc-capacity"})
    .forEach(([k, v]) => line.setAttribute(k, v));
  const label = document.createElementNS(SVG_NS, "text");
  Object.entries({x: lineX, y: height - 6, "text-anchor": lineX > width / 2 ? "end" : "start"})
    .forEach(([k, v]) => label.setAttribute(k, v));
  label.textContent = "GPU memory";
  svg.append(line, label);
}

function update() {
  const inputs = readInputs();
  $("gm-gpu-size").disabled = $("gm-gpu-unit").disabled = $("gm-gpu").value !== "custom";
  const message = problem(inputs);
  $("gm-problem").textContent = message;
  $("gm-result").hidden = Boolean(message);
  if (message) return;
  const bytes = bytesPerGpu(inputs);
  const fit = fits(bytes.total, inputs.gpuBytes);
  for (const [key] of PARTS.concat([["total"]])) {
    $(`gm-out-${key}`).textContent = bytesText(bytes[key]);
    $(`gm-out-${key}`).dataset.bytes = String(bytes[key]);
  }
  $("gm-out-capacity").textContent = bytesText(inputs.gpuBytes);
  const verdict = fit ? "Fits: the total is at most the GPU's memory."
                      : "Does not fit: the total is more than the GPU's memory.";
  $("gm-verdict").textContent = verdict;
  $("gm-verdict").dataset.fits = String(fit);
  const parts = PARTS.map(([key, label]) => `${label.toLowerCase()} ${(bytes[key] / 1e9).toFixed(2)} GB`).join(", ");
  drawBar($("gm-bar"), bytes, inputs.gpuBytes, `Bytes per GPU, stacked: ${parts}; total ${(bytes.total / 1e9).toFixed(2)} GB `
          + `against ${(inputs.gpuBytes / 1e9).toFixed(2)} GB of GPU memory. ${verdict}`);
}

addStyle();
fillSelect($("gm-precision"), PRECISIONS);
fillSelect($("gm-optimizer"), Object.fromEntries(Object.entries(OPTIMIZERS).map(([k, v]) => [k, v.label])));
fillSelect($("gm-activations"), ACTIVATION_FORMULAS);
fillSelect($("gm-gpu"), {...Object.fromEntries(Object.entries(GPUS).map(([k, v]) => [k, v.label])), custom: "Other size"});
$("gm-precision").value = "mixed";
$("gm-optimizer").value = "adamw";
$("gm-gpu").value = "card_80gib";
$("gm-activations").value = "korthikanti";  // 16-bit activations beside the default mixed precision
$("gm-form").addEventListener("input", update);
$("gm-form").addEventListener("change", update);
update();
