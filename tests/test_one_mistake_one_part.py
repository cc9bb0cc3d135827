"""One mistake costs one part: a part whose answer calls another part's wrong answer keeps its points.

For every answer cell that another part's answer calls (chapter 1's attention calls softmax,
multi-head attention calls attention and the mask, sampling calls the filters, ...), a notebook holds
the reference's answers but that cell, which holds a mistake of the catalogue (``corpus/mistakes/``).
Only the called part may lose its points, in ``grade`` and in ``check`` alike. Chapter 1's delegation
case is here too: attention that reaches torch's own through a name built at run time earns 0, and
multi-head attention, which calls it, keeps its 6 points.
"""

import json
import sys
from pathlib import Path

import pytest

from autograder import batch, check, course
from autograder.spec import load_spec
from autograder.gradebook import GradeStore, sqlite_url
from autograder.worker import Limits, Worker

from conftest import write_submission

sys.path.insert(0, str(Path(__file__).parent / "corpus"))
import classroom  # noqa: E402
import mistakes  # noqa: E402

LIMITS = Limits(cell_seconds=20, notebook_seconds=120, memory_bytes=2**30, tmp_bytes=64 * 2**20)
DELEGATING_ATTENTION = '''def scaled_dot_product_attention(q, k, v, mask=None):
    import torch.nn.functional as nnf
    built_in = getattr(nnf, "scaled_dot_" + "product_attention")
    return built_in(q, k, v, attn_mask=mask)
'''


def called_cells(exercise):
    """Answer cells that another answer calls: grade id -> the function of its part."""
    found = {}
    for gid, source in exercise.answers.items():
        for name in classroom._names_used(source):
            callee = exercise.cell_of.get(name)
            if callee and callee != gid:
                found[callee] = name
    return found


def notebook(exercise, gid, source):
    nb = exercise.notebook(exercise.answers)
    next(c for c in nb["cells"] if classroom._gid(c) == gid)["source"] = source
    return json.dumps(nb).encode()


@pytest.fixture(scope="module")
def cases(released):
    """``(student, assignment, data, the grade id of the part that must lose its points)``."""
    exercises, _ = classroom.exercises_and_context(released)
    catalogues = {module.ASSIGNMENT: module for module in mistakes.catalogues()}
    found = []
    for exercise in exercises:
        for gid, function in sorted(called_cells(exercise).items()):
            part = next(p for p in exercise.parts if function in {f for _, f in p.checks})
            catalogue = catalogues[exercise.assignment].MISTAKES[function]
            # its first mistake, and one that changes its arguments in place (the caller's tensors)
            chosen = [next(iter(catalogue))] + [name for name in catalogue if "in place" in name][:1]
            for i, name in enumerate(chosen):
                found.append((f"wrong-{gid}-{i}", exercise.assignment, notebook(exercise, gid, catalogue[name]),
                              part.grade_id))
    first = exercises[0]
    found.append(("delegating-attention", first.assignment,
                  notebook(first, "scaled_dot_product_attention", DELEGATING_ATTENTION),
                  "test_scaled_dot_product_attention"))
    return found


def scores(result):
    return {p["grade_id"]: p["score"] for p in result["parts"] if not p["manual"]}


def expected(assignment, wrong_part):
    spec = load_spec(course.source_notebook(assignment), assignment)
    return {p.grade_id: 0.0 if p.grade_id == wrong_part else p.points for p in spec.parts if not p.manual}


def test_every_assignment_with_calls_between_parts_is_covered(cases):
    assert {assignment for _, assignment, _, _ in cases} >= {"01-transformers", "02-in-context-learning",
                                                              "04-gpu-memory", "05-quantization"}


def test_only_the_wrong_part_loses_points_in_grade_and_check(cases, tmp_path):
    for student, assignment, data, _ in cases:
        write_submission(tmp_path / "submitted", student, assignment, data)
    with GradeStore(sqlite_url(tmp_path / "gradebook.db")) as store:
        summary = batch.grade_all(tmp_path / "submitted", store, workers=2, limits=LIMITS, progress=False)
        graded = {r["student"]: r for r in store.results()}
    assert summary["error"] == 0, summary
    runner = Worker(0, LIMITS, sandbox=True)
    wrong = []
    try:
        for student, assignment, data, wrong_part in cases:
            path = tmp_path / "submitted" / student / assignment / course.EXERCISE
            checked = check.check_notebook(path, check.find_spec(path, data), runner)
            want = expected(assignment, wrong_part)
            for how, result in (("grade", graded[student]), ("check", checked)):
                if scores(result) != want:
                    wrong.append(f"{assignment}/{student} by {how}: {scores(result)}, want {want}")
    finally:
        runner.close()
    assert not wrong, "\n".join(wrong)
    notes = [p.get("note") or "" for p in graded["delegating-attention"]["parts"]]
    assert any("scaled_dot_product_attention" in note for note in notes), notes
