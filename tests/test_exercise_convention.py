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


def _assert_close_passes(actual, expected, rtol, atol):
    try:
        torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=True, check_dtype=False)
    except AssertionError:
        return False
    return True


def test_tensors_are_judged_as_assert_close_judges_them():
    """The grader's own tolerance rule (it avoids assert_close's half second of imports) gives assert_close's
    verdict on tensors near the boundary, with NaN, infinities, integers, booleans and no elements."""
    generator = torch.Generator().manual_seed(0)
    cases = []
    for dtype in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        expected = (torch.randn(5, 7, generator=generator) * 10).to(dtype)
        expected[0, :3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
        for scale in (0.0, 1e-8, 1e-6, 1e-5, 1e-4, 1e-2):
            noise = torch.randn(5, 7, generator=generator, dtype=torch.float64) * scale
            actual = (expected.double() * (1 + noise)).to(dtype)
            actual[0, :3] = expected[0, :3]
            cases += [(actual, expected, 1e-5, 1e-6), (actual, expected, 1.3e-6, 1e-5), (actual, expected, 1e-2, 1e-3)]
        flipped = expected.clone()
        flipped[0, 0] = 1.0  # a number where a NaN is expected
        cases += [(flipped, expected, 1e-5, 1e-6), (expected, flipped, 1e-5, 1e-6)]
    cases += [(torch.tensor([1, 2, 3]), torch.tensor([1, 2, 4]), 0.0, 0.0),
              (torch.tensor([1, 2, 3]), torch.tensor([1, 2, 4]), 0.0, 1.0),
              (torch.tensor([True, False]), torch.tensor([True, True]), 0.0, 0.0),
              (torch.tensor(2.0), torch.tensor(1.0), 0.0, 0.5), (torch.tensor(2.0), torch.tensor(1.9), 0.1, 0.0),
              (torch.zeros(0, 3), torch.zeros(0, 3), 1e-5, 1e-6)]
    verdicts = set()
    for actual, expected, rtol, atol in cases:
        reason = checks.compare_outputs(actual, expected, rtol, atol)
        verdicts.add(reason is None)
        assert (reason is None) == _assert_close_passes(actual.to(expected.dtype), expected, rtol, atol), \
            (actual, expected, rtol, atol, reason)
    assert verdicts == {True, False}  # the cases reach both sides of the boundary


def test_a_mismatch_says_how_many_elements_and_the_farthest():
    expected = torch.zeros(2, 3)
    actual = expected.clone()
    actual[1, 2], actual[0, 1] = 0.5, 0.25
    reason = checks.compare_outputs(actual, expected, 0.0, 1e-3)
    assert "2 / 6" in reason and "0.5 at index (1, 2)" in reason, reason
    actual[0, 0] = float("nan")
    assert "nan at index (0, 0)" in checks.compare_outputs(actual, expected, 0.0, 1e-3)


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
