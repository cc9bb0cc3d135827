"""The exercises' code must not drift from the ``solutions`` package, the single source of truth.

Every top-level function defined in an exercise notebook (in a solution region or a given,
locked cell) must be AST-equal, docstring included, to the function of the same name in the
chapter's solutions module (``metadata.course.solutions_module`` of the notebook).
"""

import ast
import importlib
import inspect
import textwrap

import nbformat
import pytest

from autograder import course

EXERCISES = [course.source_notebook(a) for a in course.assignments()]


def notebook_functions(nb):
    """``{name: ast.FunctionDef}`` of the functions defined at top level in the notebook's code cells."""
    found = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.FunctionDef):
                found[node.name] = node
    return found


def drift(nb):
    """Names of notebook functions that differ from the solutions module, with a reason each."""
    module = importlib.import_module(nb.metadata["course"]["solutions_module"])
    problems = []
    for name, node in notebook_functions(nb).items():
        reference = getattr(module, name, None)
        if reference is None:
            problems.append(f"{name}: not in {module.__name__}")
            continue
        expected = ast.parse(textwrap.dedent(inspect.getsource(reference))).body[0]
        if ast.dump(node) != ast.dump(expected):
            problems.append(f"{name}: differs from {module.__name__}.{name}")
    return problems


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.parent.name)
def test_exercise_code_matches_solutions(path):
    nb = nbformat.read(path, as_version=4)
    problems = drift(nb)
    assert not problems, ("exercise code drifted from the solutions package; copy the function from the "
                          "module into the notebook (or the other way round):\n" + "\n".join(problems))


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.parent.name)
def test_every_solution_cell_defines_a_checked_function(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution"):
            defined = [n for n in ast.parse(cell.source).body if isinstance(n, ast.FunctionDef)]
            assert defined, f"solution cell {meta['grade_id']!r} defines no function"


def test_drift_is_detected():
    nb = nbformat.read(EXERCISES[0], as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "softmax")
    cell.source = cell.source.replace("keepdim=True)\n", "keepdim=False)\n", 1)
    assert drift(nb) == [f"softmax: differs from {nb.metadata['course']['solutions_module']}.softmax"]
