"""Tests for solutions.gpt (the small GPT and its sampler) and the committed trained model."""

import csv
import math

import pytest
import torch
import torch.nn.functional as F

from solutions.data import DATA_DIR
from solutions.train_gpt import MODEL_CONFIG, encode_splits, load_trained, validation_loss
from solutions.transformers import GPT, GPTConfig, generate

CONFIG = GPTConfig(vocab_size=50, context_length=16, d_model=32, n_heads=4, n_layers=2)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(CONFIG).eval()


def random_ids(batch, seq_len, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(CONFIG.vocab_size, (batch, seq_len), generator=generator)


def test_logits_shape(model):
    logits = model(random_ids(3, 10))
    assert logits.shape == (3, 10, CONFIG.vocab_size)
    assert logits.dtype == torch.float32


def test_loss_is_torch_cross_entropy(model):
    idx, targets = random_ids(2, 12, seed=1), random_ids(2, 12, seed=2)
    logits, loss = model(idx, targets)
    expected = F.cross_entropy(logits.reshape(-1, CONFIG.vocab_size), targets.reshape(-1))
    assert loss.shape == ()
    torch.testing.assert_close(loss, expected)


def test_untrained_model_is_near_uniform(model):
    # Weights of standard deviation 0.02 give logits near zero: the loss is about log(vocab_size).
    _, loss = model(random_ids(4, 16, seed=3), random_ids(4, 16, seed=4))
    assert abs(loss.item() - math.log(CONFIG.vocab_size)) < 0.1


def test_causal(model):
    idx = random_ids(2, 12, seed=5)
    changed = idx.clone()
    changed[:, 7] = (changed[:, 7] + 1) % CONFIG.vocab_size
    before, after = model(idx), model(changed)
    torch.testing.assert_close(after[:, :7], before[:, :7], atol=1e-6, rtol=0)
    assert not torch.allclose(after[:, 7:], before[:, 7:], atol=1e-4)


def test_longer_than_context_is_refused(model):
    with pytest.raises(ValueError, match="context_length"):
        model(random_ids(1, CONFIG.context_length + 1))


def test_parameter_count_and_weight_tying():
    C, V, T, L = CONFIG.d_model, CONFIG.vocab_size, CONFIG.context_length, CONFIG.n_layers
    # Per block: Q, K, V and output projections (4 C^2), the MLP (2 * 4 C^2), two LayerNorm gains.
    # The LM head adds nothing: it is the token embedding, transposed.
    expected = V * C + T * C + L * (12 * C * C + 2 * C) + C
    model = GPT(CONFIG)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model.lm_head.weight is model.token_embedding.weight


def test_generate_appends_exactly(model):
    idx = random_ids(2, 5, seed=6)
    torch.manual_seed(0)
    out = generate(model, idx, max_new_tokens=7)
    assert out.shape == (2, 12)
    assert torch.equal(out[:, :5], idx)
    assert 0 <= out.min() and out.max() < CONFIG.vocab_size


def test_greedy_is_argmax_and_deterministic(model):
    idx = random_ids(2, 4, seed=7)
    out = generate(model, idx, max_new_tokens=6, temperature=0)
    assert torch.equal(out, generate(model, idx, max_new_tokens=6, temperature=0))
    expected = idx
    for _ in range(6):
        next_id = model(expected)[:, -1].argmax(dim=-1, keepdim=True)
        expected = torch.cat((expected, next_id), dim=1)
    assert torch.equal(out, expected)


def test_top_k_one_is_greedy(model):
    idx = random_ids(3, 4, seed=8)
    greedy = generate(model, idx, max_new_tokens=8, temperature=0)
    for seed in range(3):
        torch.manual_seed(seed)
        assert torch.equal(generate(model, idx, max_new_tokens=8, temperature=1.0, top_k=1), greedy)


def test_generate_crops_to_context(model):
    # Past context_length the model only sees the last context_length tokens.
    idx = random_ids(1, CONFIG.context_length + 5, seed=9)
    out = generate(model, idx, max_new_tokens=1, temperature=0)
    expected = model(idx[:, -CONFIG.context_length :])[:, -1].argmax(dim=-1)
    assert out.shape == (1, CONFIG.context_length + 6)
    assert out[0, -1] == expected[0]


def test_negative_temperature_is_refused(model):
    with pytest.raises(ValueError):
        generate(model, random_ids(1, 3), max_new_tokens=1, temperature=-1.0)


def test_committed_model_reproduces_logged_validation_loss():
    model, tokenizer = load_trained()  # strict load: every tensor must fit MODEL_CONFIG
    assert tokenizer.vocab_size == MODEL_CONFIG.vocab_size
    train_ids, val_ids = encode_splits(tokenizer)
    with open(DATA_DIR / "train_log.csv") as f:
        logged = float(list(csv.DictReader(f))[-1]["val_loss"])
    # The last row is measured on the very float16 weights in gpt.pt and written with four
    # decimals (rounding error <= 5e-5); summing in another order or with another thread count
    # moves a float32 mean of ~10^4 token losses by ~1e-6. A stale gpt.pt, tokenizer or corpus
    # moves it by far more than 1e-3.
    assert validation_loss(model, val_ids) == pytest.approx(logged, abs=1e-3)

    # Independent bar: the model must beat the best context-free guess, the training split's
    # token frequencies (a unigram model), by a wide margin.
    counts = torch.bincount(train_ids, minlength=tokenizer.vocab_size).double() + 1.0
    unigram_loss = -(counts / counts.sum()).log()[val_ids].mean().item()
    assert logged < unigram_loss - 1.0
