"""Chapter 2, In-context learning: prompts inside a context window, decoding settings, and ICL measured.

Prompts follow the review-classification layout: each example is an instruction line, the text and
``{label_name}: {label}``; examples are separated by one blank line; the query ends with
``{label_name}:`` so that the model writes the label next. Filters take logits ``(..., vocab_size)``
and return logits of the same shape with the excluded entries set to ``-inf``.
"""

import torch

from solutions.icl_model import ICLConfig, ICLTransformer, sample_tasks  # noqa: F401  (public API)
from solutions.train_icl import ICL_CONFIG, load


def build_prompt(examples, query, instruction="Classify this review:", label_name="Sentiment"):
    """The prompt for ``query`` after the answered ``examples``, a list of ``(text, label)``.

    Zero examples give a zero-shot prompt, one a one-shot prompt, more a few-shot prompt. Each
    block is ``instruction``, the text and ``{label_name}: {label}`` on three lines; blocks are
    separated by one blank line; the last block ends with ``{label_name}:`` and no trailing space.
    """
    blocks = [f"{instruction}\n{text}\n{label_name}: {label}" for text, label in examples]
    blocks.append(f"{instruction}\n{query}\n{label_name}:")
    return "\n\n".join(blocks)


def max_shots(examples, query, context_window, count_tokens):
    """The most examples, taken in order from the start of ``examples``, whose prompt fits the window.

    Returns the largest ``k`` such that ``count_tokens(build_prompt(examples[:k], query))`` is at
    most ``context_window`` tokens; ``count_tokens`` maps a string to its number of tokens.
    Raises ``ValueError`` when even the zero-shot prompt does not fit; its message gives the
    zero-shot prompt's number of tokens and the window, and says what to do.
    """
    fitting = [k for k in range(len(examples) + 1)
               if count_tokens(build_prompt(examples[:k], query)) <= context_window]
    if 0 not in fitting:
        n_tokens = count_tokens(build_prompt([], query))
        raise ValueError(f"the zero-shot prompt alone has {n_tokens} tokens, more than the "
                         f"context window of {context_window}; shorten the query or the instruction")
    return max(fitting)


def count_words(text):
    """The number of whitespace-separated words in ``text``: a stand-in tokenizer for tests."""
    return len(text.split())


def max_shots_in_words(examples, query, context_window):
    """``max_shots`` with words as tokens (a function of strings and numbers, for the grader).

    Where ``max_shots`` raises ``ValueError``, returns the error's message instead.
    """
    try:
        return max_shots(examples, query, context_window, count_words)
    except ValueError as error:
        return str(error)


def top_k_filter(logits, k):
    """Keep the ``k`` largest logits of each row (all of them when ``k`` exceeds the row), rest ``-inf``.

    logits: ``(..., vocab_size)``; ``k >= 1``. A logit tied with the ``k``-th largest is kept too, so
    a row may keep more than ``k`` logits.
    """
    k = min(k, logits.shape[-1])
    kth_largest = logits.sort(dim=-1, descending=True).values[..., k - 1 : k]  # (..., 1)
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def top_p_filter(logits, p):
    """Nucleus filter: keep the most likely tokens until their probability reaches ``p``, rest ``-inf``.

    In each row of ``logits`` ``(..., vocab_size)``, tokens are taken in order of decreasing
    probability until their total is at least ``p`` (``p > 0``); the token that crosses ``p`` is
    kept, so the most likely token always is, and so is every token tied with a kept one. ``p >= 1``
    keeps every token. Probabilities are summed in float64.
    """
    if p >= 1:
        return logits.clone()
    sorted_logits = logits.sort(dim=-1, descending=True).values  # (..., vocab_size)
    sorted_probs = torch.softmax(sorted_logits.double(), dim=-1)
    mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs  # probability of the more likely tokens
    # the smallest logit kept: that of the token that crosses p (the first, with 0 before it, always is)
    n_kept = (mass_before < p).sum(dim=-1, keepdim=True)  # (..., 1)
    smallest_kept = sorted_logits.gather(-1, n_kept - 1)  # (..., 1)
    return logits.masked_fill(logits < smallest_kept, float("-inf"))


