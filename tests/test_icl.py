"""Chapter 2's module: prompts, context budgets, decoding filters and the in-context learner."""

import math

import pytest
import torch

import solutions.icl as I
from solutions.tokenizer import BPETokenizer
from solutions.data import DATA_DIR

REVIEW_ZERO_SHOT = "Classify this review:\nI loved this movie!\nSentiment:"
REVIEW_ONE_SHOT = ("Classify this review:\nI loved this movie!\nSentiment: Positive\n\n"
                   "Classify this review:\nI don't like this chair.\nSentiment:")


def test_prompts_match_the_classic_example():
    assert I.build_prompt([], "I loved this movie!") == REVIEW_ZERO_SHOT
    assert I.build_prompt([("I loved this movie!", "Positive")], "I don't like this chair.") == REVIEW_ONE_SHOT


def test_few_shot_prompt_has_one_blank_line_between_blocks():
    prompt = I.build_prompt([("a", "X"), ("b", "Y")], "c", instruction="Label:", label_name="L")
    assert prompt == "Label:\na\nL: X\n\nLabel:\nb\nL: Y\n\nLabel:\nc\nL:"


def test_max_shots_counts_words_by_hand():
    examples = [("good", "Positive"), ("very bad", "Negative"), ("fine", "Positive")]
    # zero-shot: "Classify this review:" (3) + "ok" (1) + "Sentiment:" (1) = 5 words;
    # example i adds 3 + len(text) + 2 words: 6, 7 and 6
    assert [I.max_shots(examples, "ok", w, I.count_words) for w in (5, 10, 11, 17, 18, 24, 100)] == [0, 0, 1, 1, 2, 3, 3]


def test_max_shots_says_when_nothing_fits():
    with pytest.raises(ValueError, match="zero-shot"):
        I.max_shots([("good", "Positive")], "ok", 4, I.count_words)


def test_max_shots_with_the_course_tokenizer():
    tokenizer = BPETokenizer.load(DATA_DIR / "tokenizer.json")
    examples = [("I loved this movie!", "Positive"), ("I don't like this chair.", "Negative")] * 3
    n_tokens = [len(tokenizer.encode(I.build_prompt(examples[:k], "Great!"))) for k in range(7)]
    assert all(a < b for a, b in zip(n_tokens, n_tokens[1:]))
    count = lambda text: len(tokenizer.encode(text))  # noqa: E731
    assert I.max_shots(examples, "Great!", n_tokens[3], count) == 3
    assert I.max_shots(examples, "Great!", n_tokens[3] - 1, count) == 2


def test_top_k_keeps_the_k_largest_in_any_batch_shape():
    logits = torch.randn(2, 3, 11, generator=torch.Generator().manual_seed(0))
    for k in (1, 4, 11, 20):
        kept = torch.isfinite(I.top_k_filter(logits, k))
        assert kept.sum(-1).eq(min(k, 11)).all()
        # every kept logit beats every dropped one
        if k < 11:
            assert (logits.masked_fill(~kept, math.inf).amin(-1) > logits.masked_fill(kept, -math.inf).amax(-1)).all()


def test_top_p_by_hand():
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = probs.log()
    for p, n_kept in [(0.4, 1), (0.5, 1), (0.6, 2), (0.81, 3), (0.96, 4), (1e-9, 1)]:
        kept = torch.isfinite(I.top_p_filter(logits[None, None], p))[0, 0]
        assert kept.tolist() == [i < n_kept for i in range(4)], p


def test_greedy_is_argmax_and_negative_temperature_fails():
    logits = torch.randn(5, 7, generator=torch.Generator().manual_seed(1))
    assert torch.equal(I.sample_next_token(logits, temperature=0), logits.argmax(-1))
    with pytest.raises(ValueError):
        I.sample_next_token(logits, temperature=-1)


def test_temperature_sampling_frequencies_match_closed_form():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    generator = torch.Generator().manual_seed(0)
    n_draws = 40000
    for temperature in (0.5, 2.0):
        draws = I.sample_next_token(logits.expand(n_draws, 4), temperature, generator=generator)
        expected = torch.exp(logits / temperature) / torch.exp(logits / temperature).sum()
        frequencies = torch.bincount(draws, minlength=4) / n_draws
        assert (frequencies - expected).abs().max() < 5 * math.sqrt(0.25 / n_draws)


def test_top_k_is_applied_before_top_p():
    """Probabilities 0.3, 0.22, 0.18, 0.15, 0.15: top-k 3 renormalises to 0.43, 0.31, 0.26, so top-p 0.6
    keeps two tokens; top-p first would keep three (0.3 + 0.22 < 0.6)."""
    logits = torch.tensor([0.3, 0.22, 0.18, 0.15, 0.15]).log()
    n_draws = 20000
    draws = I.sample_next_token(logits.expand(n_draws, 5), top_k=3, top_p=0.6,
                                generator=torch.Generator().manual_seed(0))
    frequencies = torch.bincount(draws, minlength=5) / n_draws
    assert frequencies[2:].sum() == 0
    assert abs(frequencies[0] - 0.3 / 0.52) < 5 * math.sqrt(0.25 / n_draws)


