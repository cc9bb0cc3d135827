"""A given cell tagged ``grader-skips`` in the source notebook is not run by the grader; a cell the
student adds runs whatever its tags say, since only the source's cells are read for the tag.

The exercise here is a small one of a single part, built in the test, whose skipped cell would
stop the run and import the reference package if the grader ran it.
"""

import json

import nbformat
import pytest

from autograder import course, grading
from autograder.spec import load_spec, parse_spec
from autograder.worker import Limits, Worker

from conftest import answered, grade_id, load, solution_ids

ANSWER = ("def query_accuracy(logits, answers, n_symbols, n_labels):\n"
          "    predictions = logits[:, -1, n_symbols : n_symbols + n_labels].argmax(dim=-1)\n"
          "    return (predictions == answers).float().mean().item()\n")
SKIPPED = "import solutions.icl\nraise RuntimeError('the grader ran a cell tagged grader-skips')\n"
# run by the grader, this student cell costs the part its points: the visible test then fails
SABOTAGE = "query_accuracy = lambda logits, answers, n_symbols, n_labels: 0.0\n"


def locked(gid, **nbgrader):
    return {"nbgrader": {"grade": False, "grade_id": gid, "locked": True, "schema_version": 3,
                         "solution": False, "task": False, **nbgrader}}


def source_notebook():
    """Setup, one answer, the given cell the grader skips, then the part's test."""
    test = ("logits = torch.zeros(1, 1, 3)\nlogits[0, 0, 2] = 1.0\n"
            "assert query_accuracy(logits, torch.tensor([1]), 1, 2) == 1.0\n"
            "### BEGIN HIDDEN TESTS\nfrom autograder.checks import check\n"
            "check(\"icl.query_accuracy\", query_accuracy)\n### END HIDDEN TESTS\n")
    cells = [
        nbformat.v4.new_code_cell("import torch\n", metadata=locked("setup")),
        nbformat.v4.new_code_cell(f"### BEGIN SOLUTION\n{ANSWER}### END SOLUTION\n",
                                  metadata=locked("query_accuracy", solution=True, locked=False)),
        nbformat.v4.new_code_cell(SKIPPED, metadata={**locked("uses_the_package"), "tags": [grading.GRADER_SKIPS]}),
        nbformat.v4.new_code_cell(test, metadata=locked("test_query_accuracy", grade=True, points=5)),
    ]
    return nbformat.v4.new_notebook(cells=cells)


def submission(student_cells=()):
    """The source notebook answered, with ``student_cells`` (sources) added after the answer, each
    tagged ``grader-skips``."""
    nb = source_notebook()
    nb.cells[1:2] = [nb.cells[1]] + [nbformat.v4.new_code_cell(s, metadata={"tags": [grading.GRADER_SKIPS]})
                                     for s in student_cells]
    nb.cells[1].source = ANSWER
    return nbformat.writes(nb).encode()


@pytest.fixture(scope="module")
def spec():
    return parse_spec(nbformat.writes(source_notebook()), "skips", "exercise")


def code_steps(spec, data):
    result = grading.new_result("s", spec.assignment, spec, "")
    return [step[1] for step in grading.build_plan(spec, grading.read_cells(data), result) if step[0] == "code"]


def test_plan_leaves_out_the_tagged_given_cell_only(spec):
    steps = code_steps(spec, submission([SABOTAGE]))
    assert SKIPPED not in steps
    assert steps == ["import torch\n", ANSWER, SABOTAGE]


def test_a_student_cannot_tag_a_given_cell_away(spec):
    """The student's copy of the setup cell, tagged, is ignored: given cells come from the source."""
    nb = nbformat.reads(submission().decode(), as_version=4)
    nb.cells[0].metadata["tags"] = [grading.GRADER_SKIPS]
    assert code_steps(spec, nbformat.writes(nb).encode())[0] == "import torch\n"


def test_the_sandbox_skips_the_tagged_given_cell_and_runs_the_students(spec):
    runner = Worker(0, Limits(cell_seconds=30, notebook_seconds=120))
    try:
        clean, sabotaged = (grading.run_with_retry(grading.prepare(submission(cells), spec, "s", b"key"), runner)
                            for cells in ((), [SABOTAGE]))
    finally:
        runner.close()
    # had the skipped cell run, its import would be refused and flagged, and its error would stop the run
    assert clean["score"] == 5 and clean["status"] == "graded" and clean["flags"] == [], clean
    assert sabotaged["score"] == 0 and sabotaged["parts"][0]["visible"] is False, sabotaged


def test_chapter_2_keeps_its_model_cell_for_students_and_out_of_the_plan(released):
    """The release keeps the cell that loads the provided model; the grader's plan does not run it."""
    assignment = "02-in-context-learning"
    source_nb = load(course.source_notebook(assignment))
    release_nb = load(released / assignment / course.EXERCISE)
    tagged = [c for c in source_nb["cells"] if grading.GRADER_SKIPS in c["metadata"].get("tags", [])]
    assert tagged and all(not c["metadata"]["nbgrader"]["grade"] for c in tagged)
    released_ids = {grade_id(c): c for c in release_nb["cells"]}
    for cell in tagged:
        kept = released_ids[grade_id(cell)]
        assert "".join(kept["source"]) == "".join(cell["source"]) and grading.GRADER_SKIPS in kept["metadata"]["tags"]
    spec = load_spec(course.source_notebook(assignment), assignment)
    reference = json.dumps(answered(release_nb, source_nb, solution_ids(source_nb))).encode()
    steps = code_steps(spec, reference)
    assert not any("".join(c["source"]) in steps for c in tagged)


def test_chapter_2_a_students_copy_of_the_skipped_cell_costs_only_with_its_import(released):
    """What the exercise tells students: a copy of the model cell without its import costs nothing in
    grading (it fails on its own, as any added cell may), while a copy that imports ``solutions`` is
    refused and the submission earns nothing."""
    assignment = "02-in-context-learning"
    source_nb = load(course.source_notebook(assignment))
    release_nb = load(released / assignment / course.EXERCISE)
    spec = load_spec(course.source_notebook(assignment), assignment)
    model_cell = next(c for c in source_nb["cells"] if grading.GRADER_SKIPS in c["metadata"].get("tags", []))
    code = "".join(model_cell["source"]).replace("[0, 1, 2, 4, 8]", "[16]")
    without_import = "\n".join(line for line in code.splitlines() if not line.startswith("from solutions"))
    assert without_import != code
    runner = Worker(0, Limits(cell_seconds=30, notebook_seconds=120))
    results = []
    try:
        for copy in (without_import, code):
            nb = answered(release_nb, source_nb, solution_ids(source_nb))
            at = next(i for i, c in enumerate(nb["cells"]) if grade_id(c) == grade_id(model_cell))
            nb["cells"].insert(at + 1, nbformat.v4.new_code_cell(copy))
            results.append(grading.run_with_retry(grading.prepare(json.dumps(nb).encode(), spec, "s", b"key"), runner))
    finally:
        runner.close()
    autograded = sum(p.points for p in spec.parts if not p.manual)
    kept, refused = results
    assert (kept["status"], kept["score"], kept["flags"]) == ("graded", autograded, []), kept
    assert refused["status"] == "flagged" and refused["score"] == 0, refused
    # the flag names the cell: the copy is the cell after the model cell, which the student added
    at = 1 + next(i for i, c in enumerate(nb["cells"]) if grade_id(c) == grade_id(model_cell))
    assert f"{grading.IMPORTS_REFERENCE}: solutions in cell {at + 1}, which you added" in refused["flags"], refused["flags"]
