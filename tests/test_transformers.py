"""Chapter 1: the functional transformer pieces in ``solutions.transformers``.

Each function is compared with an independent reference (a torch built-in or a closed form
written out here) on random shapes and seeds. Tolerances are stated per dtype:
float32 results may differ from torch's kernels by summation order only, so they are held to
``FLOAT32`` (a few units in the last place of values near one); float64 to ``FLOAT64``.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from solutions import transformers as T

FLOAT32 = dict(rtol=1e-5, atol=1e-6)
FLOAT64 = dict(rtol=1e-10, atol=1e-12)
TOLERANCE = {torch.float32: FLOAT32, torch.float64: FLOAT64}
SEEDS = [0, 1, 2]


def random_shape(generator, n_dims, low=1, high=7):
    """A random tensor shape with ``n_dims`` sizes drawn from ``[low, high)``."""
    return tuple(torch.randint(low, high, (n_dims,), generator=generator).tolist())


# --- softmax ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_softmax_matches_torch_on_any_dim(seed, dtype):
    generator = torch.Generator().manual_seed(seed)
    shape = random_shape(generator, 3, low=2)
    x = torch.randn(shape, generator=generator, dtype=dtype) * 5
    for dim in range(-3, 3):
        torch.testing.assert_close(T.softmax(x, dim=dim), torch.softmax(x, dim=dim), **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_softmax_is_stable_for_huge_scores(dtype, scale):
    generator = torch.Generator().manual_seed(3)
    x = scale * (1 + torch.rand(4, 9, generator=generator, dtype=dtype))  # every |score| >= 1e4
    x[0] = scale  # a row of ties: exactly uniform
    result = T.softmax(x)
    assert torch.isfinite(result).all(), "softmax overflowed: subtract the row maximum before exp"
    torch.testing.assert_close(result, torch.softmax(x, dim=-1), **TOLERANCE[dtype])
    torch.testing.assert_close(result[0], torch.full((9,), 1 / 9, dtype=dtype), **TOLERANCE[dtype])


def test_softmax_mixes_huge_and_tiny_scores():
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4 + 1.0, -1e4 + 2.0]])
    torch.testing.assert_close(T.softmax(x), torch.softmax(x, dim=-1), **FLOAT32)
    torch.testing.assert_close(T.softmax(x).sum(-1), torch.ones(2), **FLOAT32)


def test_softmax_treats_minus_infinity_as_zero_probability():
    x = torch.tensor([0.0, float("-inf"), 1.0])
    torch.testing.assert_close(T.softmax(x), torch.softmax(x, dim=-1), **FLOAT32)
    assert T.softmax(x)[1] == 0


# --- causal mask -----------------------------------------------------------------------


@pytest.mark.parametrize("seq_len", [1, 2, 5, 16])
def test_causal_mask_is_boolean_lower_triangle(seq_len):
    mask = T.causal_mask(seq_len)
    assert mask.dtype == torch.bool
    assert mask.shape == (seq_len, seq_len)
    assert torch.equal(mask, torch.tril(torch.ones(seq_len, seq_len)).bool())


def test_causal_mask_lets_a_query_see_itself_and_the_past_only():
    mask = T.causal_mask(3)
    assert mask[2, 0] and mask[2, 2], "a query attends to earlier keys and to itself"
    assert not mask[0, 1], "a query must not attend to a later key"


# --- scaled dot-product attention ------------------------------------------------------


def random_qkv(generator, batch, seq_q, seq_k, d_k, d_v, dtype=torch.float32):
    q = torch.randn(*batch, seq_q, d_k, generator=generator, dtype=dtype)
    k = torch.randn(*batch, seq_k, d_k, generator=generator, dtype=dtype)
    v = torch.randn(*batch, seq_k, d_v, generator=generator, dtype=dtype)
    return q, k, v


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("batch", [(), (3,), (2, 4)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_attention_matches_torch_without_mask(seed, batch, dtype):
    generator = torch.Generator().manual_seed(seed)
    seq_q, seq_k, d_k, d_v = random_shape(generator, 4, low=1, high=9)
    q, k, v = random_qkv(generator, batch, seq_q, seq_k, d_k, d_v, dtype)
    expected = F.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(T.scaled_dot_product_attention(q, k, v), expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("batch", [(), (3,), (2, 4)])
def test_attention_matches_torch_with_random_boolean_mask(seed, batch):
    generator = torch.Generator().manual_seed(seed)
    seq_q, seq_k, d_k, d_v = random_shape(generator, 4, low=2, high=9)
    q, k, v = random_qkv(generator, batch, seq_q, seq_k, d_k, d_v)
    mask = torch.rand(*batch, seq_q, seq_k, generator=generator) < 0.5
    mask[..., 0] = True  # every query keeps one key, so no row is fully masked
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(T.scaled_dot_product_attention(q, k, v, mask), expected, **FLOAT32)


@pytest.mark.parametrize("seed", SEEDS)
def test_attention_broadcasts_a_causal_mask_over_batch_dims(seed):
    generator = torch.Generator().manual_seed(seed)
    q, k, v = random_qkv(generator, (2, 3), 6, 6, 8, 5)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    result = T.scaled_dot_product_attention(q, k, v, T.causal_mask(6))
    torch.testing.assert_close(result, expected, **FLOAT32)


def test_attention_ignores_masked_keys():
    generator = torch.Generator().manual_seed(4)
    q, k, v = random_qkv(generator, (), 3, 4, 8, 2)
    mask = torch.tensor([True, True, False, False]).expand(3, 4)
    changed_v = v.clone()
    changed_v[2:] = 1e6  # values behind the mask must not leak into the output
    torch.testing.assert_close(
        T.scaled_dot_product_attention(q, k, changed_v, mask),
        T.scaled_dot_product_attention(q, k[:2], v[:2]),
        **FLOAT32,
    )


# --- multi-head self-attention ---------------------------------------------------------


@pytest.mark.parametrize("n_heads", [1, 2, 4, 8])
@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_attention_matches_torch(n_heads, causal):
    torch.manual_seed(10 + n_heads)
    batch, seq_len, d_model = 3, 7, 32
    reference = torch.nn.MultiheadAttention(d_model, n_heads, bias=False, batch_first=True)
    x = torch.randn(batch, seq_len, d_model)
    w_q, w_k, w_v = reference.in_proj_weight.detach().chunk(3)
    w_o = reference.out_proj.weight.detach()
    # nn.MultiheadAttention's boolean attn_mask is True where attention is *forbidden*.
    attn_mask = ~T.causal_mask(seq_len) if causal else None
    with torch.no_grad():
        expected, _ = reference(x, x, x, attn_mask=attn_mask, need_weights=False)
    result = T.multi_head_self_attention(x, w_q, w_k, w_v, w_o, n_heads, causal=causal)
    torch.testing.assert_close(result, expected, rtol=1e-5, atol=1e-5)


def test_multi_head_attention_works_without_batch_dims():
    torch.manual_seed(5)
    x = torch.randn(4, 12)
    weights = [torch.randn(12, 12) / math.sqrt(12) for _ in range(4)]
    batched = T.multi_head_self_attention(x[None], *weights, n_heads=3)
    torch.testing.assert_close(T.multi_head_self_attention(x, *weights, n_heads=3), batched[0], **FLOAT32)


def test_multi_head_attention_causal_output_ignores_the_future():
    torch.manual_seed(6)
    x = torch.randn(2, 6, 16)
    weights = [torch.randn(16, 16) / 4 for _ in range(4)]
    changed = x.clone()
    changed[:, 4:] = torch.randn(2, 2, 16)  # alter the last two positions only
    before = T.multi_head_self_attention(x, *weights, n_heads=4, causal=True)
    after = T.multi_head_self_attention(changed, *weights, n_heads=4, causal=True)
    torch.testing.assert_close(before[:, :4], after[:, :4], **FLOAT32)
    assert not torch.allclose(before[:, 4:], after[:, 4:])


def test_multi_head_attention_rejects_indivisible_heads():
    x = torch.randn(2, 10)
    weights = [torch.eye(10)] * 4
    with pytest.raises(ValueError, match="divisible"):
        T.multi_head_self_attention(x, *weights, n_heads=3)


# --- sinusoidal positions --------------------------------------------------------------


def sinusoid_closed_form(seq_len, d_model):
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(same angle), in float64."""
    table = torch.empty(seq_len, d_model, dtype=torch.float64)
    for pos in range(seq_len):
        for dim in range(d_model):
            angle = pos / 10000 ** ((dim - dim % 2) / d_model)
            table[pos, dim] = math.sin(angle) if dim % 2 == 0 else math.cos(angle)
    return table


