"""`check` without the sandbox, as on macOS and Windows, gives the sandboxed check's verdicts.

The portable path (``autograder/portable.py``: a fresh interpreter per submission, started with
``subprocess``, no fork, replies read by a thread) is forced here on Linux (``--no-sandbox``, or
:class:`PortableWorker` itself). Its notebooks are the corpus's distinct cases for a runner's life:
right, blank and partial answers, a forbidden built-in reached at run time (the recording), and
the hostile entries that need no sandbox to end (``hostile.UNSANDBOXED``: a hang, an exit, a crash,
a memory bomb, an output flood, an empty file) with a caught ``sys.exit`` and an import of the
reference package. Each is checked both ways with one seed key, so both draw the same inputs.
"""

import queue
import subprocess
import sys
import threading
from pathlib import Path

from autograder import check, course
from autograder.portable import PortableWorker
from autograder.worker import RUNNER_DIR, Limits, Worker

from conftest import answered, load, solution_ids, write_submission

sys.path.insert(0, str(Path(__file__).parent / "corpus"))
import disguised  # noqa: E402
import hostile  # noqa: E402

ASSIGNMENT = "01-transformers"
LIMITS = Limits(cell_seconds=5, notebook_seconds=20, memory_bytes=2**30, output_bytes=8 * 2**20,
                tmp_bytes=64 * 2**20, processes=32)  # test_hostile's: a hang costs seconds, not minutes
HOSTILE = hostile.UNSANDBOXED + ("sys_exit", "import_reference")
DISGUISES = ("softmax_getattr", "softmax_thread")  # the dispatch recording, and the audit of threads
SEED_KEY = b"one key for both runs"
THREADS = 2


def corpus(released, root):
    """The notebooks to check, written under ``root``: name -> (path, hostile.Expect or None)."""
    release_nb, source_nb = load(released / ASSIGNMENT / course.EXERCISE), load(course.source_notebook(ASSIGNMENT))
    ctx = hostile.Context(release_nb=release_nb, source_nb=source_nb, other_nb=release_nb, secret_paths=(),
                          gradebook=root / "no-gradebook.db", port=0)  # none of the chosen entries uses these
    notebooks = {"right": (answered(release_nb, source_nb, solution_ids(source_nb)), None),
                 "blank": (release_nb, None),
                 "partial": (answered(release_nb, source_nb, ["softmax", "causal_mask"]), None)}
    for name in DISGUISES:
        disguise = disguised.DISGUISES[name]
        nb = hostile.set_answer(hostile.honest(ctx), disguise.cell, disguise.source)
        notebooks[name] = (nb, None)
    for name in HOSTILE:
        notebooks[name] = hostile.CASES[name](ctx)
    return {name: (write_submission(root, name, ASSIGNMENT, nb), expect) for name, (nb, expect) in notebooks.items()}


def verdict(result):
    """What a student must see the same both ways: status, score, flags, and per part its score, its
    visible tests' outcome and each hidden check's outcome (as ``test_check_cli.verdict``)."""
    parts = tuple((p["grade_id"], p["score"], p["visible"], tuple(c["passed"] for c in p["checks"]))
                  for p in result["parts"] if not p["manual"])
    return result["status"], result["score"], sorted(result["flags"]), parts


def check_both_ways(todo, outcomes):
    """Check each notebook taken from ``todo`` (a queue of ``(name, path)``) in the sandbox and
    without it, until none is left; put name -> (sandboxed result, portable result, report passed
    both ways) in ``outcomes``. Runs in a thread of its own, which launches (and so outlives) both runners."""
    sandboxed, portable = Worker(0, LIMITS, sandbox=True), PortableWorker(0, LIMITS)
    try:
        while True:
            try:
                name, path = todo.get_nowait()
            except queue.Empty:
                return
            spec = check.find_spec(path, path.read_bytes())
            results = [check.check_notebook(path, spec, runner, SEED_KEY) for runner in (sandboxed, portable)]
            outcomes[name] = (*results, tuple(check.report(spec, r)[1] for r in results))
    finally:
        sandboxed.close()
        portable.close()


def test_portable_check_gives_the_sandboxed_verdicts(released, tmp_path):
    notebooks = corpus(released, tmp_path)
    names = sorted(notebooks)
    todo, outcomes = queue.Queue(), {}
    for name in sorted(names, key=lambda n: n not in HOSTILE):  # the hostile, slowest, first: the threads end together
        todo.put((name, notebooks[name][0]))
    threads = [threading.Thread(target=check_both_ways, args=(todo, outcomes)) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == names, "a thread failed: see its exception above"
    differ = [f"{name}: sandboxed {verdict(sandboxed)}\n  portable {verdict(portable)}"
              for name, (sandboxed, portable, _) in outcomes.items() if verdict(sandboxed) != verdict(portable)]
    assert not differ, f"{len(differ)} of {len(names)} notebooks got another verdict without the sandbox:\n" \
        + "\n".join(differ)
    for name, (_, portable, passed) in outcomes.items():
        assert passed[0] == passed[1], f"{name}: the report's passed differs: {passed}"
        expect = notebooks[name][1]
        if expect is not None:  # the hostile corpus's own expectation, so that both cannot be wrong alike
            assert (portable["status"], portable["score"]) == (expect.status, expect.score), (name, verdict(portable))
            assert any(expect.flag in flag for flag in portable["flags"]) if expect.flag else not portable["flags"], \
                (name, portable["flags"])
    auto = [p for p in outcomes["right"][1]["parts"] if not p["manual"]]
    assert outcomes["right"][2] == (True, True) and all(p["score"] == p["points"] for p in auto)
    blank = {p["score"] for p in outcomes["blank"][1]["parts"] if not p["manual"]}
    assert outcomes["blank"][2] == (False, False) and blank == {0.0}


def test_check_without_the_sandbox_says_so_and_exits_as_the_sandboxed_one(released, tmp_path):
    release_nb, source_nb = load(released / ASSIGNMENT / course.EXERCISE), load(course.source_notebook(ASSIGNMENT))
    path = write_submission(tmp_path, "student", ASSIGNMENT, answered(release_nb, source_nb, solution_ids(source_nb)))
    result = subprocess.run([sys.executable, "-m", "autograder", "check", "--no-sandbox", str(path)],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr  # the course's answers earn every point
    assert "WITHOUT the grader's sandbox" in result.stdout and "--no-sandbox" in result.stdout
    assert result.stdout.splitlines()[-2] == check.UNSANDBOXED, result.stdout
    assert "Every autograded part passed." in result.stdout


RUNNER_WITHOUT_LINUX = f"""
import ctypes, sys
import numpy, torch, IPython  # the runner's other imports, loaded while the platform is still Linux's

for name in ("resource", "fcntl", "termios"):  # POSIX-only modules: importing them now fails
    sys.modules[name] = None
sys.platform = "darwin"


def no_prctl(*args, **kwargs):
    raise AssertionError("the runner loaded the C library for prctl, which only Linux has")


ctypes.CDLL = no_prctl
sys.path.insert(0, {str(RUNNER_DIR)!r})
import runner

assert runner.resource is None
runner.die_with_parent()
runner.apply_limits({{"memory_bytes": 2**30, "output_bytes": 2**20, "processes": 8}})
print("imported")
"""


def test_the_runner_imports_without_linux_or_posix_modules():
    """The portable check's runner imports, and confines a submission with what exists, where
    ``resource``, ``fcntl`` and ``prctl`` are missing (Windows; macOS has no ``prctl``)."""
    result = subprocess.run([sys.executable, "-c", RUNNER_WITHOUT_LINUX], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "imported", result.stdout + result.stderr
