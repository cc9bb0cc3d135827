"""Two `grade` runs at once on one new gradebook, and gradebooks that cannot be used."""

import csv
import io
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from autograder import course
from autograder.gradebook import CLAIMS, GradeStore, run_owner, sqlite_url

from conftest import answered, load, solution_ids, write_submission
from test_cluster import postgres_url  # noqa: F401 (a throw-away PostgreSQL server, for the fixture below)

ASSIGNMENT = "01-transformers"


def grade(root, db, *extra):
    return subprocess.Popen([sys.executable, "-m", "autograder", "grade", "submitted", "--db", db, "--workers", "1",
                             *extra], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def summary(stdout):
    """``{"graded": n, ...}`` from grade's last line, e.g. ``"3 graded, 0 flagged, 0 error, 0 skipped"``."""
    counts = {}
    for item in stdout.strip().splitlines()[-1].split(", "):
        n, name = item.split(" ", 1)
        counts[name] = int(n)
    return counts


def export(root, db):
    result = subprocess.run([sys.executable, "-m", "autograder", "export", "--db", db, "--parts"], cwd=root,
                            capture_output=True, text=True, check=True)
    return sorted(csv.reader(io.StringIO(result.stdout)))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_runs_at_once_on_a_new_gradebook(tmp_path, released, backend, request):
    release_nb = load(released / ASSIGNMENT / course.EXERCISE)
    source_nb = load(course.source_notebook(ASSIGNMENT))
    answers = solution_ids(source_nb)
    n_students = 6
    for i in range(n_students):
        write_submission(tmp_path / "submitted", f"student{i}", ASSIGNMENT, answered(release_nb, source_nb, answers[:i]))
    db = sqlite_url(tmp_path / "together.db") if backend == "sqlite" else request.getfixturevalue("postgres_url")
    runs = [grade(tmp_path, db), grade(tmp_path, db)]
    outputs = [run.communicate(timeout=600) for run in runs]
    for run, (stdout, stderr) in zip(runs, outputs):
        assert run.returncode == 0, stderr
    counts = [summary(stdout) for stdout, _ in outputs]
    # each submission graded by exactly one of the runs; the other left it to that run while it was
    # claimed, or skipped it when it came to it graded already (a run that starts later, or is slower)
    assert counts[0]["graded"] + counts[1]["graded"] == n_students
    assert all(c["graded"] + c.get("graded by another run", 0) + c["skipped"] == n_students for c in counts)
    with GradeStore(db) as store:
        assert len(store.results()) == n_students
        assert store.session.execute(select(func.count()).select_from(CLAIMS)).scalar() == 0

    alone = sqlite_url(tmp_path / "alone.db")
    run = grade(tmp_path, alone)
    run.communicate(timeout=600)
    assert run.returncode == 0
    assert export(tmp_path, db) == export(tmp_path, alone)


def test_a_claim_holds_until_its_run_is_gone_or_its_time_is_up(tmp_path):
    with GradeStore(sqlite_url(tmp_path / "gb.db")) as store:
        mine, theirs = run_owner(), run_owner()
        assert store.claim("ann", "a1", "exercise", mine, 600)
        assert not store.claim("ann", "a1", "exercise", theirs, 600)  # held by a live run (this process)
        store.release_claims(mine)
        assert store.claim("ann", "a1", "exercise", theirs, 600)

        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        host = run_owner().split(":")[0]
        gone = f"{host}:{int(dead.stdout)}:0000"  # a run on this host whose process has exited
        assert store.claim("ben", "a1", "exercise", gone, 600)
        assert store.claim("ben", "a1", "exercise", mine, 600)

        elsewhere = "another-host:1:0000"
        assert store.claim("cat", "a1", "exercise", elsewhere, 600)
        assert not store.claim("cat", "a1", "exercise", mine, 600)  # another host's run: its time is not up
        with sqlite3.connect(tmp_path / "gb.db") as connection:
            past = (datetime.now(timezone.utc) - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
            connection.execute("UPDATE autograder_claims SET expires_at = ? WHERE student = 'cat'", (past,))
        assert store.claim("cat", "a1", "exercise", mine, 600)


SUBCOMMANDS = [["export"], ["feedback", "--out", "fb"], ["manual", "export", "--out", "m.csv"],
               ["manual", "import", "m.csv"], ["grade", "submitted", "--no-sandbox"]]


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_corrupt_gradebook_gives_one_line_and_exit_2(tmp_path, command):
    (tmp_path / "submitted").mkdir()
    (tmp_path / "m.csv").write_text("student,assignment,grade_id,score,comment\n")
    (tmp_path / "gb.db").write_bytes(b"this is not a database, it was overwritten by mistake\n" * 100)
    before = (tmp_path / "gb.db").read_bytes()
    result = subprocess.run([sys.executable, "-m", "autograder", *command, "--db", sqlite_url(tmp_path / "gb.db")],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "not a usable SQLite database" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "gb.db").read_bytes() == before


@pytest.mark.parametrize("url, expected", [
    ("sqlite:///{tmp}/no/such/folder/gb.db", "folder exists"),
    ("postgresql://grader@127.0.0.1:{port}/course", "server is running"),
])
def test_an_unreachable_gradebook_gives_one_line_and_exit_2(tmp_path, url, expected):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = url.format(tmp=tmp_path, port=port)
    result = subprocess.run([sys.executable, "-m", "autograder", "export", "--db", url], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and expected in result.stderr, result.stderr


def test_a_locked_gradebook_gives_one_line_and_exit_2(tmp_path):
    with GradeStore(sqlite_url(tmp_path / "gb.db")):
        pass
    holder = sqlite3.connect(tmp_path / "gb.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program holds the file locked
    try:
        result = subprocess.run([sys.executable, "-m", "autograder", "export",
                                 "--db", f"{sqlite_url(tmp_path / 'gb.db')}?timeout=0.5"],
                                cwd=tmp_path, capture_output=True, text=True)
    finally:
        holder.rollback()
        holder.close()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "locked" in result.stderr, result.stderr
