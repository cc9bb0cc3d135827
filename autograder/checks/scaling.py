"""Hidden checks of Chapter 3, Scale: against torch modules, closed forms and published tables.

Every part's labelled edge cases run under every key: every option of ``parameter_counts`` alone
and together, the published configurations, integer counts beyond 64 bits, exact unit conversions,
budgets whose split is not a whole number, integers beyond 2^63 wherever counts may be ints, and
fits whose points do not lie on one line (so that
a line through the first and last point is not the least-squares one) or lie so close together
that float32 arithmetic cannot tell them apart.
"""

import math

import numpy as np
import torch

from autograder.checks import Case, Check, compare_outputs, register


def _randint(generator, low, high):
    """A random integer in ``[low, high]``."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def _uniform(generator, low, high):
    return float(torch.empty(1, dtype=torch.float64).uniform_(low, high, generator=generator))


def _log_uniform(generator, low, high):
    """A float whose logarithm is uniform between ``log low`` and ``log high``."""
    return math.exp(_uniform(generator, math.log(low), math.log(high)))


def _noise(generator, n, scale=0.3):
    """``n`` factors ``e^(scale * z)`` with ``z`` standard normal: multiplicative noise, as a tensor."""
    return torch.exp(scale * torch.randn(n, generator=generator, dtype=torch.float64))


class _FloatCheck(Check):
    """A check whose part promises floats: where the reference returns a float, so must the answer
    (an int such as ``10`` for ``10.0`` fails, with a message that says so)."""

    def compare(self, case, actual):
        expected = self.expected(case)
        return _not_floats(actual, expected) or compare_outputs(actual, expected, self.rtol, self.atol)


def _not_floats(actual, expected):
    """A reason when ``actual`` holds an int or bool where ``expected`` holds a float, else ``None``."""
    if isinstance(expected, float):
        if isinstance(actual, int):  # bool included
            return f"expected a float, got {type(actual).__name__} {actual!r}: the part asks for floats"
        return None
    if isinstance(expected, tuple) and isinstance(actual, (tuple, list)) and len(actual) == len(expected):
        for i, (a, e) in enumerate(zip(actual, expected)):
            reason = _not_floats(a, e)
            if reason:
                return f"output {i}: {reason}"
    return None


# --- parameter counts: build the model in torch (on the meta device: shapes, no memory) ---------


def _torch_counts(n_layers, d_model, vocab_size, context_length, d_ff=None, tied_embeddings=True, bias=True):
    """Count the parameters of torch modules laid out as GPT-2/GPT-3, grouped per component.

    A pre-LN ``TransformerEncoderLayer`` holds exactly one GPT block's weights: fused in-projection
    and output projection (attention), ``linear1`` and ``linear2`` (MLP), ``norm1`` and ``norm2``.
    """
    d_ff = 4 * d_model if d_ff is None else d_ff
    with torch.device("meta"):
        block = torch.nn.TransformerEncoderLayer(d_model, nhead=1, dim_feedforward=d_ff, bias=bias, norm_first=True)
        final_norm = torch.nn.LayerNorm(d_model, bias=bias)
        token_embedding = torch.nn.Embedding(vocab_size, d_model)
        head = torch.nn.Linear(d_model, vocab_size, bias=False)
    per_block = {"attention": 0, "mlp": 0, "layer_norms": 0}
    for name, p in block.named_parameters():
        group = "attention" if name.startswith("self_attn") else "mlp" if name.startswith("linear") else "layer_norms"
        per_block[group] += p.numel()
    position = 0
    if context_length:
        with torch.device("meta"):
            position = torch.nn.Embedding(context_length, d_model).weight.numel()
    return {
        "token_embedding": token_embedding.weight.numel(),
        "position_embedding": position,
        "attention": n_layers * per_block["attention"],
        "mlp": n_layers * per_block["mlp"],
        "layer_norms": n_layers * per_block["layer_norms"] + sum(p.numel() for p in final_norm.parameters()),
        "output_head": 0 if tied_embeddings else head.weight.numel(),
    }


def _config_edges(generator):
    """Published configurations (vocab 50,257; context 1,024 for GPT-2 and 2,048 for GPT-3): GPT-2 124M
    (Radford et al. 2019), GPT-3 13B and 175B (Brown et al. 2020, Table 2.1), BLOOM-176B's sizes (ALiBi,
    no position table); then every combination of the options on a small config of odd sizes, in which
    ``d_ff`` (13) differs from ``4 * d_model`` (20) and from ``d_model`` (5)."""
    cases = [
        Case((12, 768, 50257, 1024), label="GPT-2 small (124M), every option at its default"),
        Case((40, 5120, 50257, 2048), label="GPT-3 13B"),
        Case((96, 12288, 50257, 2048), label="GPT-3 175B"),
        Case((70, 14336, 250880, 0), label="BLOOM-176B's sizes, no position table"),
    ]
    for tied in (True, False):
        for bias in (True, False):
            for d_ff in (None, 13):
                for context_length in (11, 0):
                    kwargs = {"d_ff": d_ff, "tied_embeddings": tied, "bias": bias}
                    label = (f"tied_embeddings={tied}, bias={bias}, d_ff={'None (4 * d_model)' if d_ff is None else d_ff}, "
                             f"context_length={context_length}")
                    cases.append(Case((3, 5, 7, context_length), kwargs, label=label))
    return cases + [
        Case((0, 6, 9, 4), label="no blocks (n_layers=0): the embeddings and the final LayerNorm"),
        Case((2, 1, 3, 2), {"d_ff": 2}, label="d_model=1"),
        Case((2, 8, 9, 4), {"d_ff": 3}, label="d_ff smaller than d_model"),
        Case((2, 6, 9, 4, 10, False, False), label="every option passed by position"),
    ]


def _config_cases(generator):
    cases = []
    for i in range(6):
        args = (_randint(generator, 1, 12), _randint(generator, 1, 96), _randint(generator, 2, 5000),
                _randint(generator, 0, 2048) if i % 3 else 0)
        kwargs = {}
        if i % 2:
            kwargs["d_ff"] = _randint(generator, 1, 400)
        if i in (1, 4, 5):
            kwargs["tied_embeddings"] = False
        if i in (2, 5):
            kwargs["bias"] = False
        cases.append(Case(args, kwargs))
    return cases


register(
    Check(
        name="scaling.parameter_counts",
        function="parameter_counts",
        edge_cases=_config_edges,
        cases=_config_cases,
        reference=_torch_counts,
        rtol=0.0,
        atol=0.0,
        forbid=("TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder", "TransformerDecoder",
                "Transformer", "Linear", "Embedding", "LayerNorm", "numel", "parameters"),
        # building torch modules initialises their weights (uniform_, normal_, fill_); counting reads numel
        forbid_ops=("aten::uniform_", "aten::normal_", "aten::fill_", "torch.Tensor.numel", "torch.Tensor.nelement"),
        description="per-component counts, as ints, equal those of torch modules built to the same config: "
                    "GPT-2, GPT-3 13B and 175B, BLOOM, every combination of tied_embeddings, bias, d_ff and "
                    "context_length=0, no blocks, and random configs",
    )
)


# --- training compute ------------------------------------------------------------------------


def _flops_reference(n_params, n_tokens):
    """Forward: a multiply and an add per parameter per token; backward: twice the forward. Two ints
    give the exact int, as the notebook says; anything else a float."""
    forward = 2 * n_params * n_tokens
    exact = type(n_params) is int and type(n_tokens) is int
    return forward + 2 * forward if exact else float(forward + 2 * forward)


def _flops_edges(generator):
    return [
        Case((174_600e6, 300e9), label="GPT-3 175B: 174,600 million parameters on 300 billion tokens (Brown et al. 2020, Table D.1)"),
        Case((175_000_000_000, 300_000_000_000), label="integer counts whose product overflows 64-bit integers"),
        Case((1, 1), label="one parameter, one token"),
        Case((3, 7), label="small integer counts"),
        Case((10**9, 0), label="no tokens: no compute"),
        Case((10**12 + 1, 10**12), label="integer counts whose product needs more than a float's 53 bits: the exact int"),
        Case((175_000_000_000, 300e9), label="an int and a float: a float"),
        Case((1.5, 1.5), label="float arguments whose product is not whole: 13.5, not rounded"),
    ]


def _flops_cases(generator):
    cases = [Case((_log_uniform(generator, 1e4, 1e12), _log_uniform(generator, 1e6, 1e13))) for _ in range(3)]
    return cases + [Case((_randint(generator, 10**3, 10**12), _randint(generator, 10**6, 10**13))) for _ in range(2)]


register(
    Check(
        name="scaling.training_flops",
        function="training_flops",
        edge_cases=_flops_edges,
        cases=_flops_cases,
        reference=_flops_reference,
        rtol=1e-9,
        atol=0.0,
        description="6 N D: 2 N D for the forward pass plus twice that for the backward, on GPT-3 175B, "
                    "integer counts beyond 64 bits (the exact int for two ints), no tokens, and random float and "
                    "integer sizes",
    )
)


def _pf_days_reference(flops):
    return flops / 1e15 / 86_400.0


def _pf_days_edges(generator):
    return [
        Case((8.64e19,), label="8.64e19 FLOPs: one petaflop/s-day"),
        Case((3.6e18,), label="3.6e18 FLOPs: one petaflop/s-hour, a 24th of a day"),
        Case((1e15,), label="10^15 FLOPs: one petaflop/s for one second"),
        Case((3.14e23,), label="GPT-3 175B's 3.14e23 FLOPs (Brown et al. 2020, Table D.1)"),
        Case((10**24,), label="an integer number of FLOPs"),
        Case((1.0,), label="a single FLOP"),
        Case((0.0,), label="no FLOPs"),
    ]


register(
    _FloatCheck(
        name="scaling.petaflop_s_days",
        function="petaflop_s_days",
        edge_cases=_pf_days_edges,
        cases=lambda g: [Case((_log_uniform(g, 1e15, 1e27),)) for _ in range(4)],
        reference=_pf_days_reference,
        rtol=1e-9,
        atol=0.0,
        description="FLOPs divided by 10^15 FLOP/s times 86,400 s, as a float: one PF-day, one PF-hour, "
                    "one PF-second, GPT-3 175B, a single FLOP, none, and random budgets",
    )
)


# --- compute-optimal split -------------------------------------------------------------------


def _chinchilla_reference(flops, tokens_per_param=20):
    """Solve for the tokens first: D^2 = flops * r / 6, then N = flops / (6 D)."""
    n_tokens = math.sqrt(flops * tokens_per_param / 6.0)
    return (flops / (6.0 * n_tokens), n_tokens)


def _chinchilla_edges(generator):
    return [
        Case((6 * 70e9 * 1.4e12,), label="Chinchilla's budget: 70B parameters on 1.4T tokens"),
        Case((5.76e23,), label="Gopher's budget, 5.76e23 FLOPs (Hoffmann et al. 2022, Table 3)"),
        Case((1000.0,), label="1,000 FLOPs: a split that is not a whole number"),
        Case((7.5e20,), {"tokens_per_param": 1}, label="tokens_per_param=1: as many tokens as parameters"),
        Case((7.5e20,), {"tokens_per_param": 0.5}, label="tokens_per_param=0.5: fewer tokens than parameters"),
        Case((7.5e20, 40), label="tokens_per_param passed by position"),
        Case((10**24,), label="an integer budget"),
        Case((1e30,), {"tokens_per_param": 200.0}, label="a budget of 1e30 FLOPs at 200 tokens per parameter"),
    ]


def _chinchilla_cases(generator):
    cases = [Case((_log_uniform(generator, 1e15, 1e27),)) for _ in range(3)]
    cases += [Case((_log_uniform(generator, 1e15, 1e27),), {"tokens_per_param": _uniform(generator, 1.0, 200.0)})
              for _ in range(3)]
    return cases


register(
    _FloatCheck(
        name="scaling.chinchilla_optimal",
        function="chinchilla_optimal",
        edge_cases=_chinchilla_edges,
        cases=_chinchilla_cases,
        reference=_chinchilla_reference,
        rtol=1e-9,
        atol=0.0,
        description="(N, D) as floats with 6 N D = budget and D = tokens_per_param * N: Chinchilla's and Gopher's "
                    "budgets, a split that is not a whole number, ratios of 1, 0.5 and 40, and random budgets and ratios",
    )
)


# --- power-law fit ----------------------------------------------------------------------------


def _power_law_reference(x, y):
    """numpy's degree-1 polynomial fit of log y against log x."""
    slope, intercept = np.polyfit(np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float)), 1)
    return (float(math.exp(intercept)), float(slope))


