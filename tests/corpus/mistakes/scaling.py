"""Chapter 3's catalogue of mistakes (see ``__init__.py``): an independent right answer and plausible
wrong answers for every autograded part of ``03-scale``.

Each mistake is written as a student would write it from the released notebook's instructions. The
visible tests fail those that read the instructions another way (a LayerNorm's bias kept with
``bias=False``, a line through the first and last model); the subtle ones (rounding to three
significant digits, whole petaflop-seconds, a line through the first and last point, x sorted
without y, points kept in a dict, float32 dates) pass them and only the hidden checks catch them.
"""

ASSIGNMENT = "03-scale"

RIGHT = {
    "parameter_counts": '''
def parameter_counts(n_layers, d_model, vocab_size, context_length, d_ff=None, tied_embeddings=True, bias=True):
    hidden = d_ff if d_ff is not None else 4 * d_model

    def dense(n_in, n_out):
        return n_in * n_out + (n_out if bias else 0)

    norm = d_model * (2 if bias else 1)
    per_block = {"attention": 4 * dense(d_model, d_model),
                 "mlp": dense(d_model, hidden) + dense(hidden, d_model),
                 "layer_norms": 2 * norm}
    counts = {"token_embedding": vocab_size * d_model, "position_embedding": d_model * context_length,
              "attention": 0, "mlp": 0, "layer_norms": norm, "output_head": 0}
    for _ in range(n_layers):
        for key, value in per_block.items():
            counts[key] += value
    if not tied_embeddings:
        counts["output_head"] = vocab_size * d_model
    return counts
''',
    "training_flops": '''
def training_flops(n_params, n_tokens):
    per_token = 2 * n_params + 4 * n_params  # forward, then backward
    return per_token * n_tokens
''',
    "petaflop_s_days": '''
def petaflop_s_days(flops):
    petaflop_seconds = flops / 1e15
    return petaflop_seconds / 86400
''',
    "chinchilla_optimal": '''
def chinchilla_optimal(flops, tokens_per_param=20):
    n_tokens = (flops * tokens_per_param / 6) ** 0.5
    return n_tokens / tokens_per_param, n_tokens
''',
    "fit_power_law": '''
def fit_power_law(x, y):
    design = np.column_stack([np.ones(len(x)), [math.log(v) for v in x]])
    (log_a, b), *_ = np.linalg.lstsq(design, [math.log(v) for v in y], rcond=None)
    return float(np.exp(log_a)), float(b)
''',
    "growth_per_year": '''
def growth_per_year(years, n_params):
    n = len(years)
    doublings = [math.log2(v) for v in n_params]
    t_mean, d_mean = sum(years) / n, sum(doublings) / n
    covariance = sum((t - t_mean) * (d - d_mean) for t, d in zip(years, doublings))
    variance = sum((t - t_mean) ** 2 for t in years)
    return 2.0 ** (covariance / variance)
''',
}

_COUNTS = '''
def parameter_counts(n_layers, d_model, vocab_size, context_length, d_ff=None, tied_embeddings=True, bias=True):
    d_ff = 4 * d_model if d_ff is None else d_ff
    b = 1 if bias else 0
    attention = {attention}
    mlp = {mlp}
    norm = {norm}
    return {{"token_embedding": vocab_size * d_model, "position_embedding": context_length * d_model,
            "attention": n_layers * attention, "mlp": n_layers * mlp, "layer_norms": {layer_norms},
            "output_head": {head}}}
'''


def _counts(attention="4 * d_model * d_model + 4 * b * d_model", mlp="2 * d_model * d_ff + b * (d_ff + d_model)",
            norm="(1 + b) * d_model", layer_norms="(2 * n_layers + 1) * norm",
            head="0 if tied_embeddings else vocab_size * d_model"):
    """A ``parameter_counts`` answer with one term written differently."""
    return _COUNTS.format(attention=attention, mlp=mlp, norm=norm, layer_norms=layer_norms, head=head)


