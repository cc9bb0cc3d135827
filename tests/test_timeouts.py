"""Time limits that are fair to correct code, and a timeout or crash that costs only its own part.

- An answer that hangs, or kills its process, only while a hidden check calls it (its visible
  tests pass) loses that part alone; the grader restarts the sandbox, replays the cells before it
  and grades the later parts, and the report names the check and the limit.
- A timeout is the student's only when the course's own answer fits the limit comfortably on the
  same machine then; a machine too slow for the reference is the grader's fault: status "error",
  never 0 points.
- On a machine kept busy (a CPU burner per core for the whole grading), a correct but loop-heavy
  answer to every assignment earns every autograded point with ``grade`` and with ``check``.
"""

import json
import multiprocessing
import os
import sys
from pathlib import Path

import pytest

from autograder import batch, check, course, grading
from autograder.gradebook import GradeStore, sqlite_url
from autograder.spec import load_spec
from autograder.worker import Limits, Worker

from conftest import write_submission

sys.path.insert(0, str(Path(__file__).parent / "corpus"))
import classroom  # noqa: E402
from loop_heavy import loop_heavy  # noqa: E402

LIMITS = Limits(cell_seconds=4, notebook_seconds=120, memory_bytes=2**30, tmp_bytes=64 * 2**20)
# true only while the sandbox's runner calls the function for a hidden check (its `call`), never in
# the visible tests, which run as a cell
IN_HIDDEN_CHECK = ("import sys as _sys\n"
                   "def _in_hidden_check():\n"
                   "    frame = _sys._getframe(1)\n"
                   "    while frame is not None:\n"
                   "        if frame.f_code.co_name == 'call' and frame.f_code.co_filename.endswith('runner.py'):\n"
                   "            return True\n"
                   "        frame = frame.f_back\n"
                   "    return False\n")


def with_trap(source, function, trap):
    """``source`` whose ``function`` first runs ``trap`` when a hidden check calls it."""
    return IN_HIDDEN_CHECK + source.replace(f"def {function}(", f"def _{function}_inner(", 1) + (
        f"\ndef {function}(*args, **kwargs):\n    if _in_hidden_check():\n        {trap}\n"
        f"    return _{function}_inner(*args, **kwargs)\n")


@pytest.fixture(scope="module")
def exercises(released):
    return {e.assignment: e for e in classroom.exercises_and_context(released)[0]}


def answered(exercise, sources):
    """The release answered with the reference, but the cells of ``sources`` (grade id -> source)."""
    nb = exercise.notebook(exercise.answers)
    for cell in nb["cells"]:
        if classroom._gid(cell) in sources:
            cell["source"] = sources[classroom._gid(cell)]
    return json.dumps(nb).encode()


def first_exercise_notebook(exercises, gid, source):
    return answered(exercises["01-transformers"], {gid: source})


def grade(tmp_path, submissions, limits=LIMITS):
    for student, assignment, data in submissions:
        write_submission(tmp_path / "submitted", student, assignment, data)
    with GradeStore(sqlite_url(tmp_path / "gradebook.db")) as store:
        batch.grade_all(tmp_path / "submitted", store, workers=2, limits=limits, progress=False)
        return {r["student"]: r for r in store.results()}


def test_a_hang_or_crash_in_one_hidden_check_costs_that_part_alone(exercises, tmp_path):
    answers = exercises["01-transformers"].answers
    hang = first_exercise_notebook(exercises, "sinusoidal_positions",
                                   with_trap(answers["sinusoidal_positions"], "sinusoidal_positions", "while True: pass"))
    crash = first_exercise_notebook(exercises, "rope", with_trap(answers["rope"], "rope", "import os; os._exit(3)"))
    graded = grade(tmp_path, [("hang", "01-transformers", hang), ("crash", "01-transformers", crash)])
    spec = load_spec(course.source_notebook("01-transformers"), "01-transformers")
    for student, lost in (("hang", "test_sinusoidal_positions"), ("crash", "test_rope")):
        result = graded[student]
        parts = {p["grade_id"]: p for p in result["parts"] if not p["manual"]}
        assert {g: p["score"] for g, p in parts.items()} == {
            p.grade_id: 0.0 if p.grade_id == lost else p.points for p in spec.parts if not p.manual}, student
        assert result["status"] == "graded" and result["flags"] == [], result["flags"]
        error = parts[lost]["error"]
        if student == "hang":
            assert error.startswith("timeout: the hidden check transformers.sinusoidal_positions (calling "
                                    "sinusoidal_positions) ran longer than the limit of 4 s per cell or check"), error
            assert error.endswith("(the course's answer takes at most a tenth of it there)"), error
        else:
            assert "the hidden check transformers.rope (calling rope) stopped the notebook" in error
            assert "exited (code 3)" in error
    report = " ".join(check.report(spec, graded["hang"])[0].split())  # as one line: the report wraps at words
    assert "FAIL Part 5" in report and "PASS Part 6" in report and "did not run" not in report
    assert "transformers.sinusoidal_positions (calling sinusoidal_positions) ran longer than the limit of 4 s" in report


