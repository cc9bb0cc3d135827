"""Hidden checks of Chapter 5, Quantization, against torch's own dtype conversions and quantizers."""

import warnings

import torch

from autograder.checks import Case, Check, register

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16,
          "fp8_e4m3": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}
BIT_VIEWS = {"fp32": torch.int32, "fp16": torch.int16, "bf16": torch.int16,
             "fp8_e4m3": torch.uint8, "fp8_e5m2": torch.uint8}
FIELDS = {"fp32": (8, 23), "fp16": (5, 10), "bf16": (8, 7), "fp8_e4m3": (4, 3), "fp8_e5m2": (5, 2)}
DTYPE_NAMES = ("float16", "half", "bfloat16", "float8_e4m3fn", "float8_e5m2", "HalfTensor", "BFloat16Tensor")
# a tensor of a narrow format made by any operator: a conversion, a view of the bits, a constructor
DTYPE_OPS = tuple(f"dtype {DTYPES[name]}" for name in ("fp16", "bf16", "fp8_e4m3", "fp8_e5m2"))


def _randint(generator, low, high):
    """A random integer in ``[low, high]``."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def _format_values(generator, fmt, n):
    """``n`` float32 values in ``fmt``'s finite range: log-uniform magnitudes from below the smallest
    subnormal to the maximum, exact ties between neighbours, values just under the maximum, zeros."""
    finfo = torch.finfo(DTYPES[fmt])
    exponent_bits, mantissa_bits = FIELDS[fmt]
    tiny_subnormal = finfo.tiny * 2.0**-mantissa_bits
    low, high = (torch.log(torch.tensor(v, dtype=torch.float64)) for v in (tiny_subnormal / 4, finfo.max))
    magnitudes = torch.exp(torch.rand(n, generator=generator, dtype=torch.float64) * (high - low) + low)
    # ties: a representable value plus half the gap to its neighbour, in normal and subnormal binades
    n_ties = n // 4
    min_exponent = 2 - 2 ** (exponent_bits - 1)
    binade = torch.randint(min_exponent - 1, min_exponent + 6, (n_ties,), generator=generator)
    gap = torch.pow(2.0, (binade.clamp(min=min_exponent) - mantissa_bits).double())
    steps = torch.randint(0, 2**mantissa_bits - 1, (n_ties,), generator=generator).double()
    start = torch.where(binade >= min_exponent, torch.pow(2.0, binade.double()), 0.0)
    magnitudes[:n_ties] = start + (steps + 0.5) * gap
    near_max = finfo.max * (1 - torch.rand(4, generator=generator, dtype=torch.float64) * 2.0**-mantissa_bits)
    magnitudes[n_ties:n_ties + 4] = near_max
    magnitudes[n_ties + 4:n_ties + 6] = 0.0
    signs = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0).double()
    return (magnitudes * signs).float()


def _round_cases(generator):
    cases = []
    for fmt in ("fp16", "bf16", "fp8_e4m3", "fp8_e5m2"):
        x = _format_values(generator, fmt, _randint(generator, 200, 400))
        cases.append(Case((x.view(-1, 2) if len(x) % 2 == 0 else x, fmt)))
    return cases


register(
    Check(
        name="quantization.round_to_format",
        function="round_to_format",
        cases=_round_cases,
        reference=lambda x, fmt: x.to(DTYPES[fmt]).to(x.dtype),
        rtol=0.0,
        atol=0.0,
        forbid=DTYPE_NAMES + ("view", "type"),
        forbid_ops=DTYPE_OPS,
        description="bit-for-bit equal to torch's conversion to float16, bfloat16, float8_e4m3fn and float8_e5m2 "
                    "and back, on subnormals, exact ties and values near the maximum",
    )
)


def _bits_reference(x, fmt):
    """Fields read from the bits torch stores after converting ``x`` to ``fmt``."""
    exponent_bits, mantissa_bits = FIELDS[fmt]
    n_bits = 1 + exponent_bits + mantissa_bits
    stored = torch.tensor([x], dtype=torch.float32).to(DTYPES[fmt])
    bits = stored.view(BIT_VIEWS[fmt]).to(torch.int64).item() & (2**n_bits - 1)
    return bits >> (n_bits - 1), (bits >> mantissa_bits) & (2**exponent_bits - 1), bits & (2**mantissa_bits - 1)


def _bits_cases(generator):
    cases = []
    for fmt in ("fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2"):
        values = _format_values(generator, "fp32" if fmt == "fp32" else fmt, 40)
        picks = torch.randint(len(values), (4,), generator=generator).tolist()
        n_ties = len(values) // 4
        picks += [_randint(generator, 0, n_ties - 1), n_ties]  # a tie and a value near the maximum
        cases.extend(Case((float(values[i]), fmt)) for i in picks)
    return cases


register(
    Check(
        name="quantization.float_bits",
        function="float_bits",
        cases=_bits_cases,
        reference=_bits_reference,
        rtol=0.0,
        atol=0.0,
        forbid=DTYPE_NAMES + ("view", "frombuffer", "tobytes", "pack", "unpack"),
        forbid_ops=DTYPE_OPS,
        description="sign, exponent and mantissa fields equal the bits torch stores for fp32, fp16, bf16 and "
                    "both fp8 formats, on subnormals, ties and values near the maximum",
    )
)


BIT_VIEWS_BY_DTYPE = {DTYPES[name]: BIT_VIEWS[name] for name in DTYPES}


def _smallest_subnormal(dtype):
    """The value of the bit pattern 0...01 in ``dtype``."""
    return torch.tensor([1], dtype=BIT_VIEWS_BY_DTYPE[dtype]).view(dtype).item()


def _format_info_reference(fmt):
    if isinstance(fmt, str):
        finfo = torch.finfo(DTYPES[fmt])
        return {"max": finfo.max, "min_normal": finfo.tiny,
                "min_subnormal": _smallest_subnormal(DTYPES[fmt]), "eps": finfo.eps}
    exponent_bits, mantissa_bits = fmt
    top = 2 ** (exponent_bits - 1) - 1  # largest unbiased exponent of a finite value (IEEE 754)
    return {"max": 2.0 ** (top + 1) - 2.0 ** (top - mantissa_bits), "min_normal": 0.5**(top - 1),
            "min_subnormal": 0.5 ** (top - 1 + mantissa_bits), "eps": 0.5**mantissa_bits}


register(
    Check(
        name="quantization.format_info",
        function="format_info",
        cases=lambda g: [Case((name,)) for name in DTYPES]
        + [Case(((_randint(g, 2, 8), _randint(g, 1, 12)),)) for _ in range(4)],
        reference=_format_info_reference,
        rtol=0.0,
        atol=0.0,
        forbid=DTYPE_NAMES + ("finfo", "view"),
        forbid_ops=DTYPE_OPS,
        description="max, min_normal, min_subnormal and eps equal torch.finfo and the bit pattern 0...01 for the "
                    "five named formats (OCP E4M3: max 448), and IEEE 754's values for other bit counts",
    )
)


def _weight(generator):
    """A random ``(out, in)`` weight, sometimes with a few large outliers."""
    out_features, in_features = _randint(generator, 1, 12), _randint(generator, 1, 40)
    w = torch.randn(out_features, in_features, generator=generator) * float(torch.rand(1, generator=generator) + 0.01)
    if _randint(generator, 0, 1):
        spots = torch.rand(w.shape, generator=generator) < 0.02
        w = torch.where(spots, w * 30, w)
    return w


def _absmax_cases(generator):
    cases = []
    for dim in (None, 0, 1, None, 1, 0):
        bits = (8, 4, 8, 2)[_randint(generator, 0, 3)]
        kwargs = {"bits": bits} if bits != 8 or _randint(generator, 0, 1) else {}
        if dim is not None:
            kwargs["dim"] = dim
        cases.append(Case((_weight(generator),), kwargs))
    return cases


def _quietly(quantizer, *args):
    """``quantizer(*args).int_repr()`` without torch 2.13's deprecation warning for quantized tensors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return quantizer(*args).int_repr()


