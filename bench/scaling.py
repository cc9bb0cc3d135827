"""Benchmark: chapter 3's scaling-law runs must finish in at most 300 s on 2 CPU cores.

Run ``python -m bench.scaling``. It times ``solutions.train_scaling.main`` (encoding the corpus,
then training every size in ``SIZES``), writing into a temporary directory so the committed
``solutions/data/scale/scaling_runs.csv`` stays untouched, and records in
``bench/results/scaling.json`` the wall-clock time and the fitted exponent of validation loss
against non-embedding parameters with its 95 % confidence interval. The exit status is 1 when the
run is slower than the target; the machine should have 2 otherwise idle cores.
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
from solutions.scaling import fit_power_law, power_law_exponent_interval  # noqa: E402
from solutions.train_scaling import SIZES, RunConfig, main  # noqa: E402

TARGET_SECONDS = 300.0


def run() -> dict:
    """Run the scaling-law script once and return the measurements."""
    config = RunConfig()
    with tempfile.TemporaryDirectory() as out_dir:
        start = time.perf_counter()
        rows = main(out_dir, config)
        seconds = time.perf_counter() - start
    n = [row["non_embedding_params"] for row in rows]
    loss = [row["val_loss"] for row in rows]
    _, exponent = fit_power_law(n, loss)
    low, high = power_law_exponent_interval(n, loss, level=0.95)
    return {
        "benchmark": "solutions.train_scaling.main",
        "seconds": round(seconds, 1),
        "target_seconds": TARGET_SECONDS,
        "within_target": seconds <= TARGET_SECONDS,
        "n_models": len(SIZES),
        "exponent": round(exponent, 4),
        "exponent_95_interval": [round(low, 4), round(high, 4)],
        "n_threads": config.n_threads,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
    }


if __name__ == "__main__":
    result = run()
    save("scaling", result)
    sys.exit(0 if result["within_target"] else 1)
