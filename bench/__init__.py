"""Benchmarks of the course, run on demand with ``python -m bench`` (see bench/README.md).

Each benchmark is a module ``bench/<name>.py`` that, run as ``python -m bench.<name>``, writes
``bench/results/<name>.json`` (and a figure where one helps) and exits 1 when it misses its target.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
VENV_BIN = Path(sys.executable).parent

# As in the Makefile: nbgrader calls alembic and jupyter by name, so they must come from the venv,
# and the "python3" kernel spec runs whichever `python` comes first on PATH.
ENV = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           OMP_NUM_THREADS="1", PYTHONHASHSEED="0")


def run(args, **kwargs):
    """Run a command with the benchmark environment; raise with its output if it fails."""
    result = subprocess.run(args, env=ENV, capture_output=True, text=True, **kwargs)
    if result.returncode:
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({result.returncode}):\n"
                           f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def save(name, result, figure=None):
    """Write ``result`` to results/<name>.json and ``figure`` to results/<name>.png; print the JSON."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    # wall-clock times mean little on a busy machine: record how busy it was
    result = dict(result, load_average_1min=round(os.getloadavg()[0], 1), cpu_count=os.cpu_count())
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    if figure is not None:
        figure.savefig(RESULTS / f"{name}.png", dpi=120, bbox_inches="tight")
    print(json.dumps(result, indent=2))


def build_book(path_output):
    """``make book``'s build (``tools/build_book.py``: exercises released, then
    ``jupyter-book build -W -n --keep-going``) of the whole book into ``path_output``."""
    return run([sys.executable, "tools/build_book.py", "--path-output", str(path_output)], cwd=REPO)
