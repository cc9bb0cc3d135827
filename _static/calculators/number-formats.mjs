// Number formats, bit by bit: the arithmetic of the number-format calculator (chapter 5), with no DOM.
//
// A float format is a sign bit, `exponentBits` exponent bits (bias 2^(e-1) - 1) and `mantissaBits`
// fraction bits, as in solutions/quantization.py. roundToFormat rounds a float64 once, to the
// nearest value of the format with ties to even, as solutions.quantization.round_to_format does;
// out of range it does what PyTorch's casts do on the CPU: ±infinity, except FP8 E4M3, which has no
// infinity and saturates at ±448. tests/test_book.py checks every function here against
// tests/data/calculator_cases.json, whose values tests/test_calculators.py checks against torch.

export const FLOAT_FORMATS = {
  fp32: {label: "FP32", exponentBits: 8, mantissaBits: 23, nanMantissa: 1 << 22},
  fp16: {label: "FP16", exponentBits: 5, mantissaBits: 10, nanMantissa: 1 << 9},
  bf16: {label: "BF16", exponentBits: 8, mantissaBits: 7, nanMantissa: 1 << 6},
  // OCP E4M3: the top exponent field holds numbers; only S.1111.111 is NaN, so the largest value is 448
  fp8_e4m3: {label: "FP8 E4M3", exponentBits: 4, mantissaBits: 3, nanMantissa: 7, noInfinity: true},
  fp8_e5m2: {label: "FP8 E5M2", exponentBits: 5, mantissaBits: 2, nanMantissa: 3},
};

/** Bias, largest finite value, smallest normal and subnormal values, and epsilon of a format. */
export function formatInfo(name) {
  const {exponentBits: e, mantissaBits: m, noInfinity} = FLOAT_FORMATS[name];
  const bias = 2 ** (e - 1) - 1;
  const topExponent = noInfinity ? 2 ** e - 1 - bias : 2 ** e - 2 - bias;
  const topMantissa = noInfinity ? 2 ** m - 2 : 2 ** m - 1;
  return {bias, max: (1 + topMantissa / 2 ** m) * 2 ** topExponent, minNormal: 2 ** (1 - bias),
          minSubnormal: 2 ** (1 - bias - m), eps: 2 ** -m};
}

/** floor(log2(a)) of a positive finite float64, read off its exponent bits (exact). */
function floorLog2(a) {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, a);
  const biased = (view.getUint32(0) >>> 20) & 0x7ff;
  if (biased === 0) return floorLog2(a * 2 ** 64) - 64;  // a float64 subnormal: scale it up exactly
  return biased - 1023;
}

/** The integer nearest to v >= 0, ties to the even one (v < 2^53, so v - floor(v) is exact). */
function roundHalfEven(v) {
  const floor = Math.floor(v);
  const rest = v - floor;
  if (rest > 0.5) return floor + 1;
  if (rest < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** The integer nearest to v, ties to the even one, for any sign (as torch.round). */
export function roundHalfEvenSigned(v) {
  return v < 0 ? -roundHalfEven(-v) : roundHalfEven(v);
}

/**
 * Round the float64 `x` to the format `name`: {value, sign, exponent, mantissa, bits, kind}.
 * `exponent` is the biased field and `mantissa` the fraction field (ints); `bits` reads
 * "sign|exponent|mantissa" in binary; `kind` is "zero", "subnormal", "normal", "saturated",
 * "infinity" or "nan".
 */
export function roundToFormat(x, name) {
  const format = FLOAT_FORMATS[name];
  const {exponentBits: e, mantissaBits: m} = format;
  const info = formatInfo(name);
  const allOnes = 2 ** e - 1;
  const encode = (sign, exponent, mantissa, value, kind) => ({
    value, sign, exponent, mantissa, kind,
    bits: `${sign}|${exponent.toString(2).padStart(e, "0")}|${mantissa.toString(2).padStart(m, "0")}`});
  if (Number.isNaN(x)) return encode(0, allOnes, format.nanMantissa, NaN, "nan");
  const sign = x < 0 || Object.is(x, -0) ? 1 : 0;
  const signed = (v) => (sign ? -v : v);
  const magnitude = Math.abs(x);
  let rounded = Infinity;
  if (magnitude !== Infinity) {
    // the binade of x, subnormals sharing the lowest, and the gap between neighbours there
    const exponent = Math.max(magnitude === 0 ? 0 : floorLog2(magnitude), 1 - info.bias);
    const spacing = 2 ** (exponent - m);
    rounded = roundHalfEven(magnitude / spacing) * spacing;  // exact: scaling by 2^k
  }
  if (rounded > info.max) {
    if (format.noInfinity) return encode(sign, allOnes, 2 ** m - 2, signed(info.max), "saturated");
    return encode(sign, allOnes, 0, signed(Infinity), "infinity");
  }
  if (rounded === 0) return encode(sign, 0, 0, signed(0), "zero");
  if (rounded < info.minNormal) {  // subnormal: 0.mantissa * 2^(1 - bias)
    return encode(sign, 0, rounded / info.minSubnormal, signed(rounded), "subnormal");
  }
  const exponent = floorLog2(rounded);  // rounding may have carried into the next binade
  return encode(sign, exponent + info.bias, (rounded / 2 ** exponent - 1) * 2 ** m, signed(rounded), "normal");
}

/** Absolute and relative error of storing x as `stored` (relative: NaN when x is 0). */
export function roundingError(x, stored) {
  const absolute = Math.abs(stored - x);
  return {absolute, relative: x === 0 ? NaN : absolute / Math.abs(x)};
}

/** The float32 scale of symmetric (absmax) INT8 quantization of a tensor whose largest magnitude is `absmax`. */
export function absmaxScale(absmax) {
  return absmax > 0 ? Math.fround(Math.fround(absmax) / 127) : 1;
}

/**
 * INT8 with scale `scale`: q = clamp(round(x / s), -127, 127) (ties to even) in float32, as
 * solutions.quantization.fake_quantize(x, s, 0, -127, 127) computes it, and the dequantized
 * float32 value q * s. Returns {scale (float32), q, dequantized, clamped}.
 */
export function int8Quantize(x, scale) {
  const s = Math.fround(scale);
  const ratio = Math.fround(Math.fround(x) / s);  // float32 division: a float64 quotient rounded once
  const nearest = roundHalfEvenSigned(ratio);
  const q = Math.min(127, Math.max(-127, nearest)) + 0;  // + 0: an integer has no -0
  return {scale: s, q, dequantized: Math.fround(q * s), clamped: q !== nearest};
}
