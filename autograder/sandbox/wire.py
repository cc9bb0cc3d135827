"""Messages between the grader and the sandbox: length-prefixed frames of JSON and arrays.

A message is a JSON header and a list of arrays. On the wire it is one frame holding the
header and, when there are arrays, a second frame holding their bytes one after another, in C
order; the header lists each array's dtype and shape (``"arrays"``). Only plain dtypes cross
(:data:`ARRAY_KINDS`: booleans, numbers, fixed-width strings), so reading a message builds
arrays of bytes and never runs code or follows a pointer. Values (arguments and return values)
are encoded by :func:`encode` into JSON plus arrays, never pickled.

(Not ``.npz``: zipping and unzipping a hidden check's fifty small arrays, on each side of the pipe,
was a large part of the grader's own work in each check, by profile.)
"""

import inspect
import json
import math
import numbers
import struct

import numpy as np

MAX_FRAME_BYTES = 256 * 2**20
ARRAY_KINDS = "biufcSU"  # numpy's kinds of bool, signed and unsigned int, float, complex, bytes and str
_LENGTH = struct.Struct(">I")


class ProtocolError(Exception):
    """A frame or value that does not follow this format."""


class UnsupportedValue(ProtocolError):
    """A value of a type :func:`encode` does not carry; the message is written for the student whose
    function returned it."""


RETURNED = "returned "  # how a case's error begins when the function returned an UnsupportedValue


def pack(header, arrays=()):
    """The bytes of one message: header frame, then an array frame if there are arrays."""
    arrays = [_contiguous(array) for array in arrays]
    header = dict(header, n_arrays=len(arrays), arrays=[[array.dtype.str, list(array.shape)] for array in arrays])
    frames = [json.dumps(header).encode()]
    if arrays:
        frames.append(b"".join(array.tobytes() for array in arrays))
    return b"".join(_LENGTH.pack(len(f)) + f for f in frames)


def read_frame(read_exact):
    """One frame's payload; ``read_exact(n)`` returns exactly ``n`` bytes or raises EOFError."""
    (length,) = _LENGTH.unpack(read_exact(_LENGTH.size))
    if length > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {length} bytes exceeds the limit of {MAX_FRAME_BYTES}")
    return read_exact(length)


def unpack(read_exact):
    """Read one message as ``(header, arrays)``; the arrays are read-only views of the frame."""
    try:
        header = json.loads(read_frame(read_exact))
    except (ValueError, UnicodeDecodeError) as error:
        raise ProtocolError(f"malformed header: {error}") from None
    if not isinstance(header, dict) or not isinstance(header.get("n_arrays"), int):
        raise ProtocolError("header is not a message")
    arrays = []
    if header["n_arrays"]:
        layout = _array_layout(header.get("arrays"), header["n_arrays"])
        data, offset = read_frame(read_exact), 0
        if len(data) != sum(dtype.itemsize * math.prod(shape) for dtype, shape in layout):
            raise ProtocolError("malformed arrays: the frame's length does not match their shapes")
        for dtype, shape in layout:
            count = math.prod(shape)
            arrays.append(np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape))
            offset += dtype.itemsize * count
    return header, arrays


def _array_layout(described, count):
    """``[(dtype, shape)]`` of a header's ``"arrays"``, checked: ``count`` of them, plain dtypes in
    this machine's byte order, shapes of non-negative ints."""
    if not isinstance(described, list) or len(described) != count:
        raise ProtocolError("malformed arrays: the header does not describe them")
    layout = []
    for item in described:
        try:
            name, shape = item
            dtype = np.dtype(name) if isinstance(name, str) else None
        except (TypeError, ValueError):
            raise ProtocolError(f"malformed arrays: {str(item)[:80]}") from None
        if (dtype is None or dtype.kind not in ARRAY_KINDS or dtype.itemsize == 0 or dtype.fields is not None
                or dtype.byteorder not in "=|"):
            raise ProtocolError(f"malformed arrays: dtype {str(name)[:40]} is not a plain one")
        if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
            raise ProtocolError(f"malformed arrays: shape {str(shape)[:80]}")
        layout.append((dtype, tuple(shape)))
    return layout


