"""Benchmark: a big class graded right, every time, at full speed.

``python -m bench.grading_load [--submissions N] [--runs R] [--workers W]`` (defaults: 1,000
submissions, 1 run, one worker per core) builds a class across every exercise present with the
load test's corpus (``tests/corpus/classroom.py``: right, partial, subtly wrong and blank answers,
and chapter 1's quick hostile entries, each with the exact result it must get), grades it R times
into fresh gradebooks, and reports throughput, the peak memory of the grader with all its
sandboxes (resident set, summed over the process tree, sampled every 0.2 s) and the number of
wrong results. Target: zero wrong results and zero grader errors. Writes
``bench/results/grading_load.json``.
"""

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from autograder import batch, course
from autograder.gradebook import GradeStore, sqlite_url
from autograder.worker import Limits, SandboxUnavailable, check_sandbox
from bench import REPO, save

sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "corpus"))
import classroom  # noqa: E402
from conftest import write_submission  # noqa: E402

LIMITS = Limits(cell_seconds=30, notebook_seconds=180, memory_bytes=2**30, tmp_bytes=64 * 2**20)


def tree_rss_bytes(pid):
    """Resident bytes of ``pid`` and every process below it (Linux /proc)."""
    children, rss = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(stat[1]), []).append(int(entry.name))
                rss[int(entry.name)] = int(stat[21]) * os.sysconf("SC_PAGE_SIZE")
            except (OSError, IndexError, ValueError):
                continue
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack += children.get(p, [])
    return total


class PeakMemory:
    """Samples :func:`tree_rss_bytes` of this process in a thread; ``peak`` is the largest sample."""

    def __init__(self, seconds=0.2):
        self.peak, self._stop, self._seconds = 0, threading.Event(), seconds
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self._stop.wait(self._seconds):
            self.peak = max(self.peak, tree_rss_bytes(os.getpid()))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def build(root, n_submissions):
    released = root / "release"
    course.release(course_dir=root / "course", out_dir=released)
    exercises, context = classroom.exercises_and_context(released)
    per_assignment = max(1, -(-(n_submissions - len(classroom.HOSTILE)) // len(exercises)))  # at least n in all
    submissions = classroom.build_class(exercises, per_assignment, context)
    for sub in submissions:
        write_submission(root / "submitted", sub.student, sub.assignment, sub.data)
    return submissions


def count_wrong(submissions, results):
    wrong = 0
    for sub in submissions:
        r = results[(sub.student, sub.assignment)]
        got = (r["status"], r["score"], tuple((p["grade_id"], p["score"]) for p in r["parts"] if not p["manual"]))
        wrong += got != (sub.status, sub.score, sub.part_scores or got[2])
    return wrong


def run(n_submissions, runs, workers):
    try:
        check_sandbox()
        sandbox = True
    except SandboxUnavailable:
        sandbox = False
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        submissions = build(root, n_submissions)
        seconds, wrong, errors = [], [], []
        with PeakMemory() as memory:
            for i in range(runs):
                start = time.perf_counter()
                with GradeStore(sqlite_url(root / f"gradebook-{i}.db")) as store:
                    summary = batch.grade_all(root / "submitted", store, workers=workers, limits=LIMITS,
                                              sandbox=sandbox, progress=True)
                    results = {(r["student"], r["assignment"]): r for r in store.results()}
                seconds.append(time.perf_counter() - start)
                wrong.append(count_wrong(submissions, results))
                errors.append(summary["error"])
    return {
        "benchmark": f"grading {len(submissions)} submissions of {len(course.assignments())} exercises, {runs} run(s)",
        "n_submissions": len(submissions),
        "runs": runs,
        "workers": workers,
        "sandbox": sandbox,
        "python": sys.version.split()[0],
        "seconds_per_run": [round(s, 1) for s in seconds],
        "submissions_per_second": round(len(submissions) * runs / sum(seconds), 2),
        "peak_memory_bytes": memory.peak,
        "peak_memory_gib": round(memory.peak / 2**30, 2),
        "wrong_results_per_run": wrong,
        "grader_errors_per_run": errors,
        "within_target": not any(wrong) and not any(errors),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.grading_load", description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args(argv)
    result = run(args.submissions, args.runs, args.workers)
    save("grading_load", result)
    return 0 if result["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
