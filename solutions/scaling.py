"""Chapter 3, Scale: what a transformer's size costs, and how to split a compute budget.

Parameter counts are exact for the GPT-2/GPT-3 layout of ``solutions.gpt``: token and learned
position embeddings, ``n_layers`` pre-LayerNorm blocks (causal self-attention with fused
query/key/value and output projections, then a ``d_ff``-wide MLP), a final LayerNorm, and an
output head that shares the token embedding's weights unless told otherwise. Compute is counted
in floating-point operations (FLOPs), one multiply or one add each; a multiply-add is 2 FLOPs.
"""

import functools
import math

import numpy as np

# Hoffmann et al. (2022), eq. (10) and section 3.3: L(N, D) = E + A / N^alpha + B / D^beta,
# in nats per token on their MassiveText validation set.
CHINCHILLA_E = 1.69
CHINCHILLA_A = 406.4
CHINCHILLA_B = 410.7
CHINCHILLA_ALPHA = 0.34
CHINCHILLA_BETA = 0.28


def parameter_counts(n_layers, d_model, vocab_size, context_length, d_ff=None, tied_embeddings=True, bias=True):
    """Exact parameter count of a GPT-2/GPT-3-style decoder, per component.

    Returns a dict of ints with the keys ``token_embedding`` (``vocab_size * d_model``),
    ``position_embedding`` (a learned ``context_length * d_model`` table; ``context_length=0``
    means none, as with ALiBi or rotary positions), ``attention`` (query, key, value and output
    projections of every block), ``mlp`` (up and down projections of every block, ``d_ff`` wide,
    by default ``4 * d_model``), ``layer_norms`` (two per block and the final one) and
    ``output_head`` (0 when tied to the token embedding, else ``d_model * vocab_size``, no bias).
    ``bias`` gives every Linear and LayerNorm a bias, as in GPT-2 and GPT-3.
    """
    d_ff = 4 * d_model if d_ff is None else d_ff
    b = 1 if bias else 0
    attention = 4 * d_model * d_model + b * 4 * d_model  # W_q, W_k, W_v, W_o and their biases
    mlp = 2 * d_model * d_ff + b * (d_ff + d_model)  # W_up, W_down and their biases
    layer_norm = (1 + b) * d_model  # gain and bias
    counts = {"token_embedding": vocab_size * d_model, "position_embedding": context_length * d_model}
    counts["attention"] = n_layers * attention
    counts["mlp"] = n_layers * mlp
    counts["layer_norms"] = (2 * n_layers + 1) * layer_norm  # two per block and the final one
    counts["output_head"] = 0 if tied_embeddings else d_model * vocab_size
    return counts


def count_parameters(n_layers, d_model, vocab_size, context_length, d_ff=None, tied_embeddings=True, bias=True):
    """Total parameters of the model :func:`parameter_counts` describes, as an int."""
    return sum(parameter_counts(n_layers, d_model, vocab_size, context_length, d_ff, tied_embeddings, bias).values())


def approx_parameters(n_layers, d_model):
    """The usual estimate ``12 * n_layers * d_model^2``: block weight matrices only, ``d_ff = 4 d_model``."""
    return 12 * n_layers * d_model**2


def training_flops(n_params, n_tokens):
    """FLOPs to train ``n_params`` parameters on ``n_tokens`` tokens: ``6 N D``.

    The forward pass costs 2 FLOPs per parameter per token (one multiply-add), the backward pass
    twice that (gradients with respect to activations and to weights).
    """
    return 6 * n_params * n_tokens


def petaflop_s_days(flops):
    """``flops`` in petaflop/s-days: 10^15 FLOPs per second for a day, 8.64 * 10^19 FLOPs."""
    return flops / (1e15 * 24 * 60 * 60)


def chinchilla_optimal(flops, tokens_per_param=20):
    """Compute-optimal ``(n_params, n_tokens)`` for a budget of ``flops`` FLOPs.

    Solves ``flops = 6 N D`` with ``D = tokens_per_param * N``: ``N = sqrt(flops / (6 r))``.
    """
    n_params = math.sqrt(flops / (6 * tokens_per_param))
    return n_params, tokens_per_param * n_params


