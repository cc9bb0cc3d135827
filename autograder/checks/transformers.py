"""Hidden checks of Chapter 1, Transformers, against torch's own implementations."""

import math

import torch

from autograder.checks import Case, Check, register

# Operators torch's attention runs, whatever path it takes (fused kernels, the math fallback
# with its ``_safe_softmax``, the multi-head fast path), by ATen name and by Python name.
ATTENTION_OPS = (
    "torch.nn.functional.scaled_dot_product_attention", "torch.nn.functional.multi_head_attention_forward",
    "aten.scaled_dot_product_attention", "aten::_fused_sdp_choice", "aten::_safe_softmax",
    "aten::_scaled_dot_product_attention_math", "aten::_scaled_dot_product_flash_attention_for_cpu",
    "aten::_scaled_dot_product_flash_attention", "aten::_scaled_dot_product_efficient_attention",
    "aten::_scaled_dot_product_cudnn_attention", "aten::_scaled_dot_product_fused_attention_overrideable",
    "aten::_native_multi_head_attention", "aten::_transformer_encoder_layer_fwd",
)
# every way torch computes a softmax: its kernels, and attention, which is a softmax of scores
SOFTMAX_OPS = ("aten::_softmax", "aten::_log_softmax", "aten::_masked_softmax", "aten::_sparse_softmax",
               "aten::_sparse_log_softmax") + ATTENTION_OPS


def _softmax_cases(generator):
    """Random shapes and dims, plus rows of huge and tiny scores that overflow a naive softmax."""
    cases = []
    for _ in range(4):
        n_dims = int(torch.randint(1, 4, (1,), generator=generator))
        shape = tuple(int(s) for s in torch.randint(1, 7, (n_dims,), generator=generator))
        scale = float(torch.empty(1).uniform_(0.1, 20.0, generator=generator))
        x = torch.randn(shape, generator=generator) * scale
        dim = int(torch.randint(-n_dims, n_dims, (1,), generator=generator))
        cases.append(Case((x,), {"dim": dim}))
    extreme = torch.randn(3, 5, generator=generator, dtype=torch.float64) * 1e4
    cases.append(Case((extreme,), {"dim": -1}))
    cases.append(Case((torch.randn(4, 6, generator=generator) + 1000.0,), {"dim": 0}))
    cases.append(Case((torch.randn(2, 3, generator=generator) - 1000.0,), {}))
    return cases


register(
    Check(
        name="transformers.softmax",
        function="softmax",
        cases=_softmax_cases,
        reference=lambda x, dim=-1: torch.softmax(x, dim=dim),
        rtol=1e-5,
        atol=1e-6,
        forbid=("softmax", "log_softmax"),
        forbid_ops=SOFTMAX_OPS,
        description="softmax matches torch.softmax on random shapes and dims, including scores of ±1e4",
    )
)


