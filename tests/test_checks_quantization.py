"""Chapter 5's hidden checks pass the reference and fail plausible wrong answers."""

import warnings

import pytest
import torch

import solutions.quantization as Q
from autograder import integrity
from autograder.checks import Case, check, draw_cases, get, judge

NAMES = ["round_to_format", "float_bits", "format_info", "absmax_quantize", "zeropoint_quantize",
         "fake_quantize", "fake_quantize_grad", "fake_quantize_scale_grad", "quantized_linear_bytes"]


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes_on_many_seeds(name):
    """Exact comparisons leave no room: the reference must pass every seed, not just most."""
    check_ = get(f"quantization.{name}")
    function = getattr(Q, name)
    for seed in range(60):
        for case in draw_cases(check_, seed):
            reason = judge(check_, case, function)
            assert reason is None, f"seed {seed}, {case.describe()}: {reason}"


def round_ties_away(x, fmt):
    exponent_bits, mantissa_bits = Q.FORMATS[fmt]
    x64 = x.double()
    _, e = torch.frexp(x64.abs())
    spacing = torch.pow(2.0, ((e - 1).clamp(min=2 - 2 ** (exponent_bits - 1)) - mantissa_bits).double())
    return (torch.sign(x64) * torch.floor(x64.abs() / spacing + 0.5) * spacing).to(x.dtype)


def round_no_subnormals(x, fmt):
    exponent_bits, mantissa_bits = Q.FORMATS[fmt]
    x64 = x.double()
    _, e = torch.frexp(x64.abs())
    spacing = torch.pow(2.0, (e - 1 - mantissa_bits).double())  # keeps full precision below min_normal
    return (torch.round(x64 / spacing) * spacing).to(x.dtype)


def round_truncating(x, fmt):
    exponent_bits, mantissa_bits = Q.FORMATS[fmt]
    x64 = x.double()
    _, e = torch.frexp(x64.abs())
    spacing = torch.pow(2.0, ((e - 1).clamp(min=2 - 2 ** (exponent_bits - 1)) - mantissa_bits).double())
    return (torch.trunc(x64 / spacing) * spacing).to(x.dtype)


def bits_unbiased(x, fmt):
    sign, exponent, mantissa = Q.float_bits(x, fmt)
    bias = 2 ** (Q.FORMATS[fmt][0] - 1) - 1
    return sign, exponent - bias if exponent else 0, mantissa


def info_fp16_famous(fmt):
    info = Q.format_info(fmt)
    return dict(info, max=65535.0) if fmt == "fp16" else info


def info_ieee_e4m3(fmt):
    return Q.format_info(Q.FORMATS[fmt] if isinstance(fmt, str) else fmt)  # 240 for E4M3, not 448


def info_eps_half(fmt):
    info = Q.format_info(fmt)
    return dict(info, eps=info["eps"] / 2)


def absmax_by_256(x, bits=8, dim=None):
    q, scale = Q.absmax_quantize(x, bits, dim)
    new_scale = scale * (2 ** (bits - 1) - 1) / 2 ** (bits - 1)  # divides by 2^(bits-1): q can reach 2^(bits-1)
    return torch.round(x / new_scale).to(torch.int8), new_scale


def absmax_wrong_dim(x, bits=8, dim=None):
    return Q.absmax_quantize(x, bits, None if dim is None else 1 - dim)


def absmax_truncating(x, bits=8, dim=None):
    q, scale = Q.absmax_quantize(x, bits, dim)
    return torch.trunc(x / scale).to(torch.int8), scale


def zeropoint_without_zero(x, bits=8):
    ones = [1] * x.dim()
    lo, hi = x.min().reshape(ones), x.max().reshape(ones)  # forgets to widen the range to include 0
    scale = (hi - lo) / (2**bits - 1)
    zero_point = (torch.round(-lo / scale) - 2 ** (bits - 1)).to(torch.int32)
    q = (torch.round(x / scale) + zero_point).clamp(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1).to(torch.int8)
    return q, scale, zero_point


