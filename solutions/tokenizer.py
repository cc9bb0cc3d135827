"""Chapter 1, Transformers: a byte-level byte-pair-encoding (BPE) tokenizer.

Text is UTF-8 encoded, so the first 256 token ids are the 256 byte values and any string can
be tokenized. Training then repeatedly merges the most frequent adjacent pair of tokens into a
new token (Sennrich et al., 2016). As in GPT-2, the text is first split into chunks (words with
their leading space, runs of digits, of punctuation, of whitespace) and merges never cross a
chunk boundary, so a token never glues the end of one word to the start of the next.
"""

import codecs
import heapq
import json
import re
from collections import Counter
from pathlib import Path

# Letters, digits and other symbols each form chunks, optionally led by one space; every
# character matches one branch, so the chunks always concatenate back to the text.
CHUNK_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""


_SURROGATEPASS = codecs.lookup_error("surrogatepass")


def _surrogatepass_or_replace(error):
    """Decode error handler: keep UTF-8-encoded lone surrogates, replace any other bad byte.

    ``encode`` writes lone surrogates (valid in a Python ``str``) with ``surrogatepass``, so
    they must come back; byte sequences a model generates that are not UTF-8 become U+FFFD.
    """
    try:
        return _SURROGATEPASS(error)
    except UnicodeDecodeError:
        return codecs.replace_errors(error)


codecs.register_error("bpe_surrogatepass_or_replace", _surrogatepass_or_replace)


def _merge(ids, pair, new_id):
    """Replace every non-overlapping occurrence of ``pair`` in ``ids``, left to right, by ``new_id``."""
    merged, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == pair:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged


class BPETokenizer:
    """Byte-level BPE: ids 0-255 are bytes, id ``256 + r`` is the merge of rank ``r``."""

    def __init__(self, merges: list[tuple[int, int]]):
        self.merges = [tuple(pair) for pair in merges]
        self.ranks = {pair: rank for rank, pair in enumerate(self.merges)}
        self.vocab = [bytes([b]) for b in range(256)]  # token id -> the bytes it stands for
        for a, b in self.merges:
            if max(a, b) >= len(self.vocab):
                raise ValueError(f"merge {(a, b)} uses a token id not yet defined")
            self.vocab.append(self.vocab[a] + self.vocab[b])
        self._chunk_cache = {}  # chunk -> its token ids; encoding repeats the same words often

    @property
    def vocab_size(self) -> int:
        """Number of token ids: 256 bytes plus one per merge."""
        return len(self.vocab)

    def _encode_chunk(self, chunk: str) -> list[int]:
        ids = list(chunk.encode("utf-8", errors="surrogatepass"))
        while len(ids) > 1:
            # The lowest-rank pair present is merged first, exactly as in training order.
            pair = min(zip(ids, ids[1:]), key=lambda p: self.ranks.get(p, len(self.ranks)))
            if pair not in self.ranks:
                break
            ids = _merge(ids, pair, 256 + self.ranks[pair])
        return ids

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``; works for any ``str``, including emoji and lone surrogates."""
        ids = []
        for chunk in re.findall(CHUNK_PATTERN, text):
            if chunk not in self._chunk_cache:
                self._chunk_cache[chunk] = self._encode_chunk(chunk)
            ids.extend(self._chunk_cache[chunk])
        return ids

    def decode(self, ids: list[int]) -> str:
        """The text of token ids; bytes that are not valid UTF-8 become U+FFFD."""
        data = b"".join(self.vocab[i] for i in ids)
        return data.decode("utf-8", errors="bpe_surrogatepass_or_replace")

    def save(self, path) -> None:
        """Write the merges, in rank order, to a JSON file at ``path``."""
        payload = {"type": "byte-level BPE", "chunk_pattern": CHUNK_PATTERN, "merges": self.merges}
        Path(path).write_text(json.dumps(payload) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path) -> "BPETokenizer":
        """Read a tokenizer written by ``save``."""
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
        if payload.get("chunk_pattern") != CHUNK_PATTERN:
            raise ValueError(f"{path} was saved with another chunk pattern; retrain the tokenizer")
        return cls(payload["merges"])


def train_bpe(text: str, vocab_size: int) -> BPETokenizer:
    """Learn ``vocab_size - 256`` merges from ``text``.

    Each step merges the most frequent adjacent pair; ties go to the smallest pair ``(a, b)``,
    so training is deterministic. Training stops early, with a smaller vocabulary, when no pair
    occurs twice. Pair counts are updated incrementally: a merge only touches the chunks that
    contain the pair, so the cost per merge is independent of the corpus size.
    """
    if vocab_size < 256:
        raise ValueError(f"vocab_size must be at least 256 (the byte values), got {vocab_size}")
    chunk_counts = Counter(re.findall(CHUNK_PATTERN, text))
    words = [list(chunk.encode("utf-8", errors="surrogatepass")) for chunk in chunk_counts]
    freqs = list(chunk_counts.values())

    pair_counts = Counter()  # pair -> occurrences in the text
    where = {}  # pair -> indices of the words that contain it
    for w, (word, freq) in enumerate(zip(words, freqs)):
        for pair in zip(word, word[1:]):
            pair_counts[pair] += freq
            where.setdefault(pair, set()).add(w)
    # Max-heap by count, then smallest pair; stale entries are skipped when popped.
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)

    merges = []
    while 256 + len(merges) < vocab_size and heap:
        neg_count, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -neg_count:
            continue  # stale: this pair's count changed after the entry was pushed
        if -neg_count < 2:
            break
        new_id = 256 + len(merges)
        merges.append(pair)
        changed = Counter()
        for w in where.pop(pair):
            word, freq = words[w], freqs[w]
            for old in zip(word, word[1:]):
                changed[old] -= freq
            words[w] = word = _merge(word, pair, new_id)
            for new in zip(word, word[1:]):
                changed[new] += freq
                where.setdefault(new, set()).add(w)
        del pair_counts[pair]
        for p, delta in changed.items():
            if delta and p != pair:
                pair_counts[p] += delta
                heapq.heappush(heap, (-pair_counts[p], p))
    return BPETokenizer(merges)
