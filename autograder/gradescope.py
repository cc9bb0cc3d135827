"""Gradescope's "Zipped autograder": build the zip, and grade one upload inside Gradescope's container.

``python -m autograder gradescope build ASSIGNMENT --out autograder.zip`` writes the zip that
Gradescope's programming assignments take (its "Autograder Specifications"): at its root
``setup.sh`` (run once when Gradescope builds the image: Ubuntu, as root), ``run_autograder`` (run
for each upload, from ``/autograder``), and the course's files that grading needs (``autograder/``,
``solutions/``, the assignment's source notebook, ``pyproject.toml``, ``requirements.lock``), with
``gradescope.json``: the assignment, the limits and a seed key drawn at build time, so an upload
regraded later gets the same inputs, as the gradebook's key does in ``grade``.

``run_autograder`` calls :func:`run`, which grades the upload in ``/autograder/submission/`` with the
same plan, integrity scan, hidden checks and rules as ``grade`` (:func:`grading.prepare`, then
:func:`grading.run_with_retry`), and writes ``/autograder/results/results.json``: ``score``,
``execution_time``, ``output`` (the report ``check`` prints), and one test per part with its name,
score, max_score, output and visibility. Hidden checks' sources are never shown, only their
verdicts, as on the feedback page. A written answer is a test worth 0 points that says it is
graded by hand: Gradescope grades those as manually graded questions of the assignment's outline,
which the instructor adds with the part's points. Where bubblewrap cannot run in the container,
the upload runs without the sandbox (Gradescope's container is the isolation there), and the
output says so. Whatever the upload (a renamed notebook, several, a zip, none, garbage), a
results file is written, never a traceback.
"""

import json
import os
import secrets
import shutil
import time
import zipfile
from dataclasses import asdict
from pathlib import Path

from autograder import course, worker
from autograder.spec import load_spec

ROOT = Path("/autograder")  # Gradescope's layout: source/, submission/, results/
CONFIG = "gradescope.json"
SOURCE_FILES = ("pyproject.toml", "requirements.lock", "constraints.txt")
SKIP = {"__pycache__", ".ipynb_checkpoints", "__MACOSX"}
MAX_UPLOAD_BYTES = 20 * 2**20  # the most a notebook (or a zip's notebook) may hold, as in grade
STUDENT = "gradescope"

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image (Ubuntu).
# It installs the course's pinned environment in /autograder/venv (torch from PyTorch's CPU index:
# Gradescope has no GPU). AUTOGRADER_VENV=<path of an installed course venv> uses that one instead.
set -euo pipefail
root=${AUTOGRADER_ROOT:-/autograder}
source="$(cd "$(dirname "$0")" && pwd)"
if [ -n "${AUTOGRADER_VENV:-}" ]; then
  ln -sfn "$AUTOGRADER_VENV" "$root/venv"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq python3 python3-venv bubblewrap >/dev/null
python3 -m venv "$root/venv"
grep -vE '^(nvidia-|cuda-|triton|torch==)' "$source/requirements.lock" > /tmp/cpu.lock
"$root/venv/bin/python" -m pip install --quiet --no-deps -r /tmp/cpu.lock
"$root/venv/bin/python" -m pip install --quiet --no-deps --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
"""

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for each upload, from /autograder: grade submission/, write results/results.json.
root=${AUTOGRADER_ROOT:-/autograder}
cd "$root/source" || exit 1
PYTHONPATH="$root/source" OMP_NUM_THREADS=1 exec "$root/venv/bin/python" -m autograder gradescope run --root "$root"
"""


