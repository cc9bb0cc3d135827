"""Hidden checks of Chapter 2, In-context learning: prompts, context budgets, decoding filters, sampling."""

import math
import re

import torch

from autograder.checks import Case, Check, ExactDtypeCheck, _describe, compare_outputs, register

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


def _prompt_edge_cases(generator):
    """Zero, one and five shots; each option alone and both; multi-word labels and punctuation."""
    review = ("I loved this movie!", "Positive")
    five = [review, ("I don't like this chair.", "Negative"), ("It is a chair.", "Neutral"),
            ("Awful, simply awful.", "Negative"), ("Great book", "Positive")]
    return [
        Case(([], "I loved this movie!"), label="zero-shot: no examples"),
        Case(([review], "I don't like this chair."), label="one-shot"),
        Case((five, "Not bad at all."), label="few-shot: five examples, in their order"),
        Case(([review], "Bad."), {"instruction": "Rate the review:"}, label="another instruction"),
        Case(([review], "Bad."), {"label_name": "Label"}, label="another label name"),
        Case(([("Bonjour", "Hello"), ("Merci beaucoup", "Thank you very much")], "Au revoir"),
             {"instruction": "Translate to English:", "label_name": "English"},
             label="both options, labels of several words"),
        Case(([(" great ", "Positive")], "  meh "), label="texts with spaces around them are kept as they are"),
        Case(([review], "Bad."), {"instruction": ""}, label="an empty instruction still takes its line"),
    ]


register(
    Check(
        name="icl.build_prompt",
        function="build_prompt",
        cases=_prompt_cases,
        reference=_prompt_reference,
        edge_cases=_prompt_edge_cases,
        description="zero-, one- and few-shot prompts: instruction, text and label lines, blocks separated "
                    "by one blank line, ending with the label name and a colon; every option alone and both",
    )
)


def _words_in_prompt(n_examples_words, query_words, instruction_words=3, label_words=1):
    """Words of a prompt whose examples have ``n_examples_words[i]`` words of text each.

    A block is the instruction, the text and ``label_name: label`` (``label_words + 1`` words).
    """
    query_block = instruction_words + query_words + label_words
    return query_block + sum(instruction_words + n + label_words + 1 for n in n_examples_words)


def _max_shots_reference(examples, query, context_window):
    """Count words with a closed form per block instead of building any string; ``None`` when even
    the zero-shot prompt does not fit."""
    text_words = [len(text.split()) for text, _ in examples]
    if _words_in_prompt([], len(query.split())) > context_window:
        return None
    k = 0
    while k < len(examples) and _words_in_prompt(text_words[: k + 1], len(query.split())) <= context_window:
        k += 1
    return k


class MaxShotsCheck(Check):
    """``max_shots_in_words`` returns ``max_shots``'s number, or the message of its ``ValueError``, which
    must give the zero-shot prompt's number of words and the window."""

    def compare(self, case, actual):
        examples, query, context_window = case.args
        expected = self.reference(*case.args)
        if expected is not None:
            if isinstance(actual, str):
                return f"raised ValueError ({actual[:200]!r}), but {expected} examples fit"
            return compare_outputs(actual, expected, self.rtol, self.atol)
        zero_shot = _words_in_prompt([], len(query.split()))
        if not isinstance(actual, str):
            return (f"the zero-shot prompt has {zero_shot} words, more than the window of {context_window}: "
                    f"expected a ValueError, got {actual!r}")
        numbers = re.findall(r"\d+", actual)
        if str(zero_shot) not in numbers or str(context_window) not in numbers:
            return (f"the ValueError's message must give the zero-shot prompt's number of tokens ({zero_shot}) "
                    f"and the window ({context_window}); got {actual[:200]!r}")
        return None


def _max_shots_cases(generator):
    cases = []
    for _ in range(5):
        examples, query = _examples(generator, _randint(generator, 1, 8)), _text(generator)
        total = _words_in_prompt([len(t.split()) for t, _ in examples], len(query.split()))
        window = _randint(generator, _words_in_prompt([], len(query.split())), total + 3)
        cases.append(Case((examples, query, window)))
    return cases


