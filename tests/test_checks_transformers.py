"""Chapter 1's hidden checks pass the reference and fail plausible wrong answers."""

import math

import pytest
import torch

import solutions.transformers as T
from autograder.checks import check, draw_cases, get


@pytest.mark.parametrize("name", ["softmax", "causal_mask", "scaled_dot_product_attention",
                                  "multi_head_self_attention", "sinusoidal_positions", "rope", "transformer_block"])
def test_reference_passes(name):
    for _ in range(3):  # fresh random cases each time
        check(f"transformers.{name}", getattr(T, name))


@pytest.mark.parametrize("name", ["softmax", "causal_mask", "scaled_dot_product_attention",
                                  "multi_head_self_attention", "sinusoidal_positions", "rope", "transformer_block"])
def test_reference_passes_on_many_seeds(name):
    """Tolerances leave room for float32 rounding: the reference passes every seed, not just most."""
    check_ = get(f"transformers.{name}")
    function = getattr(T, name)
    for seed in range(150):
        for case in draw_cases(check_, seed):
            reason = check_.compare(case, function(*case.args, **case.kwargs))
            assert reason is None, f"seed {seed}, {case.describe()}: {reason}"


def naive_softmax(x, dim=-1):
    return torch.exp(x) / torch.exp(x).sum(dim=dim, keepdim=True)


def upper_mask(seq_len):
    return torch.ones(seq_len, seq_len, dtype=torch.bool).triu()


def unscaled_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return T.softmax(scores) @ v


def mask_ignored_attention(q, k, v, mask=None):
    return T.scaled_dot_product_attention(q, k, v)


def heads_split_wrong(x, w_q, w_k, w_v, w_o, n_heads, causal=True):
    *batch, seq_len, d_model = x.shape
    # splits the sequence instead of the features: shapes work, numbers do not
    q, k, v = ((x @ w.T).reshape(*batch, n_heads, seq_len, d_model // n_heads) for w in (w_q, w_k, w_v))
    mask = T.causal_mask(seq_len) if causal else None
    out = T.scaled_dot_product_attention(q, k, v, mask)
    return out.reshape(*batch, seq_len, d_model) @ w_o.T


def no_output_projection(x, w_q, w_k, w_v, w_o, n_heads, causal=True):
    eye = torch.eye(x.shape[-1])
    return T.multi_head_self_attention(x, w_q, w_k, w_v, eye, n_heads, causal)


def swapped_sin_cos(seq_len, d_model):
    pe = T.sinusoidal_positions(seq_len, d_model + 1)[:, 1:]
    return pe


def rope_halves(x, positions, theta=10000.0):
    d_k = x.shape[-1]
    freqs = theta ** (-torch.arange(0, d_k, 2, dtype=torch.float32) / d_k)
    angles = positions[..., None].float() * freqs
    first, second = x[..., : d_k // 2], x[..., d_k // 2:]
    return torch.cat((first * angles.cos() - second * angles.sin(), first * angles.sin() + second * angles.cos()), -1)


def post_ln_block(x, p, n_heads):
    x = T.layer_norm(x + T.multi_head_self_attention(x, p["w_q"], p["w_k"], p["w_v"], p["w_o"], n_heads),
                     p["ln1_weight"], p["ln1_bias"])
    return T.layer_norm(x + T.feed_forward(x, p["w_up"], p["w_down"]), p["ln2_weight"], p["ln2_bias"])


@pytest.mark.parametrize("name, wrong", [
    ("softmax", naive_softmax),
    ("softmax", lambda x, dim=-1: T.softmax(x, dim=0)),
    ("causal_mask", upper_mask),
    ("causal_mask", lambda n: T.causal_mask(n).float()),
    ("scaled_dot_product_attention", unscaled_attention),
    ("scaled_dot_product_attention", mask_ignored_attention),
    ("multi_head_self_attention", heads_split_wrong),
    ("multi_head_self_attention", no_output_projection),
    ("multi_head_self_attention", lambda x, *w, causal=True: T.multi_head_self_attention(x, *w, causal=True)),
    ("sinusoidal_positions", swapped_sin_cos),
    ("rope", rope_halves),
    ("rope", lambda x, positions, theta=10000.0: T.rope(x, positions)),
    ("transformer_block", post_ln_block),
])
def test_wrong_answer_fails(name, wrong):
    with pytest.raises(AssertionError):
        for _ in range(3):
            check(f"transformers.{name}", wrong)


def test_hard_coded_answer_fails():
    recorded = T.softmax(torch.tensor([[1.0, 2.0, 3.0]]))
    with pytest.raises(AssertionError):
        check("transformers.softmax", lambda x, dim=-1: recorded)
    assert math.isclose(recorded.sum().item(), 1.0, rel_tol=1e-6)
