"""A visible test that fails says where and with what: the line of the cell, and its plain values."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "autograder" / "sandbox"))
import runner  # noqa: E402


@pytest.fixture(scope="module")
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance()


def test_a_failed_assertion_names_its_line_and_values(shell):
    reply = runner.run_cell(shell, "import torch\nout = torch.ones(3)\nn = 4\nassert out.sum() == n, ''\n")
    assert not reply["ok"]
    lines = reply["error"].splitlines()
    assert lines[0] == "AssertionError: "
    assert lines[1] == "at line 4 of the cell: assert out.sum() == n, ''"
    assert "  where n = 4" in lines and "  where out = tensor(3,) float32 [1.0, 1.0, 1.0]" in lines


def test_an_error_in_a_called_function_names_the_calling_line(shell):
    reply = runner.run_cell(shell, "def f():\n    raise NotImplementedError()\n\nf()\n")
    assert reply["error"].splitlines()[1] == "at line 4 of the cell: f()"


def test_values_of_the_submission_s_own_types_are_never_shown(shell):
    source = "class Sneaky:\n    def __repr__(self):\n        raise SystemExit\nx = Sneaky()\nassert x == 1\n"
    reply = runner.run_cell(shell, source)
    assert reply["error"].endswith("at line 5 of the cell: assert x == 1")  # no "where x = ..."


def test_a_passing_cell_says_only_ok(shell):
    assert runner.run_cell(shell, "assert 1 + 1 == 2\n") == {"ok": True}
