"""Every autograded part fails every mistake of its catalogue, under every one of 20 keys, and
passes the reference and an independent right answer under the same keys.

The catalogue (``tests/corpus/mistakes/``) holds at least five plausible wrong answers per part.
A key stands for a gradebook's secret: it seeds the random cases exactly as ``grade`` does
(:func:`grading.seed_for`). A mistake that fails under some keys only would get different grades
from two gradebooks, so each must fail under all of them; the edge cases that every run includes
are what make that hold.
"""

import sys
from pathlib import Path

import pytest
import torch

from autograder import checks, grading, integrity

sys.path.insert(0, str(Path(__file__).parent / "corpus"))

import mistakes  # noqa: E402

KEYS = [f"gradebook key {i}".encode() for i in range(20)]
NOTEBOOK = b"a catalogue notebook"  # the seed also hashes the file; any fixed bytes stand for it
MIN_MISTAKES = 5

CATALOGUES = {module.ASSIGNMENT: module for module in mistakes.catalogues()}
PARTS = [(assignment, function) for assignment in CATALOGUES for function in mistakes.parts(assignment)]
MISTAKES = [(assignment, function, name) for assignment, function in PARTS
            for name in CATALOGUES[assignment].MISTAKES.get(function, {})]


def failures(check_names, function, key):
    """The reasons the part's hidden checks give under ``key``; empty when every case matches."""
    reasons = []
    for name in check_names:
        check_ = checks.get(name)
        for case in checks.draw_cases(check_, grading.seed_for(key, NOTEBOOK)):
            reason = checks.judge(check_, case, function)  # a crash fails the case, as in grading
            if reason:
                reasons.append(f"{name}{case.describe()}: {reason}")
                break
    return reasons


def test_every_part_has_a_catalogue():
    for assignment, function in PARTS:
        catalogue = CATALOGUES[assignment]
        assert function in catalogue.RIGHT, f"{assignment}: no independent right answer to {function}"
        assert len(catalogue.MISTAKES.get(function, {})) >= MIN_MISTAKES, \
            f"{assignment}: {function} has fewer than {MIN_MISTAKES} mistakes in its catalogue"
    assert {(a, f) for a in CATALOGUES for f in CATALOGUES[a].MISTAKES} <= set(PARTS), "a catalogue names no part"


@pytest.mark.parametrize("assignment, function", PARTS)
def test_reference_and_independent_answer_pass_under_every_key(assignment, function):
    check_names = mistakes.parts(assignment)[function]
    reference = getattr(mistakes.solutions_module(assignment), function)
    right = CATALOGUES[assignment].RIGHT
    independent = mistakes.functions(assignment, right[function])[function]
    # as in a notebook of right answers only: the independent answer calls the others' independent answers
    among_independent = mistakes.functions(assignment, "\n\n".join(right.values()))[function]
    assert independent is not reference
    for key in KEYS:
        assert failures(check_names, reference, key) == [], f"the reference fails under {key!r}"
        assert failures(check_names, independent, key) == [], f"the independent answer fails under {key!r}"
        assert failures(check_names, among_independent, key) == [], \
            f"the independent answer, calling the other independent answers, fails under {key!r}"


@pytest.mark.parametrize("assignment, function, mistake", MISTAKES)
def test_mistake_fails_under_every_key(assignment, function, mistake):
    source = CATALOGUES[assignment].MISTAKES[function][mistake]
    check_names = mistakes.parts(assignment)[function]
    forbidden = {name for check_name in check_names for name in checks.get(check_name).forbid}
    assert integrity.forbidden_uses(source, forbidden) == [], "a mistake must not rely on the static scan"
    wrong = mistakes.functions(assignment, source)[function]
    passed = [key for key in KEYS if not failures(check_names, wrong, key)]
    assert passed == [], f"{mistake!r} passes under {len(passed)} of {len(KEYS)} keys"


@pytest.mark.parametrize("assignment, function", PARTS)
def test_reference_passes_the_random_cases_of_many_keys(assignment, function):
    """A check too tight for float32 fails a correct answer on a few keys only (chapter 5's scale
    gradient did, on 2 seeds in 400): 200 seeds of random cases, the reference must pass them all."""
    reference = getattr(mistakes.solutions_module(assignment), function)
    for name in mistakes.parts(assignment)[function]:
        check_ = checks.get(name)
        n_edges = len(check_.edge_cases(torch.Generator().manual_seed(checks.EDGE_SEED)))
        for seed in range(200):
            for case in checks.draw_cases(check_, seed)[n_edges:]:
                reason = check_.compare(case, reference(*case.args, **case.kwargs))
                assert reason is None, f"{name}, seed {seed}: {reason}"
