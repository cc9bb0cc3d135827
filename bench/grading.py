"""Benchmark: ``python -m autograder grade --workers 2`` is at least 10x faster than serial nbgrader,
on every assignment.

For each assignment both graders get the SAME 20 submissions, in one run: student notebooks
released by nbgrader, with the source exercise's answers filled in for 0 to all parts (cells
matched by ``metadata.nbgrader.grade_id``), without the release's self-check cells. The baseline
is ``nbgrader autograde <assignment> --force`` in an nbgrader course directory (it grades every
student in turn); the contender is the course's CLI with two workers and a throw-away gradebook,
hidden checks and their watches included. Each grades each assignment ``REPEATS`` times, in turn,
and the speed-up is the ratio of the median times: a single run moves by a fifth either way on a
shared machine. Everything lives in a temporary folder. Writes
``bench/results/grading.json`` (tracked in git: CONTRIBUTING quotes it) and a bar figure.
"""

import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from autograder import course, worker  # noqa: E402
from bench import run as run_command, save  # noqa: E402

N_SUBMISSIONS = 20
WORKERS = 2
REPEATS = 3  # each grader grades each assignment this many times: the speed-up is of the medians
TARGET_SPEEDUP = 10.0


def grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def submissions(release_nb, source_nb):
    """``N_SUBMISSIONS`` (student, notebook) pairs answering 0, 1, ... all parts, cycling."""
    answers = {grade_id(c): c["source"] for c in source_nb["cells"]
               if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    ids = list(answers)
    for i in range(N_SUBMISSIONS):
        answered_ids = ids[:i % (len(ids) + 1)]
        nb = copy.deepcopy(release_nb)
        # without the release's "check your work" cells, which nbgrader would run (the autograder skips them)
        nb["cells"] = [c for c in nb["cells"] if course.CHECK_TAG not in c.get("metadata", {}).get("tags", [])]
        for cell in nb["cells"]:
            if grade_id(cell) in answered_ids:
                cell["source"] = answers[grade_id(cell)]
        yield f"student{i + 1:02d}", nb


def timed(args, cwd):
    start = time.perf_counter()
    result = run_command(args, cwd=cwd)
    return time.perf_counter() - start, result


def measure(assignment, sandbox):
    """Seconds for nbgrader and for the course's grader on the same submissions of ``assignment``."""
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # The course directory made here by `generate_assignment` also serves nbgrader's baseline.
        course_dir = tmp / "course"
        [released] = course.release([assignment], course_dir=course_dir, out_dir=tmp / "release")
        release_nb = json.loads(released.read_text(encoding="utf-8"))
        source_nb = json.loads(course.source_notebook(assignment).read_text(encoding="utf-8"))
        for student, nb in submissions(release_nb, source_nb):
            folder = course_dir / "submitted" / student / assignment
            folder.mkdir(parents=True)
            (folder / course.EXERCISE).write_text(json.dumps(nb), encoding="utf-8")

        run_command([sys.executable, "-c", "import torch"], cwd=tmp)  # warm the disk cache for both
        nbgrader_runs, autograder_runs = [], []
        for run_index in range(REPEATS):  # in turn, so that both meet the machine's same moods
            seconds, _ = timed([sys.executable, "-m", "nbgrader", "autograde", assignment, "--force",
                                "--log-level=WARN"], cwd=course_dir)
            nbgrader_runs.append(seconds)
            n_autograded = len(list((course_dir / "autograded").glob(f"*/{assignment}/{course.EXERCISE}")))
            grade = [sys.executable, "-m", "autograder", "grade", str(course_dir / "submitted"), "--workers",
                     str(WORKERS), "--db", f"sqlite:///{tmp / f'gb{run_index}.db'}", "--force"]
            seconds, graded = timed(grade + ([] if sandbox else ["--no-sandbox"]), cwd=tmp)
            autograder_runs.append(seconds)
    speedup = statistics.median(nbgrader_runs) / statistics.median(autograder_runs)
    return {
        "assignment": assignment,
        "nbgrader_autograde_seconds": round(statistics.median(nbgrader_runs), 1),
        "nbgrader_runs_seconds": [round(seconds, 1) for seconds in nbgrader_runs],
        "nbgrader_notebooks_autograded": n_autograded,
        "autograder_seconds": round(statistics.median(autograder_runs), 1),
        "autograder_runs_seconds": [round(seconds, 1) for seconds in autograder_runs],
        "autograder_summary": graded.stdout.strip().splitlines()[-1],
        "speedup": round(speedup, 2),
        "within_target": speedup >= TARGET_SPEEDUP,
    }


def run(assignments):
    try:
        worker.check_sandbox()
        sandbox = True
    except worker.SandboxUnavailable:
        sandbox = False
    rows = [measure(assignment, sandbox) for assignment in assignments]
    return {
        "benchmark": f"grading {N_SUBMISSIONS} submissions of each assignment",
        "n_submissions": N_SUBMISSIONS,
        "repeats": REPEATS,
        "autograder_workers": WORKERS,
        "autograder_sandbox": sandbox,
        "target_speedup": TARGET_SPEEDUP,
        "assignments": rows,
        "within_target": all(row["within_target"] for row in rows),
    }


def figure(result):
    fig, ax = plt.subplots(figsize=(6, 3))
    rows = result["assignments"]
    ax.bar([row["assignment"].split("-", 1)[1] for row in rows], [row["speedup"] for row in rows], color="tab:blue")
    ax.axhline(TARGET_SPEEDUP, color="tab:gray", linestyle="--", label=f"target {TARGET_SPEEDUP:g}x")
    ax.set_ylabel("speed-up over nbgrader autograde")
    ax.set_title(f"{N_SUBMISSIONS} submissions each, autograder grade --workers {WORKERS}")
    ax.legend()
    return fig


if __name__ == "__main__":
    result = run(sys.argv[1:] or course.assignments())
    save("grading", result, figure(result))
    sys.exit(0 if result["within_target"] else 1)
