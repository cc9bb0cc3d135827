"""Grade one submitted notebook: rebuild it from the release, run it sandboxed, score each part.

The notebook that runs is the *source* exercise with the student's answers put in: every
locked cell and visible test is the instructor's version (a deleted or edited test is
restored and flagged), the student's solution cells and any cells they added run in their
place, and stored outputs are ignored. At each test cell the visible checks run in the
sandbox; then each hidden check draws inputs here, asks the sandbox for the student
function's outputs, and compares them here with an independent reference. A part earns its
points only when both pass.
"""

import collections
import copy
import hashlib
import json
import time
from dataclasses import dataclass, field

import torch

from autograder import checks, course, integrity
from autograder.sandbox import wire
from autograder.spec import (SpecError, grade_id, is_grade, is_solution, nbgrader_meta, source_checksum,
                             split_hidden)
from autograder.worker import Failure

MAX_NOTEBOOK_BYTES = 20 * 2**20
IMPORTS_REFERENCE = "the submission imports the course's reference package"
# the tag of a given cell students run but the grader does not (it needs the course's package)
GRADER_SKIPS = "grader-skips"


def new_result(student, assignment, spec, sha256):
    return {
        "student": student, "assignment": assignment, "notebook": spec.notebook, "sha256": sha256,
        "status": "graded", "flags": [], "score": 0.0, "max_score": spec.max_score, "seconds": 0.0,
        "parts": [{"grade_id": p.grade_id, "points": p.points, "manual": p.manual, "score": None if p.manual else 0.0,
                   "visible": None, "checks": [], "error": None} for p in spec.parts],
    }