def _noisy_law(generator, x, a, b, scale=0.3):
    """``(x, y)`` as lists, with ``y = a x^b`` times random noise, so that no line fits every point."""
    x = torch.tensor(x, dtype=torch.float64)
    return x.tolist(), (a * x**b * _noise(generator, len(x), scale)).tolist()


def _power_law_edges(generator):
    decades = [1.0, 10.0, 100.0, 1000.0]
    close = torch.linspace(1e6, 1.05e6, 6, dtype=torch.float64).tolist()
    sizes = [10**9, 3 * 10**9, 10**10, 7 * 10**10]  # as ints, their compute 120 N^2 passes 2^63
    return [
        Case((decades, [3.0 * v**0.5 for v in decades]), label="an exact power law, 3 x^0.5"),
        Case(_noisy_law(generator, [1e3, 1e4, 1e5, 1e6, 1e7], 5.0, -0.25), label="a noisy power law, no line through every point"),
        Case(([2.0, 50.0], [7.0, 0.3]), label="two points"),
        Case(_noisy_law(generator, [0.01, 0.05, 0.2, 0.5], 2.0, 1.5), label="x below 1 (negative logarithms)"),
        Case(_noisy_law(generator, [300.0, 2.0, 5e4, 40.0, 7e3], 0.5, 0.7), label="x not sorted"),
        Case(_noisy_law(generator, [2.0, 2.0, 5.0, 5.0, 9.0], 1.0, 2.0), label="repeated x values"),
        Case(([1.0, 3.0, 9.0, 27.0], [4.0, 4.0, 4.0, 4.0]), label="constant y: exponent 0"),
        Case(_noisy_law(generator, close, 10.0, 0.8, 0.002), label="x within 5 % of each other (float32 logarithms are too coarse)"),
        Case(([1, 10, 100, 1000, 10000], [9, 4, 2, 2, 1]), label="integers in x and y"),
        Case((sizes, [120 * n * n for n in sizes]), label="integer FLOP counts beyond 2^63 in y (6 N D at 20 tokens per parameter)"),
        Case(([120 * n * n for n in sizes], [3.1, 2.8, 2.4, 2.3]), label="integer FLOP counts beyond 2^63 in x"),
        Case(_noisy_law(generator, [1e-3, 1.0, 1e3, 1e6, 1e9, 1e12], 7.0, -0.05), label="x across 15 decades"),
        Case(tuple(np.array(v) for v in _noisy_law(generator, [1e3, 1e4, 1e5, 1e6], 2.0, -0.3)),
             label="numpy arrays of float64, as the visible test passes (to be left as they were)"),
    ]


