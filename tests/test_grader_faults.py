"""A fault of the grader is never charged to a student.

A fault is injected into the grader's own code (``grading.run_check``, which runs in the grader's
process) for the first submission graded: raised once, it is retried on a fresh sandbox and
graded right; raised twice, the submission ends with status "error" and no score, ``grade`` exits
non-zero, export and feedback say it is not graded, and the next run grades it without --force.
Also: an exception in the middle of a submission leaves its worker in step for the next one.
"""

import csv
import io

import pytest

from autograder import __main__ as cli, course, grading
from autograder.batch import grade_all
from autograder.export import write_csv
from autograder.feedback import student_report
from autograder.gradebook import GradeStore, sqlite_url
from autograder.spec import load_spec
from autograder.worker import Limits, Worker

from conftest import answered, load, solution_ids, write_submission

ASSIGNMENT = "01-transformers"
LIMITS = Limits(cell_seconds=20, notebook_seconds=120)


@pytest.fixture
def two_students(tmp_path, released):
    release_nb = load(released / ASSIGNMENT / course.EXERCISE)
    source_nb = load(course.source_notebook(ASSIGNMENT))
    right = answered(release_nb, source_nb, solution_ids(source_nb))
    for student in ("a", "b"):
        write_submission(tmp_path / "submitted", student, ASSIGNMENT, right)
    return tmp_path / "submitted", sqlite_url(tmp_path / "gradebook.db")


def inject_faults(monkeypatch, n_faults):
    """Make the grader's own code raise on its first ``n_faults`` hidden checks; return the call log."""
    calls = []
    real = grading.run_check

    def faulty(*args, **kwargs):
        calls.append(len(calls) < n_faults)
        if calls[-1]:
            raise RuntimeError("injected fault of the grader")
        return real(*args, **kwargs)

    monkeypatch.setattr(grading, "run_check", faulty)
    return calls


def by_student(store):
    return {r["student"]: r for r in store.results()}


def test_a_fault_once_is_retried_and_graded_right(monkeypatch, two_students):
    submitted, db = two_students
    calls = inject_faults(monkeypatch, 1)
    with GradeStore(db) as store:
        summary = grade_all(submitted, store, workers=1, limits=LIMITS, progress=False)
        results = by_student(store)
    assert calls[:2] == [True, False]  # the fault, then the retry's first check
    assert summary == {"graded": 2, "flagged": 0, "error": 0, "skipped": 0}
    assert results["a"]["grader_faults"] == ["RuntimeError: injected fault of the grader"]
    autograded = sum(p.points for p in load_spec(course.source_notebook(ASSIGNMENT)).parts if not p.manual)
    assert results["a"]["score"] == results["b"]["score"] == autograded
    assert not results["a"]["flags"]


def test_a_persistent_fault_is_an_error_then_regraded(monkeypatch, two_students, capsys):
    submitted, db = two_students
    inject_faults(monkeypatch, 2)
    assert cli.main(["grade", str(submitted), "--db", db, "--workers", "1"]) == 1
    assert "the grader failed on 1 submission" in capsys.readouterr().err
    with GradeStore(db) as store:
        results = by_student(store)
    error, fine = results["a"], results["b"]
    assert error["status"] == "error" and fine["status"] == "graded"
    assert all(p["score"] is None for p in error["parts"])
    assert len(error["grader_faults"]) == 2
    rows = {row["student"]: row for row in csv.DictReader(io.StringIO(_csv([error, fine])))}
    assert rows["a"]["status"] == "error" and rows["a"]["score"] == ""
    assert "Not graded yet" in student_report(error)

    monkeypatch.undo()  # the grader's fault is fixed
    with GradeStore(db) as store:
        summary = grade_all(submitted, store, workers=1, limits=LIMITS, progress=False)  # no force
        results = by_student(store)
    assert summary == {"graded": 1, "flagged": 0, "error": 0, "skipped": 1}
    assert results["a"]["status"] == "graded" and results["a"]["score"] == fine["score"]


def _csv(results):
    stream = io.StringIO()
    write_csv(results, stream)
    return stream.getvalue()


def test_an_exception_mid_submission_leaves_the_worker_in_step():
    worker = Worker(0, LIMITS)
    try:
        def broken(w):
            w.request({"op": "cell", "index": 0, "source": "x = 1"})
            raise RuntimeError("the grader's own bug")

        with pytest.raises(RuntimeError):
            worker.run_submission(broken)
        replies = []
        assert worker.run_submission(lambda w: replies.append(w.request({"op": "cell", "index": 0, "source": "1"}))) is None
        assert replies[0][0]["op"] == "cell_done"
    finally:
        worker.close()
