"""Chapter 4, GPU memory: the bytes it takes to store, train and serve a model, and how to measure them.

Every size is a number of bytes (an int, or a float where half-byte formats such as INT4 make
it fractional); a GB is 10^9 bytes and a GiB 2^30 bytes, and only names that say so use them.
Predictions (``model_bytes``, ``training_bytes``, ``gpt_activation_bytes`` ...) are checked
against ``measure_training_bytes``, which reads the bytes off a real PyTorch training step.
"""

import contextlib
import os
import sys

import torch
import torch.nn as nn


def bytes_per_value(dtype):
    """Bytes one value takes in ``dtype``: "fp32", "fp16", "bf16", "int8", "fp8" or "int4" (0.5 bytes)."""
    sizes = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1, "fp8": 1, "int4": 0.5}
    if dtype not in sizes:
        raise ValueError(f"unknown dtype {dtype!r}; choose from {', '.join(sizes)}")
    return sizes[dtype]


def model_bytes(n_params, dtype="fp32"):
    """Bytes to store ``n_params`` parameters in ``dtype`` (weights only, no metadata)."""
    return n_params * bytes_per_value(dtype)


def training_bytes(n_params, precision="fp32", optimizer="adamw", activation_bytes=0):
    """Bytes of one training step by category: weights, gradients, optimizer, activations and total.

    ``precision="fp32"``: fp32 weights and gradients (4 + 4 bytes per parameter) and fp32
    optimizer states. ``precision="mixed"``: ZeRO's convention (Rajbhandari et al., 2020), fp16
    weights and gradients (2 + 2) plus K bytes of fp32 optimizer state, where K counts an fp32
    master copy of the weights (4) and the optimizer's own states (K = 12 for Adam/AdamW).
    ``optimizer`` is "sgd", "sgd_momentum" or "adamw"; ``activation_bytes`` is added as given.
    """
    # fp32 tensors of optimizer state per parameter: SGD keeps none, momentum one buffer, AdamW two moments
    n_states = {"sgd": 0, "sgd_momentum": 1, "adamw": 2}
    if optimizer not in n_states:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose from {', '.join(n_states)}")
    states_bytes = 4 * n_states[optimizer] * n_params
    if precision == "fp32":
        weights, gradients, optimizer_bytes = 4 * n_params, 4 * n_params, states_bytes
    elif precision == "mixed":
        weights, gradients, optimizer_bytes = 2 * n_params, 2 * n_params, 4 * n_params + states_bytes
    else:
        raise ValueError(f"unknown precision {precision!r}; choose 'fp32' or 'mixed'")
    total = weights + gradients + optimizer_bytes + activation_bytes
    return {"weights": weights, "gradients": gradients, "optimizer": optimizer_bytes,
            "activations": activation_bytes, "total": total}


def zero_bytes_per_gpu(n_params, n_gpus, stage, k=12):
    """Model-state bytes per GPU of mixed-precision data-parallel training at ZeRO ``stage``.

    Rajbhandari et al. (2020), Figure 1: with Psi parameters and N GPUs, stage 0 (plain data
    parallelism) keeps (2 + 2 + K) Psi on every GPU; stage 1 shards the optimizer states,
    2 Psi + 2 Psi + K Psi / N; stage 2 also the gradients, 2 Psi + (2 + K) Psi / N; stage 3 also
    the weights, (2 + 2 + K) Psi / N. Activations are not included.
    """
    if stage == 0:
        return (2 + 2 + k) * n_params
    if stage == 1:
        return 2 * n_params + 2 * n_params + k * n_params / n_gpus
    if stage == 2:
        return 2 * n_params + (2 + k) * n_params / n_gpus
    if stage == 3:
        return (2 + 2 + k) * n_params / n_gpus
    raise ValueError(f"ZeRO stage must be 0, 1, 2 or 3, got {stage!r}")


def activation_bytes(seq_len, batch, d_model, n_heads, n_layers):
    """Korthikanti et al. (MLSys 2023)'s activation bytes of 16-bit training without recomputation.

    Per layer ``s b h (34 + 5 a s / h)`` with ``s = seq_len``, ``b = batch``, ``h = d_model`` and
    ``a = n_heads``, for their layout: 16-bit tensors, 1-byte dropout masks and the full
    ``(a, s, s)`` attention matrices saved. Summed over ``n_layers``.
    """
    s, b, h, a = seq_len, batch, d_model, n_heads
    return n_layers * s * b * h * (34 + 5 * a * s / h)