def _power_law_cases(generator):
    cases = []
    for i in range(5):
        n = _randint(generator, 3, 12)
        x = torch.logspace(_uniform(generator, 0, 4), _uniform(generator, 5, 12), n, dtype=torch.float64)
        a, b = _log_uniform(generator, 0.1, 100.0), _uniform(generator, -1.0, 1.0)
        noise = _noise(generator, n, 0.1) if i else torch.ones(n, dtype=torch.float64)
        y = a * x**b * noise
        cases.append(Case((x.tolist(), y.tolist())))
    return cases


register(
    _FloatCheck(
        name="scaling.fit_power_law",
        function="fit_power_law",
        edge_cases=_power_law_edges,
        cases=_power_law_cases,
        reference=_power_law_reference,
        rtol=1e-6,
        atol=1e-9,
        description="(a, b) as floats, as numpy.polyfit of log y on log x gives them: an exact and noisy laws, two "
                    "points, x below 1, unsorted and repeated x, constant y, x close together or across 15 decades, "
                    "integers (beyond 2^63 too), and random laws",
    )
)


# --- growth over time -------------------------------------------------------------------------


def _growth_reference(years, n_params):
    slope, _ = np.polyfit(np.asarray(years, dtype=float), np.log10(np.asarray(n_params, dtype=float)), 1)
    return float(10.0**slope)


