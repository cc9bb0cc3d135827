"""Submission times, minutes late and the optional penalty, down to the export."""

import io
import os
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from autograder import course
from autograder.export import write_csv
from autograder.feedback import student_report
from autograder.gradebook import GradeStore, sqlite_url
from autograder.grading import new_result
from autograder.lateness import lateness, parse_due, read_due_dates, submitted_at
from autograder.spec import load_spec

ASSIGNMENT = "01-transformers"


@pytest.mark.parametrize("text, utc", [
    ("2026-12-01 23:59 Europe/Berlin", datetime(2026, 12, 1, 22, 59, tzinfo=timezone.utc)),  # CET is UTC+1 in December
    ("2026-07-01 12:00 Europe/Berlin", datetime(2026, 7, 1, 10, 0, tzinfo=timezone.utc)),  # CEST, UTC+2
    ("2026-12-01T23:59-05:00", datetime(2026, 12, 2, 4, 59, tzinfo=timezone.utc)),
    ("2026-12-01 08:00 UTC", datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)),
])
def test_due_dates_with_their_zone(text, utc):
    assert parse_due(text) == utc


@pytest.mark.parametrize("text, says", [("2026-12-01 23:59", "no time zone"), ("2026-12-01 23:59 Mars/Olympus", "Europe/Berlin"),
                                        ("next tuesday-ish", "Europe/Berlin")])
def test_a_due_date_that_cannot_be_read_says_how_to_write_it(text, says):
    with pytest.raises(ValueError, match=says):
        parse_due(text)


def test_nbgrader_timestamp_wins_over_the_file_time(tmp_path):
    notebook = tmp_path / "exercise.ipynb"
    notebook.write_text("{}")
    os.utime(notebook, (0, 1_700_000_000))  # 2023-11-14 22:13:20 UTC
    assert submitted_at(notebook) == (datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc), "file modification time")
    (tmp_path / "timestamp.txt").write_text("2026-12-02 00:29:00.123456 UTC\n")  # as nbgrader collect writes it
    when, source = submitted_at(notebook)
    assert source == "timestamp.txt" and when == datetime(2026, 12, 2, 0, 29, 0, 123456, tzinfo=timezone.utc)
    (tmp_path / "timestamp.txt").write_text("not a time")
    assert submitted_at(notebook)[1] == "file modification time (timestamp.txt unreadable)"


def test_minutes_late_and_penalty_per_started_day(tmp_path):
    notebook = tmp_path / "exercise.ipynb"
    notebook.write_text("{}")
    (tmp_path / "timestamp.txt").write_text("2026-12-02 00:29:00 UTC")
    due = parse_due("2026-12-01 23:59 Europe/Berlin")  # 22:59 UTC: 90 minutes before the timestamp
    assert lateness(notebook, due)["late_minutes"] == 90 and lateness(notebook, due)["penalty"] == 0
    assert lateness(notebook, due, penalty_per_day=2)["penalty"] == 2  # 90 minutes: one started day
    (tmp_path / "timestamp.txt").write_text("2026-12-03 23:00 UTC")  # 2 days and 1 minute late
    assert lateness(notebook, due, penalty_per_day=2)["penalty"] == 6
    early = parse_due("2026-12-04 00:00 UTC")
    assert lateness(notebook, early, penalty_per_day=2) | {"submitted_at": None} == {
        "submitted_at": None, "source": "timestamp.txt", "late_minutes": 0, "penalty": 0}
    assert lateness(notebook)["late_minutes"] is None  # no due date, nothing to say


def test_export_shows_minutes_late_and_takes_off_the_penalty(tmp_path):
    spec = load_spec(course.source_notebook(ASSIGNMENT))
    auto = [p for p in spec.parts if not p.manual]
    results = []
    for student, late, penalty in (("ann", 0.0, 0.0), ("ben", 90.0, 2.0), ("cat", 3000.0, 100.0)):
        result = new_result(student, ASSIGNMENT, spec, "0" * 64)
        for part in result["parts"]:
            if not part["manual"]:
                part["score"] = part["points"]
        result["score"] = sum(p.points for p in auto)
        result["lateness"] = {"submitted_at": "", "source": "timestamp.txt", "late_minutes": late, "penalty": penalty}
        results.append(result)
    with GradeStore(sqlite_url(tmp_path / "gb.db")) as store:
        store.sync_assignment(spec)
        for result in results:
            store.record(result, spec)
        stream = io.StringIO()
        stored = store.results()
        write_csv(stored, stream)
    assert "submitted 90 minutes after the due date (timestamp.txt)" in student_report(stored[1])
    rows = {line.split(",")[0]: line.split(",") for line in stream.getvalue().splitlines()[1:]}
    full = sum(p.points for p in auto)
    assert [float(rows[s][2]) for s in ("ann", "ben", "cat")] == [full, full - 2, 0]  # never below 0
    assert [rows[s][6] for s in ("ann", "ben", "cat")] == ["0", "90", "3000"]


def test_grade_refuses_a_due_date_without_a_zone(tmp_path):
    (tmp_path / "submitted").mkdir()
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", "submitted", "--no-sandbox",
                             "--due", "2026-12-01 23:59", "--db", sqlite_url(tmp_path / "gb.db")],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2 and "no time zone" in result.stderr
    assert not (tmp_path / "gb.db").exists()


def test_due_dates_per_assignment_from_a_course_file(tmp_path):
    path = tmp_path / "due.csv"
    path.write_text("assignment,due\n01-transformers,2026-12-01 23:59 Europe/Berlin\n02-icl,2026-12-08T12:00+00:00\n")
    assert read_due_dates(path) == {"01-transformers": datetime(2026, 12, 1, 22, 59, tzinfo=timezone.utc),
                                    "02-icl": datetime(2026, 12, 8, 12, 0, tzinfo=timezone.utc)}
    path.write_text("assignment,due\n01-transformers,2026-12-01 23:59 Europe/Berlin\n02-icl,2026-12-08 12:00\n")
    with pytest.raises(ValueError, match="row 2: .*no time zone"):
        read_due_dates(path)
    path.write_text("assignment,due\n01-transformers,2026-12-01 23:59 UTC\n01-transformers,2026-12-02 23:59 UTC\n")
    with pytest.raises(ValueError, match="row 2: 01-transformers appears twice"):
        read_due_dates(path)
    path.write_text("name,date\n01-transformers,2026-12-01 23:59 UTC\n")
    with pytest.raises(ValueError, match="expected the columns assignment,due"):
        read_due_dates(path)


def test_grade_records_minutes_late_with_the_course_file_winning_over_due(tmp_path):
    folder = tmp_path / "submitted" / "ann" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / course.EXERCISE).write_text("{}")  # flagged as malformed at once: no sandbox needed to date it
    (folder / "timestamp.txt").write_text("2026-12-02 00:29:00 UTC")
    (tmp_path / "due.csv").write_text(f"assignment,due\n{ASSIGNMENT},2026-12-01 23:59 Europe/Berlin\n")
    db = sqlite_url(tmp_path / "gb.db")
    subprocess.run([sys.executable, "-m", "autograder", "grade", "submitted", "--no-sandbox", "--db", db,
                    "--due", "2026-11-01 00:00 UTC", "--due-dates", "due.csv"], cwd=tmp_path, check=True,
                   capture_output=True)
    exported = subprocess.run([sys.executable, "-m", "autograder", "export", "--db", db], cwd=tmp_path, check=True,
                              capture_output=True, text=True).stdout.splitlines()
    assert exported[0].split(",")[6] == "late_minutes" and exported[1].split(",")[6] == "90"
