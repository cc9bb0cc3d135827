"""Grading under load: a class of every exercise present, graded several times in parallel.

Each run uses a fresh gradebook and two workers, the setting in which races between worker
threads showed (submissions flagged with 0 points for a fault of the grader). Every run must
give every submission exactly its expected status and scores, part by part (see
``corpus/classroom.py`` for where each expectation comes from).
"""

import sys
from pathlib import Path

import pytest

from autograder import batch, course
from autograder.gradebook import GradeStore, sqlite_url
from autograder.worker import Limits

from conftest import write_submission

sys.path.insert(0, str(Path(__file__).parent / "corpus"))
import classroom  # noqa: E402

RUNS = 2
PER_ASSIGNMENT = 20  # with chapter 1's 11 quick hostile entries: 111 submissions for the five exercises
LIMITS = Limits(cell_seconds=20, notebook_seconds=120, memory_bytes=2**30, tmp_bytes=64 * 2**20)


@pytest.fixture(scope="module")
def class_dir(released, tmp_path_factory):
    exercises, context = classroom.exercises_and_context(released)
    submissions = classroom.build_class(exercises, PER_ASSIGNMENT, context)
    root = tmp_path_factory.mktemp("class")
    for sub in submissions:
        write_submission(root / "submitted", sub.student, sub.assignment, sub.data)
    return root, submissions


def test_the_class_is_big_and_varied(class_dir):
    _, submissions = class_dir
    kinds = {s.student.split("-", 1)[1] for s in submissions if not s.student.startswith("hostile")}
    assert kinds == set(classroom.KINDS)
    assert len({s.assignment for s in submissions}) == len(course.assignments())
    assert len(submissions) >= min(100, PER_ASSIGNMENT * len(course.assignments()) + len(classroom.HOSTILE))


@pytest.mark.parametrize("run", range(RUNS))
def test_every_run_grades_every_submission_right(class_dir, tmp_path, run):
    root, submissions = class_dir
    with GradeStore(sqlite_url(tmp_path / "gradebook.db")) as store:
        summary = batch.grade_all(root / "submitted", store, workers=2, limits=LIMITS, progress=False)
        results = {(r["student"], r["assignment"]): r for r in store.results()}
    assert summary["error"] == 0, summary
    wrong = []
    for sub in submissions:
        r = results[(sub.student, sub.assignment)]
        got = (r["status"], r["score"], tuple((p["grade_id"], p["score"]) for p in r["parts"] if not p["manual"]))
        want = (sub.status, sub.score, sub.part_scores or got[2])
        if got != want:
            wrong.append(f"{sub.assignment}/{sub.student}: got {got}, want {want}; flags {r['flags']}")
    assert not wrong, f"{len(wrong)} of {len(submissions)} graded wrong:\n" + "\n".join(wrong)
