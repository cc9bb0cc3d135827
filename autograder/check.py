"""Students check their own work with the grader's hidden checks, before anyone grades it.

``python -m autograder check NOTEBOOK`` grades one notebook exactly as ``grade`` does: the same
plan, integrity scan, hidden checks, tolerances and limits (:func:`grading.prepare`, then
:func:`grading.run_with_retry`), with inputs seeded the same way from a key made for this run
instead of the gradebook's. It runs in the sandbox where bubblewrap works, and otherwise (macOS,
Windows, Linux without bubblewrap, or ``--no-sandbox``) without it, in a fresh Python process
started the same way on every system (:class:`portable.PortableWorker`), saying so in its report:
it is the student's own code on their own machine. It writes nothing to any gradebook.
:func:`report` prints one line per part and why a part failed (the feedback page's text; one line,
"not started", for a part whose answer is still the release's placeholder), and the exit status is
0 when every autograded part passed, 1 otherwise.

:func:`check_part` runs one part's hidden checks inside the student's running kernel.
"""

import ast
import difflib
import inspect
import io
import json
import secrets
import sys
import textwrap
from pathlib import Path

from autograder import course, portable, worker
from autograder.spec import grade_id, load_spec

# The modules that import torch (grading, checks, the wire format's decoding) are imported where
# they are used, so that `check` can start the sandbox's runner, which imports torch too, first.

STUDENT = "you"
WIDTH = 100  # the report's lines wrap at words to this many characters
UNSANDBOXED = "This check ran without a sandbox: a self-check of your own notebook, not the grader's run."


class CheckError(Exception):
    """The notebook cannot be checked at all (missing file, unknown exercise or part); says what to do."""


def find_spec(path, data, assignment=None, chapters=course.CHAPTERS):
    """The exercise ``data`` (the bytes of notebook ``path``) answers: ``assignment`` if given, else
    its folder's name as ``grade`` reads it, else the exercise whose graded cells it shares."""
    names = course.assignments(chapters)
    if not names:
        raise CheckError(f"no exercises under {chapters}: run check from a copy of the course's repository")
    if assignment is None and Path(path).resolve().parent.name in names:
        assignment = Path(path).resolve().parent.name
    if assignment is None:
        try:
            ids = {grade_id(cell) for cell in json.loads(data)["cells"]} - {None}
        except (ValueError, UnicodeDecodeError, TypeError, KeyError, AttributeError):
            ids = set()  # not a notebook: no exercise matches
        specs = [load_spec(course.source_notebook(name, chapters), name) for name in names]
        matches = [s for s in specs if ids & set(s.solution_ids)]
        if len(matches) != 1:
            raise CheckError(f"cannot tell which exercise {path} is: pass --assignment, one of {', '.join(names)}")
        return matches[0]
    if assignment not in names:
        raise CheckError(f"unknown exercise {assignment!r}; choose one of {', '.join(names)}")
    return load_spec(course.source_notebook(assignment, chapters), assignment)


def check_notebook(path, spec, runner, seed_key=None):
    """Grade notebook ``path`` against ``spec`` with ``runner`` (a :class:`worker.Worker`) as ``grade``
    would; return the result dict, recorded nowhere.

    ``seed_key`` seeds the hidden checks' inputs with the file's hash, as the gradebook's key does
    in ``grade`` (default: a new key, so every run draws new inputs).
    """
    from autograder import grading

    data = Path(path).read_bytes()
    prepared = grading.prepare(data, spec, STUDENT, secrets.token_bytes(16) if seed_key is None else seed_key)
    result = grading.run_with_retry(prepared, runner)
    if prepared.plan is not None:
        answers = {gid: source for _, source, gid in grading.read_cells(data) if gid}
        for part in result["parts"]:
            unstarted = {f for gid in _answer_cells(spec, part["grade_id"]) for f in placeholders(answers.get(gid, ""))}
            if _not_started(unstarted, part["checks"], part["error"], part["visible"]):
                part["not_started"] = True
    return result


