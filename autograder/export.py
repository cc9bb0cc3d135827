"""Grades as CSV, one row per student and assignment, for an LMS gradebook import."""

import csv

COLUMNS = ["student", "assignment", "score", "max_score", "status", "needs_manual_grading", "flags"]


def write_csv(results, stream):
    """Write ``results`` to a text ``stream`` as CSV with the columns in ``COLUMNS``."""
    writer = csv.writer(stream)
    writer.writerow(COLUMNS)
    for r in results:
        manual = any(p["manual"] and p["score"] is None for p in r["parts"])
        score = "" if r["status"] == "error" else f"{r['score']:g}"  # not graded: no score to import
        writer.writerow([r["student"], r["assignment"], score, f"{r['max_score']:g}", r["status"],
                         "yes" if manual else "no", "; ".join(r["flags"])])
