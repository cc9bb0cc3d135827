"""Hidden checks of Chapter 5, Quantization, against torch's own dtype conversions and quantizers.

Every check runs labelled edge cases first (the same under every key): every format the notebook
names, exact ties, rounding up across a power of two, the largest finite value, subnormals, signed
zeros, exact halves of the integer grids, degenerate ranges, odd sizes and every option. Its
comparison (:class:`ExactCheck`) also demands the promised dtype of every tensor, the sign of every
zero and Python floats where floats are promised.
"""

import warnings
from dataclasses import dataclass

import torch

from autograder.checks import Case, Check, compare_outputs, register

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16,
          "fp8_e4m3": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}
BIT_VIEWS = {"fp32": torch.int32, "fp16": torch.int16, "bf16": torch.int16,
             "fp8_e4m3": torch.uint8, "fp8_e5m2": torch.uint8}
BIT_VIEWS_BY_DTYPE = {DTYPES[name]: BIT_VIEWS[name] for name in DTYPES}
FIELDS = {"fp32": (8, 23), "fp16": (5, 10), "bf16": (8, 7), "fp8_e4m3": (4, 3), "fp8_e5m2": (5, 2)}
# pairs (exponent_bits, mantissa_bits) that torch has as a dtype; the pair (4, 3) follows IEEE 754 (max 240),
# so it agrees with torch's OCP float8_e4m3fn only up to 240
PAIR_DTYPES = {(8, 23): torch.float32, (5, 10): torch.float16, (8, 7): torch.bfloat16, (5, 2): torch.float8_e5m2,
               (4, 3): torch.float8_e4m3fn}
DTYPE_NAMES = ("float16", "half", "bfloat16", "float8_e4m3fn", "float8_e5m2", "HalfTensor", "BFloat16Tensor")
# a tensor of a narrow format made by any operator: a conversion, a view of the bits, a constructor
DTYPE_OPS = tuple(f"dtype {DTYPES[name]}" for name in ("fp16", "bf16", "fp8_e4m3", "fp8_e5m2"))
# reading bits, which the three format parts ask for by arithmetic: a view of a tensor as another dtype,
# however reached (``sandbox/runner.py`` notes it as this name), and by name a view that names a dtype
# (``integrity.forbidden_uses``), numpy's and ``struct``'s
BITS_OPS = DTYPE_OPS + ("dtype view",)
BITS_NAMES = ("view", "frombuffer", "tobytes", "pack", "unpack")


def _exact_mismatch(actual, expected, signed_zeros=False):
    """What :func:`compare_outputs` lets through: a tensor's dtype, an int where a float is promised,
    and, when ``signed_zeros``, the sign of a zero. ``None`` when none of them differs."""
    if isinstance(expected, (tuple, list)) and isinstance(actual, (tuple, list)) and len(actual) == len(expected):
        for i, (a, e) in enumerate(zip(actual, expected)):
            reason = _exact_mismatch(a, e, signed_zeros)
            if reason:
                return f"output {i}: {reason}"
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in expected.keys() & actual.keys():
            reason = _exact_mismatch(actual[key], expected[key], signed_zeros)
            if reason:
                return f"[{key!r}]: {reason}"
    if isinstance(expected, float) and isinstance(actual, int) and not isinstance(actual, bool):
        return f"expected a float, got the int {actual}: return {float(actual)!r}"
    if isinstance(expected, torch.Tensor) and isinstance(actual, torch.Tensor):
        if actual.dtype != expected.dtype:
            return f"expected dtype {expected.dtype}, got {actual.dtype}"
        if signed_zeros and expected.is_floating_point() and actual.shape == expected.shape:
            zeros = (expected == 0) & (actual == 0) & (torch.signbit(expected) != torch.signbit(actual))
            if zeros.any():
                index = tuple(torch.nonzero(zeros)[0].tolist())
                return f"at index {index}: expected {expected[index].item()!r}, got {actual[index].item()!r} (the sign of zero)"
    return None


@dataclass(frozen=True)
class ExactCheck(Check):
    """A check that compares as :class:`Check` does, and first demands what the spec promises
    exactly: dtypes, floats, and the sign of every zero when ``signed_zeros``."""

    signed_zeros: bool = False

    def compare(self, case, actual):
        expected = self.expected(case)
        return (_exact_mismatch(actual, expected, self.signed_zeros)
                or compare_outputs(actual, expected, self.rtol, self.atol))


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


