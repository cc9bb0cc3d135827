"""Every exercise follows the grading convention, and its hidden checks can fail."""

import importlib
import inspect
import re

import nbformat
import pytest
import torch

from autograder import checks, course, integrity
from autograder.spec import SpecError, load_spec, parse_hidden, split_hidden

ASSIGNMENTS = course.assignments()


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_exercise_parses_and_names_known_checks(assignment):
    spec = load_spec(course.source_notebook(assignment))
    auto = [p for p in spec.parts if not p.manual]
    assert auto, "an exercise needs autograded parts"
    for part in auto:
        for name, function in part.checks:
            assert checks.get(name).function == function, f"{part.grade_id}: check {name} tests {function}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_answers_use_nothing_forbidden(assignment):
    path = course.source_notebook(assignment)
    spec = load_spec(path)
    module = importlib.import_module(nbformat.read(path, as_version=4).metadata["course"]["solutions_module"])
    for part in spec.parts:
        for name, function in part.checks:
            source = inspect.getsource(getattr(module, function))
            assert integrity.forbidden_uses(source, checks.get(name).forbid) == []


def test_hidden_region_accepts_only_checks():
    assert parse_hidden('from autograder.checks import check\ncheck("transformers.softmax", softmax)') == (
        ("transformers.softmax", "softmax"),)
    for bad in ["assert softmax(x) is not None", 'check("a", f); import os', 'check(name, f)']:
        with pytest.raises(SpecError):
            parse_hidden(bad)


def test_split_hidden_separates_regions():
    visible, hidden = split_hidden("a = 1\n### BEGIN HIDDEN TESTS\nsecret\n### END HIDDEN TESTS\nb = 2")
    assert visible == "a = 1\nb = 2" and hidden == "secret"


def test_cases_are_reproducible_from_their_seed():
    check_ = checks.get("transformers.softmax")
    first, again, other = (checks.draw_cases(check_, s) for s in (7, 7, 8))
    assert all(torch.equal(a.args[0], b.args[0]) for a, b in zip(first, again))
    assert not all(a.args[0].shape == b.args[0].shape and torch.equal(a.args[0], b.args[0])
                   for a, b in zip(first, other))


def test_compare_outputs_reasons():
    assert checks.compare_outputs(torch.ones(2), torch.ones(2), 0, 0) is None
    assert "shape" in checks.compare_outputs(torch.ones(3), torch.ones(2), 0, 0)
    assert "tensor" in checks.compare_outputs(1.0, torch.ones(2), 0, 0)
    assert "dtype" in checks.compare_outputs(torch.ones(2), torch.ones(2, dtype=torch.bool), 0, 0)
    assert checks.compare_outputs(torch.ones(2) + 1e-3, torch.ones(2), 0, 1e-6) is not None


def test_compare_outputs_dicts_key_by_key():
    expected = {"weights": 4.0, "total": torch.ones(2)}
    assert checks.compare_outputs({"weights": 4.0 + 1e-9, "total": torch.ones(2)}, expected, 1e-6, 0) is None
    assert "keys" in checks.compare_outputs({"weights": 4.0}, expected, 1e-6, 0)
    assert "['weights']" in checks.compare_outputs({"weights": 5.0, "total": torch.ones(2)}, expected, 1e-6, 0)
    assert "dict" in checks.compare_outputs([4.0], expected, 1e-6, 0)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_points_in_headings_match_metadata(assignment):
    """A part's heading says "(N points" and N is what its graded cell is worth."""
    nb = nbformat.read(course.source_notebook(assignment), as_version=4)
    stated = None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            found = re.search(r"^## Part \d+:.*\((\d+) points", cell.source, re.MULTILINE)
            stated = int(found.group(1)) if found else stated
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            assert stated == meta["points"], f"{meta['grade_id']}: heading says {stated}, metadata {meta['points']}"
            stated = None


@pytest.mark.parametrize("assignment", course.assignments())
def test_exercise_intro_states_the_graders_time_limits(assignment):
    """The limits a student reads are the ones the grader applies (worker.Limits, grading.COMFORT)."""
    from autograder import grading
    from autograder.worker import Limits

    intro = nbformat.read(course.source_notebook(assignment), as_version=4).cells[0].source
    limits = Limits()
    assert (f"each cell and each hidden check {limits.cell_seconds:g} s, and the whole notebook "
            f"{limits.notebook_seconds:g} s") in intro
    assert grading.COMFORT == 10 and "in a tenth of the limit" in intro
    assert "costs only that part" in intro and "prints each part's time" in intro
