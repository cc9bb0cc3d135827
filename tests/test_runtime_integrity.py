"""Integrity at run time: a forbidden built-in is caught however the answer reaches it, honest
answers keep their points, tampering with the recording is flagged, and so are duplicated
answer cells and altered nbgrader metadata.

Submissions are the released exercises with answers filled in (``tests/corpus/disguised.py``),
graded in the sandbox with :func:`grading.prepare` in this thread and :func:`grading.run_with_retry`
in two worker threads, as a batch does.
"""

import copy
import json
import pkgutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from autograder import checks, course, grading, integrity
from autograder.spec import load_spec
from autograder.worker import Limits, Worker

from conftest import grade_id, load

sys.path.insert(0, str(Path(__file__).parent / "corpus"))
import disguised  # noqa: E402

LIMITS = Limits(cell_seconds=30, notebook_seconds=120)
ASSIGNMENT = "01-transformers"
# an answer that breaks the recording inside softmax loses softmax's points only: the parts whose
# answers call it (attention, multi-head attention, the block) are judged with the reference's softmax
CALL_SOFTMAX = ("test_softmax",)

POP_MODE = ("import torch\n\n"
            "def softmax(x, dim=-1):\n"
            "    from torch.utils import _python_dispatch\n"
            "    _python_dispatch._pop_mode()\n"
            "    return getattr(torch, 'soft' + 'max')(x, dim)\n")
# a cell the student adds first: find the runner's recording and make it a no-op
# the runner's module reached through its import guard (``gc.get_objects`` does not list the runner's
# warm state, frozen before the fork)
REPLACE_RUNNER = ("import sys\n"
                  "recording = type(sys.meta_path[0]).find_spec.__globals__['Recording']\n"
                  "recording.__enter__ = lambda self: None\n"
                  "recording.__exit__ = lambda self, *exc: None\n")
SET_PROFILE = ("import sys\n\n"
               "def softmax(x, dim=-1):\n"
               "    sys.setprofile(None)\n"
               "    exps = (x - x.amax(dim, keepdim=True)).exp()\n"
               "    return exps / exps.sum(dim, keepdim=True)\n")


def answers_of(source_nb):
    return {grade_id(c): "".join(c["source"]) for c in source_nb["cells"]
            if c.get("metadata", {}).get("nbgrader", {}).get("solution")}


def filled(release_nb, answers):
    """The release with cells ``answers`` (grade id -> source) filled in."""
    nb = copy.deepcopy(release_nb)
    for cell in nb["cells"]:
        if grade_id(cell) in answers:
            cell["source"] = answers[grade_id(cell)]
    return nb


def add_first(nb, source):
    nb["cells"].insert(0, {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                           "source": source})
    return nb


def auto_points(spec):
    return {p.grade_id: p.points for p in spec.parts if not p.manual}


@pytest.fixture(scope="module")
def exercises(released):
    """assignment -> (spec, release notebook, source answers) for every exercise."""
    found = {}
    for name in course.assignments():
        source = course.source_notebook(name)
        found[name] = (load_spec(source, name), load(released / name / course.EXERCISE), answers_of(load(source)))
    return found