def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    """Draw one token id per row of ``logits`` ``(..., vocab_size)``; returns int64 ``(...)``.

    ``temperature == 0`` is greedy decoding: the most likely token (the lowest id among tied ones),
    with no randomness. Otherwise
    the logits are divided by ``temperature``, filtered by ``top_k`` then ``top_p`` when given,
    and a token is sampled from their softmax with ``generator`` (torch's global one if None).
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, p=top_p)
    probs = torch.softmax(logits, dim=-1).reshape(-1, logits.shape[-1])  # (rows, vocab_size)
    draws = torch.multinomial(probs, num_samples=1, generator=generator)  # (rows, 1)
    return draws.reshape(logits.shape[:-1])


def sample_with_seed(logits, seed, **options):
    """Two calls of ``sample_next_token(logits, **options)`` with generators seeded with ``seed``,
    stacked ``(2, ...)`` (a function of tensors and numbers, for the grader); ``"ValueError"`` where
    it raises one.
    """
    try:
        draws = [sample_next_token(logits, generator=torch.Generator().manual_seed(seed), **options) for _ in range(2)]
    except ValueError:
        return "ValueError"
    return torch.stack(draws)


def lookup_predictions(tokens, n_symbols):
    """The best possible prediction for each task of ``tokens`` ``(n_tasks, 2k + 1)``.

    Rows hold ``x1 y1 ... xk yk xq`` (symbols below ``n_symbols``, labels from ``n_symbols`` on).
    Copy the label of an example whose input is the query (the most recent, though all agree);
    when the query is absent, guess label 0. Returns label indices ``(n_tasks,)`` int64.
    """
    n_tasks = tokens.shape[0]
    inputs, labels = tokens[:, 0:-1:2], tokens[:, 1::2] - n_symbols  # (n_tasks, k) each
    # Column 0 stands for "no match" and holds the guess, label 0; column j is example j.
    found = torch.cat((torch.ones(n_tasks, 1, dtype=torch.bool), inputs == tokens[:, -1:]), dim=1)  # (n_tasks, k + 1)
    candidates = torch.cat((torch.zeros(n_tasks, 1, dtype=labels.dtype), labels), dim=1)  # (n_tasks, k + 1)
    latest = (found * torch.arange(1, found.shape[1] + 1)).argmax(dim=-1, keepdim=True)  # (n_tasks, 1)
    return candidates.gather(1, latest).squeeze(1)


def query_accuracy(logits, answers, n_symbols, n_labels):
    """The fraction of tasks whose most likely label at the query is the right one, a Python float.

    ``logits`` ``(n_tasks, T, vocab_size)`` are a model's outputs on rows ``x1 y1 ... xk yk xq`` (``T = 2k + 1``).
    Each task's prediction is read at the last position, the query, among the label tokens only
    (ids ``n_symbols .. n_symbols + n_labels - 1``), as a label index (the lowest among tied
    labels); ``answers`` ``(n_tasks,)`` holds the right label indices.
    """
    label_logits = logits[:, -1, n_symbols : n_symbols + n_labels]  # (n_tasks, n_labels)
    predictions = label_logits.argmax(dim=-1)  # (n_tasks,) label indices
    return (predictions == answers).float().mean().item()


def load_icl_model(n_layers=2):
    """The committed, pretrained tiny in-context learner (float32, eval mode)."""
    return load(n_layers)


@torch.no_grad()
def icl_accuracy(model, shots, n_tasks=2000, seed=0):
    """``{k: accuracy}``: the fraction of ``n_tasks`` fresh tasks of ``k`` shots the model answers right.

    The model's answer is its most likely label after the query. Prompts longer than its context
    window keep only their newest examples. Tasks for each ``k`` come from ``seed``, so
    ``optimal_accuracy`` with the same arguments sees the very same tasks.
    """
    config = model.config
    accuracy = {}
    for k in shots:
        tokens, query_labels = sample_tasks(config, n_tasks, k, torch.Generator().manual_seed(seed + k))
        logits = model(tokens[:, -config.context_length :])  # (n_tasks, T, vocab_size)
        accuracy[k] = query_accuracy(logits, query_labels, config.n_symbols, config.n_labels)
    return accuracy


def optimal_accuracy(shots, n_tasks=2000, seed=0, config=ICL_CONFIG):
    """``{k: accuracy}`` of the best possible predictor (``lookup_predictions``) on ``icl_accuracy``'s tasks.

    It sees every example, however many; its expected accuracy is
    ``1 - (1 - 1/n_symbols)^k * (1 - 1/n_labels)``.
    """
    accuracy = {}
    for k in shots:
        tokens, query_labels = sample_tasks(config, n_tasks, k, torch.Generator().manual_seed(seed + k))
        predictions = lookup_predictions(tokens, config.n_symbols)
        accuracy[k] = (predictions == query_labels).float().mean().item()
    return accuracy


@torch.no_grad()
def complete(model, tokenizer, prompt, max_new_tokens=50, temperature=1.0, top_k=None, top_p=None,
             stop=(), generator=None):
    """The completion of ``prompt`` by ``model``, as text, one ``sample_next_token`` at a time.

    Generation ends after ``max_new_tokens`` tokens or as soon as the completion contains one of
    the strings in ``stop``; the completion is then cut before that stop sequence. Each step
    feeds the model at most its last ``context_length`` tokens.
    """
    ids = torch.tensor([tokenizer.encode(prompt)])  # (1, n_prompt_tokens)
    n_prompt_tokens = ids.shape[1]
    completion = ""
    for _ in range(max_new_tokens):
        logits = model(ids[:, -model.config.context_length :])[:, -1, :]  # (1, vocab_size)
        next_id = sample_next_token(logits, temperature, top_k, top_p, generator)  # (1,)
        ids = torch.cat((ids, next_id[:, None]), dim=1)  # (1, n_tokens + 1)
        completion = tokenizer.decode(ids[0, n_prompt_tokens:].tolist())
        hits = [completion.index(s) for s in stop if s in completion]
        if hits:
            return completion[: min(hits)]
    return completion