def _noisy_growth(generator, years, factor, scale=0.5):
    """``(years, sizes)`` as lists: sizes growing ``factor``-fold a year from 10^8, times random noise."""
    years = torch.tensor(years, dtype=torch.float64)
    return years.tolist(), (1e8 * factor ** (years - 2015) * _noise(generator, len(years), scale)).tolist()


def _growth_edges(generator):
    # the notebook's table: BERT-base, GPT-2, GPT-3, Gopher and PaLM, dated as its growth_table cell dates them
    table_years = [2018 + 9 / 12, 2019 + 1 / 12, 2020 + 4 / 12, 2021 + 11 / 12, 2022 + 3 / 12]
    monthly = [2020 + k / 12 for k in range(7)]
    return [
        Case((table_years, [110e6, 1542e6, 175e9, 280e9, 540e9]), label="the notebook's table, BERT-base to PaLM"),
        Case(([2016.0, 2017.0, 2018.0, 2019.0], [1e7, 1e8, 1e9, 1e10]), label="an exact exponential, tenfold a year"),
        Case(([2020.0, 2021.0, 2022.0, 2023.0], [1.0, 1.0, 8.0, 8.0]), label="the line through all points, not through the first and last"),
        Case(_noisy_growth(generator, [2016.5, 2017.25, 2019.0, 2020.75, 2021.5, 2023.0], 3.0), label="noisy sizes"),
        Case(([2019.0, 2021.5], [3e9, 7e10]), label="two models"),
        Case(_noisy_growth(generator, [2022.0, 2017.5, 2020.25, 2018.0, 2023.5], 5.0), label="dates not sorted"),
        Case(_noisy_growth(generator, [2018.0, 2019.0, 2020.0, 2021.0], 0.5), label="shrinking sizes: a factor below 1"),
        Case(_noisy_growth(generator, [2019.0, 2019.0, 2020.5, 2022.0, 2022.0], 4.0), label="two models in the same year"),
        Case(_noisy_growth(generator, monthly, 10.0, 0.05), label="dates a month apart (float32 dates are too coarse)"),
        Case(([2018, 2019, 2020, 2022], [110_000_000, 1_542_000_000, 175_000_000_000, 540_000_000_000]),
             label="integer years and sizes"),
        Case(([2018, 2020, 2021, 2023], [10**19, 3 * 10**20, 2 * 10**21, 10**23]),
             label="integer sizes beyond 2^63 (training FLOPs, as training_flops returns them for integer counts)"),
        Case(tuple(np.array(v) for v in _noisy_growth(generator, [2017.0, 2019.5, 2018.25, 2022.0], 4.0)),
             label="numpy arrays of float64 (to be left as they were)"),
    ]


def _growth_cases(generator):
    cases = []
    for _ in range(4):
        n = _randint(generator, 3, 10)
        years = (2015 + 10 * torch.rand(n, generator=generator, dtype=torch.float64)).tolist()
        sizes = torch.exp(torch.empty(n, dtype=torch.float64).uniform_(15, 27, generator=generator)).tolist()
        cases.append(Case((years, sizes)))
    return cases


register(
    _FloatCheck(
        name="scaling.growth_per_year",
        function="growth_per_year",
        edge_cases=_growth_edges,
        cases=_growth_cases,
        reference=_growth_reference,
        rtol=1e-6,
        atol=0.0,
        description="10 to the slope of numpy.polyfit(years, log10 n_params, 1), as a float: the notebook's table, "
                    "exact and noisy growth, two models, unsorted and repeated dates, shrinking sizes, monthly dates, "
                    "integers (sizes beyond 2^63 too), and random tables",
    )
)