def _landmarks(fmt):
    """Values of ``fmt`` that edge cases are built around, as Python floats: the smallest subnormal,
    the smallest normal, the largest finite value, the exponent of its binade, and ``gap(k)``, the
    spacing of the representable values in the binade ``[2^k, 2^(k+1))``."""
    exponent_bits, mantissa_bits = FIELDS[fmt]
    min_exponent = 2 - 2 ** (exponent_bits - 1)
    largest = torch.finfo(DTYPES[fmt]).max
    top = int(torch.frexp(torch.tensor(largest, dtype=torch.float64))[1]) - 1
    return {"subnormal": 2.0 ** (min_exponent - mantissa_bits), "normal": 2.0**min_exponent, "max": largest,
            "top": top, "gap": lambda k: 2.0 ** (max(k, min_exponent) - mantissa_bits)}


def _rounding_edges(fmt, limit=None):
    """``{label: values}``: the boundaries of rounding to ``fmt``, each value at most ``limit`` (the
    format's max by default) in magnitude."""
    f = _landmarks(fmt)
    gap, sub, top = f["gap"], f["subnormal"], f["top"]
    limit = limit or f["max"]
    edges = {
        "exact ties between neighbours round to the even one": [
            sign * (2.0**k + (j + 0.5) * gap(k)) for k in (0, 3, -2) for j in (0, 1, 2) for sign in (1, -1)]
        + [f["normal"] + (j + 0.5) * sub for j in (0, 1, 2)],  # the smallest normal binade
        "exact ties between subnormals round to the even one": [sign * (j + 0.5) * sub for j in (1, 2, 3)
                                                                   for sign in (1, -1)],
        "rounding up across a power of two (the mantissa carries into the exponent)": [
            sign * (2.0**k - gap(k - 1) * frac) for k in (1, 4) for frac in (0.25, 0.5) for sign in (1, -1)],
        "subnormals that round up to the smallest normal": [f["normal"] - sub / 2, f["normal"] - sub / 4,
                                                             -(f["normal"] - sub / 4)],
        "signed zeros, and negative values that round to -0.0": [0.0, -0.0, sub / 4, -sub / 4, -sub / 2],
    }
    if limit == f["max"]:
        edges["the largest finite value, values that round to it, and rounding up into its binade"] = [
            f["max"], -f["max"], f["max"] - gap(top) / 4, f["max"] - gap(top) / 2, 2.0**top - gap(top - 1) / 4,
            -(2.0**top - gap(top - 1) / 2)]
    return {label: [v for v in values if abs(v) <= limit] for label, values in edges.items()}


def _narrowed(x, dtype):
    """``x`` converted to ``dtype`` by torch, rounded once. Torch converts float64 to a narrower
    format through float32, so a value just off a tie can become one; rounding to float32 *to odd*
    first (an inexact result keeps an odd last bit) makes the second rounding the correct one, as
    float32 has at least two more bits than each narrower format (Boldo and Melquiond 2008)."""
    if x.dtype != torch.float64 or dtype == torch.float32:
        return x.to(dtype)
    nearest = x.float()
    inexact_even = (nearest.double() != x) & (nearest.view(torch.int32) % 2 == 0)
    toward_x = torch.where(x > nearest.double(), torch.inf, -torch.inf).float()
    return torch.where(inexact_even, torch.nextafter(nearest, toward_x), nearest).to(dtype)


def _round_reference(x, fmt):
    dtype = DTYPES[fmt] if isinstance(fmt, str) else PAIR_DTYPES[tuple(fmt)]
    return _narrowed(x, dtype).to(x.dtype)