def read_cells(data):
    """The submission's cells as ``(cell_type, source, grade_id)`` triples, or raise ValueError."""
    if not data.strip():
        raise ValueError("the file is empty")
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"the file is larger than {MAX_NOTEBOOK_BYTES} bytes")
    try:
        nb = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"not valid JSON ({error})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("not a Jupyter notebook (no list of cells)")
    cells = []
    for cell in nb["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise ValueError("a cell is not a notebook cell")
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise ValueError("a cell's source is not text")
        cells.append((cell["cell_type"], source, grade_id(cell) if isinstance(cell.get("metadata"), dict) else None))
    return cells


def build_plan(spec, submitted, result):
    """The cells to run, in order: ``("code", source, owner, where)`` and ``("test", part)`` steps.

    ``owner`` is the grade id of the student's solution cell, ``"student"`` for a cell the
    student added, or ``None`` for the instructor's own cells; ``where`` names the student's cell
    for a student to find it (``"answer cell 'softmax' (cell 4)"``), ``None`` for the instructor's.
    Added cells that only check the student's work (:func:`course.is_self_check`) are left out,
    and so are the instructor's given cells tagged :data:`GRADER_SKIPS` in the source notebook (a
    student's tags change nothing: the given cells always come from the source). In the student's
    other cells, the statements that only import or call ``check_part`` are left out
    (:func:`course.drop_self_checks`), with a note in ``result["notes"]``.
    """
    by_id = {gid: (kind, source, f"answer cell {gid!r} (cell {n})")
             for n, (kind, source, gid) in enumerate(submitted, 1) if gid}
    source_ids = {grade_id(c) for c in spec.cells if grade_id(c)}
    counts = collections.Counter(gid for _, _, gid in submitted if gid in source_ids)
    for gid, count in sorted(counts.items()):
        if count > 1:
            kind = "answer" if gid in spec.solution_ids else "graded"
            times = "twice" if count == 2 else f"{count} times"
            result["flags"].append(f"{kind} cell {gid!r} appears {times}; the last one was graded")
    if not set(spec.solution_ids) & set(by_id) or set(by_id) - source_ids:
        raise LookupError(f"this is not a notebook of assignment {spec.assignment!r}: its graded cells "
                          f"do not match (expected ids {sorted(source_ids)})")
    # cells the student added, keyed by the graded cell they follow in the submission
    added, anchor = {}, None
    for n, (kind, source, gid) in enumerate(submitted, 1):
        if gid in source_ids:
            anchor = gid
        elif kind == "code" and source.strip() and not course.is_self_check(source):
            added.setdefault(anchor, []).append((source, f"cell {n}, which you added"))
    parts = {p.grade_id: p for p in spec.parts}
    plan = [("code", s, "student", where) for s, where in added.get(None, [])]
    for cell in spec.cells:
        gid = grade_id(cell)
        if cell.cell_type == "code":
            if is_solution(cell) and not is_grade(cell):
                if gid in by_id:
                    plan.append(("code", by_id[gid][1], gid, by_id[gid][2]))
                else:
                    result["flags"].append(f"missing answer cell {gid!r} (restored from the release)")
            elif is_grade(cell) and not is_solution(cell):
                if gid not in by_id:
                    result["flags"].append(f"deleted test cell {gid!r} (restored)")
                elif source_checksum(_visible(by_id[gid][1])) != source_checksum(parts[gid].visible_source):
                    result["flags"].append(f"edited test cell {gid!r} (restored)")
                plan.append(("test", parts[gid]))
            elif GRADER_SKIPS not in cell.metadata.get("tags", []):
                plan.append(("code", cell.source, None, None))
        plan.extend(("code", s, "student", where) for s, where in added.get(gid, []) if gid)
    return _without_self_checks(plan, result)


def _without_self_checks(plan, result):
    """``plan`` with the student's calls of ``check_part`` and imports of it left out; a note says where."""
    students = [i for i, step in enumerate(plan) if step[0] == "code" and step[2]]
    sources, dropped = course.drop_self_checks([plan[i][1] for i in students])
    for i, source in zip(students, sources):
        plan[i] = plan[i][:1] + (source,) + plan[i][2:]
    owners = [plan[students[k]][2:] for k in dropped]
    answers = [owner for owner, _ in owners if owner != "student"]
    cells = ([f"the answer cell{'s' if len(answers) > 1 else ''} of {', '.join(answers)}"] if answers else []) + [
        where for owner, where in owners if owner == "student"]
    if cells:
        result.setdefault("notes", []).append(f"the grader left out check_part and its import in {' and '.join(cells)}: "
                                              "the course's own tools never cost a point")
    return plan


def flag_altered_metadata(spec, data, result):
    """Flag graded cells whose nbgrader metadata (``grade``, ``solution``, ``points``) differs from
    the release's; grading reads them from the release whatever the submission says.

    ``data`` is the bytes of a notebook that :func:`read_cells` has accepted.
    """
    released = {grade_id(c): nbgrader_meta(c) for c in spec.cells if grade_id(c)}
    for cell in json.loads(data)["cells"]:
        meta = nbgrader_meta(cell) if isinstance(cell.get("metadata"), dict) else {}
        gid = meta.get("grade_id")
        if not isinstance(gid, str) or gid not in released:
            continue
        expected = released[gid]
        changed = [key for key, read in (("grade", bool), ("solution", bool), ("points", _points))
                   if read(meta.get(key)) != read(expected.get(key))]
        if changed:
            result["flags"].append(f"altered nbgrader metadata ({', '.join(changed)}) of cell {gid!r} "
                                   "(the release's was used)")


def _points(value):
    """Points as nbgrader reads them (missing means 0); anything else than a number stays itself."""
    if value is None:
        return 0.0
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)


def _visible(source):
    """A submitted test cell without a hidden region (a source notebook submitted as is has one)."""
    try:
        return split_hidden(source)[0]
    except SpecError:
        return source


def scan_integrity(plan, spec, result):
    """Flag answers that use the reference package or a forbidden shortcut; return the tainted parts."""
    tainted = {}
    student_code = [step[1] for step in plan if step[0] == "code" and step[2]]
    package = next((f"{IMPORTS_REFERENCE}: {root} in {step[3]}" for step in plan if step[0] == "code" and step[2]
                    for root in [integrity.uses_protected_package(step[1])] if root), None)
    for part in spec.parts:
        for check_name, function in part.checks:
            check_ = checks.get(check_name)
            if package:
                tainted[part.grade_id] = package
            for source in (s for s in student_code if integrity.defines(s, function)):
                used = integrity.forbidden_uses(source, check_.forbid)
                if used:
                    tainted[part.grade_id] = f"{function} uses {', '.join(used)}, which this part asks you to write yourself"
    for reason in sorted(set(tainted.values())):
        result["flags"].append(reason)
    return tainted


