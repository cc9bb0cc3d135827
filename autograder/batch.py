"""Grade a folder of submissions in parallel, resumably, with a progress bar.

Submissions are laid out as ``SUBMISSIONS_DIR/<student>/<assignment>/exercise.ipynb``. The main
thread reads, plans and scans every submission (:func:`grading.prepare`, which parses Python and
so must not run in several threads); then each of ``workers`` threads drives its own sandboxed
worker (or a Dask cluster runs them), and only the main thread writes to the gradebook. A grader
fault is retried once on a fresh sandbox, then recorded with status "error" and no score. A
submission whose file has already been graded (same SHA-256, status not "error") is skipped, so a
batch stopped by Ctrl-C or a killed process resumes where it stopped. Before grading a
submission the run claims it in the gradebook; one that another run holds is left to that run,
so runs started at the same time share the class and grade each submission once.
"""

import hashlib
import math
import os
import queue
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from autograder import course, distributed, lateness, manual
from autograder.gradebook import run_owner
from autograder.grading import error_result, new_result, prepare, run_with_retry, warm_for
from autograder.spec import load_spec
from autograder.worker import Limits, Worker


@dataclass(frozen=True)
class Submission:
    student: str
    assignment: str
    path: Path | None  # None when the folder holds no notebook to grade
    problem: str = ""
    note: str = ""  # other notebooks beside the one graded: named in the result's notes, at no cost


def find_submissions(root, assignments=None):
    """Every ``<student>/<assignment>`` folder under ``root``, with the notebook to grade."""
    found = []
    for student_dir in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        for assignment_dir in sorted(p for p in student_dir.iterdir() if p.is_dir()):
            if assignments and assignment_dir.name not in assignments:
                continue
            notebooks = sorted(assignment_dir.glob("*.ipynb"))
            expected = assignment_dir / course.EXERCISE
            if expected in notebooks:
                others = [n.name for n in notebooks if n != expected]
                note = f"graded {course.EXERCISE}; not graded: {', '.join(others)}" if others else ""
                found.append(Submission(student_dir.name, assignment_dir.name, expected, note=note))
            elif len(notebooks) == 1:
                found.append(Submission(student_dir.name, assignment_dir.name, notebooks[0],
                                        f"graded {notebooks[0].name}: no {course.EXERCISE} was submitted"))
            else:
                found.append(Submission(student_dir.name, assignment_dir.name, None,
                                        f"expected {course.EXERCISE}, found {len(notebooks)} notebooks"))
    return found


def grade_all(submissions_dir, store, *, workers=None, limits=Limits(), sandbox=True, force=False,
              assignments=None, scheduler=None, chapters=course.CHAPTERS, progress=True, due=None,
              due_dates=None, penalty_per_day=0.0, runners=None):
    """Grade every submission under ``submissions_dir`` into ``store``; return a summary dict.

    ``runners`` are workers launched already (``worker.launch_runners``), used instead of new ones
    and closed at the end, used or not.

    ``due`` (a timezone-aware datetime), or an assignment's entry in ``due_dates``, records each
    submission's minutes late, and
    ``penalty_per_day`` the points each started day late costs. The summary counts submissions
    left to another run that had claimed them under ``"graded by another run"`` when there are any.
    """
    owner = run_owner()
    try:
        return _grade_all(submissions_dir, store, owner, workers, limits, sandbox, force, assignments, scheduler,
                          chapters, progress, due, due_dates or {}, penalty_per_day, runners or [])
    finally:
        store.release_claims(owner)
        for runner in runners or []:
            runner.close()


