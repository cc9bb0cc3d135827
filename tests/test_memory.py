"""Chapter 4's memory accounting: published figures, closed forms, and measurement of real training steps."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import solutions.memory as M
from solutions.gpt import GPT, GPTConfig


def test_bytes_per_value_of_each_format():
    # IEEE binary32 is 32 bits, binary16 and bfloat16 16 bits, int8 and fp8 8 bits, int4 4 bits
    expected = {"fp32": 32, "fp16": 16, "bf16": 16, "int8": 8, "fp8": 8, "int4": 4}
    assert {d: M.bytes_per_value(d) * 8 for d in expected} == expected
    for dtype, torch_dtype in [("fp32", torch.float32), ("fp16", torch.float16), ("bf16", torch.bfloat16),
                               ("int8", torch.int8), ("fp8", torch.float8_e4m3fn)]:
        assert M.bytes_per_value(dtype) == torch.empty(0, dtype=torch_dtype).element_size()
    with pytest.raises(ValueError, match="choose from"):
        M.bytes_per_value("fp64")


def test_classic_figures():
    """4 GB per 1B fp32 parameters; 24 bytes per parameter to train under the 4 + 20 rule of thumb."""
    assert M.model_bytes(10**9, "fp32") == 4 * 10**9
    # "4 bytes of weights + about 20 extra" = 24 bytes per parameter: a convention, not an exact count
    classic = {175 * 10**9: 4_200 * 10**9, 500 * 10**9: 12_000 * 10**9}
    for n_params, total in classic.items():
        assert M.model_bytes(n_params, "fp32") * 6 == total
    assert M.model_bytes(7 * 10**9, "fp32") > 24 * 2**30  # a 7B fp32 model does not fit 24 GiB
    assert M.model_bytes(10**9, "int4") == 0.5e9


def test_training_bytes_conventions():
    n = 1000
    fp32 = M.training_bytes(n, "fp32", "adamw")
    assert (fp32["weights"], fp32["gradients"], fp32["optimizer"]) == (4 * n, 4 * n, 8 * n)
    assert fp32["total"] == 16 * n  # FP32 AdamW: 16 bytes per parameter before activations
    mixed = M.training_bytes(n, "mixed", "adamw", activation_bytes=123)
    assert (mixed["weights"], mixed["gradients"], mixed["optimizer"]) == (2 * n, 2 * n, 12 * n)  # ZeRO's 2 + 2 + 12
    assert mixed["total"] == 16 * n + 123 and mixed["activations"] == 123
    assert M.training_bytes(n, "fp32", "sgd")["total"] == 8 * n
    assert M.training_bytes(n, "fp32", "sgd_momentum")["optimizer"] == 4 * n
    assert M.training_bytes(n, "mixed", "sgd")["optimizer"] == 4 * n  # the fp32 master weights alone
    with pytest.raises(ValueError):
        M.training_bytes(n, "fp64")
    with pytest.raises(ValueError):
        M.training_bytes(n, optimizer="lion")


def test_zero_figure_1():
    """Rajbhandari et al. (2020), Figure 1: 7.5B parameters, 64 GPUs, K = 12."""
    published_gb = {0: 120, 1: 31.4, 2: 16.6, 3: 1.9}
    for stage, gb in published_gb.items():
        assert round(M.zero_bytes_per_gpu(7.5e9, 64, stage) / 1e9, 1) == gb
    assert M.zero_bytes_per_gpu(7.5e9, 1, 3) == M.zero_bytes_per_gpu(7.5e9, 1, 0)  # one GPU: nothing to shard
    with pytest.raises(ValueError):
        M.zero_bytes_per_gpu(1e9, 8, 4)


def test_korthikanti_activation_formula():
    # Korthikanti et al. (2022), section 4.1: per layer 34 sbh + 5 a s^2 b bytes
    s, b, h, a, layers = 2048, 4, 1024, 16, 3
    assert M.activation_bytes(s, b, h, a, layers) == pytest.approx(layers * (34 * s * b * h + 5 * a * s * s * b))


def test_kv_cache_bytes():
    # hand count: one layer, one head of size 4, 3 tokens, batch 2, fp16: keys and values 2 * 4 * 3 * 2 values
    assert M.kv_cache_bytes(2, 3, 1, 1, 4) == 2 * (2 * 4 * 3 * 2)
    cache = torch.zeros(2, 7, 2, 5, 11, 13, dtype=torch.bfloat16)  # (K/V, layers, batch, kv heads, T, d_head)
    assert M.kv_cache_bytes(5, 11, 7, 2, 13) == cache.numel() * cache.element_size()


def test_max_batch_size():
    per_sample = 1000
    fixed = 16 * 10**6  # fp32 AdamW, 1e6 parameters
    assert M.max_batch_size(fixed + 5 * per_sample, 10**6, per_sample) == 5
    assert M.max_batch_size(fixed + 5 * per_sample - 1, 10**6, per_sample) == 4
    assert M.max_batch_size(fixed - 1, 10**6, per_sample) == 0


def test_adamw_matches_torch_over_several_steps():
    torch.manual_seed(0)
    for lr, betas, eps, wd in [(1e-3, (0.9, 0.999), 1e-8, 1e-2), (3e-2, (0.8, 0.95), 1e-4, 0.3)]:
        ours = nn.Linear(6, 4)
        theirs = nn.Linear(6, 4)
        theirs.load_state_dict(ours.state_dict())
        opt_ours = M.AdamW(ours.parameters(), lr=lr, betas=betas, eps=eps, weight_decay=wd)
        opt_theirs = torch.optim.AdamW(theirs.parameters(), lr=lr, betas=betas, eps=eps, weight_decay=wd)
        for _ in range(10):
            x = torch.randn(8, 6)
            for model, opt in [(ours, opt_ours), (theirs, opt_theirs)]:
                opt.zero_grad()
                model(x).pow(2).mean().backward()
                opt.step()
        for p, q in zip(ours.parameters(), theirs.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(opt_ours.state[p]["exp_avg_sq"], opt_theirs.state[q]["exp_avg_sq"])


def test_adamw_step_is_functional():
    param, grad = torch.ones(3), torch.ones(3)
    new_param, exp_avg, exp_avg_sq = M.adamw_step(param, grad, torch.zeros(3), torch.zeros(3), 1, 0.1, 0.9, 0.999, 0.0, 0.0)
    assert torch.equal(param, torch.ones(3))
    # first step, no decay, eps 0: the bias-corrected update is exactly lr * g / |g|
    torch.testing.assert_close(new_param, torch.full((3,), 0.9))
    torch.testing.assert_close(exp_avg, torch.full((3,), 0.1))


def _mlp():
    return nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 3))


def _gpt(n_layers=2, d_model=16, n_heads=2, vocab_size=40, context_length=64):
    return GPT(GPTConfig(vocab_size=vocab_size, context_length=context_length, d_model=d_model,
                         n_heads=n_heads, n_layers=n_layers))


def _gpt_loss(logits, targets):
    return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def _gpt_batch(batch, seq_len, vocab_size=40):
    return torch.randint(vocab_size, (batch, seq_len)), torch.randint(vocab_size, (batch, seq_len))


@pytest.mark.parametrize("optimizer, make", [
    ("sgd", lambda ps: torch.optim.SGD(ps, lr=0.1)),
    ("sgd_momentum", lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)),
    ("adamw", lambda ps: M.AdamW(ps)),
])
@pytest.mark.parametrize("shape", ["mlp", "gpt_small", "gpt_wide"])
def test_model_states_measured_to_the_byte(optimizer, make, shape):
    torch.manual_seed(0)
    if shape == "mlp":
        model, (x, y), loss_fn = _mlp(), (torch.randn(4, 10), torch.randint(3, (4,))), F.cross_entropy
    else:
        model = _gpt() if shape == "gpt_small" else _gpt(n_layers=1, d_model=48, n_heads=3)
        x, y = _gpt_batch(2, 8)
        loss_fn = _gpt_loss
    measured = M.measure_training_bytes(model, x, y, loss_fn, make(list(model.parameters())))
    predicted = M.training_bytes(M.n_parameters(model), "fp32", optimizer)
    for key in ("weights", "gradients", "optimizer"):
        assert measured[key] == predicted[key], key


def test_torch_adamw_adds_a_step_tensor_per_parameter():
    """torch.optim.AdamW keeps `step` as a float32 scalar tensor: 4 more bytes per parameter tensor."""
    torch.manual_seed(0)
    model = _mlp()
    x, y = torch.randn(4, 10), torch.randint(3, (4,))
    measured = M.measure_training_bytes(model, x, y, F.cross_entropy, torch.optim.AdamW(model.parameters()))
    n_tensors = len(list(model.parameters()))
    assert measured["optimizer"] == 8 * M.n_parameters(model) + 4 * n_tensors


def test_tied_weights_count_once():
    model = _gpt()
    assert model.lm_head.weight is model.token_embedding.weight
    assert M.n_parameters(model) == sum(p.numel() for n, p in model.named_parameters(remove_duplicate=True))


@pytest.mark.parametrize("batch, seq_len", [(1, 4), (1, 13), (2, 16), (4, 9), (3, 33)])
@pytest.mark.parametrize("attention", ["flash", "math"])
def test_gpt_activations_match_the_derived_formula(batch, seq_len, attention):
    """The formula derived from the GPT's operations predicts the saved bytes within 10 % (in fact exactly)."""
    torch.manual_seed(0)
    n_layers, d_model, n_heads, vocab_size = 2, 24, 3, 40
    model = _gpt(n_layers=n_layers, d_model=d_model, n_heads=n_heads, vocab_size=vocab_size)
    x, y = _gpt_batch(batch, seq_len, vocab_size)
    backend = torch.nn.attention.SDPBackend.MATH if attention == "math" else torch.nn.attention.SDPBackend.FLASH_ATTENTION
    with torch.nn.attention.sdpa_kernel(backend):
        measured = M.measure_training_bytes(model, x, y, _gpt_loss, M.AdamW(model.parameters()))["activations"]
    predicted = M.gpt_activation_bytes(batch, seq_len, d_model, n_heads, n_layers, vocab_size, attention)
    assert abs(predicted - measured) <= 0.10 * measured
    assert predicted == measured


