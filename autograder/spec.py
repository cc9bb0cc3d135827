"""What an exercise asks for, read from its notebook in nbgrader source form.

Cells carry nbgrader's metadata (``metadata.nbgrader``): *solution* cells hold the student's
answer between ``### BEGIN SOLUTION`` and ``### END SOLUTION``; *test* cells (``grade: true``,
locked, with ``points``) hold visible checks and a hidden region that names hidden checks;
a cell that is both solution and grade is a manually graded written answer.
"""

import ast
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
CHECK_IMPORT = "from autograder.checks import check"


class SpecError(ValueError):
    """The exercise notebook breaks the course's conventions (an authoring error)."""


@dataclass(frozen=True)
class Part:
    """One graded cell: an autograded test cell or a manually graded answer."""

    grade_id: str
    points: float
    manual: bool
    visible_source: str = ""
    checks: tuple = ()  # (check name, function name) pairs


@dataclass
class ExerciseSpec:
    """The graded structure of one exercise notebook."""

    assignment: str
    notebook: str
    cells: list  # the source notebook's cells, in order
    parts: list = field(default_factory=list)

    @property
    def max_score(self):
        return sum(p.points for p in self.parts)

    @property
    def solution_ids(self):
        return [grade_id(c) for c in self.cells if is_solution(c) and not is_grade(c)]


def nbgrader_meta(cell):
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def grade_id(cell):
    return nbgrader_meta(cell).get("grade_id")


def is_solution(cell):
    return bool(nbgrader_meta(cell).get("solution"))


def is_grade(cell):
    return bool(nbgrader_meta(cell).get("grade"))


def split_hidden(source):
    """``(visible source, hidden source)`` of a test cell."""
    lines = source.splitlines()
    if HIDDEN_BEGIN not in [l.strip() for l in lines]:
        return source, ""
    begin = [l.strip() for l in lines].index(HIDDEN_BEGIN)
    try:
        end = [l.strip() for l in lines].index(HIDDEN_END, begin)
    except ValueError:
        raise SpecError(f"{HIDDEN_BEGIN} without {HIDDEN_END}") from None
    visible = "\n".join(lines[:begin] + lines[end + 1:])
    return visible, "\n".join(lines[begin + 1:end])


def parse_hidden(hidden):
    """The ``(check name, function name)`` pairs of a hidden region, which may hold nothing else."""
    checks = []
    for node in ast.parse(hidden).body:
        if isinstance(node, ast.ImportFrom) and ast.unparse(node) == CHECK_IMPORT:
            continue
        call = node.value if isinstance(node, ast.Expr) else None
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "check"
                and len(call.args) == 2 and not call.keywords
                and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)
                and isinstance(call.args[1], ast.Name)):
            checks.append((call.args[0].value, call.args[1].id))
            continue
        raise SpecError(f"a hidden region may only hold `{CHECK_IMPORT}` and `check(\"name\", function)` "
                        f"lines; found: {ast.unparse(node)}")
    return tuple(checks)


def load_spec(path, assignment=None):
    """Read an exercise notebook in source form into an :class:`ExerciseSpec`."""
    path = Path(path)
    return parse_spec(path.read_text(encoding="utf-8"), assignment or path.parent.name, path.stem)


def parse_spec(text, assignment, notebook):
    """An :class:`ExerciseSpec` from the JSON ``text`` of an exercise notebook in source form."""
    path = f"{assignment}/{notebook}.ipynb"
    nb = nbformat.reads(text, as_version=4)
    spec = ExerciseSpec(assignment, notebook, nb.cells)
    seen = set()
    for cell in nb.cells:
        gid = grade_id(cell)
        if gid is None:
            continue
        if gid in seen:
            raise SpecError(f"{path}: duplicate grade_id {gid!r}")
        seen.add(gid)
        if not is_grade(cell):
            continue
        points = float(nbgrader_meta(cell).get("points", 0))
        if is_solution(cell):
            spec.parts.append(Part(gid, points, manual=True))
            continue
        visible, hidden = split_hidden(cell.source)
        checks = parse_hidden(hidden)
        if not checks:
            raise SpecError(f"{path}: test cell {gid!r} has no hidden check; every autograded part needs one")
        spec.parts.append(Part(gid, points, manual=False, visible_source=visible, checks=checks))
    if not spec.parts:
        raise SpecError(f"{path}: no graded cells")
    return spec


def source_checksum(source):
    """A checksum of code that ignores blank lines and trailing spaces, to spot edited cells."""
    lines = [line.rstrip() for line in source.splitlines() if line.strip()]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
