"""Hostile and broken submissions of 01-transformers, built from the released notebook.

Each entry of :data:`CASES` builds one submission's bytes and states what grading it must
give: the status, the exact score, and a substring of one flag ("" when it must carry none).
Attacks that try to escape the sandbox use a *canary*: the part ``sinusoidal_positions`` gets
a correct answer only when the escape worked (``ESCAPED`` is true), so an escape shows up as
points the submission must not have. Cheats that run inside the sandbox are mixed into
otherwise honest submissions, so the parts before the attack must keep their points.
"""

import copy
import json
from dataclasses import dataclass
from pathlib import Path

PART_POINTS = {"softmax": 5, "causal_mask": 3, "scaled_dot_product_attention": 5,
               "multi_head_self_attention": 6, "sinusoidal_positions": 4, "rope": 4, "transformer_block": 5}
ALL_POINTS = sum(PART_POINTS.values())
CANARY_PART = "sinusoidal_positions"  # independent of the other parts


@dataclass(frozen=True)
class Expect:
    """What grading one corpus entry must give."""

    status: str  # "graded" or "flagged"
    score: float  # exact total score (the written part is graded by hand and scores 0 here)
    flag: str = ""  # a substring of one of the flags; "" means no flag at all


@dataclass(frozen=True)
class Context:
    """What the builders need: the notebooks and the host paths an escape would reach."""

    release_nb: dict
    source_nb: dict
    other_nb: dict  # an explanatory notebook of the same chapter
    secret_paths: tuple  # files on the host the sandbox must not read
    gradebook: Path  # the batch's gradebook file, which the sandbox must not write
    port: int  # a TCP port listening on the host's 127.0.0.1