# One mistake costs one part: a part that fails while it uses an answer whose own part failed is
# judged again with the reference's answer in its place (the source notebook's solution cell, run
# in the sandbox), between these two grader cells, which put the student's functions back.
SWAP_IN = "__grader_swapped__ = ({{n: globals()[n] for n in {names!r} if n in globals()}}, {names!r})"
SWAP_OUT = """for __grader_name__ in __grader_swapped__[1]:
    globals().pop(__grader_name__, None)
globals().update(__grader_swapped__[0])
del __grader_swapped__, __grader_name__
"""


def reference_answers(spec):
    """The source notebook's answer cells: grade id -> (the reference's source, names it defines)."""
    if spec is None:
        return {}
    return {grade_id(cell): (cell.source, integrity.functions_defined(cell.source))
            for cell in spec.cells if cell.cell_type == "code" and is_solution(cell) and not is_grade(cell)}


def seed_for(seed_key, data):
    """The hidden checks' seed for a notebook's bytes ``data`` under ``seed_key`` (a gradebook's secret)."""
    return int.from_bytes(hashlib.sha256(seed_key + data).digest()[:4], "big")


def run_check(request, check_name, function, seed, recorded=False):
    """Run one hidden check through the sandbox; return ``{"name", "passed", "message"}``.

    ``request(header, arrays)`` sends one request to the submission and returns its reply.
    With ``recorded``, and when the check forbids operators, the sandbox's runner watches for them
    while the function runs (:func:`integrity.watch_plan`), and ``"integrity"`` holds :func:`integrity.recording_problem`'s
    reason; it is ``None`` otherwise.
    """
    check_ = checks.get(check_name)
    recorded = recorded and bool(check_.forbid_ops)  # nothing to watch for: the call runs unrecorded, at full speed
    cases = checks.draw_cases(check_, seed)
    arrays, encoded = [], []
    for case in cases:
        encoded.append({"args": wire.encode(tuple(case.args), arrays, torch),
                        "kwargs": wire.encode(dict(case.kwargs), arrays, torch)})
    watch = integrity.watch_plan(check_.forbid_ops) if recorded else None
    reply, reply_arrays = request({"op": "call", "function": function, "cases": encoded, "watch": watch}, arrays)
    outcome = {"name": check_name, "description": check_.description, "passed": False, "message": "",
               "integrity": None}
    results = reply.get("results")
    if reply.get("op") != "call_done" or not isinstance(results, list) or len(results) != len(cases):
        raise Failure("protocol violation: malformed reply to a hidden check")
    if recorded:
        answered = any(isinstance(answer, dict) and answer.get("ok") for answer in results)
        outcome["integrity"] = integrity.recording_problem(reply.get("recording"), len(cases), answered,
                                                           check_.forbid_ops, function)
    for case, answer in zip(cases, results):
        changed = answer.get("changed") if isinstance(answer, dict) and answer.get("ok") else None
        if changed:
            outcome["message"] = f"{function}{case.describe()} {checks.changed_arguments_message(changed)}"
            return outcome
        if not isinstance(answer, dict) or not answer.get("ok"):
            error = answer.get("error") if isinstance(answer, dict) else "malformed"
            reason = check_.compare_error(case, str(error))  # a case may demand an exception
            if reason:
                outcome["message"] = f"{function}{case.describe()} {reason}"
                return outcome
            continue
        try:
            actual = wire.decode(answer["value"], reply_arrays, torch)
        except (wire.ProtocolError, KeyError, TypeError, ValueError) as error:
            raise Failure(f"protocol violation: {error}") from None
        reason = check_.compare(case, actual)
        if reason:
            outcome["message"] = f"{function}{case.describe()}: {reason}"
            return outcome
    edges = sum(1 for case in cases if case.label)
    outcome.update(passed=True, message=f"{edges} edge cases and {len(cases) - edges} random cases match")
    return outcome


class GraderFault(Exception):
    """A fault of the grader, not of the submission (its own exception, a sandbox that would not
    start or answered out of step): the batch retries the submission, then records status "error"."""


@dataclass
class Prepared:
    """A submission read, planned and scanned, ready to run in a sandbox.

    ``result`` is the template the run fills in; ``plan`` is ``None`` when there is nothing to
    run (a malformed notebook, another assignment's), and the template is then the final result.
    """

    result: dict
    plan: list | None = None
    tainted: dict = field(default_factory=dict)
    seed: int = 0
    seconds: float = 0.0
    spec: object = None


