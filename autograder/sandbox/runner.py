"""The sandboxed side of grading: a warm interpreter that forks one process per submission.

Started once per worker (inside bubblewrap when available), it imports torch, numpy and
IPython, says ``ready``, then serves jobs read from the grader on stdin:

- ``start``: fork a child for one submission. The child drops to the worker's own user id
  (when started as root), applies resource limits, works in a private temporary directory and
  answers ``cell`` (run a notebook cell) and ``call`` (call a function on encoded arguments)
  until ``end``. Its standard output and error go to a size-limited file, never to the grader.
- a process the child forks is not the submission: if it gets back to the request loop it
  exits, so only the child answers the grader. An import of the course's reference package
  (which the sandbox does not contain) is refused and reported in every later reply; a
  submission can remove that guard, and then its import fails all the same.
- after the child exits, every process it left behind is killed, its directory removed, and
  ``ended`` reports how it exited. Each submission starts from the same clean, warm state and
  none sees another's memory or files.
- while a ``call`` runs the student's function, a :class:`Recording` notes the operators it
  runs, and ``call_done`` reports them with the recording's probes (see :class:`Recording`).

Everything the child sends is untrusted: the grader only compares returned values with its
own references, and checks that the recording's probes came back as it expects.

``runner.py --alone`` is the portable check's runner (``autograder/portable.py``, on macOS,
Windows, or Linux without a sandbox): it serves its first job in its own process, without a fork,
in the folder it was started in, and exits. The module imports on every system: what Linux or
POSIX alone has (``prctl``, ``resource``, ``/proc``, sessions) is used only where it exists.
"""

import _thread
import ast
import contextlib
import ctypes
import gc
import linecache
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings

try:
    import resource  # POSIX only: on Windows the portable check runs with its deadlines alone
except ImportError:
    resource = None

os.environ.setdefault("MPLBACKEND", "Agg")
import numpy  # noqa: E402,F401  (warm import, shared by every child)
import torch  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from torch.overrides import TorchFunctionMode, resolve_name  # noqa: E402

import wire  # noqa: E402

PR_SET_PDEATHSIG = 1
PROTECTED_PACKAGES = ("solutions", "autograder")
# audit events that, during a recorded call, mean work ran where the recording cannot see it
# (another process, a profiler or tracer swapped in, native code loaded)
ESCAPE_EVENTS = frozenset({"os.fork", "os.forkpty", "os.posix_spawn", "os.exec", "os.system", "os.spawn",
                           "subprocess.Popen", "sys.setprofile", "sys.settrace", "ctypes.dlopen", "ctypes.dlsym",
                           # memory read or written by address (a tensor's bits, a hand-made DLPack capsule)
                           "ctypes.string_at", "ctypes.wstring_at", "ctypes.cdata", "ctypes.cdata/buffer",
                           "ctypes.addressof", "ctypes.call_function"})
PROBE = torch.ops.aten.alias.default  # the operator the recording's probes run
WARM_PLAN = {"operators": [], "functions": [], "methods": True, "optimizers": True, "dtypes": False}
HANDLER_CODE = torch.overrides.handle_torch_function.__code__  # taken before any submitted code runs
OPTIMIZERS_WARM = False  # whether this process has made and stepped an optimizer (warm_optimizers)
CALL_BOXED = torch._C._SafeKernelFunction.call_boxed  # taken before guard_dtype_routes notes its use


