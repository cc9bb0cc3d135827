"""A runner dies with the thread that launched it (the kernel's parent-death signal): a worker whose
runner died while idle starts a fresh one for the next submission instead of failing it as a grader
fault, a runner that died with a request unread is forgotten cleanly, and a closed worker starts none.
A Dask thread keeps one warm worker, and closes it when a run with other limits replaces it.
"""

import os
import signal
import threading

import pytest

from autograder import distributed, grading
from autograder.worker import Failure, Limits, Worker

LIMITS = Limits(cell_seconds=20, notebook_seconds=60)


def serve_one(worker):
    """Run a one-cell submission; return ``(failure, the cell's reply header)``."""
    replies = []
    failure = worker.run_submission(lambda w: replies.append(w.request({"op": "cell", "index": 0, "source": "1 + 1"})))
    return failure, replies[0][0] if replies else None


@pytest.mark.parametrize("sandbox", [True, False], ids=["sandbox", "no-sandbox"])
def test_a_worker_started_from_a_thread_that_ended_still_serves_without_a_grader_fault(sandbox):
    worker = Worker(0, LIMITS, sandbox)
    try:
        starter = threading.Thread(target=worker.start)
        starter.start()
        starter.join()
        first = worker.process
        assert first.wait(timeout=30) is not None  # the premise: the runner died with its launching thread
        failure, reply = serve_one(worker)
        assert failure is None, failure.reason
        assert reply["op"] == "cell_done" and reply["ok"], reply
        assert worker.process is not first and worker.process.poll() is None
    finally:
        worker.close()


def test_a_worker_does_not_wait_for_the_runner_of_an_ended_thread_to_die():
    """Right after its launching thread ends, the runner may still be alive for a moment: it is not used."""
    worker = Worker(0, LIMITS)
    try:
        starter = threading.Thread(target=worker.start)
        starter.start()
        starter.join()
        first = worker.process
        failure, reply = serve_one(worker)
        assert failure is None, failure.reason
        assert reply["ok"] and worker.process is not first and first.poll() is not None
    finally:
        worker.close()


def test_a_runner_that_died_with_a_request_unread_is_killed_cleanly():
    """The request stays in the pipe's buffer; closing the pipe must not raise out of ``kill``."""
    worker = Worker(0, LIMITS, sandbox=False)  # the runner is the pipe's only reader: no race
    try:
        worker.start()
        os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait()
        with pytest.raises(Failure, match="died"):
            worker.request({"op": "cell", "index": 0, "source": "1"})
        worker.kill()
        assert worker.process is None
        failure, reply = serve_one(worker)
        assert failure is None and reply["ok"], failure
    finally:
        worker.close()


def test_a_closed_worker_starts_no_runner():
    worker = Worker(0, LIMITS)
    worker.start()
    runner = worker.process
    worker.close()
    with pytest.raises(Failure, match="stopped"):
        worker.start()
    failure, _ = serve_one(worker)
    assert failure.grader_fault and "stopped" in failure.reason, failure.reason
    assert runner.poll() is not None and worker.process is None


def test_a_dask_thread_closes_the_worker_it_replaces():
    empty = grading.Prepared({"parts": [], "flags": []}, plan=[])  # starts and ends a submission, runs nothing
    try:
        assert distributed.grade_task(empty, LIMITS, False)["grader_faults"] == []
        first = distributed._local.worker
        runner = first.process
        assert distributed.grade_task(empty, Limits(cell_seconds=10, notebook_seconds=30), False)["grader_faults"] == []
        assert distributed._local.worker is not first
        assert runner.poll() is not None  # closed, not left idling beside the new one
    finally:
        distributed._local.worker.close()
        del distributed._local.worker
