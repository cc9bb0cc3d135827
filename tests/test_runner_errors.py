"""A visible test that fails says where and with what: the line of the cell, and its plain values."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SANDBOX = Path(__file__).resolve().parent.parent / "autograder" / "sandbox"
CELLS = {
    "assertion": "import torch\nout = torch.ones(3)\nn = 4\nassert out.sum() == n, ''\n",
    "called": "def f():\n    raise NotImplementedError()\n\nf()\n",
    "own_type": "class Sneaky:\n    def __repr__(self):\n        raise SystemExit\nx = Sneaky()\nassert x == 1\n",
    "passing": "assert 1 + 1 == 2\n",
}
# The runner sets process-wide state when imported (MPLBACKEND=Agg, which would silence every
# later notebook's figures in this test process), so it runs the cells in a process of its own.
RUN_CELLS = f"""
import json, sys
sys.path.insert(0, {str(SANDBOX)!r})
import runner
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
cells = json.loads(sys.stdin.read())
print(json.dumps({{name: runner.run_cell(shell, source) for name, source in cells.items()}}))
"""


@pytest.fixture(scope="module")
def replies():
    result = subprocess.run([sys.executable, "-c", RUN_CELLS], input=json.dumps(CELLS), capture_output=True,
                            text=True, check=True)
    return json.loads(result.stdout.splitlines()[-1])


def test_a_failed_assertion_names_its_line_and_values(replies):
    reply = replies["assertion"]
    assert not reply["ok"]
    lines = reply["error"].splitlines()
    assert lines[0] == "AssertionError: "
    assert lines[1] == "at line 4 of the cell: assert out.sum() == n, ''"
    assert "  where n = 4" in lines and "  where out = tensor(3,) float32 [1.0, 1.0, 1.0]" in lines


def test_an_error_in_a_called_function_names_the_calling_line(replies):
    reply = replies["called"]
    assert reply["error"].splitlines()[1] == "at line 4 of the cell: f()"


def test_values_of_the_submission_s_own_types_are_never_shown(replies):
    reply = replies["own_type"]
    assert reply["error"].endswith("at line 5 of the cell: assert x == 1")  # no "where x = ..."


def test_a_passing_cell_says_only_ok(replies):
    assert replies["passing"] == {"ok": True}