def prepare(data, spec, student, seed_key=b""):
    """Read, plan and scan notebook bytes ``data`` against ``spec``: all the work that needs no sandbox.

    This parses Python source (``ast``), which CPython 3.11 cannot do in several threads at once:
    call it from one thread (the batch's main thread). The hidden checks' inputs are seeded from
    ``seed_key`` and the notebook's hash, so regrading the same file gives the same result while a
    student cannot predict the inputs.
    """
    started = time.monotonic()
    sha256 = hashlib.sha256(data).hexdigest()
    result = new_result(student, spec.assignment, spec, sha256)
    seed = seed_for(seed_key, data)
    try:
        plan = build_plan(spec, read_cells(data), result)
        flag_altered_metadata(spec, data, result)
    except (ValueError, LookupError) as error:
        kind = "malformed notebook" if isinstance(error, ValueError) else "wrong assignment"
        result.update(status="flagged", flags=[f"{kind}: {error}"])
        return Prepared(result, seconds=time.monotonic() - started)
    tainted = scan_integrity(plan, spec, result)
    return Prepared(result, plan, tainted, seed, time.monotonic() - started, spec)


# A timeout or crash of the submission's process while it runs one step (a cell, a part's tests) is
# charged to that step alone: the grader restarts the sandbox, replays the cells before it and goes
# on (see run). A timeout is the student's only when the course's own answer to the same step,
# timed right then on the same worker, takes at most 1/COMFORT of the limit; otherwise the machine
# is too slow now, which is the grader's fault: retried, then status "error", never 0 points. The
# notebook's limit is judged the same way, against the course's answers' time to the same step, and
# it counts the student's steps only: the grader's replays and its timing of the course's answers
# after a failure cost the student nothing.
STEP_FAILURES = ("timeout: a cell or check", "the submission's process")
NOTEBOOK_TIMEOUT = "timeout: the notebook ran longer than {limit:g} s"  # worker.Worker.request's words
COMFORT = 10


def warm_for(spec, plan=None):
    """What the sandbox prepares for submissions of ``spec``: each dtype a check forbids
    (``"dtype torch.bfloat16"``), watched from the notebook's first cell (``sandbox/runner.py``,
    ``Recording``); and ``optimizers``, once, before forking, where a hidden check watches them and
    the code of ``plan`` (a prepared submission's steps) names ``torch.optim``
    (:func:`integrity.names_module`). The first optimizer a process makes imports ``torch._dynamo``,
    a second of CPU: no right answer makes one, so a runner pays it only for a submission that may,
    and then once for all its later children (one that reaches ``torch.optim`` by a name built at
    run time pays it during its call, and is flagged all the same). Without a ``plan`` (the batch's
    warm-up, before any submission is read), optimizers are left out."""
    parts = spec.parts if spec is not None else []
    forbidden = [op for part in parts for name, _ in part.checks for op in checks.get(name).forbid_ops]
    may_make_one = plan is not None and any(step[0] == "code" and integrity.names_module(step[1], "optim")
                                            for step in plan)
    optimizers = ("optimizers",) if may_make_one and integrity.watch_plan(forbidden)["optimizers"] else ()
    return optimizers + tuple(sorted({op for op in forbidden if op.startswith("dtype ")}))