def _max_shots_edge_cases(generator):
    """Windows at every boundary of a prompt of 0 to 4 examples of different lengths (query: 2 words)."""
    examples = [("loved it", "Positive"), ("a very bad book indeed", "Negative"), ("fine", "Neutral"),
                ("not great not awful", "Neutral")]
    fits = [_words_in_prompt([len(t.split()) for t, _ in examples[:k]], 2) for k in range(5)]
    long_first = [(" ".join(["very"] * 28 + ["bad", "movie"]), "Negative"), *examples[:3]]  # 35 words alone
    return [
        Case(([], "loved it", 100), label="no examples at all"),
        Case((examples, "loved it", fits[0]), label="the window holds exactly the zero-shot prompt"),
        Case((examples, "loved it", fits[2]), label="the window fits exactly two examples"),
        Case((examples, "loved it", fits[3] - 1), label="one word short of three examples"),
        Case((examples, "loved it", fits[4]), label="the window fits exactly every example"),
        Case((examples, "loved it", fits[4] + 50), label="the window is larger than every example"),
        Case((examples, "a very bad book", _words_in_prompt([], 4) - 1),
             label="the window one word short of the zero-shot prompt: ValueError"),
        Case((examples, "loved it", 0), label="a window of 0 tokens: ValueError"),
        Case((long_first, "loved it", fits[2]),
             label="a first example too long for the window, then short ones: examples are taken from the start"),
    ]


