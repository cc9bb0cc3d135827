"""Hidden checks of Chapter 1, Transformers, against torch's own implementations.

Every check runs its labelled edge cases (the same under every key: the boundaries each part's
instructions promise) before its random cases.
"""

import math

import torch

from autograder.checks import Case, Check, ExactDtypeCheck, register

# Operators torch's attention runs, whatever path it takes (fused kernels, the math fallback
# with its ``_safe_softmax``, the multi-head fast path), by ATen name and by Python name.
ATTENTION_OPS = (
    "torch.nn.functional.scaled_dot_product_attention", "torch.nn.functional.multi_head_attention_forward",
    "aten::scaled_dot_product_attention", "aten::_fused_sdp_choice", "aten::_safe_softmax",
    "aten::_scaled_dot_product_attention_math", "aten::_scaled_dot_product_flash_attention_for_cpu",
    "aten::_scaled_dot_product_flash_attention", "aten::_scaled_dot_product_efficient_attention",
    "aten::_scaled_dot_product_cudnn_attention", "aten::_scaled_dot_product_fused_attention_overrideable",
    "aten::_native_multi_head_attention", "aten::_transformer_encoder_layer_fwd",
)
# every way torch computes a softmax: its kernels, and attention, which is a softmax of scores
SOFTMAX_OPS = ("aten::_softmax", "aten::_log_softmax", "aten::_masked_softmax", "aten::_sparse_softmax",
               "aten::_sparse_log_softmax") + ATTENTION_OPS


