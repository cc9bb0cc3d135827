"""Benchmark: ``python -m autograder check`` checks a chapter-1 notebook in under 5 s.

The notebook is chapter 1's release (made by nbgrader in a temporary folder) with the reference
answers filled in, so every cell runs and every hidden check draws and compares all its cases.
The command is timed end to end, as a student runs it: the interpreter's start, the sandbox's
start (when bubblewrap works here), every cell and check, the report. It must exit 0 (every part
passed); the median of ``RUNS`` runs counts. Writes ``bench/results/check.json``.
"""

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from autograder import course, worker
from bench import run as run_command, save

ASSIGNMENT = "01-transformers"
RUNS = 3
TARGET_SECONDS = 5.0


def grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def run():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        [released] = course.release([ASSIGNMENT], course_dir=tmp / "course", out_dir=tmp / "release")
        nb = json.loads(released.read_text(encoding="utf-8"))
        source_nb = json.loads(course.source_notebook(ASSIGNMENT).read_text(encoding="utf-8"))
        answers = {grade_id(c): c["source"] for c in source_nb["cells"]
                   if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
        for cell in nb["cells"]:
            if grade_id(cell) in answers:
                cell["source"] = answers[grade_id(cell)]
        released.write_text(json.dumps(nb), encoding="utf-8")

        run_command([sys.executable, "-c", "import torch"], cwd=tmp)  # warm the disk cache
        seconds = []
        for _ in range(RUNS):
            start = time.perf_counter()
            output = run_command([sys.executable, "-m", "autograder", "check", course.EXERCISE], cwd=released.parent)
            seconds.append(time.perf_counter() - start)
    try:
        worker.check_sandbox()
        sandbox = True
    except worker.SandboxUnavailable:
        sandbox = False
    median = statistics.median(seconds)
    return {
        "benchmark": f"python -m autograder check on {ASSIGNMENT} with the reference answers",
        "runs_seconds": [round(s, 2) for s in seconds],
        "median_seconds": round(median, 2),
        "sandbox": sandbox,
        "report_last_line": output.stdout.strip().splitlines()[-1],
        "target_seconds": TARGET_SECONDS,
        "within_target": median <= TARGET_SECONDS,
    }


if __name__ == "__main__":
    result = run()
    save("check", result)
    sys.exit(0 if result["within_target"] else 1)
