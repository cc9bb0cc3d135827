"""Benchmark: a clean build of the whole book takes at most 30 s.

Runs ``make book``'s build (``tools/build_book.py``: every exercise released by nbgrader, then
``jupyter-book build -W -n --keep-going``) three times, each into a fresh temporary
``--path-output`` so no Sphinx cache is reused (the venv, the disk cache and, after the first build,
the release cache ``_build/release-cache/`` are warm), and writes
the minimum and median wall-clock seconds to ``bench/results/book.json`` with a bar figure.
"""

import platform
import statistics
import sys
import tempfile
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench import build_book, save  # noqa: E402

TARGET_SECONDS = 30.0
N_BUILDS = 3


def run():
    seconds = []
    for _ in range(N_BUILDS):
        with tempfile.TemporaryDirectory() as out_dir:
            start = time.perf_counter()
            build_book(out_dir)
            seconds.append(time.perf_counter() - start)
    median = statistics.median(seconds)
    return {
        "benchmark": "tools/build_book.py: release the exercises, jupyter-book build -W -n --keep-going (clean)",
        "seconds": [round(s, 1) for s in seconds],
        "min_seconds": round(min(seconds), 1),
        "median_seconds": round(median, 1),
        "target_seconds": TARGET_SECONDS,
        "within_target": median <= TARGET_SECONDS,
        "python": platform.python_version(),
    }


def figure(result):
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar([f"build {i + 1}" for i in range(len(result["seconds"]))], result["seconds"], color="tab:blue")
    ax.axhline(TARGET_SECONDS, color="tab:red", linestyle="--", label=f"target {TARGET_SECONDS:g} s")
    ax.set_ylabel("wall-clock seconds")
    ax.set_title(f"Clean book build (median {result['median_seconds']} s)")
    ax.legend()
    return fig


if __name__ == "__main__":
    result = run()
    save("book", result, figure(result))
    sys.exit(0 if result["within_target"] else 1)