def _round_edge_cases(generator):
    cases = []
    for fmt in DTYPES:
        dtype = torch.float64 if fmt == "fp32" else torch.float32  # fp32 rounds only what float32 cannot hold
        for label, values in _rounding_edges(fmt).items():
            cases.append(Case((torch.tensor(values, dtype=dtype), fmt), label=f"{fmt}: {label}"))
    for pair, fmt, limit in (((5, 10), "fp16", None), ((8, 7), "bf16", None), ((5, 2), "fp8_e5m2", None),
                             ((4, 3), "fp8_e4m3", 240.0)):
        values = [v for found in _rounding_edges(fmt, limit).values() for v in found]
        cases.append(Case((torch.tensor(values), pair), label=f"the pair {pair} rounds as IEEE 754's {fmt}"))
    ties = [v for found in _rounding_edges("fp16").values() for v in found]
    for fmt in ("fp16", "bf16", "fp8_e4m3", "fp8_e5m2"):
        gap = _landmarks(fmt)["gap"]
        off_ties = [1 + gap(0) / 2 + 2.0**-40, -(1 + gap(0) / 2 + 2.0**-40), 3 + gap(1) / 2 - 2.0**-40]
        cases.append(Case((torch.tensor(off_ties, dtype=torch.float64), fmt),
                          label=f"{fmt}: float64 values just off a tie (rounding through float32 makes them ties)"))
    cases += [
        Case((torch.tensor(ties, dtype=torch.float64), "fp16"), label="a float64 tensor stays float64"),
        Case((torch.tensor(1 + 3 * 2.0**-8), "bf16"), label="a 0-d tensor"),
        Case((_format_values(generator, "bf16", 24).view(2, 3, 4), "bf16"), label="a 3-d tensor keeps its shape"),
    ]
    return cases


def _round_cases(generator):
    cases = []
    for fmt in ("fp16", "bf16", "fp8_e4m3", "fp8_e5m2"):
        x = _format_values(generator, fmt, _randint(generator, 200, 400))
        cases.append(Case((x.view(-1, 2) if len(x) % 2 == 0 else x, fmt)))
    return cases


register(
    ExactCheck(
        name="quantization.round_to_format",
        function="round_to_format",
        cases=_round_cases,
        edge_cases=_round_edge_cases,
        reference=_round_reference,
        signed_zeros=True,
        rtol=0.0,
        atol=0.0,
        forbid=DTYPE_NAMES + BITS_NAMES,  # x.type(a low dtype) is a conversion: the dtype watch sees it
        forbid_ops=BITS_OPS,
        description="bit-for-bit equal to torch's conversion to float32, float16, bfloat16, float8_e4m3fn and "
                    "float8_e5m2 and back, by name and by bit counts, with x's dtype and the sign of zero kept, on "
                    "exact ties, carries into the next power of two, subnormals and the largest finite value",
    )
)


def _bits_reference(x, fmt):
    """Fields read from the bits torch stores after converting ``x`` to ``fmt`` (rounded once)."""
    dtype = DTYPES[fmt] if isinstance(fmt, str) else PAIR_DTYPES[tuple(fmt)]
    exponent_bits, mantissa_bits = FIELDS[fmt] if isinstance(fmt, str) else fmt
    n_bits = 1 + exponent_bits + mantissa_bits
    stored = _narrowed(torch.tensor([x], dtype=torch.float64), dtype)
    bits = stored.view(BIT_VIEWS_BY_DTYPE[dtype]).to(torch.int64).item() & (2**n_bits - 1)
    return bits >> (n_bits - 1), (bits >> mantissa_bits) & (2**exponent_bits - 1), bits & (2**mantissa_bits - 1)


