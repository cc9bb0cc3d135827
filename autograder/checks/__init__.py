"""Hidden checks: how every exercise part is decided.

A *check* compares a student's function with an independent reference (a torch built-in,
a closed form, a published table) on randomized inputs. In an exercise notebook's source
form, a test cell's hidden region names its checks::

    ### BEGIN HIDDEN TESTS
    from autograder.checks import check
    check("transformers.softmax", softmax)
    ### END HIDDEN TESTS

Run in the source notebook (by the author, or by nbval) ``check`` runs in-process and raises
``AssertionError`` on a mismatch. The grader never runs that region in the student's process:
it reads the check names, draws the inputs itself, asks the sandboxed submission only for the
function's outputs, and compares them here, outside the student's reach.
"""

import functools
import importlib
import pkgutil
import secrets
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from autograder.sandbox import wire


@dataclass(frozen=True)
class Case:
    """One call of the student's function: positional and keyword arguments.

    ``label`` names an edge case ("ties with the k-th largest logit") so that feedback can say
    which one failed; random cases have none. ``tolerance``, an ``(rtol, atol)`` pair, replaces the
    check's own for this case alone, where its inputs are known less precisely (scores of -20000 in
    float32 are known to 2e-3, so any correct order of operations moves the result that much).
    ``raises`` names the exception the spec demands on these inputs (``"ValueError"``), and
    ``message_names`` the words its message must hold (every known name, where the spec says the
    message lists them); a case without ``raises`` demands a value.
    """

    args: tuple
    kwargs: dict = field(default_factory=dict)
    label: str = ""
    tolerance: tuple | None = None
    raises: str = ""
    message_names: tuple = ()

    def describe(self):
        """A short, input-free description of the call for feedback: shapes, dtypes and options,
        after the edge case's name if it has one."""
        parts = [_describe(a) for a in self.args] + [f"{k}={_describe(v)}" for k, v in self.kwargs.items()]
        call = f"({', '.join(parts)})"
        return f"{call} [edge case: {self.label}]" if self.label else call


@dataclass(frozen=True)
class Check:
    """A hidden test: ``function`` must match ``reference`` on its edge cases and on every case
    drawn by ``cases``.

    ``edge_cases(generator)`` returns the labelled :class:`Case` list of the boundaries the part is
    about (ties, rounding across a power of two, signed zero, every option); it is called with a
    generator of fixed seed, so the same edge cases run in every run, whatever the key.
    ``cases(generator)`` returns the random cases; ``reference`` takes the same arguments.
    Outputs are compared as ``torch.testing.assert_close(actual, expected, rtol, atol)`` compares them
    (:func:`tensors_not_close`).
    ``forbid`` lists attribute or function names the answer may not use (for example
    ``"softmax"`` in the softmax part), so that wrapping a built-in earns nothing; the grader
    scans the source for them before anything runs. ``forbid_ops`` lists the operators the
    answer may not *run*, as the sandbox records them while the check calls it: ATen operators
    (``"aten::_softmax"``), torch's Python API by its public name
    (``"torch.nn.functional.scaled_dot_product_attention"``) and the class of an optimizer whose
    step runs (``"torch.optim.adamw.AdamW"``). They catch the built-in however the answer reaches it.
    """

    name: str
    function: str
    cases: Callable[[torch.Generator], list]
    reference: Callable
    rtol: float = 1e-5
    atol: float = 1e-6
    forbid: tuple = ()
    forbid_ops: tuple = ()
    description: str = ""
    edge_cases: Callable[[torch.Generator], list] = lambda generator: []

    def compare(self, case, actual):
        """``None`` when ``actual`` matches the reference on ``case``, else a message saying how not."""
        if case.raises:
            return f"expected {case.raises}, got {_describe(actual)}"
        expected = self.expected(case)
        rtol, atol = case.tolerance or (self.rtol, self.atol)
        return compare_outputs(actual, expected, rtol, atol)

    def expected(self, case):
        """The reference's output on ``case``; an edge case's is computed once per process (the same
        edge cases run for every submission: :func:`draw_cases`)."""
        stored = EDGE_EXPECTED.get((self.name, id(case)))
        if stored is not None and stored[0] is case:
            return stored[1]
        expected = self.reference(*case.args, **case.kwargs)
        if case.label and any(edge is case for edge in _edge_cases(self.name)):
            EDGE_EXPECTED[(self.name, id(case))] = (case, expected)
        return expected

    def compare_error(self, case, error):
        """``None`` when ``error``, an exception as the sandbox reports it (``"ValueError: message"``),
        is what ``case`` demands, else a message saying how not."""
        if error.startswith(wire.RETURNED):  # it returned, a value the grader cannot read
            return error[:300]
        kind, _, message = error.partition(": ")
        if not case.raises:
            return f"raised {error[:300]}"
        if kind != case.raises:
            return f"raised {error[:300]}; expected {case.raises}"
        missing = [name for name in case.message_names if name not in message]
        if missing:
            return (f"raised {error[:300]}, but the message must name {', '.join(case.message_names)}; "
                    f"it lacks {', '.join(missing)}")
        return None


