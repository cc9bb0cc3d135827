"""The hostile corpus (tests/corpus/hostile.py), graded in one batch with short limits.

Every entry must end with its expected status, exact score and flag, within its limits, and
leave nothing running; the batch must go on past every one of them.
"""

import ast
import json
import socket
import sys
import time
from pathlib import Path

import pytest

from autograder import batch, course, gradescope
from autograder.gradebook import GradeStore, sqlite_url
from autograder.spec import load_spec
from autograder.worker import Limits, Worker

from conftest import REPO, adopt_orphans, descendants, load, write_submission

sys.path.insert(0, str(Path(__file__).parent / "corpus"))
import hostile  # noqa: E402

ASSIGNMENT = "01-transformers"
WORKERS = 2
LIMITS = Limits(cell_seconds=5, notebook_seconds=20, memory_bytes=2**30, output_bytes=8 * 2**20,
                tmp_bytes=64 * 2**20, processes=32)
SLACK_SECONDS = 20  # a worker's restart, and after a timeout the timing of the course's answers to that step
# (grading.reference_seconds), each several seconds on 2 loaded cores


def running():
    """Processes below this test process; orphans are adopted by it, so none escapes the count."""
    adopt_orphans()
    return set(descendants())


def wait_for_nothing_left(before, timeout=5.0):
    """Command lines of processes started since ``before`` (a :func:`running` set) still alive after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        left = sorted(running() - before)
        if not left or time.monotonic() > deadline:
            return [_command_line(pid) for pid in left]
        time.sleep(0.1)


def _command_line(pid):
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        command = "(gone)"
    return f"{pid}: {command}"


def grade_corpus(tmp_path, released, names, sandbox):
    """Write the entries ``names`` of the corpus and grade them in one batch; return results by name."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    gradebook = tmp_path / "gradebook.db"
    submitted = tmp_path / "submitted"
    canary_student = write_submission(submitted, "zz-honest", ASSIGNMENT, load(released / ASSIGNMENT / course.EXERCISE))
    secrets = [REPO / "solutions" / "transformers.py", REPO / "autograder" / "checks" / "transformers.py",
               canary_student] + [p for p in [Path.home() / ".bashrc"] if p.is_file()]
    assert all(p.is_file() for p in secrets), "the files an escape would read must exist"
    secrets.append(gradebook)  # created when the batch opens it
    ctx = hostile.Context(
        release_nb=load(released / ASSIGNMENT / course.EXERCISE),
        source_nb=load(course.source_notebook(ASSIGNMENT)),
        other_nb=load(course.CHAPTERS / ASSIGNMENT / "self-attention.ipynb"),
        secret_paths=tuple(secrets), gradebook=gradebook, port=listener.getsockname()[1])
    expected = {}
    for name in names:
        data, expected[name] = hostile.CASES[name](ctx)
        write_submission(submitted, name, ASSIGNMENT, data)
    before = running()  # what earlier tests in this process left (a Dask resource tracker, say)
    started = time.monotonic()
    with GradeStore(sqlite_url(gradebook)) as store:
        summary = batch.grade_all(submitted, store, workers=WORKERS, limits=LIMITS, sandbox=sandbox, progress=False)
        results = {r["student"]: r for r in store.results(ASSIGNMENT)}
    wall = time.monotonic() - started
    try:
        listener.accept()
        connected = True
    except BlockingIOError:
        connected = False
    listener.close()
    return {"results": results, "expected": expected, "summary": summary, "wall": wall,
            "left": wait_for_nothing_left(before), "connected": connected, "gradebook": gradebook}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, released):
    return grade_corpus(tmp_path_factory.mktemp("hostile"), released, list(hostile.CASES), sandbox=True)


def check_entry(graded, name):
    result, expect = graded["results"][name], graded["expected"][name]
    summary = f"{name}: {result['status']}, {result['score']:g} points, flags {json.dumps(result['flags'])}"
    assert result["status"] == expect.status, summary
    assert result["score"] == expect.score, summary
    assert result["score"] < result["max_score"], summary
    if expect.flag:
        assert any(expect.flag in flag for flag in result["flags"]), summary
    else:
        assert result["flags"] == [], summary
    assert result["seconds"] <= LIMITS.notebook_seconds + SLACK_SECONDS, summary


@pytest.mark.parametrize("name", list(hostile.CASES))
def test_entry(corpus, name):
    check_entry(corpus, name)


def test_batch_goes_on_and_leaves_nothing(corpus):
    results = corpus["results"]
    assert results["zz-honest"]["status"] == "graded" and results["zz-honest"]["flags"] == []
    assert set(results) == set(hostile.CASES) | {"zz-honest"}
    assert corpus["summary"]["skipped"] == 0
    assert corpus["left"] == [], "processes left running after the batch"
    assert not corpus["connected"], "a submission reached the host's network"
    assert not Path(str(corpus["gradebook"]) + "-pwned").exists()


def test_timeouts_stop_soon(corpus):
    """A cell that never returns costs its cell limit and a little (a worker's restart), not the notebook's."""
    for name in ("infinite_loop", "swallow_interrupt", "fork_bomb"):
        assert corpus["results"][name]["seconds"] < LIMITS.notebook_seconds, name


