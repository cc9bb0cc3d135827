"""Chapter 4's hidden checks pass the reference and fail plausible wrong answers."""

import inspect
import math

import pytest
import torch

import solutions.memory as M
from autograder.checks import check, draw_cases, get, judge

NAMES = ["bytes_per_value", "model_bytes", "training_bytes", "adamw_step", "kv_cache_bytes",
         "zero_bytes_per_gpu", "max_batch_size"]


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes_on_many_seeds(name):
    """Tolerances leave room for float32 rounding: the reference passes every seed, not just most."""
    check_ = get(f"memory.{name}")
    function = getattr(M, name)
    for seed in range(60):
        for case in draw_cases(check_, seed):
            reason = judge(check_, case, function)
            assert reason is None, f"seed {seed}, {case.describe()}: {reason}"


def int4_as_one_byte(dtype):
    return max(1, M.bytes_per_value(dtype))


def model_bytes_in_gib(n_params, dtype="fp32"):
    return M.model_bytes(n_params, dtype) / 2**30


def mixed_without_master_weights(n_params, precision="fp32", optimizer="adamw", activation_bytes=0):
    result = M.training_bytes(n_params, precision, optimizer, activation_bytes)
    if precision == "mixed":
        result["optimizer"] -= 4 * n_params
        result["total"] -= 4 * n_params
    return result


def total_without_activations(n_params, precision="fp32", optimizer="adamw", activation_bytes=0):
    result = M.training_bytes(n_params, precision, optimizer, activation_bytes)
    result["total"] -= activation_bytes
    return result


