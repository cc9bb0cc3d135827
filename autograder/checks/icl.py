"""Hidden checks of Chapter 2, In-context learning: prompts, context budgets, decoding filters, sampling."""

import math

import torch

from autograder.checks import Case, Check, register

_WORDS = ["great", "awful", "movie", "chair", "loved", "it", "this", "not", "very", "the", "a", "book"]


def _randint(generator, low, high):
    """A random integer in ``[low, high]``."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def _text(generator, low=1, high=6):
    n_words = _randint(generator, low, high)
    return " ".join(_WORDS[_randint(generator, 0, len(_WORDS) - 1)] for _ in range(n_words))


def _examples(generator, n_examples):
    return [(_text(generator), ["Positive", "Negative", "Neutral"][_randint(generator, 0, 2)])
            for _ in range(n_examples)]


def _prompt_cases(generator):
    cases = []
    for n_examples in (0, 1, _randint(generator, 2, 5)):
        cases.append(Case((_examples(generator, n_examples), _text(generator))))
    cases.append(Case((_examples(generator, 3), _text(generator)),
                      {"instruction": "Translate to French:", "label_name": "French"}))
    return cases


def _prompt_reference(examples, query, instruction="Classify this review:", label_name="Sentiment"):
    """The layout line by line: a blank line before every block but the first."""
    lines = []
    for text, label in [*examples, (query, None)]:
        if lines:
            lines.append("")
        lines += [instruction, text, f"{label_name}:" if label is None else f"{label_name}: {label}"]
    return "\n".join(lines)


register(
    Check(
        name="icl.build_prompt",
        function="build_prompt",
        cases=_prompt_cases,
        reference=_prompt_reference,
        description="zero-, one- and few-shot prompts: instruction, text and label lines, blocks separated "
                    "by one blank line, ending with the label name and a colon",
    )
)


def _words_in_prompt(n_examples_words, query_words, instruction_words=3, label_words=1):
    """Words of a prompt whose examples have ``n_examples_words[i]`` words of text each.

    A block is the instruction, the text and ``label_name: label`` (``label_words + 1`` words).
    """
    query_block = instruction_words + query_words + label_words
    return query_block + sum(instruction_words + n + label_words + 1 for n in n_examples_words)


def _max_shots_reference(examples, query, context_window):
    """Count words with a closed form per block instead of building any string (cases always fit k = 0)."""
    text_words = [len(text.split()) for text, _ in examples]
    k = 0
    while k < len(examples) and _words_in_prompt(text_words[: k + 1], len(query.split())) <= context_window:
        k += 1
    return k


def _max_shots_cases(generator):
    cases = []
    for _ in range(5):
        examples, query = _examples(generator, _randint(generator, 1, 8)), _text(generator)
        total = _words_in_prompt([len(t.split()) for t, _ in examples], len(query.split()))
        window = _randint(generator, _words_in_prompt([], len(query.split())), total + 3)
        cases.append(Case((examples, query, window)))
    examples = _examples(generator, 4)
    exact = _words_in_prompt([len(t.split()) for t, _ in examples[:2]], 2)
    cases.append(Case((examples, "loved it", exact)))  # the window fits exactly two examples
    return cases


register(
    Check(
        name="icl.max_shots",
        function="max_shots_in_words",
        cases=_max_shots_cases,
        reference=_max_shots_reference,
        description="max_shots, counting whitespace-separated words as tokens, is the largest k whose prompt "
                    "fits the window, including a window that fits exactly",
    )
)


def _logit_cases(generator):
    """Six ``(logits, vocab_size)`` pairs of random batch shapes, vocabularies and scales."""
    cases = []
    for _ in range(6):
        batch = tuple(_randint(generator, 1, 4) for _ in range(_randint(generator, 0, 2)))
        vocab_size = _randint(generator, 2, 40)
        scale = float(torch.empty(1).uniform_(0.5, 5.0, generator=generator))
        cases.append((torch.randn(*batch, vocab_size, generator=generator) * scale, vocab_size))
    return cases


def _top_k_cases(generator):
    cases = [Case((logits, _randint(generator, 1, vocab_size))) for logits, vocab_size in _logit_cases(generator)]
    logits = torch.randn(3, 7, generator=generator)
    return cases + [Case((logits, 1)), Case((logits, 7)), Case((logits, 12))]


def _top_k_reference(logits, k):
    k = min(k, logits.shape[-1])
    threshold = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1): the k-th largest
    return torch.where(logits >= threshold, logits, torch.full_like(logits, -math.inf))


register(
    Check(
        name="icl.top_k_filter",
        function="top_k_filter",
        cases=_top_k_cases,
        reference=_top_k_reference,
        rtol=0.0,
        atol=0.0,
        forbid=("topk", "kthvalue"),
        forbid_ops=("aten::topk", "aten::kthvalue"),
        description="keeps the k largest logits of every row (any batch shape, k up to beyond the vocabulary), "
                    "the rest -inf, as torch.topk says",
    )
)


def _top_p_cases(generator):
    cases = []
    for logits, _ in _logit_cases(generator):
        probs = torch.softmax(logits.double(), dim=-1)
        cumulative = probs.sort(dim=-1, descending=True).values.cumsum(dim=-1)
        while True:  # keep p at least 1e-4 away from every cumulative sum, where rounding could decide
            p = float(torch.empty(1).uniform_(0.05, 0.97, generator=generator))
            if (cumulative - p).abs().min() > 1e-4:
                break
        cases.append(Case((logits, p)))
    logits = torch.randn(2, 9, generator=generator) * 3
    return cases + [Case((logits, 1e-6))]  # only the most likely token survives


def _top_p_reference(logits, p):
    """Without sorting: a token stays when the tokens more likely than it hold less than ``p``."""
    probs = torch.softmax(logits.double(), dim=-1)  # (..., V)
    more_likely = probs[..., None, :] > probs[..., :, None]  # (..., V, V): [i, j] = token j beats token i
    mass_above = (probs[..., None, :] * more_likely).sum(dim=-1)  # (..., V)
    return torch.where(mass_above < p, logits, torch.full_like(logits, -math.inf))


register(
    Check(
        name="icl.top_p_filter",
        function="top_p_filter",
        cases=_top_p_cases,
        reference=_top_p_reference,
        rtol=0.0,
        atol=0.0,
        description="nucleus filter: a token stays exactly when the tokens more likely than it hold less than "
                    "probability p, on any batch shape, for p from 1e-6 to 0.97",
    )
)


N_DRAWS = 20000


def _sampling_cases(generator):
    cases = []
    # top-p depends on the temperature, so its cases sit far from T = 1
    settings = [{"temperature": 0.5}, {"temperature": 2.0}, {"temperature": 1.0, "top_k": 3},
                {"temperature": 0.4, "top_p": 0.8}, {"temperature": 3.0, "top_p": 0.6}, {"temperature": 0}]
    for kwargs in settings:
        row = torch.randn(_randint(generator, 4, 8), generator=generator) * 1.5
        cases.append(Case((row.expand(N_DRAWS, -1).clone(),), kwargs))
    # Both filters, whose order matters on this row: top-k 3 then top-p 0.6 keeps the two most likely
    # tokens (0.43, then 0.71 of the renormalised mass); top-p first would keep three (0.3, 0.5, 0.7).
    probs = torch.tensor([0.3, 0.2, 0.2, 0.15, 0.15])
    row = probs.log() + 0.02 * torch.randn(5, generator=generator)  # noise breaks the ties
    row = row[torch.randperm(5, generator=generator)]
    cases.append(Case((row.expand(N_DRAWS, -1).clone(),), {"temperature": 1.0, "top_k": 3, "top_p": 0.6}))
    return cases


def _sampling_probabilities(logits, temperature=1.0, top_k=None, top_p=None):
    """Closed form for one row of logits ``(V,)``: the probability of each token, in float64."""
    row = logits[0].double()
    if temperature == 0:
        return torch.nn.functional.one_hot(row.argmax(), row.numel()).double()
    probs = torch.exp((row - row.max()) / temperature)
    if top_k is not None:
        probs[row < torch.topk(row, min(top_k, row.numel())).values[-1]] = 0.0
    probs /= probs.sum()
    if top_p is not None:
        mass_above = torch.stack([probs[probs > q].sum() for q in probs])
        probs[mass_above >= top_p] = 0.0
        probs /= probs.sum()
    return probs


class FrequencyCheck(Check):
    """Draws must follow the closed-form distribution: each token's frequency within 5 standard errors."""

    def compare(self, case, actual):
        logits = case.args[0]
        if not isinstance(actual, torch.Tensor) or actual.shape != logits.shape[:-1]:
            return f"expected one token id per row, a tensor of shape {tuple(logits.shape[:-1])}"
        if actual.dtype.is_floating_point or actual.min() < 0 or actual.max() >= logits.shape[-1]:
            return "expected integer token ids between 0 and vocab_size - 1"
        probs = self.reference(*case.args, **case.kwargs)
        frequencies = torch.bincount(actual.long(), minlength=logits.shape[-1]).double() / actual.numel()
        if bool(((frequencies > 0) & (probs == 0)).any()):
            return "drew a token that the settings exclude (probability zero)"
        bound = 5 * torch.sqrt(probs * (1 - probs) / actual.numel()) + 1.0 / actual.numel()
        worst = int(((frequencies - probs).abs() - bound).argmax())
        if (frequencies - probs).abs()[worst] > bound[worst]:
            return (f"token {worst} was drawn with frequency {frequencies[worst]:.4f}, "
                    f"expected {probs[worst]:.4f} within {bound[worst]:.4f}")
        return None


