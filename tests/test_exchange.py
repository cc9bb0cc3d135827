"""nbgrader's exchange, end to end, as a JupyterHub course runs it (README, "For instructors").

The instructor releases with ``python -m autograder release`` and nbgrader's ``release_assignment``;
three students ``fetch_assignment``, answer and ``submit`` (one of them twice); the instructor
``collect``s, then grades, writes feedback and exports with the course's own commands. The exchange
is a temporary folder, and every submission's time comes from the ``timestamp.txt`` that the
exchange wrote. The expected scores come from the source notebook's points, not from the grader.
"""

import csv
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from autograder import course
from autograder.spec import load_spec

from conftest import answered, load, solution_ids

ASSIGNMENT = "01-transformers"
SPEC = load_spec(course.source_notebook(ASSIGNMENT))
AUTO = [p for p in SPEC.parts if not p.manual]


def run(*args, cwd, exchange=None, expect=0):
    """``python -m <args>`` in ``cwd`` with the venv's scripts on PATH; nbgrader commands get the exchange."""
    env = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    extra = [f"--Exchange.root={exchange}", "--course=llm-course"] if exchange else []
    result = subprocess.run([sys.executable, "-m", *args, *extra], cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == expect, f"{' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def read_stamp(path):
    """nbgrader's ``timestamp.txt``: ``2026-12-05 04:04:07.985161 UTC``."""
    text = path.read_text().strip()
    assert text.endswith(" UTC"), text
    return datetime.fromisoformat(text.removesuffix(" UTC")).replace(tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def collected(released, tmp_path_factory):
    """The course directory after release, three students' fetch and submit, and collect."""
    root = tmp_path_factory.mktemp("exchange")
    course_dir = root / "course"
    shutil.copytree(released.parent / "course", course_dir)  # the session's release, nbgrader's course folder
    exchange = root / "exchange"
    exchange.mkdir()
    run("nbgrader", "release_assignment", ASSIGNMENT, cwd=course_dir, exchange=exchange)

    source_nb = load(course.source_notebook(ASSIGNMENT))
    answers = solution_ids(source_nb)
    plans = {"s-ann": [answers[:1], answers], "s-ben": [answers[:2]], "s-cat": [[]]}  # s-ann submits twice
    for student, submissions in plans.items():
        home = root / "home" / student
        home.mkdir(parents=True)
        cache = ["--Exchange.cache=" + str(root / "cache" / student)]
        run("nbgrader", "fetch_assignment", ASSIGNMENT, *cache, cwd=home, exchange=exchange)
        fetched = home / ASSIGNMENT / course.EXERCISE
        released_nb = load(fetched)
        assert released_nb == load(released / ASSIGNMENT / course.EXERCISE)  # the check cells included
        for ids in submissions:
            fetched.write_text(json.dumps(answered(released_nb, source_nb, ids)))
            run("nbgrader", "submit", ASSIGNMENT, f"--student={student}", *cache, cwd=home, exchange=exchange)
    run("nbgrader", "collect", ASSIGNMENT, "--CollectApp.check_owner=False", cwd=course_dir, exchange=exchange)
    return course_dir


def test_collect_lays_out_every_students_latest_submission(collected):
    submitted = collected / "submitted"
    assert sorted(p.name for p in submitted.iterdir()) == ["s-ann", "s-ben", "s-cat"]
    for student in ("s-ann", "s-ben", "s-cat"):
        folder = submitted / student / ASSIGNMENT
        assert (folder / course.EXERCISE).is_file() and (folder / "timestamp.txt").is_file()
    ann = load(submitted / "s-ann" / ASSIGNMENT / course.EXERCISE)
    source_nb = load(course.source_notebook(ASSIGNMENT))
    assert ann == answered(ann, source_nb, solution_ids(source_nb))  # the second, complete submission


def test_grade_feedback_and_export_after_collect(collected, tmp_path):
    submitted = collected / "submitted"
    stamps = {s: read_stamp(submitted / s / ASSIGNMENT / "timestamp.txt") for s in ("s-ann", "s-ben", "s-cat")}
    due = min(stamps.values()) - timedelta(minutes=90)  # everyone is about 90 minutes late
    db = f"sqlite:///{tmp_path / 'gb.db'}"
    run("autograder", "grade", str(submitted), "--db", db, "--workers", "2",
        "--due", due.strftime("%Y-%m-%d %H:%M:%S UTC"), cwd=tmp_path)
    run("autograder", "feedback", "--db", db, "--out", str(tmp_path / "feedback"), cwd=tmp_path)
    run("autograder", "export", "--db", db, "--out", str(tmp_path / "grades.csv"), cwd=tmp_path)

    with open(tmp_path / "grades.csv", newline="") as stream:
        grades = {row["student"]: row for row in csv.DictReader(stream)}
    expected = {"s-ann": sum(p.points for p in AUTO), "s-ben": sum(p.points for p in SPEC.parts[:2]), "s-cat": 0}
    assert {s: float(row["score"]) for s, row in grades.items()} == expected
    for student, row in grades.items():  # the exchange's timestamp, not the file's time, dates each one
        assert float(row["late_minutes"]) == pytest.approx((stamps[student] - due).total_seconds() / 60, abs=0.1)
    for student in expected:
        page = (tmp_path / "feedback" / student / f"{ASSIGNMENT}.html").read_text()
        assert "timestamp.txt" in page
