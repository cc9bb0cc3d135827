"""Benchmark: what the sandbox's recording of operators costs a correct but loop-heavy answer.

Every assignment's source answers are made loop-heavy (``tests/corpus/loop_heavy.py``: a Python loop
of small torch operations at the start of each function) and run in one sandboxed worker. For each
hidden check, the check's calls are timed with the recording (as ``grade`` runs a check that forbids
operators) and without it (as it runs every other check); the best of ``RUNS`` each. Only checks
that forbid operators are recorded at all, so only they can cost more; the target is at most
``TARGET_RATIO`` times the unrecorded time for each of them. Writes ``bench/results/recording.json``.
"""

import sys
import time
from pathlib import Path

from autograder import checks, course, grading
from autograder.spec import grade_id, is_grade, is_solution, load_spec
from autograder.worker import Limits, Worker
from bench import REPO, save

sys.path.insert(0, str(REPO / "tests" / "corpus"))
from loop_heavy import loop_heavy  # noqa: E402

RUNS = 3
TARGET_RATIO = 1.5


def timed_checks(spec, worker):
    """``{check name: (seconds recorded, seconds unrecorded)}`` for the loop-heavy answers to ``spec``."""
    answers = grading.reference_answers(spec)
    times = {}

    def drive(w):
        for index, cell in enumerate(spec.cells):
            gid = grade_id(cell)
            if cell.cell_type != "code" or (is_grade(cell) and not is_solution(cell)):
                continue
            source = loop_heavy(answers[gid][0]) if gid in answers else cell.source
            if grading.GRADER_SKIPS not in cell.metadata.get("tags", []):
                w.request({"op": "cell", "index": index, "source": source})
        for part in spec.parts:
            for check_name, function in part.checks:
                best = {True: float("inf"), False: float("inf")}
                for _ in range(RUNS):
                    for recorded in (True, False):
                        started = time.perf_counter()
                        outcome = grading.run_check(w.request, check_name, function, 0, recorded=recorded)
                        best[recorded] = min(best[recorded], time.perf_counter() - started)
                        assert outcome["passed"], (check_name, outcome["message"])
                times[check_name] = (best[True], best[False])

    failure = worker.run_submission(drive)
    if failure:
        raise RuntimeError(f"{spec.assignment}: {failure.reason}")
    return times


def run():
    worker = Worker(0, Limits(cell_seconds=600, notebook_seconds=3600), sandbox=True)
    rows = []
    try:
        for assignment in course.assignments():
            spec = load_spec(course.source_notebook(assignment), assignment)
            for name, (recorded, unrecorded) in timed_checks(spec, worker).items():
                watched = bool(checks.get(name).forbid_ops)
                rows.append({"check": name, "recorded": watched, "seconds_with_recording": round(recorded, 3),
                             "seconds_without": round(unrecorded, 3), "ratio": round(recorded / unrecorded, 2)})
    finally:
        worker.close()
    watched = [r for r in rows if r["recorded"]]
    worst = max(watched, key=lambda r: r["ratio"])
    result = {"target_ratio": TARGET_RATIO, "worst": worst, "checks": rows,
              "met": all(r["ratio"] <= TARGET_RATIO for r in watched),
              "note": "checks that forbid no operator run unrecorded (ratio 1 up to noise)"}
    save("recording", result)
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(run())
