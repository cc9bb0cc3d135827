"""Scale-out: grading over a local Dask cluster into a local PostgreSQL gradebook.

The fixtures start a throw-away PostgreSQL server (Debian's ``postgresql`` package, which
``.ci/run`` installs) on a free loopback port and a local Dask cluster; the CLI then grades
the same three submissions as the end-to-end test, and the scores are read back from
PostgreSQL.
"""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from autograder import course
from autograder.gradebook import GradeStore
from autograder.spec import load_spec

from conftest import answered, load, solution_ids, write_submission

pytestmark = pytest.mark.cluster
ASSIGNMENT = "01-transformers"


def postgres_bin(name):
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))[::-1]), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL's {name} is missing: .ci/run should have installed Debian's postgresql")
        pytest.skip(f"PostgreSQL's {name} is not installed, so the PostgreSQL gradebook is not tested here "
                    "(apt-get install postgresql as root; .ci/run does)")
    return found


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_server_user(command):
    """PostgreSQL refuses to run as root: run its tools as the ``postgres`` user then."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def postgres_url():
    # outside pytest's temporary tree, whose folders only root may enter
    root = Path(tempfile.mkdtemp(prefix="autograder-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data, sockets = root / "data", root / "sockets"
    subprocess.run(as_server_user(["mkdir", str(sockets)]), check=True)
    subprocess.run(as_server_user([postgres_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "grader",
                                   "--no-sync"]), check=True, capture_output=True)
    port = free_port()
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sockets} -c fsync=off"
    subprocess.run(as_server_user([postgres_bin("pg_ctl"), "-D", str(data), "-o", options, "-w", "-l",
                                   str(data / "server.log"), "start"]), check=True, capture_output=True)
    try:
        subprocess.run([postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "grader", "course"],
                       check=True, capture_output=True)
        yield f"postgresql://grader@127.0.0.1:{port}/course"
    finally:
        subprocess.run(as_server_user([postgres_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def scheduler():
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster:
        yield cluster.scheduler_address


def test_grade_on_dask_into_postgres(tmp_path, released, postgres_url, scheduler):
    release_nb = load(released / ASSIGNMENT / course.EXERCISE)
    source_nb = load(course.source_notebook(ASSIGNMENT))
    answers = solution_ids(source_nb)
    for student, ids in [("blank", []), ("reference", answers), ("halfdone", answers[:3])]:
        write_submission(tmp_path / "submitted", student, ASSIGNMENT, answered(release_nb, source_nb, ids))
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "autograder", "grade", "submitted", "--db", postgres_url,
                             "--dask-scheduler", scheduler], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert time.monotonic() - started < 120
    auto_points = sum(p.points for p in load_spec(course.source_notebook(ASSIGNMENT)).parts if not p.manual)
    with GradeStore(postgres_url) as store:
        scores = {r["student"]: r["score"] for r in store.results(ASSIGNMENT)}
        # nbgrader's own tables hold the same scores
        nbgrader_total = store.gradebook.find_submission(ASSIGNMENT, "reference").score
    assert scores["blank"] == 0 and scores["reference"] == auto_points and 0 < scores["halfdone"] < auto_points
    assert nbgrader_total == auto_points