def placeholders(source):
    """The functions ``source`` defines whose body is still the release's placeholder: a docstring,
    then only ``raise NotImplementedError(...)`` (the release's says what to write there)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    found = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body[1:] if ast.get_docstring(node, clean=False) is not None else node.body
            raised = body[0].exc if len(body) == 1 and isinstance(body[0], ast.Raise) else None
            if isinstance(raised, ast.Call):
                raised = raised.func
            if isinstance(raised, ast.Name) and raised.id == "NotImplementedError":
                found.add(node.name)
    return found


def _answer_cells(spec, part_id):
    """The source's answer cells that define the functions part ``part_id`` checks: grade id -> the
    names each defines."""
    from autograder import grading

    part = next(p for p in spec.parts if p.grade_id == part_id)
    functions = {f for _, f in part.checks}
    return {gid: names for gid, (_, names) in grading.reference_answers(spec).items() if names & functions}


def _not_started(unstarted, checks, error=None, visible=None):
    """Whether a part failed only because its answer is not started: an answer cell of the part
    still holds a placeholder (``unstarted``, its names), and each failure, of a hidden check
    (``checks``, outcomes) or of the visible tests (``visible``, ``error``), is a NotImplementedError."""
    return bool(unstarted and checks and not all(c["passed"] for c in checks)
                and all(c["passed"] or "raised NotImplementedError" in c["message"] for c in checks)
                and (error.startswith("NotImplementedError") if error else visible is not False))


def titles(spec):
    """Each part's title, ``{grade_id: "Part 1: a numerically stable softmax"}``: the first line of
    the nearest heading above its cell, without its points."""
    found, heading = {}, None
    for cell in spec.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith("#"):
            heading = cell.source.strip().splitlines()[0].lstrip("#").strip()
            heading = heading.rsplit(" (", 1)[0] if heading.endswith(")") else heading
        if grade_id(cell):
            found[grade_id(cell)] = heading or grade_id(cell)
    return found


def find_part(spec, name):
    """The part of ``spec`` called ``name``: its grade id (``test_softmax``), or the name of the
    function it checks or of its answer cell (``softmax``); ``None`` if there is none."""
    for part in spec.parts:
        if name in (part.grade_id, f"test_{name}") or name in [f for _, f in part.checks]:
            return part
    return None


def report(spec, result, only=None):
    """The terminal report of ``result`` and whether every autograded part passed: a line per part
    (title, points, visible and hidden outcomes), why each failure failed, the total. A part's own
    line stays one line; the others wrap at words (:data:`WIDTH`).

    ``only`` restricts it to one part (a grade id). A part marked ``not_started`` (by
    :func:`check_notebook`) gets its line only, ending "not started"."""
    if result["status"] == "error":
        return wrap(f"The grader itself failed on this notebook ({result['grader_faults'][-1]}); this is not your "
                    "code's fault: run check again."), False
    title = titles(spec)
    lines = [f"  - {flag}" for flag in result["flags"]]
    lines += [f"  - the grader itself failed ({fault}), not your code, and ran your notebook again from the start"
              for fault in result.get("grader_faults", ())]
    if lines:
        lines.insert(0, "Notes from the grader:")
    lines += [f"Note: {note}" for note in result.get("notes", ())]
    passed, auto_total, manual, unstarted = True, 0.0, [], False
    for part in result["parts"]:
        if only and part["grade_id"] != only:
            continue
        name = f"{title[part['grade_id']]} ({part['grade_id']})"
        if part["manual"]:
            manual.append(part)
            lines.append(f"HAND  {name}: {part['points']:g} points, graded by hand")
            continue
        ok = part["score"] == part["points"]
        passed &= ok
        auto_total += part["points"]
        if part.get("not_started"):
            lines.append(f"FAIL  {name}: 0/{part['points']:g} points; not started")
            unstarted = True
            continue
        hidden = sum(c["passed"] for c in part["checks"])
        visible = {True: "passed", False: "failed", None: "not run"}[part["visible"]]
        took = f" ({part['seconds']:.1f} s)" if part.get("seconds") is not None else ""
        lines.append(f"{'PASS' if ok else 'FAIL'}  {name}: {part['score']:g}/{part['points']:g} points; "
                     f"visible tests {visible}, hidden checks {hidden}/{len(part['checks'])} passed{took}")
        if part.get("note"):
            lines.append(f"      {part['note']}")
        slow = _slow(part, result.get("limits"))
        if slow:
            lines.append(f"      {slow}")
        if ok:
            continue
        if part["error"]:
            lines += [f"      {line}" for line in relevant_lines(part["error"])[-6:]]
        for check_ in part["checks"]:
            if not check_["passed"]:
                lines += [f"      hidden check {check_['name']} ({check_['description']}):",
                          f"        failed: {check_['message']}"]
        if not part["checks"] and not part["error"]:
            lines.append("      its hidden checks did not run: the notebook stopped before this part")
    score = sum(p["score"] or 0.0 for p in result["parts"] if not p["manual"] and (not only or p["grade_id"] == only))
    total = f"Total: {score:g}/{auto_total:g} autograded points"
    if manual:
        total += f"; {sum(p['points'] for p in manual):g} more are graded by hand ({', '.join(p['grade_id'] for p in manual)})"
    lines.append(total)
    if result.get("limits"):
        lines.append(f"Time limits: {result['limits']['cell_seconds']:g} s per cell or hidden check, "
                     f"{result['limits']['notebook_seconds']:g} s for the notebook; this run took {result['seconds']:.1f} s.")
    if unstarted:
        lines.append("(Not started: the answer still raises NotImplementedError, as the release leaves it.)")
    return "\n".join(line if line[:4] in ("PASS", "FAIL", "HAND") else wrap(line) for line in lines), \
        passed and auto_total > 0


def _slow(part, limits):
    """A warning for a part that used more than a fifth of the per-check limit here, or ``None``: the
    grader's machine may be busier than this one, and a timeout counts against an answer only when the
    course's own answer needs at most a tenth of the limit there (``grading.COMFORT``)."""
    if not limits or part.get("seconds") is None or part["seconds"] * 5 <= limits["cell_seconds"]:
        return None
    return (f"slow: this part took {part['seconds']:.1f} s here, and the grader allows {limits['cell_seconds']:g} s "
            "per cell or hidden check on a machine that may be busier: make it faster before you submit")


