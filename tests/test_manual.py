"""The instructor's loop through the CLI: grade, export the written answers, score them, import, export.

A small class of chapter 1 is graded once (module fixture). The written part's points come from
the source notebook, the autograded points of the reference answers too, so every expected
total below is known without the grader's help.
"""

import csv
import json
import sqlite3
import subprocess
import sys

import pytest

from autograder import course
from autograder.spec import load_spec

from conftest import answered, load, solution_ids, write_submission

ASSIGNMENT = "01-transformers"
SPEC = load_spec(course.source_notebook(ASSIGNMENT))
WRITTEN = next(p for p in SPEC.parts if p.manual)
AUTO_POINTS = sum(p.points for p in SPEC.parts if not p.manual)
HOSTILE_ANSWER = "An **encoder** for (a) <script>alert(1)</script>, since $a_i * b_i$ sums over *all* tokens."


def cli(*args, cwd, expect=0):
    result = subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd, capture_output=True, text=True)
    assert result.returncode == expect, f"autograder {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def set_written_answer(nb, text):
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == WRITTEN.grade_id:
            cell["source"] = text
    return nb


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def dump(db_path):
    with sqlite3.connect(db_path) as db:
        return "\n".join(db.iterdump())


@pytest.fixture(scope="module")
def graded(tmp_path_factory, released):
    """Three students graded into a fresh gradebook: all answers (one hostile written answer), two parts, none."""
    root = tmp_path_factory.mktemp("manual")
    release_nb = load(released / ASSIGNMENT / course.EXERCISE)
    source_nb = load(course.source_notebook(ASSIGNMENT))
    answers = solution_ids(source_nb)
    write_submission(root / "submitted", "s-ann", ASSIGNMENT, answered(release_nb, source_nb, answers))
    write_submission(root / "submitted", "s-ben", ASSIGNMENT,
                     set_written_answer(answered(release_nb, source_nb, answers[:2]), HOSTILE_ANSWER))
    write_submission(root / "submitted", "s-cat", ASSIGNMENT, release_nb)
    db = f"sqlite:///{root / 'gb.db'}"
    cli("grade", "submitted", "--db", db, "--workers", "2", cwd=root)
    return root, db


def test_manual_export_lists_every_written_answer(graded):
    root, db = graded
    cli("manual", "export", "--db", db, "--out", "written.csv", cwd=root)
    rows = read_csv(root / "written.csv")
    assert list(rows[0]) == ["student", "assignment", "grade_id", "max_score", "score", "comment", "answer"]
    assert [(r["student"], r["grade_id"], r["max_score"], r["score"]) for r in rows] == [
        (s, WRITTEN.grade_id, f"{WRITTEN.points:g}", "") for s in ("s-ann", "s-ben", "s-cat")]
    assert next(r for r in rows if r["student"] == "s-ben")["answer"] == HOSTILE_ANSWER

    page = (root / "written.html").read_text()
    assert "<strong>encoder</strong>" in page  # Markdown rendered
    assert "$a_i * b_i$" in page  # math left as TeX, not turned into emphasis
    assert "<script>" not in page and "&lt;script&gt;" in page  # a student's HTML is shown, never run
    assert "s-ann" in page and "Part 8" in page  # the question's heading from the notebook

    cli("manual", "export", "--db", db, "--out", "blind.csv", "--blind", cwd=root)
    blind = (root / "blind.html").read_text()
    assert not any(name in blind for name in ("s-ann", "s-ben", "s-cat")) and "row 2" in blind


