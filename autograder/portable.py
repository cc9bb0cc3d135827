"""A worker for ``check`` without the sandbox, started and read the same way on Linux, macOS and Windows.

``python -m autograder check`` uses :class:`PortableWorker` where the grader's sandbox cannot run
(not Linux, no working bubblewrap) or when asked (``check --no-sandbox``, which is how the tests
take this path on Linux). It runs the student's own notebook on the student's own machine, so it
needs no isolation, and it keeps of :class:`worker.Worker` everything a verdict depends on: the same
runner (``sandbox/runner.py``), messages, deadlines and failure reasons, and the limits the
system has (``runner.apply_limits``). Only how the runner's process lives differs:

- each submission gets a fresh interpreter, started with ``subprocess`` and ``sys.executable`` (a
  spawn: no ``fork``), in a temporary folder of its own; it serves that submission alone
  (``runner.py --alone``) and exits, and the worker removes the folder;
- a thread reads its replies (Windows' ``select`` takes sockets only, not pipes), and the
  worker waits for them with the same deadlines;
- a timeout kills it (its session on POSIX, the process on Windows);
- when it crashes or exits mid-submission, the failure's reason is how it ended, in the words the
  forking runner's report gives (:func:`worker.describe_exit`), so the step that ran is charged
  the same way.
"""

import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from autograder.worker import (RUNNER_DIR, RUNNER_ENVIRONMENT, RUNNER_EXITED, RUNNER_GONE, Failure, Limits, Worker,
                               describe_exit)

READ_BYTES = 1 << 16  # the most the reader thread takes from the pipe at once
EXIT_WAIT_SECONDS = 5  # how long a runner whose output ended may take to exit before its exit is unknown
# what Python needs of the environment on Windows (its random numbers, sockets), kept where set
WINDOWS_ENVIRONMENT = ("SYSTEMROOT",)


class PortableWorker(Worker):
    """:class:`worker.Worker` without a sandbox, one fresh interpreter per submission, no fork."""

    def __init__(self, index=0, limits=Limits()):
        super().__init__(index, limits, sandbox=False)
        self.own_sessions = False  # the runner's own process is the submission's: killing it ends both
        self._replies = None  # chunks of the runner's output, b"" at its end (filled by the reader thread)
        self._workdir = None

    def _spawn(self):
        self._workdir = tempfile.mkdtemp(prefix="autograder-check-")
        env = dict(RUNNER_ENVIRONMENT, **{name: os.environ[name] for name in WINDOWS_ENVIRONMENT if name in os.environ})
        process = subprocess.Popen([sys.executable, "-E", "-s", str(RUNNER_DIR / "runner.py"), "--alone"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   env=env, cwd=self._workdir, start_new_session=os.name == "posix")
        self._replies = queue.Queue()
        # the reader owns a copy of the pipe: kill() closes the worker's, which a read in progress
        # would not notice, and whose number a later pipe may take
        threading.Thread(target=_read_until_end, args=(os.dup(process.stdout.fileno()), self._replies),
                         name=f"portable-runner-{process.pid}", daemon=True).start()
        return process

    def _read_exact(self, n, deadline):
        while len(self._buffer) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            try:
                chunk = self._replies.get(timeout=remaining)
            except queue.Empty:
                raise TimeoutError from None
            if not chunk:
                self._replies.put(chunk)  # every later read sees the end too
                raise EOFError
            self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _send(self, header, arrays=()):
        try:
            super()._send(header, arrays)
        except Failure as failure:
            raise self._how_it_ended(failure) from None

    def _receive(self, deadline, late="timeout"):
        try:
            return super()._receive(deadline, late)
        except Failure as failure:
            raise self._how_it_ended(failure) from None

    def _how_it_ended(self, failure):
        """``failure``, or, where it says the runner is gone during a submission, how its process ended."""
        if not self._ready or failure.reason not in (RUNNER_EXITED, RUNNER_GONE):
            return failure
        try:
            return Failure(describe_exit(self.process.wait(timeout=EXIT_WAIT_SECONDS)))
        except subprocess.TimeoutExpired:  # its output ended, yet it runs on: say what was seen
            return failure

    def run_submission(self, drive, seconds=None, warm=()):
        """:meth:`worker.Worker.run_submission` in a fresh runner, which ends with the submission."""
        failure = super().run_submission(drive, seconds, warm)
        self.kill()  # the runner exits after one submission: the next one starts another
        return failure

    def _terminate(self):
        super()._terminate()
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


def _read_until_end(fd, replies):
    """Put what the pipe ``fd`` carries on ``replies``, chunk by chunk, then ``b""``; close ``fd``."""
    try:
        while True:
            chunk = os.read(fd, READ_BYTES)
            replies.put(chunk)
            if not chunk:
                return
    except OSError:  # the pipe broke: its end
        replies.put(b"")
    finally:
        os.close(fd)
