"""Grades into Canvas's and Moodle's gradebooks (``autograder/lms.py``).

``data/canvas_gradebook.csv`` is laid out as Canvas's own exporter writes it
(``lib/gradebook_exporter.rb`` in instructure/canvas-lms): the header (``Student``, ``ID``, ``SIS User
ID``, ``SIS Login ID``, ``Section``, one ``Title (id)`` column per assignment, read-only totals), the
``Manual Posting`` row of an assignment posted by hand, the ``    Points Possible`` row, then the
students, Canvas's test student last. The results are written by hand here, so each expected cell
is known without the code under test.
"""

import csv
import io
from pathlib import Path

import pytest

from autograder import lms

CANVAS = (Path(__file__).parent / "data" / "canvas_gradebook.csv").read_text(encoding="utf-8")
COLUMN = "01-transformers (4102)"


def result(student, score, status="graded", assignment="01-transformers", max_score=32.0, manual_pending=False):
    parts = [{"grade_id": "test_softmax", "score": score, "manual": False},
             {"grade_id": "written", "score": None if manual_pending else 0.0, "manual": True}]
    return {"student": student, "assignment": assignment, "score": score, "max_score": max_score,
            "status": status, "parts": parts, "flags": []}


def rows(text):
    return list(csv.reader(io.StringIO(text)))


def column(text, name=COLUMN):
    table = rows(text)
    c = table[0].index(name)
    return {row[0]: row[c] for row in table[3:]}


ROSTER = {"s-ada": "ada@uni.example", "s-alan": "ALT-7", "s-eq": "50003"}  # SIS login, SIS user id, Canvas id


def test_canvas_fills_only_the_graded_cells_and_keeps_every_other_byte():
    results = [result("s-ada", 30.5), result("s-alan", 0.0), result("s-eq", 31.0)]
    out, report = lms.fill_canvas(CANVAS, results, roster=ROSTER)
    assert column(out) == {"Lovelace, Ada": "30.5", "Turing, Alan": "0", '="=cmd"': "31",
                           "Hopper, Grace": "", "Student, Test": ""}
    before, after = CANVAS.splitlines(keepends=True), out.splitlines(keepends=True)
    assert len(before) == len(after) == 8
    assert before[:3] == after[:3]  # both header rows and the Manual Posting row, byte for byte
    assert before[6:] == after[6:]  # Grace (no submission) and the test student untouched
    assert after[3] == before[3].replace("9.50,,28.00", "9.50,30.5,28.00")  # a filled row differs in one cell
    assert after[4] == before[4].replace(",12.00,", ",0,")
    assert after[5] == before[5].replace("7.00,,,", "7.00,31,,")
    assert report.filled == {"01-transformers": 3} and report.no_submission == {"01-transformers": 2}
    assert report.not_in_gradebook == [] and report.not_graded == []


def test_canvas_keeps_a_byte_order_mark_crlf_and_a_file_without_a_final_newline():
    crlf = "\ufeff" + CANVAS.replace("\n", "\r\n").rstrip("\r\n")
    out, _ = lms.fill_canvas(crlf, [result("s-ada", 12.0)], roster=ROSTER)
    assert out.startswith("\ufeffStudent,") and out.count("\r\n") == crlf.count("\r\n") and not out.endswith("\n")
    assert out.replace("9.50,12,28.00", "9.50,,28.00") == crlf


def test_canvas_reimport_is_idempotent():
    results = [result("s-ada", 30.5), result("s-eq", 31.0)]
    once, _ = lms.fill_canvas(CANVAS, results, roster=ROSTER)
    twice, _ = lms.fill_canvas(once, results, roster=ROSTER)
    assert once == twice


def test_canvas_lists_students_it_cannot_place_and_results_it_may_not_publish():
    results = [result("s-ada", 30.5, manual_pending=True), result("s-zed", 20.0),
               {**result("s-alan", 0.0), "status": "error"}]
    out, report = lms.fill_canvas(CANVAS, results, roster=ROSTER)
    assert column(out) == column(CANVAS)  # nothing publishable: every cell as it was
    assert report.not_in_gradebook == [("s-zed", "01-transformers")]
    assert [(s, "written answers" in why or "status error" in why) for s, _, why in report.not_graded] == [
        ("s-ada", True), ("s-alan", True)]
    assert any("s-zed" in line and "--roster" in line for line in report.lines())
    partial, _ = lms.fill_canvas(CANVAS, results, roster=ROSTER, partial=True)
    assert column(partial)["Lovelace, Ada"] == "30.5"


