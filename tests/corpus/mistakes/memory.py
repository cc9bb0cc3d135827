"""Chapter 4, GPU memory: an independent right answer and plausible mistakes for every part.

Each mistake is written as a student would write it from the released notebook's instructions;
most pass the visible tests. The answers do not call each other's parts, so that a notebook holding
every part's k-th mistake (``tests/test_check_cli.py``) judges each part on its own.
"""

ASSIGNMENT = "04-gpu-memory"

RIGHT = {
    "bytes_per_value": '''
def bytes_per_value(dtype):
    """Bytes one value takes in ``dtype``: "fp32", "fp16", "bf16", "int8", "fp8" or "int4" (0.5 bytes)."""
    known = ("fp32", "fp16", "bf16", "int8", "fp8", "int4")
    if dtype not in known:
        raise ValueError(f"{dtype!r} is not one of {known}")
    bits = int(dtype.lstrip("fpbint"))  # the number in the name is the bits per value
    return bits / 8
''',
    "model_bytes": '''
def model_bytes(n_params, dtype="fp32"):
    """Bytes to store ``n_params`` parameters in ``dtype`` (weights only, no metadata)."""
    bits = {"fp32": 32, "fp16": 16, "bf16": 16, "int8": 8, "fp8": 8, "int4": 4}[dtype]
    return n_params * bits / 8
''',
    "training_bytes": '''
def training_bytes(n_params, precision="fp32", optimizer="adamw", activation_bytes=0):
    """Bytes of one training step by category: weights, gradients, optimizer, activations and total."""
    if optimizer == "sgd":
        buffers = 0
    elif optimizer == "sgd_momentum":
        buffers = 1
    elif optimizer == "adamw":
        buffers = 2
    else:
        raise ValueError("optimizer must be sgd, sgd_momentum or adamw")
    if precision not in ("fp32", "mixed"):
        raise ValueError("precision must be fp32 or mixed")
    value_bytes = 4 if precision == "fp32" else 2
    master_copies = 0 if precision == "fp32" else 1
    out = {
        "weights": value_bytes * n_params,
        "gradients": value_bytes * n_params,
        "optimizer": 4 * (buffers + master_copies) * n_params,
        "activations": activation_bytes,
    }
    out["total"] = sum(out.values())
    return out
''',
    "adamw_step": '''
def adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    """One AdamW update, as ``torch.optim.AdamW`` computes it; returns (param, exp_avg, exp_avg_sq)."""
    m = exp_avg.lerp(grad, 1 - beta1)
    v = exp_avg_sq.mul(beta2).addcmul(grad, grad, value=1 - beta2)
    denominator = (v / (1 - beta2 ** step)).sqrt().add(eps)
    update = (m / (1 - beta1 ** step)) / denominator
    return param - lr * weight_decay * param - lr * update, m, v
''',
    "kv_cache_bytes": '''
def kv_cache_bytes(batch, seq_len, n_layers, n_kv_heads, d_head, bytes_per_value=2):
    """Bytes of the key-value cache."""
    per_token_per_layer = 2 * n_kv_heads * d_head  # one key and one value vector per KV head
    return per_token_per_layer * n_layers * batch * seq_len * bytes_per_value
''',
    "zero_bytes_per_gpu": '''
def zero_bytes_per_gpu(n_params, n_gpus, stage, k=12):
    """Model-state bytes per GPU at ZeRO ``stage``."""
    if stage not in (0, 1, 2, 3):
        raise ValueError("stage must be 0, 1, 2 or 3")
    weights = 2 * n_params / (n_gpus if stage >= 3 else 1)
    gradients = 2 * n_params / (n_gpus if stage >= 2 else 1)
    optimizer = k * n_params / (n_gpus if stage >= 1 else 1)
    return weights + gradients + optimizer
''',
    "max_batch_size": '''
def max_batch_size(gpu_bytes, n_params, activation_bytes_per_sample, precision="fp32", optimizer="adamw"):
    """The largest batch whose training step fits ``gpu_bytes``."""
    if activation_bytes_per_sample <= 0:
        raise ValueError("activation_bytes_per_sample must be positive")
    states = {"sgd": 8, "sgd_momentum": 12, "adamw": 16}[optimizer] * n_params  # fp32 or mixed alike
    batch = 0
    high = 1
    while states + high * activation_bytes_per_sample <= gpu_bytes:
        high *= 2
    while high - batch > 1:  # batch fits, high does not
        middle = (batch + high) // 2
        if states + middle * activation_bytes_per_sample <= gpu_bytes:
            batch = middle
        else:
            high = middle
    return batch
''',
}