register(
    FrequencyCheck(
        name="icl.sample_next_token",
        function="sample_next_token",
        cases=_sampling_cases,
        reference=_sampling_probabilities,
        forbid=("topk", "kthvalue"),
        forbid_ops=("aten::topk", "aten::kthvalue"),
        description=f"over {N_DRAWS} draws, each token's frequency matches the closed-form distribution for "
                    "temperatures 0.5 and 2, top-k, top-p at temperatures 0.4 and 3, top-k then top-p, and "
                    "temperature 0 is always the argmax",
    )
)


def _lookup_cases(generator):
    cases = []
    for k in (0, 1, _randint(generator, 2, 6), _randint(generator, 7, 20)):
        n_symbols, n_labels = _randint(generator, 2, 10), _randint(generator, 2, 5)
        n_tasks = _randint(generator, 1, 30)
        inputs = torch.randint(n_symbols, (n_tasks, k + 1), generator=generator)
        labels = torch.randint(n_labels, (n_tasks, n_symbols), generator=generator).gather(1, inputs)
        tokens = torch.stack((inputs, labels + n_symbols), dim=-1).reshape(n_tasks, -1)[:, :-1]
        cases.append(Case((tokens, n_symbols)))
    return cases


def _lookup_reference(tokens, n_symbols):
    """A plain loop: scan each task's examples from the newest back for the query."""
    predictions = []
    for row in tokens.tolist():
        query, examples = row[-1], list(zip(row[0:-1:2], row[1::2]))
        answers = [label - n_symbols for x, label in reversed(examples) if x == query]
        predictions.append(answers[0] if answers else 0)
    return torch.tensor(predictions, dtype=torch.int64)


