"""Chapter 5's module against torch's dtype conversions, IEEE 754 values and hand-computed cases."""

import math

import pytest
import torch

import solutions.quantization as Q
from solutions.gpt import GPT, GPTConfig

TORCH_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16,
                "fp8_e4m3": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}


@pytest.mark.parametrize("fmt", sorted(TORCH_DTYPES))
def test_round_to_format_is_bit_exact_on_a_million_values(fmt):
    """A million float32 values, log-uniform from a quarter of the smallest subnormal to the maximum."""
    generator = torch.Generator().manual_seed(0)
    info = Q.format_info(fmt)
    low, high = math.log(info["min_subnormal"] / 4), math.log(info["max"])
    magnitudes = torch.exp(torch.rand(10**6, generator=generator, dtype=torch.float64) * (high - low) + low)
    signs = torch.where(torch.rand(10**6, generator=generator) < 0.5, -1.0, 1.0).double()
    x = (magnitudes * signs).float().clamp(-info["max"], info["max"])
    ours, theirs = Q.round_to_format(x, fmt), x.to(TORCH_DTYPES[fmt]).float()
    assert torch.equal(ours.view(torch.int32), theirs.view(torch.int32))  # bit for bit, signed zeros included


@pytest.mark.parametrize("fmt", sorted(TORCH_DTYPES))
def test_round_to_format_breaks_ties_to_even(fmt):
    _, mantissa_bits = Q.FORMATS[fmt]
    gap = 2.0**-mantissa_bits  # between neighbours in [1, 2)
    ties = torch.tensor([1 + gap / 2, 1 + 3 * gap / 2])  # halfway: down to the even 1, up to the even 1 + 2 gap
    assert Q.round_to_format(ties, fmt).tolist() == [1.0, 1 + 2 * gap]


def test_float_bits_of_known_values():
    # IEEE 754 half precision: pi is 0x4248, 65504 is 0x7BFF, 2^-24 is 0x0001, -2 is 0xC000
    assert Q.float_bits(math.pi, "fp16") == (0, 0x10, 0x248)
    assert Q.float_bits(65504.0, "fp16") == (0, 0x1E, 0x3FF)
    assert Q.float_bits(2.0**-24, "fp16") == (0, 0, 1)
    assert Q.float_bits(-2.0, "fp16") == (1, 0x10, 0)
    assert Q.float_bits(1.0, "fp32") == (0, 127, 0)  # 0x3F800000
    assert Q.float_bits(math.pi, "bf16") == (0, 128, 0x49)  # 0x4049
    assert Q.float_bits(448.0, "fp8_e4m3") == (0, 15, 6)  # 0x7E, OCP's largest E4M3 value
    assert Q.float_bits(-0.0, "bf16") == (1, 0, 0)


def test_format_info_matches_ieee_and_ocp_values():
    # IEEE 754-2008 Table 3.5 and the OCP FP8 specification (v1.0), Table 1
    assert Q.format_info("fp16") == {"max": 65504.0, "min_normal": 2.0**-14, "min_subnormal": 2.0**-24,
                                     "eps": 2.0**-10}
    assert Q.format_info("fp32")["max"] == (2 - 2.0**-23) * 2.0**127
    assert Q.format_info("fp8_e4m3") == {"max": 448.0, "min_normal": 2.0**-6, "min_subnormal": 2.0**-9,
                                         "eps": 0.125}
    assert Q.format_info("fp8_e5m2") == {"max": 57344.0, "min_normal": 2.0**-14, "min_subnormal": 2.0**-16,
                                         "eps": 0.25}
    for fmt, dtype in TORCH_DTYPES.items():
        finfo = torch.finfo(dtype)
        info = Q.format_info(fmt)
        assert (info["max"], info["min_normal"], info["eps"]) == (finfo.max, finfo.tiny, finfo.eps)