def adam_with_l2(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    return M.adamw_step(param, grad + weight_decay * param, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, 0.0)


def adamw_no_bias_correction(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    param = param * (1 - lr * weight_decay)
    exp_avg = beta1 * exp_avg + (1 - beta1) * grad
    exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * grad * grad
    return param - lr * exp_avg / (exp_avg_sq.sqrt() + eps), exp_avg, exp_avg_sq


def adamw_eps_inside_sqrt(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    param = param * (1 - lr * weight_decay)
    exp_avg = beta1 * exp_avg + (1 - beta1) * grad
    exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * grad * grad
    m_hat, v_hat = exp_avg / (1 - beta1**step), exp_avg_sq / (1 - beta2**step)
    return param - lr * m_hat / (v_hat + eps).sqrt(), exp_avg, exp_avg_sq


def adamw_decay_after_update(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    param, exp_avg, exp_avg_sq = M.adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, 0.0)
    return param * (1 - lr * weight_decay), exp_avg, exp_avg_sq  # torch decays the parameter before the update


def adamw_step_off_by_one(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    return M.adamw_step(param, grad, exp_avg, exp_avg_sq, step + 1, lr, beta1, beta2, eps, weight_decay)


def kv_cache_keys_only(batch, seq_len, n_layers, n_kv_heads, d_head, bytes_per_value=2):
    return M.kv_cache_bytes(batch, seq_len, n_layers, n_kv_heads, d_head, bytes_per_value) / 2


def kv_cache_fixed_fp16(batch, seq_len, n_layers, n_kv_heads, d_head, bytes_per_value=2):
    return M.kv_cache_bytes(batch, seq_len, n_layers, n_kv_heads, d_head)


def zero_stage2_shards_only_optimizer(n_params, n_gpus, stage, k=12):
    return M.zero_bytes_per_gpu(n_params, n_gpus, min(stage, 1) if stage == 2 else stage, k)


def zero_ignores_k(n_params, n_gpus, stage, k=12):
    return M.zero_bytes_per_gpu(n_params, n_gpus, stage)


def max_batch_rounds_up(gpu_bytes, n_params, activation_bytes_per_sample, precision="fp32", optimizer="adamw"):
    free = gpu_bytes - M.training_bytes(n_params, precision, optimizer)["total"]
    return max(0, math.ceil(free / activation_bytes_per_sample))


def max_batch_ignores_optimizer(gpu_bytes, n_params, activation_bytes_per_sample, precision="fp32", optimizer="adamw"):
    return M.max_batch_size(gpu_bytes, n_params, activation_bytes_per_sample, precision, "sgd")


def max_batch_negative(gpu_bytes, n_params, activation_bytes_per_sample, precision="fp32", optimizer="adamw"):
    free = gpu_bytes - M.training_bytes(n_params, precision, optimizer)["total"]
    return int(free // activation_bytes_per_sample)


def model_bytes_int4_whole_bytes(n_params, dtype="fp32"):
    return math.ceil(M.model_bytes(n_params, dtype))


def sgd_with_momentum_buffer(n_params, precision="fp32", optimizer="adamw", activation_bytes=0):
    return M.training_bytes(n_params, precision, "sgd_momentum" if optimizer == "sgd" else optimizer, activation_bytes)


def kv_cache_int_bytes(batch, seq_len, n_layers, n_kv_heads, d_head, bytes_per_value=2):
    return M.kv_cache_bytes(batch, seq_len, n_layers, n_kv_heads, d_head, int(bytes_per_value))


def zero_integer_shards(n_params, n_gpus, stage, k=12):
    return M.zero_bytes_per_gpu(n_params, n_gpus, stage, k) // 1


def max_batch_strict(gpu_bytes, n_params, activation_bytes_per_sample, precision="fp32", optimizer="adamw"):
    return M.max_batch_size(gpu_bytes - 1, n_params, activation_bytes_per_sample, precision, optimizer)


def max_batch_float(gpu_bytes, n_params, activation_bytes_per_sample, precision="fp32", optimizer="adamw"):
    return float(M.max_batch_size(gpu_bytes, n_params, activation_bytes_per_sample, precision, optimizer))


WRONG = [
    ("bytes_per_value", int4_as_one_byte),
    ("model_bytes", model_bytes_in_gib),
    ("model_bytes", model_bytes_int4_whole_bytes),
    ("training_bytes", mixed_without_master_weights),
    ("training_bytes", total_without_activations),
    ("training_bytes", sgd_with_momentum_buffer),
    ("adamw_step", adam_with_l2),
    ("adamw_step", adamw_no_bias_correction),
    ("adamw_step", adamw_eps_inside_sqrt),
    ("adamw_step", adamw_step_off_by_one),
    ("adamw_step", adamw_decay_after_update),
    ("kv_cache_bytes", kv_cache_keys_only),
    ("kv_cache_bytes", kv_cache_fixed_fp16),
    ("kv_cache_bytes", kv_cache_int_bytes),
    ("zero_bytes_per_gpu", zero_stage2_shards_only_optimizer),
    ("zero_bytes_per_gpu", zero_ignores_k),
    ("zero_bytes_per_gpu", zero_integer_shards),
    ("max_batch_size", max_batch_rounds_up),
    ("max_batch_size", max_batch_ignores_optimizer),
    ("max_batch_size", max_batch_negative),
    ("max_batch_size", max_batch_strict),
    ("max_batch_size", max_batch_float),
]


@pytest.mark.parametrize("name, wrong", WRONG, ids=lambda v: getattr(v, "__name__", v))
def test_wrong_answers_fail(name, wrong):
    for _ in range(5):
        with pytest.raises(AssertionError):
            check(f"memory.{name}", wrong)


@pytest.mark.parametrize("name, wrong", WRONG, ids=lambda v: getattr(v, "__name__", v))
def test_wrong_answers_fail_on_an_edge_case(name, wrong):
    """The verdict never depends on the draw: the edge cases, the same in every run, catch each mistake."""
    check_ = get(f"memory.{name}")
    edges = check_.edge_cases(torch.Generator().manual_seed(0))
    assert any(check_.compare(case, wrong(*case.args, **case.kwargs)) for case in edges)


@pytest.mark.parametrize("name", NAMES)
def test_edge_cases_are_labelled_and_the_same_for_every_seed(name):
    check_ = get(f"memory.{name}")
    n_edges = len(check_.edge_cases(torch.Generator().manual_seed(0)))
    assert n_edges >= 5
    first = draw_cases(check_, 1)[:n_edges]
    for seed in (2, 3, 12345):
        again = draw_cases(check_, seed)[:n_edges]
        assert [case.label for case in again] == [case.label for case in first]
        assert all(case.label for case in again)
        assert [case.describe() for case in again] == [case.describe() for case in first]


def test_sizes_compare_as_numbers_exactly():
    """An int and a float of the same value both pass; one byte off fails, however large the size."""
    check_ = get("memory.training_bytes")
    case = draw_cases(check_, 0)[0]
    as_floats = {key: float(value) for key, value in M.training_bytes(*case.args, **case.kwargs).items()}
    assert check_.compare(case, as_floats) is None
    big = [c for c in draw_cases(get("memory.model_bytes"), 0) if c.label == "10^12 + 1 int4 values"][0]
    assert get("memory.model_bytes").compare(big, M.model_bytes(*big.args, **big.kwargs) + 1) is not None


def test_max_batch_reference_counts_like_a_loop():
    """The check's rational floor agrees with counting samples one at a time, on small budgets."""
    reference = get("memory.max_batch_size").reference
    for gpu_bytes in range(0, 200, 7):
        for per in (1, 3, 10, 2.5):
            batch = 0
            while 8 * 5 + (batch + 1) * per <= gpu_bytes:  # 5 parameters of SGD: 8 bytes each
                batch += 1
            assert reference(gpu_bytes, 5, per, optimizer="sgd") == batch


def test_kv_cache_check_holds_llama_2_7b():
    """LLaMA-2-7B (32 layers of 32 heads of 128) keeps 512 KiB of fp16 keys and values per token."""
    check_ = get("memory.kv_cache_bytes")
    case = next(c for c in draw_cases(check_, 0) if c.label.startswith("LLaMA-2-7B"))
    assert check_.reference(*case.args, **case.kwargs) == 4096 * 512 * 2**10 == 2 * 2**30


def test_max_batch_size_rejects_no_activations():
    with pytest.raises(ValueError):
        M.max_batch_size(10**9, 10**6, 0)


def test_zero_check_holds_the_published_figure():
    cases = draw_cases(get("memory.zero_bytes_per_gpu"), 0)
    published_gb = [120, 31.4, 16.6, 1.9]  # Rajbhandari et al. (2020), Figure 1
    reference = get("memory.zero_bytes_per_gpu").reference
    for case, gb in zip(cases[:4], published_gb):
        assert case.args[:2] == (7.5e9, 64)
        assert round(reference(*case.args) / 1e9, 1) == gb


def test_adamw_check_forbids_torchs_optimizer():
    from autograder import integrity
    forbid = get("memory.adamw_step").forbid
    cheats = [
        "def adamw_step(p, g, m, v, t, lr, b1, b2, eps, wd):\n    opt = torch.optim.AdamW([p], lr)\n",
        "from torch.optim import Adam\n",
        "def adamw_step(*a):\n    return torch.optim._functional.adamw(*a)\n",
    ]
    for source in cheats:
        assert integrity.forbidden_uses(source, forbid), source
    assert integrity.forbidden_uses(inspect.getsource(M.adamw_step), forbid) == []
