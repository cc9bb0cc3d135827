"""The nbgrader course directory, built from ``chapters/``, and the release of student notebooks.

Each chapter folder ``chapters/<assignment>/`` holds one ``exercise.ipynb`` in nbgrader source
form. ``build_course`` copies them to ``course/source/<assignment>/``; ``release`` runs
``nbgrader generate_assignment`` there (which strips solutions and hidden tests, clears outputs
and locks cells) and copies the student versions to ``release/<assignment>/``, each ending with
two cells that show the student how to check their own work (``python -m autograder check``).
The grader skips those cells, and any cell that only imports and calls ``check_part``
(:func:`is_self_check`): they need the course's package, which graded answers may not use. In any
other cell, :func:`drop_self_checks` leaves out the top-level statements that only import or call
``check_part``, so the course's own tools never cost a point.
"""

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from autograder.spec import load_spec, source_checksum

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = REPO / "chapters"
EXERCISE = "exercise.ipynb"
CHECK_TAG = "check-your-work"  # the tag of the cells release() appends
CHECK_INTRO = """## Check your work

Save this notebook (Ctrl+S), then run the cell below. It grades the saved file of this notebook,
whatever you named it, and warns when your kernel ran functions that the file does not hold yet. It
grades exactly as the grader does (the same visible tests, the same hidden checks and tolerances, on
random inputs drawn for this run), prints each part's points and why a part failed, and records
nothing. To check one part while you work, run
`from autograder import check_part; check_part("{function}")` in any cell, at the end of your answer
or in a cell of its own: it runs that part's hidden checks on the function defined in this notebook.
The grader leaves out the cell below and every such line: checking your
work never costs a point.

Passing every check means your functions match independent references on the inputs drawn; it is
strong evidence, not a proof, and the written answers are graded by hand."""
CHECK_CELL = """# Grade this notebook as the grader would. Save it first (Ctrl+S): the check reads the saved file.
import importlib.metadata

try:
    importlib.metadata.version("llm-course")
except importlib.metadata.PackageNotFoundError:
    print("The course's grader is not installed for this kernel: in a copy of the course's repository, "
          "run `make venv`, then open this notebook with `.venv/bin/jupyter lab`.")
else:
    from autograder.check_cell import check_this_notebook

    check_this_notebook()
"""


def assignments(chapters=CHAPTERS):
    """Names of the chapters that have an exercise, in book order (e.g. ``"01-transformers"``)."""
    return sorted(p.parent.name for p in Path(chapters).glob(f"*/{EXERCISE}"))


def source_notebook(assignment, chapters=CHAPTERS):
    """Path of an assignment's exercise in source form; a clear error if there is none."""
    path = Path(chapters) / assignment / EXERCISE
    if not path.is_file():
        raise SystemExit(f"no exercise for {assignment!r}: expected {path}; known: {', '.join(assignments(chapters))}")
    return path


def build_course(course_dir, chapters=CHAPTERS, names=None):
    """Lay out nbgrader's course directory: ``nbgrader_config.py`` and ``source/<assignment>/``."""
    course_dir = Path(course_dir)
    (course_dir / "source").mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).with_name("nbgrader_config.py"), course_dir / "nbgrader_config.py")
    for name in names or assignments(chapters):
        target = course_dir / "source" / name
        target.mkdir(exist_ok=True)
        shutil.copy(source_notebook(name, chapters), target / EXERCISE)
    return course_dir


def release(names=None, course_dir=REPO / "course", out_dir=REPO / "release", chapters=CHAPTERS):
    """Generate student versions with nbgrader and copy them to ``out_dir/<assignment>/``."""
    names = list(names or assignments(chapters))
    build_course(course_dir, chapters, names)
    for name in names:
        _nbgrader(["generate_assignment", name, "--force", "--log-level=WARN"], course_dir)
        # in nbgrader's release folder too, so `nbgrader release_assignment` hands out the same notebook
        spec = load_spec(source_notebook(name, chapters), name)
        _name_placeholders(Path(course_dir) / "release" / name / EXERCISE, spec)
        _append_check_cells(Path(course_dir) / "release" / name / EXERCISE, spec)
        target = Path(out_dir) / name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(Path(course_dir) / "release" / name, target)
    return [Path(out_dir) / name / EXERCISE for name in names]


STUB = "raise NotImplementedError()"  # the end of nbgrader's code stub (nbgrader_config.py)


def _name_placeholders(path, spec):
    """Make each placeholder of the released notebook at ``path`` say what to write there:
    ``raise NotImplementedError("Part 1: write softmax here")`` (the part of the heading above the
    cell, the function the placeholder is in)."""
    from autograder.check import titles

    nb = nbformat.read(path, as_version=4)
    heading = titles(spec)
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.cell_type != "code" or gid not in heading or STUB not in cell.source:
            continue
        part, function, lines = heading[gid].split(":")[0], None, []
        for line in cell.source.split("\n"):
            found = re.match(r"(?:async\s+)?def\s+(\w+)", line)
            function = found.group(1) if found else function
            if line.strip() == STUB:
                what = f"write {function} here" if function else "write your answer here"
                line = line.replace(STUB, f"raise NotImplementedError({json.dumps(f'{part}: {what}')})")
            lines.append(line)
        cell.source = "\n".join(lines)
    nbformat.write(nb, path)


