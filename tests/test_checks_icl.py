"""Chapter 2's hidden checks pass the reference and fail plausible wrong answers."""

import pytest
import torch

import solutions.icl as I
from autograder.checks import check, draw_cases, get, judge

NAMES = {"build_prompt": "build_prompt", "max_shots": "max_shots_in_words", "top_k_filter": "top_k_filter",
         "top_p_filter": "top_p_filter", "sample_next_token": "sample_with_seed",
         "lookup_predictions": "lookup_predictions", "query_accuracy": "query_accuracy"}


@pytest.mark.parametrize("name", NAMES)
def test_reference_passes(name):
    for _ in range(3):  # fresh random cases each time
        check(f"icl.{name}", getattr(I, NAMES[name]))


@pytest.mark.parametrize("name", [n for n in NAMES if n != "sample_next_token"])
def test_reference_passes_on_many_seeds(name):
    check_ = get(f"icl.{name}")
    function = getattr(I, NAMES[name])
    for seed in range(100):
        for case in draw_cases(check_, seed):
            reason = judge(check_, case, function)
            assert reason is None, f"seed {seed}, {case.describe()}: {reason}"


def test_sampling_reference_passes_on_several_seeds():
    """5-standard-error bounds: a correct sampler fails a case with probability below 10^-5."""
    check_ = get("icl.sample_next_token")
    for seed in range(8):
        torch.manual_seed(seed)
        for case in draw_cases(check_, seed):
            reason = check_.compare(case, I.sample_with_seed(*case.args, **case.kwargs))
            assert reason is None, f"seed {seed}, {case.describe()}: {reason}"


def seeded(sample):
    """``sample_with_seed`` around another sampler, as the given cell wraps the student's."""
    def sample_with_seed(logits, seed, **options):
        try:
            return torch.stack([sample(logits, generator=torch.Generator().manual_seed(seed), **options)
                                for _ in range(2)])
        except ValueError:
            return "ValueError"
    return sample_with_seed


def prompt_with_trailing_space(examples, query, instruction="Classify this review:", label_name="Sentiment"):
    return I.build_prompt(examples, query, instruction, label_name) + " "


def prompt_without_blank_line(examples, query, instruction="Classify this review:", label_name="Sentiment"):
    return I.build_prompt(examples, query, instruction, label_name).replace("\n\n", "\n")


def prompt_instruction_once(examples, query, instruction="Classify this review:", label_name="Sentiment"):
    body = [f"{text}\n{label_name}: {label}" for text, label in examples] + [f"{query}\n{label_name}:"]
    return instruction + "\n" + "\n\n".join(body)


def in_words(max_shots):
    """``max_shots_in_words`` around another ``max_shots``, as the given code wraps the student's."""
    def max_shots_in_words(examples, query, context_window):
        try:
            return max_shots(examples, query, context_window, I.count_words)
        except ValueError as error:
            return str(error)
    return max_shots_in_words


def max_shots_off_by_one(examples, query, context_window, count_tokens):
    return I.max_shots(examples, query, context_window - 1, count_tokens)


def max_shots_ignoring_query(examples, query, context_window, count_tokens):
    return I.max_shots(examples, "", context_window, count_tokens)


def max_shots_returning_zero(examples, query, context_window, count_tokens):
    try:
        return I.max_shots(examples, query, context_window, count_tokens)
    except ValueError:
        return 0


def top_k_strict(logits, k):
    kth = logits.sort(dim=-1, descending=True).values[..., k - 1: k]
    return logits.masked_fill(logits <= kth, float("-inf"))  # drops the k-th itself


def top_k_last_dim_only_2d(logits, k):
    return I.top_k_filter(logits.reshape(-1, logits.shape[-1]), k)  # loses the batch shape


def top_p_excluding_crossing_token(logits, p):
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
    drop_sorted = cumulative > p
    drop_sorted[..., 0] = False
    return logits.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), float("-inf"))