def _bits_edge_cases(generator):
    cases = []
    for fmt in DTYPES:
        f = _landmarks(fmt)
        gap, sub, normal, top = f["gap"], f["subnormal"], f["normal"], f["top"]
        named = {
            "positive zero": 0.0,
            "negative zero: the sign bit is set": -0.0,
            "a negative value that rounds to -0.0": -sub / 4,
            "the smallest subnormal": sub,
            "the largest subnormal": normal - sub,
            "a subnormal tie that rounds up to the smallest normal (the carry reaches the exponent)": normal - sub / 2,
            "the smallest normal": normal,
            "1.0": 1.0,
            "a value below 2 that rounds up to 2 (the mantissa carries into the exponent)": 2.0 - gap(0) / 4,
            "a negative tie just above -2 that rounds to -2 (the mantissa carries into the exponent)": -(2.0 - gap(0) / 2),
            "a tie that rounds down to the even mantissa": 1.0 + gap(0) / 2,
            "a tie that rounds up to the even mantissa": -(1.0 + 1.5 * gap(0)),
            "a value that rounds up into the largest binade": 2.0**top - gap(top - 1) / 4,
            "the largest finite value": f["max"],
            "a value just below the largest finite value that rounds to it": -(f["max"] - gap(top) / 4),
        }
        if fmt != "fp32":
            named["a Python float just off a tie (rounding through float32 would make it one)"] = 1 + gap(0) / 2 + 2.0**-40
        cases += [Case((value, fmt), label=f"{fmt}: {label}") for label, value in named.items()]
    cases += [Case((value, pair), label=f"the pair {pair}, as its named format")
              for pair, value in (((5, 10), 2.0 - 2.0**-12), ((8, 7), -(2.0**-126 - 2.0**-134)), ((5, 2), 57344.0),
                                  ((4, 3), 240.0))]
    return cases


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
    ExactCheck(
        name="quantization.float_bits",
        function="float_bits",
        cases=_bits_cases,
        edge_cases=_bits_edge_cases,
        reference=_bits_reference,
        rtol=0.0,
        atol=0.0,
        forbid=DTYPE_NAMES + BITS_NAMES,
        forbid_ops=BITS_OPS,
        description="sign, exponent and mantissa fields equal the bits torch stores for fp32, fp16, bf16 and "
                    "both fp8 formats, on signed zeros, subnormals, ties, carries into the next power of two "
                    "and the largest finite value",
    )
)



def _smallest_subnormal(dtype):
    """The value of the bit pattern 0...01 in ``dtype``."""
    return torch.tensor([1], dtype=BIT_VIEWS_BY_DTYPE[dtype]).view(dtype).item()


def _finfo_dict(dtype):
    finfo = torch.finfo(dtype)
    return {"max": finfo.max, "min_normal": finfo.tiny, "min_subnormal": _smallest_subnormal(dtype), "eps": finfo.eps}


def _format_info_reference(fmt):
    if isinstance(fmt, str):
        return _finfo_dict(DTYPES[fmt])
    if tuple(fmt) in PAIR_DTYPES and tuple(fmt) != (4, 3):
        return _finfo_dict(PAIR_DTYPES[tuple(fmt)])
    exponent_bits, mantissa_bits = fmt
    top = 2 ** (exponent_bits - 1) - 1  # largest unbiased exponent of a finite value (IEEE 754)
    return {"max": 2.0 ** (top + 1) - 2.0 ** (top - mantissa_bits), "min_normal": 0.5**(top - 1),
            "min_subnormal": 0.5 ** (top - 1 + mantissa_bits), "eps": 0.5**mantissa_bits}


