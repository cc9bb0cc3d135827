"""Gradescope's Zipped autograder (``autograder/gradescope.py``), run as Gradescope runs it.

Each assignment's zip is unpacked into a scratch ``/autograder``-shaped tree, its ``setup.sh`` runs
(against this venv: ``AUTOGRADER_VENV``) and its ``run_autograder`` grades an upload. The results
must follow Gradescope's documented format and agree part by part with ``grade`` on the same
notebooks: the reference and a blank notebook of every assignment. What the results file says of
each entry of the hostile corpus is tested with that corpus's grading, in ``tests/test_hostile.py``.
"""

import json
import os
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from autograder import batch, course, gradescope, worker
from autograder.gradebook import GradeStore, sqlite_url
from autograder.spec import load_spec, split_hidden

from conftest import answered, load, solution_ids, write_submission

ASSIGNMENTS = course.assignments()
KINDS = ("reference", "blank")


def notebook(released, assignment, kind):
    release_nb = load(released / assignment / course.EXERCISE)
    source_nb = load(course.source_notebook(assignment))
    return answered(release_nb, source_nb, solution_ids(source_nb) if kind == "reference" else [])


def run_autograder(root):
    env = dict(os.environ, AUTOGRADER_ROOT=str(root))
    result = subprocess.run([str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads((root / "results" / "results.json").read_text())


def set_up(zip_path, root):
    gradescope.unpack(zip_path, root)
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), AUTOGRADER_VENV=str(Path(sys.executable).parent.parent))
    subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, check=True)
    return root


@pytest.fixture(scope="module")
def both_ways(tmp_path_factory, released):
    """Every assignment's reference and blank notebook through run_autograder and through grade."""
    root = tmp_path_factory.mktemp("gradescope")
    uploads = {}
    for assignment in ASSIGNMENTS:
        zip_path = gradescope.build(assignment, root / f"{assignment}.zip")
        for kind in KINDS:
            tree = set_up(zip_path, root / assignment / kind)
            (tree / "submission" / course.EXERCISE).write_text(json.dumps(notebook(released, assignment, kind)))
            uploads[assignment, kind] = tree
            write_submission(root / "submitted", kind, assignment, notebook(released, assignment, kind))
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(uploads, pool.map(run_autograder, uploads.values())))
    with GradeStore(sqlite_url(root / "gb.db")) as store:
        batch.grade_all(root / "submitted", store, workers=2, progress=False)
        graded = {(r["assignment"], r["student"]): r for r in store.results()}
    return {"root": root, "results": results, "graded": graded}


def test_the_zip_holds_what_gradescope_runs(tmp_path):
    path = gradescope.build("01-transformers", tmp_path / "autograder.zip")
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        config = json.loads(archive.read(gradescope.CONFIG))
    assert {"setup.sh", "run_autograder", "gradescope.json", "autograder/grading.py", "solutions/transformers.py",
            "chapters/01-transformers/exercise.ipynb", "requirements.lock", "pyproject.toml"} <= set(names)
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert not [n for n in names if "__pycache__" in n or n.startswith("chapters/02")]
    assert config["assignment"] == "01-transformers" and len(bytes.fromhex(config["seed_key"])) == 16
    assert config["limits"]["cell_seconds"] == worker.Limits().cell_seconds


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
@pytest.mark.parametrize("kind", KINDS)
def test_results_follow_the_format_and_agree_with_grade(both_ways, assignment, kind):
    results, graded = both_ways["results"][assignment, kind], both_ways["graded"][assignment, kind]
    spec = load_spec(course.source_notebook(assignment), assignment)
    assert set(results) >= {"score", "execution_time", "output", "tests"}
    assert [t["name"].rsplit("(", 1)[1].rstrip(")") for t in results["tests"]] == [p.grade_id for p in spec.parts]
    for test, part in zip(results["tests"], graded["parts"]):
        assert set(test) >= {"name", "score", "max_score", "output", "visibility"}
        if part["manual"]:
            assert (test["score"], test["max_score"]) == (0, 0) and "graded by hand" in test["output"]
        else:
            assert (test["score"], test["max_score"]) == (part["score"], part["points"]), test["name"]
            assert test["status"] == ("passed" if part["score"] == part["points"] else "failed")
    assert results["score"] == graded["score"] == (spec.max_score - sum(p.points for p in spec.parts if p.manual)
                                                  if kind == "reference" else 0)


def test_no_hidden_source_reaches_the_results(both_ways):
    for assignment in ASSIGNMENTS:
        source_nb = load(course.source_notebook(assignment))
        hidden = [line.strip() for cell in source_nb["cells"]
                  for line in split_hidden("".join(cell["source"]))[1].splitlines() if line.strip()]
        assert hidden
        for kind in KINDS:
            text = json.dumps(both_ways["results"][assignment, kind])
            assert not [line for line in hidden if line in text or json.dumps(line)[1:-1] in text]


@pytest.mark.parametrize("files, graded, message", [
    ({"exercise.ipynb": "NB"}, "exercise.ipynb", None),
    ({"my copy.ipynb": "NB"}, "my copy.ipynb", "no exercise.ipynb was uploaded"),
    ({"exercise.ipynb": "NB", "scratch.ipynb": "{}"}, "exercise.ipynb", "the other notebooks were ignored: scratch.ipynb"),
    ({"a.ipynb": "NB", "b.ipynb": "NB"}, None, "holds 2 notebooks (a.ipynb, b.ipynb): upload only your exercise.ipynb"),
    ({"work.zip": {"hw/exercise.ipynb": "NB", "hw/.ipynb_checkpoints/exercise-checkpoint.ipynb": "{}"}},
     "work.zip:hw/exercise.ipynb", None),
    ({"notes.txt": "hello"}, None, "no notebook found in your upload"),
    ({"broken.zip": "not a zip"}, None, "broken.zip is not a zip file that can be read"),
    ({}, None, "no notebook found"),
])
def test_every_upload_gets_a_clear_answer(tmp_path, files, graded, message):
    for name, content in files.items():
        if isinstance(content, dict):
            with zipfile.ZipFile(tmp_path / name, "w") as archive:
                for inner, text in content.items():
                    archive.writestr(inner, text)
        else:
            (tmp_path / name).write_text(content)
    name, data, notes = gradescope.find_notebook(tmp_path)
    assert name == graded and (data == b"NB" if graded else data is None)
    assert (message is None and notes == []) or any(message in note for note in notes), notes


def test_an_upload_without_a_notebook_still_gets_results(both_ways):
    tree = both_ways["root"] / "01-transformers" / "blank"  # its results are in the fixture already
    (tree / "submission" / course.EXERCISE).unlink()
    (tree / "submission" / "answers.zip").write_bytes(b"PK\x03\x04 truncated")
    results = run_autograder(tree)
    assert results["score"] == 0 and "answers.zip is not a zip file" in results["output"]
    assert "no notebook found" in results["output"] and all(t["score"] == 0 for t in results["tests"])


def test_without_bubblewrap_it_grades_unsandboxed_and_says_so(both_ways):
    tree = both_ways["root"] / "01-transformers" / "reference"
    env = dict(os.environ, AUTOGRADER_ROOT=str(tree), AUTOGRADER_BWRAP="/nonexistent/bwrap", PATH="/usr/bin:/bin")
    subprocess.run([str(tree / "run_autograder")], cwd=tree, env=env, check=True, capture_output=True)
    results = json.loads((tree / "results" / "results.json").read_text())
    assert "without the grader's sandbox" in results["output"]
    assert results["score"] == both_ways["results"]["01-transformers", "reference"]["score"]
