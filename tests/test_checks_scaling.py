"""Chapter 3's hidden checks pass the reference and fail plausible wrong answers."""

import math

import numpy as np
import pytest
import torch

import solutions.scaling as S
from autograder.checks import check, draw_cases, get, judge

NAMES = ["parameter_counts", "training_flops", "petaflop_s_days", "chinchilla_optimal", "fit_power_law",
         "growth_per_year"]


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes(name):
    for _ in range(3):  # fresh random cases each time
        check(f"scaling.{name}", getattr(S, name))


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes_on_many_seeds(name):
    check_ = get(f"scaling.{name}")
    function = getattr(S, name)
    for seed in range(60):
        for case in draw_cases(check_, seed):
            reason = judge(check_, case, function)
            assert reason is None, f"seed {seed}, {case.describe()}: {reason}"


def no_attention_biases(n_layers, d_model, vocab_size, context_length, d_ff=None, tied_embeddings=True, bias=True):
    counts = S.parameter_counts(n_layers, d_model, vocab_size, context_length, d_ff, tied_embeddings, bias)
    return dict(counts, attention=n_layers * 4 * d_model * d_model)


def one_layer_norm_per_block(n_layers, d_model, vocab_size, context_length, d_ff=None, tied_embeddings=True, bias=True):
    counts = S.parameter_counts(n_layers, d_model, vocab_size, context_length, d_ff, tied_embeddings, bias)
    return dict(counts, layer_norms=counts["layer_norms"] - n_layers * (2 if bias else 1) * d_model)


def ignores_d_ff(n_layers, d_model, vocab_size, context_length, d_ff=None, tied_embeddings=True, bias=True):
    return S.parameter_counts(n_layers, d_model, vocab_size, context_length, None, tied_embeddings, bias)


def always_tied(n_layers, d_model, vocab_size, context_length, d_ff=None, tied_embeddings=True, bias=True):
    return S.parameter_counts(n_layers, d_model, vocab_size, context_length, d_ff, True, bias)


def head_with_bias(n_layers, d_model, vocab_size, context_length, d_ff=None, tied_embeddings=True, bias=True):
    counts = S.parameter_counts(n_layers, d_model, vocab_size, context_length, d_ff, tied_embeddings, bias)
    return dict(counts, output_head=counts["output_head"] + (0 if tied_embeddings else vocab_size))


def approx_only(n_layers, d_model, vocab_size, context_length, d_ff=None, tied_embeddings=True, bias=True):
    return {"token_embedding": vocab_size * d_model, "position_embedding": context_length * d_model,
            "attention": 4 * n_layers * d_model**2, "mlp": 8 * n_layers * d_model**2, "layer_norms": 0, "output_head": 0}


def polyfit_wrong_axes(x, y):
    slope, intercept = np.polyfit(np.log(y), np.log(x), 1)
    return math.exp(intercept), slope


def linear_fit(x, y):
    slope, intercept = np.polyfit(x, y, 1)
    return intercept, slope


def log10_intercept(x, y):
    slope, intercept = np.polyfit(np.log10(x), np.log10(y), 1)
    return math.exp(intercept), slope


def growth_in_log10(years, n_params):
    slope, _ = np.polyfit(years, np.log10(n_params), 1)
    return float(slope)


def growth_first_to_last(years, n_params):
    return float((n_params[-1] / n_params[0]) ** (1 / (years[-1] - years[0])))


@pytest.mark.parametrize("name, wrong", [
    ("parameter_counts", no_attention_biases),
    ("parameter_counts", one_layer_norm_per_block),
    ("parameter_counts", ignores_d_ff),
    ("parameter_counts", always_tied),
    ("parameter_counts", head_with_bias),
    ("parameter_counts", approx_only),
    ("training_flops", lambda n, d: 2 * n * d),
    ("training_flops", lambda n, d: 3 * n * d),
    ("petaflop_s_days", lambda flops: flops / 1e15 / 3600),
    ("petaflop_s_days", lambda flops: flops / 1e15),
    ("chinchilla_optimal", lambda flops, tokens_per_param=20: S.chinchilla_optimal(flops)),
    ("chinchilla_optimal", lambda flops, tokens_per_param=20: (flops / (6 * tokens_per_param),) * 2),
    ("chinchilla_optimal", lambda flops, tokens_per_param=20: S.chinchilla_optimal(flops, tokens_per_param)[::-1]),
    ("fit_power_law", polyfit_wrong_axes),
    ("fit_power_law", linear_fit),
    ("fit_power_law", log10_intercept),
    ("growth_per_year", growth_in_log10),
    ("growth_per_year", growth_first_to_last),
])
def test_wrong_answer_fails(name, wrong):
    with pytest.raises(AssertionError):
        for _ in range(3):
            check(f"scaling.{name}", wrong)


def test_hard_coded_answer_fails():
    recorded = S.parameter_counts(12, 768, 50257, 1024)
    with pytest.raises(AssertionError):
        check("scaling.parameter_counts", lambda *args, **kwargs: recorded)
    assert sum(recorded.values()) == 124_439_808


@pytest.mark.parametrize("name", NAMES)
def test_edge_cases_are_labelled_and_the_same_under_every_seed(name):
    check_ = get(f"scaling.{name}")
    edges = check_.edge_cases(torch.Generator().manual_seed(0))
    assert edges and all(case.label for case in edges)
    for seed in (0, 1, 12345):
        drawn = draw_cases(check_, seed)[:len(edges)]
        assert [case.describe() for case in drawn] == [case.describe() for case in edges]
        assert [_plain(case.args) for case in drawn] == [_plain(case.args) for case in edges]


def _plain(args):
    """``args`` with numpy arrays as lists, to compare with ``==``."""
    return [a.tolist() if isinstance(a, np.ndarray) else a for a in args]


def test_parameter_counts_edges_cover_every_combination_of_options():
    edges = get("scaling.parameter_counts").edge_cases(torch.Generator().manual_seed(0))
    seen = {(case.kwargs.get("tied_embeddings", True), case.kwargs.get("bias", True),
             case.kwargs.get("d_ff") is None, case.args[3] == 0) for case in edges}
    assert len(seen) == 16


def test_feedback_names_the_edge_case():
    def flops_as_numpy_product(n_params, n_tokens):
        return float(np.prod([6, n_params, n_tokens]))  # wraps around above 2^63 on integers

    with pytest.raises(AssertionError, match=r"\[edge case: integer counts whose product overflows 64-bit integers\]"):
        check("scaling.training_flops", flops_as_numpy_product)


def test_ints_fail_where_floats_are_promised():
    def rounded_split(flops, tokens_per_param=20):
        n_params, n_tokens = S.chinchilla_optimal(flops, tokens_per_param)
        return round(n_params), round(n_tokens)

    check_ = get("scaling.chinchilla_optimal")
    case = draw_cases(check_, 0)[0]  # Chinchilla's budget: 70e9 and 1.4e12, whole numbers either way
    assert "expected a float, got int" in check_.compare(case, rounded_split(*case.args, **case.kwargs))
    n_params, n_tokens = S.chinchilla_optimal(*case.args, **case.kwargs)
    assert check_.compare(case, (np.float64(n_params), np.float64(n_tokens))) is None  # numpy floats are floats
