"""Shared fixtures: released exercises and submissions built from them."""

import copy
import json
import shutil
from pathlib import Path

import pytest

from autograder import course

REPO = Path(__file__).resolve().parent.parent
# hostile and broken submissions are data for the grader's tests, not notebooks to run
collect_ignore_glob = ["corpus/*"]


def pytest_configure(config):
    """Stop the whole run at once, with one message, where grading cannot be sandboxed here."""
    if hasattr(config, "workerinput"):  # an xdist worker: the controller has checked already
        return
    from autograder import worker

    try:
        worker.check_sandbox()
    except worker.SandboxUnavailable as error:
        pytest.exit(f"the grader's sandbox cannot run on this machine, so the grading tests cannot: {error}. "
                    "Run make test on Linux with unprivileged user namespaces (or as root).", returncode=2)


@pytest.fixture(scope="session")
def released(tmp_path_factory):
    """Student versions of every exercise, released with nbgrader into a temporary folder."""
    root = tmp_path_factory.mktemp("course")
    course.release(course_dir=root / "course", out_dir=root / "release")
    return root / "release"


def load(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def answered(release_nb, source_nb, answer_ids):
    """A copy of ``release_nb`` whose cells with the given grade ids hold the source's answers."""
    answers = {grade_id(c): c["source"] for c in source_nb["cells"] if grade_id(c)}
    nb = copy.deepcopy(release_nb)
    for cell in nb["cells"]:
        if grade_id(cell) in answer_ids:
            cell["source"] = answers[grade_id(cell)]
    return nb


def solution_ids(source_nb):
    meta = [c.get("metadata", {}).get("nbgrader", {}) for c in source_nb["cells"]]
    return [m["grade_id"] for m in meta if m.get("solution")]


def write_submission(root, student, assignment, nb_or_bytes, name=course.EXERCISE):
    folder = Path(root) / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    data = nb_or_bytes if isinstance(nb_or_bytes, bytes) else json.dumps(nb_or_bytes).encode()
    (folder / name).write_bytes(data)
    return folder / name


@pytest.fixture
def fresh_copy(tmp_path):
    """Copy a file into the test's temporary folder."""
    def copy_file(path):
        target = tmp_path / Path(path).name
        shutil.copy(path, target)
        return target
    return copy_file


PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans():
    """Make this process the reaper of its orphaned descendants (Linux), so none can hide from
    :func:`descendants` by outliving its parent."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1)


def descendants(pid=None):
    """Host pids of every living (not zombie) process below ``pid`` (default: this process)."""
    import os

    children = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    stack, found = [pid or os.getpid()], []
    while stack:
        kids = children.get(stack.pop(), [])
        found += kids
        stack += kids
    return found


def assert_alt_texts_are_glued(page, figures):
    """Each of ``figures`` (``fig-...`` names) on the notebook ``page`` glues its alt text as
    ``alt_<name>`` from the page's own values, and its cell metadata holds that same text: alt text
    is metadata, which nbval does not compare, while nbval re-checks the glued output."""
    import ast

    notebook = load(page)
    glued = {}
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name", "")
            if name.startswith("alt_"):
                text = output["data"]["application/papermill.record/text/plain"]
                glued["fig-" + name.removeprefix("alt_").replace("_", "-")] = ast.literal_eval(text)
    assert set(figures) <= set(glued), f"{page.name} glues no alt text for {sorted(set(figures) - set(glued))}"
    for cell in notebook["cells"]:
        name = cell["metadata"].get("mystnb", {}).get("figure", {}).get("name")
        if name in figures:
            assert cell["metadata"]["mystnb"]["image"]["alt"] == glued[name], (
                f"{name}: the alt text in the cell metadata differs from the one the page glues; after executing "
                "the notebook, copy the glued text into the figure cell's mystnb.image.alt")