register(
    Check(
        name="icl.lookup_predictions",
        function="lookup_predictions",
        cases=_lookup_cases,
        reference=_lookup_reference,
        rtol=0.0,
        atol=0.0,
        description="the optimal predictor copies the label of the query's example and guesses label 0 when the "
                    "query is absent, for 0 to 20 shots",
    )
)


def _query_accuracy_cases(generator):
    """Logits of tasks for 0 to 12 shots, where a token that is not a label often leads at the query.

    The vocabulary may hold up to three tokens after the labels (the last case always does): only the
    labels compete. About 60% of the answers are the right label at the query, the rest random, so that
    reading another position, or all of the vocabulary, changes the accuracy.
    """
    cases = []
    for i, k in enumerate((0, 1, _randint(generator, 2, 5), _randint(generator, 6, 12))):
        n_symbols, n_labels = _randint(generator, 2, 10), _randint(generator, 2, 5)
        n_others = n_symbols + _randint(generator, 1 if i == 3 else 0, 3)  # symbols and tokens after the labels
        vocab_size = n_labels + n_others
        n_tasks = _randint(generator, 20, 60)
        logits = torch.randn(n_tasks, 2 * k + 1, vocab_size, generator=generator) * 3
        non_labels = torch.cat((torch.arange(n_symbols), torch.arange(n_symbols + n_labels, vocab_size)))
        leader = non_labels[torch.randint(n_others, (n_tasks,), generator=generator)]  # (n_tasks,)
        leads = torch.rand(n_tasks, generator=generator) < 0.5  # tasks whose leader beats every label
        rows = torch.arange(n_tasks)[leads]
        logits[rows, -1, leader[leads]] = logits[rows, -1].amax(dim=-1) + 1 + 4 * torch.rand(len(rows), generator=generator)
        right = logits[:, -1, n_symbols : n_symbols + n_labels].argmax(dim=-1)  # (n_tasks,)
        random = torch.randint(n_labels, (n_tasks,), generator=generator)
        answers = torch.where(torch.rand(n_tasks, generator=generator) < 0.6, right, random)
        cases.append(Case((logits, answers, n_symbols, n_labels)))
    return cases


def _query_accuracy_reference(logits, answers, n_symbols, n_labels):
    """A plain loop: each task's best label at its last position, counted when it is the answer."""
    n_right = 0
    for row, answer in zip(logits[:, -1].tolist(), answers.tolist()):
        label_logits = row[n_symbols : n_symbols + n_labels]
        n_right += label_logits.index(max(label_logits)) == answer
    return n_right / len(answers)


register(
    Check(
        name="icl.query_accuracy",
        function="query_accuracy",
        cases=_query_accuracy_cases,
        reference=_query_accuracy_reference,
        rtol=0.0,
        atol=1e-6,  # float32 rounding of a mean; one task more or less right moves it by at least 1/60
        description="the fraction of tasks whose best label at the last position is the answer, as a float, "
                    "for 0 to 12 shots, where a token that is not a label often has the largest logit",
    )
)