def chinchilla_loss(n_params, n_tokens):
    """Hoffmann et al.'s parametric fit of the loss (nats/token): ``E + A / N^alpha + B / D^beta``."""
    return (CHINCHILLA_E + CHINCHILLA_A / n_params**CHINCHILLA_ALPHA
            + CHINCHILLA_B / n_tokens**CHINCHILLA_BETA)


def chinchilla_fit_optimal(flops):
    """``(n_params, n_tokens)`` minimising :func:`chinchilla_loss` subject to ``6 N D = flops``.

    Setting the derivative along ``D = flops / (6 N)`` to zero gives
    ``N = G (flops / 6)^(beta / (alpha + beta))`` with ``G = (alpha A / (beta B))^(1 / (alpha + beta))``
    (Hoffmann et al. 2022, eq. 4).
    """
    alpha, beta = CHINCHILLA_ALPHA, CHINCHILLA_BETA
    g = (alpha * CHINCHILLA_A / (beta * CHINCHILLA_B)) ** (1 / (alpha + beta))
    n_params = g * (flops / 6) ** (beta / (alpha + beta))
    return n_params, flops / (6 * n_params)


def fit_power_law(x, y):
    """Least-squares fit of ``y = a * x^b`` in log-log space; returns floats ``(a, b)``.

    ``x`` and ``y`` are sequences of positive numbers of the same length (at least two distinct x).
    Fitting ``log y = log a + b log x`` by ordinary least squares weighs every point's relative
    error equally, which is what a straight line on a log-log plot shows.
    """
    log_x, log_y = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))
    dx = log_x - log_x.mean()
    b = float((dx * (log_y - log_y.mean())).sum() / (dx * dx).sum())
    a = float(np.exp(log_y.mean() - b * log_x.mean()))
    return a, b


def growth_per_year(years, n_params):
    """Factor by which ``n_params`` grows per year, from a least-squares line through ``log n_params``.

    ``years`` are dates as decimal years (2020.5 is mid-2020); the fit is ``log n = c + k * year``
    and the factor is ``e^k``. Returns a float.
    """
    years, log_n = np.asarray(years, dtype=float), np.log(np.asarray(n_params, dtype=float))
    dt = years - years.mean()
    slope = (dt * (log_n - log_n.mean())).sum() / (dt * dt).sum()
    return float(np.exp(slope))


@functools.cache
def student_t_quantile(p, df):
    """Quantile ``p`` (above 0.5) of Student's t distribution with ``df`` degrees of freedom.

    Integrates the density with the trapezoid rule on ``[0, 200]`` in steps of 10^-3; accurate to
    about 10^-5 for ``df >= 2``.
    """
    t = np.linspace(0.0, 200.0, 200_001)
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    density = np.exp(log_norm - (df + 1) / 2 * np.log1p(t * t / df))
    cdf = 0.5 + np.concatenate(([0.0], np.cumsum((density[1:] + density[:-1]) / 2 * np.diff(t))))
    return float(np.interp(p, cdf, t))


def power_law_exponent_interval(x, y, level=0.95):
    """Confidence interval ``(low, high)`` for ``b`` in the log-log fit ``y = a x^b``.

    The usual interval of an ordinary least-squares slope: ``b +- t * s / sqrt(sum (log x - mean)^2)``,
    with ``s^2`` the residual variance on ``n - 2`` degrees of freedom and ``t`` Student's quantile.
    It assumes independent, equally noisy residuals in log space.
    """
    log_x, log_y = np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float))
    a, b = fit_power_law(x, y)
    residuals = log_y - (math.log(a) + b * log_x)
    n = len(log_x)
    s = math.sqrt((residuals**2).sum() / (n - 2))
    half_width = student_t_quantile(0.5 + level / 2, n - 2) * s / math.sqrt(((log_x - log_x.mean()) ** 2).sum())
    return b - half_width, b + half_width
