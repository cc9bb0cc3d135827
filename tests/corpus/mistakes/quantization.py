"""Chapter 5's catalogue of mistakes (see ``__init__.py``): an independent right answer and plausible
wrong answers for every autograded part of ``05-quantization``.

``fake_quantize_grad`` and ``fake_quantize_scale_grad`` are given in ``fake_quantize``'s answer cell:
their entries hold a ``fake_quantize`` whose forward values are right and whose gradient is not,
followed by the two given functions, as the cell would read.
"""

ASSIGNMENT = "05-quantization"

GIVEN_GRADIENTS = '''

def fake_quantize_grad(x, scale, zero_point, qmin, qmax, upstream):
    x = x.detach().clone().requires_grad_(True)
    (fake_quantize(x, scale, zero_point, qmin, qmax) * upstream).sum().backward()
    return x.grad


def fake_quantize_scale_grad(x, scale, zero_point, qmin, qmax, upstream):
    scale = torch.tensor(float(scale), requires_grad=True)
    (fake_quantize(x, scale, zero_point, qmin, qmax) * upstream).sum().backward()
    return scale.grad
'''

RIGHT_FAKE_QUANTIZE = '''def fake_quantize(x, scale, zero_point, qmin, qmax):
    v = x / scale
    q = torch.round(v).detach() + zero_point
    inside = (q >= qmin) & (q <= qmax)
    clamped = q.clamp(qmin, qmax) - zero_point
    return torch.where(inside, v + (q - zero_point - v).detach(), clamped) * scale
''' + GIVEN_GRADIENTS

RIGHT = {
    "format_info": '''def format_info(fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    bias = 2 ** (e - 1) - 1
    if fmt == "fp8_e4m3":
        biggest = 2.0 ** (2**e - 1 - bias) * (2 - 2 * 2.0**-m)
    else:
        biggest = 2.0 ** (2**e - 2 - bias) * (2 - 2.0**-m)
    smallest_normal = 2.0 ** (1 - bias)
    return {"max": biggest, "min_normal": smallest_normal,
            "min_subnormal": smallest_normal * 2.0**-m, "eps": 2.0**-m}
''',
    "round_to_format": '''def round_to_format(x, fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    lowest = 2 - 2 ** (e - 1)
    y = x.to(torch.float64)
    _, expo = torch.frexp(y)
    expo = torch.clamp(expo, min=lowest + 1)
    steps = torch.ldexp(y, m + 1 - expo)
    return torch.ldexp(torch.round(steps), expo - m - 1).to(x.dtype)
''',
    "float_bits": '''def float_bits(x, fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    bias = 2 ** (e - 1) - 1
    r = round_to_format(torch.tensor([x], dtype=torch.float64), fmt)[0].item()
    sign = 1 if math.copysign(1.0, r) < 0 else 0
    units = int(abs(r) / 2.0 ** (1 - bias - m))
    if units < 2**m:
        return sign, 0, units
    exponent = 1
    while units >= 2 ** (m + 1):
        units //= 2
        exponent += 1
    return sign, exponent, units - 2**m
''',
    "absmax_quantize": '''def absmax_quantize(x, bits=8, dim=None):
    levels = 2 ** (bits - 1) - 1
    if dim is None:
        peak = x.abs().max().reshape([1] * x.dim())
    else:
        peak = x.abs().max(dim=dim, keepdim=True).values
    scale = peak.float() / levels
    scale[peak == 0] = 1.0
    return torch.round(x / scale).to(torch.int8), scale
''',
    "zeropoint_quantize": '''def zeropoint_quantize(x, bits=8):
    lo, hi = torch.aminmax(x)
    lo, hi = torch.clamp(lo, max=0.0), torch.clamp(hi, min=0.0)
    width = hi - lo
    scale = width / (2**bits - 1) if width > 0 else torch.ones(())
    zero_point = torch.round(-lo / scale).to(torch.int32) - 2 ** (bits - 1)
    q = torch.clamp(torch.round(x / scale) + zero_point, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    shape = [1] * x.dim()
    return q.to(torch.int8), scale.reshape(shape), zero_point.reshape(shape)
''',
    "fake_quantize": RIGHT_FAKE_QUANTIZE,
    "fake_quantize_grad": RIGHT_FAKE_QUANTIZE,
    "fake_quantize_scale_grad": RIGHT_FAKE_QUANTIZE,
    "quantized_linear_bytes": '''def quantized_linear_bytes(shapes, bits=8, per_channel=True):
    packed = sum(-(-rows * cols * bits // 8) for rows, cols in shapes)
    n_scales = sum(rows if per_channel else 1 for rows, _ in shapes)
    return packed + 4 * n_scales
''',
}