def test_absmax_quantize_by_hand():
    x = torch.tensor([[-1.0, 0.5, 0.25], [2.0, -0.1, 0.0]])
    q, scale = Q.absmax_quantize(x)
    assert scale.shape == (1, 1) and scale.item() == pytest.approx(2.0 / 127)
    assert q.tolist() == [[-64, 32, 16], [127, -6, 0]]  # x * 63.5, rounded: -63.5 goes to the even -64
    rows = torch.tensor([[7.0, 3.5, -1.75], [14.0, -0.5, 1.0]])  # row scales max / 7 = 1 and 2, exact
    q_rows, row_scales = Q.absmax_quantize(rows, bits=4, dim=1)
    assert row_scales.shape == (2, 1) and row_scales.flatten().tolist() == [1.0, 2.0]
    assert q_rows.tolist() == [[7, 4, -2], [7, 0, 0]]  # 3.5 -> 4 and 0.5 -> 0: ties go to even


def test_zeropoint_quantize_by_hand():
    x = torch.tensor([0.0, 1.0, 2.55])
    q, scale, zero_point = Q.zeropoint_quantize(x)
    assert scale.shape == zero_point.shape == (1,)
    assert scale.item() == pytest.approx(0.01) and zero_point.item() == -128  # 0 maps to the lowest code
    assert q.tolist() == [-128, -28, 127]
    assert torch.allclose(Q.dequantize(q, scale, zero_point), x, atol=scale.item() / 2)


def test_fake_quantize_matches_torch_and_learns_lsq_scale_gradient():
    generator = torch.Generator().manual_seed(0)
    x = (torch.randn(200, generator=generator) * 3).requires_grad_(True)
    scale = torch.tensor(0.05, requires_grad=True)
    out = Q.fake_quantize(x, scale, 3, -8, 7)
    reference = torch.fake_quantize_per_tensor_affine(x.detach(), 0.05, 3, -8, 7)
    assert torch.allclose(out, reference, atol=1e-6)
    out.sum().backward()
    v = x.detach() / 0.05
    inside = (torch.round(v) + 3 >= -8) & (torch.round(v) + 3 <= 7)
    assert torch.allclose(x.grad, inside.float(), rtol=1e-6, atol=0)  # (1 / s) * s in float32
    # LSQ (Esser et al. 2020, eq. 3): round(v) - v inside, qmin - z below, qmax - z above; "inside"
    # is decided after rounding here, as in PyTorch (the paper decides it on v before rounding)
    expected = torch.where(inside, torch.round(v) - v, torch.where(v < 0, -8.0 - 3, 7.0 - 3)).sum()
    assert scale.grad.item() == pytest.approx(expected.item(), rel=1e-4)


