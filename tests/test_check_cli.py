"""`python -m autograder check` gives the grader's verdict part by part, and `check_part` works in a kernel.

The corpus is the load test's class of every exercise (``corpus/classroom.py``: right, blank,
partial and subtly wrong answers), chapter 1's quick hostile entries (``corpus/hostile.py``) and
answers written here independently of the reference solutions, each with the result it must get.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import batch, check, course, grading
from autograder.gradebook import GradeStore, sqlite_url
from autograder.spec import load_spec
from autograder.worker import Limits, Worker

from conftest import answered, load, solution_ids, write_submission

sys.path.insert(0, str(Path(__file__).parent / "corpus"))
import classroom  # noqa: E402

ASSIGNMENT = "01-transformers"
PER_ASSIGNMENT = 4  # one of each kind of classroom.KINDS per exercise
LIMITS = Limits(cell_seconds=20, notebook_seconds=120, memory_bytes=2**30, tmp_bytes=64 * 2**20)


@pytest.fixture(scope="module")
def corpus(released, tmp_path_factory):
    exercises, context = classroom.exercises_and_context(released)
    submissions = classroom.build_class(exercises, PER_ASSIGNMENT, context)
    submissions += [s for e in exercises for s in classroom.catalogue(e)]
    root = tmp_path_factory.mktemp("class")
    for sub in submissions:
        write_submission(root, sub.student, sub.assignment, sub.data)
    return root, submissions


# kinds whose expected result needs no guess at which parts an answer affects (the corpus guesses that
# for partial and subtly wrong answers from the names the answers use)
SURE = ("-right", "-blank", "-independent") + tuple(f"-{name}" for name in classroom.HOSTILE)


def sure(sub):
    return sub.student.endswith(SURE) or sub.student.startswith("catalogue-")


def verdict(result):
    """What a student must see the same from check and grade: status, score, flags, and per part
    its score, its visible tests' outcome and each hidden check's outcome."""
    parts = tuple((p["grade_id"], p["score"], p["visible"], tuple(c["passed"] for c in p["checks"]))
                  for p in result["parts"] if not p["manual"])
    return result["status"], result["score"], sorted(result["flags"]), parts


def test_the_corpus_covers_every_exercise(corpus):
    _, submissions = corpus
    for assignment in course.assignments():
        kinds = {s.student.split("-", 1)[1] for s in submissions if s.assignment == assignment}
        assert set(classroom.KINDS) <= kinds, assignment
    assert {s.assignment for s in submissions if s.student.endswith("-independent")} == set(course.assignments())
    assert {s.assignment for s in submissions if s.student.startswith("catalogue-mistakes")} == set(course.assignments())
    assert sum(s.student.startswith("hostile") for s in submissions) == len(classroom.HOSTILE)


def grade_into_fresh_gradebook(root, path):
    """Every submission under ``root`` graded into a new gradebook (a new secret key) at ``path``."""
    with GradeStore(sqlite_url(path)) as store:
        summary = batch.grade_all(root, store, workers=2, limits=LIMITS, progress=False)
        graded = {(r["student"], r["assignment"]): r for r in store.results()}
    errors = {key: r.get("grader_faults") for key, r in graded.items() if r["status"] == "error"}
    assert summary["error"] == 0, f"{summary}: the grader's faults: {errors}"
    return graded


def test_grade_and_check_agree_part_by_part(corpus, tmp_path):
    """The same class graded into a fresh gradebook and checked by ``check`` (two keys, so two draws
    of the random cases) gets the same verdicts, part by part and check by check."""
    root, submissions = corpus
    graded = grade_into_fresh_gradebook(root, tmp_path / "gradebook.db")
    runner = Worker(0, LIMITS, sandbox=True)
    wrong = []
    try:
        for sub in submissions:
            path = root / sub.student / sub.assignment / course.EXERCISE
            spec = check.find_spec(path, path.read_bytes())
            checked = check.check_notebook(path, spec, runner)  # its own seed key, not the gradebook's
            got, by_grade = verdict(checked), verdict(graded[(sub.student, sub.assignment)])
            if got != by_grade:
                wrong.append(f"{sub.assignment}/{sub.student}: check {got}\n  grade {by_grade}")
            scores = tuple((gid, score) for gid, score, *_ in got[3])
            if sure(sub) and (got[0], got[1], scores) != (sub.status, sub.score, sub.part_scores or scores):
                wrong.append(f"{sub.assignment}/{sub.student}: check {got}\n  expected {sub.status} {sub.score}")
            auto_points = sum(p.points for p in spec.parts if not p.manual)
            if check.report(spec, checked)[1] != (by_grade[1] == auto_points):
                wrong.append(f"{sub.assignment}/{sub.student}: the report says passed is {not by_grade[1] == auto_points}")
    finally:
        runner.close()
    assert not wrong, f"{len(wrong)} of {len(submissions)} disagree:\n" + "\n".join(wrong)


def cli_check(path, *args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "autograder", "check", str(path), *args], cwd=cwd,
                          capture_output=True, text=True, env=env)


def lines_of(output, gid):
    """The report's lines of part ``gid`` (a part's line starts with PASS, FAIL or HAND)."""
    return [line for line in output.splitlines() if line[:4] in ("PASS", "FAIL", "HAND") and f"({gid})" in line]


@pytest.fixture
def exercise(released, tmp_path):
    """Chapter 1's release and source notebooks, and a folder named like the assignment to save into."""
    folder = tmp_path / "work" / ASSIGNMENT
    folder.mkdir(parents=True)
    return load(released / ASSIGNMENT / course.EXERCISE), load(course.source_notebook(ASSIGNMENT)), folder