@pytest.fixture(scope="module")
def graded(exercises):
    """Grade every submission of this file in one sandboxed batch; return results by name."""
    submissions = {}
    for name, (spec, release_nb, answers) in exercises.items():
        submissions[f"right-{name}"] = (spec, filled(release_nb, answers))
    for name, entry in disguised.DISGUISES.items():
        spec, release_nb, answers = exercises[entry.assignment]
        submissions[name] = (spec, filled(release_nb, answers | {entry.cell: entry.source}))
    for name, independent in disguised.INDEPENDENT.items():
        spec, release_nb, answers = exercises[name]
        submissions[f"independent-{name}"] = (spec, filled(release_nb, answers | independent))
    spec, release_nb, answers = exercises["05-quantization"]
    submissions["helper_process"] = (spec, filled(release_nb, answers | {"round_to_format": disguised.HELPER_PROCESS}))
    spec, release_nb, answers = exercises[ASSIGNMENT]
    submissions["pop_mode"] = (spec, filled(release_nb, answers | {"softmax": POP_MODE}))
    submissions["set_profile"] = (spec, filled(release_nb, answers | {"softmax": SET_PROFILE}))
    submissions["replace_runner"] = (spec, add_first(filled(release_nb, answers), REPLACE_RUNNER))
    prepared = {name: grading.prepare(json.dumps(nb).encode(), spec, name, b"key")
                for name, (spec, nb) in submissions.items()}
    workers = [Worker(i, LIMITS) for i in range(2)]
    names = list(prepared)
    try:
        with ThreadPoolExecutor(len(workers)) as pool:
            results = pool.map(lambda i: [(n, grading.run_with_retry(prepared[n], workers[i])) for n in names[i::2]],
                               range(len(workers)))
            return dict(pair for chunk in results for pair in chunk)
    finally:
        for worker in workers:
            worker.close()


def part_scores(result):
    return {p["grade_id"]: p["score"] for p in result["parts"] if not p["manual"]}


def describe(result):
    return f"{result['status']}, {result['score']:g} points, flags {result['flags']}, parts {part_scores(result)}"


@pytest.mark.parametrize("name", list(disguised.DISGUISES))
def test_disguise_passes_the_static_scan(name):
    """The corpus tests the recording: none of its disguises names the built-in in its source."""
    entry = disguised.DISGUISES[name]
    spec = load_spec(course.source_notebook(entry.assignment), entry.assignment)
    for part in spec.parts:
        for check_name, function in part.checks:
            if function == entry.cell:
                assert integrity.forbidden_uses(entry.source, checks.get(check_name).forbid) == [], name


@pytest.mark.parametrize("name", list(disguised.DISGUISES))
def test_disguise_earns_nothing_for_its_part_only(graded, exercises, name):
    entry, result = disguised.DISGUISES[name], graded[name]
    points = auto_points(exercises[entry.assignment][0])
    expected = {gid: 0.0 if gid in entry.zero else p for gid, p in points.items()}
    assert part_scores(result) == expected, describe(result)
    assert result["status"] == "flagged", describe(result)
    assert any(entry.flag in flag and entry.cell in flag for flag in result["flags"]), describe(result)


@pytest.mark.parametrize("name", sorted(course.assignments()))
def test_right_answers_keep_every_point(graded, exercises, name):
    result = graded[f"right-{name}"]
    assert part_scores(result) == auto_points(exercises[name][0]), describe(result)
    assert result["status"] == "graded" and result["flags"] == [], describe(result)


@pytest.mark.parametrize("name", list(disguised.INDEPENDENT))
def test_independent_answers_keep_every_point(graded, exercises, name):
    result = graded[f"independent-{name}"]
    assert part_scores(result) == auto_points(exercises[name][0]), describe(result)
    assert result["status"] == "graded" and result["flags"] == [], describe(result)


def test_popping_the_recording_is_flagged(graded, exercises):
    result = graded["pop_mode"]
    points = auto_points(exercises[ASSIGNMENT][0])
    assert part_scores(result) == {g: 0.0 if g in CALL_SOFTMAX else p for g, p in points.items()}, describe(result)
    assert result["status"] == "flagged"
    assert any(("removed or disabled" in flag or "switched off" in flag) and "softmax" in flag
               for flag in result["flags"]), describe(result)


def test_a_helper_process_started_at_cell_time_computes_nothing_later(graded, exercises):
    """The runner stops every process a cell leaves running: the answer that relies on one fails its own
    part, and the parts after it keep their points."""
    result = graded["helper_process"]
    points = auto_points(exercises["05-quantization"][0])
    assert part_scores(result) == {g: 0.0 if g == "test_round_to_format" else p for g, p in points.items()}, \
        describe(result)