def wrap(line):
    """``line`` wrapped at words to :data:`WIDTH` characters, its continuation indented two more spaces
    than the line."""
    indent = " " * (len(line) - len(line.lstrip(" ")))
    return textwrap.fill(line, WIDTH, subsequent_indent=indent + "  ", break_long_words=False,
                         break_on_hyphens=False)


def relevant_lines(error):
    """The lines of a failed cell's ``error`` without the ``where`` values of names its failing line
    does not read: a name the line assigns still holds what an earlier cell left in it."""
    lines = error.splitlines()
    at = next((line for line in lines if line.startswith("at line ") and " of the cell: " in line), None)
    try:
        tree = ast.parse(at.split(" of the cell: ", 1)[1]) if at else None
    except SyntaxError:  # one line of a longer statement: the sandbox names no values then
        tree = None
    if tree is None:
        return lines
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    read |= {n.target.id for n in ast.walk(tree) if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)}
    return [line for line in lines if not line.startswith("  where ") or line[8:].split(" = ", 1)[0] in read]


def main(path, part=None, assignment=None, sandbox=True):
    """``python -m autograder check``: check notebook ``path``, print the report; return the exit status.

    Without ``sandbox``, or where the sandbox cannot run, the notebook runs without it (see the module's
    docstring)."""
    path = Path(path)
    try:
        if not path.is_file():
            raise CheckError(f"{path} is not a file: give the path of your saved exercise notebook")
        spec = find_spec(path, path.read_bytes(), assignment)
        only = None
        if part:
            found = find_part(spec, part)
            if found is None:
                raise CheckError(f"{spec.assignment} has no part {part!r}; its parts: "
                                 f"{', '.join(p.grade_id for p in spec.parts)}")
            if found.manual:
                raise CheckError(f"{found.grade_id} is a written answer, graded by hand: check cannot grade it")
            only = found.grade_id
    except CheckError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        if not sandbox:
            raise worker.SandboxUnavailable("you asked for that with --no-sandbox")
        worker.check_sandbox()
        where, runner = "in the grader's sandbox", worker.Worker(0, worker.Limits(), True)  # grade's default limits
    except worker.SandboxUnavailable as error:
        where, runner = "WITHOUT the grader's sandbox", portable.PortableWorker(0, worker.Limits())
        print(wrap(f"note: the sandbox does not run ({error}), so your notebook runs without it, in a fresh Python "
                   "process, with the grader's time limits (and its memory and output limits where this system has "
                   "them): fine for your own code on your own machine."))
    print(f"Checking {path} ({spec.assignment}) {where}, as the grader would; nothing is recorded.", flush=True)
    try:
        runner.launch()  # from this thread, which outlives the check: the runner dies with its launcher
        import autograder.grading  # noqa: F401  (torch loads here while the runner loads it too)

        result = check_notebook(path, spec, runner)
    finally:
        runner.close()
    text, passed = report(spec, result, only)
    print(text)
    if not runner.sandbox:
        print(UNSANDBOXED)
    print(f"Checked in {result['seconds']:.1f} s. "
          + ("Every autograded part passed." if passed else "Not every autograded part passed (exit status 1)."))
    return 0 if passed else 1