def zeropoint_unsigned(x, bits=8):
    q, scale, zero_point = Q.zeropoint_quantize(x, bits)
    return q.to(torch.int16) + 2 ** (bits - 1), scale, zero_point + 2 ** (bits - 1)  # q on [0, 2^bits - 1]


def fake_quantize_no_clamp(x, scale, zero_point, qmin, qmax):
    return (torch.round(x / scale) + zero_point - zero_point) * scale


def fake_quantize_round_only(x, scale, zero_point, qmin, qmax):
    return torch.round(x / scale) * scale  # no zero point, no clamp


def grad_everywhere(x, scale, zero_point, qmin, qmax, upstream):
    return upstream.clone()  # identity STE that forgets the clamp


def grad_of_round(x, scale, zero_point, qmin, qmax, upstream):
    return torch.zeros_like(x)  # torch.round's true gradient: zero, training stalls


def bytes_unpacked(shapes, bits=8, per_channel=True):
    return Q.quantized_linear_bytes(shapes, 8, per_channel)  # one byte per weight whatever the width


def bytes_without_scales(shapes, bits=8, per_channel=True):
    return Q.quantized_linear_bytes(shapes, bits, per_channel) - 4 * (
        sum(rows for rows, _ in shapes) if per_channel else len(shapes))


@pytest.mark.parametrize("name, wrong", [
    ("round_to_format", round_ties_away),
    ("round_to_format", round_no_subnormals),
    ("round_to_format", round_truncating),
    ("float_bits", bits_unbiased),
    ("float_bits", lambda x, fmt: Q.float_bits(-x, fmt)),
    ("format_info", info_fp16_famous),
    ("format_info", info_ieee_e4m3),
    ("format_info", info_eps_half),
    ("absmax_quantize", absmax_by_256),
    ("absmax_quantize", absmax_wrong_dim),
    ("absmax_quantize", absmax_truncating),
    ("zeropoint_quantize", zeropoint_without_zero),
    ("zeropoint_quantize", zeropoint_unsigned),
    ("fake_quantize", fake_quantize_no_clamp),
    ("fake_quantize", fake_quantize_round_only),
    ("fake_quantize_grad", grad_everywhere),
    ("fake_quantize_grad", grad_of_round),
    ("quantized_linear_bytes", bytes_unpacked),
    ("quantized_linear_bytes", bytes_without_scales),
])
def test_wrong_answer_fails(name, wrong):
    with pytest.raises(AssertionError):
        for _ in range(3):
            check(f"quantization.{name}", wrong)


def test_format_info_reference_is_torch_finfo():
    """The check's reference for named formats is torch's own table, so 65535 cannot pass for fp16."""
    reference = get("quantization.format_info").reference
    assert reference("fp16")["max"] == 65504.0 == torch.finfo(torch.float16).max
    assert reference("fp8_e4m3")["max"] == 448.0


@pytest.mark.parametrize("name, shortcut", [
    ("round_to_format", "def round_to_format(x, fmt):\n    return x.to(torch.bfloat16).to(x.dtype)"),
    ("float_bits", "def float_bits(x, fmt):\n    return torch.tensor([x]).half().view(torch.int16)"),
    ("format_info", "def format_info(fmt):\n    return {'max': torch.finfo(torch.float16).max}"),
    ("absmax_quantize", "def absmax_quantize(x, bits=8, dim=None):\n    return torch.quantize_per_tensor(x, 1.0, 0, torch.qint8)"),
    ("zeropoint_quantize", "def zeropoint_quantize(x, bits=8):\n    return torch.ao.quantization.MinMaxObserver()(x)"),
    ("fake_quantize", "def fake_quantize(x, s, z, lo, hi):\n    return torch.fake_quantize_per_tensor_affine(x, s, z, lo, hi)"),
])
def test_built_in_shortcuts_are_forbidden(name, shortcut):
    assert integrity.forbidden_uses(shortcut, get(f"quantization.{name}").forbid)


