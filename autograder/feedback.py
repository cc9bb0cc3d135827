"""Instructor outputs: one HTML report per student and assignment, and a class summary.

Reports title each part with its heading in the exercise notebook and show its points, whether
its visible and hidden checks passed and why not, a written answer's hand-graded score and
comment, and how late the submission came in; hidden checks appear by name, description and
outcome, never by source or inputs, and a report names no other student. Pages are single
files with inline styles and images: they open offline and can be mailed as they are.
"""

import base64
import functools
import html
import io
from collections import defaultdict
from pathlib import Path

from autograder import course, similarity
from autograder.spec import grade_id, is_grade, load_spec

STYLE = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%;margin:1rem 0}td,th{border:1px solid #ccc;padding:.4rem;text-align:left;vertical-align:top}
.pass{color:#176b1c}.fail{color:#a11}.flag{background:#fff4d6;padding:.5rem 1rem;border-left:4px solid #e0a800}
code,pre{font-family:ui-monospace,monospace;font-size:.9em;white-space:pre-wrap}"""


def _page(title, body):
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>\n")


def _mark(ok):
    if ok is None:
        return "<span>not run</span>"
    return "<span class='pass'>passed</span>" if ok else "<span class='fail'>failed</span>"


@functools.lru_cache(maxsize=None)
def part_titles(assignment, chapters=course.CHAPTERS):
    """``{grade_id: title}``: each graded cell's nearest heading above it in the exercise notebook.

    Empty when the assignment's notebook is gone (pages then name parts by grade id).
    """
    path = Path(chapters) / assignment / course.EXERCISE
    if not path.is_file():
        return {}
    titles, heading = {}, None
    for cell in load_spec(path, assignment).cells:
        if cell.cell_type == "markdown" and not is_grade(cell):
            lines = [line for line in cell.source.splitlines() if line.startswith("#")]
            heading = lines[-1].lstrip("#").strip() if lines else heading
        if is_grade(cell) and heading:
            titles[grade_id(cell)] = heading
    return titles


def student_report(result, chapters=course.CHAPTERS):
    """The HTML feedback page of one result (a short "not graded yet" page when the grader failed)."""
    e = html.escape
    if result["status"] == "error":
        return _page(f"{result['assignment']} feedback for {result['student']}",
                     f"<h1>{e(result['assignment'])}: {e(result['student'])}</h1><p><strong>Not graded yet.</strong> "
                     "The grader failed on this submission through no fault of yours; it is graded again at the "
                     "next grading run, and this page will then show your score.</p>")
    titles = part_titles(result["assignment"], chapters)
    rows = []
    for part in result["parts"]:
        title = e(titles.get(part["grade_id"], part["grade_id"]))
        if part["manual"]:
            score = "not graded yet" if part["score"] is None else f"{part['score']:g}"
            comment = f"<br>{e(part['comment'])}" if part.get("comment") else ""
            rows.append(f"<tr><td>{title}</td><td>{part['points']:g}</td>"
                        f"<td>{score}</td><td>written answer, graded by hand{comment}</td></tr>")
            continue
        details = [f"visible tests: {_mark(part['visible'])}"
                   + (f" (this part ran {part['seconds']:.1f} s)" if part.get("seconds") is not None else "")]
        if part.get("note"):
            details.append(f"<small>{e(part['note'])}</small>")
        if part["error"]:
            details.append(f"<pre>{e(part['error'])}</pre>")
        for check in part["checks"]:
            details.append(f"hidden check <code>{e(check['name'])}</code> ({e(check['description'])}): "
                           f"{_mark(check['passed'])}<br><small>{e(check['message'])}</small>")
        score = part["score"] if part["score"] is not None else 0
        rows.append(f"<tr><td>{title}</td><td>{part['points']:g}</td><td>{score:g}</td>"
                    f"<td>{'<br>'.join(details)}</td></tr>")
    flags = "".join(f"<li>{e(f)}</li>" for f in result["flags"])
    pending = any(p["manual"] and p["score"] is None for p in result["parts"])
    body = (f"<h1>{e(result['assignment'])}: {e(result['student'])}</h1>"
            f"<p><strong>Score: {result['score']:g} / {result['max_score']:g}</strong> ({e(result['status'])}"
            + ("; written answers not graded yet" if pending else "") + ")</p>"
            + _lateness_line(result.get("lateness"))
            + (f"<div class='flag'><p>Notes from the grader:</p><ul>{flags}</ul></div>" if flags else "")
            + "".join(f"<p><small>Note: {e(note)}</small></p>" for note in result.get("notes", ()))
            + "<table><tr><th>Part</th><th>Points</th><th>Score</th><th>Checks</th></tr>"
            + "".join(rows) + "</table>"
            + "<p>Hidden checks compare your functions with an independent reference on random inputs; "
            "their code is not shown.</p>"
            + _limits_line(result.get("limits")))
    return _page(f"{result['assignment']} feedback for {result['student']}", body)


def _limits_line(limits):
    """The time limits the grader applied to this result, as a paragraph ('' for a result without them)."""
    if not limits:
        return ""
    return (f"<p>Time limits: {limits['cell_seconds']:g} s per cell or hidden check, {limits['notebook_seconds']:g} s "
            "for the notebook. A part that ran out of time or crashed cost only its own points.</p>")


def _lateness_line(lateness):
    """A paragraph on when the submission came in, or ``""`` without a due date."""
    if not lateness or lateness.get("late_minutes") is None:
        return ""
    minutes = lateness["late_minutes"]
    when = (f"submitted {minutes:g} minutes after the due date" if minutes > 0 else "submitted on time")
    penalty = f"; late penalty {lateness['penalty']:g} points" if lateness.get("penalty") else ""
    return f"<p>{html.escape(when)} ({html.escape(lateness['source'])}){html.escape(penalty)}.</p>"


def write_reports(results, out_dir):
    """Write ``out_dir/<student>/<assignment>.html`` for every result; return the paths."""
    paths = []
    for result in results:
        path = Path(out_dir) / result["student"] / f"{result['assignment']}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(student_report(result), encoding="utf-8")
        paths.append(path)
    return paths


def score_histogram(scores, max_score, title):
    """A matplotlib figure of the histogram of ``scores``; its y axis counts students in whole numbers."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6, 3))
    ax = fig.subplots()
    ax.hist(scores, bins=min(20, max(int(max_score), 1)), range=(0, max(max_score, 1)), color="#3b6ea5")
    ax.set_xlabel("score")
    ax.set_ylabel("students")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    fig.tight_layout()
    return fig


def class_summary(results, assignment, chapters=course.CHAPTERS):
    """The HTML class summary of one assignment: score distribution, pass rates, flags, similar pairs."""
    e = html.escape
    results = [r for r in results if r["assignment"] == assignment]
    not_graded = sum(r["status"] == "error" for r in results)
    results = [r for r in results if r["status"] != "error"]
    max_score = max((r["max_score"] for r in results), default=0)
    scores = [r["score"] for r in results]
    png = io.BytesIO()
    score_histogram(scores, max_score, f"{assignment}: scores").savefig(png, format="png", dpi=100)
    image = base64.b64encode(png.getvalue()).decode()
    passed, attempted = defaultdict(int), defaultdict(int)
    for r in results:
        for part in r["parts"]:
            if not part["manual"]:
                attempted[part["grade_id"]] += 1
                passed[part["grade_id"]] += bool(part["score"])
    titles = part_titles(assignment, chapters)
    rates = "".join(f"<tr><td>{e(titles.get(g, g))}</td><td>{passed[g]} / {attempted[g]}</td>"
                    f"<td>{100 * passed[g] / attempted[g]:.0f}%</td></tr>" for g in attempted)
    flagged = "".join(f"<tr><td>{e(r['student'])}</td><td>{'<br>'.join(e(f) for f in r['flags'])}</td></tr>"
                      for r in results if r["status"] == "flagged")
    mean = sum(scores) / len(scores) if scores else 0.0
    body = (f"<h1>{e(assignment)}: class summary</h1>"
            f"<p>{len(results)} submissions, mean score {mean:.2f} / {max_score:g}, "
            f"{sum(r['status'] == 'flagged' for r in results)} flagged"
            + (f", and {not_graded} not graded yet (a grader error: run grade again)" if not_graded else "")
            + ".</p>"
            f"<img alt='histogram of scores' src='data:image/png;base64,{image}'>"
            "<h2>Pass rate per part</h2><table><tr><th>Part</th><th>Passed</th><th>Rate</th></tr>"
            f"{rates}</table><h2>Flagged submissions</h2>"
            + (f"<table><tr><th>Student</th><th>Why</th></tr>{flagged}</table>" if flagged else "<p>None.</p>")
            + _similar_section(results, assignment, chapters))
    return _page(f"{assignment}: class summary", body)


def _similar_section(results, assignment, chapters):
    """The pairs of students with near-identical answer code, matching lines side by side."""
    path = Path(chapters) / assignment / course.EXERCISE
    if not path.is_file():
        return ""
    given = similarity.templates(load_spec(path, assignment).cells)
    pairs = similarity.similar_pairs({r["student"]: r.get("answers", {}) for r in results}, given)
    e, titles = html.escape, part_titles(assignment, chapters)
    intro = (f"<h2>Similar answer code</h2><p>Pairs whose answer code, with comments, layout and names set aside, "
             f"shares at least {100 * similarity.THRESHOLD:.0f}% of its fingerprints. This is something to read, "
             "not a verdict: short answers converge, and students may have worked together as allowed.</p>")
    if not pairs:
        return intro + "<p>None.</p>"
    blocks = []
    for pair in pairs:
        answers = {r["student"]: r.get("answers", {}) for r in results if r["student"] in (pair.first, pair.second)}
        rows = []
        for gid, (lines_a, lines_b) in pair.matches.items():
            cells = []
            for student, numbers in ((pair.first, lines_a), (pair.second, lines_b)):
                source = answers[student].get(gid, "").splitlines()
                cells.append("<pre>" + "\n".join(f"{n:3d}  {e(source[n - 1])}" for n in numbers if n <= len(source))
                             + "</pre>")
            rows.append(f"<tr><td>{e(titles.get(gid, gid))}</td><td>{cells[0]}</td><td>{cells[1]}</td></tr>")
        blocks.append(f"<h3>{e(pair.first)} and {e(pair.second)}: {100 * pair.similarity:.0f}% similar</h3>"
                      f"<table><tr><th>Part</th><th>{e(pair.first)}</th><th>{e(pair.second)}</th></tr>"
                      + "".join(rows) + "</table>")
    return intro + "".join(blocks)


def write_summaries(results, out_dir):
    """Write ``out_dir/summary-<assignment>.html`` for each assignment; return the paths."""
    paths = []
    for assignment in sorted({r["assignment"] for r in results}):
        path = Path(out_dir) / f"summary-{assignment}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(class_summary(results, assignment), encoding="utf-8")
        paths.append(path)
    return paths
