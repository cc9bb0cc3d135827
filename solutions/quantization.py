"""Chapter 5, Quantization: number formats bit by bit, integer quantization, and fake quantization.

Floating-point formats are described by their bit counts alone: a sign bit, ``e`` exponent bits
(bias ``2^(e-1) - 1``) and ``m`` mantissa (fraction) bits. Every function here computes from those
counts, with exact float64 arithmetic, and never converts to a lower-precision torch dtype.

Integer quantization follows the usual affine convention ``x ≈ (q - zero_point) * scale``, with
``q`` an integer on the signed range ``[-2^(bits-1), 2^(bits-1) - 1]``. Weights follow
``torch.nn.Linear``'s layout ``(out_features, in_features)``.
"""

import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# name -> (exponent_bits, mantissa_bits); every format also has one sign bit
FORMATS = {
    "fp32": (8, 23),
    "fp16": (5, 10),
    "bf16": (8, 7),
    "fp8_e4m3": (4, 3),
    "fp8_e5m2": (5, 2),
}


def format_info(fmt):
    """Range and precision of a floating-point format, from its bit counts.

    ``fmt`` is a name in ``FORMATS`` or a pair ``(exponent_bits, mantissa_bits)``. Returns a dict of
    floats: ``max`` (largest finite value), ``min_normal``, ``min_subnormal`` and ``eps`` (the gap
    between 1 and the next larger value). IEEE 754 convention: the all-ones exponent holds
    infinities and NaNs. ``"fp8_e4m3"`` follows the OCP FP8 convention instead: no infinities, and
    only the all-ones exponent with all-ones mantissa is NaN, so its largest value is 448.
    """
    exponent_bits, mantissa_bits = FORMATS[fmt] if isinstance(fmt, str) else fmt
    bias = 2 ** (exponent_bits - 1) - 1
    if fmt == "fp8_e4m3":  # top exponent is a normal binade whose last code is NaN
        largest_exponent, largest_mantissa = 2**exponent_bits - 1 - bias, 2**mantissa_bits - 2
    else:  # top exponent reserved for inf and NaN
        largest_exponent, largest_mantissa = 2**exponent_bits - 2 - bias, 2**mantissa_bits - 1
    largest = (1 + largest_mantissa / 2**mantissa_bits) * 2.0**largest_exponent
    return {"max": largest, "min_normal": 2.0 ** (1 - bias),
            "min_subnormal": 2.0 ** (1 - bias - mantissa_bits), "eps": 2.0**-mantissa_bits}


def round_to_format(x, fmt):
    """The values representable in ``fmt`` nearest to ``x``, ties to even; same shape and dtype.

    ``fmt`` is a name in ``FORMATS`` or ``(exponent_bits, mantissa_bits)``. Inputs must be finite
    and at most the format's ``max`` in magnitude (larger ones would overflow; they are not asked);
    subnormals are handled, and the sign of zero is kept: ``-0.0``, and a negative value that rounds
    to zero, give ``-0.0``. The rounding is done in float64, where scaling by a power of two is exact.
    """
    exponent_bits, mantissa_bits = FORMATS[fmt] if isinstance(fmt, str) else fmt
    min_exponent = 2 - 2 ** (exponent_bits - 1)  # exponent of the smallest normal, 1 - bias
    x64 = x.double()
    _, frexp_exponent = torch.frexp(x64.abs())  # |x| = f * 2^k with f in [0.5, 1)
    exponent = (frexp_exponent - 1).clamp(min=min_exponent)  # binade of x; subnormals share the lowest
    spacing = torch.pow(2.0, (exponent - mantissa_bits).double())  # gap between neighbours there
    return (torch.round(x64 / spacing) * spacing).to(x.dtype)  # torch.round ties to even


