"""Run the benchmarks: ``python -m bench [NAME ...]`` (default: all), from the repository root.

Each benchmark runs in its own process (``python -m bench.<name>``) so one cannot warm or slow
another; each writes ``bench/results/<name>.json``. The exit status is 1 when any missed its target.
"""

import subprocess
import sys
import time

from bench import ENV, REPO

BENCHMARKS = ["book", "notebooks", "grading", "grading_load", "check", "offline", "train_gpt", "train_icl",
              "gpu_memory", "scaling", "similarity", "mutation", "recording",
              "portable"]


def main(names):
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        sys.exit(f"unknown benchmark(s) {', '.join(unknown)}; choose from: {' '.join(BENCHMARKS)}")
    missed = []
    for name in names or BENCHMARKS:
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        status = subprocess.run([sys.executable, "-m", f"bench.{name}"], cwd=REPO, env=ENV).returncode
        print(f"== {name}: {'ok' if status == 0 else 'MISSED TARGET or failed'} ({time.perf_counter() - start:.0f} s)",
              flush=True)
        if status:
            missed.append(name)
    if missed:
        print(f"missed or failed: {', '.join(missed)}; see bench/results/", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