def check_part(name, assignment=None):
    """Run the hidden checks of part ``name`` on the function defined in your notebook; print the verdict.

    ``name`` is the function the part asks for (``"softmax"``) or the part's grade id
    (``"test_softmax"``); ``assignment`` (``"01-transformers"``) is needed only when two exercises
    have a part of that name. The checks are the grader's own (:func:`grading.run_check`): the
    same cases, references and tolerances, on inputs drawn afresh at each call, with arguments
    and results passed through the sandbox's wire format. The verdict also says when the
    function's source uses a name the part forbids. A name that is no part's, or a function not
    defined yet, gets a line saying what to do instead.

    It runs in your own kernel, outside any sandbox (the sandbox refuses imports of
    ``autograder``): fine for checking your own code on your own machine. It does not run the
    part's visible tests (run the part's test cell) or grade anything; ``python -m autograder
    check exercise.ipynb`` grades the saved notebook as the grader does. Call it anywhere,
    ``from autograder import check_part; check_part("softmax")``: the grader leaves out that import
    and the calls (``course.drop_self_checks``), so they cost nothing.
    """
    from autograder import grading

    namespace = sys._getframe(1).f_globals  # the caller's globals: the notebook's own namespace
    if not isinstance(name, str):
        print(wrap("check_part takes the name of the function a part asks for, in quotes: check_part(\"softmax\")."))
        return
    names = course.assignments()
    if assignment is not None and assignment not in names:
        print(wrap(f"There is no exercise {assignment!r}; choose one of {', '.join(names)}."))
        return
    specs = [load_spec(course.source_notebook(name_), name_) for name_ in ([assignment] if assignment else names)]
    found = [(spec, part) for spec in specs for part in [find_part(spec, name)] if part is not None]
    if not found:
        print("\n".join(wrap(line) for line in _no_such_part(name, specs, namespace)))
        return
    if len(found) > 1:
        print(wrap(f"{' and '.join(spec.assignment for spec, _ in found)} both have a part {name!r}: give the "
                   f"exercise too, check_part({name!r}, assignment={found[0][0].assignment!r})."))
        return
    spec, part = found[0]
    if part.manual:
        print(wrap(f"{name!r} is a written answer, graded by hand: check_part cannot check it."))
        return
    missing = [f for _, f in part.checks if not callable(namespace.get(f))]
    if missing:
        print(wrap(f"Run the cell that defines `{missing[0]}` first."))
        return
    heading = f"{titles(spec)[part.grade_id]} ({part.grade_id}, {part.points:g} points)"
    request = _call_here(namespace)
    outcomes = [grading.run_check(request, check_name, function, secrets.randbits(32))
                for check_name, function in part.checks]
    unstarted = set()
    for function in set().union(*_answer_cells(spec, part.grade_id).values()):
        try:
            unstarted |= placeholders(textwrap.dedent(inspect.getsource(namespace[function])))
        except (KeyError, TypeError, OSError):
            continue  # not defined, or no source to read
    if _not_started(unstarted, outcomes):
        print(wrap(f"{heading}: not started"))
        return
    forbidden = _forbidden_uses(part, namespace)
    passed = all(o["passed"] for o in outcomes) and not forbidden
    lines = [f"{heading}: hidden checks {'passed' if passed else 'FAILED'}"]
    for outcome in outcomes:
        lines += [f"  hidden check {outcome['name']} ({outcome['description']}):",
                  f"    {'passed' if outcome['passed'] else 'failed'}: {outcome['message']}"]
    lines += [f"  {reason}: this part earns nothing while it does" for reason in forbidden]
    print("\n".join(wrap(line) for line in lines))