def float_bits(x, fmt):
    """The stored fields ``(sign, exponent, mantissa)`` of the float ``x`` rounded to ``fmt``, as ints.

    ``exponent`` is the biased field (0 for zero and subnormals) and ``mantissa`` the fraction field,
    so a normal value is ``(-1)^sign * (1 + mantissa / 2^m) * 2^(exponent - bias)``. ``x`` is a
    finite number at most the format's ``max`` in magnitude, and ``fmt`` a name or a pair, as for
    :func:`round_to_format`. The fields are those of the rounded
    value: when rounding carries into the next power of two, the exponent grows and the mantissa is 0;
    ``sign`` is 1 for ``-0.0`` and for a negative value that rounds to zero.
    """
    exponent_bits, mantissa_bits = FORMATS[fmt] if isinstance(fmt, str) else fmt
    bias = 2 ** (exponent_bits - 1) - 1
    value = round_to_format(torch.tensor(float(x), dtype=torch.float64), fmt).item()
    sign = int(math.copysign(1.0, value) < 0)
    magnitude = abs(value)
    if magnitude < 2.0 ** (1 - bias):  # zero or subnormal: 0.mantissa * 2^(1 - bias)
        return sign, 0, int(magnitude / 2.0 ** (1 - bias - mantissa_bits))
    fraction, frexp_exponent = math.frexp(magnitude)  # magnitude = fraction * 2^frexp_exponent
    mantissa = int((2 * fraction - 1) * 2**mantissa_bits)  # 1.mantissa = 2 * fraction
    return sign, frexp_exponent - 1 + bias, mantissa


def absmax_quantize(x, bits=8, dim=None):
    """Symmetric quantization: ``(q, scale)`` with ``x ≈ q * scale`` and ``q`` integers in int8.

    ``scale = max|x| / (2^(bits-1) - 1)`` and ``q = round(x / scale)`` (ties to even), so ``q`` lies
    in ``[-(2^(bits-1) - 1), 2^(bits-1) - 1]``; ``bits`` is from 2 to 8. ``dim`` is the dimension the
    maximum is taken over: ``dim=1`` on an ``(out, in)`` weight gives one scale per row, shaped
    ``(out, 1)``; ``dim=None`` gives one scale for the whole tensor, shaped like ``x`` with every
    size 1. ``scale`` is float32. A slice of zeros gets scale 1.
    """
    q_max = 2 ** (bits - 1) - 1
    dims = tuple(range(x.dim())) if dim is None else dim
    absmax = x.abs().float().amax(dim=dims, keepdim=True)  # x's shape with the reduced sizes 1
    scale = torch.where(absmax > 0, absmax / q_max, 1.0)
    q = torch.round(x / scale).to(torch.int8)
    return q, scale


def zeropoint_quantize(x, bits=8):
    """Asymmetric (affine) quantization of the whole tensor: ``(q, scale, zero_point)``.

    The range ``[lo, hi]`` is ``x``'s, widened to include 0 so that zero is stored exactly.
    ``scale = (hi - lo) / (2^bits - 1)`` (float32), ``zero_point = round(-lo / scale) -
    2^(bits-1)`` (int32), both shaped like ``x`` with every size 1, and ``q = clamp(round(x /
    scale) + zero_point, -2^(bits-1), 2^(bits-1) - 1)`` (int8), so ``x ≈ (q - zero_point) * scale``;
    ``bits`` is from 2 to 8. A tensor of zeros (``lo == hi == 0``) gets scale 1, so its zero point is
    ``-2^(bits-1)``; a constant ``c != 0`` has the range ``[min(c, 0), max(c, 0)]`` like any tensor.
    """
    q_min, q_max = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    dims = tuple(range(x.dim()))
    lo = x.amin(dim=dims, keepdim=True).clamp(max=0).float()  # x's shape with every size 1
    hi = x.amax(dim=dims, keepdim=True).clamp(min=0).float()
    scale = torch.where(hi > lo, (hi - lo) / (2**bits - 1), 1.0)
    zero_point = (torch.round(-lo / scale) + q_min).to(torch.int32)
    q = (torch.round(x / scale) + zero_point).clamp(q_min, q_max).to(torch.int8)
    return q, scale, zero_point


