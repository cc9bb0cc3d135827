"""Ten students' answers to chapter 1, written independently in different styles (test data).

Each student maps the grade ids of five answer cells to the code written between the template's
signature and docstring (the body) and, under ``"helpers"``, functions they added above it.
They are correct, and written the way different people write: loops or vectorised, terse or
spelled out, with or without helpers. The similarity detector must not pair any two of them.
"""

STUDENTS = {
    "ada": {
        "softmax": """\
    m = x.max(dim=dim, keepdim=True).values
    e = (x - m).exp()
    return e / e.sum(dim=dim, keepdim=True)
""",
        "causal_mask": """\
    return torch.tril(torch.ones((seq_len, seq_len), dtype=torch.bool))
""",
        "scaled_dot_product_attention": """\
    scale = 1.0 / math.sqrt(q.size(-1))
    s = torch.matmul(q, k.transpose(-1, -2)) * scale
    if mask is not None:
        s = s.masked_fill(mask.logical_not(), -float("inf"))
    return torch.matmul(softmax(s), v)
""",
        "multi_head_self_attention": """\
    L, D = x.shape[-2], x.shape[-1]
    h = D // n_heads
    def heads(t):
        return t.view(*t.shape[:-1], n_heads, h).transpose(-2, -3)
    q = heads(x @ w_q.t())
    k = heads(x @ w_k.t())
    v = heads(x @ w_v.t())
    m = causal_mask(L) if causal else None
    out = scaled_dot_product_attention(q, k, v, m)
    out = out.transpose(-2, -3).reshape(*x.shape)
    return out @ w_o.t()
""",
        "sinusoidal_positions": """\
    pe = torch.zeros(seq_len, d_model)
    pos = torch.arange(seq_len).float().unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : d_model // 2]
    return pe
""",
    },
    "bruno": {
        "softmax": """\
    shift = torch.amax(x, dim, True)
    num = torch.exp(x - shift)
    den = torch.sum(num, dim, True)
    return num / den
""",
        "causal_mask": """\
    rows = torch.arange(seq_len).unsqueeze(1)
    cols = torch.arange(seq_len).unsqueeze(0)
    return cols <= rows
""",
        "scaled_dot_product_attention": """\
    dk = k.shape[-1]
    logits = torch.einsum("...ld,...sd->...ls", q, k) / dk ** 0.5
    if mask is not None:
        logits = torch.where(mask, logits, torch.full_like(logits, float("-inf")))
    probs = softmax(logits, dim=-1)
    return torch.einsum("...ls,...sd->...ld", probs, v)
""",
        "multi_head_self_attention": """\
    d_model = x.shape[-1]
    seq_len = x.shape[-2]
    d_head = d_model // n_heads
    outs = []
    mask = causal_mask(seq_len) if causal else None
    for i in range(n_heads):
        sl = slice(i * d_head, (i + 1) * d_head)
        qi = x @ w_q[sl].T
        ki = x @ w_k[sl].T
        vi = x @ w_v[sl].T
        outs.append(scaled_dot_product_attention(qi, ki, vi, mask))
    return torch.cat(outs, dim=-1) @ w_o.T
""",
        "sinusoidal_positions": """\
    out = torch.empty(seq_len, d_model)
    for pos in range(seq_len):
        for i in range(0, d_model, 2):
            angle = pos / (10000 ** (i / d_model))
            out[pos, i] = math.sin(angle)
            if i + 1 < d_model:
                out[pos, i + 1] = math.cos(angle)
    return out
""",
    },
    "chen": {
        "helpers": """\
def _stable_exp(t, axis):
    return torch.exp(t - t.max(axis, keepdim=True)[0])

""",
        "softmax": """\
    z = _stable_exp(x, dim)
    total = z.sum(axis=dim, keepdim=True)
    return z / total
""",
        "causal_mask": """\
    full = torch.ones(seq_len, seq_len)
    return torch.tril(full).bool()
""",
        "scaled_dot_product_attention": """\
    n = q.shape[-1]
    kt = torch.transpose(k, -2, -1)
    a = (q @ kt) / math.sqrt(n)
    if mask is not None:
        a = a.masked_fill(~mask, float("-inf"))
    attn = softmax(a, -1)
    return attn @ v
""",
        "multi_head_self_attention": """\
    shape = x.shape
    n, d = shape[-2], shape[-1]
    size = d // n_heads
    proj = [x @ w.transpose(0, 1) for w in [w_q, w_k, w_v]]
    proj = [p.reshape(*shape[:-1], n_heads, size).movedim(-2, -3) for p in proj]
    attn_mask = causal_mask(n) if causal else None
    y = scaled_dot_product_attention(proj[0], proj[1], proj[2], attn_mask)
    y = y.movedim(-3, -2).flatten(-2)
    return y @ w_o.transpose(0, 1)
""",
        "sinusoidal_positions": """\
    p = torch.arange(seq_len, dtype=torch.float64).reshape(-1, 1)
    i = torch.arange(d_model, dtype=torch.float64).reshape(1, -1)
    rates = 1.0 / torch.pow(10000.0, (2 * (i // 2)) / d_model)
    ang = p * rates
    result = torch.where(i % 2 == 0, torch.sin(ang), torch.cos(ang))
    return result.float()
""",
    },
    "dara": {
        "softmax": """\
    biggest, _ = torch.max(x, dim=dim, keepdim=True)
    powers = torch.exp(x - biggest)
    return powers / torch.sum(powers, dim=dim, keepdim=True)
""",
        "causal_mask": """\
    upper = torch.triu(torch.ones(seq_len, seq_len, dtype=torch.bool), diagonal=1)
    return ~upper
""",
        "scaled_dot_product_attention": """\
    d = q.shape[-1]
    sc = q.matmul(k.mT).div(math.sqrt(d))
    if mask is not None:
        sc = sc.masked_fill(~mask, float("-inf"))
    return softmax(sc).matmul(v)
""",
        "multi_head_self_attention": """\
    *lead, length, width = x.shape
    per_head = width // n_heads
    queries = (x @ w_q.T).unflatten(-1, (n_heads, per_head)).transpose(-2, -3)
    keys = (x @ w_k.T).unflatten(-1, (n_heads, per_head)).transpose(-2, -3)
    values = (x @ w_v.T).unflatten(-1, (n_heads, per_head)).transpose(-2, -3)
    allowed = causal_mask(length) if causal else None
    attended = scaled_dot_product_attention(queries, keys, values, allowed)
    joined = attended.transpose(-2, -3).flatten(-2)
    return joined @ w_o.T
""",
        "sinusoidal_positions": """\
    table = [[0.0] * d_model for _ in range(seq_len)]
    for p in range(seq_len):
        for j in range(d_model):
            freq = 10000 ** ((j - j % 2) / d_model)
            table[p][j] = math.sin(p / freq) if j % 2 == 0 else math.cos(p / freq)
    return torch.tensor(table)
""",
    },
    "emeka": {
        "softmax": """\
    x = x - x.max(dim, keepdim=True).values
    x = x.exp()
    x = x / x.sum(dim, keepdim=True)
    return x
""",
        "causal_mask": """\
    mask = torch.zeros(seq_len, seq_len, dtype=torch.bool)
    for i in range(seq_len):
        mask[i, : i + 1] = True
    return mask
""",
        "scaled_dot_product_attention": """\
    weights = q @ k.transpose(-2, -1)
    weights = weights / (q.shape[-1] ** 0.5)
    if mask is not None:
        weights[~mask.expand_as(weights)] = float("-inf")
    weights = softmax(weights, dim=-1)
    return weights @ v
""",
        "multi_head_self_attention": """\
    B = x.shape[:-2]
    T, C = x.shape[-2:]
    hs = C // n_heads
    q = (x @ w_q.T).view(*B, T, n_heads, hs).transpose(-3, -2)
    k = (x @ w_k.T).view(*B, T, n_heads, hs).transpose(-3, -2)
    v = (x @ w_v.T).view(*B, T, n_heads, hs).transpose(-3, -2)
    y = scaled_dot_product_attention(q, k, v, causal_mask(T) if causal else None)
    y = y.transpose(-3, -2).contiguous().view(*B, T, C)
    return y @ w_o.T
""",
        "sinusoidal_positions": """\
    position = torch.arange(seq_len)[:, None].float()
    half = torch.arange((d_model + 1) // 2).float()
    freqs = 10000 ** (-2 * half / d_model)
    angles = position * freqs[None, :]
    pe = torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)
    return pe[:, :d_model]
""",
    },
    "farah": {
        "softmax": """\
    return torch.exp(x - torch.logsumexp(x, dim=dim, keepdim=True))
""",
        "causal_mask": """\
    idx = torch.arange(seq_len)
    return idx[:, None] >= idx[None, :]
""",
        "scaled_dot_product_attention": """\
    temperature = math.sqrt(k.shape[-1])
    raw = (q / temperature) @ k.transpose(-1, -2)
    masked = raw if mask is None else raw.masked_fill(mask == False, float("-inf"))
    return softmax(masked, dim=-1) @ v
""",
        "multi_head_self_attention": """\
    d = x.shape[-1]
    t = x.shape[-2]
    hd = d // n_heads
    result = torch.zeros_like(x)
    for head in range(n_heads):
        cols = torch.arange(head * hd, (head + 1) * hd)
        o = scaled_dot_product_attention(
            x @ w_q[cols].T, x @ w_k[cols].T, x @ w_v[cols].T,
            causal_mask(t) if causal else None)
        result = result + o @ w_o[:, cols].T
    return result
""",
        "sinusoidal_positions": """\
    grid_pos, grid_dim = torch.meshgrid(torch.arange(seq_len), torch.arange(d_model), indexing="ij")
    exponent = (grid_dim - grid_dim % 2).double() / d_model
    theta = grid_pos.double() / torch.pow(torch.tensor(10000.0, dtype=torch.float64), exponent)
    return torch.where(grid_dim % 2 == 0, theta.sin(), theta.cos()).to(torch.float32)
""",
    },
    "gosia": {
        "helpers": """\
def _keep_dims_sum(values, along):
    return values.sum(dim=along, keepdim=True)


def _largest(values, along):
    return values.amax(dim=along, keepdim=True)

""",
        "softmax": """\
    stabilised = x - _largest(x, dim)
    unnormalised = stabilised.exp()
    return unnormalised / _keep_dims_sum(unnormalised, dim)
""",
        "causal_mask": """\
    answer = torch.ones(seq_len, seq_len, dtype=torch.bool)
    answer = torch.tril(answer, diagonal=0)
    return answer
""",
        "scaled_dot_product_attention": """\
    key_dim = q.shape[-1]
    similarity = torch.matmul(q, torch.swapaxes(k, -1, -2))
    similarity = similarity * key_dim ** -0.5
    if mask is not None:
        blocked = torch.logical_not(mask)
        similarity = similarity.masked_fill(blocked, -math.inf)
    distribution = softmax(similarity, dim=-1)
    return torch.matmul(distribution, v)
""",
        "multi_head_self_attention": """\
    length = x.size(-2)
    model_dim = x.size(-1)
    head_dim = model_dim // n_heads

    def to_heads(projected):
        new_shape = projected.shape[:-1] + (n_heads, head_dim)
        return projected.reshape(new_shape).swapaxes(-2, -3)

    def from_heads(per_head):
        per_head = per_head.swapaxes(-2, -3)
        return per_head.reshape(per_head.shape[:-2] + (model_dim,))

    allowed = causal_mask(length) if causal else None
    attended = scaled_dot_product_attention(
        to_heads(torch.matmul(x, w_q.T)), to_heads(torch.matmul(x, w_k.T)), to_heads(torch.matmul(x, w_v.T)), allowed)
    return torch.matmul(from_heads(attended), w_o.T)
""",
        "sinusoidal_positions": """\
    encoding = torch.zeros(seq_len, d_model)
    positions = torch.arange(0, seq_len, dtype=torch.float32).unsqueeze(-1)
    for dim_index in range(0, d_model, 2):
        wavelength = 10000.0 ** (dim_index / d_model)
        encoding[:, dim_index] = torch.sin(positions[:, 0] / wavelength)
        if dim_index + 1 < d_model:
            encoding[:, dim_index + 1] = torch.cos(positions[:, 0] / wavelength)
    return encoding
""",
    },
    "hugo": {
        "softmax": """\
    centred = x - x.detach().max(dim=dim, keepdim=True)[0]
    numerator = centred.exp()
    out = numerator / numerator.sum(dim=dim).unsqueeze(dim)
    return out
""",
        "causal_mask": """\
    return torch.ones(seq_len, seq_len).tril().to(torch.bool)
""",
        "scaled_dot_product_attention": """\
    import math as m
    qk = q @ k.transpose(-2, -1)
    qk /= m.sqrt(q.shape[-1])
    if mask is not None:
        qk = qk + torch.zeros_like(qk).masked_fill(~mask, float("-inf"))
    return softmax(qk, dim=-1) @ v
""",
        "multi_head_self_attention": """\
    n_tokens = x.shape[-2]
    dm = x.shape[-1]
    dh = dm // n_heads
    stacked = torch.stack([w_q, w_k, w_v])
    qkv = x.unsqueeze(-3) @ stacked.transpose(-1, -2)
    qkv = qkv.unflatten(-1, (n_heads, dh)).transpose(-2, -3)
    q, k, v = qkv.unbind(-4)
    z = scaled_dot_product_attention(q, k, v, causal_mask(n_tokens) if causal else None)
    z = z.transpose(-2, -3).flatten(-2)
    return z @ w_o.T
""",
        "sinusoidal_positions": """\
    freqs = torch.tensor([1 / 10000 ** (2 * (i // 2) / d_model) for i in range(d_model)])
    args = torch.arange(seq_len).float().outer(freqs)
    args[:, 0::2] = args[:, 0::2].sin()
    args[:, 1::2] = args[:, 1::2].cos()
    return args
""",
    },
    "ines": {
        "softmax": """\
    mx = x.max(dim=dim, keepdim=True)[0]
    ex = torch.exp(x - mx)
    s = ex.sum(dim=dim, keepdim=True)
    probs = ex / s
    return probs
""",
        "causal_mask": """\
    m = [[j <= i for j in range(seq_len)] for i in range(seq_len)]
    return torch.tensor(m, dtype=torch.bool)
""",
        "scaled_dot_product_attention": """\
    factor = math.sqrt(q.shape[-1])
    scores = torch.bmm(q.reshape(-1, *q.shape[-2:]), k.reshape(-1, *k.shape[-2:]).transpose(1, 2))
    scores = scores.reshape(*q.shape[:-1], k.shape[-2]) / factor
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return softmax(scores, dim=-1) @ v
""",
        "multi_head_self_attention": """\
    seq = x.shape[-2]
    dmodel = x.shape[-1]
    dhead = dmodel // n_heads
    heads_out = []
    for hidx in range(n_heads):
        lo, hi = hidx * dhead, (hidx + 1) * dhead
        qh = torch.matmul(x, w_q[lo:hi, :].transpose(0, 1))
        kh = torch.matmul(x, w_k[lo:hi, :].transpose(0, 1))
        vh = torch.matmul(x, w_v[lo:hi, :].transpose(0, 1))
        msk = causal_mask(seq) if causal else None
        heads_out.append(scaled_dot_product_attention(qh, kh, vh, msk))
    concat = torch.concatenate(heads_out, dim=-1)
    return torch.matmul(concat, w_o.transpose(0, 1))
""",
        "sinusoidal_positions": """\
    pos = torch.arange(seq_len, dtype=torch.float32).view(seq_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float32)
    denom = torch.pow(torch.tensor(10000.0), two_i / d_model)
    pe = torch.zeros(seq_len, d_model)
    pe[:, 0::2] = torch.sin(pos / denom)
    n_cos = d_model // 2
    pe[:, 1::2] = torch.cos(pos / denom[:n_cos])
    return pe
""",
    },
    "jonas": {
        "softmax": """\
    if x.numel() == 0:
        return x.clone()
    peak = x.max(dim, keepdim=True).values
    w = torch.exp(x.sub(peak))
    return w.div(w.sum(dim, keepdim=True))
""",
        "causal_mask": """\
    lower = torch.ones(seq_len, seq_len, dtype=torch.int64).tril(0)
    return lower == 1
""",
        "scaled_dot_product_attention": """\
    *_, length, depth = q.shape
    energy = (q @ k.swapaxes(-1, -2)) * (1.0 / math.sqrt(depth))
    if mask is not None:
        energy = energy.where(mask, torch.tensor(float("-inf"), dtype=energy.dtype))
    attention = softmax(energy, dim=-1)
    output = attention @ v
    return output
""",
        "multi_head_self_attention": """\
    *prefix, steps, features = x.shape
    split = features // n_heads
    mask = None
    if causal:
        mask = causal_mask(steps)
    projections = {}
    for name, weight in (("q", w_q), ("k", w_k), ("v", w_v)):
        y = torch.einsum("...tf,gf->...tg", x, weight)
        projections[name] = y.reshape(*prefix, steps, n_heads, split).permute(*range(len(prefix)), -2, -3, -1)
    mixed = scaled_dot_product_attention(projections["q"], projections["k"], projections["v"], mask)
    mixed = mixed.permute(*range(len(prefix)), -2, -3, -1).reshape(*prefix, steps, features)
    return torch.einsum("...tf,gf->...tg", mixed, w_o)
""",
        "sinusoidal_positions": """\
    result = torch.zeros(seq_len, d_model)
    for k in range(d_model // 2 + d_model % 2):
        omega = 1.0 / (10000.0 ** (2 * k / d_model))
        column = torch.arange(seq_len) * omega
        result[:, 2 * k] = column.sin()
        if 2 * k + 1 < d_model:
            result[:, 2 * k + 1] = column.cos()
    return result
""",
    },
}