def _randint(generator, low, high):
    """A random integer in ``[low, high]``."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def _batch_shape(generator):
    return tuple(_randint(generator, 1, 3) for _ in range(_randint(generator, 0, 2)))


def _softmax_edges(generator):
    def randn(*shape):
        return torch.randn(*shape, generator=generator)

    inf = float("inf")
    return [
        Case((randn(7),), label="a 1-D input, dim left at its default"),
        Case((randn(4, 4),), {"dim": -1}, label="a square matrix along its last dim"),
        Case((randn(4, 4),), {"dim": 0}, label="a square matrix along dim 0"),
        Case((randn(2, 3, 5),), {"dim": 1}, label="the middle dimension of a 3-D input"),
        Case((randn(3, 6).double() * 1e4,), {"dim": -1}, label="float64 scores of ±1e4, where exp overflows"),
        Case((torch.stack([randn(6) + 1000.0, randn(6) - 1000.0]),), {"dim": -1},
             label="one row near +1000 and one near -1000: each slice needs its own maximum"),
        Case((randn(5, 2) - 1000.0,), {"dim": 0}, label="every score near -1000, where exp underflows to 0"),
        Case((torch.tensor([[2.0, 2.0, 2.0, 2.0], [-3.0, -3.0, -3.0, -3.0]]),), label="tied scores"),
        Case((torch.tensor([[0.5, -inf, 1.0], [-inf, 5.0, -inf]]),), label="-inf scores get probability 0"),
    ]


def _softmax_cases(generator):
    """Random shapes and dims, plus rows of huge and tiny scores that overflow a naive softmax."""
    cases = []
    for _ in range(4):
        n_dims = _randint(generator, 1, 3)
        shape = tuple(_randint(generator, 1, 6) for _ in range(n_dims))
        scale = float(torch.empty(1).uniform_(0.1, 20.0, generator=generator))
        x = torch.randn(shape, generator=generator) * scale
        dim = _randint(generator, -n_dims, n_dims - 1)
        cases.append(Case((x,), {"dim": dim}))
    cases.append(Case((torch.randn(3, 5, generator=generator, dtype=torch.float64) * 1e4,), {"dim": -1}))
    cases.append(Case((torch.randn(4, 6, generator=generator) + 1000.0,), {"dim": 0}))
    return cases


register(
    Check(
        name="transformers.softmax",
        function="softmax",
        edge_cases=_softmax_edges,
        cases=_softmax_cases,
        reference=lambda x, dim=-1: torch.softmax(x, dim=dim),
        # scores near ±1000 carry float32 rounding of up to 2^-14 (6e-5) into exp, so a correct
        # exp(x - logsumexp(x)) is off by that much relative to the max-shift form
        rtol=1e-4,
        atol=1e-6,
        forbid=("softmax", "log_softmax"),
        forbid_ops=SOFTMAX_OPS,
        description="softmax matches torch.softmax along every dim, including scores of ±1e4, "
                    "rows a thousand apart and -inf scores",
    )
)


def _causal_mask_reference(seq_len):
    positions = torch.arange(seq_len)
    return positions[:, None] >= positions[None, :]  # query i sees keys j <= i


register(
    Check(
        name="transformers.causal_mask",
        function="causal_mask",
        edge_cases=lambda g: [Case((1,), label="a single position"), Case((2,), label="two positions"),
                              Case((5,), label="an odd length")],
        cases=lambda g: [Case((_randint(g, 3, 40),)) for _ in range(4)],
        reference=_causal_mask_reference,
        rtol=0.0,
        atol=0.0,
        description="causal_mask(L) is the boolean (L, L) matrix with True where key j <= query i",
    )
)


def _one_key_per_query(generator, shape):
    """A boolean mask of ``shape`` (..., L, S) with True at one random key of every query."""
    mask = torch.zeros(shape, dtype=torch.bool)
    mask.scatter_(-1, torch.randint(shape[-1], (*shape[:-1], 1), generator=generator), True)
    return mask


def _random_mask(generator, shape):
    """A random boolean mask in which every query may attend at least one key."""
    return (torch.rand(shape, generator=generator) < 0.6) | _one_key_per_query(generator, shape)


def _attention_edges(generator):
    def randn(*shape):
        return torch.randn(*shape, generator=generator)

    equal_keys = -100.0 * torch.ones(5, 4)  # every score is -20000: masked keys would win over a fill of -1e4
    return [
        Case((randn(4, 3), randn(6, 3), randn(6, 5)), label="unbatched, 4 queries over 6 keys, d_k=3, d_v=5"),
        Case((randn(2, 5, 16), randn(2, 7, 16), randn(2, 7, 3)), label="batched (batch, L, d_k), d_k=16 != d_v=3"),
        Case((randn(2, 3, 4, 8), randn(2, 3, 4, 8), randn(2, 3, 4, 8)),
             {"mask": _causal_mask_reference(4)}, label="a causal (L, S) mask broadcast over two batch dims"),
        Case((randn(2, 4, 6), randn(2, 5, 6), randn(2, 5, 2)), {"mask": _random_mask(generator, (2, 4, 5))},
             label="a mask with the batch dim, (batch, L, S)"),
        Case((randn(3, 4), randn(5, 4), randn(5, 3)), {"mask": _one_key_per_query(generator, (3, 5))},
             label="each query may attend one key only"),
        Case((randn(3, 4), randn(5, 4), randn(5, 3)), {"mask": torch.ones(3, 5, dtype=torch.bool)},
             label="a mask that allows every key"),
        Case((100.0 * torch.ones(3, 4), equal_keys, randn(5, 2)), {"mask": _random_mask(generator, (3, 5))},
             label="masked keys get zero weight even when every score is -20000",
             # float32 holds -20000 to within 1e-3, so a correct log-sum-exp moves the weights by ~1e-3
             tolerance=(2e-3, 2e-3)),
    ]


def _attention_cases(generator):
    cases = []
    for i in range(6):
        batch = _batch_shape(generator)
        q_len, k_len = _randint(generator, 1, 9), _randint(generator, 1, 9)
        d_k, d_v = _randint(generator, 1, 16), _randint(generator, 1, 16)
        q = torch.randn(*batch, q_len, d_k, generator=generator)
        k = torch.randn(*batch, k_len, d_k, generator=generator)
        v = torch.randn(*batch, k_len, d_v, generator=generator)
        if i % 3 == 0:
            cases.append(Case((q, k, v)))
            continue
        mask_shape = (*batch, q_len, k_len) if i % 3 == 1 else (q_len, k_len)
        cases.append(Case((q, k, v), {"mask": _random_mask(generator, mask_shape)}))
    return cases


register(
    Check(
        name="transformers.scaled_dot_product_attention",
        function="scaled_dot_product_attention",
        edge_cases=_attention_edges,
        cases=_attention_cases,
        reference=lambda q, k, v, mask=None: torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask),
        rtol=1e-4,
        atol=1e-5,
        forbid=("scaled_dot_product_attention", "MultiheadAttention", "multi_head_attention_forward"),
        forbid_ops=ATTENTION_OPS,
        description="matches torch.nn.functional.scaled_dot_product_attention, unbatched and batched, d_k != d_v, "
                    "with and without boolean masks (True = may attend)",
    )
)


def _attention_weights(generator, d_model):
    return [torch.randn(d_model, d_model, generator=generator) / d_model**0.5 for _ in range(4)]


def _mha_case(generator, shape, n_heads, label="", **kwargs):
    return Case((torch.randn(shape, generator=generator), *_attention_weights(generator, shape[-1]), n_heads),
                kwargs, label=label)


def _mha_edges(generator):
    return [
        _mha_case(generator, (5, 8), 2, "unbatched (L, d_model), causal", causal=True),
        _mha_case(generator, (5, 8), 2, "unbatched (L, d_model), not causal", causal=False),
        _mha_case(generator, (2, 6, 12), 3, "batched (batch, L, d_model), causal", causal=True),
        _mha_case(generator, (2, 6, 12), 4, "batched (batch, L, d_model), not causal", causal=False),
        _mha_case(generator, (2, 3, 4, 6), 2, "two batch dims (batch, heads of a group, L, d_model)", causal=True),
        _mha_case(generator, (2, 5, 6), 1, "one head of all d_model dimensions", causal=True),
        _mha_case(generator, (2, 5, 6), 6, "six heads of one dimension each", causal=False),
        _mha_case(generator, (3, 1, 8), 2, "a single position", causal=True),
        _mha_case(generator, (2, 4, 8), 2, "causal left at its default (True)"),
    ]


def _mha_cases(generator):
    cases = []
    for i in range(5):
        n_heads = _randint(generator, 1, 4)
        shape = (*_batch_shape(generator)[:1], _randint(generator, 1, 10), n_heads * _randint(generator, 1, 6))
        cases.append(_mha_case(generator, shape, n_heads, causal=i % 2 == 0))
    return cases


def _mha_reference(x, w_q, w_k, w_v, w_o, n_heads, causal=True):
    """torch.nn.MultiheadAttention without biases, on ``x`` with its batch dims flattened into one."""
    *batch, seq_len, d_model = x.shape
    mha = torch.nn.MultiheadAttention(d_model, n_heads, bias=False, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([w_q, w_k, w_v]))
        mha.out_proj.weight.copy_(w_o)
        mask = ~_causal_mask_reference(seq_len) if causal else None  # torch's nn: True = may NOT attend
        flat = x.reshape(-1, seq_len, d_model)  # (prod(batch) or 1, L, d_model)
        out, _ = mha(flat, flat, flat, attn_mask=mask, need_weights=False)
    return out.reshape(x.shape)


register(
    Check(
        name="transformers.multi_head_self_attention",
        function="multi_head_self_attention",
        edge_cases=_mha_edges,
        cases=_mha_cases,
        reference=_mha_reference,
        rtol=1e-4,
        atol=1e-5,
        forbid=("MultiheadAttention", "multi_head_attention_forward", "scaled_dot_product_attention"),
        forbid_ops=ATTENTION_OPS,
        description="matches torch.nn.MultiheadAttention (bias=False) with the same weights, causal or not, "
                    "unbatched and batched, from one head to one dimension per head",
    )
)


def _sinusoidal_reference(seq_len, d_model):
    """The closed form of Vaswani et al. (2017), one entry at a time in float64."""
    table = torch.empty(seq_len, d_model, dtype=torch.float64)
    for pos in range(seq_len):
        for dim in range(d_model):
            angle = pos / 10000 ** ((dim - dim % 2) / d_model)
            table[pos, dim] = math.sin(angle) if dim % 2 == 0 else math.cos(angle)
    return table.float()


register(
    ExactDtypeCheck(
        name="transformers.sinusoidal_positions",
        function="sinusoidal_positions",
        edge_cases=lambda g: [Case((1, 4), label="a single position"),
                              Case((6, 1), label="d_model = 1: one sine column"),
                              Case((5, 2), label="d_model = 2: one sine and one cosine"),
                              Case((9, 7), label="an odd d_model"),
                              Case((64, 8), label="positions up to 63, d_model = 8")],
        cases=lambda g: [Case((_randint(g, 1, 50), _randint(g, 1, 24))) for _ in range(4)],
        reference=_sinusoidal_reference,
        rtol=1e-5,
        atol=1e-5,
        description="a float32 table: sin on even and cos on odd dimensions at angle pos / 10000^(2i/d_model), "
                    "odd d_model included",
    )
)


def _rope_reference(x, positions, theta=10000.0):
    """RoPE as complex multiplication: pair (2i, 2i+1) is z_i, rotated by e^{j * pos * theta^(-2i/d)}."""
    d_k = x.shape[-1]
    pairs = torch.view_as_complex(x.double().reshape(*x.shape[:-1], d_k // 2, 2).contiguous())
    frequencies = theta ** (-torch.arange(0, d_k, 2, dtype=torch.float64) / d_k)
    rotation = torch.polar(torch.ones_like(frequencies), positions[..., None].double() * frequencies)
    return torch.view_as_real(pairs * rotation).reshape(x.shape).to(x.dtype)


def _rope_edges(generator):
    def randn(*shape):
        return torch.randn(*shape, generator=generator)

    return [
        Case((randn(5, 8), torch.tensor([7, 3, 3, 0, 100])), label="positions out of order, repeated, not from 0"),
        Case((randn(2, 3, 6, 4), torch.randint(0, 50, (2, 3, 6), generator=generator)),
             label="batched (batch, heads, L, d_k)"),
        Case((randn(4, 2), torch.arange(4)), label="d_k = 2: one pair"),
        Case((randn(3, 6), torch.arange(3) + 1), label="d_k = 6"),
        Case((randn(2, 4, 8), torch.randint(0, 50, (2, 4), generator=generator)), {"theta": 500.0},
             label="theta = 500 instead of the default"),
        Case((randn(4, 8), torch.tensor([1000, 1500, 2000, 2047])), label="positions up to 2047, theta left at 10000"),
    ]


def _rope_cases(generator):
    cases = []
    for i in range(5):
        batch = _batch_shape(generator)
        seq_len, d_k = _randint(generator, 1, 12), 2 * _randint(generator, 1, 8)
        x = torch.randn(*batch, seq_len, d_k, generator=generator)
        positions = torch.randint(0, 2048, (*batch, seq_len), generator=generator)
        kwargs = {"theta": float(_randint(generator, 100, 20000))} if i % 2 else {}
        cases.append(Case((x, positions), kwargs))
    return cases


register(
    Check(
        name="transformers.rope",
        function="rope",
        edge_cases=_rope_edges,
        cases=_rope_cases,
        reference=_rope_reference,
        # positions reach 2047: a float32 angle of ~2000 rad is off by up to ~1.2e-4 rad
        # (2048 * 2^-24), which moves unit-size outputs by a few 1e-4 in any correct answer
        rtol=1e-3,
        atol=1e-3,
        description="rotating adjacent pairs matches multiplying complex numbers by e^(i * position * frequency), "
                    "for any positions and theta",
    )
)


def _block_case(generator, shape, n_heads, label="", spread=1.0):
    """A block's input of ``shape`` (..., L, d_model) times ``spread``, with random weights and
    layer-norm parameters."""
    d_model = shape[-1]
    d_ff = 4 * d_model
    w_q, w_k, w_v, w_o = _attention_weights(generator, d_model)
    params = {
        "ln1_weight": 1 + 0.1 * torch.randn(d_model, generator=generator),
        "ln1_bias": 0.1 * torch.randn(d_model, generator=generator),
        "w_q": w_q, "w_k": w_k, "w_v": w_v, "w_o": w_o,
        "ln2_weight": 1 + 0.1 * torch.randn(d_model, generator=generator),
        "ln2_bias": 0.1 * torch.randn(d_model, generator=generator),
        "w_up": torch.randn(d_ff, d_model, generator=generator) / d_model**0.5,
        "w_down": torch.randn(d_model, d_ff, generator=generator) / d_ff**0.5,
    }
    return Case((spread * torch.randn(shape, generator=generator), params, n_heads), label=label)


def _block_edges(generator):
    return [
        _block_case(generator, (5, 8), 2, "unbatched (L, d_model)"),
        _block_case(generator, (2, 6, 12), 3, "batched (batch, L, d_model)"),
        _block_case(generator, (2, 4, 6), 1, "one head"),
        _block_case(generator, (3, 1, 8), 2, "a single position"),
        _block_case(generator, (2, 5, 8), 2, "features that vary by ~1e-3, where layer norm's eps matters",
                    spread=1e-3),
    ]


def _block_cases(generator):
    cases = []
    for _ in range(3):
        n_heads = _randint(generator, 1, 4)
        shape = (_randint(generator, 1, 3), _randint(generator, 1, 10), n_heads * _randint(generator, 2, 6))
        cases.append(_block_case(generator, shape, n_heads))
    return cases


def _block_reference(x, params, n_heads):
    """torch.nn.TransformerEncoderLayer, pre-LN, GELU, no dropout, linear biases zero, causal."""
    *batch, seq_len, d_model = x.shape
    layer = torch.nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward=params["w_up"].shape[0],
                                             dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
    layer.eval()
    with torch.no_grad():
        for name, tensor in layer.named_parameters():
            if name.endswith("bias") and not name.startswith("norm"):
                tensor.zero_()
        layer.self_attn.in_proj_weight.copy_(torch.cat([params["w_q"], params["w_k"], params["w_v"]]))
        layer.self_attn.out_proj.weight.copy_(params["w_o"])
        layer.norm1.weight.copy_(params["ln1_weight"])
        layer.norm1.bias.copy_(params["ln1_bias"])
        layer.norm2.weight.copy_(params["ln2_weight"])
        layer.norm2.bias.copy_(params["ln2_bias"])
        layer.linear1.weight.copy_(params["w_up"])
        layer.linear2.weight.copy_(params["w_down"])
        mask = ~_causal_mask_reference(seq_len)  # torch's nn: True = may NOT attend
        flat = x.reshape(-1, seq_len, d_model)  # (prod(batch) or 1, L, d_model)
        return layer(flat, src_mask=mask).reshape(x.shape)


register(
    Check(
        name="transformers.transformer_block",
        function="transformer_block",
        edge_cases=_block_edges,
        cases=_block_cases,
        reference=_block_reference,
        rtol=1e-4,
        atol=1e-4,
        forbid=("TransformerEncoderLayer", "TransformerDecoderLayer", "MultiheadAttention"),
        forbid_ops=("torch.nn.functional.multi_head_attention_forward", "aten::_native_multi_head_attention",
                    "aten::_transformer_encoder_layer_fwd"),
        description="matches torch.nn.TransformerEncoderLayer (sequential pre-LN, GELU, causal) with the same "
                    "weights, unbatched and batched, including inputs of tiny variance",
    )
)