def dequantize(q, scale, zero_point=0):
    """The float32 values ``(q - zero_point) * scale`` that integers ``q`` stand for."""
    return (q.float() - zero_point) * scale


def fake_quantize(x, scale, zero_point, qmin, qmax):
    """Quantize then dequantize ``x`` on the forward pass, with straight-through gradients.

    Forward: ``(clamp(round(x / scale) + zero_point, qmin, qmax) - zero_point) * scale``. Backward:
    the gradient passes to ``x`` unchanged where ``round(x / scale) + zero_point`` lies in
    ``[qmin, qmax]`` and is zero where it was clamped. A ``scale`` that requires grad receives the
    gradient of learned step-size quantization (LSQ, Esser et al. 2020): ``round(x/s) - x/s`` inside
    the range, ``qmin - zero_point`` or ``qmax - zero_point`` outside. "Inside" is decided after
    rounding, as in PyTorch's fake quantizers; the LSQ paper decides it on ``x/s`` before rounding.
    """
    v = x / scale
    v_rounded = v + (torch.round(v) - v).detach()  # round forward, identity backward
    return (torch.clamp(v_rounded + zero_point, qmin, qmax) - zero_point) * scale


def fake_quantize_grad(x, scale, zero_point, qmin, qmax, upstream):
    """The gradient that reaches ``x`` through :func:`fake_quantize` when ``upstream`` flows back.

    ``upstream`` has ``x``'s shape (the gradient of a loss with respect to the output); returns
    the gradient with respect to ``x``, of ``x``'s shape.
    """
    x = x.detach().clone().requires_grad_(True)
    (fake_quantize(x, scale, zero_point, qmin, qmax) * upstream).sum().backward()
    return x.grad


def fake_quantize_scale_grad(x, scale, zero_point, qmin, qmax, upstream):
    """The gradient that reaches the number ``scale`` through :func:`fake_quantize` when ``upstream``
    flows back: a 0-d float32 tensor, the sum over ``x`` of LSQ's per-value gradient times ``upstream``.
    """
    scale = torch.tensor(float(scale), requires_grad=True)
    (fake_quantize(x, scale, zero_point, qmin, qmax) * upstream).sum().backward()
    return scale.grad


def quantized_linear_bytes(shapes, bits=8, per_channel=True):
    """Bytes to store linear weights of the given ``(out, in)`` shapes as packed ``bits``-bit integers.

    Each weight needs ``ceil(out * in * bits / 8)`` bytes of packed integers plus one float32 scale
    (4 bytes) per output row when ``per_channel``, else one for the whole weight. Returns an int.
    """
    total = 0
    for out_features, in_features in shapes:
        n_scales = out_features if per_channel else 1
        total += math.ceil(out_features * in_features * bits / 8) + 4 * n_scales
    return total


def mse_scale(x, bits=8, dim=None, n_ratios=100):
    """The symmetric scale whose clipping range gives the smallest squared error on ``x``.

    Post-training range setting by a grid search, with no data but the tensor: the candidates
    are the absmax scale of :func:`absmax_quantize` times ``k / n_ratios`` for ``k = 1 ... n_ratios``;
    values beyond ``q_max * scale`` are clamped to it. ``dim`` as for :func:`absmax_quantize`: one
    scale per slice along it (``dim=1`` on an ``(out, in)`` weight: one per row), each chosen for its
    own slice. Returns float32, shaped like the absmax scale; ratio 1 is absmax itself.
    """
    q_max = 2 ** (bits - 1) - 1
    _, absmax_scale = absmax_quantize(x, bits, dim)  # x's shape with the reduced sizes 1
    dims = tuple(range(x.dim())) if dim is None else dim
    best_error, best_scale = None, absmax_scale
    for k in range(1, n_ratios + 1):
        scale = absmax_scale * (k / n_ratios)
        error = ((torch.round(x / scale).clamp(-q_max, q_max) * scale - x) ** 2).sum(dim=dims, keepdim=True)
        if best_error is None:
            best_error, best_scale = error, scale
        else:
            better = error < best_error
            best_error, best_scale = torch.where(better, error, best_error), torch.where(better, scale, best_scale)
    return best_scale.float()