def _absmax_reference(x, bits=8, dim=None):
    q_max = 2 ** (bits - 1) - 1
    if dim is None:
        scale = x.abs().max() / q_max
        q = _quietly(torch.quantize_per_tensor, x, scale.item(), 0, torch.qint8)
        return q, scale.reshape([1] * x.dim())
    scale = x.abs().max(dim=dim, keepdim=True).values / q_max
    axis = 1 - dim  # one scale per slice along the other dimension of a 2-d weight
    zeros = torch.zeros(scale.numel(), dtype=torch.int64)
    q = _quietly(torch.quantize_per_channel, x, scale.flatten().double(), zeros, axis, torch.qint8)
    return q, scale


QUANTIZER_NAMES = ("quantize_per_tensor", "quantize_per_channel", "quantize_per_tensor_dynamic", "ao",
                   "quantization", "fake_quantize_per_tensor_affine", "fake_quantize_per_channel_affine")
# torch's quantizers as the dispatcher runs them (fake quantization through its mask-keeping kernels)
QUANTIZER_OPS = ("aten::quantize_per_tensor", "aten::quantize_per_channel", "aten::quantize_per_tensor_dynamic",
                 "aten::fake_quantize_per_tensor_affine_cachemask",
                 "aten::_fake_quantize_per_tensor_affine_cachemask_tensor_qparams",
                 "aten::fake_quantize_per_channel_affine_cachemask", "aten::_fake_quantize_learnable_per_tensor_affine",
                 "aten::_fake_quantize_learnable_per_channel_affine", "torch.fake_quantize_per_tensor_affine",
                 "torch.fake_quantize_per_channel_affine")

register(
    Check(
        name="quantization.absmax_quantize",
        function="absmax_quantize",
        cases=_absmax_cases,
        reference=_absmax_reference,
        rtol=1e-6,
        atol=0.0,
        forbid=QUANTIZER_NAMES,
        forbid_ops=QUANTIZER_OPS,
        description="q equals torch.quantize_per_tensor / quantize_per_channel (zero point 0) at the absmax scale "
                    "max|x| / (2^(bits-1) - 1), per tensor and per row or column, at 8, 4 and 2 bits, with outliers",
    )
)


