"""Grades as CSV, one row per student and assignment, for an LMS gradebook import.

``score`` is the autograded and hand-graded points together, less any late penalty;
``needs_manual_grading`` is ``no`` once every written answer has a score; ``late_minutes`` is
empty without a due date. With ``parts``, one column per part follows (its grade id, the points
earned; empty for a written answer not graded yet), so a spreadsheet can take the file as it is.
"""

import csv

COLUMNS = ["student", "assignment", "score", "max_score", "status", "needs_manual_grading", "late_minutes", "flags"]


def part_columns(results):
    """``[(column, assignment, grade_id)]`` in notebook order; a grade id that two assignments
    share is written ``<assignment>:<grade_id>`` so no column means two things."""
    seen = []
    for r in results:
        for part in r["parts"]:
            if (r["assignment"], part["grade_id"]) not in seen:
                seen.append((r["assignment"], part["grade_id"]))
    owners = {}
    for assignment, gid in seen:
        owners.setdefault(gid, set()).add(assignment)
    return [(gid if len(owners[gid]) == 1 else f"{assignment}:{gid}", assignment, gid) for assignment, gid in seen]


def write_csv(results, stream, parts=False):
    """Write ``results`` (from :meth:`GradeStore.results`) to a text ``stream`` as CSV."""
    columns = part_columns(results) if parts else []
    writer = csv.writer(stream)
    writer.writerow(COLUMNS + [name for name, _, _ in columns])
    for r in results:
        manual = any(p["manual"] and p["score"] is None for p in r["parts"])
        score = "" if r["status"] == "error" else f"{r['score']:g}"  # not graded: no score to import
        late = (r.get("lateness") or {}).get("late_minutes")
        earned = {p["grade_id"]: p["score"] for p in r["parts"]}
        per_part = ["" if assignment != r["assignment"] or earned.get(gid) is None else f"{earned[gid]:g}"
                    for _, assignment, gid in columns]
        writer.writerow([r["student"], r["assignment"], score, f"{r['max_score']:g}", r["status"],
                         "yes" if manual else "no", "" if late is None else f"{late:g}", "; ".join(r["flags"])]
                        + per_part)