def test_replacing_the_runners_recording_is_flagged(graded, exercises):
    """Every part whose check forbids operators, and so is recorded, earns nothing; a part that
    forbids nothing runs unrecorded, is judged on its outputs alone, and keeps its points."""
    result = graded["replace_runner"]
    spec = exercises[ASSIGNMENT][0]
    watched = {p.grade_id for p in spec.parts if any(checks.get(name).forbid_ops for name, _ in p.checks)}
    assert watched and watched != set(auto_points(spec))
    assert part_scores(result) == {g: 0.0 if g in watched else p for g, p in auto_points(spec).items()}, describe(result)
    assert result["status"] == "flagged", describe(result)
    assert any("removed or disabled" in flag for flag in result["flags"]), describe(result)


def test_swapping_the_profiler_is_flagged(graded, exercises):
    result = graded["set_profile"]
    points = auto_points(exercises[ASSIGNMENT][0])
    assert part_scores(result) == {g: 0.0 if g in CALL_SOFTMAX else p for g, p in points.items()}, describe(result)
    assert any("sys.setprofile" in flag for flag in result["flags"]), describe(result)


def test_a_view_counts_as_reading_bits_only_where_it_names_a_dtype():
    """The format parts forbid reading bits with ``.view``; a reshape written ``.view`` reads none."""
    reshapes = "def f(x, n):\n    return x.contiguous().view(-1), x.view(n, -1), x.view(*x.shape)\n"
    assert integrity.forbidden_uses(reshapes, ("view",)) == []
    for bits in ("x.view(torch.int32)", "np.float32(1.5).view(np.uint32)", "x.view(dtype=d)", "a.view('i4')"):
        assert integrity.forbidden_uses(f"def f(x, a, d):\n    return {bits}\n", ("view",)), bits


def test_forbidden_operators_name_real_operators():
    """A misspelt operator would never be recorded, so the part would forbid nothing."""
    checks._load_all()
    for check_ in checks.REGISTRY.values():
        for name in check_.forbid_ops:
            if name.startswith("aten::"):
                assert hasattr(torch.ops.aten, name.removeprefix("aten::")), (check_.name, name)
            elif name.startswith("aten."):
                assert hasattr(torch.ops.aten, name.removeprefix("aten.")), (check_.name, name)
            elif name == "dtype view":  # a view as another dtype: the runner's DTYPE_VIEW
                assert "aten::view.dtype" in torch._C._dispatch_get_all_op_names()
            elif name.startswith("dtype "):
                assert isinstance(pkgutil.resolve_name(name.removeprefix("dtype ")), torch.dtype), (check_.name, name)
            else:
                assert name.startswith("torch.") and callable(pkgutil.resolve_name(name)), (check_.name, name)


# -- the notebook's structure: prepare alone, nothing runs -------------------------------------------
def test_duplicated_answer_cell_is_flagged(exercises):
    spec, release_nb, answers = exercises[ASSIGNMENT]
    nb = filled(release_nb, answers)
    index = next(i for i, c in enumerate(nb["cells"]) if grade_id(c) == "softmax")
    nb["cells"].insert(index + 1, copy.deepcopy(nb["cells"][index]))
    prepared = grading.prepare(json.dumps(nb).encode(), spec, "twice")
    assert "answer cell 'softmax' appears twice; the last one was graded" in prepared.result["flags"]


def test_altered_points_are_flagged(exercises):
    spec, release_nb, answers = exercises[ASSIGNMENT]
    nb = filled(release_nb, answers)
    next(c for c in nb["cells"] if grade_id(c) == "test_rope")["metadata"]["nbgrader"]["points"] = 40
    next(c for c in nb["cells"] if grade_id(c) == "rope")["metadata"]["nbgrader"]["grade"] = True
    flags = grading.prepare(json.dumps(nb).encode(), spec, "greedy").result["flags"]
    assert any("altered nbgrader metadata (points) of cell 'test_rope'" in f for f in flags), flags
    assert any("altered nbgrader metadata (grade) of cell 'rope'" in f for f in flags), flags


def test_release_as_given_has_no_structure_flags(exercises):
    for name, (spec, release_nb, answers) in exercises.items():
        assert grading.prepare(json.dumps(filled(release_nb, answers)).encode(), spec, name).result["flags"] == []