def test_gradescope_reports_each_entry_as_grade_scores_it(corpus):
    """What Gradescope's results file says of each entry (``gradescope.results_json``, which
    ``run_autograder`` writes from the same grading): the score ``grade`` must give it, and its flag."""
    spec = load_spec(course.source_notebook(ASSIGNMENT), ASSIGNMENT)
    for name in hostile.CASES:
        result, expect = corpus["results"][name], corpus["expected"][name]
        results = gradescope.results_json(spec, result, [], result["seconds"], True)
        assert results["score"] == expect.score == sum(t["score"] for t in results["tests"]), (name, results["output"])
        assert expect.flag in results["output"], (name, results["output"])


def test_without_sandbox_nothing_hangs(tmp_path, released):
    graded = grade_corpus(tmp_path, released, hostile.UNSANDBOXED, sandbox=False)
    for name in hostile.UNSANDBOXED:
        check_entry(graded, name)
    assert graded["left"] == []


# what a submission leaves in the private /tmp, out of its own folder or in a folder it locked
LEAVE_TMP_FULL = """import os
written = 0
for folder in ('/tmp/left', 'locked/inner'):
    try:
        os.makedirs(folder, exist_ok=True)
        for i in range(8):
            with open(os.path.join(folder, f'fill{i}'), 'wb') as f:
                f.write(b'x' * 4 * 2**20)
            written += 4 * 2**20
    except OSError:
        pass
os.chmod('locked', 0)
ESCAPED = False
"""
# ... and what one leaves in a folder it locked in its own folder alone (nothing else in /tmp)
LOCKS_OWN_FOLDER = """import os
os.makedirs('locked/inner')
with open('locked/inner/kept.txt', 'w') as f:
    f.write('kept')
os.chmod('locked', 0)
ESCAPED = False
"""
WRITES_TMP = """import os
with open('/tmp/scratch.txt', 'w') as f:
    f.write('kept')
ESCAPED = set(os.listdir('/tmp')) == {'scratch.txt', os.path.basename(os.getcwd())}  # nothing of the last one's
"""


def test_tmp_is_writable_and_emptied_between_submissions(tmp_path, released):
    """/tmp is the submission's to write (as the README says), and what one submission leaves there,
    even in a folder it locked, in its own folder or out of it, is gone before the next one starts
    in the same runner."""
    ctx = hostile.Context(release_nb=load(released / ASSIGNMENT / course.EXERCISE),
                          source_nb=load(course.source_notebook(ASSIGNMENT)), other_nb={}, secret_paths=(),
                          gradebook=tmp_path / "gradebook.db", port=0)
    submitted = tmp_path / "submitted"
    write_submission(submitted, "a-leaves-tmp-full", ASSIGNMENT, hostile.canary(ctx, LEAVE_TMP_FULL))
    write_submission(submitted, "b-locks-own-folder", ASSIGNMENT, hostile.canary(ctx, LOCKS_OWN_FOLDER))
    write_submission(submitted, "c-writes-tmp", ASSIGNMENT, hostile.canary(ctx, WRITES_TMP))
    with GradeStore(sqlite_url(ctx.gradebook)) as store:
        batch.grade_all(submitted, store, workers=1, limits=LIMITS, sandbox=True, progress=False)
        results = {r["student"]: r for r in store.results(ASSIGNMENT)}
    assert results["a-leaves-tmp-full"]["score"] == hostile.HONEST, results["a-leaves-tmp-full"]
    assert results["b-locks-own-folder"]["score"] == hostile.HONEST, results["b-locks-own-folder"]
    assert results["c-writes-tmp"]["score"] == hostile.ALL_POINTS, results["c-writes-tmp"]


RUNNER_CAPABILITIES = """import os
def capabilities(pid):
    status = dict(line.split(':', 1) for line in open(f'/proc/{pid}/status'))
    return int(status['CapEff'], 16), int(status['CapPrm'], 16), int(status['CapAmb'], 16)
raise SystemError(repr((capabilities(os.getppid()), capabilities(os.getpid()))))
"""
KILL, SETGID, SETUID = 5, 6, 7  # linux/capability.h


def test_the_runner_holds_only_the_capabilities_it_needs():
    """bubblewrap started by root leaves the sandbox every capability unless told otherwise; the
    runner needs three (to kill what a submission left, and to run it under its own user id), and
    the submission none."""
    worker = Worker(0, LIMITS, sandbox=True)
    replies = []
    try:
        failure = worker.run_submission(lambda w: replies.append(w.request(
            {"op": "cell", "index": 0, "source": RUNNER_CAPABILITIES})))
    finally:
        worker.close()
    assert failure is None, failure.reason
    error = replies[0][0]["error"]
    runner, submission = ast.literal_eval(error.split(": ", 1)[1].splitlines()[0])
    needed = (1 << KILL) | (1 << SETGID) | (1 << SETUID)
    assert all(held & ~needed == 0 for held in runner), [hex(held) for held in runner]
    assert submission == (0, 0, 0), [hex(held) for held in submission]
