"""Written answers graded by hand: export them for reading and scoring, import the scores.

The loop: ``manual export --out scores.csv`` writes one row per student and written part
(``student, assignment, grade_id, max_score, score, comment, answer``) and, beside it,
``scores.html``, a page that lists question by question every student's answer with the row's
key. The instructor fills in ``score`` and ``comment``; ``manual import scores.csv`` checks every
row before writing any, then stores them where nbgrader keeps manual grades
(``Grade.manual_score``, ``Comment.manual_comment``), in one commit.
"""

import csv
import html
import itertools
import math
import re
from collections import defaultdict
from pathlib import Path

from autograder import course
from autograder.grading import read_cells
from autograder.spec import load_spec

COLUMNS = ["student", "assignment", "grade_id", "max_score", "score", "comment", "answer"]
REQUIRED = ["student", "assignment", "grade_id", "score", "comment"]


class ImportRejected(ValueError):
    """A score file with bad rows; ``problems`` lists each as ``"line N: what is wrong"``."""

    def __init__(self, problems):
        super().__init__("\n".join(problems))
        self.problems = problems


def submitted_answers(data, spec):
    """``{grade_id: text}`` of every answer cell (code and written) in notebook bytes ``data``.

    Empty when the notebook cannot be read. Kept with the result: the written ones for grading
    by hand, the code for :mod:`autograder.similarity`.
    """
    wanted = set(spec.solution_ids) | {p.grade_id for p in spec.parts if p.manual}
    try:
        cells = read_cells(data)
    except ValueError:
        return {}
    return {gid: source for _, source, gid in cells if gid in wanted}


def rows(results):
    """The manual-grading rows of ``results`` (from :meth:`GradeStore.results`), as dicts of ``COLUMNS``."""
    found = []
    for r in results:
        for part in r["parts"]:
            if part["manual"]:
                found.append({"student": r["student"], "assignment": r["assignment"], "grade_id": part["grade_id"],
                              "max_score": f"{part['points']:g}",
                              "score": "" if part["score"] is None else f"{part['score']:g}",
                              "comment": part.get("comment") or "",
                              "answer": r.get("answers", {}).get(part["grade_id"], "")})
    return sorted(found, key=lambda row: (row["assignment"], row["grade_id"], row["student"]))


def write_csv(found, path):
    """Write manual-grading ``found`` rows to the CSV file at ``path``."""
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, COLUMNS)
        writer.writeheader()
        writer.writerows(found)


def review_page(found, *, blind=False, chapters=course.CHAPTERS):
    """An HTML page listing, question by question, every answer in ``found`` with its row key.

    Markdown is rendered (raw HTML in an answer is shown as text) and math is left as TeX. The
    key is the row's number in the CSV file (1 is the first row under the header) and, unless
    ``blind``, the student's name.
    """
    from markdown_it import MarkdownIt

    from autograder.feedback import STYLE, part_titles

    render = MarkdownIt("commonmark", {"html": False}).render
    e = html.escape
    by_question = defaultdict(list)
    for number, row in enumerate(found, start=1):
        by_question[(row["assignment"], row["grade_id"])].append((number, row))
    sections = []
    for (assignment, gid), answers in by_question.items():
        titles = part_titles(assignment, chapters)
        items = []
        for number, row in answers:
            key = f"row {number}" if blind else f"row {number}: {row['student']} · {assignment} · {gid}"
            answer = _render_keeping_math(row["answer"], render) if row["answer"].strip() else "<p><em>no answer</em></p>"
            items.append(f"<div class='answer'><h3>{e(key)}</h3>{answer}</div>")
        sections.append(f"<h2>{e(assignment)}: {e(titles.get(gid, gid))} ({answers[0][1]['max_score']} points)</h2>"
                        + "".join(items))
    body = ("<h1>Written answers to grade</h1><p>Enter each score (0 to the part's points) and a comment in the "
            "CSV file's row with the same number, then run <code>python -m autograder manual import</code>.</p>"
            + "".join(sections))
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Written answers</title>"
            f"<style>{STYLE}.answer{{border-top:1px solid #ccc;padding:.5rem 0}}</style></head><body>{body}</body></html>\n")


_MATH = re.compile(r"\$\$.+?\$\$|\$[^$\n]+?\$", re.S)


def _render_keeping_math(text, render):
    """Markdown ``text`` as HTML, with ``$...$`` and ``$$...$$`` left as TeX (escaped, untouched by Markdown)."""
    spans = []

    def hide(match):
        spans.append(match.group(0))
        return f"MATHSPAN{len(spans) - 1}END"

    rendered = render(_MATH.sub(hide, text))
    return re.sub(r"MATHSPAN(\d+)END", lambda m: html.escape(spans[int(m.group(1))]), rendered)


def read_scores(path, results):
    """Validate the score file at ``path`` against ``results``; return rows for :meth:`GradeStore.set_manual_grades`.

    Every row is checked before any is returned: the student's submission and the written part
    must exist, the score must be empty (not graded) or a number from 0 to the part's points,
    and no (student, assignment, grade_id) may appear twice. Raises :class:`ImportRejected`
    listing every bad row by its number and the line of the file where it starts.
    """
    parts = {(r["student"], r["assignment"], p["grade_id"]): (r["notebook"], p["points"])
             for r in results for p in r["parts"] if p["manual"]}
    students = {r["student"] for r in results}
    problems, accepted, seen = [], [], {}
    with open(path, newline="", encoding="utf-8-sig") as stream:
        reader = csv.DictReader(stream)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise ImportRejected([f"line 1: missing column(s) {', '.join(missing)}; expected at least "
                                  f"{', '.join(REQUIRED)} (as `manual export` writes them)"])
        for number in itertools.count(1):
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as error:
                raise ImportRejected(problems + [f"row {number} (line {line}): unreadable CSV ({error})"]) from None
            key = tuple((row.get(c) or "").strip() for c in ("student", "assignment", "grade_id"))
            problem = _check_row(key, (row.get("score") or "").strip(), parts, students)
            if key in seen:
                twice = f"{'/'.join(key)} appears twice (first in row {seen[key]})"
                problem = f"{problem}; {twice}" if problem else twice
            seen.setdefault(key, number)
            if problem:
                problems.append(f"row {number} (line {line}): {problem}")
                continue
            score = (row.get("score") or "").strip()
            accepted.append((key[0], key[1], parts[key][0], key[2], float(score) if score else None,
                             (row.get("comment") or "").strip()))
    if problems:
        raise ImportRejected(problems)
    return accepted


def _check_row(key, score, parts, students):
    """What is wrong with one row, or ``""``."""
    student, assignment, gid = key
    if student not in students:
        return f"unknown student {student!r}: no graded submission of theirs is in the gradebook"
    if key not in parts:
        return f"{student!r} has no written part {gid!r} in assignment {assignment!r}"
    if not score:
        return ""
    try:
        value = float(score)
    except ValueError:
        return f"score {score!r} is not a number"
    points = parts[key][1]
    if not math.isfinite(value) or not 0 <= value <= points:
        return f"score {score} is outside 0 to {points:g}, the points of {gid!r}"
    return ""