def top_p_in_sorted_order(logits, p):
    sorted_logits, _ = logits.sort(dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    return sorted_logits.masked_fill(probs.cumsum(dim=-1) - probs >= p, float("-inf"))  # never scattered back


def top_p_on_logits_not_probs(logits, p):
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    before = sorted_logits.cumsum(dim=-1) - sorted_logits
    drop_sorted = before >= p
    return logits.masked_fill(drop_sorted.scatter(-1, order, drop_sorted), float("-inf"))


def sample_ignoring_temperature(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    return I.sample_next_token(logits, 1.0 if temperature else 0.0, top_k, top_p, generator)


def sample_multiplying_temperature(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature == 0:
        return logits.argmax(-1)
    return I.sample_next_token(logits * temperature * temperature, temperature, top_k, top_p, generator)


def sample_filters_before_temperature(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature == 0:
        return logits.argmax(-1)
    if top_p is not None:
        logits = I.top_p_filter(logits, top_p)
    return I.sample_next_token(logits, temperature, top_k, None, generator)


def sample_ignoring_filters(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    return I.sample_next_token(logits, temperature, None, None, generator)


def sample_top_p_before_top_k(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature == 0:
        return logits.argmax(-1)
    logits = logits / temperature
    if top_p is not None:
        logits = I.top_p_filter(logits, top_p)
    return I.sample_next_token(logits, 1.0, top_k, None, generator)


def sample_always_greedy(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    return logits.argmax(-1)


def lookup_first_label_always(tokens, n_symbols):
    return tokens[:, 1] - n_symbols if tokens.shape[1] > 1 else torch.zeros(tokens.shape[0], dtype=torch.int64)


def lookup_guess_one(tokens, n_symbols):
    predictions = I.lookup_predictions(tokens, n_symbols)
    found = (tokens[:, 0:-1:2] == tokens[:, -1:]).any(dim=1)
    return torch.where(found, predictions, 1)


def accuracy_written_differently(logits, answers, n_symbols, n_labels):
    """A right answer that shares no line with the reference: narrow, max's indices, a float64 division."""
    label_logits = logits.select(1, logits.shape[1] - 1).narrow(-1, n_symbols, n_labels)  # (n_tasks, n_labels)
    return int((label_logits.max(dim=-1).indices == answers).sum()) / answers.numel()


def test_query_accuracy_written_differently_passes():
    for _ in range(10):
        check("icl.query_accuracy", accuracy_written_differently)


def accuracy_over_whole_vocabulary(logits, answers, n_symbols, n_labels):
    return ((logits[:, -1].argmax(dim=-1) - n_symbols) == answers).float().mean().item()


def accuracy_at_first_position(logits, answers, n_symbols, n_labels):
    return I.query_accuracy(logits[:, :1], answers, n_symbols, n_labels)


def accuracy_at_last_label(logits, answers, n_symbols, n_labels):
    """Reads the position before the query (the last example's label); with no example, the query."""
    return I.query_accuracy(logits[:, : max(logits.shape[1] - 1, 1)], answers, n_symbols, n_labels)


def accuracy_of_token_ids(logits, answers, n_symbols, n_labels):
    predictions = logits[:, -1, n_symbols : n_symbols + n_labels].argmax(dim=-1) + n_symbols  # token ids
    return (predictions == answers).float().mean().item()


def accuracy_with_every_token_after_the_symbols(logits, answers, n_symbols, n_labels):
    return ((logits[:, -1, n_symbols:].argmax(dim=-1)) == answers).float().mean().item()


def accuracy_of_the_last_tokens(logits, answers, n_symbols, n_labels):
    """Takes the labels for the vocabulary's last tokens: right only when no token follows them."""
    return (logits[:, -1, -n_labels:].argmax(dim=-1) == answers).float().mean().item()


def accuracy_over_every_position(logits, answers, n_symbols, n_labels):
    return (logits[:, :, n_symbols : n_symbols + n_labels].mean(dim=1).argmax(dim=-1) == answers).float().mean().item()


def accuracy_as_count(logits, answers, n_symbols, n_labels):
    return round(I.query_accuracy(logits, answers, n_symbols, n_labels) * len(answers))


def accuracy_as_tensor(logits, answers, n_symbols, n_labels):
    return (logits[:, -1, n_symbols : n_symbols + n_labels].argmax(dim=-1) == answers).float().mean()


@pytest.mark.parametrize("name, wrong", [
    ("build_prompt", prompt_with_trailing_space),
    ("build_prompt", prompt_without_blank_line),
    ("build_prompt", prompt_instruction_once),
    ("max_shots", in_words(max_shots_off_by_one)),
    ("max_shots", in_words(max_shots_ignoring_query)),
    ("max_shots", in_words(max_shots_returning_zero)),
    ("top_k_filter", top_k_strict),
    ("top_k_filter", top_k_last_dim_only_2d),
    ("top_p_filter", top_p_excluding_crossing_token),
    ("top_p_filter", top_p_on_logits_not_probs),
    ("top_p_filter", top_p_in_sorted_order),
    ("sample_next_token", seeded(sample_ignoring_temperature)),
    ("sample_next_token", seeded(sample_multiplying_temperature)),
    ("sample_next_token", seeded(sample_filters_before_temperature)),
    ("sample_next_token", seeded(sample_always_greedy)),
    ("sample_next_token", seeded(sample_ignoring_filters)),
    ("sample_next_token", seeded(sample_top_p_before_top_k)),
    ("lookup_predictions", lookup_first_label_always),
    ("lookup_predictions", lookup_guess_one),
    ("query_accuracy", accuracy_over_whole_vocabulary),
    ("query_accuracy", accuracy_at_first_position),
    ("query_accuracy", accuracy_at_last_label),
    ("query_accuracy", accuracy_of_token_ids),
    ("query_accuracy", accuracy_with_every_token_after_the_symbols),
    ("query_accuracy", accuracy_of_the_last_tokens),
    ("query_accuracy", accuracy_over_every_position),
    ("query_accuracy", accuracy_as_count),
    ("query_accuracy", accuracy_as_tensor),
])
def test_wrong_answer_fails(name, wrong):
    with pytest.raises(AssertionError):
        for _ in range(3):
            check(f"icl.{name}", wrong)


def test_edge_cases_are_the_same_under_every_seed_and_come_first():
    for name in NAMES:
        check_ = get(f"icl.{name}")
        first, second = draw_cases(check_, 1), draw_cases(check_, 2)
        edges = [case for case in first if case.label]
        assert edges, f"icl.{name} has no edge cases"
        assert first[: len(edges)] == edges
        assert [case.describe() for case in second[: len(edges)]] == [case.describe() for case in edges]


def top_k_exactly_k(logits, k):
    order = logits.argsort(dim=-1, descending=True)
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order[..., :k], True)
    return logits.masked_fill(~keep, float("-inf"))


def test_feedback_names_the_edge_case():
    with pytest.raises(AssertionError, match=r"\[edge case: ties with the k-th largest logit\]"):
        check("icl.top_k_filter", top_k_exactly_k)


def test_top_p_reference_at_p_1_keeps_a_token_whose_probability_rounds_away():
    """By hand: e^-60 is 9e-27 of the top token's probability, lost in any float64 sum with it."""
    logits = torch.tensor([0.0, -60.0])
    reference = get("icl.top_p_filter").reference
    assert torch.equal(reference(logits, 1.0), logits)
    assert reference(logits, 0.999).tolist() == [0.0, float("-inf")]


def test_top_p_reference_keeps_ties_together():
    """The reviewer's case: logits [1, 1, 1, 0] at p = 0.5 keep all three tied tokens (1/3 each of 0.9)."""
    kept = torch.isfinite(get("icl.top_p_filter").reference(torch.tensor([1.0, 1.0, 1.0, 0.0]), 0.5))
    assert kept.tolist() == [True, True, True, False]


def test_sampling_feedback_asks_for_the_generator():
    def ignores_generator(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
        return I.sample_next_token(logits, temperature, top_k, top_p, None)

    with pytest.raises(AssertionError, match="generator"):
        check("icl.sample_next_token", seeded(ignores_generator))


def test_max_shots_feedback_asks_for_both_numbers():
    def vague(examples, query, context_window, count_tokens):
        if count_tokens(I.build_prompt([], query)) > context_window:
            raise ValueError("too long")
        return I.max_shots(examples, query, context_window, count_tokens)

    with pytest.raises(AssertionError, match=r"zero-shot prompt's number of tokens \(8\) and the window \(7\)"):
        check("icl.max_shots", in_words(vague))


def test_query_accuracy_must_be_a_python_float():
    check_ = get("icl.query_accuracy")
    case = next(case for case in draw_cases(check_, 0) if case.label.startswith("every task right"))
    assert check_.compare(case, 1) == "expected a Python float (use .item()), got int"
    assert check_.compare(case, 1.0) is None
