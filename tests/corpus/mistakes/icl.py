"""Chapter 2, In-context learning: plausible wrong answers to every autograded part, and an
independent right one each (see ``mistakes/__init__.py``)."""

ASSIGNMENT = "02-in-context-learning"

# Given below Part 2's answer: the hidden check calls it, and it calls the answer's max_shots.
GIVEN_MAX_SHOTS_IN_WORDS = '''

def count_words(text):
    return len(text.split())


def max_shots_in_words(examples, query, context_window):
    try:
        return max_shots(examples, query, context_window, count_words)
    except ValueError as error:
        return str(error)
'''


# Given below Part 5's answer: the hidden check calls it.
GIVEN_SAMPLE_WITH_SEED = '''

def sample_with_seed(logits, seed, **options):
    try:
        draws = [sample_next_token(logits, generator=torch.Generator().manual_seed(seed), **options) for _ in range(2)]
    except ValueError:
        return "ValueError"
    return torch.stack(draws)
'''


def _max_shots(source):
    """A whole answer cell for Part 2: the answer, then the given wrapper."""
    return source + GIVEN_MAX_SHOTS_IN_WORDS


def _sample(source):
    """A whole answer cell for Part 5: the answer, then the given wrapper."""
    return source + GIVEN_SAMPLE_WITH_SEED


RIGHT = {
    "build_prompt": '''
def build_prompt(examples, query, instruction="Classify this review:", label_name="Sentiment"):
    lines = []
    for text, label in examples:
        lines += [instruction, text, label_name + ": " + label, ""]
    lines += [instruction, query, label_name + ":"]
    return "\\n".join(lines)
''',
    "max_shots_in_words": _max_shots('''
def max_shots(examples, query, context_window, count_tokens):
    n_zero_shot = count_tokens(build_prompt([], query))
    if n_zero_shot > context_window:
        raise ValueError(f"the zero-shot prompt has {n_zero_shot} tokens but the window only {context_window}: "
                         "use a larger window or a shorter query")
    k = 0
    while k < len(examples) and count_tokens(build_prompt(examples[: k + 1], query)) <= context_window:
        k += 1
    return k
'''),
    "top_k_filter": '''
def top_k_filter(logits, k):
    # a logit stays when fewer than k logits of its row are strictly larger
    n_larger = (logits.unsqueeze(-2) > logits.unsqueeze(-1)).sum(dim=-1)  # (..., V)
    return torch.where(n_larger < k, logits, torch.tensor(-math.inf, dtype=logits.dtype))
''',
    "top_p_filter": '''
def top_p_filter(logits, p):
    if p >= 1:
        return logits.clone()
    probs = torch.softmax(logits.double(), dim=-1)
    ranked, _ = torch.sort(probs, dim=-1, descending=True)
    before = torch.cat((torch.zeros_like(ranked[..., :1]), ranked.cumsum(dim=-1)[..., :-1]), dim=-1)
    # the smallest kept probability: the last one whose predecessors hold less than p
    smallest = torch.where(before < p, ranked, torch.ones_like(ranked)).amin(dim=-1, keepdim=True)
    return torch.where(probs >= smallest, logits, torch.full_like(logits, -math.inf))
''',
    "sample_with_seed": _sample('''
def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature < 0:
        raise ValueError("temperature must not be negative")
    if temperature == 0:
        return torch.max(logits, dim=-1).indices
    scaled = logits / temperature
    if top_k is not None:
        scaled = top_k_filter(scaled, top_k)
    if top_p is not None:
        scaled = top_p_filter(scaled, top_p)
    flat = torch.softmax(scaled, dim=-1).view(-1, logits.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).view(logits.shape[:-1])
'''),
    "lookup_predictions": '''
def lookup_predictions(tokens, n_symbols):
    predictions = []
    for row in tokens.tolist():
        query, guess = row[-1], 0
        for i in range(0, len(row) - 1, 2):
            if row[i] == query:
                guess = row[i + 1] - n_symbols
        predictions.append(guess)
    return torch.tensor(predictions, dtype=torch.long)
''',
    "query_accuracy": '''
def query_accuracy(logits, answers, n_symbols, n_labels):
    last = logits[:, logits.shape[1] - 1, :]
    best = torch.max(last[:, n_symbols : n_symbols + n_labels], dim=1).indices
    return float((best == answers).sum().item()) / len(answers)
''',
}