@pytest.mark.parametrize("zero_point, qmin, qmax", [(0, -8, 7), (3, -8, 7), (0, -1, 1), (100, 0, 255)])
def test_fake_quantize_gradients_match_torch_learnable_quantizer(zero_point, qmin, qmax):
    """PyTorch's own LSQ quantizer (grad_factor 1) gives the same gradients to x and to the scale."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(500, generator=generator) * 3
    upstream = torch.randn(500, generator=generator)
    ours_x, ours_s = x.clone().requires_grad_(True), torch.tensor([0.37], requires_grad=True)
    (Q.fake_quantize(ours_x, ours_s, zero_point, qmin, qmax) * upstream).sum().backward()
    torch_x, torch_s = x.clone().requires_grad_(True), torch.tensor([0.37], requires_grad=True)
    out = torch._fake_quantize_learnable_per_tensor_affine(
        torch_x, torch_s, torch.tensor([float(zero_point)]), qmin, qmax, 1.0)
    (out * upstream).sum().backward()
    assert torch.allclose(ours_x.grad, torch_x.grad, rtol=1e-6, atol=0)  # 0, or upstream * (1 / s) * s
    assert ours_s.grad.item() == pytest.approx(torch_s.grad.item(), rel=1e-4)


def test_quantized_linear_bytes_by_hand():
    # (3, 5) at 4 bits: 15 weights -> 60 bits -> 8 bytes, plus 3 row scales of 4 bytes
    assert Q.quantized_linear_bytes([(3, 5)], bits=4) == 8 + 12
    assert Q.quantized_linear_bytes([(3, 5), (2, 2)], bits=8, per_channel=False) == 15 + 4 + 4 + 4


@pytest.mark.parametrize("bits", [8, 4, 2])
@pytest.mark.parametrize("per_channel", [False, True])
def test_quantized_model_stores_packed_integers(bits, per_channel):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=50, context_length=8, d_model=16, n_heads=2, n_layers=2)
    model = GPT(config).eval()
    quantized = Q.quantize_model(model, bits, per_channel)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not model.lm_head]
    stored = [m for m in quantized.modules() if isinstance(m, Q.QuantizedLinear)]
    assert len(stored) == len(linears) == 4 * config.n_layers
    for original, packed in zip(linears, stored):
        q, scale = Q.absmax_quantize(original.weight.detach(), bits, dim=1 if per_channel else None)
        assert torch.equal(packed.weight(), Q.dequantize(q, scale))  # packing loses nothing
    float_bytes = 4 * sum(m.weight.numel() for m in linears)
    shapes = [tuple(m.weight.shape) for m in linears]
    expected = Q.model_size_bytes(model) - float_bytes + Q.quantized_linear_bytes(shapes, bits, per_channel)
    assert Q.model_size_bytes(quantized) == expected
    idx = torch.randint(config.vocab_size, (2, 8))
    assert quantized.lm_head.weight is quantized.token_embedding.weight  # the tied head is left alone
    if bits == 8:
        assert torch.allclose(quantized(idx), model(idx), atol=0.05)


def test_model_size_counts_tied_weights_once():
    config = GPTConfig(vocab_size=50, context_length=8, d_model=16, n_heads=2, n_layers=1)
    model = GPT(config)
    assert Q.model_size_bytes(model) == 4 * sum(p.numel() for p in model.parameters())  # parameters() dedupes too
    assert Q.model_size_bytes(model) < 4 * sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))


def test_fake_quant_linear_starts_at_the_post_training_weights():
    """Before any step, QAT's layer computes with exactly the weights PTQ stores (same absmax scales)."""
    from solutions.train_qat import FakeQuantLinear

    torch.manual_seed(0)
    linear = torch.nn.Linear(16, 8, bias=False)
    for bits, per_channel in [(4, False), (2, True)]:
        layer = FakeQuantLinear(linear, bits, per_channel)
        packed = Q.QuantizedLinear(linear.weight, bits, per_channel)
        assert torch.allclose(layer.quantized_weight(), packed.weight(), rtol=1e-6, atol=0)
        x = torch.randn(3, 16)
        layer(x).sum().backward()
        assert layer.scale.grad is not None and layer.weight.grad is not None  # both are learned


def test_committed_results_are_consistent():
    """Sizes in the committed results equal what the model stores now; QAT rows name real settings."""
    import json

    from solutions.data import DATA_DIR
    from solutions.train_qat import PTQ_SETTINGS, QAT_SETTINGS, RESULTS_FILE, SPREAD_SEEDS
    from solutions.train_gpt import load_trained

    results = json.loads((DATA_DIR / RESULTS_FILE).read_text())
    model, _ = load_trained()
    assert results["fp32"]["bytes"] == Q.model_size_bytes(model)
    assert [(r["bits"], r["per_channel"]) for r in results["ptq"]] == PTQ_SETTINGS
    assert [(r["bits"], r["per_channel"]) for r in results["qat"]] == QAT_SETTINGS
    for row in results["ptq"]:
        assert row["bytes"] == Q.model_size_bytes(Q.quantize_model(model, row["bits"], row["per_channel"]))
    ptq_losses = {(r["bits"], r["per_channel"]): r["val_loss"] for r in results["ptq"]}
    for row in results["qat"]:
        assert row["ptq_val_loss"] == pytest.approx(ptq_losses[(row["bits"], row["per_channel"])], abs=1e-6)
    spread = results["qat_seeds"]
    assert (spread["bits"], spread["per_channel"]) == QAT_SETTINGS[0]
    assert [run["seed"] for run in spread["runs"]] == list(SPREAD_SEEDS)


