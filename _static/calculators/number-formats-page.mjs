// The number-format calculator's form: read the number and the scale, compute with number-formats.mjs, show the bits.
import {FLOAT_FORMATS, int8Quantize, roundToFormat, roundingError} from "./number-formats.mjs";
import {addStyle, errorText, floatText} from "./ui.mjs";

const $ = (id) => document.getElementById(id);
const KINDS = {zero: "zero", subnormal: "subnormal", normal: "normal", saturated: "out of range: saturated at the largest value",
               infinity: "out of range: infinity", nan: "not a number"};

/** A number typed by a reader: a decimal, "NaN", "inf" or "-inf"; NaN for anything else. */
function parseNumber(text) {
  const t = text.trim().toLowerCase().replace(/^\+/, "");
  if (t === "nan") return NaN;
  if (/^-?(inf|infinity)$/.test(t)) return t.startsWith("-") ? -Infinity : Infinity;
  return /^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/.test(t) ? Number(t) : undefined;
}

function bitsElement(bits) {
  const element = document.createElement("div");
  element.className = "calc-bits";
  const [sign, exponent, mantissa] = bits.split("|");
  const field = (text, kind) => Object.assign(document.createElement("span"), {className: `bit-${kind}`, textContent: text});
  const separator = () => Object.assign(document.createElement("span"), {className: "bit-sep", textContent: "|"});
  element.append(field(sign, "sign"), separator(), field(exponent, "exponent"), separator(), field(mantissa, "mantissa"));
  element.setAttribute("aria-label", `sign ${sign}, exponent ${exponent}, mantissa ${mantissa}`);
  return element;
}

function definitions(pairs) {
  const list = document.createElement("dl");
  for (const [term, value, name] of pairs) {
    const dd = Object.assign(document.createElement("dd"), {textContent: value});
    dd.dataset.field = name;
    list.append(Object.assign(document.createElement("dt"), {textContent: term}), dd);
  }
  return list;
}

function update() {
  const x = parseNumber($("nf-value").value);
  const out = $("nf-formats");
  out.replaceChildren();
  $("nf-problem").textContent = x === undefined ? "Type a number, for example 0.1, -3e-5, 65520, inf or nan." : "";
  if (x === undefined) return;
  for (const name of Object.keys(FLOAT_FORMATS)) {
    const stored = roundToFormat(x, name);
    const error = roundingError(x, stored.value);
    const section = document.createElement("section");
    section.className = "calc-format";
    section.dataset.format = name;
    const {label, exponentBits, mantissaBits} = FLOAT_FORMATS[name];
    const heading = `${label}: 1 sign, ${exponentBits} exponent and ${mantissaBits} mantissa bits`;
    section.append(Object.assign(document.createElement("h3"), {textContent: heading}), bitsElement(stored.bits),
                   definitions([["stored value", floatText(stored.value), "value"], ["kind", KINDS[stored.kind], "kind"],
                                ["absolute error", errorText(error.absolute), "abs_error"],
                                ["relative error", errorText(error.relative), "rel_error"]]));
    out.append(section);
  }
  const scale = Number($("nf-scale").value);
  const int8 = $("nf-int8");
  int8.replaceChildren();
  if (!(scale > 0 && Number.isFinite(scale))) {
    int8.textContent = "Type a positive scale.";
  } else if (!Number.isFinite(x)) {
    int8.textContent = "INT8 holds finite numbers only.";
  } else {
    const result = int8Quantize(x, scale);
    const error = roundingError(x, result.dequantized);
    int8.append(definitions([
      ["scale (float32)", floatText(result.scale), "scale"],
      ["q", `${result.q}${result.clamped ? " (clamped to ±127)" : ""}`, "q"],
      ["q × scale", floatText(result.dequantized), "dequantized"],
      ["absolute error", errorText(error.absolute), "abs_error"],
      ["relative error", errorText(error.relative), "rel_error"]]));
  }
}

addStyle();
$("nf-form").addEventListener("input", update);
update();
