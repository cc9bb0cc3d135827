"""Chapter 4's hidden checks pass the reference and fail plausible wrong answers."""

import inspect
import math

import pytest
import torch

import solutions.memory as M
from autograder.checks import check, draw_cases, get

NAMES = ["bytes_per_value", "model_bytes", "training_bytes", "adamw_step", "kv_cache_bytes",
         "zero_bytes_per_gpu", "max_batch_size"]


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes_on_many_seeds(name):
    """Tolerances leave room for float32 rounding: the reference passes every seed, not just most."""
    check_ = get(f"memory.{name}")
    function = getattr(M, name)
    for seed in range(60):
        for case in draw_cases(check_, seed):
            reason = check_.compare(case, function(*case.args, **case.kwargs))
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


@pytest.mark.parametrize("name, wrong", [
    ("bytes_per_value", int4_as_one_byte),
    ("model_bytes", model_bytes_in_gib),
    ("training_bytes", mixed_without_master_weights),
    ("training_bytes", total_without_activations),
    ("adamw_step", adam_with_l2),
    ("adamw_step", adamw_no_bias_correction),
    ("adamw_step", adamw_eps_inside_sqrt),
    ("adamw_step", adamw_step_off_by_one),
    ("adamw_step", adamw_decay_after_update),
    ("kv_cache_bytes", kv_cache_keys_only),
    ("kv_cache_bytes", kv_cache_fixed_fp16),
    ("zero_bytes_per_gpu", zero_stage2_shards_only_optimizer),
    ("zero_bytes_per_gpu", zero_ignores_k),
    ("max_batch_size", max_batch_rounds_up),
    ("max_batch_size", max_batch_ignores_optimizer),
    ("max_batch_size", max_batch_negative),
], ids=lambda v: getattr(v, "__name__", v))
def test_wrong_answers_fail(name, wrong):
    for _ in range(5):  # every draw of cases catches it, not just a lucky one
        with pytest.raises(AssertionError):
            check(f"memory.{name}", wrong)


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
