"""Hidden checks of Chapter 4, GPU memory, against closed forms, a published table and torch.optim.AdamW."""

import math

import torch

from autograder.checks import Case, Check, register

_BITS = {"fp32": 32, "fp16": 16, "bf16": 16, "int8": 8, "fp8": 8, "int4": 4}  # bits per value of each format


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
        cases=lambda g: [Case((list(_BITS)[i],)) for i in torch.randperm(len(_BITS), generator=g).tolist()],
        reference=lambda dtype: _BITS[dtype] / 8,
        rtol=0.0,
        atol=0.0,
        description="bytes per value of fp32, fp16, bf16, int8, fp8 and int4 (bits / 8)",
    )
)

register(
    Check(
        name="memory.model_bytes",
        function="model_bytes",
        cases=lambda g: [Case((_n_params(g),), {"dtype": list(_BITS)[_randint(g, 0, 5)]}) for _ in range(8)],
        reference=lambda n_params, dtype="fp32": n_params * _BITS[dtype] / 8,
        rtol=1e-12,
        atol=0.0,
        description="bytes of n_params values in each format, for 10^3 to 10^12 parameters",
    )
)


def _training_reference(n_params, precision="fp32", optimizer="adamw", activation_bytes=0):
    """Bytes per parameter written as a table: (weights, gradients, optimizer) for each case."""
    per_param = {
        ("fp32", "sgd"): (4, 4, 0), ("fp32", "sgd_momentum"): (4, 4, 4), ("fp32", "adamw"): (4, 4, 8),
        ("mixed", "sgd"): (2, 2, 4), ("mixed", "sgd_momentum"): (2, 2, 8), ("mixed", "adamw"): (2, 2, 12),
    }[precision, optimizer]
    weights, gradients, states = (b * n_params for b in per_param)
    return {"weights": weights, "gradients": gradients, "optimizer": states, "activations": activation_bytes,
            "total": weights + gradients + states + activation_bytes}


def _training_cases(generator):
    cases = []
    for precision in ("fp32", "mixed"):
        for optimizer in ("sgd", "sgd_momentum", "adamw"):
            kwargs = {"precision": precision, "optimizer": optimizer}
            if optimizer == "adamw" or _randint(generator, 0, 1):
                kwargs["activation_bytes"] = _randint(generator, 1, 10**9)
            cases.append(Case((_n_params(generator),), kwargs))
    return cases


register(
    Check(
        name="memory.training_bytes",
        function="training_bytes",
        cases=_training_cases,
        reference=_training_reference,
        description="weights, gradients, optimizer, activations and total for fp32 and ZeRO mixed precision, "
                    "with SGD, SGD with momentum and AdamW",
    )
)


def _adamw_cases(generator):
    """Random hyperparameters; the state at step k is what torch.optim.AdamW left after k - 1 steps."""
    cases = []
    for i in range(6):
        shape = tuple(_randint(generator, 1, 5) for _ in range(_randint(generator, 1, 2)))
        lr, wd = _log_uniform(generator, 1e-4, 1e-1), _uniform(generator, 0.0, 0.5)
        beta1, beta2 = _uniform(generator, 0.5, 0.95), _uniform(generator, 0.9, 0.9999)
        eps = _log_uniform(generator, 1e-8, 1e-2)
        scale = _log_uniform(generator, 1e-3, 10.0)
        if i == 1:  # gradients small against eps: where eps is added matters
            eps, scale = _log_uniform(generator, 1e-3, 1e-2), _log_uniform(generator, 1e-4, 1e-3)
            lr = _log_uniform(generator, 3e-2, 1e-1)
        if i == 2:  # large lr and weight decay: decaying before or after the Adam update differs by lr^2 wd
            lr, wd = _uniform(generator, 5e-2, 1e-1), _uniform(generator, 0.3, 0.5)
        if i in (1, 2):
            shape = (8, *shape)  # enough values that one of them shows the difference
        param = torch.nn.Parameter(torch.randn(shape, generator=generator))
        optimizer = torch.optim.AdamW([param], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=wd)
        n_steps = 0 if i == 0 else _randint(generator, 1, 12)
        for _ in range(n_steps):
            param.grad = torch.randn(shape, generator=generator) * scale
            optimizer.step()
        state = optimizer.state[param]
        exp_avg = state["exp_avg"].clone() if state else torch.zeros(shape)
        exp_avg_sq = state["exp_avg_sq"].clone() if state else torch.zeros(shape)
        grad = torch.randn(shape, generator=generator) * scale
        cases.append(Case((param.detach().clone(), grad, exp_avg, exp_avg_sq, n_steps + 1, lr, beta1, beta2, eps, wd)))
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
        cases=_adamw_cases,
        reference=_adamw_reference,
        rtol=1e-4,
        atol=1e-6,  # float32 rounding of moments near zero with gradients up to 10 (torch uses lerp)
        forbid=("AdamW", "Adam", "adamw", "adam", "_single_tensor_adamw", "_multi_tensor_adamw", "_fused_adamw",
                "_single_tensor_adam", "_multi_tensor_adam", "_fused_adam"),
        # torch's optimizers (recorded by class when they step) and their fused kernels
        forbid_ops=("torch.optim.adamw.AdamW", "torch.optim.adam.Adam", "aten::_fused_adamw_", "aten::_fused_adam_"),
        description="matches torch.optim.AdamW's next step, from step 1 and after 1 to 12 torch steps, "
                    "with random learning rates, betas, eps and weight decay",
    )
)


