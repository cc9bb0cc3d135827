"""The wire format between grader and sandbox keeps every value as it was, shapes included."""

import json
import struct
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
import torch

from autograder.sandbox import wire


def round_trip(value):
    arrays = []
    header = {"value": wire.encode(value, arrays, torch)}
    buffer = bytearray(wire.pack(header, arrays))

    def read_exact(n):
        chunk = bytes(buffer[:n])
        del buffer[:n]
        return chunk

    header, arrays = wire.unpack(read_exact)
    return wire.decode(header["value"], arrays, torch)


def test_zero_dimensional_tensors_and_arrays_keep_their_shape():
    assert round_trip(torch.tensor(2.5)).shape == ()
    assert round_trip(np.array(1.0)).shape == ()


def test_empty_and_string_arrays_survive_the_wire():
    for array in (np.zeros((0, 3), dtype=np.float32), np.array(["ab", "c"]), np.array([b"x"]),
                  np.arange(3, dtype=np.uint8), np.arange(6.0).reshape(2, 3).T):
        back = round_trip(array)
        assert back.dtype == array.dtype and back.shape == array.shape and np.array_equal(back, array)
        assert back.flags.writeable  # a decoded value is the callee's own copy
    swapped = np.array([1.5, -2.0], dtype=np.dtype(np.float64).newbyteorder())  # the other byte order
    back = round_trip(swapped)
    assert back.dtype == np.float64 and np.array_equal(back, swapped)


def frames(header, data):
    body = json.dumps(header).encode()
    return struct.pack(">I", len(body)) + body + struct.pack(">I", len(data)) + data


@pytest.mark.parametrize("described, data", [
    ([["|O", [1]]], b"\0" * 8),  # objects: pointers
    ([["<f4", [2]]], b"\0" * 4),  # too few bytes for the shape
    ([["<f4", [1]]], b"\0" * 8),  # too many
    ([["<f4", [-1]]], b""),
    ([["<f4", [1.5]]], b"\0" * 4),
    ([["<i4,<f4", [1]]], b"\0" * 8),  # a structured dtype
    ([[">f8" if np.little_endian else "<f8", [1]]], b"\0" * 8),  # the other byte order
    ([["<M8[s]", [1]]], b"\0" * 8),  # a date, not a plain number
    ([["nonsense", [1]]], b"\0"),
    ([["<f4"]], b"\0" * 4),
    ([], b""),
])
def test_malformed_arrays_are_refused(described, data):
    buffer = bytearray(frames({"n_arrays": 1, "arrays": described}, data))

    def read_exact(n):
        chunk = bytes(buffer[:n])
        del buffer[:n]
        return chunk

    with pytest.raises(wire.ProtocolError):
        wire.unpack(read_exact)


def test_values_survive_the_wire():
    value = {"x": torch.arange(6.0).reshape(2, 3).t(), "b": torch.tensor([True, False]),
             "h": torch.tensor([1.5], dtype=torch.bfloat16), "n": (1, 2.5, "s")}
    back = round_trip(value)
    assert torch.equal(back["x"], value["x"]) and back["x"].shape == (3, 2)
    assert torch.equal(back["b"], value["b"])
    assert back["h"].dtype == torch.bfloat16 and back["h"].item() == 1.5
    assert tuple(back["n"]) == (1, 2.5, "s")


def changed_by(function, args, kwargs=None):
    """What :func:`wire.changed_arguments` says ``function`` changed, called as the runner calls it."""
    arrays = []
    case = {"args": wire.encode(tuple(args), arrays, torch), "kwargs": wire.encode(dict(kwargs or {}), arrays, torch)}
    args, kwargs = wire.decode(case["args"], arrays, torch), wire.decode(case["kwargs"], arrays, torch)
    function(*args, **kwargs)
    return wire.changed_arguments(case, arrays, args, kwargs, function, torch)


def test_arguments_changed_in_place_are_named():
    nan_row = torch.tensor([float("nan"), -float("inf"), 0.0])
    assert changed_by(lambda logits, k: logits.clone().fill_(0), [nan_row, 2]) == []  # NaN is left as NaN
    assert changed_by(lambda logits, k: logits.masked_fill_(logits < 0, 0), [nan_row, 2]) == ["logits"]
    assert changed_by(lambda x: x.neg_(), [torch.zeros(2)]) == ["x"]  # 0.0 became -0.0: bit for bit
    assert changed_by(lambda x: x.add_(0), [torch.ones(2, dtype=torch.bfloat16)]) == []
    assert changed_by(lambda x: x.unsqueeze_(0), [torch.ones(2)]) == ["x"]  # its shape
    assert changed_by(lambda a, b, scale=1: b.mul_(scale), [torch.ones(1), torch.ones(1)], {"scale": 2}) == ["b"]
    assert changed_by(lambda a, *, out: out.zero_(), [torch.ones(1)], {"out": torch.ones(1)}) == ["out"]
    assert changed_by(lambda examples: examples.append(("x", "y")), [[("a", "b")]]) == ["examples"]
    assert changed_by(lambda array: array.__setitem__(0, 5), [np.zeros(2)]) == ["array"]
    assert changed_by(lambda *xs: xs[1].add_(1), [torch.ones(1), torch.ones(1)]) == ["argument 2"]


def test_numbers_of_other_types_cross_as_the_python_number_they_equal():
    for value, plain in ((np.int64(3), 3), (np.uint8(255), 255), (np.float32(0.5), 0.5), (np.float64(0.25), 0.25),
                         (Fraction(1, 2), 0.5), (np.bool_(True), True)):
        back = round_trip(value)
        assert back == plain and type(back) is type(plain), (value, back)
    with pytest.raises(wire.UnsupportedValue, match="Decimal, which the grader cannot read"):
        wire.encode(Decimal("0.5"), [], torch)