class QuantizedLinear(nn.Module):
    """A bias-free linear layer whose weight is stored as packed ``bits``-bit integers and scales.

    ``packed`` holds ``8 // bits`` weights per byte (``bits`` in 2, 4, 8) as unsigned codes
    ``q + 2^(bits-1)``; ``scale`` is float32, ``(out, 1)`` per channel or ``(1, 1)`` per tensor.
    ``clip`` chooses the scale: ``"absmax"`` (the largest magnitude maps to the largest integer) or
    ``"mse"`` (:func:`mse_scale`: the clipping range with the smallest squared error, values beyond
    it clamped). The forward pass unpacks and dequantizes the weight, then multiplies in float32.
    """

    def __init__(self, weight, bits=8, per_channel=True, clip="absmax"):
        super().__init__()
        if bits not in (2, 4, 8):
            raise ValueError(f"bits must be 2, 4 or 8 to pack whole bytes, got {bits}")
        if clip not in ("absmax", "mse"):
            raise ValueError(f"clip must be 'absmax' or 'mse', got {clip!r}")
        self.bits, self.shape = bits, tuple(weight.shape)
        dim = 1 if per_channel else None
        q, scale = absmax_quantize(weight.detach(), bits, dim=dim)
        if clip == "mse":
            scale = mse_scale(weight.detach(), bits, dim=dim)
            q_max = 2 ** (bits - 1) - 1
            q = torch.round(weight.detach() / scale).clamp(-q_max, q_max).to(torch.int8)
        per_byte = 8 // bits
        codes = (q.flatten().to(torch.int16) + 2 ** (bits - 1)).to(torch.uint8)  # (out * in,)
        codes = F.pad(codes, (0, -len(codes) % per_byte)).view(-1, per_byte)  # (n_bytes, per_byte)
        shifts = torch.arange(per_byte, dtype=torch.uint8) * bits  # (per_byte,)
        self.register_buffer("packed", (codes << shifts).sum(dim=1, dtype=torch.uint8))  # (n_bytes,)
        self.register_buffer("scale", scale.float())

    def weight(self):
        """The dequantized float32 weight ``(out, in)``."""
        per_byte = 8 // self.bits
        shifts = torch.arange(per_byte, dtype=torch.uint8) * self.bits  # (per_byte,)
        codes = (self.packed[:, None] >> shifts) & (2**self.bits - 1)  # (n_bytes, per_byte)
        n = self.shape[0] * self.shape[1]
        q = codes.flatten()[:n].to(torch.int16) - 2 ** (self.bits - 1)  # (out * in,)
        return dequantize(q.view(self.shape), self.scale)

    def forward(self, x):
        return F.linear(x, self.weight())


def quantize_model(model, bits=8, per_channel=True, clip="absmax"):
    """A copy of ``model`` whose bias-free ``nn.Linear`` layers store ``bits``-bit weights.

    ``clip`` chooses each layer's scale, as for :class:`QuantizedLinear`. Linear layers whose
    weight is tied to an embedding (a GPT's output head) are left as they are, so the shared matrix
    is stored once. Everything else (embeddings, LayerNorms) stays float.
    """
    quantized = copy.deepcopy(model)
    tied = {id(m.weight) for m in quantized.modules() if isinstance(m, nn.Embedding)}
    for parent in list(quantized.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.Linear) and child.bias is None and id(child.weight) not in tied:
                setattr(parent, name, QuantizedLinear(child.weight, bits, per_channel, clip))
    return quantized


def model_size_bytes(model):
    """Bytes of everything ``model`` stores: parameters and buffers, a tied tensor counted once."""
    seen, total = set(), 0
    for tensor in list(model.parameters()) + list(model.buffers()):
        if tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            total += tensor.numel() * tensor.element_size()
    return total
