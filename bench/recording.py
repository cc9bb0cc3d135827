"""Benchmark: what the sandbox's recording of operators costs a correct but loop-heavy answer.

Every assignment's source answers are made loop-heavy (``tests/corpus/loop_heavy.py``: a Python loop
of small torch operations at the start of each function) and run in one sandboxed worker. For each
hidden check, the check's calls are timed with the recording (as ``grade`` runs a check that forbids
operators) and without it (as it runs every other check); the best of ``RUNS`` each. Only checks
that forbid operators are recorded at all, so only they can cost more; the target is at most
``TARGET_RATIO`` times the unrecorded time for each of them. ``empty_function_mode`` is what a
``TorchFunctionMode`` that does nothing costs the same loop: the floor of the checks watched by a
mode (``Tensor`` methods, dtypes). Writes ``bench/results/recording.json``.
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


def function_mode_floor(n=20000, runs=7):
    """What any ``TorchFunctionMode`` costs the loop-heavy answers' loop of tiny operations
    (``t = t + 1``) with a body that does nothing but call the function: the least a watch by a
    function mode can cost; ``{"seconds_per_op_without", "seconds_per_op_with", "ratio"}``."""
    import torch
    from torch.overrides import TorchFunctionMode

    class Empty(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            return func(*args, **kwargs) if kwargs else func(*args)

    def per_op():
        t = torch.zeros(1)
        started = time.perf_counter()
        for _ in range(n):
            t = t + 1
        return (time.perf_counter() - started) / n

    def best(mode):
        times = []
        for _ in range(runs):
            if mode is None:
                times.append(per_op())
            else:
                with mode():
                    times.append(per_op())
        return min(times)

    without, with_mode = best(None), best(Empty)
    return {"seconds_per_op_without": without, "seconds_per_op_with": with_mode, "ratio": round(with_mode / without, 2)}


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
    result = {"target_ratio": TARGET_RATIO, "worst": worst, "checks": rows, "empty_function_mode": function_mode_floor(),
              "met": all(r["ratio"] <= TARGET_RATIO for r in watched),
              "note": "checks that forbid no operator run unrecorded (ratio 1 up to noise)"}
    save("recording", result)
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(run())
