"""Measure a scaling law here: train tiny GPTs of increasing size on the same tokens, on CPU.

Run ``python -m solutions.train_scaling``. Every model is chapter 1's ``GPT`` (no biases, tied
head) with chapter 1's tokenizer, trained with the same seed, optimiser, schedule and number of
tokens (``RunConfig``); only ``n_layers``, ``d_model`` and ``n_heads`` change (``SIZES``). It
writes ``solutions/data/scale/scaling_runs.csv``: one row per model with its parameter counts,
the tokens it saw, its training FLOPs (``6 N D``) and its final validation loss (nats/token).
"""

import csv
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from solutions.data import DATA_DIR, SCALE_DIR
from solutions.gpt import GPT, GPTConfig
from solutions.scaling import count_parameters, training_flops
from solutions.tokenizer import BPETokenizer
from solutions.train_gpt import TOKENIZER_FILE, TrainConfig, encode_splits, get_batch, learning_rate, validation_loss

RUNS_FILE = "scaling_runs.csv"
SIZES = [(1, 16, 2), (2, 24, 2), (2, 32, 2), (3, 48, 4), (3, 64, 4), (4, 96, 4), (4, 128, 4)]  # (n_layers, d_model, n_heads)
CSV_FIELDS = ["n_layers", "d_model", "n_heads", "n_params", "non_embedding_params", "n_tokens", "train_flops", "val_loss"]


@dataclass
class RunConfig:
    """Settings shared by every run; each step sees ``batch * context_length`` tokens."""

    seed: int = 0
    n_threads: int = 1
    context_length: int = 64
    batch: int = 16
    max_steps: int = 400
    learning_rate: float = 3e-3  # peak, after a linear warm-up, then cosine decay
    min_learning_rate: float = 1e-4
    warmup_steps: int = 40
    weight_decay: float = 0.1
    grad_clip: float = 1.0


def non_embedding_parameters(model: GPT) -> int:
    """Parameters outside the token and position tables (Kaplan et al.'s N)."""
    embeddings = model.token_embedding.weight.numel() + model.position_embedding.weight.numel()
    return sum(p.numel() for p in model.parameters()) - embeddings


def train_one(size, train_ids, val_ids, vocab_size, config: RunConfig) -> dict:
    """Train one model of ``size = (n_layers, d_model, n_heads)``; return its row of the results."""
    n_layers, d_model, n_heads = size
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)  # the same batches for every size
    model = GPT(GPTConfig(vocab_size, config.context_length, d_model, n_heads, n_layers))
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=config.learning_rate, betas=(0.9, 0.95))
    schedule = TrainConfig(learning_rate=config.learning_rate, min_learning_rate=config.min_learning_rate,
                           warmup_steps=config.warmup_steps, max_steps=config.max_steps)
    for step in tqdm(range(config.max_steps), desc=f"d_model={d_model}", unit="step", leave=False):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, schedule)
        x, y = get_batch(train_ids, config.batch, config.context_length, generator)
        _, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
    n_params = sum(p.numel() for p in model.parameters())
    if n_params != count_parameters(n_layers, d_model, vocab_size, config.context_length, bias=False):
        raise RuntimeError("the model's parameter count disagrees with solutions.scaling.count_parameters")
    n_tokens = config.max_steps * config.batch * config.context_length
    return {
        "n_layers": n_layers, "d_model": d_model, "n_heads": n_heads, "n_params": n_params,
        "non_embedding_params": non_embedding_parameters(model), "n_tokens": n_tokens,
        "train_flops": training_flops(n_params, n_tokens), "val_loss": validation_loss(model, val_ids),
    }


def main(out_dir=SCALE_DIR, config: RunConfig = RunConfig(), sizes=SIZES) -> list[dict]:
    """Train one model per size, write ``scaling_runs.csv`` to ``out_dir`` and return its rows."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(config.n_threads)
    tokenizer = BPETokenizer.load(DATA_DIR / TOKENIZER_FILE)
    train_ids, val_ids = encode_splits(tokenizer)
    rows = []
    progress = tqdm(sizes, desc="models", unit="model")
    for size in progress:
        rows.append(train_one(size, train_ids, val_ids, tokenizer.vocab_size, config))
        progress.set_postfix(params=rows[-1]["n_params"], val=f"{rows[-1]['val_loss']:.3f}")
    with open(out_dir / RUNS_FILE, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows({**row, "val_loss": f"{row['val_loss']:.4f}"} for row in rows)
    return rows


if __name__ == "__main__":
    for row in main():
        print(f"{row['non_embedding_params']:>9,} non-embedding parameters: validation loss {row['val_loss']:.4f}")
    print(f"wrote {SCALE_DIR / RUNS_FILE}")