def _no_such_part(name, specs, namespace):
    """What to say when no exercise of ``specs`` has a part ``name``, in lines: the nearest name, and
    the parts of the exercise whose functions the notebook defines (of every exercise if none)."""
    def functions(spec):
        return [p.grade_id.removeprefix("test_") for p in spec.parts if not p.manual]

    defined = {spec.assignment: sum(f in namespace for f in functions(spec)) for spec in specs}
    mine = [spec for spec in specs if defined[spec.assignment] and defined[spec.assignment] == max(defined.values())]
    listed = mine or specs
    close = difflib.get_close_matches(name, [f for spec in listed for f in functions(spec)], n=1)
    text = f"No part is called {name!r}."
    if close:
        text += f" Did you mean {close[0]!r}?"
    return [text] + [f"The parts of {spec.assignment}: {', '.join(map(repr, functions(spec)))}." for spec in listed]


def _call_here(namespace):
    """A ``request`` for :func:`grading.run_check` that answers a ``call`` as the sandbox's runner
    does (``sandbox/runner.py``), with the functions of ``namespace``, messages packed and unpacked."""
    import torch

    from autograder.sandbox import wire

    def request(header, arrays):
        header, arrays = _through_wire(header, arrays)
        function, results, out_arrays = namespace.get(header["function"]), [], []
        for case in header["cases"]:
            if not callable(function):
                results.append({"ok": False, "error": f"the notebook defines no function named {header['function']!r}"})
                continue
            try:
                results.append(wire.answer(function, case, arrays, out_arrays, torch))
            except Exception as error:  # the student's exception is the check's verdict
                results.append({"ok": False, "error": f"{type(error).__name__}: {error}"[:2000]})
        return _through_wire({"op": "call_done", "results": results}, out_arrays)
    return request


def _through_wire(header, arrays):
    """``(header, arrays)`` after packing and unpacking, as they would cross the sandbox's pipe."""
    from autograder.sandbox import wire

    stream = io.BytesIO(wire.pack(header, arrays))
    return wire.unpack(stream.read)


def _forbidden_uses(part, namespace):
    """Why the source of the part's functions breaks its rules (a forbidden name, the reference package)."""
    from autograder import checks, grading, integrity

    reasons = []
    for check_name, function in part.checks:
        try:
            source = inspect.getsource(namespace[function])
        except (KeyError, TypeError, OSError):
            continue  # not defined (its check says so) or no source to read
        used = integrity.forbidden_uses(source, checks.get(check_name).forbid)
        if used:
            reasons.append(f"{function} uses {', '.join(used)}, which this part asks you to write yourself")
        if integrity.uses_protected_package(source):
            reasons.append(grading.IMPORTS_REFERENCE)
    return reasons
