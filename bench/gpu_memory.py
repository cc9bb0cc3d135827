"""Benchmark: chapter 4's memory predictions against ``torch.cuda.max_memory_allocated`` on a CUDA GPU.

Run ``python -m bench.gpu_memory`` (or ``python bench/gpu_memory.py``). For chapter 1's GPT at
several sizes, batches and sequence lengths, in fp32 and in bf16 autocast, one AdamW training
step is measured three ways: the model-state bytes (weights, gradients, optimizer) predicted by
``solutions.memory.training_bytes`` against ``torch.cuda.memory_allocated`` after the step; the
activations predicted by ``gpt_activation_bytes`` (derived for fp32) against the bytes autograd
saved (``measure_training_bytes``); and the step's peak, ``max_memory_allocated``, above the
weights and optimizer states held before it. It prints a table and writes
``bench/results/gpu_memory.json``. Without CUDA it says so, measures nothing and exits 0. The
exit status is 1 when the allocated model states (fp32 or bf16 autocast) or the fp32 saved
activations miss their prediction by more than 10 %.
"""

import datetime
import sys
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import save  # noqa: E402
from solutions.gpt import GPT, GPTConfig  # noqa: E402
from solutions.memory import AdamW, gpt_activation_bytes, measure_training_bytes, n_parameters, training_bytes  # noqa: E402

VOCAB = 512
SHAPES = [dict(d_model=128, n_heads=4, n_layers=4), dict(d_model=256, n_heads=8, n_layers=6),
          dict(d_model=512, n_heads=8, n_layers=8)]
RUNS = [(8, 256), (32, 256), (8, 1024)]  # (batch, seq_len)
TOLERANCE = 0.10


def gpt_loss(logits, targets):
    return F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.view(-1))  # (B*T, V) vs (B*T,)


class Autocast(nn.Module):
    """``model`` run under bf16 autocast when ``enabled`` (its parameters stay fp32)."""

    def __init__(self, model, enabled):
        super().__init__()
        self.model, self.enabled = model, enabled

    def forward(self, ids):
        device_type = ids.device.type
        with torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=self.enabled):
            return self.model(ids)  # (B, T, V)


def measure_row(shape, batch, seq_len, precision, device):
    """One AdamW training step of a GPT of ``shape`` on ``device``: predicted and measured bytes.

    ``precision`` is "fp32" or "bf16" (autocast; weights, gradients and AdamW states stay fp32,
    so the model-state prediction is the same). The activation formula is derived for fp32 only.
    The ``peak_above_held_bytes`` and ``allocated_states_bytes`` columns need CUDA (``None`` elsewhere).
    """
    torch.manual_seed(0)
    model = Autocast(GPT(GPTConfig(vocab_size=VOCAB, context_length=seq_len, **shape)), precision == "bf16").to(device)
    optimizer = AdamW(model.parameters())
    ids = torch.randint(VOCAB, (batch, seq_len), device=device)
    targets = torch.randint(VOCAB, (batch, seq_len), device=device)
    gpt_loss(model(ids), targets).backward()  # a first step creates the optimizer states
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)

    cuda = ids.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        held_before = torch.cuda.memory_allocated()  # weights and optimizer states
        torch.cuda.reset_peak_memory_stats()
    measured = measure_training_bytes(model, ids, targets, gpt_loss, optimizer)
    n_params = n_parameters(model)
    row = {
        **shape, "batch": batch, "seq_len": seq_len, "precision": precision, "n_params": n_params,
        "predicted_states_bytes": training_bytes(n_params, "fp32", "adamw")["total"],
        "measured_states_bytes": measured["weights"] + measured["gradients"] + measured["optimizer"],
        "predicted_activation_bytes": (gpt_activation_bytes(batch, seq_len, vocab_size=VOCAB, **shape)
                                       if precision == "fp32" else None),
        "saved_activation_bytes": measured["activations"],
        "allocated_states_bytes": None,
        "peak_above_held_bytes": None,
    }
    if cuda:
        torch.cuda.synchronize()
        row["allocated_states_bytes"] = torch.cuda.memory_allocated() - ids.nbytes - targets.nbytes
        row["peak_above_held_bytes"] = torch.cuda.max_memory_allocated() - held_before
    return row


def within(measured, predicted):
    return predicted is None or abs(measured - predicted) <= TOLERANCE * predicted


def table(rows):
    """The rows as a fixed-width text table, sizes in MiB (2^20 bytes)."""
    def mib(n):
        return "-" if n is None else f"{n / 2**20:,.1f}"
    header = (f"{'d_model':>7} {'layers':>6} {'batch':>5} {'seq':>5} {'prec':>5} | {'states pred':>11} "
              f"{'allocated':>9} | {'act pred':>8} {'act saved':>9} | {'peak-held':>9}   (MiB)")
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['d_model']:>7} {r['n_layers']:>6} {r['batch']:>5} {r['seq_len']:>5} {r['precision']:>5} | "
                     f"{mib(r['predicted_states_bytes']):>11} {mib(r['allocated_states_bytes']):>9} | "
                     f"{mib(r['predicted_activation_bytes']):>8} {mib(r['saved_activation_bytes']):>9} | "
                     f"{mib(r['peak_above_held_bytes']):>9}")
    return "\n".join(lines)


def main():
    if not torch.cuda.is_available():
        print("bench.gpu_memory: no CUDA GPU here (torch.cuda.is_available() is False). It compares the "
              "chapter 4 predictions with torch.cuda.max_memory_allocated, so there is nothing to measure; "
              "run it on a machine with a CUDA GPU.")
        return 0
    rows = [measure_row(shape, batch, seq_len, precision, "cuda")
            for shape in SHAPES for batch, seq_len in RUNS for precision in ("fp32", "bf16")]
    text = table(rows)
    print(text)
    ok = all(within(r["allocated_states_bytes"], r["predicted_states_bytes"])
             and within(r["saved_activation_bytes"], r["predicted_activation_bytes"]) for r in rows)
    save("gpu_memory", {
        "benchmark": "chapter 4 memory predictions against torch.cuda.max_memory_allocated",
        "date": datetime.date.today().isoformat(),
        "gpu": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "tolerance": TOLERANCE,
        "within_target": ok,
        "rows": rows,
        "table": text,
    })
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