def build(assignment, out, limits=worker.Limits(), repo=course.REPO):
    """Write Gradescope's zip for ``assignment`` to ``out``; return its path."""
    spec = load_spec(course.source_notebook(assignment, Path(repo) / "chapters"), assignment)
    config = {"assignment": spec.assignment, "seed_key": secrets.token_hex(16), "limits": asdict(limits)}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100755 << 16  # executable, as Gradescope runs them
            archive.writestr(info, text)
        archive.writestr(CONFIG, json.dumps(config, indent=1))
        for package in ("autograder", "solutions"):
            for path in sorted((Path(repo) / package).rglob("*")):
                if path.is_file() and not SKIP & set(path.parts):
                    archive.write(path, path.relative_to(repo).as_posix())
        notebook = Path("chapters") / assignment / course.EXERCISE
        archive.write(Path(repo) / notebook, notebook.as_posix())
        for name in SOURCE_FILES:
            if (Path(repo) / name).is_file():
                archive.write(Path(repo) / name, name)
    return out


# --- the upload ------------------------------------------------------------------------------------

def find_notebook(submission):
    """``(name, bytes, notes)`` of the notebook to grade in folder ``submission``, or ``(None, None,
    problem)`` with what to upload instead. Notebooks inside a zip count; one named
    ``exercise.ipynb`` wins over others."""
    found, notes = [], []
    for path in sorted(Path(submission).rglob("*")):
        if SKIP & set(path.relative_to(submission).parts) or not path.is_file():
            continue
        if path.suffix == ".ipynb":
            found.append((path.relative_to(submission).as_posix(), path))
        elif path.suffix == ".zip":
            try:
                with zipfile.ZipFile(path) as archive:
                    for info in archive.infolist():
                        parts = set(Path(info.filename).parts)
                        if info.filename.endswith(".ipynb") and not SKIP & parts and not info.is_dir():
                            found.append((f"{path.name}:{info.filename}", (path, info)))
            except (zipfile.BadZipFile, OSError) as error:
                notes.append(f"{path.name} is not a zip file that can be read ({error}); it was ignored")
    if not found:
        return None, None, notes + [f"no notebook found in your upload: upload your {course.EXERCISE} "
                                    "(the .ipynb file itself, or a zip that holds it)"]
    named = [f for f in found if Path(f[0].split(":")[-1]).name == course.EXERCISE]
    if len(found) > 1 and len(named) != 1:
        return None, None, notes + [f"your upload holds {len(found)} notebooks ({', '.join(n for n, _ in found)}): "
                                    f"upload only your {course.EXERCISE}"]
    name, where = (named or found)[0]
    if len(found) > 1:
        notes.append(f"graded {name}; the other notebooks were ignored: "
                     + ", ".join(n for n, _ in found if n != name))
    elif Path(name.split(":")[-1]).name != course.EXERCISE:
        notes.append(f"graded {name}: no {course.EXERCISE} was uploaded")
    size = where[1].file_size if isinstance(where, tuple) else where.stat().st_size
    if size > MAX_UPLOAD_BYTES:
        return None, None, notes + [f"{name} holds {size} bytes, more than a notebook may "
                                    f"({MAX_UPLOAD_BYTES} bytes): clear its outputs, save, and upload it again"]
    if isinstance(where, tuple):
        with zipfile.ZipFile(where[0]) as archive:
            data = archive.read(where[1])
    else:
        data = where.read_bytes()
    return name, data, notes


def grade_upload(submission, spec, runner, seed_key):
    """``(result or None, notes)``: grade the notebook in folder ``submission`` with ``runner``."""
    from autograder import grading

    name, data, notes = find_notebook(submission)
    if data is None:
        return None, notes
    return grading.run_with_retry(grading.prepare(data, spec, STUDENT, seed_key), runner), notes