def test_activation_hand_count_one_block():
    """B=1, T=2, C=4, one head, V=5, one layer, counted value by value from the model's operations."""
    fp32 = (16 * 8 + 4 * 2 + 1 * 2) + (2 * 8 + 2 * 2) + 2 * 5 + 1  # block, final LayerNorm, log-probs, loss
    int64 = 2 + 2 + 2  # ids, targets, positions
    assert M.gpt_activation_bytes(1, 2, 4, 1, 1, 5) == 4 * fp32 + 8 * int64


def test_simulated_gpu_raises_like_cuda():
    gpu = M.SimulatedGPU(capacity_bytes=24 * 2**30)
    gpu.allocate(20 * 2**30)
    with pytest.raises(M.SimulatedOutOfMemoryError, match=r"Tried to allocate 8\.00 GiB.*4\.00 GiB is free"):
        gpu.allocate(8 * 2**30)
    assert gpu.allocated_bytes == 20 * 2**30  # a failed allocation books nothing
    gpu.free(20 * 2**30)
    gpu.allocate(8 * 2**30)
    assert gpu.allocated_bytes == 8 * 2**30


def test_gpu_bench_without_cuda_says_so_and_exits_0():
    import os
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")  # hide any GPU: the no-CUDA path is what is tested
    result = subprocess.run([sys.executable, "-m", "bench.gpu_memory"], cwd=repo, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "no CUDA GPU" in result.stdout


def test_gpu_bench_row_on_cpu():
    """The bench's measurement, run on the CPU: states and fp32 activations equal their predictions."""
    from bench.gpu_memory import measure_row, table

    shape = dict(d_model=32, n_heads=2, n_layers=2)
    fp32, bf16 = (measure_row(shape, 2, 16, precision, "cpu") for precision in ("fp32", "bf16"))
    assert fp32["measured_states_bytes"] == fp32["predicted_states_bytes"]
    assert fp32["saved_activation_bytes"] == fp32["predicted_activation_bytes"]
    assert bf16["measured_states_bytes"] == bf16["predicted_states_bytes"]  # autocast keeps fp32 weights
    assert bf16["predicted_activation_bytes"] is None and fp32["peak_above_held_bytes"] is None
    assert "fp32" in table([fp32, bf16])


def test_profiled_peak_of_a_known_allocation_sequence():
    """4,000 + 8,000 bytes held together, then 8,000 + 2,000: the peak is 12,000 bytes."""
    def run():
        a = torch.empty(1000, dtype=torch.float32)
        b = torch.empty(2000, dtype=torch.float32)
        del a
        c = torch.empty(1000, dtype=torch.int16)
        del b, c

    assert M.profiled_peak_bytes(run) == 12_000


def test_profiled_peak_excludes_what_was_held_before():
    held_before = torch.empty(10**6)
    assert M.profiled_peak_bytes(lambda: torch.empty(256, dtype=torch.float64)) == 8 * 256
    assert held_before.numel() == 10**6