def _fake_quantize(body):
    """A whole answer cell: ``fake_quantize`` with ``body``, then the given gradient functions."""
    return "def fake_quantize(x, scale, zero_point, qmin, qmax):\n" + body + GIVEN_GRADIENTS


MISTAKES = {
    "format_info": {
        "the pair (4, 3) taken for OCP's E4M3": '''def format_info(fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    bias = 2 ** (e - 1) - 1
    if (e, m) == (4, 3):
        top, top_mantissa = 2**e - 1 - bias, 2**m - 2
    else:
        top, top_mantissa = 2**e - 2 - bias, 2**m - 1
    return {"max": (1 + top_mantissa / 2**m) * 2.0**top, "min_normal": 2.0 ** (1 - bias),
            "min_subnormal": 2.0 ** (1 - bias - m), "eps": 2.0**-m}
''',
        "max in integer arithmetic: an int": '''def format_info(fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    bias = 2 ** (e - 1) - 1
    if fmt == "fp8_e4m3":
        largest = (2 ** (m + 1) - 2) * 2.0 ** (2**e - 1 - bias - m)
    else:
        top = 2**e - 2 - bias
        largest = (2 ** (m + 1) - 1) * 2 ** (top - m) if top >= m else (2 ** (m + 1) - 1) / 2 ** (m - top)
    return {"max": largest, "min_normal": 2.0 ** (1 - bias), "min_subnormal": 2.0 ** (1 - bias - m), "eps": 2.0**-m}
''',
        "E4M3 forgets its NaN code: max 480": '''def format_info(fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    bias = 2 ** (e - 1) - 1
    top = 2**e - 1 - bias if fmt == "fp8_e4m3" else 2**e - 2 - bias
    return {"max": (2 - 2.0**-m) * 2.0**top, "min_normal": 2.0 ** (1 - bias),
            "min_subnormal": 2.0 ** (1 - bias - m), "eps": 2.0**-m}
''',
        "the all-ones exponent counted as a normal binade": '''def format_info(fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    bias = 2 ** (e - 1) - 1
    top = 2**e - 1 - bias
    largest = (2 - 2.0**-m) * 2.0**top
    if fmt == "fp8_e4m3":
        largest -= 2.0 ** (top - m)
    return {"max": largest, "min_normal": 2.0 ** (1 - bias), "min_subnormal": 2.0 ** (1 - bias - m), "eps": 2.0**-m}
''',
        "the smallest subnormal one binade too small": '''def format_info(fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    bias = 2 ** (e - 1) - 1
    if fmt == "fp8_e4m3":
        largest = (2 - 2 * 2.0**-m) * 2.0 ** (2**e - 1 - bias)
    else:
        largest = (2 - 2.0**-m) * 2.0 ** (2**e - 2 - bias)
    return {"max": largest, "min_normal": 2.0 ** (1 - bias), "min_subnormal": 2.0 ** (-bias - m), "eps": 2.0**-m}
''',
        "pairs looked up by name": '''def format_info(fmt):
    if not isinstance(fmt, str):
        fmt = {bits: name for name, bits in FORMATS.items()}.get(tuple(fmt), fmt)
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    bias = 2 ** (e - 1) - 1
    if fmt == "fp8_e4m3":
        largest = (2 - 2 * 2.0**-m) * 2.0 ** (2**e - 1 - bias)
    else:
        largest = (2 - 2.0**-m) * 2.0 ** (2**e - 2 - bias)
    return {"max": largest, "min_normal": 2.0 ** (1 - bias), "min_subnormal": 2.0 ** (1 - bias - m), "eps": 2.0**-m}
''',
    },
    "round_to_format": {
        "ties rounded away from zero": '''def round_to_format(x, fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    y = x.double()
    _, k = torch.frexp(y.abs())
    spacing = torch.pow(2.0, ((k - 1).clamp(min=2 - 2 ** (e - 1)) - m).double())
    return (torch.sign(y) * torch.floor(y.abs() / spacing + 0.5) * spacing).to(x.dtype)
''',
        "no subnormals: full precision below the smallest normal": '''def round_to_format(x, fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    y = x.double()
    _, k = torch.frexp(y.abs())
    spacing = torch.pow(2.0, (k - 1 - m).double())
    return (torch.round(y / spacing) * spacing).to(x.dtype)
''',
        "truncation toward zero": '''def round_to_format(x, fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    y = x.double()
    _, k = torch.frexp(y.abs())
    spacing = torch.pow(2.0, ((k - 1).clamp(min=2 - 2 ** (e - 1)) - m).double())
    return (torch.trunc(y / spacing) * spacing).to(x.dtype)
''',
        "always returns float32": '''def round_to_format(x, fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    y = x.double()
    _, k = torch.frexp(y.abs())
    spacing = torch.pow(2.0, ((k - 1).clamp(min=2 - 2 ** (e - 1)) - m).double())
    return (torch.round(y / spacing) * spacing).float()
''',
        "the sign applied afterwards: -0.0 comes out +0.0": '''def round_to_format(x, fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    y = x.double()
    _, k = torch.frexp(y.abs())
    spacing = torch.pow(2.0, ((k - 1).clamp(min=2 - 2 ** (e - 1)) - m).double())
    magnitude = torch.round(y.abs() / spacing) * spacing
    return torch.where(y < 0, -magnitude, magnitude).to(x.dtype)
''',
        "the rounded value kept inside x's binade (no carry)": '''def round_to_format(x, fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    y = x.double()
    _, k = torch.frexp(y.abs())
    binade = (k - 1).clamp(min=2 - 2 ** (e - 1))
    spacing = torch.pow(2.0, (binade - m).double())
    rounded = torch.round(y.abs() / spacing) * spacing
    top = torch.pow(2.0, (binade + 1).double()) - spacing
    return (torch.sign(y) * torch.minimum(rounded, top)).to(x.dtype)
''',
        "rounded in float32": '''def round_to_format(x, fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    y = x.float()
    _, k = torch.frexp(y.abs())
    spacing = torch.pow(2.0, ((k - 1).clamp(min=2 - 2 ** (e - 1)) - m).float())
    return (torch.round(y / spacing) * spacing).to(x.dtype)
''',
        "the smallest normal exponent off by one": '''def round_to_format(x, fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    y = x.double()
    _, k = torch.frexp(y.abs())
    spacing = torch.pow(2.0, ((k - 1).clamp(min=3 - 2 ** (e - 1)) - m).double())
    return (torch.round(y / spacing) * spacing).to(x.dtype)
''',
    },
    "float_bits": {
        "fields taken from the unrounded value": '''def float_bits(x, fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    bias = 2 ** (e - 1) - 1
    sign = int(math.copysign(1.0, x) < 0)
    if abs(x) < 2.0 ** (1 - bias):
        return sign, 0, round(abs(x) / 2.0 ** (1 - bias - m))
    fraction, k = math.frexp(abs(x))
    return sign, k - 1 + bias, round((2 * fraction - 1) * 2**m)
''',
        "the sign read with x < 0": '''def float_bits(x, fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    bias = 2 ** (e - 1) - 1
    value = round_to_format(torch.tensor(float(x), dtype=torch.float64), fmt).item()
    sign = int(value < 0)
    if abs(value) < 2.0 ** (1 - bias):
        return sign, 0, int(abs(value) / 2.0 ** (1 - bias - m))
    fraction, k = math.frexp(abs(value))
    return sign, k - 1 + bias, int((2 * fraction - 1) * 2**m)
''',
        "no rounding: the mantissa truncated": '''def float_bits(x, fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    bias = 2 ** (e - 1) - 1
    sign = int(math.copysign(1.0, x) < 0)
    if abs(x) < 2.0 ** (1 - bias):
        return sign, 0, int(abs(x) / 2.0 ** (1 - bias - m))
    fraction, k = math.frexp(abs(x))
    return sign, k - 1 + bias, int((2 * fraction - 1) * 2**m)
''',
        "the smallest normal treated as subnormal": '''def float_bits(x, fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    bias = 2 ** (e - 1) - 1
    value = round_to_format(torch.tensor(float(x), dtype=torch.float64), fmt).item()
    sign = int(math.copysign(1.0, value) < 0)
    if abs(value) <= 2.0 ** (1 - bias):
        return sign, 0, int(abs(value) / 2.0 ** (1 - bias - m))
    fraction, k = math.frexp(abs(value))
    return sign, k - 1 + bias, int((2 * fraction - 1) * 2**m)
''',
        "x rounded through a float32 tensor": '''def float_bits(x, fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    bias = 2 ** (e - 1) - 1
    value = round_to_format(torch.tensor(x), fmt).item()
    sign = int(math.copysign(1.0, value) < 0)
    if abs(value) < 2.0 ** (1 - bias):
        return sign, 0, int(abs(value) / 2.0 ** (1 - bias - m))
    fraction, k = math.frexp(abs(value))
    return sign, k - 1 + bias, int((2 * fraction - 1) * 2**m)
''',
        "the bias taken as 2^(e-1)": '''def float_bits(x, fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    bias = 2 ** (e - 1)
    value = round_to_format(torch.tensor(float(x), dtype=torch.float64), fmt).item()
    sign = int(math.copysign(1.0, value) < 0)
    if abs(value) < 2.0 ** (1 - bias):
        return sign, 0, int(abs(value) / 2.0 ** (1 - bias - m))
    fraction, k = math.frexp(abs(value))
    return sign, k - 1 + bias, int((2 * fraction - 1) * 2**m)
''',
        "the carry handled for normals only": '''def float_bits(x, fmt):
    e, m = FORMATS[fmt] if isinstance(fmt, str) else fmt
    bias = 2 ** (e - 1) - 1
    sign = int(math.copysign(1.0, x) < 0)
    if abs(x) < 2.0 ** (1 - bias):
        return sign, 0, round(abs(x) / 2.0 ** (1 - bias - m))
    value = round_to_format(torch.tensor(float(x), dtype=torch.float64), fmt).item()
    fraction, k = math.frexp(abs(value))
    return sign, k - 1 + bias, int((2 * fraction - 1) * 2**m)
''',
    },
    "absmax_quantize": {
        "the scale keeps x's dtype, float64 for a float64 x (from a blind trial)": """\
def absmax_quantize(x, bits=8, dim=None):
    qmax = 2 ** (bits - 1) - 1
    if dim is None:
        amax = x.abs().amax().reshape([1] * x.dim())
    else:
        amax = x.abs().amax(dim=dim, keepdim=True)
    scale = torch.where(amax == 0, torch.ones_like(amax), amax / qmax)
    q = torch.clamp(torch.round(x / scale), -qmax, qmax).to(torch.int8)
    return q, scale
""",
        "the maximum of x, not of |x|": '''def absmax_quantize(x, bits=8, dim=None):
    q_max = 2 ** (bits - 1) - 1
    dims = tuple(range(x.dim())) if dim is None else dim
    peak = x.amax(dim=dims, keepdim=True).float()
    scale = torch.where(peak > 0, peak / q_max, 1.0)
    return torch.round(x / scale).clamp(-q_max, q_max).to(torch.int8), scale
''',
        "divides by 2^(bits-1)": '''def absmax_quantize(x, bits=8, dim=None):
    dims = tuple(range(x.dim())) if dim is None else dim
    peak = x.abs().amax(dim=dims, keepdim=True).float()
    scale = torch.where(peak > 0, peak / 2 ** (bits - 1), 1.0)
    return torch.round(x / scale).clamp(-128, 127).to(torch.int8), scale
''',
        "ties rounded away from zero": '''def absmax_quantize(x, bits=8, dim=None):
    q_max = 2 ** (bits - 1) - 1
    dims = tuple(range(x.dim())) if dim is None else dim
    peak = x.abs().amax(dim=dims, keepdim=True).float()
    scale = torch.where(peak > 0, peak / q_max, 1.0)
    v = x / scale
    return (torch.sign(v) * torch.floor(v.abs() + 0.5)).to(torch.int8), scale
''',
        "an all-zero slice divides by zero": '''def absmax_quantize(x, bits=8, dim=None):
    q_max = 2 ** (bits - 1) - 1
    dims = tuple(range(x.dim())) if dim is None else dim
    scale = x.abs().amax(dim=dims, keepdim=True).float() / q_max
    return torch.nan_to_num(torch.round(x / scale)).to(torch.int8), scale
''',
        "the scale kept unsqueezed on the last dim": '''def absmax_quantize(x, bits=8, dim=None):
    q_max = 2 ** (bits - 1) - 1
    if dim is None:
        peak = x.abs().max().reshape([1] * x.dim())
    else:
        peak = x.abs().amax(dim=dim).unsqueeze(-1)
    scale = torch.where(peak > 0, peak.float() / q_max, 1.0)
    return torch.round(x / scale).to(torch.int8), scale
''',
        "the scale of the bits ignored: always 127": '''def absmax_quantize(x, bits=8, dim=None):
    dims = tuple(range(x.dim())) if dim is None else dim
    peak = x.abs().amax(dim=dims, keepdim=True).float()
    scale = torch.where(peak > 0, peak / 127, 1.0)
    q_max = 2 ** (bits - 1) - 1
    return torch.round(x / scale).clamp(-q_max, q_max).to(torch.int8), scale
''',
        "q kept as int64": '''def absmax_quantize(x, bits=8, dim=None):
    q_max = 2 ** (bits - 1) - 1
    dims = tuple(range(x.dim())) if dim is None else dim
    peak = x.abs().amax(dim=dims, keepdim=True).float()
    scale = torch.where(peak > 0, peak / q_max, 1.0)
    return torch.round(x / scale).long(), scale
''',
        "multiplied by q_max / max|x| instead of divided by the scale": '''
def absmax_quantize(x, bits=8, dim=None):
    qmax = 2 ** (bits - 1) - 1
    if dim is None:
        amax = x.abs().amax().reshape([1] * x.dim())
    else:
        amax = x.abs().amax(dim=dim, keepdim=True)
    amax = amax.float()
    safe = torch.where(amax == 0, torch.full_like(amax, float(qmax)), amax)
    scale = safe / qmax
    q = torch.clamp(torch.round(x * (qmax / safe)), -qmax, qmax).to(torch.int8)
    return q, scale
''',
        "divides x by its scale in place": '''
def absmax_quantize(x, bits=8, dim=None):
    levels = 2 ** (bits - 1) - 1
    if dim is None:
        peak = x.abs().max().reshape([1] * x.dim())
    else:
        peak = x.abs().max(dim=dim, keepdim=True).values
    scale = peak.float() / levels
    scale[peak == 0] = 1.0
    x /= scale
    return torch.round(x).to(torch.int8), scale
''',
    },
    "zeropoint_quantize": {
        "the range not widened to include 0": '''def zeropoint_quantize(x, bits=8):
    ones = [1] * x.dim()
    lo, hi = x.min().reshape(ones).float(), x.max().reshape(ones).float()
    scale = torch.where(hi > lo, (hi - lo) / (2**bits - 1), 1.0)
    zero_point = (torch.round(-lo / scale) - 2 ** (bits - 1)).to(torch.int32)
    q = (torch.round(x / scale) + zero_point).clamp(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return q.to(torch.int8), scale, zero_point
''',
        "no clamp: the top value wraps around": '''def zeropoint_quantize(x, bits=8):
    ones = [1] * x.dim()
    lo, hi = x.min().clamp(max=0).reshape(ones).float(), x.max().clamp(min=0).reshape(ones).float()
    scale = torch.where(hi > lo, (hi - lo) / (2**bits - 1), 1.0)
    zero_point = (torch.round(-lo / scale) - 2 ** (bits - 1)).to(torch.int32)
    return (torch.round(x / scale) + zero_point).to(torch.int8), scale, zero_point
''',
        "the zero point rounded half up": '''def zeropoint_quantize(x, bits=8):
    ones = [1] * x.dim()
    lo, hi = x.min().clamp(max=0).reshape(ones).float(), x.max().clamp(min=0).reshape(ones).float()
    scale = torch.where(hi > lo, (hi - lo) / (2**bits - 1), 1.0)
    zero_point = (torch.floor(-lo / scale + 0.5) - 2 ** (bits - 1)).to(torch.int32)
    q = (torch.round(x / scale) + zero_point).clamp(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return q.to(torch.int8), scale, zero_point
''',
        "a tensor of zeros divides by zero": '''def zeropoint_quantize(x, bits=8):
    ones = [1] * x.dim()
    lo, hi = x.min().clamp(max=0).reshape(ones).float(), x.max().clamp(min=0).reshape(ones).float()
    scale = (hi - lo) / (2**bits - 1)
    zero_point = (torch.nan_to_num(torch.round(-lo / scale)) - 2 ** (bits - 1)).to(torch.int32)
    q = (torch.nan_to_num(torch.round(x / scale)) + zero_point).clamp(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return q.to(torch.int8), scale, zero_point
''',
        "x shifted by lo before rounding": '''def zeropoint_quantize(x, bits=8):
    ones = [1] * x.dim()
    lo, hi = x.min().clamp(max=0).reshape(ones).float(), x.max().clamp(min=0).reshape(ones).float()
    scale = torch.where(hi > lo, (hi - lo) / (2**bits - 1), 1.0)
    zero_point = (torch.round(-lo / scale) - 2 ** (bits - 1)).to(torch.int32)
    q = (torch.round((x - lo) / scale) - 2 ** (bits - 1)).clamp(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return q.to(torch.int8), scale, zero_point
''',
        "the zero point left a float": '''def zeropoint_quantize(x, bits=8):
    ones = [1] * x.dim()
    lo, hi = x.min().clamp(max=0).reshape(ones).float(), x.max().clamp(min=0).reshape(ones).float()
    scale = torch.where(hi > lo, (hi - lo) / (2**bits - 1), 1.0)
    zero_point = torch.round(-lo / scale) - 2 ** (bits - 1)
    q = (torch.round(x / scale) + zero_point).clamp(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return q.to(torch.int8), scale, zero_point
''',
        "scale and zero point shaped (1,) whatever x's shape": '''def zeropoint_quantize(x, bits=8):
    lo, hi = x.min().clamp(max=0).reshape(1).float(), x.max().clamp(min=0).reshape(1).float()
    scale = torch.where(hi > lo, (hi - lo) / (2**bits - 1), 1.0)
    zero_point = (torch.round(-lo / scale) - 2 ** (bits - 1)).to(torch.int32)
    q = (torch.round(x / scale) + zero_point).clamp(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return q.to(torch.int8), scale, zero_point
''',
        "multiplied by the scale's inverse instead of divided by the scale": '''
def zeropoint_quantize(x, bits=8):
    q_min, q_max = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    lo = min(x.min().item(), 0.0)
    hi = max(x.max().item(), 0.0)
    scale = torch.tensor((hi - lo) / (2**bits - 1) if hi > lo else 1.0, dtype=torch.float32)
    inverse = 1 / scale
    zero_point = torch.round(-lo * inverse).to(torch.int32) + q_min
    q = (torch.round(x * inverse) + zero_point).clamp(q_min, q_max).to(torch.int8)
    ones = [1] * x.dim()
    return q, scale.reshape(ones), zero_point.reshape(ones)
''',
    },
    "fake_quantize": {
        "no clamp": _fake_quantize('''    v = x / scale
    return (v + (torch.round(v) - v).detach()) * scale
'''),
        "the zero point left out of the dequantization": _fake_quantize('''    v = x / scale
    v = v + (torch.round(v) - v).detach()
    return torch.clamp(v + zero_point, qmin, qmax) * scale
'''),
        "ties rounded half up": _fake_quantize('''    v = x / scale
    v = v + (torch.floor(v + 0.5) - v).detach()
    return (torch.clamp(v + zero_point, qmin, qmax) - zero_point) * scale
'''),
        "the zero point added before rounding": _fake_quantize('''    v = x / scale + zero_point
    v = v + (torch.round(v) - v).detach()
    return (torch.clamp(v, qmin, qmax) - zero_point) * scale
'''),
        "the clamp ignores the zero point": _fake_quantize('''    v = x / scale
    v = v + (torch.round(v) - v).detach()
    return torch.clamp(v, qmin, qmax) * scale
'''),
        "truncation instead of rounding": _fake_quantize('''    v = x / scale
    v = v + (torch.trunc(v) - v).detach()
    return (torch.clamp(v + zero_point, qmin, qmax) - zero_point) * scale
'''),
        "multiplied by the scale's inverse instead of divided by the scale": _fake_quantize('''    v = x * (1 / scale)
    v = v + (torch.round(v) - v).detach()
    return (torch.clamp(v + zero_point, qmin, qmax) - zero_point) * scale
'''),
    },
    "fake_quantize_grad": {
        "the straight-through gradient ignores the clamp": _fake_quantize('''    v = x / scale
    q = torch.clamp(torch.round(v) + zero_point, qmin, qmax) - zero_point
    return (v + (q - v).detach()) * scale
'''),
        "clamped before rounding: the range decided on x / scale": _fake_quantize('''    v = torch.clamp(x / scale + zero_point, qmin, qmax)
    v = v + (torch.round(v) - v).detach()
    return (v - zero_point) * scale
'''),
        "no straight-through estimator: round's zero gradient": _fake_quantize('''    q = torch.clamp(torch.round(x / scale) + zero_point, qmin, qmax)
    return (q - zero_point) * scale
'''),
        "the straight-through term is x / scale, not x": _fake_quantize('''    q = torch.clamp(torch.round(x / scale) + zero_point, qmin, qmax)
    y = (q - zero_point) * scale
    inside = q == torch.round(x / scale) + zero_point
    return torch.where(inside, x / scale + (y - x / scale).detach(), y.detach())
'''),
        "the ends of the range count as clamped": _fake_quantize('''    v = x / scale
    q = torch.round(v) + zero_point
    inside = (q > qmin) & (q < qmax)
    v = v + (torch.round(v) - v).detach()
    out = (torch.clamp(v + zero_point, qmin, qmax) - zero_point) * scale
    return torch.where(inside, out, out.detach())
'''),
        "the range tested without the zero point": _fake_quantize('''    v = x / scale
    inside = (torch.round(v) >= qmin) & (torch.round(v) <= qmax)
    v = v + (torch.round(v) - v).detach()
    out = (torch.clamp(v + zero_point, qmin, qmax) - zero_point) * scale
    return torch.where(inside, out, out.detach())
'''),
    },
    "fake_quantize_scale_grad": {
        "the scale made a Python float: no gradient": _fake_quantize('''    scale = float(scale)
    v = x / scale
    v = v + (torch.round(v) - v).detach()
    return (torch.clamp(v + zero_point, qmin, qmax) - zero_point) * scale
'''),
        "x / scale detached: the scale's gradient is q - zero_point": _fake_quantize('''    v = x / (scale.detach() if torch.is_tensor(scale) else scale)
    v = v + (torch.round(v) - v).detach()
    return (torch.clamp(v + zero_point, qmin, qmax) - zero_point) * scale
'''),
        "clamped before rounding: the range decided on x / scale": _fake_quantize('''    v = torch.clamp(x / scale + zero_point, qmin, qmax)
    v = v + (torch.round(v) - v).detach()
    return (v - zero_point) * scale
'''),
        "the whole output straight through to x": _fake_quantize('''    q = torch.clamp(torch.round(x / scale) + zero_point, qmin, qmax)
    y = (q - zero_point) * scale
    inside = (q == torch.round(x / scale) + zero_point)
    return torch.where(inside, x + (y - x).detach(), y.detach())
'''),
        "the clamped values' gradient left at zero": _fake_quantize('''    v = x / scale
    q = torch.round(v) + zero_point
    inside = (q >= qmin) & (q <= qmax)
    v = v + (torch.round(v) - v).detach()
    out = (torch.clamp(v + zero_point, qmin, qmax) - zero_point) * scale
    return torch.where(inside, out, out.detach())
'''),
        "ties rounded half up": _fake_quantize('''    v = x / scale
    v = v + (torch.floor(v + 0.5) - v).detach()
    return (torch.clamp(v + zero_point, qmin, qmax) - zero_point) * scale
'''),
    },
    "quantized_linear_bytes": {
        "bytes rounded up once for all matrices": '''def quantized_linear_bytes(shapes, bits=8, per_channel=True):
    n_weights = sum(rows * cols for rows, cols in shapes)
    n_scales = sum(rows for rows, _ in shapes) if per_channel else len(shapes)
    return math.ceil(n_weights * bits / 8) + 4 * n_scales
''',
        "each row padded to whole bytes": '''def quantized_linear_bytes(shapes, bits=8, per_channel=True):
    total = 0
    for rows, cols in shapes:
        total += rows * math.ceil(cols * bits / 8) + 4 * (rows if per_channel else 1)
    return total
''',
        "bytes rounded down": '''def quantized_linear_bytes(shapes, bits=8, per_channel=True):
    total = 0
    for rows, cols in shapes:
        total += rows * cols * bits // 8 + 4 * (rows if per_channel else 1)
    return total
''',
        "one scale per input column": '''def quantized_linear_bytes(shapes, bits=8, per_channel=True):
    total = 0
    for rows, cols in shapes:
        total += math.ceil(rows * cols * bits / 8) + 4 * (cols if per_channel else 1)
    return total
''',
        "per_channel ignored": '''def quantized_linear_bytes(shapes, bits=8, per_channel=True):
    return sum(math.ceil(rows * cols * bits / 8) + 4 * rows for rows, cols in shapes)
''',
        "bytes not rounded up: a float": '''def quantized_linear_bytes(shapes, bits=8, per_channel=True):
    total = 0
    for rows, cols in shapes:
        total += rows * cols * bits / 8 + 4 * (rows if per_channel else 1)
    return total
''',
        "scales stored in 2 bytes": '''def quantized_linear_bytes(shapes, bits=8, per_channel=True):
    total = 0
    for rows, cols in shapes:
        total += math.ceil(rows * cols * bits / 8) + 2 * (rows if per_channel else 1)
    return total
''',
    },
}