def _randint(generator, low, high):
    """A random integer in ``[low, high]``."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def _batch_shape(generator):
    return tuple(_randint(generator, 1, 3) for _ in range(_randint(generator, 0, 2)))


def _causal_mask_reference(seq_len):
    positions = torch.arange(seq_len)
    return positions[:, None] >= positions[None, :]  # query i sees keys j <= i


register(
    Check(
        name="transformers.causal_mask",
        function="causal_mask",
        cases=lambda g: [Case((n,)) for n in [1, 2] + [_randint(g, 3, 40) for _ in range(4)]],
        reference=_causal_mask_reference,
        rtol=0.0,
        atol=0.0,
        description="causal_mask(L) is the boolean (L, L) matrix with True where key j <= query i",
    )
)


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
        mask = torch.rand(mask_shape, generator=generator) < 0.6
        first_key = torch.randint(k_len, mask_shape[:-1], generator=generator)
        mask.scatter_(-1, first_key[..., None], True)  # every query may attend somewhere
        cases.append(Case((q, k, v), {"mask": mask}))
    return cases


register(
    Check(
        name="transformers.scaled_dot_product_attention",
        function="scaled_dot_product_attention",
        cases=_attention_cases,
        reference=lambda q, k, v, mask=None: torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask),
        rtol=1e-4,
        atol=1e-5,
        forbid=("scaled_dot_product_attention", "MultiheadAttention", "multi_head_attention_forward"),
        forbid_ops=ATTENTION_OPS,
        description="matches torch.nn.functional.scaled_dot_product_attention with and without boolean masks",
    )
)


def _attention_weights(generator, d_model):
    return [torch.randn(d_model, d_model, generator=generator) / d_model**0.5 for _ in range(4)]


def _mha_cases(generator):
    cases = []
    for i in range(5):
        n_heads = _randint(generator, 1, 4)
        d_model = n_heads * _randint(generator, 1, 6)
        x = torch.randn(*_batch_shape(generator)[:1], _randint(generator, 1, 10), d_model, generator=generator)
        cases.append(Case((x, *_attention_weights(generator, d_model), n_heads), {"causal": i % 2 == 0}))
    return cases


def _mha_reference(x, w_q, w_k, w_v, w_o, n_heads, causal=True):
    d_model, seq_len = x.shape[-1], x.shape[-2]
    mha = torch.nn.MultiheadAttention(d_model, n_heads, bias=False, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([w_q, w_k, w_v]))
        mha.out_proj.weight.copy_(w_o)
        mask = ~_causal_mask_reference(seq_len) if causal else None  # torch: True = may NOT attend
        batched = x if x.dim() == 3 else x[None]
        out, _ = mha(batched, batched, batched, attn_mask=mask, need_weights=False)
    return out if x.dim() == 3 else out[0]


register(
    Check(
        name="transformers.multi_head_self_attention",
        function="multi_head_self_attention",
        cases=_mha_cases,
        reference=_mha_reference,
        rtol=1e-4,
        atol=1e-5,
        forbid=("MultiheadAttention", "multi_head_attention_forward", "scaled_dot_product_attention"),
        forbid_ops=ATTENTION_OPS,
        description="matches torch.nn.MultiheadAttention (bias=False) with the same weights, causal or not",
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
    Check(
        name="transformers.sinusoidal_positions",
        function="sinusoidal_positions",
        cases=lambda g: [Case((_randint(g, 1, 50), _randint(g, 1, 24))) for _ in range(4)] + [Case((7, 6)), Case((5, 9))],
        reference=_sinusoidal_reference,
        rtol=1e-5,
        atol=1e-5,
        description="sin on even and cos on odd dimensions at angle pos / 10000^(2i/d_model), odd d_model included",
    )
)


def _rope_reference(x, positions, theta=10000.0):
    """RoPE as complex multiplication: pair (2i, 2i+1) is z_i, rotated by e^{j * pos * theta^(-2i/d)}."""
    d_k = x.shape[-1]
    pairs = torch.view_as_complex(x.double().reshape(*x.shape[:-1], d_k // 2, 2).contiguous())
    frequencies = theta ** (-torch.arange(0, d_k, 2, dtype=torch.float64) / d_k)
    rotation = torch.polar(torch.ones_like(frequencies), positions[..., None].double() * frequencies)
    return torch.view_as_real(pairs * rotation).reshape(x.shape).to(x.dtype)


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
        cases=_rope_cases,
        reference=_rope_reference,
        # positions reach 2047: a float32 angle of ~2000 rad is off by up to ~1.2e-4 rad
        # (2048 * 2^-24), which moves unit-size outputs by a few 1e-4 in any correct answer
        rtol=1e-3,
        atol=1e-3,
        description="rotating adjacent pairs matches multiplying complex numbers by e^(i * position * frequency)",
    )
)


def _block_cases(generator):
    cases = []
    for _ in range(3):
        n_heads = _randint(generator, 1, 4)
        d_model = n_heads * _randint(generator, 2, 6)
        d_ff = 4 * d_model
        x = torch.randn(_randint(generator, 1, 3), _randint(generator, 1, 10), d_model, generator=generator)
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
        cases.append(Case((x, params, n_heads)))
    return cases


def _block_reference(x, params, n_heads):
    """torch.nn.TransformerEncoderLayer, pre-LN, GELU, no dropout, linear biases zero, causal."""
    d_model, seq_len = x.shape[-1], x.shape[-2]
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
        mask = ~_causal_mask_reference(seq_len)
        return layer(x, src_mask=mask)


register(
    Check(
        name="transformers.transformer_block",
        function="transformer_block",
        cases=_block_cases,
        reference=_block_reference,
        rtol=1e-4,
        atol=1e-4,
        forbid=("TransformerEncoderLayer", "TransformerDecoderLayer", "MultiheadAttention"),
        forbid_ops=("torch.nn.functional.multi_head_attention_forward", "aten::_native_multi_head_attention",
                    "aten::_transformer_encoder_layer_fwd"),
        description="matches torch.nn.TransformerEncoderLayer (pre-LN, GELU, causal) with the same weights",
    )
)
