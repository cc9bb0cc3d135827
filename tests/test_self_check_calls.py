"""The course's own tools never cost a point (issue 25): ``check_part`` and its import, in any cell,
are left out of what runs in the sandbox, with a note, while every other way of reaching the course's
packages stays forbidden; a forbidden name counts only where code uses it; what ``check`` and
``check_part`` say to a student.

Notebooks are the released exercises with the source's answers (``conftest.answered``), graded in
the sandbox by :func:`grading.prepare` and :func:`grading.run_with_retry`, and checked by
:func:`check.check_notebook`, all in one worker.
"""

import ast
import json
import linecache

import nbformat
import pytest

from autograder import check, checks, course, grading, integrity
from autograder.spec import load_spec
from autograder.worker import Limits, Worker

from conftest import answered, grade_id, load, solution_ids

ASSIGNMENT = "01-transformers"
SELF_CHECK = 'from autograder import check_part; check_part("{function}")'
# what the grader may leave out, one statement each, and sources it must leave as they are
DROPPED = ["from autograder import check_part", "import autograder", 'check_part("softmax")',
           'autograder.check_part("rope", assignment="01-transformers")', 'check_part(\n    "softmax",\n)']
# (source, whether other code naming check_part keeps every self-check in, whether the scan flags it)
KEPT = [("from autograder import check_part as c\nc('softmax')", False, True),  # an alias
        ("from autograder.checks import REGISTRY", False, True),
        ("import autograder, os", False, True),
        ("import autograder as a", False, True),
        ("if True:\n    from autograder import check_part", False, True),  # not at the top level
        ("import importlib\nimportlib.import_module('autogr' + 'ader')", False, False),  # refused at run time
        ("name = 'softmax'\ncheck_part(name)", True, False),  # not a literal argument
        ("result = check_part('softmax')", True, False),  # not a bare call
        ("from autograder import check_part\nf = check_part", True, True),  # the name used elsewhere
        ("import autograder\nautograder.checks.REGISTRY.clear()", True, True),
        ("from autograder import check_part\n%time check_part('softmax')", True, False)]  # does not parse


def answer_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code" and c["metadata"].get("nbgrader", {}).get("solution")
            and not c["metadata"]["nbgrader"].get("grade")]


def with_self_checks(nb, statement=SELF_CHECK):
    """``nb`` with ``statement`` (formatted with the cell's grade id) appended to every answer cell."""
    for cell in answer_cells(nb):
        cell["source"] = "".join(cell["source"]).rstrip("\n") + "\n" + statement.format(function=grade_id(cell))
    return nb


def auto_points(spec):
    return sum(p.points for p in spec.parts if not p.manual)


def describe(result):
    return (f"{result['status']}, {result['score']:g} points, flags {result['flags']}, notes {result.get('notes')}, "
            f"parts {[(p['grade_id'], p['score'], p['error']) for p in result['parts']]}")


# -- which statements are left out: the source alone ------------------------------------------------
@pytest.mark.parametrize("statement", DROPPED)
def test_a_self_check_statement_becomes_pass_and_the_rest_keeps_its_lines(statement):
    source = f"def softmax(x, dim=-1):\n    return x  # uses softmax\n{statement}; y = 1\nz = 2\n"
    [changed], dropped = course.drop_self_checks([source])
    assert dropped == [0]
    assert changed.splitlines()[:2] == source.splitlines()[:2] and changed.splitlines()[-1] == "z = 2"
    assert len(changed.splitlines()) == len(source.splitlines())  # a traceback's line numbers still hold
    tree = ast.parse(changed)
    assert [type(n).__name__ for n in tree.body] == ["FunctionDef", "Pass", "Assign", "Assign"], changed
    assert integrity.uses_protected_package(changed) is None


def test_every_self_check_statement_of_a_cell_goes_and_a_cell_ending_on_a_call_still_parses():
    source = "import torch\nfrom autograder import check_part\ncheck_part(\n    'softmax'\n)"
    [changed], dropped = course.drop_self_checks([source])
    assert dropped == [0] and changed == "import torch\npass\npass\n\n", repr(changed)


@pytest.mark.parametrize("source, keeps_all, flagged", KEPT)
def test_anything_else_that_reaches_the_package_is_left_as_it_is(source, keeps_all, flagged):
    """And stays forbidden: the static scan still sees the import, or the sandbox refuses it at run time
    (a call without the import then fails on its own, as any name never defined does)."""
    cells = [source, 'check_part("softmax")']  # a self-check elsewhere
    changed, dropped = course.drop_self_checks(cells)
    assert changed[0] == source
    assert (changed, dropped) == ((cells, []) if keeps_all else ([source, "pass"], [1])), changed
    assert integrity.uses_protected_package(changed[0]) == ("autograder" if flagged else None)