def test_a_hang_in_a_called_answer_costs_its_own_part_alone(exercises, tmp_path):
    """Multi-head attention calls the student's attention: when that hangs in the hidden checks, both
    parts time out, and multi-head attention is judged again with the course's attention in place
    of the failed one, as a wrong answer would be (one mistake costs one part)."""
    answers = exercises["01-transformers"].answers
    hang = first_exercise_notebook(exercises, "scaled_dot_product_attention", with_trap(
        answers["scaled_dot_product_attention"], "scaled_dot_product_attention", "while True: pass"))
    result = grade(tmp_path, [("hang", "01-transformers", hang)])["hang"]
    spec = load_spec(course.source_notebook("01-transformers"), "01-transformers")
    parts = {p["grade_id"]: p for p in result["parts"] if not p["manual"]}
    lost = "test_scaled_dot_product_attention"
    assert {g: p["score"] for g, p in parts.items()} == {
        p.grade_id: 0.0 if p.grade_id == lost else p.points for p in spec.parts if not p.manual}
    assert parts[lost]["error"].startswith("timeout: the hidden check"), parts[lost]["error"]
    assert "one mistake costs one part" in parts["test_multi_head_self_attention"]["note"]


def test_a_machine_too_slow_for_the_reference_is_the_graders_fault(exercises, tmp_path, monkeypatch):
    """With the comfort factor raised beyond any reference, every timeout must become a grader
    fault: the submission is retried, then recorded as status "error" with no score, never 0 points."""
    monkeypatch.setattr(grading, "COMFORT", 10**9)
    answers = exercises["01-transformers"].answers
    hang = first_exercise_notebook(exercises, "sinusoidal_positions",
                                   with_trap(answers["sinusoidal_positions"], "sinusoidal_positions", "while True: pass"))
    result = grade(tmp_path, [("hang", "01-transformers", hang)])["hang"]
    assert result["status"] == "error", result["flags"]
    assert all(p["score"] is None for p in result["parts"])
    assert any("the machine is too slow, not the answer" in fault for fault in result["grader_faults"])


def burn():
    while True:
        pass


def test_a_busy_machine_costs_a_loop_heavy_correct_answer_nothing(exercises, tmp_path):
    submissions = []
    for assignment, exercise in sorted(exercises.items()):
        slow = {gid: loop_heavy(source) for gid, source in exercise.answers.items()}
        submissions.append(("loop-heavy", assignment, answered(exercise, slow)))
    burners = [multiprocessing.get_context("spawn").Process(target=burn, daemon=True) for _ in range(os.cpu_count())]
    for burner in burners:
        burner.start()
    try:
        graded = grade(tmp_path, submissions, Limits())
        runner = Worker(0, Limits(), sandbox=True)
        try:
            checked = {}
            for student, assignment, data in submissions:
                path = tmp_path / "submitted" / student / assignment / course.EXERCISE
                checked[assignment] = check.check_notebook(path, check.find_spec(path, data), runner)
        finally:
            runner.close()
        assert all(burner.is_alive() for burner in burners), "the machine was busy for the whole grading"
    finally:
        for burner in burners:
            burner.kill()
    with GradeStore(sqlite_url(tmp_path / "gradebook.db")) as store:
        by_assignment = {r["assignment"]: r for r in store.results()}
    for assignment in exercises:
        spec = load_spec(course.source_notebook(assignment), assignment)
        auto = sum(p.points for p in spec.parts if not p.manual)
        for how, result in (("grade", by_assignment[assignment]), ("check", checked[assignment])):
            failing = [(p["grade_id"], p["error"], [c["message"] for c in p["checks"] if not c["passed"]])
                       for p in result["parts"] if not p["manual"] and p["score"] != p["points"]]
            assert result["score"] == auto, f"{assignment} by {how}: {result['score']}/{auto}: {failing}"