def korthikanti_outside_layers_bytes(seq_len, batch, d_model, vocab_size):
    """Activation bytes outside the transformer layers in Korthikanti et al.'s accounting.

    As the paper's section 4.3 counts them for one pipeline stage without tensor parallelism,
    plus the int64 token ids, ``8 s b``, that Megatron-LM's ``compute_activation_memory`` adds:
    the 1-byte dropout mask of the embeddings, ``s b h``; the 16-bit inputs of the final LayerNorm
    and of the output layer with the FP32 logits of the loss, ``4 s b h (1 + v / h)`` (``v = vocab_size``).
    """
    s, b, h, v = seq_len, batch, d_model, vocab_size
    return 8 * s * b + s * b * h + 4 * s * b * h + 4 * s * b * v

def gpt_activation_bytes(batch, seq_len, d_model, n_heads, n_layers, vocab_size, attention="flash"):
    """Bytes that chapter 1's GPT (``solutions.gpt``, fp32, no dropout) saves for backward, with its loss.

    Derived from the model's own operations; ``B = batch``, ``T = seq_len``, ``C = d_model``.
    Each block saves 16 BTC fp32 values (LayerNorm inputs and outputs 4, q/k/v 3, attention
    output 1, MLP input of GELU 4 and its output 4), LayerNorm means and reciprocal standard
    deviations 4 BT, and per head either the attention's log-sum-exp, ``B n_heads T`` (fused
    ``attention="flash"``, PyTorch's default on CPU), or its ``(T, T)`` probabilities,
    ``B n_heads T^2`` (``attention="math"``; with ``batch=1`` it saves its keys as a view of the whole
    q/k/v tensor, 2 BTC more). Outside the blocks: the final LayerNorm's
    input and statistics (BTC + 2 BT), the output layer's input (BTC), the log-probabilities
    (BTV), one fp32 scalar of the cross-entropy, and the
    int64 token ids, targets (BT each) and positions (T).
    """
    B, T, C = batch, seq_len, d_model
    if attention == "flash":
        attention_values = B * n_heads * T
    elif attention == "math":
        # with B = 1 the keys are saved as a view of the whole q/k/v output, not a copy: 2 BTC more
        attention_values = B * n_heads * T * T + (2 * B * T * C if B == 1 else 0)
    else:
        raise ValueError(f"attention must be 'flash' or 'math', got {attention!r}")
    per_block_values = 16 * B * T * C + 4 * B * T + attention_values
    fp32_values = n_layers * per_block_values + 2 * B * T * C + 2 * B * T + B * T * vocab_size + 1
    int64_values = 2 * B * T + T
    return 4 * fp32_values + 8 * int64_values


def kv_cache_bytes(batch, seq_len, n_layers, n_kv_heads, d_head, bytes_per_value=2):
    """Bytes of the key-value cache: 2 (keys and values) x layers x KV heads x head size x tokens x bytes."""
    return 2 * n_layers * n_kv_heads * d_head * seq_len * batch * bytes_per_value