# -- a forbidden name counts only as code that uses it ----------------------------------------------
@pytest.mark.parametrize("source, found", [
    ('check_part("softmax")', []),
    ('def softmax(x, dim=-1):\n    """Not torch.softmax: "softmax" by hand."""\n    return "softmax"', []),
    ("x = 1  # torch.softmax would do", []),
    ('if fmt == "softmax":\n    pass', []),
    ("torch.softmax(x, dim)", ["torch.softmax"]),
    ("from torch.nn.functional import softmax", ["torch.nn.functional.softmax"]),
    ("getattr(torch, 'softmax')(x)", ["getattr(torch, 'softmax')"]),
    ("torch.__getattribute__('log_softmax')(x)", ["torch.__getattribute__('log_softmax')"]),
    ("vars(torch)['softmax'](x)", ["vars(torch)['softmax']"]),
    ("torch.__dict__['softmax'](x)", ["torch.__dict__['softmax']"]),
    ("operator.methodcaller('softmax', 0)(x)", ["operator.methodcaller('softmax', 0)"]),
    ("pkgutil.resolve_name('torch.softmax')(x)", ["pkgutil.resolve_name('torch.softmax')"]),
])
def test_a_forbidden_name_counts_as_code_or_a_looked_up_name_only(source, found):
    assert integrity.forbidden_uses(source, checks.get("transformers.softmax").forbid) == found


def test_a_module_looked_up_by_a_literal_path_counts():
    forbid = checks.get("quantization.absmax_quantize").forbid
    assert integrity.forbidden_uses("importlib.import_module('torch.ao.quantization')", forbid) == [
        "importlib.import_module('torch.ao.quantization')"]


# -- grade and check, in the sandbox ---------------------------------------------------------------
@pytest.fixture(scope="module")
def exercises(released):
    """assignment -> (spec, release notebook, source notebook) for every exercise."""
    return {name: (load_spec(course.source_notebook(name), name), load(released / name / course.EXERCISE),
                   load(course.source_notebook(name))) for name in course.assignments()}


def right(exercises, name):
    spec, release_nb, source_nb = exercises[name]
    return answered(release_nb, source_nb, solution_ids(source_nb))


def set_cell(nb, gid, source):
    next(c for c in nb["cells"] if grade_id(c) == gid)["source"] = source
    return nb


def insert_after(nb, gid, source):
    at = next(i for i, c in enumerate(nb["cells"]) if grade_id(c) == gid)
    nb["cells"].insert(at + 1, nbformat.v4.new_code_cell(source))
    return nb


def notebooks(exercises):
    """name -> (assignment, notebook): what the tests below grade and check."""
    found = {f"self-check-{name}": (name, with_self_checks(right(exercises, name))) for name in exercises}
    # the other forms, and a call whose import is in another cell
    nb = with_self_checks(right(exercises, ASSIGNMENT), 'import autograder\nautograder.check_part("{function}")')
    nb = set_cell(nb, "rope", "".join(next(c["source"] for c in exercises[ASSIGNMENT][2]["cells"]
                                           if grade_id(c) == "rope")) + '\ncheck_part("rope")\n')
    found["other-forms"] = (ASSIGNMENT, insert_after(nb, "setup", "from autograder import check_part\nx = 1\n"))
    # a string equal to a forbidden name, in the cell that defines softmax, is no use of it
    softmax = "".join(next(c["source"] for c in exercises[ASSIGNMENT][2]["cells"] if grade_id(c) == "softmax"))
    found["string"] = (ASSIGNMENT, set_cell(right(exercises, ASSIGNMENT), "softmax", softmax + '\nNAME = "softmax"\n'))
    # still forbidden
    found["alias"] = (ASSIGNMENT, insert_after(right(exercises, ASSIGNMENT), "test_softmax",
                                               "from autograder import check_part as c\nc('softmax')\n"))
    found["registry"] = (ASSIGNMENT, insert_after(with_self_checks(right(exercises, ASSIGNMENT)), "softmax",
                                                  "from autograder.checks import REGISTRY\n"))
    found["import-module"] = (ASSIGNMENT, insert_after(
        with_self_checks(right(exercises, ASSIGNMENT)), "test_causal_mask",
        "import importlib\ntry:\n    importlib.import_module('autogr' + 'ader')\nexcept ImportError:\n    pass\n"))
    found["solutions"] = (ASSIGNMENT, set_cell(with_self_checks(right(exercises, ASSIGNMENT)), "causal_mask",
                                               "from solutions.transformers import causal_mask\n"))
    # the messages: softmax answered, attention raising an error of its own, the rest not started
    nb = answered(exercises[ASSIGNMENT][1], exercises[ASSIGNMENT][2], ["softmax"])
    found["partial"] = (ASSIGNMENT, set_cell(nb, "scaled_dot_product_attention",
                                             "def scaled_dot_product_attention(q, k, v, mask=None):\n"
                                             "    raise ValueError('attention is not written yet')\n"))
    return found