MISTAKES = {
    "build_prompt": {
        "strips the spaces around each text and the query (from a blind trial)": """\
def build_prompt(examples, query, instruction="Classify this review:", label_name="Sentiment"):
    blocks = [f"{instruction}\\n{text.strip()}\\n{label_name}: {label}" for text, label in examples]
    blocks.append(f"{instruction}\\n{query.strip()}\\n{label_name}:")
    return "\\n\\n".join(blocks)
""",
        "strips the whole prompt, losing an empty instruction's line (from a blind trial)": """\
def build_prompt(examples, query, instruction="Classify this review:", label_name="Sentiment"):
    blocks = [f"{instruction}\\n{text}\\n{label_name}: {label}" for text, label in examples]
    blocks.append(f"{instruction}\\n{query}\\n{label_name}:")
    return "\\n\\n".join(blocks).strip()
""",
        "blocks joined by one newline, no blank line": '''
def build_prompt(examples, query, instruction="Classify this review:", label_name="Sentiment"):
    blocks = [f"{instruction}\\n{text}\\n{label_name}: {label}" for text, label in examples]
    return "\\n".join(blocks + [f"{instruction}\\n{query}\\n{label_name}:"])
''',
        "label name hard-coded as Sentiment": '''
def build_prompt(examples, query, instruction="Classify this review:", label_name="Sentiment"):
    blocks = [f"{instruction}\\n{text}\\nSentiment: {label}" for text, label in examples]
    return "\\n\\n".join(blocks + [f"{instruction}\\n{query}\\nSentiment:"])
''',
        "the query block always uses the default instruction": '''
def build_prompt(examples, query, instruction="Classify this review:", label_name="Sentiment"):
    prompt = ""
    for text, label in examples:
        prompt += f"{instruction}\\n{text}\\n{label_name}: {label}\\n\\n"
    return prompt + f"Classify this review:\\n{query}\\n{label_name}:"
''',
        "no space after the label name's colon": '''
def build_prompt(examples, query, instruction="Classify this review:", label_name="Sentiment"):
    blocks = [f"{instruction}\\n{text}\\n{label_name}:{label}" for text, label in examples]
    return "\\n\\n".join(blocks + [f"{instruction}\\n{query}\\n{label_name}:"])
''',
        "the newest example first": '''
def build_prompt(examples, query, instruction="Classify this review:", label_name="Sentiment"):
    blocks = [f"{instruction}\\n{text}\\n{label_name}: {label}" for text, label in reversed(examples)]
    return "\\n\\n".join(blocks + [f"{instruction}\\n{query}\\n{label_name}:"])
''',
        "the instruction once, at the top": '''
def build_prompt(examples, query, instruction="Classify this review:", label_name="Sentiment"):
    blocks = [f"{text}\\n{label_name}: {label}" for text, label in examples] + [f"{query}\\n{label_name}:"]
    return instruction + "\\n" + "\\n\\n".join(blocks)
''',
        "a trailing newline after the prompt": '''
def build_prompt(examples, query, instruction="Classify this review:", label_name="Sentiment"):
    prompt = ""
    for text, label in examples:
        prompt += f"{instruction}\\n{text}\\n{label_name}: {label}\\n\\n"
    return prompt + f"{instruction}\\n{query}\\n{label_name}:\\n"
''',
    },
    "max_shots_in_words": {
        "an exact fit is rejected (< instead of <=)": _max_shots('''
def max_shots(examples, query, context_window, count_tokens):
    n_zero_shot = count_tokens(build_prompt([], query))
    if n_zero_shot > context_window:
        raise ValueError(f"{n_zero_shot} tokens of zero-shot prompt exceed the window of {context_window}: shorten it")
    k = 0
    while k < len(examples) and count_tokens(build_prompt(examples[: k + 1], query)) < context_window:
        k += 1
    return k
'''),
        "the newest k examples instead of the first k": _max_shots('''
def max_shots(examples, query, context_window, count_tokens):
    best = None
    for k in range(len(examples) + 1):
        if count_tokens(build_prompt(examples[len(examples) - k :], query)) <= context_window:
            best = k
    if best is None:
        n_zero_shot = count_tokens(build_prompt([], query))
        raise ValueError(f"{n_zero_shot} tokens of zero-shot prompt exceed the window of {context_window}: shorten it")
    return best
'''),
        "skips an example that does not fit and tries the next": _max_shots('''
def max_shots(examples, query, context_window, count_tokens):
    n_zero_shot = count_tokens(build_prompt([], query))
    if n_zero_shot > context_window:
        raise ValueError(f"{n_zero_shot} tokens of zero-shot prompt exceed the window of {context_window}: shorten it")
    chosen = []
    for example in examples:
        if count_tokens(build_prompt(chosen + [example], query)) <= context_window:
            chosen.append(example)
    return len(chosen)
'''),
        "stops one example early (range(len(examples)))": _max_shots('''
def max_shots(examples, query, context_window, count_tokens):
    fitting = [k for k in range(len(examples)) if count_tokens(build_prompt(examples[:k], query)) <= context_window]
    if not fitting:
        n_zero_shot = count_tokens(build_prompt([], query))
        raise ValueError(f"{n_zero_shot} tokens of zero-shot prompt exceed the window of {context_window}: shorten it")
    return max(fitting)
'''),
        "the query left out of the count": _max_shots('''
def max_shots(examples, query, context_window, count_tokens):
    n_zero_shot = count_tokens(build_prompt([], query))
    if n_zero_shot > context_window:
        raise ValueError(f"{n_zero_shot} tokens of zero-shot prompt exceed the window of {context_window}: shorten it")
    k = 0
    while k < len(examples) and count_tokens(build_prompt(examples[: k + 1], "")) <= context_window:
        k += 1
    return k
'''),
        "splits on spaces, so a newline does not separate words": _max_shots('''
def max_shots(examples, query, context_window, count_tokens):
    def n_tokens(k):
        return len(build_prompt(examples[:k], query).split(" "))
    if n_tokens(0) > context_window:
        raise ValueError(f"{n_tokens(0)} tokens of zero-shot prompt exceed the window of {context_window}: shorten it")
    k = 0
    while k < len(examples) and n_tokens(k + 1) <= context_window:
        k += 1
    return k
'''),
        "returns 0 instead of raising when the zero-shot prompt does not fit": _max_shots('''
def max_shots(examples, query, context_window, count_tokens):
    k = 0
    while k < len(examples) and count_tokens(build_prompt(examples[: k + 1], query)) <= context_window:
        k += 1
    return k
'''),
        "an error message without the numbers": _max_shots('''
def max_shots(examples, query, context_window, count_tokens):
    if count_tokens(build_prompt([], query)) > context_window:
        raise ValueError("the prompt is too long for the context window: shorten the query")
    k = 0
    while k < len(examples) and count_tokens(build_prompt(examples[: k + 1], query)) <= context_window:
        k += 1
    return k
'''),
        "returns the first k that does not fit": _max_shots('''
def max_shots(examples, query, context_window, count_tokens):
    n_zero_shot = count_tokens(build_prompt([], query))
    if n_zero_shot > context_window:
        raise ValueError(f"{n_zero_shot} tokens of zero-shot prompt exceed the window of {context_window}: shorten it")
    for k in range(1, len(examples) + 1):
        if count_tokens(build_prompt(examples[:k], query)) > context_window:
            return k
    return len(examples)
'''),
    },
    "top_k_filter": {
        "compares in float32, so float64 logits that differ only beyond float32 tie (from a blind trial)": """\
def top_k_filter(logits, k):
    lf = logits.float()
    if k >= lf.shape[-1]:
        return lf.clone()
    s, _ = torch.sort(lf, dim=-1, descending=True)
    kth = s[..., k - 1 : k]
    return lf.masked_fill(lf < kth, float("-inf"))
""",
        "keeps exactly k: ties broken by position": '''
def top_k_filter(logits, k):
    order = logits.argsort(dim=-1, descending=True)
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, order[..., :k], True)
    return logits.masked_fill(~keep, float("-inf"))
''',
        "keeps logits above the (k+1)-th largest: a tie across the cut drops both": '''
def top_k_filter(logits, k):
    if k >= logits.shape[-1]:
        return logits.clone()
    next_one = logits.sort(dim=-1, descending=True).values[..., k : k + 1]
    return logits.masked_fill(logits <= next_one, float("-inf"))
''',
        "k-th largest read at index k (one too many kept)": '''
def top_k_filter(logits, k):
    ranked = logits.sort(dim=-1, descending=True).values
    kth = ranked[..., min(k, logits.shape[-1] - 1)].unsqueeze(-1)
    return logits.masked_fill(logits < kth, float("-inf"))
''',
        "sorted along the first dimension": '''
def top_k_filter(logits, k):
    k = min(k, logits.shape[-1])
    kth = logits.sort(dim=0, descending=True).values[..., k - 1 : k]
    return logits.masked_fill(logits < kth, float("-inf"))
''',
        "a large negative number instead of -inf": '''
def top_k_filter(logits, k):
    k = min(k, logits.shape[-1])
    kth = logits.sort(dim=-1, descending=True).values[..., k - 1 : k]
    return torch.where(logits >= kth, logits, torch.full_like(logits, -1e9))
''',
        "written for 2-d logits: [:, k - 1]": '''
def top_k_filter(logits, k):
    k = min(k, logits.shape[-1])
    kth = logits.sort(dim=-1, descending=True).values[:, k - 1 : k]
    return logits.masked_fill(logits < kth, float("-inf"))
''',
        "k clamped to vocab_size - 1": '''
def top_k_filter(logits, k):
    k = min(k, logits.shape[-1] - 1)
    kth = logits.sort(dim=-1, descending=True).values[..., k - 1 : k]
    return logits.masked_fill(logits < kth, float("-inf"))
''',
        "returns float64 logits for float32 ones": '''
def top_k_filter(logits, k):
    k = min(k, logits.shape[-1])
    wide = logits.double()
    kth = wide.sort(dim=-1, descending=True).values[..., k - 1 : k]
    return wide.masked_fill(wide < kth, float("-inf"))
''',
        "masks the caller's logits in place": '''
def top_k_filter(logits, k):
    n_larger = (logits.unsqueeze(-2) > logits.unsqueeze(-1)).sum(dim=-1)  # (..., V)
    logits[n_larger >= k] = -math.inf
    return logits
''',
    },
    "top_p_filter": {
        "ties at the crossing token broken by sort order": '''
def top_p_filter(logits, p):
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    drop = probs.cumsum(dim=-1) - probs >= p
    return logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
''',
        "the crossing token dropped": '''
def top_p_filter(logits, p):
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = torch.softmax(sorted_logits.double(), dim=-1)
    drop = probs.cumsum(dim=-1) > p
    drop[..., 0] = False
    smallest = sorted_logits.masked_fill(drop, float("inf")).amin(dim=-1, keepdim=True)
    return logits.masked_fill(logits < smallest, float("-inf"))
''',
        "p = 1 not special: the float32 sum reaches 1 before the tail": '''
def top_p_filter(logits, p):
    sorted_logits = logits.sort(dim=-1, descending=True).values
    probs = torch.softmax(sorted_logits, dim=-1)
    keep = probs.cumsum(dim=-1) - probs < p
    smallest = sorted_logits.masked_fill(~keep, float("inf")).amin(dim=-1, keepdim=True)
    return logits.masked_fill(logits < smallest, float("-inf"))
''',
        "only p > 1 skips the filter: p = 1 drops the tail": '''
def top_p_filter(logits, p):
    if p > 1:
        return logits.clone()
    sorted_logits = logits.sort(dim=-1, descending=True).values
    probs = torch.softmax(sorted_logits.double(), dim=-1)
    keep = probs.cumsum(dim=-1) - probs < p
    smallest = sorted_logits.masked_fill(~keep, float("inf")).amin(dim=-1, keepdim=True)
    return logits.masked_fill(logits < smallest, float("-inf"))
''',
        "softmax over the first dimension": '''
def top_p_filter(logits, p):
    if p >= 1:
        return logits.clone()
    probs = torch.softmax(logits.double(), dim=0)
    ranked = probs.sort(dim=-1, descending=True).values
    keep = ranked.cumsum(dim=-1) - ranked < p
    smallest = ranked.masked_fill(~keep, 2.0).amin(dim=-1, keepdim=True)
    return logits.masked_fill(probs < smallest, float("-inf"))
''',
        "exp of the logits not normalised": '''
def top_p_filter(logits, p):
    if p >= 1:
        return logits.clone()
    weights = logits.double().exp()
    ranked = weights.sort(dim=-1, descending=True).values
    keep = ranked.cumsum(dim=-1) - ranked < p
    smallest = ranked.masked_fill(~keep, float("inf")).amin(dim=-1, keepdim=True)
    return logits.masked_fill(weights < smallest, float("-inf"))
''',
        "kept logits returned in sorted order": '''
def top_p_filter(logits, p):
    if p >= 1:
        return logits.clone()
    sorted_logits = logits.sort(dim=-1, descending=True).values
    probs = torch.softmax(sorted_logits.double(), dim=-1)
    keep = probs.cumsum(dim=-1) - probs < p
    smallest = sorted_logits.masked_fill(~keep, float("inf")).amin(dim=-1, keepdim=True)
    return sorted_logits.masked_fill(sorted_logits < smallest, float("-inf"))
''',
        "a token kept while the total before it is at most p (<= instead of <)": '''
def top_p_filter(logits, p):
    if p >= 1:
        return logits.clone()
    probs = torch.softmax(logits.double(), dim=-1)
    sp, idx = torch.sort(probs, dim=-1, descending=True)
    cum = sp.cumsum(dim=-1)
    before = torch.cat([torch.zeros_like(cum[..., :1]), cum[..., :-1]], dim=-1)
    keep_sorted = before <= p
    sorted_logits = logits.gather(-1, idx)
    thr = torch.where(keep_sorted, sorted_logits, torch.full_like(sorted_logits, float("inf"))).amin(dim=-1, keepdim=True)
    return logits.masked_fill(logits < thr, float("-inf"))
''',
        "returns the logits in float64, the dtype of its sums (from a blind trial)": '''
def top_p_filter(logits, p):
    wide = logits.double()
    if p >= 1:
        return wide
    probs = torch.softmax(wide, dim=-1)
    ranked = probs.sort(dim=-1, descending=True).values
    keep = ranked.cumsum(dim=-1) - ranked < p
    smallest = ranked.masked_fill(~keep, 2.0).amin(dim=-1, keepdim=True)
    return wide.masked_fill(probs < smallest, float("-inf"))
''',
        "masks the caller's logits in place": '''
def top_p_filter(logits, p):
    if p >= 1:
        return logits
    probs = torch.softmax(logits.double(), dim=-1)
    ranked, _ = torch.sort(probs, dim=-1, descending=True)
    before = torch.cat((torch.zeros_like(ranked[..., :1]), ranked.cumsum(dim=-1)[..., :-1]), dim=-1)
    smallest = torch.where(before < p, ranked, torch.ones_like(ranked)).amin(dim=-1, keepdim=True)
    return logits.masked_fill_(probs < smallest, -math.inf)
''',
    },
    "sample_with_seed": {
        "filters before dividing by the temperature": _sample('''
def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature < 0:
        raise ValueError("temperature must not be negative")
    if temperature == 0:
        return logits.argmax(dim=-1)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits / temperature, dim=-1).reshape(-1, logits.shape[-1])
    return torch.multinomial(probs, 1, generator=generator).reshape(logits.shape[:-1])
'''),
        "top_p before top_k": _sample('''
def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature < 0:
        raise ValueError("temperature must not be negative")
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    probs = torch.softmax(logits, dim=-1).reshape(-1, logits.shape[-1])
    return torch.multinomial(probs, 1, generator=generator).reshape(logits.shape[:-1])
'''),
        "top_p ignored when top_k is given (elif)": _sample('''
def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature < 0:
        raise ValueError("temperature must not be negative")
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    elif top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits, dim=-1).reshape(-1, logits.shape[-1])
    return torch.multinomial(probs, 1, generator=generator).reshape(logits.shape[:-1])
'''),
        "multiplies by the temperature": _sample('''
def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature < 0:
        raise ValueError("temperature must not be negative")
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits * temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits, dim=-1).reshape(-1, logits.shape[-1])
    return torch.multinomial(probs, 1, generator=generator).reshape(logits.shape[:-1])
'''),
        "temperature 0 as a tiny temperature: ties drawn at random": _sample('''
def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature < 0:
        raise ValueError("temperature must not be negative")
    logits = logits / max(temperature, 1e-6)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits, dim=-1).reshape(-1, logits.shape[-1])
    return torch.multinomial(probs, 1, generator=generator).reshape(logits.shape[:-1])
'''),
        "one id per row of a flattened batch: shape (rows,)": _sample('''
def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature < 0:
        raise ValueError("temperature must not be negative")
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits, dim=-1).reshape(-1, logits.shape[-1])
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
'''),
        "the generator ignored: torch's global one draws": _sample('''
def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature < 0:
        raise ValueError("temperature must not be negative")
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits, dim=-1).reshape(-1, logits.shape[-1])
    return torch.multinomial(probs, 1).reshape(logits.shape[:-1])
'''),
        "a negative temperature decodes greedily instead of raising": _sample('''
def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits, dim=-1).reshape(-1, logits.shape[-1])
    return torch.multinomial(probs, 1, generator=generator).reshape(logits.shape[:-1])
'''),
        "top_k ignored": _sample('''
def sample_next_token(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    if temperature < 0:
        raise ValueError("temperature must not be negative")
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits, dim=-1).reshape(-1, logits.shape[-1])
    return torch.multinomial(probs, 1, generator=generator).reshape(logits.shape[:-1])
'''),
    },
    "lookup_predictions": {
        "label index as token % n_symbols, wrong when there are more labels than symbols (from a blind trial)": """\
def lookup_predictions(tokens, n_symbols):
    n_tasks, T = tokens.shape
    query = tokens[:, -1]
    out = torch.zeros(n_tasks, dtype=torch.int64)
    for j in range((T - 1) // 2):
        match = tokens[:, 2 * j] == query
        out = torch.where(match, tokens[:, 2 * j + 1].long() % n_symbols, out)
    return out
""",
        "an absent query takes the first example's label (argmax of all False is 0)": '''
def lookup_predictions(tokens, n_symbols):
    if tokens.shape[1] == 1:
        return torch.zeros(tokens.shape[0], dtype=torch.int64)
    matches = (tokens[:, 0:-1:2] == tokens[:, -1:]).int()
    first = matches.argmax(dim=1, keepdim=True)
    return (tokens[:, 1::2].gather(1, first) - n_symbols).squeeze(1)
''',
        "an absent query guesses the examples' most common label": '''
def lookup_predictions(tokens, n_symbols):
    predictions = torch.zeros(tokens.shape[0], dtype=torch.int64)
    for i, row in enumerate(tokens):
        inputs, labels = row[0:-1:2], row[1::2] - n_symbols
        found = labels[inputs == row[-1]]
        if len(found):
            predictions[i] = found[-1]
        elif len(labels):
            predictions[i] = labels.mode().values
    return predictions
''',
        "float predictions": '''
def lookup_predictions(tokens, n_symbols):
    predictions = torch.zeros(tokens.shape[0])
    for i, row in enumerate(tokens.tolist()):
        for j in range(0, len(row) - 1, 2):
            if row[j] == row[-1]:
                predictions[i] = row[j + 1] - n_symbols
    return predictions
''',
        "the guess is label 0's token id, not its index": '''
def lookup_predictions(tokens, n_symbols):
    predictions = []
    for row in tokens.tolist():
        labels = [row[i + 1] for i in range(0, len(row) - 1, 2) if row[i] == row[-1]]
        predictions.append(labels[-1] - n_symbols if labels else n_symbols)
    return torch.tensor(predictions)
''',
        "only the last example compared with the query": '''
def lookup_predictions(tokens, n_symbols):
    if tokens.shape[1] == 1:
        return torch.zeros(tokens.shape[0], dtype=torch.int64)
    found = tokens[:, -3] == tokens[:, -1]
    return torch.where(found, tokens[:, -2] - n_symbols, 0)
''',
        "labels left as token ids": '''
def lookup_predictions(tokens, n_symbols):
    predictions = []
    for row in tokens.tolist():
        labels = [row[i + 1] for i in range(0, len(row) - 1, 2) if row[i] == row[-1]]
        predictions.append(labels[-1] if labels else 0)
    return torch.tensor(predictions)
''',
    },
    "query_accuracy": {
        "argmax over the whole vocabulary": '''
def query_accuracy(logits, answers, n_symbols, n_labels):
    predictions = logits[:, -1].argmax(dim=-1) - n_symbols
    return (predictions == answers).float().mean().item()
''',
        "read at the first position": '''
def query_accuracy(logits, answers, n_symbols, n_labels):
    predictions = logits[:, 0, n_symbols : n_symbols + n_labels].argmax(dim=-1)
    return (predictions == answers).float().mean().item()
''',
        "read one position before the query": '''
def query_accuracy(logits, answers, n_symbols, n_labels):
    position = max(logits.shape[1] - 2, 0)
    predictions = logits[:, position, n_symbols : n_symbols + n_labels].argmax(dim=-1)
    return (predictions == answers).float().mean().item()
''',
        "every token after the symbols competes": '''
def query_accuracy(logits, answers, n_symbols, n_labels):
    predictions = logits[:, -1, n_symbols:].argmax(dim=-1)
    return (predictions == answers).float().mean().item()
''',
        "a tie counts as right": '''
def query_accuracy(logits, answers, n_symbols, n_labels):
    label_logits = logits[:, -1, n_symbols : n_symbols + n_labels]
    answer_logits = label_logits.gather(1, answers[:, None]).squeeze(1)
    return (answer_logits == label_logits.max(dim=-1).values).float().mean().item()
''',
        "integer division": '''
def query_accuracy(logits, answers, n_symbols, n_labels):
    predictions = logits[:, -1, n_symbols : n_symbols + n_labels].argmax(dim=-1)
    return int((predictions == answers).sum()) // len(answers)
''',
        "returns a tensor": '''
def query_accuracy(logits, answers, n_symbols, n_labels):
    predictions = logits[:, -1, n_symbols : n_symbols + n_labels].argmax(dim=-1)
    return (predictions == answers).float().mean()
''',
        "the labels taken as the vocabulary's last tokens": '''
def query_accuracy(logits, answers, n_symbols, n_labels):
    predictions = logits[:, -1, -n_labels:].argmax(dim=-1)
    return (predictions == answers).float().mean().item()
''',
        "the argmax taken in float16 (from a blind trial)": '''
def query_accuracy(logits, answers, n_symbols, n_labels):
    predictions = logits[:, -1, n_symbols : n_symbols + n_labels].half().argmax(dim=-1)
    return (predictions == answers).float().mean().item()
''',
        "returns the number right": '''
def query_accuracy(logits, answers, n_symbols, n_labels):
    predictions = logits[:, -1, n_symbols : n_symbols + n_labels].argmax(dim=-1)
    return float((predictions == answers).sum())
''',
    },
}