class ExactDtypeCheck(Check):
    """A check whose tensor result must also have the reference's dtype (``compare_outputs`` casts)."""

    def compare(self, case, actual):
        expected = self.expected(case)
        if isinstance(actual, torch.Tensor) and actual.dtype != expected.dtype:
            return f"expected dtype {expected.dtype}, got {actual.dtype}"
        rtol, atol = case.tolerance or (self.rtol, self.atol)
        return compare_outputs(actual, expected, rtol, atol)


REGISTRY: dict = {}


def register(check_):
    """Add a check to the registry under its name; names must be unique."""
    if check_.name in REGISTRY:
        raise ValueError(f"duplicate check name {check_.name!r}")
    REGISTRY[check_.name] = check_
    return check_


def get(name):
    """The registered check called ``name`` (chapter modules are imported on first use)."""
    _load_all()
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"no hidden check named {name!r}; known: {sorted(REGISTRY)}") from None


@functools.cache
def _load_all():
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


EDGE_SEED = 0
EDGE_EXPECTED = {}  # (check name, id of an edge case of _edge_cases) -> (that case, the reference's output)


def draw_cases(check_, seed):
    """The cases of ``check_`` for an integer ``seed``: its edge cases, the same for every seed, then
    its random cases, drawn from ``seed`` (the same seed gives the same inputs)."""
    return [*_edge_cases(check_.name), *check_.cases(torch.Generator().manual_seed(seed))]


@functools.cache
def _edge_cases(name):
    """The edge cases of the check called ``name``, drawn once per process: the same objects for every
    submission, so that :meth:`Check.expected` computes each one's reference once."""
    check_ = get(name)
    edges = tuple(check_.edge_cases(torch.Generator().manual_seed(EDGE_SEED)))
    unlabelled = [case.describe() for case in edges if not case.label]
    if unlabelled:
        raise ValueError(f"{check_.name}: every edge case needs a label; {unlabelled[0]} has none")
    return edges


def judge(check_, case, function):
    """Call ``function`` on a copy of ``case``'s arguments in this process and judge it as the grader
    judges the sandbox's answer: ``None`` when it matches, else the reason."""
    arrays, returned_arrays = [], []
    sent = {"args": wire.encode(tuple(case.args), arrays, torch), "kwargs": wire.encode(dict(case.kwargs), arrays, torch)}
    try:
        reply = wire.answer(function, sent, arrays, returned_arrays, torch)
    except Exception as error:  # noqa: BLE001 - a crash fails the case, unless the case demands it
        return check_.compare_error(case, f"{type(error).__name__}: {error}")
    if not reply["ok"]:
        return check_.compare_error(case, reply["error"])
    if reply.get("changed"):
        return changed_arguments_message(reply["changed"])
    return check_.compare(case, wire.decode(reply["value"], returned_arrays, torch))


def changed_arguments_message(names):
    """What a case says of a function that changed its arguments ``names`` in place."""
    return (f"changed its argument{'s' if len(names) > 1 else ''} {', '.join(map(str, names))[:200]} in place: "
            "leave the arguments as they were (work on a copy, or build a new tensor) and return the result")