def _clipped_error(x, scale, q_max):
    """Squared error of x after symmetric rounding to the integers -q_max..q_max times scale (a float)."""
    return sum((min(max(round(v / scale), -q_max), q_max) * scale - v) ** 2 for v in x.tolist())


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_mse_scale_is_the_best_clipping_ratio_of_its_grid(bits):
    """Brute force over the same grid, one row at a time in Python floats: nothing on it does better."""
    generator = torch.Generator().manual_seed(bits)
    x = torch.randn(6, 40, generator=generator, dtype=torch.float64)
    x[0, 3] = 12.0  # a row with an outlier, where clipping pays
    q_max = 2 ** (bits - 1) - 1
    chosen = Q.mse_scale(x, bits, dim=1, n_ratios=50)
    assert chosen.shape == (6, 1) and chosen.dtype == torch.float32
    for row, scale in zip(x, chosen.flatten().tolist()):
        absmax = row.abs().max().item() / q_max
        best = min(_clipped_error(row, absmax * k / 50, q_max) for k in range(1, 51))
        assert _clipped_error(row, scale, q_max) <= best * (1 + 1e-5) + 1e-12
        assert scale <= absmax * (1 + 1e-6)  # a clipping range never exceeds absmax's


def test_mse_scale_clips_a_gaussian_at_4_bits():
    """For many normal values, 4-bit rounding error is smallest with the range clipped below the maximum."""
    x = torch.randn(1, 4000, generator=torch.Generator().manual_seed(0))
    ratio = (Q.mse_scale(x, 4, dim=1) / Q.absmax_quantize(x, 4, dim=1)[1]).item()
    assert ratio < 0.9


def test_mse_scale_per_tensor_matches_one_scale_for_everything():
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    scale = Q.mse_scale(x, 4)
    assert scale.shape == (1, 1)
    assert torch.equal(scale, Q.mse_scale(x.flatten(), 4).view(1, 1))


def test_quantized_linear_with_mse_clip_stores_clamped_integers():
    """The stored weight is PyTorch's own fake quantization with the MSE scales (independent quantizer)."""
    torch.manual_seed(0)
    weight = torch.randn(8, 16)
    weight[2, 5] = 9.0
    for bits in (2, 4, 8):
        layer = Q.QuantizedLinear(weight, bits, per_channel=True, clip="mse")
        scale = Q.mse_scale(weight, bits, dim=1)
        q_max = 2 ** (bits - 1) - 1
        expected = torch.fake_quantize_per_channel_affine(
            weight, scale.flatten(), torch.zeros(8, dtype=torch.int32), 0, -q_max, q_max)
        assert torch.allclose(layer.weight(), expected, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="clip must be"):
        Q.QuantizedLinear(weight, 4, clip="percentile")


def test_fake_quant_linear_with_frozen_scales_trains_only_the_weights():
    from solutions.train_qat import FakeQuantLinear

    torch.manual_seed(0)
    linear = torch.nn.Linear(16, 8, bias=False)
    layer = FakeQuantLinear(linear, 4, per_channel=True, learn_scale=False)
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    before = layer.scale.clone()
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    layer(torch.randn(3, 16)).pow(2).sum().backward()
    optimizer.step()
    assert torch.equal(layer.scale, before)
    assert not torch.equal(layer.weight, linear.weight)  # the weights did move
    _, absmax = Q.absmax_quantize(linear.weight.detach(), 4, dim=1)
    assert torch.equal(before, absmax)


def test_committed_results_hold_the_clipped_and_frozen_scale_runs():
    import json

    from solutions.data import DATA_DIR
    from solutions.train_qat import RESULTS_FILE

    results = json.loads((DATA_DIR / RESULTS_FILE).read_text())
    for row in results["ptq"]:
        assert row["mse_val_loss"] > 0
    for row in results["qat"]:
        assert row["qat_frozen_scale_val_loss"] > 0


@pytest.mark.parametrize("page, figure", [("quantization-aware-training.ipynb", "fig-qat-results"),
                                          ("why-bf16.ipynb", "fig-format-ranges")])
def test_alt_text_that_states_numbers_is_built_from_the_computed_values(page, figure):
    """The figure's alt text is the string the page glues from its own numbers (nbval re-checks the glue)."""
    from pathlib import Path

    from conftest import assert_alt_texts_are_glued

    assert_alt_texts_are_glued(Path(__file__).parents[1] / "chapters/05-quantization" / page, {figure})