def test_the_whole_loop(graded, tmp_path):
    root, db = graded
    db_copy = tmp_path / "gb.db"  # the loop changes the gradebook: keep the module's intact
    db_copy.write_bytes((root / "gb.db").read_bytes())
    db = f"sqlite:///{db_copy}"
    cli("manual", "export", "--db", db, "--out", str(tmp_path / "written.csv"), cwd=root)
    rows = read_csv(tmp_path / "written.csv")
    scores = {"s-ann": "3", "s-ben": "1.5"}  # s-cat is not graded yet
    for row in rows:
        row["score"] = scores.get(row["student"], "")
        row["comment"] = "clear; name the mask" if row["student"] == "s-ann" else ""
    write_csv(tmp_path / "written.csv", rows)
    cli("manual", "import", str(tmp_path / "written.csv"), "--db", db, cwd=root)

    cli("export", "--db", db, "--parts", "--out", str(tmp_path / "grades.csv"), cwd=root)
    grades = {r["student"]: r for r in read_csv(tmp_path / "grades.csv")}
    ann_auto = AUTO_POINTS  # every answer right
    ben_auto = sum(p.points for p in SPEC.parts[:2])  # the first two parts right
    assert float(grades["s-ann"]["score"]) == ann_auto + 3
    assert float(grades["s-ben"]["score"]) == ben_auto + 1.5
    assert float(grades["s-cat"]["score"]) == 0
    assert [grades[s]["needs_manual_grading"] for s in ("s-ann", "s-ben", "s-cat")] == ["no", "no", "yes"]
    # one column per part, the points earned; the written part's column holds the manual score
    assert [float(grades["s-ann"][p.grade_id]) for p in SPEC.parts] == [p.points if not p.manual else 3 for p in SPEC.parts]
    assert grades["s-cat"][WRITTEN.grade_id] == ""

    # nbgrader's own API sees the same scores and comment
    from nbgrader.api import Gradebook

    gb = Gradebook(db, course_id="llm-course")
    try:
        assert gb.find_grade(WRITTEN.grade_id, "exercise", ASSIGNMENT, "s-ann").manual_score == 3
        assert gb.find_comment(WRITTEN.grade_id, "exercise", ASSIGNMENT, "s-ann").manual_comment == "clear; name the mask"
        assert gb.find_grade(WRITTEN.grade_id, "exercise", ASSIGNMENT, "s-cat").needs_manual_grade
    finally:
        gb.close()

    cli("feedback", "--db", db, "--out", str(tmp_path / "feedback"), cwd=root)
    page = (tmp_path / "feedback" / "s-ann" / f"{ASSIGNMENT}.html").read_text()
    assert "clear; name the mask" in page
    assert "Part 1: a numerically stable softmax" in page and ">test_softmax<" not in page
    assert f"Score: {ann_auto + 3:g} / {SPEC.max_score:g}" in page
    assert "not graded yet" in (tmp_path / "feedback" / "s-cat" / f"{ASSIGNMENT}.html").read_text()


def test_bad_import_names_every_bad_row_and_writes_nothing(graded, tmp_path):
    root, db = graded
    cli("manual", "export", "--db", db, "--out", str(tmp_path / "written.csv"), cwd=root)
    rows = read_csv(tmp_path / "written.csv")
    good = dict(rows[0], score="2")
    bad = [good,
           dict(rows[1], score="1"),
           dict(rows[2], score=f"{WRITTEN.points + 1:g}"),  # above the part's points
           dict(rows[0], score="1"),  # s-ann twice
           dict(rows[1], student="mallory", score="1"),  # nobody of that name
           dict(rows[2], score="three")]  # text where a number should be
    write_csv(tmp_path / "bad.csv", bad)
    before = dump(root / "gb.db")
    result = cli("manual", "import", str(tmp_path / "bad.csv"), "--db", db, cwd=root, expect=2)
    assert dump(root / "gb.db") == before
    problems = [line for line in result.stderr.splitlines() if ": row " in line]
    assert [line.split(": row ")[1].split(" ")[0] for line in problems] == ["3", "4", "5", "6"]
    assert "outside 0 to 3" in problems[0] and "twice" in problems[1]
    assert "mallory" in problems[2] and "not a number" in problems[3]
    assert "nothing was written" in result.stderr


def test_regrading_keeps_scores_of_unchanged_answers_only(graded, released, tmp_path):
    root, _ = graded
    db_copy = tmp_path / "gb.db"
    db_copy.write_bytes((root / "gb.db").read_bytes())
    db = f"sqlite:///{db_copy}"
    cli("manual", "export", "--db", db, "--out", str(tmp_path / "written.csv"), cwd=root)
    rows = [dict(r, score="2", comment="ok") for r in read_csv(tmp_path / "written.csv")]
    write_csv(tmp_path / "written.csv", rows)
    cli("manual", "import", str(tmp_path / "written.csv"), "--db", db, cwd=root)

    submitted = tmp_path / "submitted"
    for student in ("s-ann", "s-ben"):
        nb = json.loads((root / "submitted" / student / ASSIGNMENT / course.EXERCISE).read_text())
        if student == "s-ben":
            set_written_answer(nb, "A different answer, written after the scores were entered.")
        write_submission(submitted, student, ASSIGNMENT, nb)
    result = cli("grade", str(submitted), "--db", db, "--force", "--workers", "2", cwd=root)
    assert f"s-ben/{ASSIGNMENT}: the written answer {WRITTEN.grade_id!r} changed" in result.stderr
    assert "s-ann/" not in result.stderr

    cli("manual", "export", "--db", db, "--out", str(tmp_path / "after.csv"), cwd=root)
    after = {r["student"]: r for r in read_csv(tmp_path / "after.csv")}
    assert (after["s-ann"]["score"], after["s-ann"]["comment"]) == ("2", "ok")
    assert (after["s-ben"]["score"], after["s-ben"]["comment"]) == ("", "")


