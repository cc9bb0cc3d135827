"""Chapter 1, Transformers: plausible wrong answers to every autograded part, and an independent
right one each (see ``mistakes/__init__.py``)."""

ASSIGNMENT = "01-transformers"

RIGHT = {
    "softmax": '''
def softmax(x, dim=-1):
    # exp(x - logsumexp(x)): the log-sum-exp trick, stable for any scores
    return torch.exp(x - torch.logsumexp(x, dim=dim, keepdim=True))
''',
    "causal_mask": '''
def causal_mask(seq_len):
    rows = torch.arange(seq_len).unsqueeze(1)
    cols = torch.arange(seq_len).unsqueeze(0)
    return cols <= rows
''',
    "scaled_dot_product_attention": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = torch.einsum("...ld,...sd->...ls", q / math.sqrt(q.size(-1)), k)
    if mask is not None:
        scores = torch.where(mask, scores, torch.tensor(float("-inf")))
    return softmax(scores, dim=-1) @ v
''',
    "multi_head_self_attention": '''
def multi_head_self_attention(x, w_q, w_k, w_v, w_o, n_heads, causal=True):
    # one head at a time, on contiguous slices of the projections
    head_size = x.shape[-1] // n_heads
    q, k, v = x @ w_q.T, x @ w_k.T, x @ w_v.T
    mask = causal_mask(x.shape[-2]) if causal else None
    heads = []
    for h in range(n_heads):
        cols = slice(h * head_size, (h + 1) * head_size)
        heads.append(scaled_dot_product_attention(q[..., cols], k[..., cols], v[..., cols], mask))
    return torch.cat(heads, dim=-1) @ w_o.T
''',
    "sinusoidal_positions": '''
def sinusoidal_positions(seq_len, d_model):
    table = torch.zeros(seq_len, d_model)
    for pos in range(seq_len):
        for i in range(0, d_model, 2):
            angle = pos * math.exp(-math.log(10000.0) * i / d_model)
            table[pos, i] = math.sin(angle)
            if i + 1 < d_model:
                table[pos, i + 1] = math.cos(angle)
    return table
''',
    "rope": '''
def rope(x, positions, theta=10000.0):
    d_k = x.shape[-1]
    i = torch.arange(d_k // 2, dtype=torch.float64)
    angles = positions.unsqueeze(-1).double() * theta ** (-2 * i / d_k)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    pairs = x.reshape(*x.shape[:-1], d_k // 2, 2)
    a, b = pairs[..., 0], pairs[..., 1]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).reshape(x.shape)
''',
    "transformer_block": '''
def transformer_block(x, params, n_heads):
    attn_in = layer_norm(x, params["ln1_weight"], params["ln1_bias"])
    h = x + multi_head_self_attention(attn_in, params["w_q"], params["w_k"], params["w_v"], params["w_o"], n_heads)
    ffn_in = layer_norm(h, params["ln2_weight"], params["ln2_bias"])
    return h + feed_forward(ffn_in, params["w_up"], params["w_down"])
''',
}

MISTAKES = {
    "softmax": {
        "no shift: exp overflows for large scores": '''
def softmax(x, dim=-1):
    e = torch.exp(x)
    return e / e.sum(dim=dim, keepdim=True)
''',
        "shift by the maximum of the whole tensor, not of each slice": '''
def softmax(x, dim=-1):
    e = torch.exp(x - x.max())
    return e / e.sum(dim=dim, keepdim=True)
''',
        "maximum taken without keepdim": '''
def softmax(x, dim=-1):
    e = torch.exp(x - x.amax(dim=dim))
    return e / e.sum(dim=dim, keepdim=True)
''',
        "shift by the mean instead of the maximum": '''
def softmax(x, dim=-1):
    e = torch.exp(x - x.mean(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)
''',
        "dim ignored: always the last dimension": '''
def softmax(x, dim=-1):
    e = torch.exp(x - x.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)
''',
        "clamps scores before exp instead of shifting them": '''
def softmax(x, dim=-1):
    e = torch.exp(x.clamp(-80.0, 80.0))
    return e / e.sum(dim=dim, keepdim=True)
''',
        "sums over dim 0 whatever dim is": '''
def softmax(x, dim=-1):
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=0, keepdim=True)
''',
        "shifted and exponentiated in place: the caller's scores change": '''
def softmax(x, dim=-1):
    x -= torch.logsumexp(x, dim=dim, keepdim=True)
    return x.exp_()
''',
    },
    "causal_mask": {
        "upper triangle: the future instead of the past": '''
def causal_mask(seq_len):
    return torch.triu(torch.ones(seq_len, seq_len)).bool()
''',
        "diagonal excluded: a token may not attend to itself": '''
def causal_mask(seq_len):
    return torch.tril(torch.ones(seq_len, seq_len), diagonal=-1).bool()
''',
        "one token of lookahead": '''
def causal_mask(seq_len):
    return torch.tril(torch.ones(seq_len, seq_len), diagonal=1).bool()
''',
        "nn.MultiheadAttention's convention: True where attention is forbidden": '''
def causal_mask(seq_len):
    return torch.triu(torch.ones(seq_len, seq_len, dtype=torch.bool), diagonal=1)
''',
        "a float mask of ones and zeros": '''
def causal_mask(seq_len):
    return torch.tril(torch.ones(seq_len, seq_len))
''',
        "an additive mask of 0 and -inf": '''
def causal_mask(seq_len):
    return torch.triu(torch.full((seq_len, seq_len), float("-inf")), diagonal=1)
''',
    },
    "scaled_dot_product_attention": {
        "no scaling": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return softmax(scores, dim=-1) @ v
''',
        "divides by d_k instead of its square root": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / q.shape[-1]
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return softmax(scores, dim=-1) @ v
''',
        "scales by the square root of d_v": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(v.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return softmax(scores, dim=-1) @ v
''',
        "d_k read from a hard-coded axis (q.size(1))": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    d_k = q.size(1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return softmax(scores, dim=-1) @ v
''',
        "masks with -10000 instead of -inf": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask == 0, -10000.0)
    return softmax(scores, dim=-1) @ v
''',
        "inverted mask: fills where the mask is True": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    return softmax(scores, dim=-1) @ v
''',
        "masked scores set to 0 instead of -inf": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores * mask
    return softmax(scores, dim=-1) @ v
''',
        "softmax over the queries instead of the keys": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return softmax(scores, dim=-2) @ v
''',
        "mask applied after the softmax, without renormalising": '''
def scaled_dot_product_attention(q, k, v, mask=None):
    weights = softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    if mask is not None:
        weights = weights * mask
    return weights @ v
''',
    },
    "multi_head_self_attention": {
        "interleaved heads: head h takes every n_heads-th dimension": '''
def multi_head_self_attention(x, w_q, w_k, w_v, w_o, n_heads, causal=True):
    *batch, L, d_model = x.shape
    hs = d_model // n_heads
    def split(t):
        return t.reshape(*batch, L, hs, n_heads).transpose(-1, -2).transpose(-3, -2)
    q, k, v = split(x @ w_q.T), split(x @ w_k.T), split(x @ w_v.T)
    out = scaled_dot_product_attention(q, k, v, causal_mask(L) if causal else None)
    out = out.transpose(-3, -2).transpose(-1, -2).reshape(*batch, L, d_model)
    return out @ w_o.T
''',
        "projects with x @ w instead of x @ w.T": '''
def multi_head_self_attention(x, w_q, w_k, w_v, w_o, n_heads, causal=True):
    *batch, L, d_model = x.shape
    hs = d_model // n_heads
    def split(t):
        return t.reshape(*batch, L, n_heads, hs).transpose(-3, -2)
    q, k, v = split(x @ w_q), split(x @ w_k), split(x @ w_v)
    out = scaled_dot_product_attention(q, k, v, causal_mask(L) if causal else None)
    return out.transpose(-3, -2).reshape(*batch, L, d_model) @ w_o
''',
        "batch axis hard-coded: B, L, D = x.shape": '''
def multi_head_self_attention(x, w_q, w_k, w_v, w_o, n_heads, causal=True):
    B, L, D = x.shape
    hs = D // n_heads
    q = (x @ w_q.T).view(B, L, n_heads, hs).transpose(1, 2)
    k = (x @ w_k.T).view(B, L, n_heads, hs).transpose(1, 2)
    v = (x @ w_v.T).view(B, L, n_heads, hs).transpose(1, 2)
    out = scaled_dot_product_attention(q, k, v, causal_mask(L) if causal else None)
    return out.transpose(1, 2).reshape(B, L, D) @ w_o.T
''',
        "heads merged without moving the head axis back": '''
def multi_head_self_attention(x, w_q, w_k, w_v, w_o, n_heads, causal=True):
    *batch, L, d_model = x.shape
    hs = d_model // n_heads
    def split(t):
        return t.reshape(*batch, L, n_heads, hs).transpose(-3, -2)
    q, k, v = split(x @ w_q.T), split(x @ w_k.T), split(x @ w_v.T)
    out = scaled_dot_product_attention(q, k, v, causal_mask(L) if causal else None)
    return out.reshape(*batch, L, d_model) @ w_o.T
''',
        "scores scaled by sqrt(d_model) instead of sqrt(head size)": '''
def multi_head_self_attention(x, w_q, w_k, w_v, w_o, n_heads, causal=True):
    *batch, L, d_model = x.shape
    hs = d_model // n_heads
    def split(t):
        return t.reshape(*batch, L, n_heads, hs).transpose(-3, -2)
    q, k, v = split(x @ w_q.T), split(x @ w_k.T), split(x @ w_v.T)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_model)
    if causal:
        scores = scores.masked_fill(~causal_mask(L), float("-inf"))
    out = softmax(scores, dim=-1) @ v
    return out.transpose(-3, -2).reshape(*batch, L, d_model) @ w_o.T
''',
        "causal ignored: always masked": '''
def multi_head_self_attention(x, w_q, w_k, w_v, w_o, n_heads, causal=True):
    *batch, L, d_model = x.shape
    hs = d_model // n_heads
    def split(t):
        return t.reshape(*batch, L, n_heads, hs).transpose(-3, -2)
    q, k, v = split(x @ w_q.T), split(x @ w_k.T), split(x @ w_v.T)
    out = scaled_dot_product_attention(q, k, v, causal_mask(L))
    return out.transpose(-3, -2).reshape(*batch, L, d_model) @ w_o.T
''',
        "no output projection": '''
def multi_head_self_attention(x, w_q, w_k, w_v, w_o, n_heads, causal=True):
    *batch, L, d_model = x.shape
    hs = d_model // n_heads
    def split(t):
        return t.reshape(*batch, L, n_heads, hs).transpose(-3, -2)
    q, k, v = split(x @ w_q.T), split(x @ w_k.T), split(x @ w_v.T)
    out = scaled_dot_product_attention(q, k, v, causal_mask(L) if causal else None)
    return out.transpose(-3, -2).reshape(*batch, L, d_model)
''',
    },
    "sinusoidal_positions": {
        "the column index in the exponent: cosines use (2i+1)/d_model": '''
def sinusoidal_positions(seq_len, d_model):
    pos = torch.arange(seq_len, dtype=torch.float32)[:, None]
    j = torch.arange(d_model, dtype=torch.float32)[None, :]
    angles = pos / 10000 ** (j / d_model)
    return torch.where(j % 2 == 0, torch.sin(angles), torch.cos(angles))
''',
        "odd d_model: computed for d_model + 1 and cut": '''
def sinusoidal_positions(seq_len, d_model):
    width = d_model + d_model % 2
    pos = torch.arange(seq_len, dtype=torch.float32)[:, None]
    div = 10000 ** (torch.arange(0, width, 2, dtype=torch.float32) / width)
    pe = torch.zeros(seq_len, width)
    pe[:, 0::2] = torch.sin(pos / div)
    pe[:, 1::2] = torch.cos(pos / div)
    return pe[:, :d_model]
''',
        "returns float64 (built with numpy)": '''
def sinusoidal_positions(seq_len, d_model):
    import numpy as np
    pos = np.arange(seq_len)[:, None]
    i2 = np.arange(d_model) - np.arange(d_model) % 2
    angles = pos / 10000 ** (i2 / d_model)
    return torch.from_numpy(np.where(np.arange(d_model) % 2 == 0, np.sin(angles), np.cos(angles)))
''',
        "exponent i/d_model instead of 2i/d_model": '''
def sinusoidal_positions(seq_len, d_model):
    pe = torch.zeros(seq_len, d_model)
    pos = torch.arange(seq_len, dtype=torch.float32)[:, None]
    i = torch.arange((d_model + 1) // 2, dtype=torch.float32)
    angles = pos / 10000 ** (i / d_model)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return pe
''',
        "sin and cos swapped": '''
def sinusoidal_positions(seq_len, d_model):
    pe = torch.zeros(seq_len, d_model)
    pos = torch.arange(seq_len, dtype=torch.float32)[:, None]
    angles = pos / 10000 ** (torch.arange(0, d_model, 2, dtype=torch.float32) / d_model)
    pe[:, 0::2] = torch.cos(angles)
    pe[:, 1::2] = torch.sin(angles[:, : d_model // 2])
    return pe
''',
        "integer division in the exponent": '''
def sinusoidal_positions(seq_len, d_model):
    pe = torch.zeros(seq_len, d_model)
    for pos in range(seq_len):
        for i in range(0, d_model, 2):
            angle = pos / 10000 ** (i // d_model)
            pe[pos, i] = math.sin(angle)
            if i + 1 < d_model:
                pe[pos, i + 1] = math.cos(angle)
    return pe
''',
        "frequencies over half the width: 10000^(i/(d_model/2)) with i counted over all columns": '''
def sinusoidal_positions(seq_len, d_model):
    pe = torch.zeros(seq_len, d_model)
    pos = torch.arange(seq_len, dtype=torch.float32)[:, None]
    angles = pos / 10000 ** (torch.arange(0, d_model, 2, dtype=torch.float32) / (d_model // 2 or 1))
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return pe
''',
    },
    "rope": {
        "rotates the two halves (GPT-NeoX layout) instead of adjacent pairs": '''
def rope(x, positions, theta=10000.0):
    d_k = x.shape[-1]
    freqs = theta ** (-torch.arange(0, d_k, 2, dtype=torch.float32) / d_k)
    angles = positions[..., None].float() * freqs
    a, b = x[..., : d_k // 2], x[..., d_k // 2 :]
    return torch.cat((a * angles.cos() - b * angles.sin(), a * angles.sin() + b * angles.cos()), dim=-1)
''',
        "positions ignored: rows numbered 0..L-1": '''
def rope(x, positions, theta=10000.0):
    d_k = x.shape[-1]
    pos = torch.arange(x.shape[-2], dtype=torch.float32)
    angles = pos[:, None] * theta ** (-torch.arange(0, d_k, 2, dtype=torch.float32) / d_k)
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack((a * angles.cos() - b * angles.sin(), a * angles.sin() + b * angles.cos()), -1).flatten(-2)
''',
        "theta ignored: always 10000": '''
def rope(x, positions, theta=10000.0):
    d_k = x.shape[-1]
    angles = positions[..., None].float() * 10000.0 ** (-torch.arange(0, d_k, 2, dtype=torch.float32) / d_k)
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack((a * angles.cos() - b * angles.sin(), a * angles.sin() + b * angles.cos()), -1).flatten(-2)
''',
        "exponent -i/d_k instead of -2i/d_k": '''
def rope(x, positions, theta=10000.0):
    d_k = x.shape[-1]
    angles = positions[..., None].float() * theta ** (-torch.arange(d_k // 2, dtype=torch.float32) / d_k)
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack((a * angles.cos() - b * angles.sin(), a * angles.sin() + b * angles.cos()), -1).flatten(-2)
''',
        "rotated pairs concatenated instead of interleaved": '''
def rope(x, positions, theta=10000.0):
    d_k = x.shape[-1]
    angles = positions[..., None].float() * theta ** (-torch.arange(0, d_k, 2, dtype=torch.float32) / d_k)
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.cat((a * angles.cos() - b * angles.sin(), a * angles.sin() + b * angles.cos()), dim=-1)
''',
        "rotates the wrong way: by minus the angle": '''
def rope(x, positions, theta=10000.0):
    d_k = x.shape[-1]
    angles = positions[..., None].float() * theta ** (-torch.arange(0, d_k, 2, dtype=torch.float32) / d_k)
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack((a * angles.cos() + b * angles.sin(), b * angles.cos() - a * angles.sin()), -1).flatten(-2)
''',
        "rotates x in place and returns it": '''
def rope(x, positions, theta=10000.0):
    d_k = x.shape[-1]
    i = torch.arange(d_k // 2, dtype=torch.float64)
    angles = positions.unsqueeze(-1).double() * theta ** (-2 * i / d_k)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    a, b = x[..., 0::2].clone(), x[..., 1::2].clone()
    x[..., 0::2] = a * cos - b * sin
    x[..., 1::2] = a * sin + b * cos
    return x
''',
    },
    "transformer_block": {
        "a parallel block: both sub-layers read x": '''
def transformer_block(x, params, n_heads):
    p = params
    attn = multi_head_self_attention(layer_norm(x, p["ln1_weight"], p["ln1_bias"]),
                                     p["w_q"], p["w_k"], p["w_v"], p["w_o"], n_heads)
    ffn = feed_forward(layer_norm(x, p["ln2_weight"], p["ln2_bias"]), p["w_up"], p["w_down"])
    return x + attn + ffn
''',
        "post-LN: layer norm after each residual sum": '''
def transformer_block(x, params, n_heads):
    p = params
    h = layer_norm(x + multi_head_self_attention(x, p["w_q"], p["w_k"], p["w_v"], p["w_o"], n_heads),
                   p["ln1_weight"], p["ln1_bias"])
    return layer_norm(h + feed_forward(h, p["w_up"], p["w_down"]), p["ln2_weight"], p["ln2_bias"])
''',
        "the first layer norm's parameters used twice": '''
def transformer_block(x, params, n_heads):
    p = params
    h = x + multi_head_self_attention(layer_norm(x, p["ln1_weight"], p["ln1_bias"]),
                                      p["w_q"], p["w_k"], p["w_v"], p["w_o"], n_heads)
    return h + feed_forward(layer_norm(h, p["ln1_weight"], p["ln1_bias"]), p["w_up"], p["w_down"])
''',
        "attention not causal": '''
def transformer_block(x, params, n_heads):
    p = params
    h = x + multi_head_self_attention(layer_norm(x, p["ln1_weight"], p["ln1_bias"]),
                                      p["w_q"], p["w_k"], p["w_v"], p["w_o"], n_heads, causal=False)
    return h + feed_forward(layer_norm(h, p["ln2_weight"], p["ln2_bias"]), p["w_up"], p["w_down"])
''',
        "the residual adds the normalised input instead of x": '''
def transformer_block(x, params, n_heads):
    p = params
    a = layer_norm(x, p["ln1_weight"], p["ln1_bias"])
    h = a + multi_head_self_attention(a, p["w_q"], p["w_k"], p["w_v"], p["w_o"], n_heads)
    b = layer_norm(h, p["ln2_weight"], p["ln2_bias"])
    return b + feed_forward(b, p["w_up"], p["w_down"])
''',
        "the second layer norm skipped: the feed-forward reads the raw stream": '''
def transformer_block(x, params, n_heads):
    p = params
    h = x + multi_head_self_attention(layer_norm(x, p["ln1_weight"], p["ln1_bias"]),
                                      p["w_q"], p["w_k"], p["w_v"], p["w_o"], n_heads)
    return h + feed_forward(h, p["w_up"], p["w_down"])
''',
        "the number of heads fixed at one": '''
def transformer_block(x, params, n_heads):
    p = params
    h = x + multi_head_self_attention(layer_norm(x, p["ln1_weight"], p["ln1_bias"]),
                                      p["w_q"], p["w_k"], p["w_v"], p["w_o"], 1)
    return h + feed_forward(layer_norm(h, p["ln2_weight"], p["ln2_bias"]), p["w_up"], p["w_down"])
''',
    },
}