def test_zeropoint_reference_is_torchs_quantizer_away_from_halves():
    """The reference divides by the scale, as the notebook says; torch's quantizer multiplies by its
    inverse. Both agree wherever x / scale is not within a float32 rounding of a half."""
    reference = get("quantization.zeropoint_quantize").reference
    x = torch.randn(4000, generator=torch.Generator().manual_seed(0)) * 2 + 0.5
    q, scale, zero_point = reference(x, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch 2.13 deprecates quantized tensors
        torchs = torch.quantize_per_tensor(x, scale.item(), zero_point.item(), torch.qint8).int_repr()
    v = x / scale
    far = ((v - torch.floor(v)) - 0.5).abs() > 1e-4
    assert far.sum() > 3900 and torch.equal(q[far], torchs[far])


@pytest.mark.parametrize("dim", [None, 1])
def test_absmax_reference_is_torchs_quantizer_away_from_halves(dim):
    """As the zero-point reference: it divides by the scale; torch's quantizers multiply by its inverse."""
    x = torch.randn(40, 100, generator=torch.Generator().manual_seed(0)) * 2
    q, scale = get("quantization.absmax_quantize").reference(x, 8, dim)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch 2.13 deprecates quantized tensors
        if dim is None:
            torchs = torch.quantize_per_tensor(x, scale.item(), 0, torch.qint8).int_repr()
        else:
            zeros = torch.zeros(40, dtype=torch.int64)
            torchs = torch.quantize_per_channel(x, scale.flatten().double(), zeros, 0, torch.qint8).int_repr()
    v = x / scale
    far = ((v - torch.floor(v)) - 0.5).abs() > 1e-4
    assert far.sum() > 3900 and torch.equal(q[far], torchs[far])


def test_fake_quantize_reference_is_torchs_away_from_halves():
    x = torch.randn(4000, generator=torch.Generator().manual_seed(0)) * 3
    scale, zero_point = float(torch.tensor(0.037)), 5
    ours = get("quantization.fake_quantize").reference(x, scale, zero_point, -128, 127)
    torchs = torch.fake_quantize_per_tensor_affine(x, scale, zero_point, -128, 127)
    v = x / scale
    far = ((v - torch.floor(v)) - 0.5).abs() > 1e-4
    assert far.sum() > 3900 and torch.equal(ours[far], torchs[far])


@pytest.mark.parametrize("zero_point, qmin, qmax", [(0, -8, 7), (4, -8, 7), (0, -1, 1), (100, 0, 255)])
def test_scale_gradient_reference_is_torchs_learnable_quantizer(zero_point, qmin, qmax):
    """The LSQ reference equals torch's own learnable fake quantizer (grad_factor 1) on random values,
    where no tie makes round(x / scale) + zero_point and torch's round(x / scale + zero_point) differ."""
    generator = torch.Generator().manual_seed(1)
    x, upstream = torch.randn(300, generator=generator) * 3, torch.randn(300, generator=generator)
    scale = torch.tensor([0.37], requires_grad=True)
    out = torch._fake_quantize_learnable_per_tensor_affine(x, scale, torch.tensor([float(zero_point)]), qmin, qmax, 1.0)
    (out * upstream).sum().backward()
    check_ = get("quantization.fake_quantize_scale_grad")
    assert check_.compare(Case((x, 0.37, zero_point, qmin, qmax, upstream)), scale.grad.reshape(())) is None


def test_messages_name_the_sign_of_zero_and_the_int():
    rounding, info = get("quantization.round_to_format"), get("quantization.format_info")
    case = Case((torch.tensor([-0.0, 1.0]), "fp16"), label="signed zeros")
    assert "sign of zero" in rounding.compare(case, torch.tensor([0.0, 1.0]))
    assert "dtype" in rounding.compare(case, torch.tensor([-0.0, 1.0], dtype=torch.float64))
    assert "int" in info.compare(Case(("fp16",)), dict(Q.format_info("fp16"), max=65504))


def test_edge_cases_have_labels_and_are_the_same_under_every_seed():
    for name in NAMES:
        check_ = get(f"quantization.{name}")
        first, second = draw_cases(check_, 1), draw_cases(check_, 2)
        edges = [case for case in first if case.label]
        assert edges, f"{name} has no edge cases"
        assert [case.describe() for case in edges] == [case.describe() for case in second[:len(edges)]]
