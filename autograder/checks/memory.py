"""Hidden checks of Chapter 4, GPU memory, against closed forms, a published table and torch.optim.AdamW.

Sizes are compared exactly (every count here is an integer number of bytes, or a half byte, which
a float64 holds exactly below 2^53), as numbers: an int and a float of the same value match.
"""

import math
from fractions import Fraction

import torch

from autograder.checks import Case, Check, register

_BITS = {"fp32": 32, "fp16": 16, "bf16": 16, "int8": 8, "fp8": 8, "int4": 4}  # bits per value of each format
_PAIRS = [(precision, optimizer) for precision in ("fp32", "mixed") for optimizer in ("sgd", "sgd_momentum", "adamw")]


def _randint(generator, low, high):
    """A random integer in ``[low, high]``."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def _uniform(generator, low, high):
    return float(torch.empty(1).uniform_(low, high, generator=generator))


def _log_uniform(generator, low, high):
    return math.exp(_uniform(generator, math.log(low), math.log(high)))


def _n_params(generator):
    """A parameter count between 10^3 and 10^12, some round (7B, 175B), some not."""
    if _randint(generator, 0, 1):
        return _randint(generator, 1, 999) * 10 ** _randint(generator, 6, 9)
    return _randint(generator, 1000, 10**12)


register(
    Check(
        name="memory.bytes_per_value",
        function="bytes_per_value",
        edge_cases=lambda g: [
            *[Case((dtype,), label=f"{dtype}, {bits} bits") for dtype, bits in _BITS.items()],
            *[Case((unknown,), raises="ValueError", message_names=tuple(_BITS),
                   label=f"an unknown name, {unknown!r}: a ValueError whose message lists every known name")
              for unknown in ("fp64", "float32", "")],
        ],
        cases=lambda g: [Case((list(_BITS)[i],)) for i in torch.randperm(len(_BITS), generator=g).tolist()],
        reference=lambda dtype: _BITS[dtype] / 8,
        rtol=0.0,
        atol=0.0,
        description="bytes per value of fp32, fp16, bf16, int8, fp8 and int4 (bits / 8); an unknown name "
                    "raises a ValueError whose message lists all six",
    )
)


def _model_bytes_edges(generator):
    cases = [Case((7 * 10**9,), {"dtype": dtype}, label=f"7B parameters in {dtype}") for dtype in _BITS]
    return cases + [
        Case((7,), {"dtype": "int4"}, label="an odd count in int4: a half byte is kept, not rounded"),
        Case((1,), {"dtype": "int4"}, label="one int4 value: half a byte"),
        Case((10**12 + 1,), {"dtype": "int4"}, label="10^12 + 1 int4 values"),
        Case((0,), {"dtype": "fp16"}, label="no parameters"),
        Case((12_345,), label="dtype left at its default, fp32"),
    ]


register(
    Check(
        name="memory.model_bytes",
        function="model_bytes",
        edge_cases=_model_bytes_edges,
        cases=lambda g: [Case((_n_params(g),), {"dtype": list(_BITS)[_randint(g, 0, 5)]}) for _ in range(8)],
        reference=lambda n_params, dtype="fp32": n_params * _BITS[dtype] / 8,
        rtol=0.0,
        atol=0.0,
        description="bytes of n_params values in each format, for 10^3 to 10^12 parameters, odd int4 counts "
                    "(a half byte) and no parameters",
    )
)


def _training_reference(n_params, precision="fp32", optimizer="adamw", activation_bytes=0):
    """Bytes per parameter written as a table: (weights, gradients, optimizer) for each case."""
    per_param = {
        ("fp32", "sgd"): (4, 4, 0), ("fp32", "sgd_momentum"): (4, 4, 4), ("fp32", "adamw"): (4, 4, 8),
        ("mixed", "sgd"): (2, 2, 4), ("mixed", "sgd_momentum"): (2, 2, 8), ("mixed", "adamw"): (2, 2, 12),
    }[precision, optimizer]
    weights, gradients, states = (float(b * n_params) for b in per_param)
    return {"weights": weights, "gradients": gradients, "optimizer": states, "activations": float(activation_bytes),
            "total": weights + gradients + states + activation_bytes}


def _training_edges(generator):
    cases = [Case((1_000_003,), {"precision": precision, "optimizer": optimizer, "activation_bytes": 5},
                  label=f"{precision} precision with {optimizer}") for precision, optimizer in _PAIRS]
    return cases + [
        Case((1000,), label="precision, optimizer and activation_bytes left at their defaults: fp32, adamw, 0"),
        Case((1000, "mixed", "sgd_momentum", 7), label="every option passed by position"),
        Case((0,), {"precision": "mixed", "optimizer": "sgd", "activation_bytes": 10**9},
             label="no parameters: only the activations"),
        Case((7 * 10**9,), {"precision": "mixed", "optimizer": "adamw"}, label="7B parameters, mixed-precision AdamW"),
        *[Case((1000,), {"precision": precision, "optimizer": "adam"}, raises="ValueError",
               label=f"an unknown optimizer, 'adam', with {precision} precision: ValueError")
          for precision in ("fp32", "mixed")],
        *[Case((1000,), {"precision": "fp16", "optimizer": optimizer}, raises="ValueError",
               label=f"an unknown precision, 'fp16', with {optimizer}: ValueError")
          for optimizer in ("sgd", "sgd_momentum", "adamw")],
    ]


def _training_cases(generator):
    cases = []
    for precision, optimizer in _PAIRS:
        kwargs = {"precision": precision, "optimizer": optimizer}
        if optimizer == "adamw" or _randint(generator, 0, 1):
            kwargs["activation_bytes"] = _randint(generator, 1, 10**9)
        cases.append(Case((_n_params(generator),), kwargs))
    return cases


register(
    Check(
        name="memory.training_bytes",
        function="training_bytes",
        edge_cases=_training_edges,
        cases=_training_cases,
        reference=_training_reference,
        rtol=0.0,
        atol=0.0,
        description="weights, gradients, optimizer, activations and total, exactly, for fp32 and ZeRO mixed "
                    "precision with SGD, SGD with momentum and AdamW, and the defaults; an unknown optimizer "
                    "(with either precision) or precision (with every optimizer) raises a ValueError",
    )
)


def _adamw_case(generator, shape, n_steps, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, scale=1.0, label=""):
    """The arguments of step ``n_steps + 1``, after ``n_steps`` steps of torch.optim.AdamW on random gradients."""
    param = torch.nn.Parameter(torch.randn(shape, generator=generator))
    optimizer = torch.optim.AdamW([param], lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    for _ in range(n_steps):
        param.grad = torch.randn(shape, generator=generator) * scale
        optimizer.step()
    state = optimizer.state[param]
    exp_avg = state["exp_avg"].clone() if state else torch.zeros(shape)
    exp_avg_sq = state["exp_avg_sq"].clone() if state else torch.zeros(shape)
    grad = torch.randn(shape, generator=generator) * scale
    args = (param.detach().clone(), grad, exp_avg, exp_avg_sq, n_steps + 1, lr, *betas, eps, weight_decay)
    return Case(args, label=label)


def _adamw_edges(generator):
    long_run = torch.randn(6, generator=generator), torch.rand(6, generator=generator) * 1e-2  # moments after many steps
    return [
        _adamw_case(generator, (4, 3), 0, 1e-2, label="step 1 from zero moments, no weight decay: bias correction"),
        _adamw_case(generator, (8,), 0, 5e-2, weight_decay=0.3, label="step 1 with weight decay"),
        _adamw_case(generator, (8,), 4, 1e-2, weight_decay=0.0, label="weight decay 0 at step 5"),
        _adamw_case(generator, (16,), 3, 0.1, weight_decay=0.5,
                    label="large lr and weight decay: decoupled decay shrinks the parameter before the update"),
        _adamw_case(generator, (16,), 0, 1e-2, eps=1e-3, scale=1e-3,
                    label="step 1, eps as large as the gradients: eps added to the bias-corrected square root"),
        _adamw_case(generator, (16,), 3, 1e-2, eps=1e-3, scale=1e-3, weight_decay=0.1,
                    label="step 4, eps as large as the gradients"),
        _adamw_case(generator, (2, 3, 4), 2, 1e-2, betas=(0.5, 0.6), weight_decay=0.1,
                    label="betas far from 1 (0.5, 0.6), a 3-dimensional parameter"),
        Case((torch.randn(6, generator=generator), torch.randn(6, generator=generator), *long_run, 1000,
              1e-3, 0.9, 0.999, 1e-8, 0.01), label="step 1000: bias correction near 1"),
    ]


def _adamw_cases(generator):
    """Random hyperparameters; the state at step k is what torch.optim.AdamW left after k - 1 steps."""
    cases = []
    for i in range(6):
        shape = tuple(_randint(generator, 1, 5) for _ in range(_randint(generator, 1, 2)))
        lr, wd = _log_uniform(generator, 1e-4, 1e-1), _uniform(generator, 0.0, 0.5)
        beta1, beta2 = _uniform(generator, 0.5, 0.95), _uniform(generator, 0.9, 0.9999)
        eps = _log_uniform(generator, 1e-8, 1e-2)
        scale = _log_uniform(generator, 1e-3, 10.0)
        n_steps = 0 if i == 0 else _randint(generator, 1, 12)
        cases.append(_adamw_case(generator, shape, n_steps, lr, (beta1, beta2), eps, wd, scale))
    return cases


def _adamw_reference(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    p = torch.nn.Parameter(param.clone())
    p.grad = grad.clone()
    optimizer = torch.optim.AdamW([p], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay)
    if step > 1:
        optimizer.state[p] = {"step": torch.tensor(float(step - 1)), "exp_avg": exp_avg.clone(),
                              "exp_avg_sq": exp_avg_sq.clone()}
    optimizer.step()
    state = optimizer.state[p]
    return p.detach(), state["exp_avg"], state["exp_avg_sq"]


register(
    Check(
        name="memory.adamw_step",
        function="adamw_step",
        edge_cases=_adamw_edges,
        cases=_adamw_cases,
        reference=_adamw_reference,
        rtol=1e-4,
        atol=1e-6,  # float32 rounding of moments near zero with gradients up to 10 (torch uses lerp)
        forbid=("AdamW", "Adam", "adamw", "adam", "_single_tensor_adamw", "_multi_tensor_adamw", "_fused_adamw",
                "_single_tensor_adam", "_multi_tensor_adam", "_fused_adam"),
        # torch's optimizers (recorded by class when they step) and their fused kernels
        forbid_ops=("torch.optim.adamw.AdamW", "torch.optim.adam.Adam", "aten::_fused_adamw_", "aten::_fused_adam_"),
        description="matches torch.optim.AdamW's next step: at step 1, with and without weight decay, with eps "
                    "as large as the gradients, at step 1000, and after 1 to 12 torch steps with random "
                    "learning rates, betas, eps and weight decay",
    )
)


def _kv_cache_reference(batch, seq_len, n_layers, n_kv_heads, d_head, bytes_per_value=2):
    shape = (2, n_layers, batch, n_kv_heads, seq_len, d_head)  # (K/V, layers, batch, kv heads, tokens, d_head)
    return float(math.prod(shape) * bytes_per_value)


def _kv_cache_edges(generator):
    primes = (3, 5, 7, 11, 13)
    return [
        Case((1, 1, 1, 1, 1), label="one token, one layer, one head of size 1, fp16 by default"),
        Case(primes, label="batch 3, 5 tokens, 7 layers, 11 KV heads of size 13: every size counts once"),
        *[Case(primes, {"bytes_per_value": b}, label=f"{b} bytes per value") for b in (0.5, 1, 2, 4)],
        Case((1, 4096, 32, 32, 128), label="LLaMA-2-7B, one sequence of 4096 tokens: 2 GiB"),
        Case((8, 4096, 80, 8, 128), label="grouped-query attention, 8 KV heads (LLaMA-2-70B), batch 8"),
        Case((4, 1000, 12, 1, 64), {"bytes_per_value": 1}, label="multi-query attention, one KV head, int8"),
    ]


def _kv_cache_cases(generator):
    cases = []
    for i in range(6):
        args = (_randint(generator, 1, 64), _randint(generator, 1, 131072), _randint(generator, 1, 128),
                _randint(generator, 1, 64), _randint(generator, 1, 256))
        kwargs = {"bytes_per_value": [0.5, 1, 4][_randint(generator, 0, 2)]} if i % 2 else {}  # else fp16
        cases.append(Case(args, kwargs))
    return cases


register(
    Check(
        name="memory.kv_cache_bytes",
        function="kv_cache_bytes",
        edge_cases=_kv_cache_edges,
        cases=_kv_cache_cases,
        reference=_kv_cache_reference,
        rtol=0.0,
        atol=0.0,
        description="bytes of keys and values for every layer, KV head, token and sequence, in 0.5, 1, 2 (default) "
                    "or 4 bytes, LLaMA-2-7B's 2 GiB and grouped- and multi-query attention",
    )
)


def _zero_reference(n_params, n_gpus, stage, k=12):
    """Each state is (bytes per parameter, the first stage that shards it)."""
    states = [(2, 3), (2, 2), (k, 1)]  # fp16 weights, fp16 gradients, optimizer states
    return float(sum(b * n_params / (n_gpus if stage >= first else 1) for b, first in states))


def _zero_edges(generator):
    stages = range(4)
    return [
        *[Case((7.5e9, 64, s), label=f"the ZeRO paper's Figure 1 (7.5B parameters, 64 GPUs), stage {s}") for s in stages],
        *[Case((10**9, 1, s), label=f"one GPU, stage {s}: nothing to shard") for s in stages],
        *[Case((1000, 3, s), label=f"1000 parameters on 3 GPUs, stage {s}: fractional bytes, not rounded")
          for s in stages],
        *[Case((10**9, 8, s), {"k": 4}, label=f"K = 4, stage {s}") for s in stages],
        *[Case((10**9, 8, s), raises="ValueError", label=f"stage {s}, not a ZeRO stage: ValueError")
          for s in (-1, 4, 1.5)],
    ]


def _zero_cases(generator):
    cases = []
    for i in range(6):
        kwargs = {"k": [4, 8, 14, 16][_randint(generator, 0, 3)]} if i % 2 else {}
        cases.append(Case((_n_params(generator), _randint(generator, 1, 1024), _randint(generator, 0, 3)), kwargs))
    return cases


register(
    Check(
        name="memory.zero_bytes_per_gpu",
        function="zero_bytes_per_gpu",
        edge_cases=_zero_edges,
        cases=_zero_cases,
        reference=_zero_reference,
        rtol=1e-12,  # the order of a division and a sum may move the last bit
        atol=0.0,
        description="per-GPU model-state bytes at ZeRO stages 0 to 3: the paper's Figure 1 (7.5B parameters, "
                    "64 GPUs), one GPU, parameters that do not split evenly, and K other than 12; stages -1, 4 "
                    "and 1.5 raise a ValueError",
    )
)

_STATE_BYTES = {"sgd": 8, "sgd_momentum": 12, "adamw": 16}  # per parameter, the same in fp32 and mixed precision


def _max_batch_reference(gpu_bytes, n_params, activation_bytes_per_sample, precision="fp32", optimizer="adamw"):
    """The floor of the free bytes over the bytes per sample, in exact rational arithmetic; 0 when negative."""
    assert precision in ("fp32", "mixed")
    free = Fraction(gpu_bytes) - _STATE_BYTES[optimizer] * n_params
    return max(0, math.floor(free / Fraction(activation_bytes_per_sample)))


def _max_batch_edges(generator):
    n, per = 10**6, 1000  # fp32 AdamW: 16e6 bytes of model states
    fixed = 16 * n
    return [
        Case((fixed + 5 * per, n, per), label="five samples fit exactly, not a byte left"),
        Case((fixed + 5 * per - 1, n, per), label="one byte short of the fifth sample"),
        Case((fixed, n, per), label="the model states fit exactly, no room for a sample"),
        Case((fixed + per - 1, n, per), label="room for less than one sample"),
        Case((fixed - 1, n, per), label="the model states do not fit by one byte"),
        Case((fixed - 10 * per - 1, n, per), label="the model states do not fit by more than ten samples"),
        *[Case((_STATE_BYTES[o] * n + 3 * per + per // 2, n, per), {"precision": p, "optimizer": o},
               label=f"{p} precision with {o}") for p, o in _PAIRS],
        Case((fixed + 7, n, 1), label="one byte of activations per sample"),
        Case((fixed + 0.5, n, 0.5), label="half a byte per sample, half a byte free: one sample fits"),
        Case((80e9, 10**9, 10**9), label="gpu_bytes a float (80e9 bytes, 80 GB): the answer is still an int"),
        Case((80 * 2**30, 10**9, 2**30), {"optimizer": "sgd"}, label="an 80 GiB card (80 * 2**30 bytes)"),
    ]


def _max_batch_cases(generator):
    cases = []
    for i in range(8):
        n_params = _randint(generator, 10**3, 10**6)
        per_sample = _randint(generator, 10**3, 10**6)
        precision, optimizer = ["fp32", "mixed"][i % 2], ["sgd", "sgd_momentum", "adamw"][_randint(generator, 0, 2)]
        fixed = _STATE_BYTES[optimizer] * n_params
        batch = _randint(generator, 0, 40)
        gpu_bytes = fixed + batch * per_sample + [0, -1, per_sample - 1][_randint(generator, 0, 2)]
        if i == 7:
            gpu_bytes = fixed - _randint(generator, 1, 1000)  # not even the model states fit
        cases.append(Case((gpu_bytes, n_params, per_sample), {"precision": precision, "optimizer": optimizer}))
    return cases


register(
    Check(
        name="memory.max_batch_size",
        function="max_batch_size",
        edge_cases=_max_batch_edges,
        cases=_max_batch_cases,
        reference=_max_batch_reference,
        rtol=0.0,
        atol=0.0,
        description="the largest whole batch that fits, as an int: exact fits and one byte short, every precision "
                    "and optimizer, gpu_bytes as a float, and 0 when not one sample or not even the model states fit",
    )
)