def test_canvas_and_moodle_exports_from_the_gradebook(graded, tmp_path):
    """The LMS path end to end: written answers scored for two students, then Canvas's export filled
    in place and Moodle's import file written (lms.py's own tests cover the formats in detail)."""
    root, db = graded
    db_copy = tmp_path / "gb.db"
    db_copy.write_bytes((root / "gb.db").read_bytes())
    db = f"sqlite:///{db_copy}"
    cli("manual", "export", "--db", db, "--out", str(tmp_path / "written.csv"), cwd=root)
    rows = [dict(r, score={"s-ann": "3", "s-ben": "1.5"}.get(r["student"], "")) for r in read_csv(tmp_path / "written.csv")]
    write_csv(tmp_path / "written.csv", rows)
    cli("manual", "import", str(tmp_path / "written.csv"), "--db", db, cwd=root)
    ann, ben = AUTO_POINTS + 3, sum(p.points for p in SPEC.parts[:2]) + 1.5

    header = f"Student,ID,SIS User ID,SIS Login ID,Section,Quiz (7),{ASSIGNMENT} (8),Current Score\r\n"
    points = f"    Points Possible,,,,,5.00,{SPEC.max_score:.2f},(read only)\r\n"
    people = ('"Ng, Ann",101,A-1,ann@uni.example,S1,4.00,,80.00\r\n'
              '"Bo, Ben",102,B-2,ben@uni.example,S1,,,10.00\r\n'
              '"Cy, Cat",103,C-3,cat@uni.example,S1,5.00,,90.00\r\n'
              '"Do, Dan",104,D-4,dan@uni.example,S1,3.00,,60.00\r\n')
    (tmp_path / "canvas.csv").write_bytes((header + points + people).encode())
    (tmp_path / "roster.csv").write_text("student,lms_id\ns-ann,ann@uni.example\ns-ben,B-2\ns-cat,103\n")
    result = cli("export", "--db", db, "--canvas", str(tmp_path / "canvas.csv"), "--roster", str(tmp_path / "roster.csv"),
                 "--out", str(tmp_path / "canvas-import.csv"), cwd=root)
    assert (tmp_path / "canvas-import.csv").read_bytes().decode() == header + points + (
        f'"Ng, Ann",101,A-1,ann@uni.example,S1,4.00,{ann:g},80.00\r\n'
        f'"Bo, Ben",102,B-2,ben@uni.example,S1,,{ben:g},10.00\r\n'
        '"Cy, Cat",103,C-3,cat@uni.example,S1,5.00,,90.00\r\n'  # written answer not graded yet: left out
        '"Do, Dan",104,D-4,dan@uni.example,S1,3.00,,60.00\r\n')  # no submission: left empty
    assert f"{ASSIGNMENT}: 2 students filled, 2 without a submission left empty" in result.stderr
    assert f"left out: s-cat ({ASSIGNMENT}): written answers not graded yet" in result.stderr

    missing = cli("export", "--db", db, "--canvas", str(tmp_path / "nothing.csv"), "--out", "x.csv", cwd=root, expect=2)
    assert "no file" in missing.stderr and "Grades > Export" in missing.stderr

    cli("export", "--db", db, "--moodle", "--partial", "--moodle-identifier", "Email address",
        "--out", str(tmp_path / "moodle.csv"), cwd=root)
    assert read_csv(tmp_path / "moodle.csv") == [
        {"Email address": "s-ann", ASSIGNMENT: f"{ann:g}"}, {"Email address": "s-ben", ASSIGNMENT: f"{ben:g}"},
        {"Email address": "s-cat", ASSIGNMENT: "0"}]
