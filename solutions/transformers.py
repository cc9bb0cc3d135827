"""Chapter 1, Transformers: the functional building blocks of a transformer.

Weights are passed explicitly and follow ``torch.nn.Linear``'s layout
``(out_features, in_features)``, so ``x @ w.T`` applies a weight ``w``. Shapes use
``L`` for query positions, ``S`` for key positions and ``...`` for any batch dimensions.
"""

import math

import torch

from solutions.gpt import GPT, GPTConfig, generate  # noqa: F401  (chapter 1's model, public API)


def softmax(x, dim=-1):
    """Turn scores ``x`` into probabilities along ``dim``, without overflow for scores of any size.

    Returns a tensor of ``x``'s shape whose slices along ``dim`` are non-negative and sum to one
    up to rounding; a probability too small for ``x``'s dtype rounds to 0.
    """
    # Softmax is shift-invariant: subtracting the maximum changes nothing but keeps every
    # exponent at or below zero, so exp never overflows and the sum is at least one.
    shifted = x - x.amax(dim=dim, keepdim=True)
    exps = torch.exp(shifted)
    return exps / exps.sum(dim=dim, keepdim=True)


def causal_mask(seq_len):
    """Boolean ``(seq_len, seq_len)`` mask, True where query ``i`` may attend to key ``j <= i``."""
    return torch.ones(seq_len, seq_len, dtype=torch.bool).tril()


def scaled_dot_product_attention(q, k, v, mask=None):
    """Attention of queries ``q`` over keys ``k`` and values ``v``.

    q: ``(..., L, d_k)``, k: ``(..., S, d_k)``, v: ``(..., S, d_v)``; ``mask`` is boolean,
    broadcastable to ``(..., L, S)``, True where a query may attend (the convention of
    ``torch.nn.functional.scaled_dot_product_attention``; ``torch.nn.MultiheadAttention``'s is
    the opposite). Returns ``(..., L, d_v)``. Every query must be allowed at least one key: a
    fully masked row has no softmax.
    """
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., L, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = softmax(scores, dim=-1)  # (..., L, S)
    return weights @ v  # (..., L, d_v)


def multi_head_self_attention(x, w_q, w_k, w_v, w_o, n_heads, causal=True):
    """Multi-head self-attention of ``x`` ``(..., L, d_model)``; each weight is ``(d_model, d_model)``.

    Each weight ``w`` applies as ``x @ w.T``. The projections are split into ``n_heads`` heads
    of ``head_size`` (``d_model // n_heads``) contiguous dimensions (head ``h`` takes dimensions
    ``h * head_size`` to ``(h + 1) * head_size - 1``), attended to independently, concatenated
    back in the same places and mixed by ``w_o``. Returns ``(..., L, d_model)``.
    """
    *batch, seq_len, d_model = x.shape
    if d_model % n_heads:
        raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
    head_size = d_model // n_heads

    def split_heads(t):  # (..., L, d_model) -> (..., n_heads, L, head_size)
        return t.reshape(*batch, seq_len, n_heads, head_size).transpose(-3, -2)

    q, k, v = (split_heads(x @ w.T) for w in (w_q, w_k, w_v))
    mask = causal_mask(seq_len).to(x.device) if causal else None
    heads = scaled_dot_product_attention(q, k, v, mask)  # (..., n_heads, L, head_size)
    merged = heads.transpose(-3, -2).reshape(*batch, seq_len, d_model)  # (..., L, d_model)
    return merged @ w_o.T


def sinusoidal_positions(seq_len, d_model):
    """Sinusoidal position encodings of Vaswani et al. (2017), ``(seq_len, d_model)``.

    Dimension ``2i`` holds ``sin(pos / 10000^(2i/d_model))`` and ``2i + 1`` the matching cosine.
    """
    positions = torch.arange(seq_len, dtype=torch.float32)[:, None]  # (L, 1)
    even_dims = torch.arange(0, d_model, 2, dtype=torch.float32)  # (ceil(d_model/2),)
    angles = positions / 10000.0 ** (even_dims / d_model)  # (L, ceil(d_model/2))
    encoding = torch.zeros(seq_len, d_model)
    encoding[:, 0::2] = torch.sin(angles)
    encoding[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return encoding


def rope(x, positions, theta=10000.0):
    """Rotary position embedding (Su et al., RoFormer) of ``x`` ``(..., L, d_k)``.

    Each adjacent pair of dimensions ``(2i, 2i+1)`` is rotated by the angle
    ``position * theta^(-2i/d_k)``; ``positions`` holds integer positions ``(..., L)``.
    """
    d_k = x.shape[-1]
    if d_k % 2:
        raise ValueError(f"rope needs an even last dimension, got d_k={d_k}")
    frequencies = theta ** (-torch.arange(0, d_k, 2, dtype=torch.float32, device=x.device) / d_k)
    angles = positions[..., None].to(torch.float32) * frequencies  # (..., L, d_k/2)
    cos, sin = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
    x_even, x_odd = x[..., 0::2], x[..., 1::2]  # (..., L, d_k/2) each
    rotated = torch.stack((x_even * cos - x_odd * sin, x_even * sin + x_odd * cos), dim=-1)
    return rotated.flatten(-2)  # (..., L, d_k)


def layer_norm(x, weight, bias, eps=1e-5):
    """Normalise the last dimension of ``x`` to zero mean and unit variance, then scale and shift."""
    mean = x.mean(dim=-1, keepdim=True)
    variance = x.var(dim=-1, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(variance + eps) * weight + bias


def cross_entropy(logits, targets):
    """Mean negative log-likelihood, in nats per token, of ``targets`` under ``logits``.

    logits: ``(..., vocab_size)``, targets: integer ``(...)``; the mean runs over all positions.
    """
    shifted = logits - logits.amax(dim=-1, keepdim=True)  # the largest becomes exactly 0: no overflow
    log_norm = torch.log(torch.exp(shifted).sum(dim=-1))  # (...)
    target_logits = shifted.gather(-1, targets[..., None]).squeeze(-1)  # (...)
    return (log_norm - target_logits).mean()


def feed_forward(x, w_up, w_down):
    """Position-wise feed-forward network: ``GELU(x @ w_up.T) @ w_down.T``.

    x: ``(..., d_model)``, w_up: ``(d_ff, d_model)``, w_down: ``(d_model, d_ff)``; GELU is the
    exact (erf) form.
    """
    return torch.nn.functional.gelu(x @ w_up.T) @ w_down.T


def transformer_block(x, params, n_heads):
    """One pre-LayerNorm decoder block: causal self-attention, then a feed-forward network.

    Sequential, not parallel: ``h = x + attention(layer_norm_1(x))``, then
    ``h + feed_forward(layer_norm_2(h))``, where ``layer_norm_1`` uses ``ln1_weight`` and
    ``ln1_bias``, and ``layer_norm_2`` uses ``ln2_weight`` and ``ln2_bias``. ``params`` maps
    those four names and ``w_q``, ``w_k``, ``w_v``, ``w_o``, ``w_up`` and ``w_down`` to tensors.
    x: ``(..., L, d_model)``; returns ``(..., L, d_model)``.
    """
    p = params
    normed = layer_norm(x, p["ln1_weight"], p["ln1_bias"])
    x = x + multi_head_self_attention(normed, p["w_q"], p["w_k"], p["w_v"], p["w_o"], n_heads, causal=True)
    normed = layer_norm(x, p["ln2_weight"], p["ln2_bias"])
    return x + feed_forward(normed, p["w_up"], p["w_down"])