def max_batch_size(gpu_bytes, n_params, activation_bytes_per_sample, precision="fp32", optimizer="adamw"):
    """The largest batch whose training step fits ``gpu_bytes``: 0 when even the model states do not fit.

    The model states (weights, gradients, optimizer) come from ``training_bytes``; every sample
    of the batch adds ``activation_bytes_per_sample``, which must be positive (else ValueError).
    A step fits when its bytes are at most ``gpu_bytes``. The batch is an int, even when
    ``gpu_bytes`` is a float.
    """
    if activation_bytes_per_sample <= 0:
        raise ValueError(f"activation_bytes_per_sample must be positive, got {activation_bytes_per_sample!r}")
    free_bytes = gpu_bytes - training_bytes(n_params, precision, optimizer)["total"]
    if free_bytes < 0:
        return 0
    return int(free_bytes // activation_bytes_per_sample)


def adamw_step(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay):
    """One AdamW update, as ``torch.optim.AdamW`` computes it.

    ``step`` counts updates from 1. The weight decay is decoupled (Loshchilov & Hutter, 2019): it
    shrinks the parameter instead of entering the gradient. PyTorch's implementation shrinks it by
    ``lr * weight_decay``; the paper's Algorithm 2 scales the decay by the schedule multiplier,
    not by the learning rate. Returns the new
    ``(param, exp_avg, exp_avg_sq)``, each of ``param``'s shape; the inputs are not modified.
    """
    param = param * (1 - lr * weight_decay)
    exp_avg = beta1 * exp_avg + (1 - beta1) * grad  # first moment: running mean of the gradient
    exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * grad * grad  # second moment: of its square
    # both moments start at zero; dividing by 1 - beta^step removes that bias
    exp_avg_hat = exp_avg / (1 - beta1**step)
    exp_avg_sq_hat = exp_avg_sq / (1 - beta2**step)
    param = param - lr * exp_avg_hat / (exp_avg_sq_hat.sqrt() + eps)
    return param, exp_avg, exp_avg_sq


class AdamW(torch.optim.Optimizer):
    """AdamW written out: two fp32 state tensors per parameter, ``exp_avg`` and ``exp_avg_sq``.

    Matches ``torch.optim.AdamW`` with the same hyperparameters and its default options
    (``amsgrad=False``, ``maximize=False``), up to float rounding: the same update, decay first,
    then bias-corrected moments with ``eps`` added outside the square root. The step count is a
    Python int, so the state holds exactly 8 bytes per fp32 parameter (torch's own AdamW adds a
    4-byte step tensor per parameter tensor).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self):
        """Update every parameter that has a gradient."""
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                new_param, exp_avg, exp_avg_sq = adamw_step(
                    p, p.grad, state["exp_avg"], state["exp_avg_sq"], state["step"],
                    group["lr"], beta1, beta2, group["eps"], group["weight_decay"])
                p.copy_(new_param)
                state["exp_avg"].copy_(exp_avg)
                state["exp_avg_sq"].copy_(exp_avg_sq)


def _storage_bytes(tensors):
    """Bytes of the distinct storages behind ``tensors`` (views and tied weights count once)."""
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(storages.values())


def measure_training_bytes(model, inputs, targets, loss_fn, optimizer):
    """Run one training step and return the bytes it held, under ``training_bytes``'s keys.

    Weights, gradients and optimizer states are read from their tensors' storages after the
    step. Activations are the distinct storages autograd saved for backward during the forward
    pass and the loss (``torch.autograd.graph.saved_tensors_hooks``), parameters excluded.
    Temporary buffers freed within an operation are not seen.
    """
    params = list(model.parameters())
    param_storages = {p.untyped_storage().data_ptr() for p in params}
    saved = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in param_storages:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    optimizer.zero_grad(set_to_none=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = loss_fn(model(inputs), targets)
    loss.backward()
    optimizer.step()
    states = [v for state in optimizer.state.values() for v in state.values() if isinstance(v, torch.Tensor)]
    measured = {
        "weights": _storage_bytes(params),
        "gradients": _storage_bytes([p.grad for p in params if p.grad is not None]),
        "optimizer": _storage_bytes(states),
        "activations": sum(saved.values()),
    }
    measured["total"] = sum(measured.values())
    return measured



@contextlib.contextmanager
def _file_descriptor_2_silenced():
    """Send the process's standard error (file descriptor 2) to the null device for the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)

def profiled_peak_bytes(run):
    """Peak bytes that ``run()`` holds in PyTorch's CPU allocator above what was held when it started.

    ``torch.profiler`` with ``profile_memory=True`` records every allocation (positive bytes) and
    free (negative) of the allocator; replayed in time order, their highest running sum is the peak.
    Tensors that were allocated before the call, weights or optimizer states say, are not included.
    Memory that a library allocates outside PyTorch's allocator is not seen.
    """
    prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True)
    with _file_descriptor_2_silenced():  # the profiler's C++ side logs its start and stop there
        prof.start()
    try:
        run()
    finally:
        with _file_descriptor_2_silenced():
            prof.stop()
    # the raw event list keeps allocations and frees apart; prof.events() folds allocations into operators
    changes = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == "[memory]")
    held = peak = 0
    for _, n_bytes in changes:
        held += n_bytes
        peak = max(peak, held)
    return peak

def n_parameters(model: nn.Module):
    """Number of distinct parameter values of ``model`` (a tied weight counts once)."""
    return sum(p.numel() for p in model.parameters())


class SimulatedOutOfMemoryError(RuntimeError):
    """Raised by :class:`SimulatedGPU` where a real GPU would raise ``torch.cuda.OutOfMemoryError``."""


class SimulatedGPU:
    """A GPU reduced to its memory counter, so that running out of memory can be shown on any machine.

    ``allocate`` books bytes and raises :class:`SimulatedOutOfMemoryError`, worded like
    PyTorch's CUDA message, when the booking would pass ``capacity_bytes``. Nothing is
    actually allocated.
    """

    def __init__(self, capacity_bytes):
        self.capacity_bytes = capacity_bytes
        self.allocated_bytes = 0

    def allocate(self, n_bytes):
        """Book ``n_bytes``; raise :class:`SimulatedOutOfMemoryError` when they do not fit."""
        free_bytes = self.capacity_bytes - self.allocated_bytes
        if n_bytes > free_bytes:
            raise SimulatedOutOfMemoryError(
                f"(simulated) CUDA out of memory. Tried to allocate {_gib(n_bytes)}. GPU 0 has a total "
                f"capacity of {_gib(self.capacity_bytes)} of which {_gib(free_bytes)} is free. "
                f"Of the allocated memory {_gib(self.allocated_bytes)} is allocated by PyTorch.")
        self.allocated_bytes += n_bytes

    def free(self, n_bytes):
        """Release ``n_bytes`` booked earlier."""
        self.allocated_bytes -= n_bytes


def _gib(n_bytes):
    return f"{n_bytes / 2**30:.2f} GiB"