@pytest.fixture(scope="module")
def results(exercises, tmp_path_factory):
    """name -> (graded result, checked result, check's report, whether it passed)."""
    root = tmp_path_factory.mktemp("self-check")
    runner = Worker(0, Limits(cell_seconds=30, notebook_seconds=120))
    found = {}
    try:
        for name, (assignment, nb) in notebooks(exercises).items():
            spec = exercises[assignment][0]
            path = root / name / assignment / course.EXERCISE
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps(nb))
            graded = grading.run_with_retry(grading.prepare(path.read_bytes(), spec, name, b"key"), runner)
            checked = check.check_notebook(path, spec, runner)
            found[name] = (graded, checked, *check.report(spec, checked))
    finally:
        runner.close()
    return found


@pytest.mark.parametrize("name", course.assignments())
def test_check_part_at_the_end_of_every_answer_cell_costs_nothing(results, exercises, name):
    spec = exercises[name][0]
    graded, checked, text, passed = results[f"self-check-{name}"]
    for result in (graded, checked):
        assert (result["status"], result["score"], result["flags"]) == ("graded", auto_points(spec), []), describe(result)
        [note] = result["notes"]
        assert "left out check_part and its import" in note and "never cost a point" in note, note
        assert all(f" {grade_id(c)}" in note for c in answer_cells(exercises[name][1])), note
    assert passed and "Note: the grader left out check_part" in text, text


def test_every_form_of_the_call_costs_nothing_and_a_quoted_name_is_no_use(results, exercises):
    spec = exercises[ASSIGNMENT][0]
    for name in ("other-forms", "string"):
        for result in results[name][:2]:
            assert (result["status"], result["score"], result["flags"]) == ("graded", auto_points(spec), []), describe(result)
    [note] = results["other-forms"][0]["notes"]
    assert "the answer cells of softmax, causal_mask" in note and "cell 3, which you added" in note, note
    assert "notes" not in results["string"][0]


@pytest.mark.parametrize("name, flag", [
    ("alias", "the submission imports the course's reference package: autograder in cell 6, which you added"),
    ("registry", "the submission imports the course's reference package: autograder in cell 5, which you added"),
    ("import-module", "the submission imports the course's reference package: autograder in cell 9, which you "
                      "added, seen at run time"),
    ("solutions", "the submission imports the course's reference package: solutions in answer cell 'causal_mask' "
                  "(cell 7)"),
])
def test_every_other_way_to_the_course_packages_stays_forbidden_and_names_its_cell(results, name, flag):
    for result in results[name][:2]:
        assert result["status"] == "flagged" and result["score"] == 0, describe(result)
        assert flag in result["flags"], describe(result)
        assert all(p["error"] == flag for p in result["parts"] if not p["manual"]), describe(result)


def test_report_says_not_started_in_one_line_and_shows_only_values_the_failing_line_reads(results):
    _, checked, text, passed = results["partial"]
    assert not passed
    lines = text.splitlines()
    unstarted = [line for line in lines if line.endswith("; not started")]
    assert len(unstarted) == 5 and all(line.startswith("FAIL") for line in unstarted), text
    assert [p["grade_id"] for p in checked["parts"] if p.get("not_started")] == [
        "test_causal_mask", "test_multi_head_self_attention", "test_sinusoidal_positions", "test_rope",
        "test_transformer_block"]
    assert "raised NotImplementedError" not in text and "NotImplementedError:" not in text, text
    assert lines[-1] == "(Not started: the answer still raises NotImplementedError, as the release leaves it.)"
    # Part 3 failed on its own error: shown in full, with q, k and v, but not the `out` Part 1's test left
    at = next(i for i, line in enumerate(lines) if "(test_scaled_dot_product_attention)" in line)
    part3 = lines[at:next(i for i in range(at + 1, len(lines)) if lines[i][:4] in ("PASS", "FAIL", "HAND"))]
    error = next(p["error"] for p in checked["parts"] if p["grade_id"] == "test_scaled_dot_product_attention")
    assert "where out = " in error, error  # the sandbox names it; the report leaves it out
    assert "attention is not written yet" in text and "where q = " in text and "where out" not in text, part3
    assert all(len(line) <= check.WIDTH for line in lines if line[:4] not in ("PASS", "FAIL", "HAND")), text