def compare_outputs(actual, expected, rtol, atol):
    """``None`` if ``actual`` equals ``expected`` within tolerance, else a one-line reason.

    ``actual`` arrives from the sandbox already decoded, so it holds only tensors, numbers,
    strings and containers of them: nothing the student's code could have patched.
    """
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            return f"expected a sequence of {len(expected)} outputs, got {_describe(actual)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            reason = compare_outputs(a, e, rtol, atol)
            if reason:
                return f"output {i}: {reason}"
        return None
    if isinstance(expected, dict):
        if not isinstance(actual, dict) or set(actual) != set(expected):
            return f"expected a dict with keys {sorted(expected)}, got {_describe(actual)}"
        for key in expected:
            reason = compare_outputs(actual[key], expected[key], rtol, atol)
            if reason:
                return f"[{key!r}]: {reason}"
        return None
    if isinstance(expected, torch.Tensor):
        if isinstance(actual, np.ndarray):
            actual = torch.from_numpy(actual)
        if not isinstance(actual, torch.Tensor):
            return f"expected a tensor of shape {tuple(expected.shape)}, got {_describe(actual)}"
        if actual.shape != expected.shape:
            return f"expected shape {tuple(expected.shape)}, got {tuple(actual.shape)}"
        if actual.dtype != expected.dtype:
            if expected.dtype == torch.bool or actual.dtype == torch.bool:
                return f"expected dtype {expected.dtype}, got {actual.dtype}"
            actual = actual.to(expected.dtype)
        if torch.equal(actual, expected):  # the usual case, a hundred times faster than comparing with tolerances
            return None
        if expected.dtype.is_floating_point and expected.dtype.itemsize == 1:  # float8: torch has no isclose
            try:
                torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=True)
            except AssertionError as error:
                lines = [line.strip() for line in str(error).splitlines() if line.strip()]
                return "; ".join(lines[:3])
            return None
        return tensors_not_close(actual, expected, rtol, atol)
    if isinstance(expected, float):
        if not isinstance(actual, (int, float)) or isinstance(actual, bool):
            return f"expected a number, got {_describe(actual)}"
        if not abs(actual - expected) <= atol + rtol * abs(expected):
            shown_expected, shown_actual = distinguishable(expected, actual)
            return f"expected {shown_expected}, got {shown_actual}"
        return None
    if type(actual) is not type(expected):
        return f"expected {_describe(expected)} ({type(expected).__name__}), got {_describe(actual)} ({type(actual).__name__})"
    if actual != expected:
        return f"expected {expected!r}, got {_describe(actual)}"
    return None


def tensors_not_close(actual, expected, rtol, atol):
    """``None`` when every element of tensor ``actual`` is within ``atol + rtol * |expected|`` of
    ``expected``'s (a NaN matches a NaN), the rule of ``torch.testing.assert_close``; else how many
    elements are not, and the farthest. Not assert_close itself: its first call imports
    torch.distributed's DTensor, about half a second of CPU in the grader and in a student's kernel."""
    matches = torch.isclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True)
    if bool(matches.all()):
        return None
    wide = torch.complex128 if expected.is_complex() else torch.float64
    differences = (actual.to(wide) - expected.to(wide)).abs()
    ranked = differences.nan_to_num(nan=float("inf"))  # a NaN against a number: the farthest
    ranked[matches] = 0
    farthest = int(ranked.argmax())
    index = tuple(int(i) for i in np.unravel_index(farthest, tuple(expected.shape)))
    return (f"Tensor-likes are not close!; Mismatched elements: {matches.numel() - int(matches.sum())} / "
            f"{matches.numel()}; Greatest absolute difference: {differences.flatten()[farthest].item():g} "
            f"at index {index} (up to {atol:g} + {rtol:g} x |expected| allowed)")


def distinguishable(expected, actual):
    """``expected`` and ``actual`` printed with the fewest significant digits (at least 6) that
    tell them apart, so that feedback never reads "expected 3634.26, got 3634.26"."""
    for digits in range(6, 18):
        shown = f"{expected:.{digits}g}", f"{float(actual):.{digits}g}"
        if shown[0] != shown[1]:
            return shown
    return repr(expected), repr(float(actual))


def check(name, function):
    """Run hidden check ``name`` on ``function`` in this process (authoring and nbval).

    Draws fresh random cases each call and raises ``AssertionError`` on the first mismatch.
    """
    check_ = get(name)
    for case in draw_cases(check_, secrets.randbits(32)):
        reason = judge(check_, case, function)
        if reason:
            raise AssertionError(f"{name} on input {case.describe()}: {reason}")


def _describe(value):
    if isinstance(value, torch.Tensor):
        return f"tensor{tuple(value.shape)} {str(value.dtype).removeprefix('torch.')}"
    if isinstance(value, np.ndarray):
        return f"array{value.shape} {value.dtype}"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(_describe(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_describe(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (int, float, bool, str)) or value is None:
        return repr(value)
    return type(value).__name__
