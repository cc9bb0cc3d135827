"""The portable ``check`` (no sandbox, as on macOS and Windows) gives the sandboxed ``check``'s verdict
on every notebook of the test corpus, for all five assignments.

Each notebook is checked twice with one seed key, so both draw the same inputs: in the sandbox
(:class:`worker.Worker`) and in a fresh interpreter started portably (:class:`portable.PortableWorker`),
by 2 threads as ``tests/test_portable_check.py`` does, and the two results' ``verdict`` (status,
score, flags, and per part its score, visible tests and hidden checks) and the report's "passed"
must agree. The corpus, per assignment:

- the classroom (``tests/corpus/classroom.py``): two right, blank, partial and subtly wrong answers each;
- the catalogue of mistakes (``tests/corpus/mistakes/``, as ``classroom.catalogue`` writes it): its
  independent right answers, and for each k a notebook whose every part holds its k-th mistake;
- the disguised answers and the independent answers of the parts that forbid operators
  (``tests/corpus/disguised.py``), and chapter 1's ten independent students (``tests/corpus/independent.py``);
- chapter 1's hostile corpus (``tests/corpus/hostile.py``), whose classroom entries it includes,
  but for the entries listed in :data:`NEEDS_SANDBOX`: what they must get is what the sandbox
  gives (a file, the network, a process count it keeps from them), while without one a student
  attacks only their own machine. They are written into the result with their reason.

Ordinary notebooks are checked under ``check``'s own limits (``Limits()``); the hostile ones under the
test's short limits, so that a hang costs seconds. Where the corpus states a notebook's result
without a guess (hostile entries, right and blank answers, the catalogue, disguised and independent
answers), both ways must also get it, so that they cannot agree by being wrong alike. Writes
``bench/results/portable.json``; exits 1 on any disagreement or unexpected result.
"""

import queue
import sys
import tempfile
import threading
import time
from pathlib import Path

from autograder import check, course
from autograder.portable import PortableWorker
from autograder.worker import Limits, Worker
from bench import REPO, save

sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "corpus")]
import classroom  # noqa: E402
import disguised  # noqa: E402
import hostile  # noqa: E402
import independent  # noqa: E402
from conftest import load, write_submission  # noqa: E402
from test_portable_check import LIMITS as HOSTILE_LIMITS, SEED_KEY, THREADS, verdict  # noqa: E402

CHECK_LIMITS = Limits()  # what `python -m autograder check` grades under
PER_ASSIGNMENT = 8  # two of each of classroom.KINDS: a partial answer of one cell, a second nudged function
NO_PROCESS_LIMIT = ("forks processes; only the sandbox limits their number (the portable check sets no "
                    "process limit: outside a user namespace it counts all of the student's own programs)")
NEEDS_SANDBOX = {
    "read_host_files": "reads the host's files; only the sandbox hides them",
    "write_gradebook": "writes the gradebook; only the sandbox keeps it out of reach (check has none)",
    "network": "connects to the network; only the sandbox cuts it off",
    "tmp_flood": "fills /tmp; only the sandbox gives a private /tmp of limited size",
    "fork_bomb": NO_PROCESS_LIMIT,
    "fork_count": NO_PROCESS_LIMIT,
    "fork_children": NO_PROCESS_LIMIT,
}
EXPLANATORY = REPO / "chapters" / "01-transformers" / "self-attention.ipynb"  # hostile.explanatory_notebook's


def with_answers(exercise, answers):
    """The release of ``exercise`` with every source answer, but ``answers`` (grade id -> source) in their cells."""
    nb = exercise.notebook(exercise.answers)
    for cell in nb["cells"]:
        if classroom._gid(cell) in answers:
            cell["source"] = answers[classroom._gid(cell)]
    return nb


def corpus(released, root):
    """Write every notebook under ``root``; return ``[(name, assignment, corpus, path, limits, expect)]``, the
    hostile first (the slowest: the threads then end together), and ``{hostile name: reason}`` left out.
    ``expect`` is the ``(status, score)`` the corpus states where it needs no guess at which parts an
    answer affects (as ``tests/test_check_cli.py``'s ``sure``; a disguise flags its part and zeroes the
    parts it names), else None: agreeing, both ways must also be right."""
    exercises, _ = classroom.exercises_and_context(released)
    by_name = {e.assignment: e for e in exercises}
    found = []  # (name, assignment, corpus, notebook bytes or dict, limits, expect)
    first = by_name["01-transformers"]
    ctx = hostile.Context(release_nb=first.release_nb, source_nb=first.source_nb, other_nb=load(EXPLANATORY),
                          secret_paths=(), gradebook=root / "no-gradebook.db", port=0)  # used only by NEEDS_SANDBOX
    assert set(NEEDS_SANDBOX) <= set(hostile.CASES) and not set(NEEDS_SANDBOX) & set(hostile.UNSANDBOXED)
    for name, build in hostile.CASES.items():
        if name not in NEEDS_SANDBOX:
            data, expect = build(ctx)
            found.append((f"hostile-{name}", first.assignment, "hostile", data, HOSTILE_LIMITS,
                          (expect.status, expect.score)))
    for sub in classroom.build_class(exercises, PER_ASSIGNMENT):
        sure = sub.student.endswith(("-right", "-blank"))
        found.append((sub.student, sub.assignment, "classroom", sub.data, CHECK_LIMITS,
                      (sub.status, sub.score) if sure else None))
    for exercise in exercises:
        for sub in classroom.catalogue(exercise):
            found.append((sub.student, sub.assignment, "mistakes", sub.data, CHECK_LIMITS, (sub.status, sub.score)))
    for name, entry in disguised.DISGUISES.items():
        exercise = by_name[entry.assignment]
        nb = with_answers(exercise, {entry.cell: entry.source})
        score = sum(p.points for p in exercise.parts if p.grade_id not in entry.zero)
        found.append((f"disguised-{name}", entry.assignment, "disguised", nb, CHECK_LIMITS, ("flagged", score)))
    for assignment, answers in disguised.INDEPENDENT.items():
        nb = with_answers(by_name[assignment], answers)
        found.append(("disguised-independent", assignment, "disguised", nb, CHECK_LIMITS,
                      ("graded", by_name[assignment].expected(by_name[assignment].answers)[0])))
    for student in independent.STUDENTS:
        nb = with_answers(first, independent.answers(student, first.answers))
        found.append((f"independent-{student}", first.assignment, "independent", nb, CHECK_LIMITS,
                      ("graded", hostile.ALL_POINTS)))
    written = [(name, assignment, source, write_submission(root, name, assignment, nb), limits, expect)
               for name, assignment, source, nb, limits, expect in found]
    return written, {f"hostile-{name}": reason for name, reason in NEEDS_SANDBOX.items()}


