"""Tests for solutions.tokenizer: byte-level BPE training, encoding and decoding."""

import random
import re

import pytest

from solutions.data import DATA_DIR, load_corpus, train_val_split
from solutions.tokenizer import CHUNK_PATTERN, BPETokenizer, train_bpe
from solutions.train_gpt import MODEL_CONFIG

SAMPLE = load_corpus()[:50_000]


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe(SAMPLE, 320)


def random_text(rng, length):
    """Any code points at all: ASCII, accents, CJK, emoji, combining marks and lone surrogates."""
    pools = [
        (0x20, 0x7E),
        (0x00, 0x1F),  # control characters, including tabs and line breaks
        (0xC0, 0x24F),  # accented Latin
        (0x0300, 0x036F),  # combining marks
        (0x4E00, 0x9FFF),  # CJK
        (0x1F300, 0x1FAFF),  # emoji
        (0xD800, 0xDFFF),  # lone surrogates: legal in a Python str, not in UTF-8
        (0x0, 0x10FFFF),
    ]
    return "".join(chr(rng.randint(*rng.choice(pools))) for _ in range(length))


def test_wikipedia_example():
    # The worked example of byte pair encoding (Gage, 1994, as told on Wikipedia):
    # "aaabdaaabac" -> aa becomes Z, then ab becomes Y, then ZY becomes X, leaving "XdXac".
    tok = train_bpe("aaabdaaabac", vocab_size=1000)
    a, b, c, d = (ord(ch) for ch in "abcd")
    assert tok.merges == [(a, a), (a, b), (256, 257)]
    assert tok.vocab_size == 259  # stops early: no pair occurs twice any more
    assert tok.encode("aaabdaaabac") == [258, d, 258, a, c]


EXAMPLES = ["", " ", "a", "héllo wörld", "😀👍🏽🇫🇷", "naïve café", "日本語", "a_b__c", "\ud800", "x\udfffy"]


@pytest.mark.parametrize("text", EXAMPLES)
def test_round_trip_examples(tokenizer, text):
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_round_trip_random_unicode(tokenizer):
    rng = random.Random(0)
    for _ in range(300):
        text = random_text(rng, rng.randint(0, 40))
        assert tokenizer.decode(tokenizer.encode(text)) == text


def test_chunks_cover_every_character():
    # Merges never cross chunk boundaries, so the chunks must spell the text exactly.
    rng = random.Random(1)
    for _ in range(300):
        text = random_text(rng, rng.randint(0, 40))
        assert "".join(re.findall(CHUNK_PATTERN, text)) == text


def reference_encode(merges, text):
    """Apply the merges one after the other, in training order, to every chunk's bytes."""
    ids = []
    for chunk in re.findall(CHUNK_PATTERN, text):
        chunk_ids = list(chunk.encode("utf-8", errors="surrogatepass"))
        for rank, pair in enumerate(merges):
            merged, i = [], 0
            while i < len(chunk_ids):
                if tuple(chunk_ids[i : i + 2]) == pair:
                    merged.append(256 + rank)
                    i += 2
                else:
                    merged.append(chunk_ids[i])
                    i += 1
            chunk_ids = merged
        ids.extend(chunk_ids)
    return ids


def test_merges_applied_in_training_order(tokenizer):
    text = load_corpus()[200_000:203_000]  # text the tokenizer was not trained on
    assert tokenizer.encode(text) == reference_encode(tokenizer.merges, text)


def test_each_merge_builds_from_earlier_tokens(tokenizer):
    for rank, (a, b) in enumerate(tokenizer.merges):
        assert max(a, b) < 256 + rank
        assert tokenizer.vocab[256 + rank] == tokenizer.vocab[a] + tokenizer.vocab[b]


def test_vocab_size_respected(tokenizer):
    assert tokenizer.vocab_size == 320 == 256 + len(tokenizer.merges)
    ids = tokenizer.encode(load_corpus()[100_000:110_000])
    assert 0 <= min(ids) and max(ids) < 320
    with pytest.raises(ValueError):
        train_bpe(SAMPLE, 255)


def test_encoding_compresses_training_text(tokenizer):
    # Every merge replaces a pair of tokens by one, so the training text must get shorter.
    n_bytes = len(SAMPLE.encode("utf-8"))
    assert len(tokenizer.encode(SAMPLE)) < 0.8 * n_bytes


def test_training_is_deterministic(tokenizer):
    assert train_bpe(SAMPLE, 320).merges == tokenizer.merges


def test_decode_replaces_invalid_utf8(tokenizer):
    # A model may emit half of a multi-byte character; decoding must not raise.
    assert tokenizer.decode([0xFF, ord("a")]) == b"\xffa".decode("utf-8", errors="replace")
    euro = list("€".encode("utf-8"))
    assert tokenizer.decode(euro[:2]) == bytes(euro[:2]).decode("utf-8", errors="replace")


def test_save_load_round_trip(tokenizer, tmp_path):
    path = tmp_path / "tok.json"
    tokenizer.save(path)
    loaded = BPETokenizer.load(path)
    assert loaded.merges == tokenizer.merges
    text = load_corpus()[300_000:302_000]
    assert loaded.encode(text) == tokenizer.encode(text)


def test_committed_tokenizer_is_the_trained_one():
    # solutions/train_gpt.py trains MODEL_CONFIG's vocabulary on the training split and saves it.
    committed = BPETokenizer.load(DATA_DIR / "tokenizer.json")
    train_text, _ = train_val_split(load_corpus())
    assert committed.merges == train_bpe(train_text, MODEL_CONFIG.vocab_size).merges
