"""Instructor outputs: one HTML report per student and assignment, and a class summary.

Reports show each part's points, whether its visible and hidden checks passed and why not;
hidden checks appear by name, description and outcome, never by source. Pages are single
files with inline styles and images: they open offline and can be mailed as they are.
"""

import base64
import html
import io
from collections import defaultdict
from pathlib import Path

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


def student_report(result):
    """The HTML feedback page of one result (a short "not graded yet" page when the grader failed)."""
    e = html.escape
    if result["status"] == "error":
        return _page(f"{result['assignment']} feedback for {result['student']}",
                     f"<h1>{e(result['assignment'])}: {e(result['student'])}</h1><p><strong>Not graded yet.</strong> "
                     "The grader failed on this submission through no fault of yours; it is graded again at the "
                     "next grading run, and this page will then show your score.</p>")
    rows = []
    for part in result["parts"]:
        if part["manual"]:
            rows.append(f"<tr><td>{e(part['grade_id'])}</td><td>{part['points']:g}</td>"
                        f"<td>graded by hand</td><td>written answer</td></tr>")
            continue
        details = [f"visible tests: {_mark(part['visible'])}"]
        if part["error"]:
            details.append(f"<pre>{e(part['error'])}</pre>")
        for check in part["checks"]:
            details.append(f"hidden check <code>{e(check['name'])}</code> ({e(check['description'])}): "
                           f"{_mark(check['passed'])}<br><small>{e(check['message'])}</small>")
        score = part["score"] if part["score"] is not None else 0
        rows.append(f"<tr><td>{e(part['grade_id'])}</td><td>{part['points']:g}</td><td>{score:g}</td>"
                    f"<td>{'<br>'.join(details)}</td></tr>")
    flags = "".join(f"<li>{e(f)}</li>" for f in result["flags"])
    body = (f"<h1>{e(result['assignment'])}: {e(result['student'])}</h1>"
            f"<p><strong>Score: {result['score']:g} / {result['max_score']:g}</strong> ({e(result['status'])})</p>"
            + (f"<div class='flag'><p>Notes from the grader:</p><ul>{flags}</ul></div>" if flags else "")
            + "<table><tr><th>Part</th><th>Points</th><th>Score</th><th>Checks</th></tr>"
            + "".join(rows) + "</table>"
            "<p>Hidden checks compare your functions with an independent reference on random inputs; "
            "their code is not shown.</p>")
    return _page(f"{result['assignment']} feedback for {result['student']}", body)


def write_reports(results, out_dir):
    """Write ``out_dir/<student>/<assignment>.html`` for every result; return the paths."""
    paths = []
    for result in results:
        path = Path(out_dir) / result["student"] / f"{result['assignment']}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(student_report(result), encoding="utf-8")
        paths.append(path)
    return paths


def score_histogram_png(scores, max_score, title):
    """A PNG histogram of ``scores`` (bytes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(scores, bins=min(20, max(int(max_score), 1)), range=(0, max(max_score, 1)), color="#3b6ea5")
    ax.set_xlabel("score")
    ax.set_ylabel("students")
    ax.set_title(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def class_summary(results, assignment):
    """The HTML class summary of one assignment: score distribution, pass rates, flags."""
    e = html.escape
    results = [r for r in results if r["assignment"] == assignment]
    not_graded = sum(r["status"] == "error" for r in results)
    results = [r for r in results if r["status"] != "error"]
    max_score = max((r["max_score"] for r in results), default=0)
    scores = [r["score"] for r in results]
    image = base64.b64encode(score_histogram_png(scores, max_score, f"{assignment}: scores")).decode()
    passed, attempted = defaultdict(int), defaultdict(int)
    for r in results:
        for part in r["parts"]:
            if not part["manual"]:
                attempted[part["grade_id"]] += 1
                passed[part["grade_id"]] += bool(part["score"])
    rates = "".join(f"<tr><td>{e(g)}</td><td>{passed[g]} / {attempted[g]}</td>"
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
            + (f"<table><tr><th>Student</th><th>Why</th></tr>{flagged}</table>" if flagged else "<p>None.</p>"))
    return _page(f"{assignment}: class summary", body)


def write_summaries(results, out_dir):
    """Write ``out_dir/summary-<assignment>.html`` for each assignment; return the paths."""
    paths = []
    for assignment in sorted({r["assignment"] for r in results}):
        path = Path(out_dir) / f"summary-{assignment}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(class_summary(results, assignment), encoding="utf-8")
        paths.append(path)
    return paths
