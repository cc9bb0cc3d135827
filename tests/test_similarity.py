"""The similarity report: normalisation, winnowing's guarantee, planted copies found, independent answers not paired."""

import random
import sys
from pathlib import Path

import pytest

from autograder import course
from autograder.similarity import K, W, fingerprint, similar_pairs, templates, tokens, winnow
from autograder.spec import grade_id, load_spec

sys.path.insert(0, str(Path(__file__).parent / "corpus"))
import independent  # noqa: E402

SPEC = load_spec(course.source_notebook("01-transformers"))
GIVEN = templates(SPEC.cells)
SOURCES = {grade_id(c): c.source for c in SPEC.cells if grade_id(c)}


def test_names_comments_and_layout_do_not_count_but_operations_do():
    a = "def f(x):\n    total = x.sum(dim=0)  # add up\n    return total / len(x)\n"
    b = "def g(values):\n\n    # the mean\n    s = values.sum(dim=0)\n    return s / len(\n        values)\n"
    assert [t for t, _ in tokens(a)] == [t for t, _ in tokens(b)]
    assert [t for t, _ in tokens(a)] != [t for t, _ in tokens(a.replace(".sum(", ".prod("))]


def test_template_lines_are_not_the_student_s():
    blank = independent.answer_cell(SOURCES["softmax"], "    # YOUR CODE HERE\n    raise NotImplementedError()\n")
    assert tokens(blank, GIVEN["softmax"]) == []
    answered = independent.answers("ada", SOURCES)["softmax"]
    assert {t for t, _ in tokens(answered, GIVEN["softmax"])} >= {"max", "exp", "sum"}
    assert "def" not in [t for t, _ in tokens(answered, GIVEN["softmax"])]  # the signature is given


def test_a_long_enough_shared_run_always_shares_a_fingerprint():
    rng = random.Random(0)
    vocabulary = [f"t{i}" for i in range(30)]
    for _ in range(200):
        shared = [(rng.choice(vocabulary), 0) for _ in range(K + W - 1)]
        a = [(rng.choice(vocabulary), 1) for _ in range(rng.randrange(40))] + shared
        b = shared + [(rng.choice(vocabulary), 2) for _ in range(rng.randrange(40))]
        assert set(winnow(a)) & set(winnow(b))


def test_runs_shorter_than_k_never_match():
    a = [(f"a{i}", i) for i in range(30)] + [("x", 99)] * (K - 1)
    b = [("x", 99)] * (K - 1) + [(f"b{i}", i) for i in range(30)]
    assert not set(winnow(a)) & set(winnow(b))


@pytest.fixture(scope="module")
def originals():
    return {s: independent.answers(s, SOURCES) for s in independent.STUDENTS}


def test_independent_answers_are_not_paired(originals):
    assert len(originals) >= 10
    assert similar_pairs(originals, GIVEN) == []


@pytest.mark.parametrize("student", sorted(independent.STUDENTS))
def test_a_planted_copy_is_found_with_its_lines(originals, student):
    copy = independent.disguise(originals[student])
    assert all(copy[g] != originals[student][g] for g in copy)  # really disguised
    pairs = similar_pairs({**originals, "zz-copy": copy}, GIVEN)
    assert [(p.first, p.second) for p in pairs] == [(student, "zz-copy")]
    lines_a, lines_b = pairs[0].matches["multi_head_self_attention"]
    written = {line.strip() for line in independent.STUDENTS[student]["multi_head_self_attention"].splitlines()}
    original_lines = originals[student]["multi_head_self_attention"].splitlines()
    assert len({original_lines[n - 1].strip() for n in lines_a} & written) >= len(written) / 2  # what they wrote
    assert lines_b


def test_blank_and_short_answers_are_never_paired():
    blank = {g: independent.answer_cell(SOURCES[g], "    # YOUR CODE HERE\n    raise NotImplementedError()\n")
             for g in independent.PARTS}
    same_short = {**blank, "causal_mask": independent.answers("ada", SOURCES)["causal_mask"]}
    assert similar_pairs({"a": blank, "b": blank, "c": same_short, "d": same_short}, GIVEN) == []
    assert fingerprint("a", blank, GIVEN).hashes == {}