def _gid(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _answers(ctx):
    return {_gid(c): "".join(c["source"]) for c in ctx.source_nb["cells"] if _gid(c)}


def honest(ctx, parts=tuple(PART_POINTS)):
    """The release with the reference answers of ``parts`` filled in (the rest left blank)."""
    answers = _answers(ctx)
    nb = copy.deepcopy(ctx.release_nb)
    for cell in nb["cells"]:
        if _gid(cell) in parts:
            cell["source"] = answers[_gid(cell)]
    return nb


def set_answer(nb, gid, source):
    next(c for c in nb["cells"] if _gid(c) == gid)["source"] = source
    return nb


def add_cell(nb, after_gid, source):
    """Insert a code cell the student added (no nbgrader metadata) after cell ``after_gid``."""
    index = next(i for i, c in enumerate(nb["cells"]) if _gid(c) == after_gid)
    nb["cells"].insert(index + 1, {"cell_type": "code", "execution_count": None, "metadata": {},
                                   "outputs": [], "source": source})
    return nb


def canary(ctx, attack):
    """Honest but for the canary part, which is correct only if ``attack`` sets ``ESCAPED``."""
    nb = add_cell(honest(ctx, [p for p in PART_POINTS if p != CANARY_PART]), "setup", attack)
    answer = _answers(ctx)[CANARY_PART].replace("\n", "\n    ")
    return add_cell(nb, CANARY_PART, f"if ESCAPED:\n    {answer}\n")


def dump(nb):
    return json.dumps(nb).encode()


HONEST = ALL_POINTS - PART_POINTS[CANARY_PART]  # a canary submission whose escape failed


# -- resource abuse -------------------------------------------------------------------------
def infinite_loop(ctx):
    nb = add_cell(honest(ctx, ["softmax"]), "test_softmax", "while True:\n    pass\n")
    return dump(nb), Expect("flagged", 5, "timeout")


def swallow_interrupt(ctx):
    attack = ("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n"
              "    try:\n        time.sleep(0.1)\n    except BaseException:\n        pass\n")
    nb = add_cell(honest(ctx, ["softmax"]), "test_softmax", attack)
    return dump(nb), Expect("flagged", 5, "timeout")


def busy_notebook(ctx):
    """Each cell stays under the cell limit; together they overrun the notebook's."""
    nb = honest(ctx, ["softmax"])
    for _ in range(8):
        add_cell(nb, "test_softmax", "import time\ntime.sleep(4)\n")
    return dump(nb), Expect("flagged", 5, "the notebook ran longer than")


def memory_bomb(ctx):
    attack = ("chunks = []\ntry:\n    for _ in range(48):  # 3 GiB of address space (zero pages, not touched)\n"
              "        chunks.append(bytes(64 * 2**20))\nexcept MemoryError:\n    pass\n"
              "ESCAPED = len(chunks) * 64 * 2**20 > 2**30\ndel chunks\n")
    return dump(canary(ctx, attack)), Expect("graded", HONEST)


def fork_bomb(ctx):
    attack = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    nb = add_cell(honest(ctx, ["softmax"]), "test_softmax", attack)
    return dump(nb), Expect("flagged", 5, "timeout")


def fork_count(ctx):
    attack = ("import os, time\nforks = 0\ntry:\n    while forks < 500:\n        if os.fork() == 0:\n"
              "            time.sleep(60)\n            os._exit(0)\n        forks += 1\nexcept OSError:\n"
              "    pass\nESCAPED = forks >= 500\n")
    return dump(canary(ctx, attack)), Expect("graded", HONEST)


def fork_children(ctx):
    """Processes the submission forks finish its cell too: they must not answer in its place."""
    attack = "import os\ntry:\n    for _ in range(6):  # up to 64 processes, over the limit\n        os.fork()\nexcept OSError:\n    pass\n"
    nb = add_cell(honest(ctx), "test_softmax", attack)
    return dump(nb), Expect("graded", ALL_POINTS)


def output_flood(ctx):
    attack = ("import sys\nwritten = 0\ntry:\n    for _ in range(100):\n"
              "        sys.stdout.write('x' * 2**20)\n        sys.stdout.flush()\n        written += 2**20\n"
              "except OSError:\n    pass\nESCAPED = written >= 100 * 2**20\nprint('still talking')\n")
    return dump(canary(ctx, attack)), Expect("graded", HONEST)


def tmp_flood(ctx):
    attack = ("written = 0\ntry:\n    for i in range(240):  # 240 files of 4 MiB in its folder of the private /tmp\n"
              "        with open(f'fill{i}', 'wb') as f:\n            f.write(b'x' * 4 * 2**20)\n"
              "        written += 4 * 2**20\nexcept OSError:\n    pass\nESCAPED = written >= 900 * 2**20\n")
    return dump(canary(ctx, attack)), Expect("graded", HONEST)


# -- crashes and exits --------------------------------------------------------------------------
def sys_exit(ctx):
    nb = add_cell(honest(ctx), "test_softmax", "import sys\nsys.exit(0)\n")
    return dump(nb), Expect("graded", ALL_POINTS)


def os_exit(ctx):
    nb = add_cell(honest(ctx, ["softmax"]), "test_softmax", "import os\nos._exit(0)\n")
    return dump(nb), Expect("flagged", 5, "exited")


def segfault(ctx):
    nb = add_cell(honest(ctx, ["softmax"]), "test_softmax", "import ctypes\nctypes.string_at(0)\n")
    return dump(nb), Expect("flagged", 5, "SIGSEGV")


# -- tampering with tests ---------------------------------------------------------------------
def _drop_tests(nb, gids):
    nb["cells"] = [c for c in nb["cells"] if _gid(c) not in gids]
    return nb


def deleted_tests(ctx):
    nb = set_answer(_drop_tests(honest(ctx), {"test_softmax"}), "softmax",
                    "def softmax(x, dim=-1):\n    return x\n")
    # softmax's 5 points only: the parts whose answers call it are judged with the reference's softmax
    return dump(nb), Expect("flagged", ALL_POINTS - 5, "deleted test cell 'test_softmax'")


def edited_tests(ctx):
    nb = set_answer(honest(ctx), "softmax", "def softmax(x, dim=-1):\n    return x\n")
    set_answer(nb, "test_softmax", "assert True\n")
    return dump(nb), Expect("flagged", ALL_POINTS - 5, "edited test cell 'test_softmax'")


def patched_comparisons(ctx):
    patch = ("import builtins, numpy, torch\ntorch.allclose = lambda *a, **k: True\n"
             "torch.equal = lambda *a, **k: True\ntorch.testing.assert_close = lambda *a, **k: None\n"
             "numpy.testing.assert_allclose = lambda *a, **k: None\n"
             "builtins.AssertionError = type('Never', (Exception,), {})\n"
             "def softmax(x, dim=-1):\n    return x\n")
    nb = add_cell(honest(ctx, ["causal_mask"]), "setup", patch)
    return dump(nb), Expect("graded", 3)


def patched_isinstance(ctx):
    """Patching the builtins breaks the sandbox's own replies: the grader restarts the notebook
    without that cell, flags it, and grades the rest (one cell's failure stays in that cell)."""
    patch = "import builtins\nbuiltins.isinstance = lambda *a: True\n"
    nb = add_cell(honest(ctx), "test_softmax", patch)
    return dump(nb), Expect("flagged", ALL_POINTS, "which you added stopped the notebook")


def hard_coded(ctx):
    fake = ("def softmax(x, dim=-1):\n    if x.shape == (1, 3):\n"
            "        return torch.tensor([[0.0900306, 0.2447285, 0.6652410]])\n"
            "    return torch.tensor([1.0, 0.0])\n")
    nb = set_answer(honest(ctx), "softmax", fake)
    return dump(nb), Expect("graded", ALL_POINTS - 5)


# -- the reference solutions ------------------------------------------------------------------------
def import_reference(ctx):
    nb = set_answer(honest(ctx), "softmax", "from solutions.transformers import softmax\n")
    return dump(nb), Expect("flagged", 0, "reference package")


def dynamic_import(ctx):
    nb = set_answer(honest(ctx), "softmax",
                    "softmax = vars(__import__('solu' + 'tions.transformers', fromlist=['x']))['soft' + 'max']\n")
    return dump(nb), Expect("flagged", 0, "reference package")


def read_host_files(ctx):
    paths = ", ".join(repr(str(p)) for p in ctx.secret_paths)
    attack = (f"ESCAPED = False\nfor path in [{paths}]:\n    try:\n        with open(path, 'rb') as f:\n"
              "            ESCAPED = ESCAPED or bool(f.read(1))\n    except OSError:\n        pass\n")
    return dump(canary(ctx, attack)), Expect("graded", HONEST)


def write_gradebook(ctx):
    attack = (f"import sqlite3\nESCAPED = False\ntry:\n    db = sqlite3.connect('file:{ctx.gradebook}?mode=rw', uri=True)\n"
              "    db.execute(\"update autograder_results set score = 1000\")\n    db.commit()\n    ESCAPED = True\n"
              f"except Exception:\n    pass\ntry:\n    open({str(ctx.gradebook) + '-pwned'!r}, 'w').write('x')\n"
              "    ESCAPED = True\nexcept OSError:\n    pass\n")
    return dump(canary(ctx, attack)), Expect("graded", HONEST)


def network(ctx):
    attack = (f"import socket\nESCAPED = False\nfor host in ['127.0.0.1', '1.1.1.1']:\n    try:\n"
              f"        socket.create_connection((host, {ctx.port} if host == '127.0.0.1' else 80), timeout=1).close()\n"
              "        ESCAPED = True\n    except OSError:\n        pass\n")
    return dump(canary(ctx, attack)), Expect("graded", HONEST)


# -- not a submission of this assignment ---------------------------------------------------------------
def malformed_json(ctx):
    return dump(honest(ctx))[:-40], Expect("flagged", 0, "malformed notebook")


def empty_file(ctx):
    return b"", Expect("flagged", 0, "malformed notebook: the file is empty")


def explanatory_notebook(ctx):
    return dump(ctx.other_nb), Expect("flagged", 0, "wrong assignment")


def unrelated_ids(ctx):
    nb = honest(ctx)
    for cell in nb["cells"]:
        if _gid(cell):
            cell["metadata"]["nbgrader"]["grade_id"] = "hw3_" + _gid(cell)
    return dump(nb), Expect("flagged", 0, "wrong assignment")


def forged_outputs(ctx):
    nb = copy.deepcopy(ctx.release_nb)
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader")
        if cell["cell_type"] == "code":
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "All tests passed!\n"}]
            cell["execution_count"] = 1
        if meta:
            meta.update(grade=True, points=100, locked=False)
    return dump(nb), Expect("flagged", 0, "altered nbgrader metadata (grade, points) of cell 'softmax'")


CASES = {f.__name__: f for f in [
    infinite_loop, swallow_interrupt, busy_notebook, memory_bomb, fork_bomb, fork_count, fork_children, output_flood,
    tmp_flood, sys_exit, os_exit, segfault, deleted_tests, edited_tests, patched_comparisons, patched_isinstance,
    hard_coded,
    import_reference, dynamic_import, read_host_files, write_gradebook, network, malformed_json, empty_file,
    explanatory_notebook, unrelated_ids, forged_outputs,
]}
# the cases that also run without a sandbox: none of them needs isolation to end
UNSANDBOXED = ("infinite_loop", "os_exit", "segfault", "output_flood", "memory_bomb", "empty_file")