def run(prepared, worker):
    """Run ``prepared`` in ``worker``'s sandbox and score every part; return the result dict.

    Raises :class:`GraderFault` when the grader, not the submission, failed (a slow machine
    included); the caller retries.
    """
    started = time.monotonic() - prepared.seconds
    result = copy.deepcopy(prepared.result)
    if prepared.plan is None:
        return _finish(result, started)
    result["limits"] = {"cell_seconds": worker.limits.cell_seconds, "notebook_seconds": worker.limits.notebook_seconds}
    parts = {p["grade_id"]: p for p in result["parts"]}
    plan_sources = {step[2]: step[1] for step in prepared.plan if step[0] == "code" and step[2]}
    imported = {}  # reference package the sandbox saw the submission try to import -> the step that did
    running = [None]  # what runs now, for that note: a student's cell, or a part's tests
    # the step of the plan running now, since when (time.monotonic()), and what of it runs (a cell, the
    # visible tests, a hidden check): what a failure's report says
    now = {"step": None, "step_since": None, "what": None}
    replay_to, skipped = 0, set()  # steps already done (their cells are replayed after a restart); steps left out
    cell_failures = {}  # answer cell -> why its cell stopped the sandbox, for its part's report
    cell_errors = {}  # answer cell -> the exception it raised (the sandbox went on), for its part's report
    excused = [0.0]  # seconds of the grader's own work after a failure (replays, timing the reference)

    answers = reference_answers(prepared.spec)
    answers_of = {name: gid for gid, (_, names) in answers.items() for name in names}
    failed_cells = set()  # answer cells whose part has failed so far
    rejudge = set()  # steps of parts that timed out or crashed: judged again with the course's answers
    judged_again = set()

    def drive(w):
        def request(header, arrays=()):
            reply, reply_arrays = w.request(header, arrays)
            for root in map(str, reply.get("reference_imports") or ()):
                imported.setdefault(root, running[0])
            return reply, reply_arrays

        def judge(index, part):
            """Run the part's visible tests and hidden checks; return ``(passed, record fields, problems)``."""
            now["what"] = f"the visible tests of {part.grade_id!r}"
            reply, _ = request({"op": "cell", "index": index, "source": part.visible_source})
            fields = {"visible": bool(reply.get("ok")), "checks": [], "error": None}
            if not fields["visible"]:
                fields["error"] = str(reply.get("error", ""))[:2000]
            problems = []  # forbidden operators that ran, or a recording tampered with
            for check_name, function in part.checks:
                now["what"] = f"the hidden check {check_name} (calling {function})"
                outcome = run_check(request, check_name, function, prepared.seed, recorded=True)
                problem = outcome.pop("integrity")
                if problem:
                    problems.append(problem)
                fields["checks"].append(outcome)
            passed = fields["visible"] and all(c["passed"] for c in fields["checks"]) and not problems
            return passed, fields, problems

        def judge_alone(index, part, own):
            """Judge the part again with the reference's answers in place of the student's answer cells
            that failed their own parts and that it uses: ``(passed, fields, names)``, or ``None``."""
            used, seen = integrity.names_used(part.visible_source), set()
            todo = set(own)  # the part's answer cells, and those of the answers they use, directly or not
            while todo:
                gid = todo.pop()
                seen.add(gid)
                used |= integrity.names_used(plan_sources.get(gid, ""))
                todo |= {answers_of[name] for name in used if name in answers_of} - seen
            swapped = [gid for gid in sorted(failed_cells - own) if answers[gid][1] & used]
            if not swapped:
                return None
            names = sorted(set().union(*(answers[gid][1] for gid in swapped)))
            request({"op": "cell", "index": index, "source": SWAP_IN.format(names=names)})
            for gid in swapped:
                request({"op": "cell", "index": index, "source": answers[gid][0]})
            passed, fields, _ = judge(index, part)
            request({"op": "cell", "index": index, "source": SWAP_OUT})
            return passed, fields, names

        for index, step in enumerate(prepared.plan):
            if index in rejudge:  # after a restart: the part whose check timed out or crashed, once more
                rejudge.discard(index)  # with the course's answers in place of failed ones it calls
                now.update(step=index, step_since=time.monotonic())
                own = {answers_of[f] for _, f in step[1].checks if f in answers_of}
                alone = judge_alone(index, step[1], own)
                if alone and alone[0]:
                    parts[step[1].grade_id].update(alone[1], score=step[1].points, error=None, note=(
                        f"judged with the course's {', '.join(alone[2])} in place of yours, which failed its "
                        "own part: one mistake costs one part"))
                continue
            if index < replay_to:  # after a restart: the cells before the failed step run again, unjudged
                if step[0] == "code" and index not in skipped:
                    now.update(step=None, what=None)  # a replayed cell that fails now stops the notebook
                    replay_started = time.monotonic()
                    request({"op": "cell", "index": index, "source": step[1]})
                    replayed = time.monotonic() - replay_started
                    w.grant(replayed)
                    excused[0] += replayed
                continue
            running[0] = (step[3] or "a given cell") if step[0] == "code" else f"a function that {step[1].grade_id!r} tests"
            now.update(step=index, step_since=time.monotonic())
            if step[0] == "code":
                now["what"] = step[3] or "a given cell"
                reply, _ = request({"op": "cell", "index": index, "source": step[1]})
                if not reply.get("ok") and step[2] in answers:
                    cell_errors[step[2]] = f"{step[3]} raised {str(reply.get('error', ''))[:1000]}"
                continue
            part, record = step[1], parts[step[1].grade_id]
            part_started = time.monotonic()
            own = {answers_of[f] for _, f in part.checks if f in answers_of}
            passed, fields, problems = judge(index, part)
            if not passed and part.grade_id not in prepared.tainted:
                alone = judge_alone(index, part, own)
                if alone and alone[0]:
                    passed, fields, problems = True, alone[1], []
                    fields["note"] = (f"judged with the course's {', '.join(alone[2])} in place of yours, which "
                                      "failed its own part: one mistake costs one part")
            if problems:
                result["flags"].extend(p for p in problems if p not in result["flags"])
                fields["error"] = "; ".join(problems)
            if part.grade_id in prepared.tainted:
                fields["error"] = prepared.tainted[part.grade_id]
                passed = False
            stopped = [cell_failures[gid] for gid in sorted(own) if gid in cell_failures]
            tainted = part.grade_id in prepared.tainted  # its reason says it all
            raised = [cell_errors[gid] for gid in sorted(own) if gid in cell_errors and not tainted]
            if (stopped or raised) and not passed:
                fields["error"] = "; ".join(stopped + raised + [fields["error"] or ""]).strip("; ")
            elif raised:  # what it defined before the exception passed: no cost, but Run All stops there
                earlier = [fields["note"]] if fields.get("note") else []
                fields["note"] = "; ".join(earlier + raised) + (
                    ": what the cell defined before passed the checks, but Run All stops at that cell")
            record.update(fields)
            record["score"] = part.points if passed else 0.0
            record["seconds"] = round(time.monotonic() - part_started, 2)
            if not passed:
                failed_cells.update(own)

    while True:
        left = worker.limits.notebook_seconds - (time.monotonic() - started - excused[0])
        warm = warm_for(prepared.spec, prepared.plan)
        failure = worker.run_submission(drive, seconds=left, warm=warm) if left > 0 else Failure(
            NOTEBOOK_TIMEOUT.format(limit=worker.limits.notebook_seconds))
        if failure is None or failure.grader_fault:
            break
        index = now["step"]
        if index is not None and failure.reason.startswith(NOTEBOOK_TIMEOUT.split("{")[0]):
            _judge_notebook_timeout(prepared, worker, index, now["what"])
        if index is None or not failure.reason.startswith(STEP_FAILURES):
            result["flags"].append(f"stopped early: {failure.reason}")
            break
        charging = time.monotonic()
        _charge(prepared, worker, now, failure, result, parts, cell_failures, failed_cells, answers)
        excused[0] += time.monotonic() - charging
        skipped.add(index)
        if prepared.plan[index][0] == "test" and index not in judged_again:
            rejudge.add(index)  # it may have failed only through an answer that failed its own part
            judged_again.add(index)
        replay_to = index + 1
    if failure and failure.grader_fault:
        raise GraderFault(failure.reason)
    if imported and not any(flag.startswith(IMPORTS_REFERENCE) for flag in result["flags"]):
        reason = f"{IMPORTS_REFERENCE}: {'; '.join(f'{r} in {w}' for r, w in sorted(imported.items()))}, seen at run time"
        result["flags"].append(reason)
        for record in result["parts"]:
            if not record["manual"]:
                record.update(score=0.0, error=reason)
    if result["flags"]:  # tampering, missing cells, a stopped run: a person should look
        result["status"] = "flagged"
    return _finish(result, started)


