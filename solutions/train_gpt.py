"""Train chapter 1's small GPT on the course corpus, on two CPU cores.

Run ``python -m solutions.train_gpt``. It trains a byte-level BPE tokenizer on the training
split of the corpus, then the model, with fixed seeds, and writes to ``solutions/data/``:

- ``tokenizer.json``: the tokenizer's merges;
- ``gpt.pt``: the model's state dict in float16 (about 1.7 * 10^6 bytes);
- ``train_log.csv``: step, mean training loss since the previous row, validation loss (nats/token).

The last row's validation loss is measured on the saved float16 weights, so anyone who loads
``gpt.pt`` can reproduce it with ``validation_loss``. How long a run takes is measured by the
``train_gpt`` benchmark (``bench/train_gpt.py``), whose target is 180 s on two idle cores.
"""

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from solutions.data import DATA_DIR, load_corpus, train_val_split
from solutions.gpt import GPT, GPTConfig
from solutions.tokenizer import BPETokenizer, train_bpe

MODEL_CONFIG = GPTConfig(vocab_size=512, context_length=128, d_model=128, n_heads=4, n_layers=4)
TOKENIZER_FILE = "tokenizer.json"
WEIGHTS_FILE = "gpt.pt"
LOG_FILE = "train_log.csv"


@dataclass
class TrainConfig:
    """Optimisation settings; one step sees ``batch * context_length`` tokens."""

    seed: int = 0
    n_threads: int = 2
    batch: int = 32
    max_steps: int = 500
    learning_rate: float = 3e-3  # peak, after a linear warm-up, then cosine decay
    min_learning_rate: float = 1e-4
    warmup_steps: int = 50
    weight_decay: float = 0.1  # on matrices and embeddings only, not on LayerNorm gains
    grad_clip: float = 1.0  # maximum global gradient norm
    eval_interval: int = 50  # steps between rows of the log


def encode_splits(tokenizer: BPETokenizer) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids ``(n_tokens,)`` int64 of the corpus's training and validation splits."""
    train_text, val_text = train_val_split(load_corpus())
    splits = (train_text, val_text)
    return tuple(torch.tensor(tokenizer.encode(text), dtype=torch.int64) for text in splits)


def get_batch(ids, batch, context_length, generator):
    """Random windows of ``ids``: inputs ``(batch, context_length)`` and targets shifted by one."""
    starts = torch.randint(len(ids) - context_length, (batch,), generator=generator)  # (batch,)
    offsets = torch.arange(context_length)  # (context_length,)
    x = ids[starts[:, None] + offsets]  # (batch, context_length)
    y = ids[starts[:, None] + offsets + 1]  # (batch, context_length)
    return x, y


@torch.no_grad()
def validation_loss(model: GPT, val_ids: torch.Tensor, windows_per_batch: int = 64) -> float:
    """Mean cross-entropy (nats/token) over all non-overlapping full-context windows of ``val_ids``.

    Every window has the same length, so this is the mean over the same tokens every time.
    """
    T = model.config.context_length
    n_windows = (len(val_ids) - 1) // T
    x = val_ids[: n_windows * T].view(n_windows, T)  # (n_windows, T)
    y = val_ids[1 : n_windows * T + 1].view(n_windows, T)  # (n_windows, T)
    was_training = model.training
    model.eval()
    total = 0.0
    for i in range(0, n_windows, windows_per_batch):
        _, loss = model(x[i : i + windows_per_batch], y[i : i + windows_per_batch])
        total += loss.item() * len(x[i : i + windows_per_batch])
    model.train(was_training)
    return total / n_windows


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up to ``learning_rate``, then cosine decay to ``min_learning_rate``."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.min_learning_rate + cosine * (config.learning_rate - config.min_learning_rate)


def load_trained(data_dir=DATA_DIR) -> tuple[GPT, BPETokenizer]:
    """The committed model (in float32, eval mode) and tokenizer written by ``main``."""
    data_dir = Path(data_dir)
    tokenizer = BPETokenizer.load(data_dir / TOKENIZER_FILE)
    model = GPT(MODEL_CONFIG)
    model.load_state_dict(torch.load(data_dir / WEIGHTS_FILE, map_location="cpu", weights_only=True))
    return model.eval(), tokenizer


def main(out_dir=DATA_DIR, config: TrainConfig = TrainConfig()) -> float:
    """Train the tokenizer and the model, write both and the log to ``out_dir``.

    Returns the final validation loss in nats per token.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(config.n_threads)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)

    train_text, _ = train_val_split(load_corpus())
    tokenizer = train_bpe(train_text, MODEL_CONFIG.vocab_size)
    if tokenizer.vocab_size != MODEL_CONFIG.vocab_size:
        raise RuntimeError(f"the corpus yields only {tokenizer.vocab_size} tokens; lower vocab_size")
    tokenizer.save(out_dir / TOKENIZER_FILE)
    train_ids, val_ids = encode_splits(tokenizer)

    model = GPT(MODEL_CONFIG)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate, betas=(0.9, 0.95))

    initial_val_loss = validation_loss(model, val_ids)
    rows = []  # (step, mean training loss over the steps since the previous row, validation loss)
    running_loss = 0.0
    progress = tqdm(range(1, config.max_steps + 1), desc="training", unit="step")
    for step in progress:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step - 1, config)
        x, y = get_batch(train_ids, config.batch, MODEL_CONFIG.context_length, generator)
        _, loss = model(x, y)
        if step == 1:  # the first batch's loss is the untrained model's
            rows.append((0, loss.item(), initial_val_loss))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        running_loss += loss.item()
        if step % config.eval_interval == 0 and step < config.max_steps:
            rows.append((step, running_loss / config.eval_interval, validation_loss(model, val_ids)))
            running_loss = 0.0
            progress.set_postfix(train=f"{rows[-1][1]:.3f}", val=f"{rows[-1][2]:.3f}")

    # Save in float16 and measure the final row on exactly those weights.
    torch.save(model.half().state_dict(), out_dir / WEIGHTS_FILE)
    model.float()
    steps_since_row = config.max_steps - rows[-1][0]
    rows.append((config.max_steps, running_loss / steps_since_row, validation_loss(model, val_ids)))
    with open(out_dir / LOG_FILE, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "train_loss", "val_loss"])
        writer.writerows((step, f"{train:.4f}", f"{val:.4f}") for step, train, val in rows)
    return rows[-1][2]


if __name__ == "__main__":
    final = main()
    print(f"final validation loss: {final:.4f} nats/token; wrote {DATA_DIR}")