def _grade_all(submissions_dir, store, owner, workers, limits, sandbox, force, assignments, scheduler, chapters,
               progress, due, due_dates, penalty_per_day, runners):
    submissions = find_submissions(submissions_dir, assignments)
    specs = {}
    for name in sorted({s.assignment for s in submissions}):
        path = Path(chapters) / name / course.EXERCISE
        if path.is_file():
            specs[name] = load_spec(path, name)
            store.sync_assignment(specs[name])
    warm = sorted({name for spec in specs.values() for name in warm_for(spec)})
    for runner in runners:  # they are idle until the first submission is prepared
        runner.warm(warm)
    seed_key = store.seed_key()
    summary = {"graded": 0, "flagged": 0, "error": 0, "skipped": 0}
    elsewhere = 0
    # a claim outlives the longest this run could take: every notebook at its time limit, twice (a retry)
    rounds = math.ceil(len(submissions) / max(1, workers or os.cpu_count() or 1)) + 1
    claim_seconds = 2 * limits.notebook_seconds * rounds + 60
    todo = []
    for sub in submissions:
        spec = specs.get(sub.assignment)
        if spec is None or sub.path is None:
            reason = sub.problem or f"unknown assignment {sub.assignment!r}: no chapters/{sub.assignment}/{course.EXERCISE}"
            result = _unreadable(sub, spec, reason)
            store.record(result, spec)
            summary["flagged"] += 1
            continue
        if not store.claim(sub.student, sub.assignment, spec.notebook, owner, claim_seconds):
            elsewhere += 1
            continue
        data = sub.path.read_bytes()
        if not force and store.done(sub.student, sub.assignment, spec.notebook, _sha256(data)):
            summary["skipped"] += 1
            continue
        extra = {"answers": manual.submitted_answers(data, spec),
                 "lateness": lateness.lateness(sub.path, due_dates.get(sub.assignment, due), penalty_per_day)}
        try:
            prepared = prepare(data, spec, sub.student, seed_key)
        except Exception as error:  # a fault of the grader's own code: no score, regraded next run
            reason = f"{type(error).__name__}: {error}"
            prepared = None
            failed = error_result(new_result(sub.student, sub.assignment, spec, _sha256(data)), reason)
            store.record({**failed, **extra}, spec)
            summary["error"] += 1
        if prepared is not None:
            prepared.result.update(extra)
            todo.append((sub, spec, prepared))

    if scheduler:
        results = distributed.grade_on_cluster(todo, scheduler, limits, sandbox)
    else:
        results = _grade_locally(todo, limits, sandbox, workers, runners)
    desc = f"grading ({elsewhere} claimed by another run)" if elsewhere else "grading"
    try:
        with tqdm(total=len(todo), unit="submission", desc=desc, disable=not progress) as bar:
            for sub, spec, result in results:
                if sub.problem and result["status"] != "error":  # a renamed notebook: graded, and a person should know
                    result["flags"].append(sub.problem)
                    result["status"] = "flagged"
                if sub.note:
                    result.setdefault("notes", []).append(sub.note)
                for gid in store.record(result, spec):
                    tqdm.write(f"{sub.student}/{sub.assignment}: the written answer {gid!r} changed since it was "
                               "graded by hand; its manual score and comment were cleared (grade it again)", file=sys.stderr)
                summary[result["status"]] += 1
                bar.update()
    finally:
        results.close()  # on Ctrl-C too: stop the workers now, not when the generator is collected
    if elsewhere:
        summary["graded by another run"] = elsewhere
    return summary


def _grade_locally(todo, limits, sandbox, workers, runners=()):
    """Yield ``(submission, spec, result)`` as each prepared job of ``todo`` finishes, on local workers
    (the ``runners`` launched already, as many as are needed, else new ones).

    Closing the generator (Ctrl-C in the caller's loop) cancels what has not started and
    kills the workers, so nothing is left running.
    """
    n_workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))
    idle = queue.SimpleQueue()
    all_workers = list(runners[:n_workers]) or [Worker(i, limits, sandbox) for i in range(n_workers)]
    for w in all_workers:
        idle.put(w)
    stopping = threading.Event()

    def grade_one(prepared):
        worker = idle.get()
        try:
            if stopping.is_set():
                return None
            return run_with_retry(prepared, worker)
        finally:
            idle.put(worker)

    executor = ThreadPoolExecutor(n_workers)
    try:
        futures = {executor.submit(grade_one, prepared): (sub, spec) for sub, spec, prepared in todo}
        for future in as_completed(futures):
            sub, spec = futures[future]
            yield sub, spec, future.result()
    finally:
        stopping.set()
        executor.shutdown(wait=False, cancel_futures=True)
        for w in all_workers:
            w.close()


def _unreadable(sub, spec, reason):
    """A flagged result for a submission that could not be graded at all."""
    data = sub.path.read_bytes() if sub.path else b""
    if spec is None:
        result = {"student": sub.student, "assignment": sub.assignment, "notebook": course.EXERCISE.removesuffix(".ipynb"),
                  "sha256": _sha256(data), "status": "flagged", "flags": [], "score": 0.0, "max_score": 0.0,
                  "seconds": 0.0, "parts": []}
    else:
        result = new_result(sub.student, sub.assignment, spec, _sha256(data))
        result["status"] = "flagged"
    result["flags"].append(reason)
    return result


def _sha256(data):
    return hashlib.sha256(data).hexdigest()
