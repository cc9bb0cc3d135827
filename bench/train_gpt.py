"""Benchmark: chapter 1's small GPT must train end to end in at most 180 s on 2 CPU cores.

Run ``python bench/train_gpt.py`` or ``python -m bench.train_gpt``. It times
``solutions.train_gpt.main`` (tokenizer training, encoding, model training, saving), writing
into a temporary directory so the committed artefacts in ``solutions/data/`` stay untouched,
and records the wall-clock time and the final validation loss in ``bench/results/train_gpt.json``. The exit status is 1 when the run is
slower than the target; the machine should have 2 otherwise idle cores.
"""

import os
import platform
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import save  # noqa: E402
from solutions.train_gpt import TrainConfig, main  # noqa: E402

TARGET_SECONDS = 180.0


def run() -> dict:
    """Train once and return the measurements."""
    config = TrainConfig()
    with tempfile.TemporaryDirectory() as out_dir:
        start = time.perf_counter()
        final_val_loss = main(out_dir, config)
        seconds = time.perf_counter() - start
    return {
        "benchmark": "solutions.train_gpt.main",
        "seconds": round(seconds, 1),
        "target_seconds": TARGET_SECONDS,
        "within_target": seconds <= TARGET_SECONDS,
        "final_val_loss_nats_per_token": round(final_val_loss, 4),
        "n_threads": config.n_threads,
        "max_steps": config.max_steps,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    result = run()
    save("train_gpt", result)
    sys.exit(0 if result["within_target"] else 1)