def test_canvas_matches_folder_names_to_ids_without_a_roster():
    out, report = lms.fill_canvas(CANVAS, [result("grace@uni.example", 8.25), result("GH-3", 1.0)])
    assert column(out)["Hopper, Grace"] == "8.25"  # both name Grace: the first is kept, the second listed
    assert report.filled == {"01-transformers": 1}
    assert [(s, "grace@uni.example's submission names the same gradebook row" in why)
            for s, _, why in report.not_graded] == [("GH-3", True)]


def test_canvas_column_by_title_name_or_option():
    out, _ = lms.fill_canvas(CANVAS, [result("s-ada", 25.0, assignment="02-in-context-learning", max_score=30.0)],
                             roster=ROSTER, columns={"02-in-context-learning": "Exercise 2, in-context learning"})
    assert column(out, "Exercise 2, in-context learning (4103)")["Lovelace, Ada"] == "25"
    with pytest.raises(lms.GradebookError, match=r"no column for '02-in-context-learning'.*--column.*Reading quiz 1 \(4101\)"):
        lms.fill_canvas(CANVAS, [result("s-ada", 25.0, assignment="02-in-context-learning")], roster=ROSTER)


def test_canvas_points_possible_must_agree_or_be_rescaled():
    results = [result("s-ada", 16.0, max_score=40.0)]
    with pytest.raises(lms.GradebookError, match="worth 32 points in Canvas but 40 here.*--rescale"):
        lms.fill_canvas(CANVAS, results, roster=ROSTER)
    out, _ = lms.fill_canvas(CANVAS, results, roster=ROSTER, rescale=True)
    assert column(out)["Lovelace, Ada"] == "12.8"  # 16 / 40 of Canvas's 32 points


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("Name,Score\nann,3\n", "not a Canvas gradebook export: no Student or ID column"),
    ("Student,ID,X (1)\nann,1\n", "row 2 .* 2 cells, its header 3"),
    ('Student,ID\nan"n,1\n', "line 2: not a CSV file"),
    ("Student,ID,SIS Login ID\na,1,x\nb,2,x\n", "'x' names two rows"),
])
def test_canvas_refuses_what_it_cannot_read(text, message):
    with pytest.raises(lms.GradebookError, match=message):
        lms.fill_canvas(text, [result("s-ada", 1.0)])


def test_moodle_writes_one_identifier_column_and_one_column_per_assignment():
    results = [result("s-ada", 30.5), result("s-ada", 12.0, assignment="02-in-context-learning", max_score=30.0),
               result("s-zed", 3.0), result("s-alan", 20.0, manual_pending=True)]
    roster = {"s-ada": "ada", "s-alan": "alan", "s-bob": "bob"}
    text, report = lms.moodle_text(results, roster=roster, identifier="Username")
    assert rows(text) == [["Username", "01-transformers", "02-in-context-learning"],
                          ["ada", "30.5", "12"], ["alan", "", ""], ["bob", "", ""]]
    assert report.not_in_gradebook == [("s-zed", "01-transformers")]
    assert [s for s, _, _ in report.not_graded] == ["s-alan"]
    assert report.filled == {"01-transformers": 1, "02-in-context-learning": 1}


def test_moodle_without_a_roster_names_students_by_folder():
    text, _ = lms.moodle_text([result("s-ada", 30.0), result("s-ben", 0.0)], identifier="Email address",
                              columns={"01-transformers": "Exercise 1"})
    assert rows(text) == [["Email address", "Exercise 1"], ["s-ada", "30"], ["s-ben", "0"]]
    with pytest.raises(lms.GradebookError, match="one of Username, ID number, Email address"):
        lms.moodle_text([], identifier="Student")


@pytest.mark.parametrize("content, message", [
    ("folder,id\na,b\n", "student,lms_id"),
    ("student,lms_id\na,\n", "line 2: both"),
    ("student,lms_id\na,x\na,y\n", "line 3: a is mapped twice"),
])
def test_roster_errors_name_the_line(tmp_path, content, message):
    path = tmp_path / "roster.csv"
    path.write_text(content)
    with pytest.raises(lms.GradebookError, match=message):
        lms.read_roster(path)


def test_format_score():
    assert [lms.format_score(x) for x in (0.0, -0.0, 3.0, 2.5, 1 / 3, 1234567.0, 0.005)] == [
        "0", "0", "3", "2.5", "0.33", "1234567", "0.01"]