def _kv_cache_reference(batch, seq_len, n_layers, n_kv_heads, d_head, bytes_per_value=2):
    shape = (2, n_layers, batch, n_kv_heads, seq_len, d_head)  # (K/V, layers, batch, kv heads, tokens, d_head)
    return float(math.prod(shape) * bytes_per_value)


def _kv_cache_cases(generator):
    cases = []
    for i in range(6):
        args = (_randint(generator, 1, 64), _randint(generator, 1, 131072), _randint(generator, 1, 128),
                _randint(generator, 1, 64), _randint(generator, 1, 256))
        kwargs = {"bytes_per_value": [1, 4][_randint(generator, 0, 1)]} if i % 2 else {}  # else fp16
        cases.append(Case(args, kwargs))
    return cases


register(
    Check(
        name="memory.kv_cache_bytes",
        function="kv_cache_bytes",
        cases=_kv_cache_cases,
        reference=_kv_cache_reference,
        rtol=1e-12,
        atol=0.0,
        description="bytes of keys and values for every layer, KV head, token and sequence, in 1, 2 (default) or 4 bytes",
    )
)


def _zero_reference(n_params, n_gpus, stage, k=12):
    """Each state is (bytes per parameter, the first stage that shards it)."""
    states = [(2, 3), (2, 2), (k, 1)]  # fp16 weights, fp16 gradients, optimizer states
    return float(sum(b * n_params / (n_gpus if stage >= first else 1) for b, first in states))


def _zero_cases(generator):
    cases = [Case((7.5e9, 64, stage)) for stage in range(4)]  # the paper's Figure 1
    for i in range(6):
        kwargs = {"k": [4, 8, 14, 16][_randint(generator, 0, 3)]} if i % 2 else {}
        cases.append(Case((_n_params(generator), _randint(generator, 1, 1024), _randint(generator, 0, 3)), kwargs))
    return cases


register(
    Check(
        name="memory.zero_bytes_per_gpu",
        function="zero_bytes_per_gpu",
        cases=_zero_cases,
        reference=_zero_reference,
        rtol=1e-9,
        atol=0.0,
        description="per-GPU model-state bytes at ZeRO stages 0 to 3, including the paper's Figure 1 "
                    "(7.5B parameters, 64 GPUs) and random K",
    )
)


def _max_batch_reference(gpu_bytes, n_params, activation_bytes_per_sample, precision="fp32", optimizer="adamw"):
    per_param = {("fp32", "sgd"): 8, ("fp32", "sgd_momentum"): 12, ("fp32", "adamw"): 16,
                 ("mixed", "sgd"): 8, ("mixed", "sgd_momentum"): 12, ("mixed", "adamw"): 16}[precision, optimizer]
    batch = 0
    while (batch + 1) * activation_bytes_per_sample + per_param * n_params <= gpu_bytes:
        batch += 1  # count up one sample at a time: slow but plainly right
    return batch


def _max_batch_cases(generator):
    cases = []
    for i in range(8):
        n_params = _randint(generator, 10**3, 10**6)
        per_sample = _randint(generator, 10**3, 10**6)
        precision, optimizer = ["fp32", "mixed"][i % 2], ["sgd", "sgd_momentum", "adamw"][_randint(generator, 0, 2)]
        fixed = {"sgd": 8, "sgd_momentum": 12, "adamw": 16}[optimizer] * n_params
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
        cases=_max_batch_cases,
        reference=_max_batch_reference,
        rtol=0.0,
        atol=0.0,
        description="the largest whole batch that fits, at exact boundaries and one byte short, "
                    "and 0 when the model states alone do not fit",
    )
)