def _charge(prepared, worker, now, failure, result, parts, cell_failures, failed_cells, answers):
    """Charge the failure of the step of the plan running ``now`` (see :func:`run`) to that step alone.

    A timeout counts against the student only when the course's answer to the same step fits the
    limit comfortably now (:data:`COMFORT`); otherwise :class:`GraderFault`. A cell the student
    added has no such answer: its timeout is the student's. A part's tests that failed cost that
    part; an answer cell that failed leaves its part to fail with the reason; a cell the student
    added, or a given cell (slowed down by the student's code), is flagged."""
    index, what, failed_at = now["step"], now["what"], time.monotonic()  # what ran, and when it failed
    step = prepared.plan[index]
    limit = worker.limits.cell_seconds
    reason = failure.reason
    if reason.startswith("timeout"):
        reason = f"timeout: {what} ran longer than the limit of {limit:g} s per cell or check"
        if step[0] == "test" or step[2] != "student":  # a cell the student added has no reference
            timed = reference_seconds(prepared, worker, index)
            reference = None if timed is None else timed.get(index)
            if reference is None or reference * COMFORT > limit:
                took = "did not finish" if reference is None else f"took {reference:.1f} s"
                raise GraderFault(f"{what} ran longer than {limit:g} s, and the course's own answer {took} there "
                                  f"now: the machine is too slow, not the answer")
            # no measured time in the reason: grading the same file twice must give the same report
            reason += f" (the course's answer takes at most a tenth of it there)"
    else:
        reason = f"{what} stopped the notebook: {reason}"  # how long it ran is the part's "seconds": a flag stays the same
    if step[0] == "test":
        record = parts[step[1].grade_id]
        record.update(score=0.0, error=reason, seconds=round(failed_at - now["step_since"], 2))
        failed_cells.update(gid for gid in answers if answers[gid][1] & {f for _, f in step[1].checks})
    elif step[2] in answers:
        cell_failures[step[2]] = reason
    else:
        result["flags"].append(f"{reason}; the grader restarted the notebook after it")


