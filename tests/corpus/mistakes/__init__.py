"""The catalogue of mistakes: for every autograded part, plausible wrong answers and an
independent right one (test data for ``tests/test_catalogue.py`` and the check-and-grade corpus).

One module per assignment (``transformers.py`` for ``01-transformers``, and so on) defines:

- ``ASSIGNMENT``: the assignment's folder name;
- ``RIGHT``: part (the answer cell's function name) -> the source of one correct answer, written
  independently of ``solutions/`` (another algorithm or another style), a whole ``def``;
- ``MISTAKES``: part -> {what the mistake is, in a few words: the source of a whole ``def``}.

Each source is what a student would type in the answer cell: a function of the part's name (and
any helpers of its own), using the notebook's imports (``torch``, ``math``) and the functions of
the notebook's other cells. ``functions`` runs it in a namespace that holds the reference answers
of every other part, so a mistake in one part is judged on that part alone. A mistake must be
wrong in a way a student would plausibly write (off by one, the wrong dim, the wrong rounding
mode, a missing term, an option ignored, an edge case unhandled) and must use no name the part
forbids: it tests the hidden checks' comparisons, not the static scan.
"""

import importlib
import json
import math
from pathlib import Path

import torch

from autograder import course
from autograder.spec import load_spec

MODULES = ("transformers", "icl", "scaling", "memory", "quantization")


def catalogues():
    """Every assignment's catalogue module, in book order."""
    return [importlib.import_module(f"mistakes.{name}") for name in MODULES]


def solutions_module(assignment):
    """The reference package's module of an assignment, as its source notebook names it."""
    notebook = json.loads(course.source_notebook(assignment).read_text(encoding="utf-8"))
    return importlib.import_module(notebook["metadata"]["course"]["solutions_module"])


def parts(assignment):
    """The assignment's autograded parts: function name -> the names of its hidden checks."""
    spec = load_spec(course.source_notebook(assignment), assignment)
    found = {}
    for part in spec.parts:
        for check_name, function in part.checks:
            found.setdefault(function, []).append(check_name)
    return found


def functions(assignment, source):
    """The namespace a notebook would have after ``source`` ran in place of one answer cell: the
    reference answers of the other parts, the notebook's imports, and what ``source`` defines."""
    namespace = dict(vars(solutions_module(assignment)))
    namespace.update(torch=torch, math=math)
    exec(compile(source, f"<{assignment} catalogue>", "exec"), namespace)
    return namespace