PARTS = ["softmax", "causal_mask", "scaled_dot_product_attention", "multi_head_self_attention", "sinusoidal_positions"]


def answer_cell(source_cell, body, helpers=""):
    """The answer cell a student submits: ``helpers``, then the source cell with ``body`` as its solution."""
    lines = source_cell.splitlines(keepends=True)
    begin = next(i for i, line in enumerate(lines) if line.strip() == "### BEGIN SOLUTION")
    end = next(i for i, line in enumerate(lines) if line.strip() == "### END SOLUTION")
    return helpers + "".join(lines[:begin]) + body + "".join(lines[end + 1:])


def answers(student, source_cells):
    """``{grade_id: cell source}`` of one student of ``STUDENTS``; ``source_cells`` maps grade ids to source cells."""
    mine = STUDENTS[student]
    return {gid: answer_cell(source_cells[gid], mine[gid], mine.get("helpers", "") if gid == "softmax" else "")
            for gid in PARTS}


def disguise(cells):
    """A planted copy of ``{grade_id: cell source}``, as a student who copies would disguise it:
    every variable renamed, the functions of each cell in reverse order, a new comment on every
    other line, and the layout Python's own unparser gives it."""
    import ast

    copied = {}
    for gid, source in cells.items():
        tree = ast.parse(source)
        params = {a.arg for node in ast.walk(tree) if isinstance(node, ast.arguments)
                  for a in node.args + node.kwonlyargs + node.posonlyargs}
        stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        stored |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)} - {gid}
        renames = {name: f"my_{name[::-1]}_{i}" for i, name in enumerate(sorted(stored - params))}

        class Rename(ast.NodeTransformer):
            def visit_Name(self, node):
                node.id = renames.get(node.id, node.id)
                return node

            def visit_FunctionDef(self, node):
                node.name = renames.get(node.name, node.name)
                self.generic_visit(node)
                return node

        tree = Rename().visit(tree)
        tree.body.reverse()  # a module of function definitions runs the same in any order
        code = ast.unparse(tree)
        starts = sorted({node.lineno for node in ast.walk(ast.parse(code)) if isinstance(node, ast.stmt)})
        commented = []
        for number, line in enumerate(code.splitlines(), 1):
            if number in starts[1::2]:  # every other statement, never inside a string
                indent = line[: len(line) - len(line.lstrip())]
                commented.append(f"{indent}# now the next step ({number})")
            commented.append(line)
        copied[gid] = "\n".join(commented) + "\n"
    return copied