register(
    MaxShotsCheck(
        name="icl.max_shots",
        function="max_shots_in_words",
        cases=_max_shots_cases,
        reference=_max_shots_reference,
        edge_cases=_max_shots_edge_cases,
        description="max_shots, counting whitespace-separated words as tokens, is the largest k whose prompt "
                    "fits the window: no examples, windows that fit exactly 0, 2 or every example or one word "
                    "less, a long first example; a window too small for the zero-shot prompt raises a ValueError "
                    "whose message gives both numbers",
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
    return [Case((logits, _randint(generator, 1, vocab_size))) for logits, vocab_size in _logit_cases(generator)]


def _top_k_edge_cases(generator):
    """Ties at and above the k-th largest, k from 1 to beyond the vocabulary, any number of batch dims."""
    inf = math.inf
    tied = torch.tensor([[1.0, 3.0, 2.0, 2.0, 0.0], [2.0, 2.0, 2.0, -1.0, 5.0]])  # k = 2 keeps 3 and 4 logits
    logits = torch.randn(3, 7, generator=generator)
    return [
        Case((tied, 2), label="ties with the k-th largest logit"),
        Case((torch.tensor([5.0, 1.0, 5.0, 0.0]), 1), label="k = 1 with the largest logit tied"),
        Case((torch.zeros(2, 6), 3), label="every logit equal"),
        Case((logits, 1), label="k = 1"),
        Case((logits, 7), label="k = vocab_size"),
        Case((logits, 12), label="k beyond vocab_size"),
        Case((torch.randn(9, generator=generator), 4), label="unbatched row (vocab_size,)"),
        Case((torch.randn(2, 3, 2, 5, generator=generator), 2), label="three batch dimensions"),
        Case((torch.tensor([[2.0, -inf, 1.0, -inf, 0.5]]), 4), label="k beyond the finite logits of a filtered row"),
        Case((torch.tensor([1.0, 1.0 + 1e-12, 0.5], dtype=torch.float64), 1),
             label="float64 logits that only float64 tells apart (compare in the logits' own dtype)"),
    ]


def _top_k_reference(logits, k):
    k = min(k, logits.shape[-1])
    threshold = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1): the k-th largest
    return torch.where(logits >= threshold, logits, torch.full_like(logits, -math.inf))


register(
    ExactDtypeCheck(
        name="icl.top_k_filter",
        function="top_k_filter",
        cases=_top_k_cases,
        reference=_top_k_reference,
        edge_cases=_top_k_edge_cases,
        rtol=0.0,
        atol=0.0,
        forbid=("topk", "kthvalue"),
        forbid_ops=("aten::topk", "aten::kthvalue"),
        description="keeps the k largest logits of every row, and every logit tied with the k-th largest, the "
                    "rest -inf, as torch.topk says, in the logits' dtype: ties, k from 1 to beyond the vocabulary, "
                    "0 to 3 batch dims",
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
    return cases


def _top_p_edge_cases(generator):
    """Ties at the crossing token, p at and above 1 with a tail of tiny probabilities, p next to a
    cumulative probability, rows already filtered, and 0 to 2 batch dimensions."""
    inf = math.inf
    quarters = torch.tensor([0.05, 0.5, 0.15, 0.3]).log()  # sorted: 0.5, 0.8, 0.95, 1 cumulated
    # probabilities down to 1e-39; in the last row the top token's rounds to 1 even in float64
    tail = torch.tensor([[0.0, -30.0, -60.0, 2.0], [-45.0, 0.0, -70.0, -20.0], [-60.0, 0.0, -90.0, -80.0]])
    # p exactly the top token's float64 probability, so its total reaches p and the other token goes.
    # Gaps of 1.2 and 2.8 give the same float64 probability whether the softmax is torch's or exp over
    # its sum, in either order, and whether the total before a token is a shifted cumsum, cumsum minus
    # the probability or a sum over the more likely tokens: only the comparison with p decides.
    exact = {"logits 0 and -1.2": torch.tensor([0.0, -1.2]), "a row of logits -2.8 and 0": torch.tensor([[-2.8, 0.0]])}
    return [
        *[Case((row, float(torch.softmax(row.double(), dim=-1).max())),
               label=f"{name}, p exactly the most likely token's float64 probability: it alone reaches p")
          for name, row in exact.items()],
        Case((torch.tensor([1.0, 1.0, 1.0, 0.0]), 0.5), label="three tokens tied at the crossing token"),
        Case((torch.tensor([[2.0, 1.0, 1.0, 1.0, 0.0]]), 0.5), label="ties after the most likely token"),
        Case((torch.tensor([3.0, 1.0, 3.0, 0.0]), 1e-6), label="tiny p with the most likely token tied"),
        Case((tail, 1.0), label="p = 1 keeps every token, even of probability 1e-39"),
        Case((tail, 1.5), label="p above 1 keeps every token"),
        Case((quarters, 0.499), label="p just below the most likely token's probability"),
        Case((quarters, 0.501), label="p just above the most likely token's probability"),
        Case((quarters, 0.949), label="p just below a cumulative probability of 0.95"),
        Case((torch.randn(2, 3, 6, generator=generator) * 3, 1e-6), label="tiny p keeps the most likely token"),
        Case((torch.tensor([[2.0, -inf, 1.0, 0.5, -inf]]), 0.9), label="a row already filtered (-inf logits)"),
        Case((torch.tensor([[2.0, -inf, 1.0, 0.5, -inf]]), 1.0), label="a row already filtered, p = 1"),
        Case((torch.randn(3, 8, generator=generator) * 4, 0.7), label="batched rows, vocabulary order kept"),
    ]


def _top_p_reference(logits, p):
    """Without sorting: a token stays when the tokens more likely than it hold less than ``p``."""
    probs = torch.softmax(logits.double(), dim=-1)  # (..., V)
    more_likely = probs[..., None, :] > probs[..., :, None]  # (..., V, V): [i, j] = token j beats token i
    mass_above = (probs[..., None, :] * more_likely).sum(dim=-1)  # (..., V)
    keep = (mass_above < p) | (p >= 1)
    return torch.where(keep, logits, torch.full_like(logits, -math.inf))


register(
    ExactDtypeCheck(
        name="icl.top_p_filter",
        function="top_p_filter",
        cases=_top_p_cases,
        reference=_top_p_reference,
        edge_cases=_top_p_edge_cases,
        rtol=0.0,
        atol=0.0,
        description="nucleus filter: a token stays exactly when the tokens more likely than it hold less than "
                    "probability p (so ties stay together), p >= 1 keeps every token, p exactly equal to a "
                    "cumulative probability stops there, on any batch shape, in the logits' dtype",
    )
)


N_DRAWS = 20000


def _identical_rows(row, *batch):
    """``N_DRAWS`` copies of one row of logits, shaped ``(*batch, V)`` (``batch`` multiplies to N_DRAWS)."""
    return row.expand(N_DRAWS, -1).reshape(*(batch or (N_DRAWS,)), -1).clone()


def _sampling_cases(generator):
    cases = []
    for temperature in (float(torch.empty(1).uniform_(0.3, 3.0, generator=generator)), 1.0):
        row = torch.randn(_randint(generator, 4, 8), generator=generator) * 1.5
        kwargs = {"temperature": temperature, "top_k": _randint(generator, 1, len(row))}
        if temperature == 1.0:
            kwargs["top_p"] = float(torch.empty(1).uniform_(0.3, 0.9, generator=generator))
        cases.append(Case((_identical_rows(row), _randint(generator, 0, 2**31)), kwargs))
    return cases


def _sampling_edge_cases(generator):
    """Every option alone and together, at temperatures on both sides of 1; ties; greedy decoding."""
    row = torch.tensor([1.2, -0.3, 0.4, 2.0, -1.5, 0.9])  # probabilities 0.21, 0.05, 0.10, 0.47, 0.01, 0.16 at T = 1
    tied = torch.tensor([1.0, 0.0, 2.0, 1.0, -0.5])  # top-k 2 keeps three tokens
    greedy = torch.randn(30, 7, generator=generator)  # rows 0-23 have two tied maxima, row 24 is constant
    for i, j in enumerate(torch.randint(1, 7, (24,), generator=generator).tolist()):
        greedy[i, [j - 1, j]] = greedy[i].max() + 1
    greedy[24] = 0.5
    # Both filters, whose order matters on this row: top-k 3 then top-p 0.6 keeps the two most likely
    # tokens (0.43, then 0.71 of the renormalised mass); top-p first would keep three (0.3, 0.5, 0.7).
    both = torch.tensor([0.15, 0.3, 0.2, 0.15, 0.2]).log() + torch.tensor([0.0, 0.0, 0.01, -0.01, -0.02])
    return [
        Case((greedy, 0), {"temperature": 0}, label="temperature 0 is greedy; ties go to the lowest id"),
        Case((row, 0), {"temperature": 0}, label="temperature 0, unbatched row: a single id"),
        Case((_identical_rows(row), 0), {}, label="the defaults: temperature 1, no filter"),
        Case((_identical_rows(row), 0), {"temperature": 0.5}, label="temperature 0.5"),
        Case((_identical_rows(row), 0), {"temperature": 2.0}, label="temperature 2"),
        Case((_identical_rows(tied), 0), {"top_k": 2}, label="top_k alone, ties with the k-th largest"),
        Case((_identical_rows(row), 0), {"temperature": 1.5, "top_k": 10}, label="top_k beyond the vocabulary"),
        Case((_identical_rows(tied), 0), {"top_p": 0.3}, label="top_p alone, ties at the crossing token"),
        Case((_identical_rows(row), 0), {"temperature": 0.4, "top_p": 0.8}, label="top_p at temperature 0.4"),
        Case((_identical_rows(row), 0), {"temperature": 3.0, "top_p": 0.6}, label="top_p at temperature 3"),
        Case((_identical_rows(row), 0), {"top_p": 1.0}, label="top_p = 1 keeps every token"),
        Case((_identical_rows(both), 0), {"top_k": 3, "top_p": 0.6}, label="top_k then top_p, whose order matters"),
        Case((_identical_rows(row, 100, 200), 0), {"temperature": 2.0, "top_k": 4, "top_p": 0.7},
             label="every option, two batch dimensions"),
        Case((row, 0), {"temperature": 0.7, "top_k": 3}, label="unbatched row: one id, of shape ()"),
        Case((row, 0), {"temperature": -1.0}, label="a negative temperature: ValueError"),
    ]


def _sampling_probabilities(logits, seed, temperature=1.0, top_k=None, top_p=None):
    """Closed form: each row's probability of each token, ``(rows, V)`` in float64 (whatever the seed)."""
    rows = logits.reshape(-1, logits.shape[-1]).double()  # (rows, V)
    if temperature == 0:
        return torch.nn.functional.one_hot(rows.argmax(dim=-1), rows.shape[-1]).double()
    probs = torch.exp((rows - rows.amax(dim=-1, keepdim=True)) / temperature)
    if top_k is not None:
        kth = torch.topk(rows, min(top_k, rows.shape[-1]), dim=-1).values[:, -1:]  # (rows, 1)
        probs[rows < kth] = 0.0
    probs /= probs.sum(dim=-1, keepdim=True)
    if top_p is not None and top_p < 1:
        mass_above = (probs[:, None, :] * (probs[:, None, :] > probs[:, :, None])).sum(dim=-1)  # (rows, V)
        probs[mass_above >= top_p] = 0.0
        probs /= probs.sum(dim=-1, keepdim=True)
    return probs


class FrequencyCheck(Check):
    """``sample_with_seed`` returns two draws with generators of the same seed, which must be equal.
    Greedy decoding must return each row's argmax exactly; draws from copies of one row must follow
    the closed-form distribution, each token's frequency within 5 standard errors. A negative
    temperature must raise ``ValueError`` (``sample_with_seed`` returns ``"ValueError"``)."""

    def compare(self, case, actual):
        logits = case.args[0]
        if case.kwargs.get("temperature", 1.0) < 0:
            return None if actual == "ValueError" else f"a negative temperature must raise ValueError, got {_describe(actual)}"
        if isinstance(actual, str):
            return "raised ValueError for a temperature of at least 0"
        shape = tuple(logits.shape[:-1])
        if not isinstance(actual, torch.Tensor) or tuple(actual.shape) != (2, *shape):
            return f"expected one token id per row, a tensor of shape {shape}"
        if not torch.equal(actual[0], actual[1]):
            return "two generators of the same seed gave different draws: sample with torch.multinomial(..., generator=generator)"
        actual = actual[0]
        if actual.dtype != torch.int64:
            return f"expected token ids of dtype torch.int64, got {actual.dtype}"
        if actual.numel() and (actual.min() < 0 or actual.max() >= logits.shape[-1]):
            return "expected token ids between 0 and vocab_size - 1"
        probs = self.reference(*case.args, **case.kwargs)  # (rows, V)
        if case.kwargs.get("temperature", 1.0) == 0:
            expected = probs.argmax(dim=-1)
            wrong = (actual.flatten() != expected).nonzero().flatten().tolist()
            if wrong:
                return (f"row {wrong[0]}: expected the most likely token {int(expected[wrong[0]])} (the lowest id "
                        f"among tied ones), got {int(actual.flatten()[wrong[0]])}")
            return None
        probs = probs[0]  # every row is a copy of the first
        frequencies = torch.bincount(actual.flatten(), minlength=logits.shape[-1]).double() / actual.numel()
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
        function="sample_with_seed",
        cases=_sampling_cases,
        reference=_sampling_probabilities,
        edge_cases=_sampling_edge_cases,
        forbid=("topk", "kthvalue"),
        forbid_ops=("aten::topk", "aten::kthvalue"),
        description=f"over {N_DRAWS} draws, each token's frequency matches the closed-form distribution for the "
                    "defaults, temperatures 0.5 and 2, top-k (ties kept, beyond the vocabulary), top-p (ties, "
                    "temperatures 0.4 and 3, p = 1), top-k then top-p, unbatched and batched logits; "
                    "temperature 0 is the argmax, the lowest id among ties; the same seed gives the same draws; "
                    "a negative temperature raises ValueError",
    )
)


def _tasks(inputs, labels, n_symbols):
    """Rows ``x1 y1 ... xk yk xq`` from ``inputs`` ``(n_tasks, k + 1)`` and label indices ``(n_tasks, k + 1)``."""
    n_tasks = inputs.shape[0]
    return torch.stack((inputs, labels + n_symbols), dim=-1).reshape(n_tasks, -1)[:, :-1]  # (n_tasks, 2k + 1)


def _lookup_cases(generator):
    cases = []
    for k in (_randint(generator, 1, 6), _randint(generator, 7, 20)):
        n_symbols, n_labels = _randint(generator, 2, 10), _randint(generator, 2, 5)
        n_tasks = _randint(generator, 1, 30)
        inputs = torch.randint(n_symbols, (n_tasks, k + 1), generator=generator)
        labels = torch.randint(n_labels, (n_tasks, n_symbols), generator=generator).gather(1, inputs)
        cases.append(Case((_tasks(inputs, labels, n_symbols), n_symbols)))
    return cases


def _lookup_edge_cases(generator):
    """Where the query appears: nowhere, first, last, several times; no examples; one task."""
    n_symbols = 5
    inputs = torch.tensor([[0, 1, 2, 0], [3, 1, 2, 3], [1, 2, 4, 4], [2, 2, 0, 2], [4, 0, 1, 3]])  # last: query
    labels = torch.tensor([[3, 1, 2, 3], [2, 1, 0, 2], [0, 1, 3, 3], [1, 1, 0, 1], [2, 2, 2, 3]])
    tokens = _tasks(inputs, labels, n_symbols)  # (5, 7): tasks 0 and 1 find the query first, 2 last, 3 twice
    return [
        Case((tokens, n_symbols), label="the query in the first, the last, or several examples, or nowhere"),
        Case((tokens[4:], n_symbols), label="one task, whose query is absent: guess label 0"),
        Case((tokens[:, -1:], n_symbols), label="no examples (k = 0): guess label 0"),
        Case((_tasks(inputs[:, 1:], labels[:, 1:] + 3, 2 + n_symbols), 2 + n_symbols),
             label="labels from 3 up, seven symbols"),
        Case((_tasks(torch.tensor([[0, 1, 0], [1, 1, 1]]), torch.tensor([[4, 3, 4], [2, 2, 2]]), 2), 2),
             label="more labels than symbols: label indices 2 to 4 with two symbols"),
    ]


def _lookup_reference(tokens, n_symbols):
    """A plain loop: scan each task's examples from the newest back for the query."""
    predictions = []
    for row in tokens.tolist():
        query, examples = row[-1], list(zip(row[0:-1:2], row[1::2]))
        answers = [label - n_symbols for x, label in reversed(examples) if x == query]
        predictions.append(answers[0] if answers else 0)
    return torch.tensor(predictions, dtype=torch.int64)


register(
    ExactDtypeCheck(
        name="icl.lookup_predictions",
        function="lookup_predictions",
        cases=_lookup_cases,
        reference=_lookup_reference,
        edge_cases=_lookup_edge_cases,
        rtol=0.0,
        atol=0.0,
        description="the optimal predictor copies the label index of the query's example and guesses label 0 when "
                    "the query is absent, as int64: the query first, last, repeated, absent, no examples, one task",
    )
)


def _query_accuracy_cases(generator):
    """Logits of tasks for 1 to 12 shots, where a token that is not a label often leads at the query.

    The vocabulary may hold up to three tokens after the labels: only the labels compete. About 60%
    of the answers are the right label at the query, the rest random, so that reading another
    position, or all of the vocabulary, changes the accuracy.
    """
    cases = []
    for k in (_randint(generator, 1, 5), _randint(generator, 6, 12)):
        n_symbols, n_labels = _randint(generator, 2, 10), _randint(generator, 2, 5)
        n_others = n_symbols + _randint(generator, 0, 3)  # symbols and tokens after the labels
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


def _query_accuracy_edge_cases(generator):
    """Six tasks of two shots (T = 5) over symbols 0-2, labels 3-5 and two more tokens 6-7, whose
    non-labels lead at the query in some tasks and whose labels lead one position earlier; and a task
    whose best label leads by less than float16 can tell at its size."""
    logits = torch.randn(6, 5, 8, generator=generator)
    logits[:, -2, 3] = 10.0  # one position earlier, label 0 leads everywhere
    logits[:, -1] = torch.tensor([[9.0, 0.0, 0.0, 1.0, 2.0, 0.0, 0.0, 0.0],  # symbol 0 leads; label 1
                                  [0.0, 0.0, 0.0, 0.0, 0.5, 3.0, 8.0, 0.0],  # token 6 leads; label 2
                                  [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 7.0],  # labels 0 and 1 tied: label 0
                                  [0.0, 0.0, 0.0, 4.0, 1.0, 2.0, 0.0, 0.0],  # label 0
                                  [0.0, 0.0, 0.0, 0.0, 2.0, 2.0, 0.0, 0.0],  # labels 1 and 2 tied: label 1
                                  [0.0, 5.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]])  # symbol 1 leads; label 2
    right = torch.tensor([1, 2, 0, 0, 1, 2])
    wrong = (right + 1) % 3
    close = logits[:1].clone()
    close[0, -1, 3:6] = torch.tensor([1000.0, 1000.25, 999.0])  # label 1 by 0.25: float16 rounds both to 1000
    some = torch.tensor([1, 0, 0, 2, 0, 0])  # right in tasks 0 and 2 (a tie)
    return [
        Case((logits, right, 3, 3), label="every task right: 1.0, though symbols and later tokens lead"),
        Case((logits, wrong, 3, 3), label="no task right: 0.0"),
        Case((logits, some, 3, 3), label="two tasks of six right, tied labels go to the lowest index"),
        Case((logits[:, -1:], some, 3, 3), label="no examples (T = 1): the query is position 0"),
        Case((logits[1:2], right[1:2], 3, 3), label="one task, whose answer is not label 0"),
        Case((logits[:, :, :6], right, 3, 3), label="no token after the labels"),
        Case((close, torch.tensor([1]), 3, 3), label="labels 0.25 apart at 1000: float32 tells them apart"),
    ]


def _query_accuracy_reference(logits, answers, n_symbols, n_labels):
    """A plain loop: each task's best label at its last position, counted when it is the answer."""
    n_right = 0
    for row, answer in zip(logits[:, -1].tolist(), answers.tolist()):
        label_logits = row[n_symbols : n_symbols + n_labels]
        n_right += label_logits.index(max(label_logits)) == answer
    return n_right / len(answers)


class FloatCheck(Check):
    """The result must be a Python float (not a tensor, nor an int) equal to the reference's."""

    def compare(self, case, actual):
        if not isinstance(actual, float):
            return f"expected a Python float (use .item()), got {type(actual).__name__}"
        return super().compare(case, actual)


register(
    FloatCheck(
        name="icl.query_accuracy",
        function="query_accuracy",
        cases=_query_accuracy_cases,
        reference=_query_accuracy_reference,
        edge_cases=_query_accuracy_edge_cases,
        rtol=0.0,
        atol=1e-6,  # float32 rounding of a mean; one task more or less right moves it by at least 1/60
        description="the fraction of tasks whose best label at the last position is the answer, as a Python float: "
                    "a symbol or a later token leading, tied labels (the lowest index wins), all or none right, "
                    "no examples, one task",
    )
)