def results_json(spec, result, notes, seconds, sandboxed):
    """Gradescope's results dictionary for ``result`` (``None``: nothing could be graded)."""
    from autograder import check

    titles = check.titles(spec)
    lines = list(notes)
    if not sandboxed:
        lines.append("Graded without the grader's sandbox (bubblewrap cannot run in this container); "
                     "Gradescope's container isolates the upload.")
    tests = []
    if result is None or result["status"] == "error":
        if result is not None:
            lines.append(f"The grader itself failed on this notebook ({result['grader_faults'][-1]}); this is not "
                         "your code's fault: your instructor will rerun the autograder.")
        for part in spec.parts:
            tests.append(_test(part.grade_id, titles, 0.0, 0.0 if part.manual else part.points,
                               "graded by hand" if part.manual else "not graded: see the output above"))
    else:
        report, _ = check.report(spec, result)
        lines.append(report)
        for part in result["parts"]:
            if part["manual"]:
                tests.append(_test(part["grade_id"], titles, 0.0, 0.0,
                                   f"A written answer worth {part['points']:g} points, graded by hand (a manually "
                                   "graded question of this assignment), not by the autograder."))
                continue
            text, _ = check.report(spec, result, only=part["grade_id"])
            text = "\n".join(line for line in text.splitlines() if not line.startswith("Total: "))
            tests.append(_test(part["grade_id"], titles, part["score"] or 0.0, part["points"], text))
    return {"score": sum(t["score"] for t in tests), "execution_time": round(seconds), "output": "\n".join(lines),
            "output_format": "text", "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


def _test(grade_id, titles, score, max_score, output):
    test = {"name": f"{titles.get(grade_id, grade_id)} ({grade_id})", "score": score, "max_score": max_score,
            "output": output, "visibility": "visible"}
    if max_score:  # a written answer has no autograder verdict
        test["status"] = "passed" if score == max_score else "failed"
    return test


def run(root=ROOT):
    """Grade ``root/submission/`` and write ``root/results/results.json``; always write it, return 0."""
    started = time.monotonic()
    root = Path(root)
    out = root / "results" / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        config = json.loads((Path(course.REPO) / CONFIG).read_text())
        spec = load_spec(course.source_notebook(config["assignment"]), config["assignment"])
    except (OSError, ValueError, KeyError, SystemExit) as error:
        out.write_text(json.dumps({"score": 0, "output": f"The autograder is not set up ({error!r}): "
                                   "your instructor must rebuild it with `python -m autograder gradescope build`.",
                                   "tests": []}))
        return 0
    try:
        worker.check_sandbox()
        sandboxed = True
    except worker.SandboxUnavailable:
        sandboxed = False
    runner = worker.Worker(0, worker.Limits(**config["limits"]), sandboxed)
    try:
        runner.launch()
        result, notes = grade_upload(root / "submission", spec, runner, bytes.fromhex(config["seed_key"]))
        results = results_json(spec, result, notes, time.monotonic() - started, sandboxed)
    except Exception as error:  # the grader's own fault: say so, never a traceback instead of a results file
        results = results_json(spec, {"status": "error", "grader_faults": [f"{type(error).__name__}: {error}"]},
                               [], time.monotonic() - started, sandboxed)
    finally:
        runner.close()
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, out)
    print(results["output"])  # Gradescope keeps stdout for the instructor
    return 0


def unpack(zip_path, root):
    """Lay out ``root`` as Gradescope does from the zip: ``source/`` and ``run_autograder``; for tests
    and for an instructor who wants to try the zip locally before uploading it."""
    root = Path(root)
    shutil.rmtree(root / "source", ignore_errors=True)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root / "source")
        for info in archive.infolist():
            mode = info.external_attr >> 16
            if mode:
                os.chmod(root / "source" / info.filename, mode & 0o777)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")
    for folder in ("submission", "results"):
        (root / folder).mkdir(exist_ok=True)
    return root


def main(args):
    """``python -m autograder gradescope {build,run}``."""
    if args.gradescope_command == "build":
        path = build(args.assignment, args.out, worker.Limits(cell_seconds=args.cell_timeout,
                                                               notebook_seconds=args.notebook_timeout))
        print(f"wrote {path}: upload it as the assignment's Zipped autograder (Gradescope > Configure Autograder)")
        return 0
    return run(args.root)  # "run": argparse allows only build and run