def _append_check_cells(path, spec):
    """End the released notebook at ``path`` with :data:`CHECK_INTRO` and :data:`CHECK_CELL`, locked."""
    nb = nbformat.read(path, as_version=4)
    function = next(f for p in spec.parts for _, f in p.checks)
    metadata = {"editable": False, "deletable": False, "tags": [CHECK_TAG]}
    nb.cells += [nbformat.v4.new_markdown_cell(CHECK_INTRO.replace("{function}", function), metadata=metadata),
                 nbformat.v4.new_code_cell(CHECK_CELL, metadata=metadata)]
    nbformat.write(nb, path)


def is_self_check(source):
    """Whether a code cell only checks the student's work, so the grader skips it: the release's
    :data:`CHECK_CELL`, or a cell holding only ``from autograder import check_part`` and
    ``check_part(...)`` calls with literal arguments. Skipping it removes code and cannot earn points."""
    if source_checksum(source) == source_checksum(CHECK_CELL):
        return True
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    for node in body:
        if isinstance(node, ast.ImportFrom) and ast.unparse(node) == "from autograder import check_part":
            continue
        if _calls_check_part(node, attribute=False):
            continue
        return False
    return bool(body)


def _calls_check_part(node, attribute=True):
    """Whether statement ``node`` is a bare call ``check_part(...)`` (or ``autograder.check_part(...)``,
    with ``attribute``) whose arguments are all literals."""
    call = node.value if isinstance(node, ast.Expr) else None
    if not isinstance(call, ast.Call):
        return False
    named = isinstance(call.func, ast.Name) and call.func.id == "check_part"
    qualified = (attribute and isinstance(call.func, ast.Attribute) and call.func.attr == "check_part"
                 and isinstance(call.func.value, ast.Name) and call.func.value.id == "autograder")
    return ((named or qualified) and all(isinstance(a, ast.Constant) for a in call.args)
            and all(k.arg and isinstance(k.value, ast.Constant) for k in call.keywords))


# the imports a self-check needs, exactly as written (no alias, nothing else imported with them)
SELF_CHECK_IMPORTS = ("from autograder import check_part", "import autograder")
SELF_CHECK_NAMES = ("check_part", "autograder")


def drop_self_checks(sources):
    """``sources`` (the student's code cells) without the statements that only check their work, and
    the indices of the cells that held any.

    Only top-level statements are left out, and only these: ``from autograder import check_part``,
    ``import autograder``, and a bare call ``check_part(...)`` or ``autograder.check_part(...)`` with
    literal arguments. Each becomes ``pass`` on the same lines, so the cell's other lines keep their
    numbers. Nothing is left out when any other code of the student still names ``check_part`` or
    ``autograder`` (an alias, ``check_part.__globals__``, a cell that does not parse): the import then
    stays, and is flagged as any import of the course's package is. Leaving a statement out removes
    code the student could have deleted themselves, so it cannot earn a point.
    """
    changed, dropped = list(sources), []
    for index, source in enumerate(sources):
        try:
            tree = ast.parse(source)
        except SyntaxError:
            if any(name in source for name in SELF_CHECK_NAMES):
                return list(sources), []
            continue
        nodes = [node for node in tree.body if _calls_check_part(node)
                 or (isinstance(node, (ast.Import, ast.ImportFrom)) and ast.unparse(node) in SELF_CHECK_IMPORTS)]
        kept = [node for node in tree.body if node not in nodes]
        if any(isinstance(n, ast.Name) and n.id in SELF_CHECK_NAMES for node in kept for n in ast.walk(node)):
            return list(sources), []
        if nodes:
            changed[index] = _as_pass(source, nodes)
            try:
                ast.parse(changed[index])
            except SyntaxError:  # never expected: then nothing is left out, and the import is flagged
                return list(sources), []
            dropped.append(index)
    return changed, dropped


def _as_pass(source, nodes):
    """``source`` with the statements ``nodes`` each replaced by ``pass``, every other line in place."""
    lines = re.split(r"(?<=\n)|(?<=\r)(?!\n)", source)
    for node in sorted(nodes, key=lambda n: (n.lineno, n.col_offset), reverse=True):
        first, last = node.lineno - 1, node.end_lineno - 1
        head = lines[first].encode()[:node.col_offset].decode()
        tail = lines[last].encode()[node.end_col_offset:].decode()
        # a statement over several lines: continue the line when another statement follows on its last
        breaks = ("\\\n" if tail.lstrip().startswith(";") else "\n") * (last - first)
        lines[first:last + 1] = [head + "pass" + breaks + tail]
    return "".join(lines)


def _nbgrader(args, course_dir):
    """Run nbgrader in ``course_dir`` with this interpreter's scripts (alembic among them) on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course_dir, env=env,
                            capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