MISTAKES = {
    "bytes_per_value": {
        "int4 rounded up to a whole byte": '''
def bytes_per_value(dtype):
    bits = {"fp32": 32, "fp16": 16, "bf16": 16, "int8": 8, "fp8": 8, "int4": 4}
    if dtype not in bits:
        raise ValueError(f"unknown dtype {dtype!r}; choose from {list(bits)}")
    return math.ceil(bits[dtype] / 8)
''',
        "fp8 left out of the table": '''
def bytes_per_value(dtype):
    sizes = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1, "int4": 0.5}
    if dtype not in sizes:
        raise ValueError(f"unknown dtype {dtype!r}; choose from {list(sizes)}")
    return sizes[dtype]
''',
        "int8 left out: only the float formats and int4": '''
def bytes_per_value(dtype):
    sizes = {"fp32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int4": 0.5}
    if dtype not in sizes:
        raise ValueError(f"unknown dtype {dtype!r}; choose from {list(sizes)}")
    return sizes[dtype]
''',
        "torch's element size, int4 stored in a uint8": '''
def bytes_per_value(dtype):
    dtypes = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "int8": torch.int8,
              "fp8": torch.float8_e4m3fn, "int4": torch.uint8}
    if dtype not in dtypes:
        raise ValueError(f"unknown dtype {dtype!r}; choose from {list(dtypes)}")
    return torch.empty(0, dtype=dtypes[dtype]).element_size()
''',
        "fp16 confused with fp32 (a copy-paste slip)": '''
def bytes_per_value(dtype):
    sizes = {"fp32": 4, "fp16": 4, "bf16": 2, "int8": 1, "fp8": 1, "int4": 0.5}
    if dtype not in sizes:
        raise ValueError(f"unknown dtype {dtype!r}; choose from {list(sizes)}")
    return sizes[dtype]
''',
        "integer division of the bits": '''
def bytes_per_value(dtype):
    bits = {"fp32": 32, "fp16": 16, "bf16": 16, "int8": 8, "fp8": 8, "int4": 4}
    if dtype not in bits:
        raise ValueError(f"unknown dtype {dtype!r}; choose from {list(bits)}")
    return bits[dtype] // 8
''',
        "the ValueError names only the unknown dtype, not the known ones": '''
def bytes_per_value(dtype):
    sizes = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1, "fp8": 1, "int4": 0.5}
    if dtype not in sizes:
        raise ValueError(f"unknown dtype {dtype!r}")
    return sizes[dtype]
''',
    },
    "model_bytes": {
        "odd int4 counts rounded down (integer division)": '''
def model_bytes(n_params, dtype="fp32"):
    if dtype == "int4":
        return n_params // 2  # two values per byte
    return n_params * {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1, "fp8": 1}[dtype]
''',
        "odd int4 counts rounded up to whole bytes": '''
def model_bytes(n_params, dtype="fp32"):
    bits = {"fp32": 32, "fp16": 16, "bf16": 16, "int8": 8, "fp8": 8, "int4": 4}[dtype]
    return math.ceil(n_params * bits / 8)
''',
        "converted to an int, dropping the half byte": '''
def model_bytes(n_params, dtype="fp32"):
    sizes = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1, "fp8": 1, "int4": 0.5}
    return int(n_params * sizes[dtype])
''',
        "in GB rather than bytes": '''
def model_bytes(n_params, dtype="fp32"):
    sizes = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1, "fp8": 1, "int4": 0.5}
    return n_params * sizes[dtype] / 1e9
''',
        "default dtype fp16": '''
def model_bytes(n_params, dtype="fp16"):
    sizes = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1, "fp8": 1, "int4": 0.5}
    return n_params * sizes[dtype]
''',
        "bf16 counted as fp32 (brain float keeps fp32's range)": '''
def model_bytes(n_params, dtype="fp32"):
    sizes = {"fp32": 4, "fp16": 2, "bf16": 4, "int8": 1, "fp8": 1, "int4": 0.5}
    return n_params * sizes[dtype]
''',
    },
    "training_bytes": {
        "the optimizer ignored: always AdamW's two moments": '''
def training_bytes(n_params, precision="fp32", optimizer="adamw", activation_bytes=0):
    if precision == "fp32":
        weights = gradients = 4 * n_params
        states = 8 * n_params
    else:
        weights = gradients = 2 * n_params
        states = 12 * n_params
    return {"weights": weights, "gradients": gradients, "optimizer": states, "activations": activation_bytes,
            "total": weights + gradients + states + activation_bytes}
''',
        "plain SGD counted with a momentum buffer": '''
def training_bytes(n_params, precision="fp32", optimizer="adamw", activation_bytes=0):
    buffers = 2 if optimizer == "adamw" else 1
    master = 4 if precision == "mixed" else 0
    value = 4 if precision == "fp32" else 2
    states = (4 * buffers + master) * n_params
    return {"weights": value * n_params, "gradients": value * n_params, "optimizer": states,
            "activations": activation_bytes, "total": 2 * value * n_params + states + activation_bytes}
''',
        "mixed precision: the master copy counted for AdamW only (K = 12 from the paper)": '''
def training_bytes(n_params, precision="fp32", optimizer="adamw", activation_bytes=0):
    if precision == "fp32":
        per_param = {"sgd": (4, 4, 0), "sgd_momentum": (4, 4, 4), "adamw": (4, 4, 8)}[optimizer]
    else:
        per_param = {"sgd": (2, 2, 0), "sgd_momentum": (2, 2, 4), "adamw": (2, 2, 12)}[optimizer]
    weights, gradients, states = (b * n_params for b in per_param)
    return {"weights": weights, "gradients": gradients, "optimizer": states, "activations": activation_bytes,
            "total": weights + gradients + states + activation_bytes}
''',
        "momentum counted as two buffers": '''
def training_bytes(n_params, precision="fp32", optimizer="adamw", activation_bytes=0):
    buffers = {"sgd": 0, "sgd_momentum": 2, "adamw": 2}[optimizer]
    if precision == "fp32":
        weights, gradients, states = 4 * n_params, 4 * n_params, 4 * buffers * n_params
    else:
        weights, gradients, states = 2 * n_params, 2 * n_params, (4 + 4 * buffers) * n_params
    return {"weights": weights, "gradients": gradients, "optimizer": states, "activations": activation_bytes,
            "total": weights + gradients + states + activation_bytes}
''',
        "the total leaves out the activations": '''
def training_bytes(n_params, precision="fp32", optimizer="adamw", activation_bytes=0):
    buffers = {"sgd": 0, "sgd_momentum": 1, "adamw": 2}[optimizer]
    if precision == "fp32":
        weights, gradients, states = 4 * n_params, 4 * n_params, 4 * buffers * n_params
    else:
        weights, gradients, states = 2 * n_params, 2 * n_params, (4 + 4 * buffers) * n_params
    return {"weights": weights, "gradients": gradients, "optimizer": states, "activations": activation_bytes,
            "total": weights + gradients + states}
''',
        "the master copy counted under weights, not optimizer": '''
def training_bytes(n_params, precision="fp32", optimizer="adamw", activation_bytes=0):
    buffers = {"sgd": 0, "sgd_momentum": 1, "adamw": 2}[optimizer]
    if precision == "fp32":
        weights, gradients = 4 * n_params, 4 * n_params
    else:
        weights, gradients = (2 + 4) * n_params, 2 * n_params  # fp16 copy and fp32 master copy
    states = 4 * buffers * n_params
    return {"weights": weights, "gradients": gradients, "optimizer": states, "activations": activation_bytes,
            "total": weights + gradients + states + activation_bytes}
''',
        "the optimizer's states in fp16 under mixed precision": '''
def training_bytes(n_params, precision="fp32", optimizer="adamw", activation_bytes=0):
    buffers = {"sgd": 0, "sgd_momentum": 1, "adamw": 2}[optimizer]
    if precision == "fp32":
        weights, gradients, states = 4 * n_params, 4 * n_params, 4 * buffers * n_params
    else:
        weights, gradients, states = 2 * n_params, 2 * n_params, (4 + 2 * buffers) * n_params
    return {"weights": weights, "gradients": gradients, "optimizer": states, "activations": activation_bytes,
            "total": weights + gradients + states + activation_bytes}
''',
        "an unknown optimizer rejected only in fp32": '''
def training_bytes(n_params, precision="fp32", optimizer="adamw", activation_bytes=0):
    states = {"sgd": 0, "sgd_momentum": 1, "adamw": 2}
    if precision == "fp32":
        if optimizer not in states:
            raise ValueError(f"unknown optimizer {optimizer!r}")
        weights, gradients, optimizer_bytes = 4 * n_params, 4 * n_params, 4 * states[optimizer] * n_params
    elif precision == "mixed":
        weights, gradients = 2 * n_params, 2 * n_params
        optimizer_bytes = (4 + 4 * states.get(optimizer, 0)) * n_params
    else:
        raise ValueError(f"unknown precision {precision!r}")
    return {"weights": weights, "gradients": gradients, "optimizer": optimizer_bytes,
            "activations": activation_bytes, "total": weights + gradients + optimizer_bytes + activation_bytes}
''',
    },
    "adamw_step": {
        "L2 regularisation: weight decay added to the gradient (Adam, not AdamW)": '''
def adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    grad = grad + weight_decay * param
    m = beta1 * exp_avg + (1 - beta1) * grad
    v = beta2 * exp_avg_sq + (1 - beta2) * grad ** 2
    m_hat, v_hat = m / (1 - beta1 ** step), v / (1 - beta2 ** step)
    return param - lr * m_hat / (v_hat.sqrt() + eps), m, v
''',
        "weight decay after the Adam update": '''
def adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    m = beta1 * exp_avg + (1 - beta1) * grad
    v = beta2 * exp_avg_sq + (1 - beta2) * grad ** 2
    m_hat, v_hat = m / (1 - beta1 ** step), v / (1 - beta2 ** step)
    param = param - lr * m_hat / (v_hat.sqrt() + eps)
    return param * (1 - lr * weight_decay), m, v
''',
        "eps inside the square root": '''
def adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    param = param * (1 - lr * weight_decay)
    m = beta1 * exp_avg + (1 - beta1) * grad
    v = beta2 * exp_avg_sq + (1 - beta2) * grad ** 2
    m_hat, v_hat = m / (1 - beta1 ** step), v / (1 - beta2 ** step)
    return param - lr * m_hat / torch.sqrt(v_hat + eps), m, v
''',
        "the Adam paper's faster form: eps added before the bias correction": '''
def adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    param = param * (1 - lr * weight_decay)
    m = beta1 * exp_avg + (1 - beta1) * grad
    v = beta2 * exp_avg_sq + (1 - beta2) * grad ** 2
    step_size = lr * math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
    return param - step_size * m / (v.sqrt() + eps), m, v
''',
        "bias correction with the step after this one": '''
def adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    param = param * (1 - lr * weight_decay)
    m = beta1 * exp_avg + (1 - beta1) * grad
    v = beta2 * exp_avg_sq + (1 - beta2) * grad ** 2
    t = step + 1
    m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
    return param - lr * m_hat / (v_hat.sqrt() + eps), m, v
''',
        "weight decay not scaled by the learning rate": '''
def adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    param = param * (1 - weight_decay)
    m = beta1 * exp_avg + (1 - beta1) * grad
    v = beta2 * exp_avg_sq + (1 - beta2) * grad ** 2
    m_hat, v_hat = m / (1 - beta1 ** step), v / (1 - beta2 ** step)
    return param - lr * m_hat / (v_hat.sqrt() + eps), m, v
''',
        "the bias-corrected moments returned as the new state": '''
def adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    param = param * (1 - lr * weight_decay)
    m = (beta1 * exp_avg + (1 - beta1) * grad) / (1 - beta1 ** step)
    v = (beta2 * exp_avg_sq + (1 - beta2) * grad ** 2) / (1 - beta2 ** step)
    return param - lr * m / (v.sqrt() + eps), m, v
''',
        "updates param and both moments in place, as an optimizer does": '''
def adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    param.mul_(1 - lr * weight_decay)
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    denominator = (exp_avg_sq / (1 - beta2 ** step)).sqrt().add(eps)
    param.sub_(lr * (exp_avg / (1 - beta1 ** step)) / denominator)
    return param, exp_avg, exp_avg_sq
''',
    },
    "kv_cache_bytes": {
        "keys only: the values forgotten": '''
def kv_cache_bytes(batch, seq_len, n_layers, n_kv_heads, d_head, bytes_per_value=2):
    return batch * seq_len * n_layers * n_kv_heads * d_head * bytes_per_value
''',
        "bytes_per_value truncated to an int": '''
def kv_cache_bytes(batch, seq_len, n_layers, n_kv_heads, d_head, bytes_per_value=2):
    return 2 * batch * seq_len * n_layers * n_kv_heads * d_head * int(bytes_per_value)
''',
        "bytes_per_value ignored: always fp16": '''
def kv_cache_bytes(batch, seq_len, n_layers, n_kv_heads, d_head, bytes_per_value=2):
    return 2 * batch * seq_len * n_layers * n_kv_heads * d_head * 2
''',
        "the batch forgotten": '''
def kv_cache_bytes(batch, seq_len, n_layers, n_kv_heads, d_head, bytes_per_value=2):
    return 2 * seq_len * n_layers * n_kv_heads * d_head * bytes_per_value
''',
        "one extra token cached (the one being generated)": '''
def kv_cache_bytes(batch, seq_len, n_layers, n_kv_heads, d_head, bytes_per_value=2):
    return 2 * batch * (seq_len + 1) * n_layers * n_kv_heads * d_head * bytes_per_value
''',
        "the KV heads counted as d_head / n_kv_heads (d_head read as the model width)": '''
def kv_cache_bytes(batch, seq_len, n_layers, n_kv_heads, d_head, bytes_per_value=2):
    return 2 * batch * seq_len * n_layers * d_head * bytes_per_value
''',
    },
    "zero_bytes_per_gpu": {
        "stage 2 shards only the optimizer states, like stage 1": '''
def zero_bytes_per_gpu(n_params, n_gpus, stage, k=12):
    if stage == 0:
        return (4 + k) * n_params
    if stage in (1, 2):
        return 4 * n_params + k * n_params / n_gpus
    return (4 + k) * n_params / n_gpus
''',
        "K ignored: always Adam's 12": '''
def zero_bytes_per_gpu(n_params, n_gpus, stage, k=12):
    states = [2 * n_params, 2 * n_params, 12 * n_params]  # weights, gradients, optimizer
    sharded = {0: 0, 1: 1, 2: 2, 3: 3}[stage]  # how many, from the optimizer backwards
    return sum(states[:3 - sharded]) + sum(states[3 - sharded:]) / n_gpus
''',
        "integer division of the shards": '''
def zero_bytes_per_gpu(n_params, n_gpus, stage, k=12):
    weights, gradients, states = 2 * n_params, 2 * n_params, k * n_params
    if stage >= 1:
        states = states // n_gpus
    if stage >= 2:
        gradients = gradients // n_gpus
    if stage >= 3:
        weights = weights // n_gpus
    return weights + gradients + states
''',
        "each stage shards only its own state, not the earlier stages' too": '''
def zero_bytes_per_gpu(n_params, n_gpus, stage, k=12):
    weights, gradients, states = 2 * n_params, 2 * n_params, k * n_params
    if stage == 1:
        states = states / n_gpus
    elif stage == 2:
        gradients = gradients / n_gpus
    elif stage == 3:
        weights, gradients, states = weights / n_gpus, gradients / n_gpus, states / n_gpus
    return weights + gradients + states
''',
        "shards spread over the other n_gpus - 1 GPUs": '''
def zero_bytes_per_gpu(n_params, n_gpus, stage, k=12):
    others = max(n_gpus - 1, 1)
    weights, gradients, states = 2 * n_params, 2 * n_params, k * n_params
    if stage >= 1:
        states = states / others
    if stage >= 2:
        gradients = gradients / others
    if stage >= 3:
        weights = weights / others
    return weights + gradients + states
''',
        "fp32 weights at 4 bytes each (the master copy) instead of fp16's 2": '''
def zero_bytes_per_gpu(n_params, n_gpus, stage, k=12):
    weights, gradients, states = 4 * n_params, 2 * n_params, k * n_params
    if stage >= 1:
        states = states / n_gpus
    if stage >= 2:
        gradients = gradients / n_gpus
    if stage >= 3:
        weights = weights / n_gpus
    return weights + gradients + states
''',
        "only stages above 3 rejected: stage -1 counted as stage 3": '''
def zero_bytes_per_gpu(n_params, n_gpus, stage, k=12):
    if stage > 3:
        raise ValueError(f"ZeRO stage must be 0, 1, 2 or 3, got {stage!r}")
    if stage == 0:
        return (4 + k) * n_params
    if stage == 1:
        return 4 * n_params + k * n_params / n_gpus
    if stage == 2:
        return 2 * n_params + (2 + k) * n_params / n_gpus
    return (4 + k) * n_params / n_gpus
''',
    },
    "max_batch_size": {
        "rounds up: a partial sample counted": '''
def max_batch_size(gpu_bytes, n_params, activation_bytes_per_sample, precision="fp32", optimizer="adamw"):
    states = {"sgd": 8, "sgd_momentum": 12, "adamw": 16}[optimizer] * n_params
    free = gpu_bytes - states
    if free < 0:
        return 0
    return math.ceil(free / activation_bytes_per_sample)
''',
        "the optimizer ignored: AdamW's states always": '''
def max_batch_size(gpu_bytes, n_params, activation_bytes_per_sample, precision="fp32", optimizer="adamw"):
    free = gpu_bytes - 16 * n_params
    return max(0, int(free // activation_bytes_per_sample))
''',
        "no clamp at 0: a negative batch when the model states do not fit": '''
def max_batch_size(gpu_bytes, n_params, activation_bytes_per_sample, precision="fp32", optimizer="adamw"):
    states = {"sgd": 8, "sgd_momentum": 12, "adamw": 16}[optimizer] * n_params
    return int((gpu_bytes - states) // activation_bytes_per_sample)
''',
        "truncation toward zero instead of a clamp": '''
def max_batch_size(gpu_bytes, n_params, activation_bytes_per_sample, precision="fp32", optimizer="adamw"):
    states = {"sgd": 8, "sgd_momentum": 12, "adamw": 16}[optimizer] * n_params
    return int((gpu_bytes - states) / activation_bytes_per_sample)
''',
        "must fit with a byte to spare (strict inequality)": '''
def max_batch_size(gpu_bytes, n_params, activation_bytes_per_sample, precision="fp32", optimizer="adamw"):
    states = {"sgd": 8, "sgd_momentum": 12, "adamw": 16}[optimizer] * n_params
    batch = 0
    while states + (batch + 1) * activation_bytes_per_sample < gpu_bytes:
        batch += 1
    return batch
''',
        "a float when gpu_bytes is a float": '''
def max_batch_size(gpu_bytes, n_params, activation_bytes_per_sample, precision="fp32", optimizer="adamw"):
    states = {"sgd": 8, "sgd_momentum": 12, "adamw": 16}[optimizer] * n_params
    return max(0, (gpu_bytes - states) // activation_bytes_per_sample)
''',
        "rounded to the nearest batch": '''
def max_batch_size(gpu_bytes, n_params, activation_bytes_per_sample, precision="fp32", optimizer="adamw"):
    states = {"sgd": 8, "sgd_momentum": 12, "adamw": 16}[optimizer] * n_params
    return max(0, round((gpu_bytes - states) / activation_bytes_per_sample))
''',
    },
}
