"""Released student notebooks hold no solutions, no hidden tests and no outputs, and end with the
cells that tell the student how to check their work."""

import nbformat
import pytest

from autograder import check, course
from autograder.spec import HIDDEN_BEGIN, load_spec, split_hidden

from conftest import grade_id, load


def solution_bodies(source_nb):
    """Lines of code inside every solution region of the source notebook."""
    lines = []
    for cell in source_nb["cells"]:
        source = "".join(cell["source"])
        inside = False
        for line in source.splitlines():
            if "### BEGIN SOLUTION" in line:
                inside = True
            elif "### END SOLUTION" in line:
                inside = False
            elif inside and line.strip() and not line.strip().startswith("#"):
                lines.append(line.strip())
    return lines


@pytest.mark.parametrize("assignment", course.assignments())
def test_release_strips_solutions_hidden_tests_and_outputs(released, assignment):
    source = load(course.source_notebook(assignment))
    student = load(released / assignment / course.EXERCISE)
    text = "\n".join("".join(c["source"]) for c in student["cells"] if not is_check_cell(c))
    for line in solution_bodies(source):
        assert line not in text, f"solution line released: {line}"
    assert HIDDEN_BEGIN not in text and "autograder" not in text and "check(" not in text
    assert all(not c.get("outputs") for c in student["cells"] if c["cell_type"] == "code")
    # the written answer's model answer is gone too
    for cell in source["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("solution") and meta.get("grade"):
            assert "".join(cell["source"]).strip() not in text
    # and every visible test is released unchanged
    released_tests = {grade_id(c): "".join(c["source"]) for c in student["cells"] if grade_id(c)}
    for cell in source["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            assert split_hidden("".join(cell["source"]))[0].strip() == released_tests[meta["grade_id"]].strip()


def is_check_cell(cell):
    return course.CHECK_TAG in cell["metadata"].get("tags", [])


@pytest.mark.parametrize("assignment", course.assignments())
def test_release_ends_with_how_to_check_your_work(released, assignment):
    student = nbformat.read(released / assignment / course.EXERCISE, as_version=4)
    nbformat.validate(student)
    intro, command = student.cells[-2:]
    assert sum(is_check_cell(c) for c in student.cells) == 2 and is_check_cell(intro) and is_check_cell(command)
    assert intro.cell_type == "markdown" and intro.source.startswith("## Check your work")
    # the example names a function this exercise asks for
    functions = [f for p in load_spec(course.source_notebook(assignment)).parts for _, f in p.checks]
    assert f'check_part("{functions[0]}")' in intro.source
    assert command.cell_type == "code" and "check_this_notebook()" in command.source  # finds its own file
    assert "make venv" in command.source  # what to install where the grader is missing
    assert command.metadata["editable"] is False and "nbgrader" not in command.metadata
    assert course.is_self_check(command.source)  # the grader skips it


@pytest.mark.parametrize("assignment", course.assignments())
def test_release_stubs_every_answer(released, assignment):
    student = nbformat.read(released / assignment / course.EXERCISE, as_version=4)
    stubs = [c for c in student.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"]
    assert stubs and all("raise NotImplementedError(" in c.source for c in stubs)
    # each placeholder says what to write there: the part of the heading above it, the function it is in
    spec = load_spec(course.source_notebook(assignment), assignment)
    heading = check.titles(spec)
    for cell in stubs:
        part = heading[cell.metadata["nbgrader"]["grade_id"]].split(":")[0]
        for function in check.placeholders(cell.source):
            assert f'raise NotImplementedError("{part}: write {function} here")' in cell.source, cell.source
        assert "raise NotImplementedError()" not in cell.source, cell.source