def test_reference_answers_pass_and_nothing_is_written(exercise):
    release_nb, source_nb, folder = exercise
    nb = answered(release_nb, source_nb, solution_ids(source_nb))
    # a check_part cell of its own, as the release's last cells suggest: the grader skips it
    nb["cells"].insert(5, nbformat.v4.new_code_cell('from autograder import check_part\ncheck_part("softmax")'))
    path = folder / course.EXERCISE
    path.write_text(json.dumps(nb))
    before = sorted(folder.parent.rglob("*"))
    result = cli_check(path.name, cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    spec = load_spec(course.source_notebook(ASSIGNMENT))
    for part in spec.parts:
        [line] = lines_of(result.stdout, part.grade_id)
        assert line.startswith("HAND" if part.manual else "PASS"), line
    auto = sum(p.points for p in spec.parts if not p.manual)
    assert f"Total: {auto:g}/{auto:g} autograded points" in result.stdout
    assert "Notes from the grader" not in result.stdout and "in the grader's sandbox" in result.stdout
    assert sorted(folder.parent.rglob("*")) == before  # no gradebook, no file of any kind


def test_blank_release_fails_every_part_even_without_the_sandbox(exercise, tmp_path):
    release_nb, _, folder = exercise
    (folder / course.EXERCISE).write_text(json.dumps(release_nb))
    env = dict(os.environ, AUTOGRADER_BWRAP=str(tmp_path / "no-such-bwrap"))
    result = cli_check(course.EXERCISE, cwd=folder, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "WITHOUT the grader's sandbox" in result.stdout and "no-such-bwrap" in result.stdout
    for part in load_spec(course.source_notebook(ASSIGNMENT)).parts:
        [line] = lines_of(result.stdout, part.grade_id)
        assert line.startswith("HAND" if part.manual else "FAIL"), line
    assert "NotImplementedError" in result.stdout


def test_part_reports_one_part(exercise):
    release_nb, source_nb, folder = exercise
    path = folder.parent / "anywhere.ipynb"  # not in an assignment's folder: found by its cells
    path.write_text(json.dumps(answered(release_nb, source_nb, ["softmax"])))
    result = cli_check(path, "--part", "softmax", cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines_of(result.stdout, "test_softmax")[0].startswith("PASS")
    assert not lines_of(result.stdout, "test_causal_mask")


def test_what_cannot_be_checked_says_what_to_do(exercise, tmp_path, capsys):
    release_nb, _, folder = exercise
    (folder / course.EXERCISE).write_text(json.dumps(release_nb))
    stray = tmp_path / "stray.ipynb"
    stray.write_text(json.dumps({"cells": [], "nbformat": 4, "metadata": {}}))
    for args, needle in [((tmp_path / "missing.ipynb",), "is not a file"),
                         ((folder / course.EXERCISE, "no_such_part"), "has no part 'no_such_part'"),
                         ((folder / course.EXERCISE, "written_encoder_decoder"), "graded by hand"),
                         ((stray,), "pass --assignment"),
                         ((stray, None, "99-nothing"), "unknown exercise '99-nothing'")]:
        assert check.main(*args) == 2
        assert needle in capsys.readouterr().err


def test_a_retried_fault_of_the_graders_own_code_is_not_reported_as_the_sandboxs():
    spec = load_spec(course.source_notebook(ASSIGNMENT))
    result = grading.new_result(check.STUDENT, ASSIGNMENT, spec, "")
    result["grader_faults"] = ["RuntimeError: injected fault of the grader"]
    text, _ = check.report(spec, result)
    [note] = [line for line in text.splitlines() if "injected fault" in line]
    assert "grader itself failed" in note and "not your code" in note and "sandbox failed" not in note, note


def test_self_check_cells_are_recognised_and_nothing_else():
    for source in [course.CHECK_CELL, 'from autograder import check_part\ncheck_part("softmax")',
                   'from autograder import check_part; check_part("rope", assignment="01-transformers")']:
        assert course.is_self_check(source), source
    for source in ["", "!ls", 'from autograder import check_part\nimport solutions', "check_part(softmax)",
                   'from autograder import check_part as c\nc("softmax")', "from autograder.checks import check",
                   'check_part("softmax")\nESCAPED = True', 'check_part(*["softmax"])']:
        assert not course.is_self_check(source), source


def test_check_part_in_a_running_kernel(exercise):
    """A notebook that calls check_part, then runs the release's own check cell, in a fresh kernel."""
    release_nb, source_nb, folder = exercise
    nb = answered(release_nb, source_nb, ["softmax"])
    nb["cells"][-1:-1] = [
        nbformat.v4.new_code_cell(source) for source in [
            'from autograder import check_part\ncheck_part("softmax")',
            "def causal_mask(seq_len):\n    return torch.ones(seq_len, seq_len, dtype=torch.bool)",
            'check_part("test_causal_mask")',
            "def softmax(x, dim=-1):\n    return torch.softmax(x, dim=dim)",
            'check_part("softmax")',
        ]]
    path = folder / course.EXERCISE
    path.write_text(json.dumps(nb))
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    out = {i: "".join(o.get("text", "") for o in c.outputs) for i, c in enumerate(nb.cells) if c.cell_type == "code"}
    right, wrong, forbidden, command = [out[len(nb.cells) - k] for k in (6, 4, 2, 1)]
    assert "hidden checks passed" in right and "transformers.softmax" in right and "passed:" in right
    assert "hidden checks FAILED" in wrong and "transformers.causal_mask" in wrong and "failed: causal_mask(" in wrong
    assert "hidden checks FAILED" in forbidden and "torch.softmax" in forbidden
    # the release's check cell graded the saved notebook: the forbidden softmax costs part 1, and
    # the check_part cells, which import autograder, were skipped rather than flagged
    # a kernel outside JupyterLab and VS Code does not say which file it runs: the cell says so and checks
    # the exercise in its folder (autograder/check_cell.py)
    assert "this editor does not say which file this is" in command, command
    assert f"Checking {path} ({ASSIGNMENT})" in command, command
    assert lines_of(command, "test_softmax")[0].startswith("FAIL") and "torch.softmax" in command
    assert "reference package" not in command and "exit status 1" in command


def test_check_part_fails_an_answer_that_changes_its_argument(capsys):
    """The caller's scores must be left as they were: an answer that shifts them in place fails, and
    the verdict names the argument (as ``grade`` does, in the sandbox's runner)."""
    namespace = {}
    exec(compile("import torch\nfrom autograder import check_part\n\n"
                 "def softmax(x, dim=-1):\n"
                 "    x -= torch.logsumexp(x, dim=dim, keepdim=True)\n"
                 "    return x.exp_()\n\n"
                 "check_part('softmax')\n", "<an answer cell>", "exec"), namespace)
    out = " ".join(capsys.readouterr().out.split())
    assert "hidden checks FAILED" in out and "changed its argument x in place" in out, out



BYTES_AS = '''
from decimal import Decimal
from fractions import Fraction

def bytes_per_value(dtype):
    bits = {"fp32": 32, "fp16": 16, "bf16": 16, "int8": 8, "fp8": 8, "int4": 4}
    if dtype not in bits:
        raise ValueError(f"{dtype!r} is not one of {sorted(bits)}")
    return %s(bits[dtype]) / 8
'''


def bytes_per_value_outcome(number, where):
    """The hidden check of ``bytes_per_value`` on an answer that returns a ``number`` (a type's name),
    called in the grader's sandbox or in the student's kernel (``check_part``)."""
    source = BYTES_AS % number
    if where == "kernel":
        namespace = {}
        exec(compile(source, "<an answer cell>", "exec"), namespace)
        return grading.run_check(check._call_here(namespace), "memory.bytes_per_value", "bytes_per_value", 1)
    outcomes = []

    def drive(w):
        w.request({"op": "cell", "index": 0, "source": source})
        outcomes.append(grading.run_check(w.request, "memory.bytes_per_value", "bytes_per_value", 1, recorded=True))

    worker = Worker(0, LIMITS)
    try:
        failure = worker.run_submission(drive)
    finally:
        worker.close()
    assert failure is None, failure.reason
    return outcomes[0]


@pytest.mark.parametrize("where", ["sandbox", "kernel"])
def test_a_number_of_another_type_counts_as_the_number_it_equals(where):
    """``Fraction(4, 8)`` is the 0.5 bytes of int4 (numpy's scalars are read the same way); a value the
    grader cannot read fails its case with a message that says so, not as if the function raised."""
    assert bytes_per_value_outcome("Fraction", where)["passed"]
    unread = bytes_per_value_outcome("Decimal", where)
    assert not unread["passed"], unread
    assert "returned a value of type Decimal, which the grader cannot read" in unread["message"], unread
    assert "raised" not in unread["message"], unread


def test_an_answer_cell_that_raises_is_named_in_its_parts_report(exercise):
    """A cell that raises after defining a right function costs nothing (the grader runs every cell, as
    nbgrader does) but its part's report says that Run All stops there; a part that fails because its
    cell raised before the function was defined says so."""
    release_nb, source_nb, folder = exercise
    nb = answered(release_nb, source_nb, ["softmax", "causal_mask"])
    for cell in nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        source = "".join(cell["source"])
        if gid == "softmax":
            cell["source"] = source + "\nraise RuntimeError('left over from testing')\n"
        elif gid == "causal_mask":
            cell["source"] = "raise RuntimeError('not finished')\n" + source
    path = folder / course.EXERCISE
    path.write_text(json.dumps(nb))
    output = cli_check(path.name, cwd=folder).stdout
    report = " ".join(output.split())
    assert lines_of(output, "test_softmax")[0].startswith("PASS"), output
    assert "raised RuntimeError: left over from testing" in report and "Run All stops at that cell" in report, output
    assert lines_of(output, "test_causal_mask")[0].startswith("FAIL"), output
    assert "raised RuntimeError: not finished" in report, output
