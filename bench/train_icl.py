"""Benchmark: chapter 2's two-layer in-context learner must train from scratch in at most 120 s on 2 CPU cores.

Run ``python -m bench.train_icl``. It times ``solutions.train_icl.train`` for the model the chapter
measures (``ICL_CONFIG``, seed 0; training itself uses one thread, ``TrainConfig.n_threads``) in
memory, leaving the committed weights untouched, then measures the fresh model on 2,000 tasks
per number of shots. It records the time and the largest gap to the
optimal accuracy in ``bench/results/train_icl.json``; the exit status is 1 when training is slower
than the target or the model ends more than 3 points below the optimum at some k.
"""

import os
import platform
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import save  # noqa: E402
from solutions.icl import icl_accuracy, optimal_accuracy  # noqa: E402
from solutions.train_icl import ICL_CONFIG, TrainConfig, train  # noqa: E402

TARGET_SECONDS = 120.0
MAX_GAP = 0.03
SHOTS = [0, 1, 2, 4, 8]


def run() -> dict:
    """Train once, measure, and return the measurements."""
    config = TrainConfig()
    start = time.perf_counter()
    model = train(ICL_CONFIG, config)
    seconds = time.perf_counter() - start
    accuracy = icl_accuracy(model, SHOTS, n_tasks=2000, seed=1000)
    optimum = optimal_accuracy(SHOTS, n_tasks=2000, seed=1000)
    gap = max(optimum[k] - accuracy[k] for k in SHOTS)
    return {
        "benchmark": "solutions.train_icl.train (2 layers)",
        "seconds": round(seconds, 1),
        "target_seconds": TARGET_SECONDS,
        "max_gap_to_optimum": round(gap, 4),
        "within_target": seconds <= TARGET_SECONDS and gap <= MAX_GAP,
        "accuracy": {str(k): round(accuracy[k], 4) for k in SHOTS},
        "optimal_accuracy": {str(k): round(optimum[k], 4) for k in SHOTS},
        "n_threads": config.n_threads,
        "max_steps": config.max_steps,
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }


if __name__ == "__main__":
    result = run()
    save("train_icl", result)
    sys.exit(0 if result["within_target"] else 1)
