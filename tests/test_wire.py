"""The wire format between grader and sandbox keeps every value as it was, shapes included."""

import numpy as np
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


def test_values_survive_the_wire():
    value = {"x": torch.arange(6.0).reshape(2, 3).t(), "b": torch.tensor([True, False]),
             "h": torch.tensor([1.5], dtype=torch.bfloat16), "n": (1, 2.5, "s")}
    back = round_trip(value)
    assert torch.equal(back["x"], value["x"]) and back["x"].shape == (3, 2)
    assert torch.equal(back["b"], value["b"])
    assert back["h"].dtype == torch.bfloat16 and back["h"].item() == 1.5
    assert tuple(back["n"]) == (1, 2.5, "s")