def encode(value, arrays, torch=None):
    """JSON-able form of ``value``; tensors and arrays are appended to ``arrays`` and referenced.

    Other numbers cross as the Python number they equal: a numpy scalar, a ``Fraction``. A value of
    any other type raises :class:`UnsupportedValue`."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"t": "py", "v": value}
    if isinstance(value, np.bool_):
        return {"t": "py", "v": bool(value)}
    if isinstance(value, numbers.Integral):
        return {"t": "py", "v": int(value)}
    if isinstance(value, numbers.Real):
        return {"t": "py", "v": float(value)}
    if isinstance(value, (tuple, list)):
        return {"t": "tuple" if isinstance(value, tuple) else "list", "v": [encode(v, arrays, torch) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"t": "dict", "v": {k: encode(v, arrays, torch) for k, v in value.items()}}
    if isinstance(value, np.ndarray) and value.dtype.kind in ARRAY_KINDS and value.dtype.fields is None:
        if value.dtype.byteorder not in "=|":  # the same numbers, in this machine's byte order
            value = value.astype(value.dtype.newbyteorder("="))
        arrays.append(_contiguous(value))
        return {"t": "ndarray", "i": len(arrays) - 1}
    if torch is not None and isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        dtype = str(tensor.dtype).removeprefix("torch.")
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.float()
        arrays.append(_contiguous(tensor.resolve_conj().resolve_neg().numpy()))
        return {"t": "tensor", "i": len(arrays) - 1, "dtype": dtype}
    raise UnsupportedValue(f"a value of type {type(value).__name__}, which the grader cannot read: return Python "
                           "numbers, strings, tensors or numpy arrays, or tuples, lists and dicts of them")


def decode(encoded, arrays, torch=None):
    """The value that :func:`encode` encoded; tensors come back as tensors when torch is given."""
    try:
        kind = encoded["t"]
        if kind == "py":
            value = encoded["v"]
            if value is not None and not isinstance(value, (bool, int, float, str)):
                raise ProtocolError("bad plain value")
            return value
        if kind in ("tuple", "list"):
            items = [decode(v, arrays, torch) for v in encoded["v"]]
            return tuple(items) if kind == "tuple" else items
        if kind == "dict":
            return {str(k): decode(v, arrays, torch) for k, v in encoded["v"].items()}
        array = arrays[encoded["i"]]
        if kind == "ndarray" or torch is None:
            return array.copy()  # the message's own arrays stay as they came (``changed_arguments``)
        if kind == "tensor":
            tensor = torch.from_numpy(array.copy())
            return tensor.to(getattr(torch, encoded["dtype"])) if encoded["dtype"] == "bfloat16" else tensor
    except (KeyError, IndexError, TypeError, AttributeError) as error:
        raise ProtocolError(f"malformed value: {error!r}") from None
    raise ProtocolError(f"unknown value kind {kind!r}")


def answer(function, case, arrays, out_arrays, torch=None):
    """Call ``function`` on ``case`` (``{"args": a tuple's encoding, "kwargs": a dict's}`` over
    ``arrays``) as every hidden check's call is answered (the sandbox's runner, ``check_part``,
    ``checks.judge``): ``{"ok": True, "value": its encoding over out_arrays}``, with ``"changed"``
    naming the arguments it changed in place, or ``{"ok": False, "error": ...}`` when it returned a
    value the wire cannot carry. An exception of the function's goes to the caller."""
    args, kwargs = decode(case["args"], arrays, torch), decode(case["kwargs"], arrays, torch)
    value = function(*args, **kwargs)
    try:
        value = encode(value, out_arrays, torch)
    except UnsupportedValue as error:
        return {"ok": False, "error": f"{RETURNED}{error}"}
    changed = changed_arguments(case, arrays, args, kwargs, function, torch)
    return {"ok": True, "value": value} | ({"changed": changed} if changed else {})


def changed_arguments(case, arrays, args, kwargs, function, torch=None):
    """The arguments that ``function`` changed in place when called on ``args`` and ``kwargs``,
    decoded from ``case`` (``{"args": a tuple's encoding, "kwargs": a dict's}`` over ``arrays``):
    those that no longer encode as they were sent, every array compared bit for bit. Positional
    arguments are named by the function's parameters where it has them, else by position
    (``"argument 2"``)."""
    try:
        names = [name for name, parameter in inspect.signature(function).parameters.items()
                 if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        names = []
    changed = []
    for i, (sent, value) in enumerate(zip(case["args"]["v"], args)):
        if not _encodes_as(value, sent, arrays, torch):
            changed.append(names[i] if i < len(names) else f"argument {i + 1}")
    for name, sent in case["kwargs"]["v"].items():
        if not _encodes_as(kwargs.get(name), sent, arrays, torch):
            changed.append(name)
    return changed


def _encodes_as(value, sent, arrays, torch):
    """Whether ``value`` encodes exactly as ``sent`` (over ``arrays``) does."""
    fresh_arrays = []
    try:
        fresh = encode(value, fresh_arrays, torch)
    except ProtocolError:
        return False
    return _same(fresh, fresh_arrays, sent, arrays)


def _same(a, a_arrays, b, b_arrays):
    """Whether encodings ``a`` (over ``a_arrays``) and ``b`` (over ``b_arrays``) hold the same value."""
    if a["t"] != b["t"]:
        return False
    if a["t"] == "py":
        x, y = a["v"], b["v"]
        return type(x) is type(y) and (x == y or (isinstance(x, float) and x != x and y != y))  # NaN is NaN
    if a["t"] in ("tuple", "list"):
        return len(a["v"]) == len(b["v"]) and all(_same(x, a_arrays, y, b_arrays) for x, y in zip(a["v"], b["v"]))
    if a["t"] == "dict":
        return a["v"].keys() == b["v"].keys() and all(_same(a["v"][k], a_arrays, b["v"][k], b_arrays) for k in a["v"])
    x, y = a_arrays[a["i"]], b_arrays[b["i"]]
    return (a.get("dtype") == b.get("dtype") and x.dtype == y.dtype and x.shape == y.shape
            and x.tobytes() == y.tobytes())


def _contiguous(array):
    """``array`` in C order, keeping its shape (``np.ascontiguousarray`` makes a 0-d array 1-d)."""
    return np.ascontiguousarray(array).reshape(array.shape)