def check_both_ways(todo, outcomes):
    """Check each notebook taken from ``todo`` in the sandbox and without it, until none is left; put
    name -> the two ``(result, report's passed, seconds)`` in ``outcomes``. Runs in a thread of its
    own, which launches (and so outlives) its runners; a change of limits starts new ones."""
    runners, limits = (), None
    try:
        while True:
            try:
                name, assignment, path, wanted = todo.get_nowait()
            except queue.Empty:
                return
            if wanted != limits:
                for runner in runners:
                    runner.close()
                runners, limits = (Worker(0, wanted, sandbox=True), PortableWorker(0, wanted)), wanted
            spec = check.find_spec(path, path.read_bytes())
            both = []
            for runner in runners:
                start = time.perf_counter()
                result = check.check_notebook(path, spec, runner, SEED_KEY)
                both.append((result, check.report(spec, result)[1], time.perf_counter() - start))
            outcomes[(assignment, name)] = tuple(both)
            print(f"{assignment}/{name}: {'agree' if agree(*both) else 'DISAGREE'}", flush=True)
    finally:
        for runner in runners:
            runner.close()


def agree(sandboxed, portable):
    """Whether a student sees the same both ways: the verdict and the report's "passed"."""
    return (verdict(sandboxed[0]), sandboxed[1]) == (verdict(portable[0]), portable[1])


def summary(outcome):
    result, passed, seconds = outcome
    return {"status": result["status"], "score": result["score"], "passed": passed, "seconds": round(seconds, 2)}


def main():
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        course.release(course_dir=root / "course", out_dir=root / "release")  # as tests/conftest.py's `released`
        notebooks, excluded = corpus(root / "release", root / "submissions")
        todo, outcomes = queue.Queue(), {}
        for name, assignment, _, path, limits, _ in notebooks:
            todo.put((name, assignment, path, limits))
        start = time.perf_counter()
        threads = [threading.Thread(target=check_both_ways, args=(todo, outcomes)) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - start
    rows = []
    for name, assignment, source, _, _, expect in notebooks:
        sandboxed, portable = outcomes[(assignment, name)]
        row = {"name": name, "assignment": assignment, "corpus": source, "agree": agree(sandboxed, portable),
               "sandboxed": summary(sandboxed), "portable": summary(portable),
               "expected": None if expect is None else {"status": expect[0], "score": expect[1]}}
        if not row["agree"]:
            row["verdicts"] = {"sandboxed": repr(verdict(sandboxed[0])), "portable": repr(verdict(portable[0]))}
        rows.append(row)
    disagree = [f"{r['assignment']}/{r['name']}" for r in rows if not r["agree"]]
    unexpected = [f"{r['assignment']}/{r['name']}" for r in rows if r["expected"] and any(
        (r[way]["status"], r[way]["score"]) != (r["expected"]["status"], r["expected"]["score"])
        for way in ("sandboxed", "portable"))]
    save("portable", {
        "notebooks": len(rows), "agree": len(rows) - len(disagree), "disagree": disagree,
        "with_expected_result": sum(r["expected"] is not None for r in rows), "unexpected": unexpected,
        "per_assignment": {a: sum(r["assignment"] == a for r in rows) for a in course.assignments()},
        "per_corpus": {c: sum(r["corpus"] == c for r in rows) for c in dict.fromkeys(r["corpus"] for r in rows)},
        "seconds": round(seconds, 1), "threads": THREADS,
        "seconds_sandboxed": round(sum(r["sandboxed"]["seconds"] for r in rows), 1),
        "seconds_portable": round(sum(r["portable"]["seconds"] for r in rows), 1),
        "excluded": [{"name": name, "assignment": "01-transformers", "reason": reason}
                     for name, reason in excluded.items()],
        "results": rows,
    })
    return 1 if disagree or unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