def test_optimal_accuracy_matches_closed_form():
    shots = [0, 1, 2, 4, 8, 16]
    config = I.ICL_CONFIG
    measured = I.optimal_accuracy(shots, n_tasks=4000)
    for k in shots:
        expected = 1 - (1 - 1 / config.n_symbols) ** k * (1 - 1 / config.n_labels)
        assert abs(measured[k] - expected) < 4 * math.sqrt(0.25 / 4000), k


def test_query_accuracy_by_hand():
    """Two tasks of one shot: 3 symbols (ids 0-2), 2 labels (ids 3-4) and one more token (id 5)."""
    logits = torch.zeros(2, 3, 6)
    logits[0, -1] = torch.tensor([9.0, 0.0, 0.0, 1.0, 2.0, 8.0])  # symbol 0 and token 5 lead; of the labels, 1
    logits[1, -1] = torch.tensor([0.0, 0.0, 0.0, 3.0, 1.0, 0.0])  # label 0
    logits[:, 1, 3] = 5.0  # one position earlier, label 0 would win both
    for answers, expected in [([1, 0], 1.0), ([1, 1], 0.5), ([0, 1], 0.0)]:
        accuracy = I.query_accuracy(logits, torch.tensor(answers), n_symbols=3, n_labels=2)
        assert type(accuracy) is float and accuracy == expected, (answers, accuracy)


def test_committed_model_is_within_3_points_of_the_optimum():
    """The issue's bar: on 2,000 fresh tasks, within 3 points of the optimum at every k that fits."""
    model = I.load_icl_model()
    shots = [0, 1, 2, 4, 8]
    model_accuracy = I.icl_accuracy(model, shots, n_tasks=2000, seed=1000)
    optimum = I.optimal_accuracy(shots, n_tasks=2000, seed=1000)
    for k in shots:
        assert model_accuracy[k] >= optimum[k] - 0.03, (k, model_accuracy[k], optimum[k])


def test_beyond_the_window_only_the_newest_examples_count():
    """Past the window the model sees the newest (context_length - 1) / 2 examples, so it cannot beat
    the optimum for that many."""
    model = I.load_icl_model()
    fit = (model.config.context_length - 1) // 2
    many = 4 * fit
    accuracy = I.icl_accuracy(model, [many], n_tasks=2000)[many]
    expected_fit = 1 - (1 - 1 / I.ICL_CONFIG.n_symbols) ** fit * (1 - 1 / I.ICL_CONFIG.n_labels)
    assert accuracy < expected_fit + 4 * math.sqrt(0.25 / 2000)
    assert I.optimal_accuracy([many])[many] > accuracy + 0.05


def test_sample_tasks_lays_out_one_mapping_per_task():
    config = I.ICL_CONFIG
    tokens, labels = I.sample_tasks(config, 200, 12, torch.Generator().manual_seed(0))
    assert tokens.shape == (200, 25) and labels.shape == (200,)
    assert (tokens[:, 0::2] < config.n_symbols).all() and (tokens[:, 1::2] >= config.n_symbols).all()
    inputs = tokens[:, 0::2]  # (200, 13): 12 examples and the query
    all_labels = torch.cat((tokens[:, 1::2] - config.n_symbols, labels[:, None]), dim=1)  # (200, 13)
    for row_inputs, row_labels in zip(inputs.tolist(), all_labels.tolist()):
        mapping = {}
        for x, y in zip(row_inputs, row_labels):
            assert mapping.setdefault(x, y) == y, "a symbol must keep its label within a task"
    # across tasks the mapping changes: symbol 0's label is not always the same
    first_label = [dict(zip(r, l)).get(0) for r, l in zip(inputs.tolist(), all_labels.tolist())]
    assert len({y for y in first_label if y is not None}) == config.n_labels


def test_greedy_completion_matches_chapter_1_generate_and_stops():
    from solutions.gpt import generate
    from solutions.train_gpt import load_trained

    model, tokenizer = load_trained()
    prompt = "Ham.\nI will"
    ids = torch.tensor([tokenizer.encode(prompt)])
    expected = tokenizer.decode(generate(model, ids, 20, temperature=0)[0, ids.shape[1]:].tolist())
    assert I.complete(model, tokenizer, prompt, max_new_tokens=20, temperature=0) == expected
    stop = expected[5:8]  # a string the greedy completion contains
    assert I.complete(model, tokenizer, prompt, max_new_tokens=20, temperature=0, stop=[stop]) == expected[: expected.index(stop)]


@pytest.mark.parametrize("page, figures", [("icl-measured.ipynb", {"fig-icl-accuracy", "fig-icl-depth"}),
                                           ("limits.ipynb", {"fig-window-limit"})])
def test_alt_text_of_accuracy_figures_is_built_from_the_computed_values(page, figures):
    """The figure's alt text is the string the page glues from its own numbers (nbval re-checks the glue)."""
    from pathlib import Path

    from conftest import assert_alt_texts_are_glued

    assert_alt_texts_are_glued(Path(__file__).parents[1] / "chapters/02-in-context-learning" / page, figures)