@pytest.mark.parametrize("seq_len, d_model", [(1, 2), (16, 8), (50, 32), (9, 7), (20, 1)])
def test_sinusoidal_positions_match_closed_form(seq_len, d_model):
    result = T.sinusoidal_positions(seq_len, d_model)
    assert result.shape == (seq_len, d_model)
    # float32 angles up to ~50 rad carry an absolute error of about 50 * 6e-8.
    torch.testing.assert_close(result.double(), sinusoid_closed_form(seq_len, d_model), rtol=0, atol=1e-5)


def test_sinusoidal_position_zero_is_sin_zero_cos_zero():
    row = T.sinusoidal_positions(3, 6)[0]
    assert torch.equal(row, torch.tensor([0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))


# --- rotary position embedding ---------------------------------------------------------


def rope_complex(x, positions, theta=10000.0):
    """RoPE as complex multiplication: pair (x_2i, x_2i+1) is x_2i + i x_2i+1, times e^{i pos theta_i}."""
    d_k = x.shape[-1]
    pairs = torch.view_as_complex(x.double().reshape(*x.shape[:-1], d_k // 2, 2).contiguous())
    frequencies = theta ** (-2 * torch.arange(d_k // 2, dtype=torch.float64) / d_k)  # theta_i
    angles = positions.double()[..., None] * frequencies  # (..., L, d_k/2)
    rotated = pairs * torch.polar(torch.ones_like(angles), angles)
    return torch.view_as_real(rotated).flatten(-2)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("batch", [(), (2,), (2, 3)])
@pytest.mark.parametrize("d_k", [2, 8, 64])
def test_rope_matches_complex_rotation(seed, batch, d_k):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(*batch, 5, d_k, generator=generator)
    positions = torch.randint(0, 100, (*batch, 5), generator=generator)
    expected = rope_complex(x, positions).float()
    # angles up to 100 rad are computed in float32: absolute error about 100 * 6e-8 per factor.
    torch.testing.assert_close(T.rope(x, positions), expected, rtol=0, atol=5e-5)


def test_rope_uses_the_theta_argument():
    x = torch.randn(1, 3, 8, generator=torch.Generator().manual_seed(1))
    positions = torch.arange(3)[None]
    torch.testing.assert_close(T.rope(x, positions, theta=500.0), rope_complex(x, positions, 500.0).float(), **FLOAT32)


def test_rope_preserves_norms_and_position_zero():
    x = torch.randn(4, 10, 16, generator=torch.Generator().manual_seed(2))
    positions = torch.arange(10).expand(4, 10)
    rotated = T.rope(x, positions)
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1), **FLOAT32)
    torch.testing.assert_close(rotated[:, 0], x[:, 0], rtol=0, atol=0)


@pytest.mark.parametrize("seed", SEEDS)
def test_rope_score_depends_only_on_relative_offset(seed):
    generator = torch.Generator().manual_seed(seed)
    q, k = torch.randn(2, 32, generator=generator, dtype=torch.float64)
    m, n = torch.randint(0, 50, (2,), generator=generator).tolist()

    def score(query_pos, key_pos):
        q_rot = T.rope(q[None], torch.tensor([query_pos]))[0]
        k_rot = T.rope(k[None], torch.tensor([key_pos]))[0]
        return (q_rot @ k_rot).item()

    for shift in [1, 7, 300]:
        assert score(m + shift, n + shift) == pytest.approx(score(m, n), abs=1e-4)
    assert score(m + 1, n) != pytest.approx(score(m, n), abs=1e-4), "the offset must change the score"


def test_rope_rejects_odd_dimension():
    with pytest.raises(ValueError, match="even"):
        T.rope(torch.randn(3, 5), torch.arange(3))


# --- layer norm ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("eps", [1e-5, 1e-2])
def test_layer_norm_matches_torch(seed, eps):
    generator = torch.Generator().manual_seed(seed)
    *batch, d_model = random_shape(generator, 3, low=2, high=9)
    x = torch.randn(*batch, d_model, generator=generator) * 3 + 2
    weight = torch.randn(d_model, generator=generator)
    bias = torch.randn(d_model, generator=generator)
    expected = F.layer_norm(x, (d_model,), weight, bias, eps)
    torch.testing.assert_close(T.layer_norm(x, weight, bias, eps), expected, rtol=1e-5, atol=1e-5)


def test_layer_norm_output_has_zero_mean_unit_variance():
    x = torch.randn(6, 64, generator=torch.Generator().manual_seed(7)) * 10 - 4
    out = T.layer_norm(x, torch.ones(64), torch.zeros(64))
    torch.testing.assert_close(out.mean(-1), torch.zeros(6), rtol=0, atol=1e-5)
    torch.testing.assert_close(out.var(-1, unbiased=False), torch.ones(6), rtol=0, atol=1e-4)


# --- cross-entropy ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("batch", [(5,), (2, 7), (2, 3, 4)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cross_entropy_matches_torch(seed, batch, dtype):
    generator = torch.Generator().manual_seed(seed)
    vocab_size = int(torch.randint(2, 50, (1,), generator=generator))
    logits = torch.randn(*batch, vocab_size, generator=generator, dtype=dtype) * 4
    targets = torch.randint(0, vocab_size, batch, generator=generator)
    expected = F.cross_entropy(logits.reshape(-1, vocab_size), targets.reshape(-1))
    torch.testing.assert_close(T.cross_entropy(logits, targets), expected, **TOLERANCE[dtype])


def test_cross_entropy_is_stable_for_huge_logits():
    logits = torch.tensor([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4 + 3.0]])
    targets = torch.tensor([0, 1])
    result = T.cross_entropy(logits, targets)
    assert torch.isfinite(result), "cross_entropy overflowed: use logsumexp, not log(sum(exp))"
    # logsumexp(logits) - target_logit cancels two numbers near 1e4, whose float32 spacing is
    # about 1e-3; torch's log_softmax subtracts the maximum first and avoids that rounding.
    float32_spacing_at_1e4 = 1e4 * torch.finfo(torch.float32).eps
    torch.testing.assert_close(result, F.cross_entropy(logits, targets), rtol=0, atol=float32_spacing_at_1e4)


def test_cross_entropy_of_uniform_logits_is_log_vocab_size():
    logits = torch.zeros(4, 3, 11)
    targets = torch.randint(0, 11, (4, 3), generator=torch.Generator().manual_seed(8))
    assert T.cross_entropy(logits, targets).item() == pytest.approx(math.log(11), rel=1e-6)
