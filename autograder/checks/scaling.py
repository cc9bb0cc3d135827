"""Hidden checks of Chapter 3, Scale: against torch modules, closed forms and published tables."""

import math

import numpy as np
import torch

from autograder.checks import Case, Check, register


def _randint(generator, low, high):
    """A random integer in ``[low, high]``."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def _uniform(generator, low, high):
    return float(torch.empty(1, dtype=torch.float64).uniform_(low, high, generator=generator))


def _log_uniform(generator, low, high):
    """A float whose logarithm is uniform between ``log low`` and ``log high``."""
    return math.exp(_uniform(generator, math.log(low), math.log(high)))


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


# Published configurations (vocab 50,257; context 1,024 for GPT-2 and 2,048 for GPT-3):
# GPT-2 124M (Radford et al. 2019), GPT-3 13B with d_model 5120 and GPT-3 175B
# (Brown et al. 2020, Table 2.1), and BLOOM-176B's blocks (ALiBi, no position table).
_PUBLISHED_CONFIGS = [
    Case((12, 768, 50257, 1024)),
    Case((40, 5120, 50257, 2048)),
    Case((96, 12288, 50257, 2048)),
    Case((70, 14336, 250880, 0)),
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
    return cases + _PUBLISHED_CONFIGS


register(
    Check(
        name="scaling.parameter_counts",
        function="parameter_counts",
        cases=_config_cases,
        reference=_torch_counts,
        rtol=0.0,
        atol=0.0,
        forbid=("TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder", "TransformerDecoder",
                "Transformer", "Linear", "Embedding", "LayerNorm", "numel", "parameters"),
        # building torch modules initialises their weights (uniform_, normal_, fill_); counting reads numel
        forbid_ops=("aten::uniform_", "aten::normal_", "aten::fill_", "torch.Tensor.numel", "torch.Tensor.nelement"),
        description="per-component counts equal those of torch modules built to the same config, "
                    "on random configs (d_ff, untied head, no biases, no position table) and on GPT-2, GPT-3 and BLOOM",
    )
)


# --- training compute ------------------------------------------------------------------------


def _flops_reference(n_params, n_tokens):
    """Forward: a multiply and an add per parameter per token; backward: twice the forward."""
    forward = 2 * n_params * n_tokens
    return float(forward + 2 * forward)


def _flops_cases(generator):
    # Brown et al. (2020), Table D.1: GPT-3 175B, 174,600 million parameters on 300 billion tokens
    cases = [Case((174_600e6, 300e9))]
    cases += [Case((_log_uniform(generator, 1e4, 1e12), _log_uniform(generator, 1e6, 1e13))) for _ in range(5)]
    return cases


register(
    Check(
        name="scaling.training_flops",
        function="training_flops",
        cases=_flops_cases,
        reference=_flops_reference,
        rtol=1e-9,
        atol=0.0,
        description="6 N D: 2 N D for the forward pass plus twice that for the backward, on random sizes and GPT-3 175B",
    )
)


def _pf_days_reference(flops):
    return flops / 1e15 / 86_400.0


register(
    Check(
        name="scaling.petaflop_s_days",
        function="petaflop_s_days",
        cases=lambda g: [Case((3.14e23,)), Case((8.64e19,))] + [Case((_log_uniform(g, 1e15, 1e27),)) for _ in range(4)],
        reference=_pf_days_reference,
        rtol=1e-9,
        atol=0.0,
        description="FLOPs divided by 10^15 FLOP/s times 86,400 s; GPT-3 175B's 3.14e23 FLOPs are 3.63e3 PF-days",
    )
)


# --- compute-optimal split -------------------------------------------------------------------


def _chinchilla_reference(flops, tokens_per_param=20):
    """Solve for the tokens first: D^2 = flops * r / 6, then N = flops / (6 D)."""
    n_tokens = math.sqrt(flops * tokens_per_param / 6.0)
    return (flops / (6.0 * n_tokens), n_tokens)


def _chinchilla_cases(generator):
    # Hoffmann et al. (2022), Table 3: Gopher's budget of 5.76e23 FLOPs
    cases = [Case((5.76e23,))]
    cases += [Case((_log_uniform(generator, 1e15, 1e27),)) for _ in range(3)]
    cases += [Case((_log_uniform(generator, 1e15, 1e27),), {"tokens_per_param": _uniform(generator, 1.0, 200.0)})
              for _ in range(3)]
    return cases


register(
    Check(
        name="scaling.chinchilla_optimal",
        function="chinchilla_optimal",
        cases=_chinchilla_cases,
        reference=_chinchilla_reference,
        rtol=1e-9,
        atol=0.0,
        description="(N, D) with 6 N D = budget and D = tokens_per_param * N, on random budgets and ratios",
    )
)


# --- power-law fit ----------------------------------------------------------------------------


def _power_law_reference(x, y):
    """numpy's degree-1 polynomial fit of log y against log x."""
    slope, intercept = np.polyfit(np.log(np.asarray(x, dtype=float)), np.log(np.asarray(y, dtype=float)), 1)
    return (float(math.exp(intercept)), float(slope))


def _power_law_cases(generator):
    cases = []
    for i in range(5):
        n = _randint(generator, 3, 12)
        x = torch.logspace(_uniform(generator, 0, 4), _uniform(generator, 5, 12), n, dtype=torch.float64)
        a, b = _log_uniform(generator, 0.1, 100.0), _uniform(generator, -1.0, 1.0)
        noise = torch.exp(0.1 * torch.randn(n, generator=generator, dtype=torch.float64)) if i else torch.ones(n, dtype=torch.float64)
        y = a * x**b * noise
        cases.append(Case((x.tolist(), y.tolist())))
    return cases


register(
    Check(
        name="scaling.fit_power_law",
        function="fit_power_law",
        cases=_power_law_cases,
        reference=_power_law_reference,
        rtol=1e-6,
        atol=1e-9,
        description="matches numpy.polyfit of log y on log x, on exact and noisy power laws with random exponents",
    )
)


# --- growth over time -------------------------------------------------------------------------


def _growth_reference(years, n_params):
    slope, _ = np.polyfit(np.asarray(years, dtype=float), np.log10(np.asarray(n_params, dtype=float)), 1)
    return float(10.0**slope)


def _growth_cases(generator):
    # model sizes over time, as in the course's table: BERT-base, GPT-2, GPT-3, PaLM
    cases = [Case(([2018.75, 2019.083, 2020.333, 2022.25], [110e6, 1542e6, 175e9, 540e9]))]
    for _ in range(4):
        n = _randint(generator, 3, 10)
        years = (2015 + 10 * torch.rand(n, generator=generator, dtype=torch.float64)).tolist()
        sizes = torch.exp(torch.empty(n, dtype=torch.float64).uniform_(15, 27, generator=generator)).tolist()
        cases.append(Case((years, sizes)))
    return cases


register(
    Check(
        name="scaling.growth_per_year",
        function="growth_per_year",
        cases=_growth_cases,
        reference=_growth_reference,
        rtol=1e-6,
        atol=0.0,
        description="10 to the slope of numpy.polyfit(years, log10 n_params, 1), on random tables and a published one",
    )
)