def _judge_notebook_timeout(prepared, worker, index, what):
    """Raise :class:`GraderFault` unless the course's answers reach step ``index`` of the plan (where
    the notebook's limit ran out, while ``what`` ran) within 1/:data:`COMFORT` of that limit now."""
    limit = worker.limits.notebook_seconds
    timed = reference_seconds(prepared, worker, index, every_part=True)
    if timed is None or sum(timed.values()) * COMFORT > limit:
        took = "did not get there" if timed is None else f"got there in {sum(timed.values()):.1f} s"
        raise GraderFault(f"the notebook ran longer than {limit:g} s (at {what}), and the course's own answers {took} "
                          "now: the machine is too slow, not the answer")


def reference_seconds(prepared, worker, index, every_part=False):
    """Seconds the course's answers take on ``worker`` now, step by step up to step ``index`` of the
    plan: the given cells and the source's answer cells run in a fresh sandbox, then that step (an
    answer cell, or a part's visible tests and hidden checks, recorded as the student's are), each
    timed; with ``every_part``, the parts' tests before it too. A dict step index -> seconds (the
    cells the student added have none), or ``None`` if it failed."""
    answers = reference_answers(prepared.spec)
    timed = {}

    def source(step):
        return answers[step[2]][0] if step[2] in answers else step[1]

    def drive(w):
        for i, step in enumerate(prepared.plan[:index + 1]):
            if step[0] == "code" and step[2] == "student" or step[0] == "test" and i < index and not every_part:
                continue
            t0 = time.monotonic()
            if step[0] == "code":
                w.request({"op": "cell", "index": i, "source": source(step)})
            else:
                w.request({"op": "cell", "index": i, "source": step[1].visible_source})
                for check_name, function in step[1].checks:
                    run_check(w.request, check_name, function, prepared.seed, recorded=True)
            timed[i] = time.monotonic() - t0

    failure = worker.run_submission(drive, warm=warm_for(prepared.spec))
    return None if failure else timed


def run_with_retry(prepared, worker):
    """:func:`run`, with a grader fault retried once on a fresh sandbox; a second fault gives a
    result with status ``"error"``: no score, and the next ``grade`` run grades it again."""
    faults = []
    for _ in range(2):
        try:
            result = run(prepared, worker)
            result["grader_faults"] = faults  # retried faults, for the instructor's logs
            return result
        except Exception as error:  # the grader's own code failed: the submission is not to blame
            worker.kill()
            faults.append(str(error) if isinstance(error, GraderFault) else f"{type(error).__name__}: {error}")
    return error_result(prepared.result, faults[-1], faults)


def error_result(template, reason, faults=()):
    """The result of a submission that the grader failed to grade: status "error", no score."""
    result = copy.deepcopy(template)
    result.update(status="error", score=0.0, grader_faults=list(faults),
                  flags=[f"not graded: the grader failed ({reason}); the next grade run grades it again"])
    for record in result["parts"]:
        record["score"] = None
    return result


def grade_submission(data, spec, worker, student, seed_key=b""):
    """Grade notebook bytes ``data`` against ``spec`` with ``worker`` in one thread; return a result dict."""
    return run_with_retry(prepare(data, spec, student, seed_key), worker)


def _finish(result, started):
    result["score"] = sum(p["score"] or 0.0 for p in result["parts"])
    result["seconds"] = round(time.monotonic() - started, 3)
    return result