def die_with_parent():
    """Ask the kernel to kill this process when its parent dies, so nothing outlives the grader
    (Linux; elsewhere only the portable check runs this, and its worker kills it)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


PROTOCOL_IN = os.dup(0)
PROTOCOL_OUT = os.dup(1)
if sys.platform == "win32":  # the protocol's bytes cross the pipes untranslated (no \r\n for \n)
    import msvcrt

    msvcrt.setmode(PROTOCOL_IN, os.O_BINARY)
    msvcrt.setmode(PROTOCOL_OUT, os.O_BINARY)


def read_exact(n):
    chunks = []
    while n:
        chunk = os.read(PROTOCOL_IN, n)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def send(header, arrays=()):
    data = wire.pack(header, arrays)
    while data:
        data = data[os.write(PROTOCOL_OUT, data):]


def main(alone=False):
    """Serve the grader's jobs until it closes stdin, each in a forked child; ``alone``, serve the
    first job in this process and exit (:func:`serve_alone`)."""
    die_with_parent()
    for fd in (0, 1, 2):
        os.dup2(os.open(os.devnull, os.O_RDWR), fd)
    with Recording(WARM_PLAN):  # the mode's first use builds torch's table of API names: once, here,
        torch.zeros(1).add(1)  # before the children fork (and cannot write its caches)
    guard_dtype_routes()  # once, before any submission's code: every child inherits the guards
    gc.freeze()  # the warm state is permanent: no child's collection walks it (and copies its pages)
    if os.environ.get("AUTOGRADER_PID_NAMESPACE") and _is_root():
        os.chmod("/tmp", 0o1777)  # the sandbox's private /tmp, for submissions that run under their own uid
    send({"op": "ready", "pid": os.getpid(), "root": _is_root()})
    while True:
        try:
            header, _ = wire.unpack(read_exact)
        except EOFError:
            return
        if header.get("op") not in ("start", "warm"):
            send({"op": "error", "error": f"expected start, got {header.get('op')!r}"})
            continue
        warm(header.get("warm", ()))
        if header["op"] == "warm":  # ahead of the jobs that need it, while the grader prepares them
            continue
        if alone:
            serve_alone(header)
        kept = set(os.listdir("/tmp")) if os.environ.get("AUTOGRADER_PID_NAMESPACE") else None
        workdir = tempfile.mkdtemp(prefix="submission-", dir=tempfile.gettempdir())
        os.chmod(workdir, 0o777)
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()  # the submission's processes are one session, killed as one
                die_with_parent()
                serve_submission(header, workdir)
            except BaseException as error:  # report, never raise into the zygote's loop
                send({"op": "error", "job": header.get("job"),
                      "error": f"the submission's process failed: {_describe_error(error)}"})
            finally:
                os._exit(0)
        send({"op": "forked", "job": header.get("job"), "pid": pid})
        started = time.monotonic()
        _, status = os.waitpid(pid, 0)
        leftovers = kill_leftovers()
        shutil.rmtree(workdir, ignore_errors=True)  # all of it, unless the submission locked a folder in it
        if kept is not None and set(os.listdir("/tmp")) - kept:  # then, or when it left more: a fork's work
            empty_tmp(kept, header.get("uid"))
            shutil.rmtree(workdir, ignore_errors=True)  # the folder itself, this process's in sticky /tmp
        send({"op": "ended", "job": header.get("job"), "exit_code": os.waitstatus_to_exitcode(status),
              "seconds": round(time.monotonic() - started, 3), "leftover_processes": leftovers})


def empty_tmp(kept, uid):
    """Remove from the sandbox's private ``/tmp`` all but the entries ``kept``: what a submission left
    there, in its folder or out of it, even in folders it made unreadable. Otherwise the next
    submission in this runner would read it, or find ``/tmp`` full (``--tmp-mb``). Done in a child
    under the submission's ``uid`` (run as root), the owner of what it wrote: the sandbox's root
    has no capability to override file permissions."""
    pid = os.fork()
    if pid == 0:
        try:
            if uid and _is_root():
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
            for name in set(os.listdir("/tmp")) - kept:
                _remove(os.path.join("/tmp", name))
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _remove(path):
    """Remove ``path`` and what it holds, first giving its owner access to every folder in it (never
    following a symbolic link); what cannot be removed is left."""
    if os.path.isdir(path) and not os.path.islink(path):
        with contextlib.suppress(OSError):
            os.chmod(path, 0o700)
        for folder, subfolders, _ in os.walk(path):
            for name in subfolders:
                if not os.path.islink(os.path.join(folder, name)):
                    with contextlib.suppress(OSError):
                        os.chmod(os.path.join(folder, name), 0o700)
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.unlink(path)


def stop_other_processes():
    """Kill every live process the submission started (other than this one) and return how many there
    were: in the sandbox's PID namespace any process but this one, the runner and the namespace's
    init; elsewhere on Linux, the children of this one. Run after each cell and call, so that a
    helper process never computes during a later, recorded call, where no watch would see it: an
    answer that relies on one fails its own part, and a process started during a recorded call is
    an escape (:data:`ESCAPE_EVENTS`)."""
    if not os.path.isdir("/proc"):
        return 0
    namespace = bool(os.environ.get("AUTOGRADER_PID_NAMESPACE"))
    stopped = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in (1, os.getpid(), os.getppid()):
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                state, parent = stat.read().rpartition(")")[2].split()[:2]
        except (OSError, ValueError):
            continue
        if state == "Z" or not (namespace or int(parent) == os.getpid()):
            continue
        try:
            os.kill(int(entry), signal.SIGKILL)
            stopped += 1
            if int(parent) == os.getpid():
                os.waitpid(int(entry), 0)
        except (ProcessLookupError, PermissionError, ChildProcessError):
            pass
    return stopped


def kill_leftovers():
    """Kill every process of this sandbox but this one and its init; return how many there were.

    Only meaningful in a private PID namespace, where /proc lists the sandbox alone; outside
    one (no sandbox) the child's session is killed by the grader instead.
    """
    if not os.environ.get("AUTOGRADER_PID_NAMESPACE"):
        return 0
    killed = set()
    for _ in range(50):
        others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())]
        if not others:
            break
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except (ProcessLookupError, PermissionError):
                pass
        for pid in others:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        time.sleep(0.01)
    return len(killed)


def warm(names):
    """Prepare in this process, once, what ``names`` ask for, so that the children it forks inherit it
    (``grading.warm_for``): ``optimizers`` (:func:`warm_optimizers`), and the dtype watch's kernels
    for a ``dtype torch.<name>`` (:func:`watch_dtypes`; children of other jobs then run each
    conversion and factory through a Python kernel that notes nothing, a few microseconds each)."""
    warmed = False
    if "optimizers" in names and not OPTIMIZERS_WARM:
        warm_optimizers()
        warmed = True
    if any(name.startswith("dtype ") for name in names) and not DTYPES_WATCHED:
        watch_dtypes()
        warmed = True
    if warmed:
        gc.freeze()


def warm_optimizers():
    """Make an optimizer and step it, recorded, once in this process: the first optimizer imports
    torch._dynamo (a second), which the zygote does before forking the first job whose checks watch
    optimizers (the grader's ``warm``), so that its children do not each pay for it."""
    global OPTIMIZERS_WARM
    if not OPTIMIZERS_WARM:
        with Recording(WARM_PLAN):
            parameter = torch.nn.Parameter(torch.zeros(1))
            parameter.grad = torch.zeros(1)
            torch.optim.AdamW([parameter]).step()
        OPTIMIZERS_WARM = True


def serve_alone(job):
    """Serve ``job`` in this process, in its working directory, then exit: the portable check's
    runner (no fork; the worker starts a fresh one for each submission, in a folder of its own,
    and removes it). It answers ``start`` and ``end`` as the forking runner does; when the
    submission crashes or exits, the worker reads how from this process's exit status."""
    submission = os.getpid()
    send({"op": "forked", "job": job.get("job"), "pid": submission})
    started = time.monotonic()
    try:
        serve_submission(job, os.getcwd(), alone=True)
        if os.getpid() == submission:  # a process the submission forked ends here, unheard
            send({"op": "ended", "job": job.get("job"), "exit_code": 0,
                  "seconds": round(time.monotonic() - started, 3), "leftover_processes": 0})
    except BaseException as error:  # report, as the forked child does
        send({"op": "error", "job": job.get("job"),
              "error": f"the submission's process failed: {_describe_error(error)}"})
    finally:
        os._exit(0)


def serve_submission(job, workdir, alone=False):
    """Confine this process (a forked child, or the portable check's runner), then answer cells
    and calls until ``end``."""
    limits = job["limits"]
    if job.get("uid") and os.geteuid() == 0:
        os.setgroups([])
        os.setgid(job["uid"])
        os.setuid(job["uid"])
    os.chdir(workdir)
    os.environ.update(HOME=workdir, TMPDIR=workdir)
    output = os.open(os.path.join(workdir, "output.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(output, 1)
    os.dup2(output, 2)
    apply_limits(limits, count_processes=not alone)
    watched_dtypes = {name.removeprefix("dtype ") for name in job.get("warm", ()) if name.startswith("dtype ")}
    if watched_dtypes:  # from the notebook's first cell: a tensor of such a dtype made anywhere is seen
        watch_dtypes(watched_dtypes)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    guard = ReferenceGuard()
    sys.meta_path.insert(0, guard)
    sys.addaudithook(Recording.audit)  # before any submitted code runs; a hook cannot be removed
    watch_threads()
    disarm_dispatch_switches()
    shell = InteractiveShell.instance()
    shell.showtraceback = shell.showsyntaxerror = _no_traceback  # nobody reads them: the reply says what failed
    submission = os.getpid()
    while True:
        header, arrays = wire.unpack(read_exact)
        op, out_arrays = header.get("op"), []
        if op == "cell":
            reply = run_cell(shell, header["source"]) | {"op": "cell_done", "index": header["index"]}
        elif op == "call":
            results, recording, out_arrays = call(shell, header["function"], header["cases"], arrays,
                                                  header.get("watch"))
            reply = {"op": "call_done", "results": results, "recording": recording}
        else:
            return
        if os.getpid() != submission:  # a process the submission forked: not ours to answer
            os._exit(0)
        stop_other_processes()  # none outlives the cell or call that started it
        send(reply | {"job": job.get("job"), "reference_imports": sorted(guard.attempts)}, out_arrays)


class ReferenceGuard:
    """A meta path finder that refuses the course's reference packages and remembers the attempt."""

    def __init__(self):
        self.attempts = set()

    def find_spec(self, name, path=None, target=None):
        root = name.partition(".")[0]
        if root in PROTECTED_PACKAGES:
            self.attempts.add(root)
            raise ModuleNotFoundError(f"{root!r} is the course's reference package: it cannot be used "
                                      "in graded answers", name=name)
        return None


def run_cell(shell, source):
    result = shell.run_cell(source, store_history=False)
    error = result.error_before_exec or result.error_in_exec
    if error is None:
        return {"ok": True}
    return {"ok": False, "error": _describe_error(error) + _failing_line(error)}


def _no_traceback(*args, **kwargs):
    """IPython's rendering of an exception (a tenth of a second each, colours and source included),
    left out: it would go to the output file, which the grader never reads."""


def _failing_line(error):
    """The line of the cell that raised ``error`` (or called what did), and the plain values it names.

    Only values of built-in types and plain tensors are shown, described without calling any code
    the submission could have defined (its own classes' ``repr`` never runs here).
    """
    tb = error.__traceback__  # the first frame of IPython's cell code is the cell that ran
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<ipython-input-"):
        tb = tb.tb_next
    if tb is None:
        return ""
    frame, lineno = tb.tb_frame, tb.tb_lineno
    line = linecache.getline(frame.f_code.co_filename, lineno).strip()
    try:
        names = sorted({n.id for n in ast.walk(ast.parse(line)) if isinstance(n, ast.Name)})
    except SyntaxError:  # one line of a longer statement
        names = []
    values = []
    for name in names:
        value = frame.f_locals.get(name)
        if type(value) in (int, float, bool) or (type(value) is str and len(value) <= 80):
            values.append(f"{name} = {value!r}")
        elif type(value) is torch.Tensor:
            shown = f" {value.tolist()}" if value.numel() <= 8 else ""
            values.append(f"{name} = tensor{tuple(value.shape)} {str(value.dtype).removeprefix('torch.')}{shown}")
    where = f"\nat line {lineno} of the cell: {line}"
    return where + "".join(f"\n  where {v}" for v in values)


def call(shell, name, cases, arrays, plan=None):
    """Call the submission's function ``name`` on each encoded case, each call inside a
    :class:`Recording` of what ``plan`` watches (the part forbids operators; without a plan nothing
    is watched and the calls run at full speed); return the encoded outcomes, the recording's report
    and the arrays."""
    recording = Recording(plan) if plan else contextlib.nullcontext()
    function = shell.user_ns.get(name)
    if not callable(function):
        message = f"the notebook defines no function named {name!r}"
        return [{"ok": False, "error": message} for _ in cases], recording.report() if plan else None, []
    results, out_arrays = [], []
    for case in cases:
        try:
            # all of it inside: what the notebook made run while the arguments are decoded (a patched
            # torch.from_numpy, a mode it pushed), an object that computes as it is read, and the
            # arguments read back to see whether the function changed them
            with recording:
                reply = wire.answer(function, case, arrays, out_arrays, torch)
            results.append(reply)
        except BaseException as error:  # a submission's exception of any kind is its own failure
            results.append({"ok": False, "error": _describe_error(error)})
    return results, recording.report() if plan else None, out_arrays


class Recording:
    """What the student's function runs that its part forbids, watched where no Python alias avoids
    it, and only that: the watches cost a correct answer nothing on the operators it does run.

    ``plan`` (the grader's ``integrity.watch_plan``) lists what to watch:

    - ``operators``: ATen operators (``aten::_softmax``), watched by their kernels. Each kernel of
      the operator, for every CPU backend and every overload, is replaced by one that notes the call
      and runs the original (:func:`watch_operators`). Every route reaches a kernel: ``getattr``,
      a method, ``torch.ops``, ``vmap``, autograd, and torch's dispatch switches too, which skip
      Python modes but never the kernel that computes.
    - ``functions``: torch's Python functions by their public name
      (``torch.nn.functional.multi_head_attention_forward``), replaced in every module that holds
      them by a wrapper that notes the call (:func:`watch_functions`).
    - ``methods``: ``torch.Tensor`` methods, which no module holds, seen by a ``TorchFunctionMode``.
    - ``dtypes``: the dtypes (``dtype torch.bfloat16``) of the tensors that the answer's calls make
      or convert, seen where those calls enter torch's dispatcher and torch's own internal casts do
      not (:func:`watch_dtypes`): a conversion, a dtype view, an operator given a dtype, a factory,
      an operator under ``autocast``, and the functions that wrap memory torch did not allocate
      (``torch.from_numpy``, ``torch.frombuffer``). The routes past those places are guarded
      (:func:`guard_dtype_routes`).
    - ``optimizers``: an optimizer's ``step``, recorded by the classes of the optimizer
      (``torch.optim.adamw.AdamW``) through torch's global step hook (:func:`watch_optimizers`).

    Each recorded call is bracketed by two *probes*, one :data:`PROBE` operator run before and one
    after the student's function, which every watch in use counts instead of recording
    (``kernel``; ``function`` for the mode; ``dtype``, a conversion of the marker, for the dtype
    watch). An answer that pops a mode or
    removes a kernel loses probes, and the grader, which expects two per call for each watch,
    flags it. The audit hook notes :data:`ESCAPE_EVENTS` during a call, and :func:`watch_threads`
    a thread started then (the modes belong to the calling thread; the kernels see every thread).
    """

    active = None  # the recording of the call in progress, for the watches and the audit hook

    def __init__(self, plan):
        watch_operators([*plan["operators"], PROBE_OPERATOR])
        watch_functions(plan["functions"])
        if plan["optimizers"]:
            watch_optimizers()
        if plan["dtypes"]:
            watch_dtypes()
        # the mode joins the dtype watch once the notebook has made a tensor of a watched dtype, or
        # taken a route below the kernels (:data:`DTYPE_MODE_REASONS`): such a tensor, kept from
        # before, could be used by operators that take no dtype (``torch.cat(..., out=kept)``)
        self.mode_types = [_FunctionRecorder] if plan["methods"] or (plan["dtypes"] and DTYPE_MODE_REASONS) else []
        self.watches_methods, self.watches_dtypes = plan["methods"], plan["dtypes"]
        self.operators, self.dtypes, self.escapes = set(), set(), set()
        self.probes = {"kernel": 0} | {mode.probe: 0 for mode in self.mode_types} | (
            {"dtype": 0} if self.watches_dtypes else {})
        self.calls = 0
        self.marker = torch.empty(0)

    def __enter__(self):
        self.depths = (torch._C._len_torch_function_stack(), torch._C._len_torch_dispatch_stack())
        self.modes = [mode(self) for mode in self.mode_types]
        for mode in self.modes:
            mode.__enter__()
        Recording.active = self
        self.calls += 1
        PROBE(self.marker)
        if self.watches_dtypes:
            DTYPE_PROBE(self.marker)
            self.escapes.update(_routes_past_dtype_watch())

    def __exit__(self, *exc):
        try:
            PROBE(self.marker)
            if self.watches_dtypes:
                DTYPE_PROBE(self.marker)
                self.escapes.update(_routes_past_dtype_watch(exiting=True))
        finally:  # whatever the answer left on the mode stacks goes too, so later cells run unrecorded
            Recording.active = None
            for mode in reversed(self.modes):
                try:
                    mode.__exit__(None, None, None)
                except Exception:  # the answer popped it already: its probes say so
                    pass
            while torch._C._len_torch_dispatch_stack() > self.depths[1]:
                torch._C._pop_torch_dispatch_stack()
            while torch._C._len_torch_function_stack() > self.depths[0]:
                torch._C._pop_torch_function_stack()

    def is_probe(self, args):
        return len(args) == 1 and args[0] is self.marker

    def report(self):
        operators = self.operators | {f"dtype {dtype}" for dtype in self.dtypes}
        return {"operators": sorted(operators), "probes": dict(self.probes), "calls": self.calls,
                "escapes": sorted(self.escapes)}

    @staticmethod
    def audit(event, args):
        recording = Recording.active
        if recording is not None and event in ESCAPE_EVENTS:
            recording.escapes.add(event)


# the CPU dispatch keys whose kernels compute (Meta computes shapes, which can be an answer too):
# an operator is watched at each one it has a kernel for
WATCHED_KEYS = ("CPU", "SparseCPU", "SparseCsrCPU", "QuantizedCPU", "NestedTensorCPU", "MkldnnCPU", "Meta")
PROBE_OPERATOR = "aten::alias"  # the operator the recording's probes run
KERNEL_LIBRARIES = {}  # namespace -> the torch.library.Library that holds this process's watches
WATCHED_OPERATORS, WATCHED_FUNCTIONS = set(), set()
DISPATCHED = frozenset(torch._C._dispatch_get_all_op_names())  # every operator overload with kernels


def watch_operators(names):
    """Replace every CPU kernel of the operators ``names`` by one that notes the call in the active
    recording and runs the original kernel. A name is an operator (``"aten::_softmax"``: all its
    overloads) or one overload (``"aten::sum.dim_IntList"``); either is noted by the operator's name.
    An overload implemented by decomposition (``CompositeImplicitAutograd``) is watched where it
    decomposes, at the CPU's autograd key and, below autograd, the CPU key (on other backends the
    operators it decomposes into are watched, and forbidden, where they compute). A kernel torch
    does not hand out (MkldnnCPU's) is noted and refused instead. Names this torch build lacks are
    skipped."""
    for name in set(names) - WATCHED_OPERATORS:
        WATCHED_OPERATORS.add(name)
        operator, _, overload = name.partition(".")
        namespace, _, op = operator.partition("::")
        packet = getattr(getattr(torch.ops, namespace), op, None)
        if packet is None:
            continue
        library = _library(namespace)
        for qualified in [name] if overload else [operator if o == "default" else f"{operator}.{o}"
                                                  for o in packet.overloads()]:
            if qualified in DISPATCHED:  # not an overload TorchScript alone knows (``aten::sum.int``)
                decomposes = torch._C._dispatch_has_kernel_for_dispatch_key(qualified, "CompositeImplicitAutograd")
                _watch_kernels(library, qualified, ("AutogradCPU", "CPU") if decomposes else WATCHED_KEYS)


def _watch_kernels(library, qualified, keys):
    """Register in ``library`` a noting kernel of the overload ``qualified`` at each of ``keys`` it has."""
    for key in keys:
        if torch._C._dispatch_has_computed_kernel_for_dispatch_key(qualified, key):
            original = torch.library.get_kernel(qualified, key) if key in torch._C.DispatchKey.__members__ else None
            kernel = _noting_kernel(qualified.partition(".")[0], original, _tensor_positions(qualified))
            _register(library, qualified, kernel, key)


def _tensor_positions(qualified):
    """The positions of the arguments of the operator overload ``qualified`` that are tensors."""
    schema = torch._C._get_schema(*qualified.partition(".")[::2])
    return tuple(i for i, argument in enumerate(schema.arguments)
                 if not argument.kwarg_only and str(argument.type) == "Tensor")


# a Python number that torch wrapped as a tensor reaches a Python kernel as the number; the original
# kernel needs a tensor again (the wrapping only mattered to type promotion, done by then)
WRAPPED_DTYPES = {bool: torch.bool, int: torch.int64, float: torch.float64, complex: torch.complex128}


def _rewrapped(args, tensor_positions):
    """``args`` with each Python number at a tensor's position wrapped as a tensor again."""
    if any(not isinstance(args[i], torch.Tensor) for i in tensor_positions if i < len(args)):
        return tuple(torch.scalar_tensor(a, dtype=WRAPPED_DTYPES[type(a)]) if i in tensor_positions
                     and type(a) in WRAPPED_DTYPES else a for i, a in enumerate(args))
    return args


def _noting_kernel(name, original, tensor_positions):
    def kernel(keyset, *args, **kwargs):
        args = _rewrapped(args, tensor_positions)
        recording = Recording.active
        if recording is not None:
            if name == PROBE_OPERATOR and recording.is_probe(args):
                recording.probes["kernel"] += 1
            else:
                recording.operators.add(name)
        if original is None:  # a layout whose kernels torch does not hand out (MkldnnCPU): the grader's
            raise RuntimeError(f"{name} on this tensor layout is not available in the grader")  # answers never need one
        return CALL_BOXED(original, keyset, *args, **kwargs)
    return kernel


def _note_dtypes(note, args, result):
    """``note`` the dtype of each tensor among ``args`` and ``result``, and each dtype among ``args``,
    one level into tuples and lists. Run on every call of a watched kernel: written for speed."""
    if isinstance(result, torch.Tensor):
        note(result.dtype)
    elif isinstance(result, (tuple, list)):
        for item in result:
            if isinstance(item, torch.Tensor):
                note(item.dtype)
    for value in args:
        if isinstance(value, (torch.Tensor, torch.dtype)):
            note(value if isinstance(value, torch.dtype) else value.dtype)
        elif isinstance(value, (tuple, list)):
            for item in value:
                if isinstance(item, torch.Tensor):
                    note(item.dtype)


# The dtype watch. A tensor of a dtype the answer chooses is made by a call that names the dtype or
# converts a tensor: caught where the answer's call enters torch's dispatcher, and where torch's own
# internal casts (the wrapped number of every ``t + 1`` goes through ``_to_copy`` and
# ``empty_strided``) do not: at the autograd keys for operators that take a tensor, at
# ``BackendSelect`` for factories. What reaches neither is guarded by :func:`guard_dtype_routes`.
DTYPE_AUTOGRAD_KEYS = ("AutogradCPU", "AutogradOther", "AutogradNestedTensor", "AutogradMeta")
DTYPE_EXTRA_OPERATORS = ("aten::copy_",)  # writes a tensor into one of another dtype
DTYPE_VIEW = "dtype view"  # what a recording reports for a view of a tensor as another dtype (its bits)
# torch's functions that make a tensor of a chosen dtype past both keys: ``empty_strided`` (watched
# here, not at BackendSelect, where every ``t + 1`` reaches it), the ``*_like`` factories (their
# Python bindings skip autograd) and those that wrap memory torch did not allocate
DTYPE_FUNCTIONS = ("empty_strided", "empty_like", "zeros_like", "ones_like", "full_like", "rand_like",
                   "randn_like", "randint_like", "frombuffer", "from_numpy", "as_tensor", "asarray")
DTYPE_C_FUNCTIONS = ("_from_dlpack",)  # the same, held by torch._C (``torch.from_dlpack`` calls it)
DTYPE_PROBE = torch.ops.aten._to_copy.default  # the dtype watch's probe: a conversion of the marker
DTYPES_WATCHED = False
WATCHED_DTYPES = set()  # the dtypes (``"torch.bfloat16"``) the submission's parts forbid, watched from its start
DTYPE_MODE_REASONS = set()  # why the function mode joins the dtype watch (see ``Recording``)
TORCH_DIR = os.path.dirname(torch.__file__) + os.sep
OWN_REGISTRATION = False  # the runner registering its own kernels (not the submission)


def watch_dtypes(dtypes=()):
    """Replace, once per process, the kernel of every operator overload that takes a dtype (and
    ``copy_``) at the keys where an answer's call enters: the autograd keys, or ``BackendSelect``
    for a factory. Each notes the dtypes its call takes and makes, and runs the original kernel.
    A tensor of one of ``dtypes`` made at any time, recorded or not, joins the function mode to
    the dtype watch (:data:`DTYPE_MODE_REASONS`)."""
    global DTYPES_WATCHED
    WATCHED_DTYPES.update(dtypes)
    if DTYPES_WATCHED:
        return
    DTYPES_WATCHED = True
    for qualified in sorted(DISPATCHED):
        name, _, overload = qualified.partition(".")
        try:
            schema = torch._C._get_schema(name, overload)
        except RuntimeError:
            continue
        if qualified not in DTYPE_EXTRA_OPERATORS and not any(
                "ScalarType" in str(argument.real_type) for argument in schema.arguments):
            continue
        factory = not any("Tensor" in str(argument.type) for argument in schema.arguments)
        if factory and (name == "aten::empty_strided"
                        or not torch._C._dispatch_has_kernel_for_dispatch_key(qualified, "BackendSelect")):
            continue
        for key in ("BackendSelect",) if factory else DTYPE_AUTOGRAD_KEYS:
            if torch._C._dispatch_has_computed_kernel_for_dispatch_key(qualified, key):
                kernel = _dtype_kernel(torch.library.get_kernel(qualified, key), _tensor_positions(qualified),
                                       viewing=qualified == "aten::view.dtype")
                _register(_library(name.partition("::")[0]), qualified, kernel, key)


def _dtype_kernel(original, tensor_positions, viewing=False):
    def kernel(keyset, *args, **kwargs):
        args = _rewrapped(args, tensor_positions)
        result = CALL_BOXED(original, keyset, *args, **kwargs)
        recording = Recording.active
        if recording is not None and recording.watches_dtypes and args and args[0] is recording.marker:
            recording.probes["dtype"] += 1
        else:
            if recording is not None and recording.watches_dtypes:
                _note_dtypes(recording.dtypes.add, (*args, *kwargs.values()), result)
                if viewing:
                    recording.operators.add(DTYPE_VIEW)
            if WATCHED_DTYPES:
                _note_dtypes(_note_made, (*args, *kwargs.values()), result)
        return result
    return kernel


def _note_made(dtype):
    if str(dtype) in WATCHED_DTYPES:
        DTYPE_MODE_REASONS.add(f"a tensor of {dtype} made")


def _noting_dtype_function(function):
    def noting(*args, **kwargs):
        result = function(*args, **kwargs)
        if isinstance(result, torch.Tensor):
            recording = Recording.active
            if recording is not None and recording.watches_dtypes:
                recording.dtypes.add(result.dtype)
            if WATCHED_DTYPES:
                _note_made(result.dtype)
        return result
    return noting


def _noting_escape(name, function):
    """``function``, noting its use during a dtype-watched call as a route past the watch (and, at any
    time in a submission whose dtypes are watched, as a reason for the mode to join the watch)."""
    def noting(*args, **kwargs):
        recording = Recording.active
        if recording is not None and recording.watches_dtypes:
            recording.escapes.add(f"torch's dispatch below the dtype watch ({name})")
        if WATCHED_DTYPES:
            DTYPE_MODE_REASONS.add(name)
        return function(*args, **kwargs)
    noting.noted = True
    return noting


def _noting_registration(name, method):
    """``method`` (a registration with torch's dispatcher), whose kernels, when the submission's code
    registers them, note each run during a dtype-watched call: they run below the autograd keys."""
    def registering(*args, **kwargs):
        if not OWN_REGISTRATION and _by_submission(sys._getframe(1)):
            DTYPE_MODE_REASONS.add(f"its own kernels registered ({name})")
            fallthrough = getattr(sys.modules.get("torch.library"), "fallthrough_kernel", None)
            args = tuple(_noting_escape(f"its own kernel, registered by {name}", a)
                         if callable(a) and a is not fallthrough else a for a in args)
        return method(*args, **kwargs)
    return registering


# torch's registration API: a registration made through it (or through Python's own library, such
# as ``contextlib``) is its caller's
REGISTRATION_API = tuple(TORCH_DIR + path for path in ("library.py", "_library" + os.sep, "_custom_op" + os.sep))
PYTHON_LIBRARY = os.path.dirname(contextlib.__file__) + os.sep


def _by_submission(frame):
    """Whether the code of ``frame`` (past :data:`REGISTRATION_API`) is the submission's: not torch's
    own, and not an import (torch registering its kernels, or defining its classes, as a module loads)."""
    while frame is not None and (frame.f_code.co_filename.startswith(REGISTRATION_API) or (
            frame.f_code.co_filename.startswith(PYTHON_LIBRARY) and not frame.f_code.co_filename.startswith(TORCH_DIR))):
        frame = frame.f_back
    return frame is not None and not frame.f_code.co_filename.startswith((TORCH_DIR, "<frozen importlib"))


DISPATCHING = {}  # tensor class -> the ``__torch_dispatch__`` the watch last saw it with (torch's, or noting)


def _note_tensor_subclass(cls, **kwargs):
    """``TensorBase.__init_subclass__``: a tensor subclass's ``__torch_dispatch__`` runs Python below
    the autograd keys; one the submission defines notes each run during a dtype-watched call."""
    if _by_submission(sys._getframe(1)):
        _watch_dispatching_classes()
    elif "__torch_dispatch__" in cls.__dict__:
        DISPATCHING[cls] = cls.__dict__["__torch_dispatch__"]


def _tensor_classes():
    """Every subclass of torch's tensor type there is now."""
    classes, found = [torch._C.TensorBase], []
    while classes:
        subclasses = type.__subclasses__(classes.pop())
        classes += subclasses
        found += subclasses
    return found


def _watch_dispatching_classes():
    """Replace each tensor class's ``__torch_dispatch__`` that the watch has not seen (defined or
    assigned since it last looked) by one that notes each run during a dtype-watched call; return
    the names of those classes."""
    found = []
    for cls in _tensor_classes():
        dispatch = cls.__dict__.get("__torch_dispatch__")
        if dispatch is not None and DISPATCHING.get(cls) is not dispatch:
            function = dispatch.__func__ if isinstance(dispatch, (classmethod, staticmethod)) else dispatch
            noting = _noting_escape(f"a tensor subclass's __torch_dispatch__ ({cls.__qualname__})", function)
            DISPATCHING[cls] = type(dispatch)(noting) if function is not dispatch else noting
            setattr(cls, "__torch_dispatch__", DISPATCHING[cls])
            DTYPE_MODE_REASONS.add(f"a tensor subclass's __torch_dispatch__ ({cls.__qualname__})")
            found.append(cls.__qualname__)
    return found


def _routes_past_dtype_watch(exiting=False):
    """The routes below the dtype watch open at this moment: a ``TorchDispatchMode`` on its stack, and,
    ``exiting`` the call, a tensor subclass's ``__torch_dispatch__`` that appeared during it (it may
    have run unnoted). The classes found on entering are watched from then on."""
    appeared = _watch_dispatching_classes()
    routes = {f"a tensor subclass's __torch_dispatch__ ({name}) appeared during the call"
              for name in appeared} if exiting else set()
    if torch._C._len_torch_dispatch_stack():
        routes.add("a TorchDispatchMode active")
    return routes


@contextlib.contextmanager
def _own_registrations():
    global OWN_REGISTRATION
    OWN_REGISTRATION = True
    try:
        yield
    finally:
        OWN_REGISTRATION = False


def _library(namespace):
    """This process's ``torch.library.Library`` for ``namespace`` (a new one when the answer destroyed it)."""
    library = KERNEL_LIBRARIES.get(namespace)
    if getattr(library, "m", None) is None:  # none yet, or the answer destroyed it: its watches are gone,
        with _own_registrations():  # the probes say so
            library = KERNEL_LIBRARIES[namespace] = torch.library.Library(namespace, "IMPL")
    return library


def _register(library, qualified, kernel, key):
    with warnings.catch_warnings(), _own_registrations():  # "overriding a previously registered kernel":
        warnings.simplefilter("ignore")  # on purpose
        library.impl(qualified.partition("::")[2], kernel, key, with_keyset=True)


# the ways past the dtype watch's keys, and each is noted during a dtype-watched call: guards that
# exclude the autograd keys, calls of a kernel or a dispatch key directly, dispatch modes pushed
DTYPE_GUARDS = ("_AutoDispatchBelowAutograd", "_AutoDispatchBelowADInplaceOrView", "_SetExcludeDispatchKeyGuard",
                "_ForceDispatchKeyGuard", "ExcludeDispatchKeyGuard")
DTYPE_METHODS = (("_SafeKernelFunction", "call_boxed"), ("_DispatchOperatorHandle", "redispatch_boxed"))
DTYPE_SWITCHES = ("_dispatch_call_boxed", "_push_on_torch_dispatch_stack")
REGISTRATION_METHODS = ("impl", "impl_t_t", "impl_with_aoti_compile", "fallback", "fallback_fallthrough", "def_",
                        "def_legacy", "def_name_t_t", "def_schema_t_t", "define", "register_ad_inplace_or_view_fallback")


def guard_dtype_routes():
    """Make each route past the dtype watch's keys noted, once per process, before any submitted code
    runs (every child inherits it): the functions of :data:`DTYPE_FUNCTIONS` wrapped wherever torch
    holds them (its modules, the class behind ``torch._C._VariableFunctions``, ``torch.ops``), the
    calls and guards that skip the autograd keys, ``inference_mode`` turned into ``no_grad`` (it
    skips them too, and computes the same), and the submission's own kernels and tensor subclasses
    (which run its code below them) remembered."""
    functions_class = torch._C._VariableFunctionsClass
    for name in DTYPE_FUNCTIONS:
        function = getattr(functions_class, name)
        noting = _noting_dtype_function(function)
        _set_in_static_type(functions_class, name, staticmethod(noting))
        _replace_everywhere(function, noting, name)
        packet = getattr(torch.ops.aten, name, None)  # an operator too, reached by ``torch.ops``
        if packet is None:
            continue
        packet._op = _noting_dtype_function(packet._op)
        for overload in packet.overloads():
            op = getattr(packet, overload)
            op._op = _noting_dtype_function(op._op)
            op._op_dk = _noting_escape(f"{name}, a dispatch key named", op._op_dk)
    for name in DTYPE_C_FUNCTIONS:
        function = getattr(torch._C, name, None)
        if function is not None:
            _replace_everywhere(function, _noting_dtype_function(function), name)
    get_overload = torch._C._get_operation_overload

    def get_operation_overload(name, overload):  # a new OpOverload: its direct calls of a key are noted
        op, op_dk, *rest = get_overload(name, overload)
        if name.removeprefix("aten::") in DTYPE_FUNCTIONS:
            op = _noting_dtype_function(op)
        return (op, _noting_escape(f"{name}, a dispatch key named", op_dk), *rest)
    torch._C._get_operation_overload = get_operation_overload
    for packet in list(vars(torch.ops.aten).values()):  # the OpOverloads made before
        for op in list(vars(packet).values()) if isinstance(packet, torch._ops.OpOverloadPacket) else ():
            if isinstance(op, torch._ops.OpOverload) and not getattr(op._op_dk, "noted", False):
                op._op_dk = _noting_escape(f"{op.name()}, a dispatch key named", op._op_dk)
    for name in DTYPE_GUARDS:
        guard = getattr(torch._C, name, None)
        for method in ("__init__", "__enter__") if guard is not None else ():  # some act when made,
            setattr(guard, method, _noting_escape(name, getattr(guard, method)))  # some when entered
    for class_name, method in DTYPE_METHODS:
        cls = getattr(torch._C, class_name)
        setattr(cls, method, _noting_escape(f"{class_name}.{method}", getattr(cls, method)))
    for name in DTYPE_SWITCHES:
        function = getattr(torch._C, name)
        _replace_everywhere(function, _noting_escape(name, function), name)
    for method in REGISTRATION_METHODS:
        module_class = torch._C._DispatchModule
        if hasattr(module_class, method):
            setattr(module_class, method, _noting_registration(method, getattr(module_class, method)))
    torch._C._dispatch_library = _noting_registration("a library", torch._C._dispatch_library)
    for cls in _tensor_classes():  # torch's own, as they are
        if "__torch_dispatch__" in cls.__dict__:
            DISPATCHING[cls] = cls.__dict__["__torch_dispatch__"]
    _set_in_static_type(torch._C.TensorBase, "__init_subclass__", classmethod(_note_tensor_subclass))
    _inference_mode_as_no_grad()


def _replace_everywhere(function, replacement, name):
    """Replace ``function`` by ``replacement`` in every module that holds it as ``name``."""
    for module in list(sys.modules.values()):
        if getattr(module, "__dict__", {}).get(name) is function:
            setattr(module, name, replacement)


def _set_in_static_type(cls, name, value):
    """Set ``name`` in the dict of ``cls``, a C type that refuses ``setattr``, and tell CPython."""
    namespace = next(r for r in gc.get_referents(cls.__dict__) if isinstance(r, dict))
    namespace[name] = value
    ctypes.pythonapi.PyType_Modified(ctypes.py_object(cls))


def _inference_mode_as_no_grad():
    """Make torch's inference mode (which skips the autograd keys) act as ``no_grad`` in this process:
    the same values, computed where the dtype watch sees them."""
    cls, init, grad_before = torch._C._InferenceMode, torch._C._InferenceMode.__init__, {}

    def __init__(self, mode=True):
        init(self, False)
        grad_before[id(self)] = torch.is_grad_enabled()
        if mode:
            torch._C._set_grad_enabled(False)

    def __exit__(self, *exc):
        torch._C._set_grad_enabled(grad_before.pop(id(self), torch.is_grad_enabled()))
    cls.__init__, cls.__enter__, cls.__exit__ = __init__, lambda self: self, __exit__


def watch_functions(names):
    """Replace each of torch's Python functions ``names`` (``"torch.nn.functional.name"``), in every
    module that holds it, by a wrapper that notes the call in the active recording."""
    for name in set(names) - WATCHED_FUNCTIONS:
        WATCHED_FUNCTIONS.add(name)
        module_name, _, attribute = name.rpartition(".")
        function = getattr(sys.modules.get(module_name), attribute, None)
        if function is None:
            continue
        _replace_everywhere(function, _noting_function(name, function), attribute)


def _noting_function(name, function):
    def noting(*args, **kwargs):
        if Recording.active is not None:
            Recording.active.operators.add(name)
        return function(*args, **kwargs)
    return noting


FUNCTION_NAMES = {}  # names looked up once per function: the lookups cost more than the operators


def _cached(names, func, look_up):
    try:
        return names[func]
    except KeyError:
        name = names[func] = look_up()
        return name
    except TypeError:  # an unhashable callable handed to torch's dispatch by the answer
        return look_up()


def watch_optimizers():
    """Note the classes (module and name) of every optimizer whose ``step`` runs during a recorded
    call, through torch's global hook, which every optimizer's ``step`` calls first."""
    global OPTIMIZER_HOOK
    if OPTIMIZER_HOOK is None:
        OPTIMIZER_HOOK = sys.modules["torch.optim.optimizer"].register_optimizer_step_pre_hook(_note_optimizer)


def _note_optimizer(optimizer, args, kwargs):
    if Recording.active is not None:
        Recording.active.operators.update(f"{cls.__module__}.{cls.__qualname__}" for cls in type(optimizer).__mro__)


OPTIMIZER_HOOK = None


# the ways Python code can turn torch's dispatch to the recording's modes off around an operator:
# guard classes (made inert in place, so every route to them, a name built at run time or a search
# of the subclasses, reaches the inert class) and functions (replaced by module attribute)
DISPATCH_GUARDS = ("_DisableTorchDispatch", "_ExcludeDispatchKeyGuard", "_DisableFuncTorch")
DISPATCH_FUNCTIONS = ("_dispatch_tls_set_dispatch_key_excluded", "_dispatch_tls_set_dispatch_key_included",
                      "_set_dispatch_mode", "_unset_dispatch_mode")
# popping a mode off its stack (and pushing it back after the built-in ran, so the probes still
# count) is what torch's own helpers do (``torch.utils._python_dispatch._pop_mode_temporarily``,
# ``_disable_current_modes``, ``torch.overrides._pop_mode``): a pop during a call is noted
MODE_POPS = ("_pop_torch_dispatch_stack", "_pop_torch_function_stack")


def disarm_dispatch_switches():
    """Make torch's dispatch switches inert in the submission's process, and note a use during a
    recorded call as an escape: the operator then still reaches the recording, and the part fails.

    The guard classes are pybind11 classes, patched in place: the original methods are dropped, so
    no route leads back to them. ``DisableTorchFunction``, an immutable C type, is replaced by name
    where torch exposes it; it hides only torch's Python API, and the operators it runs still reach
    the dispatch mode. A mode popped off its stack during a call is noted too, except when torch's
    ``handle_torch_function`` pops it to hand the call to it (the originals of the pops stay
    reachable through the wrappers' closures, like the rest of the runner's code). Torch's own uses
    of these (fake tensors, compilation, custom ops) do not occur in the sandbox's eager code."""
    for name in DISPATCH_GUARDS:
        guard = getattr(torch._C, name, None)
        if guard is not None:
            guard.__enter__ = _inert_enter(name)
            guard.__exit__ = lambda self, *exc: None
    for name in DISPATCH_FUNCTIONS:
        if hasattr(torch._C, name):
            setattr(torch._C, name, _inert_switch(name))
    for name in MODE_POPS:
        pop = getattr(torch._C, name)
        _replace_everywhere(pop, _noting_pop(name, pop), name)  # torch's helpers import it by name
    inert_function_switch = type("DisableTorchFunction", (), {
        "__init__": _inert_switch("DisableTorchFunction"), "__enter__": lambda self: self,
        "__exit__": lambda self, *exc: None})
    for module in (torch._C, torch):
        if hasattr(module, "DisableTorchFunction"):
            module.DisableTorchFunction = inert_function_switch


def _inert_enter(name):
    note = _inert_switch(name)

    def enter(self):
        note()
        return self
    return enter


def _noting_pop(name, pop):
    note = _inert_switch(name)

    def pop_noted(*args, **kwargs):
        if not _handing_to_mode():  # the recording's own pops run after it is no longer active
            note()
        return pop(*args, **kwargs)
    return pop_noted


def _handing_to_mode():
    """Whether torch's ``handle_torch_function`` is popping the mode to call it, as it does for every
    function of torch's Python API (``torch.nn.functional.softmax``): the mode then sees the call."""
    frame = sys._getframe(2)
    for _ in range(4):  # handle_torch_function, contextlib's __enter__, _pop_mode_temporarily, _pop_mode
        if frame is None:
            return False
        if frame.f_code is HANDLER_CODE:
            return True
        frame = frame.f_back
    return False


def _inert_switch(name):
    def switch(*args, **kwargs):
        if Recording.active is not None:
            Recording.active.escapes.add(f"torch's dispatch switched off ({name})")
    return switch


def watch_threads():
    """Make every way of starting a thread note it in the recording of the call in progress."""
    for module in (_thread, threading):
        for name in ("start_new_thread", "start_new", "_start_new_thread", "start_joinable_thread",
                     "_start_joinable_thread"):
            start = getattr(module, name, None)
            if start is not None:
                setattr(module, name, _noting_threads(start))


def _noting_threads(start):
    def start_noted(*args, **kwargs):
        if Recording.active is not None:
            Recording.active.escapes.add("a thread started")
        return start(*args, **kwargs)
    return start_noted


class _FunctionRecorder(TorchFunctionMode):
    probe = "function"

    def __init__(self, recording):
        super().__init__()
        self.recording = recording

    def __torch_function__(self, func, types, args=(), kwargs=None):
        recording = self.recording
        if func is PROBE and recording.is_probe(args):
            recording.probes["function"] += 1
        elif recording.watches_methods:
            recording.operators.add(_cached(FUNCTION_NAMES, func, lambda: resolve_name(func) or getattr(
                func, "__qualname__", type(func).__name__)))
        result = func(*args, **kwargs) if kwargs else func(*args)
        if recording.watches_dtypes:  # a tensor of a new dtype is returned by the call that made it, or
            _note_dtypes(recording.dtypes.add, args, result)  # given to the first that sees it
        return result


def _describe_error(error):
    try:
        text = f"{type(error).__name__}: {error}"
    except BaseException:
        text = type(error).__name__
    return text[:2000]


def apply_limits(limits, count_processes=True):
    """Apply the job's ``limits`` (``worker.Limits`` as a dict) that this system can: on POSIX each
    written file's size (printed output included), no core dumps and, not as root and with
    ``count_processes``, the number of processes; where ``/proc`` says how much address space is
    mapped already (Linux), the memory. Windows has none of these: there the grader's deadlines are
    the only limits. The portable check counts no processes: outside the sandbox's user namespace
    the limit counts every process and thread of the student's account (a browser's alone exceed it),
    so the notebook could start no thread."""
    if resource is None:
        return
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversized output fails the write, not the process
    if os.path.exists("/proc/self/statm"):
        address_space = _address_space_bytes() + limits["memory_bytes"]
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["output_bytes"], limits["output_bytes"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if count_processes and not _is_root():
        resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))


def _is_root():
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _address_space_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


if __name__ == "__main__":
    main(alone=sys.argv[1:] == ["--alone"])
