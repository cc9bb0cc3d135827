"""Interrupted batches resume without regrading or losing anything; regrading is idempotent."""

import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from autograder import course
from autograder.gradebook import GradeStore, sqlite_url

from conftest import adopt_orphans, answered, descendants, load, solution_ids, write_submission

ASSIGNMENT = "01-transformers"


@pytest.fixture
def classroom(tmp_path, released):
    """Four quick submissions and a last one that sleeps in a cell of its own."""
    release_nb = load(released / ASSIGNMENT / course.EXERCISE)
    source_nb = load(course.source_notebook(ASSIGNMENT))
    answers = solution_ids(source_nb)
    for i in range(4):
        write_submission(tmp_path / "submitted", f"student{i}", ASSIGNMENT, answered(release_nb, source_nb, answers[:i]))
    slow = answered(release_nb, source_nb, answers)
    slow["cells"].insert(2, {"cell_type": "code", "metadata": {}, "source": "import time\ntime.sleep(60)",
                             "outputs": [], "execution_count": None})
    write_submission(tmp_path / "submitted", "zz-slow", ASSIGNMENT, slow)
    return tmp_path


def start_grading(root, *extra):
    # A suite started in the background by a shell (`make test &`) inherits SIGINT ignored, and Python
    # keeps an ignored SIGINT ignored: give the grader the default, as a terminal's Ctrl-C would find it.
    return subprocess.Popen([sys.executable, "-m", "autograder", "grade", "submitted", "--workers", "1", *extra],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def recorded(root):
    with GradeStore(sqlite_url(root / "gradebook.db")) as store:
        return store.results()


def count_recorded(root):
    """Results stored so far, read without creating anything (the grader may be creating the database)."""
    path = root / "gradebook.db"
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute("SELECT count(*) FROM autograder_results").fetchone()[0]


def wait_for_results(root, process, n, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if count_recorded(root) >= n:
                return
        except sqlite3.Error:  # the tables may not exist yet; look again
            pass
        time.sleep(0.3)
    pytest.fail(f"grading did not record {n} results in time: {process.communicate()}")


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_batch_resumes(classroom, stop):
    adopt_orphans()
    already_running = set(descendants())  # what earlier tests in this worker left, such as a Dask resource tracker
    process = start_grading(classroom, "--cell-timeout", "120")
    wait_for_results(classroom, process, 4)
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=120)  # a hang guard, generous for a loaded 2-core machine
    if stop == signal.SIGINT:
        assert process.returncode == 130 and "resume" in stderr
    before = {r["student"]: r for r in recorded(classroom)}
    assert set(before) == {f"student{i}" for i in range(4)}
    deadline = time.monotonic() + 5
    while set(descendants()) - already_running and time.monotonic() < deadline:  # orphans come to us: wait for them
        time.sleep(0.1)
    assert set(descendants()) - already_running == set(), "a sandbox outlived its grader"

    resumed = start_grading(classroom, "--cell-timeout", "2")
    stdout, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    assert stdout.strip().endswith("0 graded, 1 flagged, 0 error, 4 skipped")
    after = {r["student"]: r for r in recorded(classroom)}
    assert all(after[s] == before[s] for s in before), "resuming changed what was already recorded"
    assert any("timeout" in f for f in after["zz-slow"]["flags"])


def test_regrading_is_idempotent(classroom):
    shutil.rmtree(classroom / "submitted" / "zz-slow")
    for _ in range(2):
        subprocess.run([sys.executable, "-m", "autograder", "grade", "submitted", "--force"], cwd=classroom,
                       check=True, capture_output=True)
        results = recorded(classroom)
        for r in results:  # times vary from run to run; everything else must not
            r.pop("seconds")
            for part in r["parts"]:
                part.pop("seconds", None)
        if _ == 0:
            first = results
    assert results == first and len(results) == 4
    assert [r["score"] for r in results] == sorted(r["score"] for r in results)
