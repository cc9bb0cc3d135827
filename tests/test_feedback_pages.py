"""Feedback pages: part titles from the notebook, whole-number histogram counts, similar pairs for the teacher only."""

import sys
from pathlib import Path

from autograder import course
from autograder.feedback import class_summary, part_titles, score_histogram, student_report
from autograder.grading import new_result
from autograder.spec import grade_id, load_spec

sys.path.insert(0, str(Path(__file__).parent / "corpus"))
import independent  # noqa: E402

ASSIGNMENT = "01-transformers"
SPEC = load_spec(course.source_notebook(ASSIGNMENT))


def test_parts_are_titled_by_their_heading_in_the_notebook():
    headings = [line.lstrip("#").strip() for c in SPEC.cells if c.cell_type == "markdown"
                for line in c.source.splitlines() if line.startswith("## Part")]
    titles = part_titles(ASSIGNMENT)
    assert [titles[p.grade_id] for p in SPEC.parts] == headings  # one part per "## Part" heading, in order
    page = student_report(new_result("ann", ASSIGNMENT, SPEC, "0" * 64))
    assert all(h.replace("'", "&#x27;") in page for h in headings)


def test_the_histogram_counts_whole_students():
    for scores in ([3.0, 5.0, 5.0], [0.0], [1.0, 2.0, 2.0, 2.0, 7.5, 9.0, 9.0]):
        ticks = score_histogram(scores, 10, "t").axes[0].get_yticks()
        assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks


def test_the_class_summary_lists_a_planted_copy_and_no_student_page_names_another():
    sources = {grade_id(c): c.source for c in SPEC.cells if grade_id(c)}
    results = []
    for student in ("ada", "bruno", "chen"):
        result = new_result(student, ASSIGNMENT, SPEC, "0" * 64)
        result["answers"] = independent.answers(student, sources)
        results.append(result)
    copy = new_result("zz-copy", ASSIGNMENT, SPEC, "0" * 64)
    copy["answers"] = independent.disguise(results[1]["answers"])
    results.append(copy)
    summary = class_summary(results, ASSIGNMENT)
    assert "bruno and zz-copy" in summary and "not a verdict" in summary
    assert "ada and" not in summary and "chen and" not in summary
    for result in results:
        others = {r["student"] for r in results} - {result["student"]}
        page = student_report(result)
        assert not any(name in page for name in others)