register(
    ExactCheck(
        name="quantization.format_info",
        function="format_info",
        cases=lambda g: [Case(((_randint(g, 2, 8), _randint(g, 1, 12)),)) for _ in range(4)],
        edge_cases=lambda g: [Case((name,), label=f"the format {name!r}") for name in DTYPES] + [
            Case(((4, 3),), label="the pair (4, 3) follows IEEE 754, not OCP's fp8_e4m3: max 240"),
            *(Case((pair,), label=f"the pair {pair} equals its named format") for pair in ((8, 23), (5, 10), (8, 7), (5, 2))),
            Case(((2, 1),), label="the fewest bits: (2, 1)"),
            Case(((8, 12),), label="more mantissa bits than exponent bits: (8, 12)"),
        ],
        reference=_format_info_reference,
        rtol=0.0,
        atol=0.0,
        forbid=DTYPE_NAMES + BITS_NAMES + ("finfo",),
        forbid_ops=BITS_OPS,
        description="max, min_normal, min_subnormal and eps, as floats, equal torch.finfo and the bit pattern "
                    "0...01 for the five named formats (OCP E4M3: max 448) and the pairs torch has, and IEEE "
                    "754's values for other bit counts (the pair (4, 3): max 240)",
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


def _halves(q_max):
    """Values on the grid of scale 1 whose largest magnitude is ``q_max``: exact halves of both signs
    (round half to even keeps 0.5 -> 0, 1.5 -> 2, 2.5 -> 2) and the extremes."""
    values = [float(q_max), 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.25, q_max - 0.5, -(q_max - 0.5)]
    return [v for v in values if abs(v) <= q_max]


def _half_steps(width, n_steps, low, high):
    """float32 values next to ``(k + 1/2) * scale``, ``scale = width / n_steps`` (float32), for ``k`` in
    ``[low, high)``, whose ``round(x / scale)`` differs from ``x`` times an inverse scale rounded to
    float32 (``1 / scale`` or ``n_steps / width``): the division the spec asks for decides them."""
    width = torch.tensor(width, dtype=torch.float32)
    scale = width / n_steps
    centres = ((torch.arange(low, high, dtype=torch.float64) + 0.5) * scale.double()).float()  # (high - low,)
    up, down = torch.full_like(centres, float("inf")), torch.full_like(centres, -float("inf"))
    near = torch.cat([centres, centres.nextafter(up), centres.nextafter(down)])  # (3 (high - low),)
    by_division = torch.round(near / scale)
    differs = (by_division != torch.round(near * (1 / scale))) | (by_division != torch.round(near * (n_steps / width)))
    return near[differs]


def _absmax_edge_cases(generator):
    cases = [Case((torch.tensor(_halves(2 ** (bits - 1) - 1)),), {"bits": bits},
                  label=f"{bits} bits: exact halves of the grid round to even")
             for bits in range(2, 9)]
    rows = torch.tensor([[7.0, 3.5, 2.5, -0.5], [0.0, 0.0, 0.0, 0.0], [-14.0, 5.0, -3.0, 2.0]])  # scales 1, zeros, 2
    cases += [
        Case((torch.tensor([[-2.0, 1.0], [0.5, 0.25]]),), label="the largest magnitude is negative"),
        Case((rows,), {"bits": 4, "dim": 1}, label="one scale per row (dim=1), a row of zeros gets scale 1, halves"),
        Case((rows,), {"bits": 4, "dim": 0}, label="one scale per column (dim=0), shaped (1, in)"),
        Case((torch.zeros(3, 4),), label="all zeros: scale 1"),
        Case((torch.tensor(_halves(127)),), {"dim": 0}, label="a 1-d tensor with dim=0"),
        Case((torch.tensor(_halves(127)).view(2, 1, 5),), label="a 3-d tensor: one scale shaped (1, 1, 1)"),
        Case((torch.tensor([[1.0, -127.0, 63.5]]),), {"bits": 8, "dim": None}, label="bits and dim given by name"),
        Case((torch.tensor([[3.0, -6.0, 1.5], [0.75, 2.0, -1.0]], dtype=torch.float64),), {"dim": 1},
             label="float64 input: the scale is float32 all the same"),
    ]
    for bits in (8, 4):
        q_max = 2 ** (bits - 1) - 1
        ties = torch.cat([torch.tensor([3.0]), _half_steps(3.0, q_max, -q_max, q_max)])
        cases.append(Case((ties,), {"bits": bits},
                          label=f"{bits} bits, max|x| = 3: x / scale within a rounding of a half, decided by dividing"))
    ties = _half_steps(3.0, 127, -127, 127)
    rows = torch.stack([torch.cat([torch.tensor([3.0]), ties]), torch.cat([torch.tensor([-3.0]), -ties])])
    cases.append(Case((rows,), {"dim": 1}, label="one scale per row, x / scale within a rounding of a half"))
    return cases


def _quietly(quantizer, *args):
    """``quantizer(*args).int_repr()`` without torch 2.13's deprecation warning for quantized tensors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return quantizer(*args).int_repr()


def _absmax_reference(x, bits=8, dim=None):
    """torch.quantize_per_tensor's or quantize_per_channel's q, but divided by the scale as the notebook
    says: torch multiplies by 1 / scale, which moves values within a rounding of a half
    (tests/test_checks_quantization.py compares them away from halves)."""
    x = x.float()  # the scale is float32 whatever x's dtype (the edge cases' float64 values are float32's too)
    q_max = 2 ** (bits - 1) - 1
    if dim is None or x.dim() == 1:
        absmax = x.abs().max()
        scale = (absmax / q_max if absmax > 0 else torch.tensor(1.0)).reshape([1] * x.dim())
    else:
        absmax = x.abs().max(dim=dim, keepdim=True).values
        scale = torch.where(absmax == 0, torch.ones_like(absmax), absmax / q_max)  # a slice of zeros: scale 1
    q = torch.round(x / scale).clamp(-q_max, q_max).to(torch.int8)
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
    ExactCheck(
        name="quantization.absmax_quantize",
        function="absmax_quantize",
        cases=_absmax_cases,
        edge_cases=_absmax_edge_cases,
        reference=_absmax_reference,
        rtol=1e-6,
        atol=0.0,
        forbid=QUANTIZER_NAMES,
        forbid_ops=QUANTIZER_OPS,
        description="q (int8) equals torch.quantize_per_tensor / quantize_per_channel's (zero point 0, dividing by "
                    "the scale) at the absmax "
                    "scale max|x| / (2^(bits-1) - 1) (float32), per tensor and per row or column, at every width "
                    "from 2 to 8 bits, on exact halves, values within a rounding of a half, all-zero slices, "
                    "outliers and 1-d to 3-d tensors",
    )
)


def _zeropoint_cases(generator):
    cases = []
    for shift in (0.0, 3.0, -3.0, 0.5, None):
        x = _weight(generator) if _randint(generator, 0, 1) else torch.randn(_randint(generator, 1, 50), generator=generator)
        x = x.abs() if shift is None else x + shift  # None: all non-negative, as after a ReLU
        cases.append(Case((x,), {"bits": (8, 4)[_randint(generator, 0, 1)]}))
    return cases


def _zeropoint_edge_cases(generator):
    cases = []
    for bits in range(2, 9):
        # the range [-1.5, 2^bits - 2.5] has scale 1 and -lo / scale = 1.5: the zero point rounds to 2,
        # and the top value rounds to 2^bits - 2, one above the range: clamped
        values = torch.tensor([-1.5, 2.0**bits - 2.5, 0.5, -0.5, 1.5, 0.0])
        cases.append(Case((values,), {"bits": bits}, label=f"{bits} bits: halves round to even, the top value is clamped"))
    cases += [
        Case((torch.tensor([-2.5, 252.5, 0.5, 1.5, -1.5]),), label="a zero point exactly halfway rounds to even"),
        Case((torch.zeros(2, 3),), label="all zeros: scale 1, zero point -2^(bits-1)"),
        Case((torch.zeros(4),), {"bits": 4}, label="all zeros at 4 bits: scale 1, zero point -8"),
        Case((torch.full((5,), 3.0),), label="a constant positive tensor: the range is [0, c]"),
        Case((torch.full((2, 2), -2.0),), {"bits": 4}, label="a constant negative tensor: the range is [c, 0]"),
        Case((torch.tensor([0.5, 1.0, 2.55, 0.75]),), label="all positive, as after a ReLU: the range starts at 0"),
        Case((torch.tensor([[[-3.0, 1.0]], [[0.25, 2.0]]]),), {"bits": 8}, label="a 3-d tensor: scale shaped (1, 1, 1)"),
    ]
    for bits in (8, 4):  # the range [0, 3]: zero point -2^(bits-1), exactly
        ties = torch.cat([torch.tensor([0.0, 3.0]), _half_steps(3.0, 2**bits - 1, 0, 2**bits - 1)])
        cases.append(Case((ties,), {"bits": bits},
                          label=f"{bits} bits, range [0, 3]: x / scale within a rounding of a half, decided by dividing"))
    return cases


def _zeropoint_reference(x, bits=8):
    lo, hi = min(x.min().item(), 0.0), max(x.max().item(), 0.0)  # float32 values, held exactly
    scale = (torch.tensor(hi) - torch.tensor(lo)) / (2**bits - 1) if hi > lo else torch.tensor(1.0)  # float32
    zero_point = round(-lo / scale.item()) - 2 ** (bits - 1)  # Python's round: half to even
    # torch.quantize_per_tensor's q, but divided by the scale as the notebook says: torch multiplies by
    # 1 / scale, which moves a few values that lie within a rounding of a half (tests/test_checks_quantization.py)
    q = (torch.round(x / scale) + zero_point).clamp(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1).to(torch.int8)
    ones = [1] * x.dim()
    return q, scale.reshape(ones), torch.tensor(zero_point, dtype=torch.int32).reshape(ones)


register(
    ExactCheck(
        name="quantization.zeropoint_quantize",
        function="zeropoint_quantize",
        cases=_zeropoint_cases,
        edge_cases=_zeropoint_edge_cases,
        reference=_zeropoint_reference,
        rtol=1e-6,
        atol=0.0,
        forbid=QUANTIZER_NAMES,
        forbid_ops=QUANTIZER_OPS,
        description="q (int8), scale (float32) and zero point (int32), shaped like x with sizes 1, equal "
                    "torch.quantize_per_tensor's (dividing by the scale) with scale (max - min) / (2^bits - 1) over a range that includes "
                    "0, at every width from 2 to 8 bits, on exact halves, clamped tops, all-zero and constant tensors",
    )
)


RANGES = ((-128, 127), (0, 255), (-8, 7), (0, 15), (-1, 1))


def _fake_quantize_cases(generator, with_upstream=False):
    cases = []
    for qmin, qmax in RANGES:
        x = torch.randn(_randint(generator, 1, 6), _randint(generator, 1, 30), generator=generator) * 3
        scale = float(torch.rand(1, generator=generator) * 0.5 + 0.01)
        zero_point = _randint(generator, qmin, qmax)
        args = (x, scale, zero_point, qmin, qmax)
        if with_upstream:
            args += (torch.randn(x.shape, generator=generator),)
        cases.append(Case(args))
    return cases


def _fake_quantize_edge_cases(generator, with_upstream=False):
    """At scale 0.5 (exact in binary): every range the notebook names with an odd zero point, values on
    both ends (qmin, qmax), a quarter inside and outside them after rounding, halves that round to
    even, and values far beyond; exact halves at zero point 0; a 0-d ``x``."""
    cases = []
    for qmin, qmax in RANGES:
        zero_point = qmin + 1 if qmax - qmin > 2 else 0
        grid = [qmin - 3, qmin - 0.5, qmin - 0.25, qmin, qmin + 0.25, qmin + 0.5, (qmin + qmax) / 2 + 0.5,
                qmax - 0.5, qmax - 0.25, qmax, qmax + 0.25, qmax + 0.5, qmax + 3]
        x = (torch.tensor(grid) - zero_point) * 0.5  # x / scale + zero_point lands on the grid
        cases.append(Case((x, 0.5, zero_point, qmin, qmax),
                          label=f"range [{qmin}, {qmax}], zero point {zero_point}: values at, inside and beyond both ends"))
    x = torch.tensor([[0.5, 1.5, 2.5, -0.5], [-1.5, -2.5, 3.5, 0.25]]) * 0.25
    cases.append(Case((x, 0.25, 0, -8, 7), label="exact halves of x / scale round to even"))
    cases.append(Case((torch.tensor(0.625), 0.25, 3, -8, 7), label="a 0-d tensor"))
    if not with_upstream:  # the gradients do not depend on how a half is broken inside the range
        scale = float(torch.tensor(3.0) / 255)  # float32's 3 / 255
        cases.append(Case((_half_steps(3.0, 255, -128, 127), scale, 3, -128, 127),
                          label="x / scale within a rounding of a half, decided by dividing"))
    if with_upstream:
        cases = [Case(case.args + (torch.linspace(-2.0, 3.0, case.args[0].numel()).view(case.args[0].shape),),
                      label=case.label) for case in cases]
    return cases


def _fake_quantize_reference(x, scale, zero_point, qmin, qmax):
    """torch.fake_quantize_per_tensor_affine's values, but divided by the scale as the notebook says:
    torch multiplies by 1 / scale (tests/test_checks_quantization.py compares them away from halves)."""
    q = (torch.round(x / scale) + zero_point).clamp(qmin, qmax)
    return (q - zero_point) * scale


register(
    ExactCheck(
        name="quantization.fake_quantize",
        function="fake_quantize",
        cases=_fake_quantize_cases,
        edge_cases=_fake_quantize_edge_cases,
        reference=_fake_quantize_reference,
        rtol=1e-5,
        atol=1e-6,
        forbid=QUANTIZER_NAMES,
        forbid_ops=QUANTIZER_OPS,
        description="forward values equal torch.fake_quantize_per_tensor_affine's (dividing by the scale) for "
                    "signed and unsigned ranges of 2 to 8 bits, with zero points, exact halves, values within a "
                    "rounding of a half, and inputs at and beyond both ends of the range",
    )
)


def _fake_quantize_grad_reference(x, scale, zero_point, qmin, qmax, upstream):
    x = x.detach().clone().requires_grad_(True)
    (torch.fake_quantize_per_tensor_affine(x, scale, zero_point, qmin, qmax) * upstream).sum().backward()
    return x.grad


register(
    ExactCheck(
        name="quantization.fake_quantize_grad",
        function="fake_quantize_grad",
        cases=lambda g: _fake_quantize_cases(g, with_upstream=True),
        edge_cases=lambda g: _fake_quantize_edge_cases(g, with_upstream=True),
        reference=_fake_quantize_grad_reference,
        rtol=1e-5,  # a correct answer may compute (x / scale) * scale, off by one float32 rounding
        atol=1e-7,
        description="the gradient reaching x equals torch.fake_quantize_per_tensor_affine's straight-through "
                    "gradient: the upstream gradient where round(x / scale) + zero_point lies in [qmin, qmax] "
                    "(its ends included), zero where it was clamped",
    )
)


def _lsq_terms(x, scale, zero_point, qmin, qmax, upstream):
    """LSQ's gradient for the scale (Esser et al. 2020, eq. 3), value by value and times ``upstream``:
    ``round(v) - v`` where ``q = round(v) + zero_point`` (``v = x / scale``) lies in ``[qmin, qmax]``,
    else the end ``q`` was clamped to, minus ``zero_point``."""
    v = x / scale
    q = torch.round(v) + zero_point
    inside = (q >= qmin) & (q <= qmax)
    per_value = torch.where(inside, torch.round(v) - v, q.clamp(qmin, qmax) - zero_point)
    return per_value.double() * upstream.double()


class ScaleGradCheck(ExactCheck):
    """The scale's gradient is a sum over ``x``: compared within a tolerance that grows with the sum of
    the terms' magnitudes (float32 sums in another order differ by a few roundings of each; the reference
    itself was 1.6x over 1e-5 of that sum on 2 seeds in 400, so 1e-4)."""

    def compare(self, case, actual):
        terms = _lsq_terms(*case.args)
        expected = terms.sum().float()
        return _exact_mismatch(actual, expected) or compare_outputs(
            actual, expected, 0.0, 1e-4 * terms.abs().sum().item() + 1e-5)


register(
    ScaleGradCheck(
        name="quantization.fake_quantize_scale_grad",
        function="fake_quantize_scale_grad",
        cases=lambda g: _fake_quantize_cases(g, with_upstream=True),
        edge_cases=lambda g: _fake_quantize_edge_cases(g, with_upstream=True),
        reference=lambda *args: _lsq_terms(*args).sum().float(),
        description="the gradient reaching the scale is LSQ's (Esser et al. 2020), as torch's learnable fake "
                    "quantizer gives it: round(x / scale) - x / scale inside the range, qmin - zero_point or "
                    "qmax - zero_point where clamped, times the upstream gradient, summed",
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


def _bytes_edge_cases(generator):
    odd = [(3, 5), (1, 3), (7, 2)]  # 15, 3 and 14 weights: at 4 bits each matrix ends mid-byte or on one
    cases = [Case((odd,), {"bits": bits, "per_channel": bits % 2 == 0},
                  label=f"{bits} bits, per_channel={bits % 2 == 0}: bytes round up per weight matrix")
             for bits in range(1, 9)]
    cases += [
        Case(([(3, 5)],), {"bits": 4}, label="an odd count of 4-bit values: 60 bits take 8 bytes, not one per row"),
        Case(([(1, 3), (1, 3)],), {"bits": 4, "per_channel": False},
             label="two matrices of 12 bits each: 2 bytes each, not 3 in all"),
        Case(([(4, 6), (2, 9)],), label="the defaults: 8 bits, one scale per output row"),
        Case(([(5, 2)],), {"bits": 8, "per_channel": False}, label="per tensor: one scale per weight matrix"),
        Case(([],), {"bits": 4}, label="no weights: 0 bytes"),
    ]
    return cases


register(
    Check(
        name="quantization.quantized_linear_bytes",
        function="quantized_linear_bytes",
        cases=_bytes_cases,
        edge_cases=_bytes_edge_cases,
        reference=_bytes_reference,
        rtol=0.0,
        atol=0.0,
        description="an int: packed integer bytes (rounded up to whole bytes per weight matrix) plus 4 bytes per "
                    "float32 scale, per channel or per tensor, for every width from 1 to 8 bits and odd shapes",
    )
)