def _zeropoint_cases(generator):
    cases = []
    for shift in (0.0, 3.0, -3.0, 0.5, None):
        x = _weight(generator) if _randint(generator, 0, 1) else torch.randn(_randint(generator, 1, 50), generator=generator)
        x = x.abs() if shift is None else x + shift  # None: all non-negative, as after a ReLU
        cases.append(Case((x,), {"bits": (8, 4)[_randint(generator, 0, 1)]}))
    return cases


def _zeropoint_reference(x, bits=8):
    lo, hi = min(x.min().item(), 0.0), max(x.max().item(), 0.0)  # float32 values, held exactly
    scale = (torch.tensor(hi) - torch.tensor(lo)) / (2**bits - 1)  # float32, as stored
    zero_point = round(-lo / scale.item()) - 2 ** (bits - 1)
    q = _quietly(torch.quantize_per_tensor, x, scale.item(), zero_point, torch.qint8)
    q = q.clamp(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)  # qint8 spans 8 bits; narrower widths clamp
    ones = [1] * x.dim()
    return q, scale.reshape(ones), torch.tensor(zero_point, dtype=torch.int32).reshape(ones)


register(
    Check(
        name="quantization.zeropoint_quantize",
        function="zeropoint_quantize",
        cases=_zeropoint_cases,
        reference=_zeropoint_reference,
        rtol=1e-6,
        atol=0.0,
        forbid=QUANTIZER_NAMES,
        forbid_ops=QUANTIZER_OPS,
        description="q, scale and zero point (shaped like x with sizes 1) equal torch.quantize_per_tensor's with scale (max - min) / (2^bits - 1) "
                    "over a range that includes 0, at 8 and 4 bits, for centred, shifted and all-positive inputs",
    )
)


def _fake_quantize_cases(generator, with_upstream=False):
    cases = []
    for qmin, qmax in ((-128, 127), (0, 255), (-8, 7), (0, 15), (-1, 1)):
        x = torch.randn(_randint(generator, 1, 6), _randint(generator, 1, 30), generator=generator) * 3
        scale = float(torch.rand(1, generator=generator) * 0.5 + 0.01)
        zero_point = _randint(generator, qmin, qmax)
        args = (x, scale, zero_point, qmin, qmax)
        if with_upstream:
            args += (torch.randn(x.shape, generator=generator),)
        cases.append(Case(args))
    return cases


register(
    Check(
        name="quantization.fake_quantize",
        function="fake_quantize",
        cases=_fake_quantize_cases,
        reference=lambda x, scale, zero_point, qmin, qmax: torch.fake_quantize_per_tensor_affine(
            x, scale, zero_point, qmin, qmax),
        rtol=1e-5,
        atol=1e-6,
        forbid=QUANTIZER_NAMES,
        forbid_ops=QUANTIZER_OPS,
        description="forward values equal torch.fake_quantize_per_tensor_affine for signed and unsigned ranges of "
                    "2 to 8 bits, with inputs beyond the range",
    )
)


def _fake_quantize_grad_reference(x, scale, zero_point, qmin, qmax, upstream):
    x = x.detach().clone().requires_grad_(True)
    (torch.fake_quantize_per_tensor_affine(x, scale, zero_point, qmin, qmax) * upstream).sum().backward()
    return x.grad


register(
    Check(
        name="quantization.fake_quantize_grad",
        function="fake_quantize_grad",
        cases=lambda g: _fake_quantize_cases(g, with_upstream=True),
        reference=_fake_quantize_grad_reference,
        rtol=1e-5,  # a correct answer may compute (x / scale) * scale, off by one float32 rounding
        atol=1e-7,
        description="the gradient reaching x equals torch.fake_quantize_per_tensor_affine's straight-through "
                    "gradient: the upstream gradient inside the range, zero where values were clamped",
    )
)


def _bytes_reference(shapes, bits=8, per_channel=True):
    packed = sum((rows * cols * bits + 7) // 8 for rows, cols in shapes)  # whole bytes per weight
    scales = sum(rows for rows, _ in shapes) if per_channel else len(shapes)
    return packed + 4 * scales


def _bytes_cases(generator):
    cases = []
    for bits in (8, 4, 3, 2, 1):
        shapes = [(_randint(generator, 1, 300), _randint(generator, 1, 300)) for _ in range(_randint(generator, 1, 5))]
        cases.append(Case((shapes,), {"bits": bits, "per_channel": bool(_randint(generator, 0, 1))}))
    return cases


register(
    Check(
        name="quantization.quantized_linear_bytes",
        function="quantized_linear_bytes",
        cases=_bytes_cases,
        reference=_bytes_reference,
        rtol=0.0,
        atol=0.0,
        description="packed integer bytes (rounded up to whole bytes per weight) plus 4 bytes per float32 scale, "
                    "per channel or per tensor, for 1 to 8 bits and odd shapes",
    )
)
