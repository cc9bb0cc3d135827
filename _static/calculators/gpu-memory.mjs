// GPU memory of one training step, per GPU: the arithmetic of the GPU-memory calculator (chapter 4), with no DOM.
//
// The same conventions as solutions/memory.py: training_bytes for the model states (weights,
// gradients, optimizer states), zero_bytes_per_gpu's sharding for ZeRO stages 1-3, and
// gpt_activation_bytes or activation_bytes (Korthikanti et al.) for the activations. Every size is
// in bytes. tests/test_book.py checks these functions against tests/data/calculator_cases.json,
// whose values tests/test_calculators.py checks against solutions.memory.

export const PRECISIONS = {fp32: "FP32", mixed: "Mixed (16-bit, FP32 master)"};
// fp32 tensors of optimizer state per parameter: SGD keeps none, momentum one buffer, AdamW two moments
export const OPTIMIZERS = {sgd: {label: "SGD", states: 0}, sgd_momentum: {label: "SGD with momentum", states: 1},
                           adamw: {label: "AdamW", states: 2}};
export const ACTIVATION_FORMULAS = {
  gpt_flash: "GPT, fused attention", gpt_math: "GPT, math attention", korthikanti: "Korthikanti et al., layers only",
  korthikanti_full: "Korthikanti et al., with embeddings and output layer", none: "None",
};

/** Bytes of weights, gradients and optimizer states on one GPU, before any sharding (training_bytes). */
export function modelStateBytes(nParams, precision, optimizer) {
  const states = 4 * OPTIMIZERS[optimizer].states * nParams;
  if (precision === "fp32") return {weights: 4 * nParams, gradients: 4 * nParams, optimizer: states};
  // mixed: 16-bit weights and gradients; an FP32 master copy of the weights joins the optimizer states
  return {weights: 2 * nParams, gradients: 2 * nParams, optimizer: 4 * nParams + states};
}

/** Bytes of the activations saved for the backward pass, by one of ACTIVATION_FORMULAS. */
export function activationBytes(formula, {batch, seqLen, dModel, nHeads, nLayers, vocabSize}) {
  const [B, T, C, a] = [batch, seqLen, dModel, nHeads];
  if (formula === "none") return 0;
  const layers = nLayers * T * B * C * (34 + 5 * a * T / C);  // Korthikanti et al.: s b h (34 + 5 a s / h) per layer
  if (formula === "korthikanti") return layers;
  // outside the layers: Megatron-LM's int64 ids 8 s b, then the paper's section 4.3: embedding dropout mask s b h, 16-bit inputs
  // of the final LayerNorm and output layer and FP32 logits 4 s b h (1 + v / h)
  if (formula === "korthikanti_full") return layers + 8 * T * B + T * B * C + 4 * T * B * C + 4 * T * B * vocabSize;
  // chapter 1's GPT: per block 16 BTC + 4 BT fp32 values and the attention's own
  let attention = B * a * T;  // fused kernel: one log-sum-exp per head and query
  if (formula === "gpt_math") attention = B * a * T * T + (B === 1 ? 2 * B * T * C : 0);  // probabilities (T, T)
  const perBlock = 16 * B * T * C + 4 * B * T + attention;
  // final LayerNorm, log-probabilities and the loss; then the int64 token ids, targets and positions
  const fp32Values = nLayers * perBlock + 2 * B * T * C + 2 * B * T + B * T * vocabSize + 1;
  const int64Values = 2 * B * T + T;
  return 4 * fp32Values + 8 * int64Values;
}

/**
 * Bytes on each GPU of data-parallel training on `nGpus` GPUs at ZeRO `stage` (0-3): stage 1 shards
 * the optimizer states, stage 2 the gradients too, stage 3 the weights too; the activations of the
 * per-GPU batch are not sharded. Returns {weights, gradients, optimizer, activations, total}.
 */
export function bytesPerGpu({nParams, precision, optimizer, nGpus, stage, formula, shape}) {
  const states = modelStateBytes(nParams, precision, optimizer);
  const perGpu = {
    weights: stage >= 3 ? states.weights / nGpus : states.weights,
    gradients: stage >= 2 ? states.gradients / nGpus : states.gradients,
    optimizer: stage >= 1 ? states.optimizer / nGpus : states.optimizer,
    activations: activationBytes(formula, shape),
  };
  perGpu.total = perGpu.weights + perGpu.gradients + perGpu.optimizer + perGpu.activations;
  return perGpu;
}

// GPU memory sizes the chapter uses: its 24 GiB card ("Storing a model") and its 80 GiB card ("More GPUs")
export const GPUS = {
  card_24gib: {label: "24 GiB (the card of “Storing a model”)", bytes: 24 * 2 ** 30},
  card_80gib: {label: "80 GiB (the card of “More GPUs”)", bytes: 80 * 2 ** 30},
};

/** Whether `totalBytes` fit in `gpuBytes`. */
export function fits(totalBytes, gpuBytes) {
  return totalBytes <= gpuBytes;
}

/**
 * A count typed by a reader: "7e9", "7B", "7.5B", "1.5 M", "175,000,000", "175_000_000". A dot marks
 * decimals; a comma or an underscore only separates groups of three digits, so "7,5B" is no count;
 * an exponent and a suffix together ("7e9B") are none either. NaN for anything that is not a count.
 */
export function parseCount(text) {
  const match = /^\s*([0-9]{1,3}(?:,[0-9]{3})+|[0-9]{1,3}(?:_[0-9]{3})+|[0-9]+)(\.[0-9]+)?(e[+-]?[0-9]+)?\s*([kmbt]?)\s*$/i
    .exec(text);
  if (!match || (match[3] && match[4])) return NaN;
  const units = {"": 1, k: 1e3, m: 1e6, b: 1e9, t: 1e12};
  return Number(match[1].replace(/[,_]/g, "") + (match[2] || "") + (match[3] || "")) * units[match[4].toLowerCase()];
}

/** What to tell a reader whose parameter count does not parse. */
export const COUNT_HELP = "Type the number of parameters as 7e9, 7B, 7.5B or 7,000,000,000: a dot for decimals, "
  + "commas only between groups of three digits, and an exponent or a suffix (k, M, B, T), not both.";