def test_where_values_of_names_the_line_assigns_are_left_out():
    error = ("ValueError: boom\nat line 3 of the cell: out = f(x, n=n_heads)\n  where n_heads = 2\n"
             "  where out = tensor(1, 3) float32\n  where x = tensor(2,) float32")
    assert check.relevant_lines(error) == ["ValueError: boom", "at line 3 of the cell: out = f(x, n=n_heads)",
                                           "  where n_heads = 2", "  where x = tensor(2,) float32"]
    augmented = "ValueError: boom\nat line 1 of the cell: total += f(x)\n  where total = 3\n  where x = 1"
    assert check.relevant_lines(augmented) == augmented.splitlines()


def test_placeholders_are_the_releases_bodies_only(exercises):
    for name, (spec, release_nb, source_nb) in exercises.items():
        for cell in answer_cells(release_nb):
            source = "".join(cell["source"])
            if "raise NotImplementedError(" in source:
                assert grade_id(cell) in check.placeholders(source), (name, grade_id(cell))
        for cell in answer_cells(source_nb):
            assert check.placeholders("".join(cell["source"])) == set(), grade_id(cell)
    assert check.placeholders("def f():\n    x = 1\n    raise NotImplementedError") == set()
    assert check.placeholders("def f():\n    '''doc'''\n    raise NotImplementedError") == {"f"}


# -- check_part, called as a notebook calls it -------------------------------------------------------
def call_check_part(capsys, call, cells=()):
    """Run ``cells`` (sources) and then ``call`` in one fresh namespace, as a notebook's cells run; each
    cell's source is readable by ``inspect`` as IPython makes it; return what was printed."""
    namespace = {"check_part": check.check_part}
    for n, source in enumerate([*cells, call]):
        filename = f"<ipython-input-{n}-test>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(compile(source, filename, "exec"), namespace)
    return capsys.readouterr().out


def answer_source(exercises, nb, gid):
    return "".join(next(c["source"] for c in nb["cells"] if grade_id(c) == gid))


def test_check_part_before_the_cell_has_run(capsys):
    out = call_check_part(capsys, 'check_part("causal_mask")', ["import torch"])
    assert out == "Run the cell that defines `causal_mask` first.\n", out


def test_check_part_with_a_mistyped_name_lists_the_parts(capsys, exercises):
    release_nb = exercises[ASSIGNMENT][1]
    cells = ["import torch", answer_source(exercises, release_nb, "softmax"),
             answer_source(exercises, release_nb, "causal_mask")]
    out = call_check_part(capsys, 'check_part("sofmax")', cells)
    assert " ".join(out.split()).startswith(
        "No part is called 'sofmax'. Did you mean 'softmax'? The parts of 01-transformers: 'softmax', "
        "'causal_mask', 'scaled_dot_product_attention',"), out
    assert "02-in-context-learning" not in out and "Traceback" not in out
    assert all(len(line) <= check.WIDTH for line in out.splitlines()), out
    elsewhere = call_check_part(capsys, 'check_part("sofmax")')  # nothing defined: every exercise's parts
    assert [line.split(":")[0] for line in elsewhere.splitlines() if not line.startswith(" ")][1:] == [
        f"The parts of {name}" for name in course.assignments()], elsewhere
    assert "graded by hand" in call_check_part(capsys, 'check_part("written_encoder_decoder")')


def test_check_part_says_not_started_in_one_line_and_wraps_its_verdict(capsys, exercises):
    spec, release_nb, source_nb = exercises[ASSIGNMENT]
    out = call_check_part(capsys, 'check_part("softmax")', ["import torch", answer_source(exercises, release_nb, "softmax")])
    assert out == "Part 1: a numerically stable softmax (test_softmax, 5 points): not started\n", out
    out = call_check_part(capsys, 'check_part("softmax")', ["import torch", answer_source(exercises, source_nb, "softmax")])
    assert "hidden checks passed" in out and "    passed: " in out, out
    assert all(len(line) <= check.WIDTH for line in out.splitlines()), out