MISTAKES = {
    "parameter_counts": {
        "no final LayerNorm": _counts(layer_norms="2 * n_layers * norm"),
        "d_ff ignored when given": _counts(mlp="8 * d_model * d_model + b * 5 * d_model"),
        "bias=False also drops the LayerNorm gains": _counts(norm="2 * b * d_model"),
        "bias=False keeps the LayerNorm biases": _counts(norm="2 * d_model"),
        "an untied head counted with a bias": _counts(head="0 if tied_embeddings else (d_model + 1) * vocab_size"),
        "no bias on the attention's output projection": _counts(attention="4 * d_model * d_model + 3 * b * d_model"),
        "both MLP biases d_ff wide": _counts(mlp="2 * d_model * d_ff + 2 * b * d_ff"),
        "math.pow makes the counts floats": _counts(attention="4 * math.pow(d_model, 2) + 4 * b * d_model"),
    },
    "training_flops": {
        "truncates to an int: 6 * 1.5 * 1.5 gives 13, not 13.5 (from a blind trial)": """\
def training_flops(n_params, n_tokens):
    return int(6 * n_params * n_tokens)
""",
        "the forward pass only, 2 N D": "def training_flops(n_params, n_tokens):\n    return 2 * n_params * n_tokens\n",
        "the backward pass costed like the forward, 4 N D":
            "def training_flops(n_params, n_tokens):\n    forward = 2 * n_params * n_tokens\n    return forward + forward\n",
        "multiply-adds counted as one operation, 3 N D":
            "def training_flops(n_params, n_tokens):\n    return (1 + 2) * n_params * n_tokens\n",
        "np.prod overflows 64-bit integers":
            "def training_flops(n_params, n_tokens):\n    return float(np.prod([6, n_params, n_tokens]))\n",
        "petaFLOPs instead of FLOPs":
            "def training_flops(n_params, n_tokens):\n    return 6 * n_params * n_tokens / 1e15\n",
        "a recomputed forward pass added, 8 N D":
            "def training_flops(n_params, n_tokens):\n    forward = 2 * n_params * n_tokens\n    return 2 * forward + 2 * forward\n",
        "a float for integer counts, 6.0 N D: inexact beyond 2^53 (from a blind trial)":
            "def training_flops(n_params, n_tokens):\n    return 6.0 * n_params * n_tokens\n",
        "rounded to three significant digits":
            "def training_flops(n_params, n_tokens):\n    return float(f'{6 * n_params * n_tokens:.3g}')\n",
    },
    "petaflop_s_days": {
        "petaflop/s-hours: 3,600 s": "def petaflop_s_days(flops):\n    return flops / 1e15 / 3600\n",
        "petaflop/s-seconds: the day forgotten": "def petaflop_s_days(flops):\n    return flops / 1e15\n",
        "rounded to two decimals": "def petaflop_s_days(flops):\n    return round(flops / 8.64e19, 2)\n",
        "a binary peta, 2^50": "def petaflop_s_days(flops):\n    return flops / 2**50 / 86400\n",
        "rounded to six significant digits": "def petaflop_s_days(flops):\n    return float(f'{flops / 8.64e19:.6g}')\n",
        "float32 arithmetic":
            "def petaflop_s_days(flops):\n    return float(np.float32(flops) / np.float32(8.64e19))\n",
        "whole petaflop-seconds first (floor division)":
            "def petaflop_s_days(flops):\n    petaflop_seconds = flops // 1e15\n    return petaflop_seconds / 86400\n",
    },
    "chinchilla_optimal": {
        "tokens_per_param ignored":
            "def chinchilla_optimal(flops, tokens_per_param=20):\n"
            "    n_params = math.sqrt(flops / 120)\n    return n_params, 20 * n_params\n",
        "an integer square root": "def chinchilla_optimal(flops, tokens_per_param=20):\n"
            "    n_params = math.isqrt(int(flops / (6 * tokens_per_param)))\n"
            "    return float(n_params), float(tokens_per_param * n_params)\n",
        "rounded to whole parameters and tokens": "def chinchilla_optimal(flops, tokens_per_param=20):\n"
            "    n_params = math.sqrt(flops / (6 * tokens_per_param))\n"
            "    return round(n_params), round(tokens_per_param * n_params)\n",
        "(n_tokens, n_params) in the wrong order": "def chinchilla_optimal(flops, tokens_per_param=20):\n"
            "    n_params = math.sqrt(flops / (6 * tokens_per_param))\n"
            "    return tokens_per_param * n_params, n_params\n",
        "tokens from the budget after rounding the parameters": "def chinchilla_optimal(flops, tokens_per_param=20):\n"
            "    n_params = float(round(math.sqrt(flops / (6 * tokens_per_param))))\n"
            "    return n_params, flops / (6 * n_params)\n",
        "tokens_per_param truncated to an int": "def chinchilla_optimal(flops, tokens_per_param=20):\n"
            "    ratio = int(tokens_per_param)\n"
            "    n_params = math.sqrt(flops / (6 * ratio))\n    return n_params, ratio * n_params\n",
    },
    "fit_power_law": {
        "slope through the first and last points": '''
def fit_power_law(x, y):
    log_x, log_y = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))
    b = (log_y[-1] - log_y[0]) / (log_x[-1] - log_x[0])
    return float(np.exp(log_y.mean() - b * log_x.mean())), float(b)
''',
        "natural-log slope with 10 to the intercept": '''
def fit_power_law(x, y):
    b, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(10**intercept), float(b)
''',
        "log x regressed on log y": '''
def fit_power_law(x, y):
    slope, intercept = np.polyfit(np.log(y), np.log(x), 1)
    return float(np.exp(-intercept / slope)), float(1 / slope)
''',
        "float32 tensors": '''
import torch


def fit_power_law(x, y):
    log_x = torch.tensor([float(v) for v in x], dtype=torch.float32).log()
    log_y = torch.tensor([float(v) for v in y], dtype=torch.float32).log()
    dx = log_x - log_x.mean()
    b = (dx * (log_y - log_y.mean())).sum() / (dx * dx).sum()
    return float(torch.exp(log_y.mean() - b * log_x.mean())), float(b)
''',
        "x sorted, y left in its order": '''
def fit_power_law(x, y):
    log_x, log_y = np.log(sorted(map(float, x))), np.log(np.asarray(y, dtype=float))
    b, log_a = np.polyfit(log_x, log_y, 1)
    return float(np.exp(log_a)), float(b)
''',
        "the prefactor from the first point": '''
def fit_power_law(x, y):
    b, _ = np.polyfit(np.log(x), np.log(y), 1)
    return float(y[0] / x[0] ** b), float(b)
''',
        "np.log of Python ints beyond 2^63 (an object array)": '''
def fit_power_law(x, y):
    b, log_a = np.polyfit(np.log(x), np.log(y), 1)
    return float(np.exp(log_a)), float(b)
''',
        "points kept in a dict keyed by x, so a repeated x keeps one y": '''
def fit_power_law(x, y):
    points = dict(zip(map(float, x), map(float, y)))
    b, log_a = np.polyfit(np.log(list(points)), np.log(list(points.values())), 1)
    return float(np.exp(log_a)), float(b)
''',
        "takes logarithms in the caller's float arrays, in place (from a blind trial)": '''
def fit_power_law(x, y):
    log_x, log_y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    np.log(log_x, out=log_x)
    np.log(log_y, out=log_y)
    b, log_a = np.polyfit(log_x, log_y, 1)
    return float(np.exp(log_a)), float(b)
''',
    },
    "growth_per_year": {
        "first to last model": '''
def growth_per_year(years, n_params):
    return float((n_params[-1] / n_params[0]) ** (1 / (years[-1] - years[0])))
''',
        "geometric mean of consecutive yearly ratios": '''
def growth_per_year(years, n_params):
    rates = [math.log(n1 / n0) / (t1 - t0) for t0, t1, n0, n1 in zip(years, years[1:], n_params, n_params[1:])]
    return math.exp(sum(rates) / len(rates))
''',
        "the slope of log n, not the factor": '''
def growth_per_year(years, n_params):
    slope, _ = np.polyfit(years, np.log(n_params), 1)
    return float(slope)
''',
        "log10 slope with e to the slope": '''
def growth_per_year(years, n_params):
    slope, _ = np.polyfit(years, np.log10(n_params), 1)
    return float(np.exp(slope))
''',
        "float32 dates": '''
import torch


def growth_per_year(years, n_params):
    t = torch.tensor(years, dtype=torch.float32)
    log_n = torch.tensor([float(n) for n in n_params], dtype=torch.float64).log()
    dt = (t - t.mean()).double()
    return float(torch.exp((dt * (log_n - log_n.mean())).sum() / (dt * dt).sum()))
''',
        "the date regressed on log n, then inverted": '''
def growth_per_year(years, n_params):
    slope, _ = np.polyfit(np.log(n_params), years, 1)
    return float(np.exp(1 / slope))
''',
        "models kept in a dict keyed by date, so a shared year keeps one": '''
def growth_per_year(years, n_params):
    by_date = sorted(dict(zip(years, map(float, n_params))).items())
    slope, _ = np.polyfit([t for t, _ in by_date], np.log([n for _, n in by_date]), 1)
    return float(np.exp(slope))
''',
        "np.log of Python ints beyond 2^63 (an object array)": '''
def growth_per_year(years, n_params):
    slope, _ = np.polyfit(years, np.log(n_params), 1)
    return float(np.exp(slope))
''',
        "dates sorted, sizes left in their order": '''
def growth_per_year(years, n_params):
    slope, _ = np.polyfit(sorted(years), np.log(np.asarray(n_params, dtype=float)), 1)
    return float(np.exp(slope))
''',
        "centres the caller's float array of dates in place": '''
def growth_per_year(years, n_params):
    t, log_n = np.asarray(years, dtype=float), np.log(np.asarray(n_params, dtype=float))
    t -= t.mean()
    slope = (t * (log_n - log_n.mean())).sum() / (t * t).sum()
    return float(np.exp(slope))
''',
    },
}
