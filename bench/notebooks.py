"""Benchmark: every notebook under chapters/ executes quickly on one CPU thread.

Targets: each ``exercise.ipynb`` (source form, hidden tests included) in at most 30 s, every other
notebook in at most 60 s. Each notebook runs top to bottom with nbclient in a fresh ``python3``
kernel of the current environment, in its own folder, with ``OMP_NUM_THREADS=1``; the time counts
the kernel's start. Writes ``bench/results/notebooks.json`` and a bar figure with the targets.
"""

import sys
import time

import matplotlib
import nbformat
from nbclient import NotebookClient

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bench import ENV, REPO, save  # noqa: E402

EXERCISE_TARGET_SECONDS = 30.0
NOTEBOOK_TARGET_SECONDS = 60.0


def target_seconds(path):
    return EXERCISE_TARGET_SECONDS if path.name == "exercise.ipynb" else NOTEBOOK_TARGET_SECONDS


def execute_seconds(path):
    """Seconds to start a kernel and run every cell of the notebook at ``path``."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=600,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute(env=ENV)
    return time.perf_counter() - start


def run():
    paths = sorted(p for p in (REPO / "chapters").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    notebooks = []
    for path in paths:
        seconds = execute_seconds(path)
        notebooks.append({"notebook": str(path.relative_to(REPO)), "seconds": round(seconds, 1),
                          "target_seconds": target_seconds(path), "within_target": seconds <= target_seconds(path)})
        print(f"{notebooks[-1]['notebook']}: {seconds:.1f} s", file=sys.stderr)
    return {
        "benchmark": "nbclient execution of chapters/**/*.ipynb, OMP_NUM_THREADS=1",
        "notebooks": notebooks,
        "total_seconds": round(sum(n["seconds"] for n in notebooks), 1),
        "within_target": all(n["within_target"] for n in notebooks),
    }


def figure(result):
    rows = result["notebooks"]
    fig, ax = plt.subplots(figsize=(7, 0.5 * len(rows) + 1.5))
    names = [n["notebook"].removeprefix("chapters/") for n in rows]
    colors = ["tab:blue" if n["within_target"] else "tab:red" for n in rows]
    ax.barh(names, [n["seconds"] for n in rows], color=colors)
    ax.axvline(EXERCISE_TARGET_SECONDS, color="tab:orange", linestyle="--",
               label=f"exercise target {EXERCISE_TARGET_SECONDS:g} s")
    ax.axvline(NOTEBOOK_TARGET_SECONDS, color="tab:red", linestyle="--",
               label=f"notebook target {NOTEBOOK_TARGET_SECONDS:g} s")
    ax.invert_yaxis()
    ax.set_xlabel("wall-clock seconds (kernel start included)")
    ax.legend(loc="lower right")
    return fig


if __name__ == "__main__":
    result = run()
    save("notebooks", result, figure(result))
    sys.exit(0 if result["within_target"] else 1)
