"""The release's check cell (``autograder.check_cell``): which file it checks in each editor, and when it
warns that the saved file is not what the kernel ran. ``test_student_loop.py`` drives it in JupyterLab."""

import json
import linecache

import nbformat

from autograder import check_cell, course

SOFTMAX = 'def softmax(x):\n    """Doc."""\n    return x.exp() / x.exp().sum()\n'


def notebook(path, *sources):
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources]), path)
    return path


def ran_in_a_cell(source, namespace, number=1):
    """Run ``source`` as ipykernel runs a cell: compiled from a file of its own that ``inspect`` can read."""
    filename = f"/tmp/ipykernel_4242/{number}.py"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def test_jupyterlab_and_vs_code_name_the_notebook(tmp_path):
    mine = notebook(tmp_path / "my copy.ipynb")
    notebook(tmp_path / course.EXERCISE)
    assert check_cell.notebook_path({"__session__": str(mine)}, cwd=tmp_path) == (mine, "")
    assert check_cell.notebook_path({"__session__": "sub/my copy.ipynb"}, cwd=tmp_path) == (mine, "")
    assert check_cell.notebook_path({"__vsc_ipynb_file__": str(mine)}, cwd=tmp_path) == (mine, "")


def test_elsewhere_the_kernels_folder_says_and_the_cell_says_so(tmp_path):
    assert check_cell.notebook_path({}, cwd=tmp_path)[0] is None  # nothing to check: the cell says what to run
    only = notebook(tmp_path / "renamed.ipynb")
    path, how = check_cell.notebook_path({}, cwd=tmp_path)
    assert path == only and "does not say" in how
    notebook(tmp_path / "other.ipynb")
    assert check_cell.notebook_path({}, cwd=tmp_path)[0] is None  # two notebooks: no guess
    exercise = notebook(tmp_path / course.EXERCISE)
    assert check_cell.notebook_path({}, cwd=tmp_path)[0] == exercise
    # a session's file that is gone (renamed, no server to ask) falls back the same way, and says so
    path, how = check_cell.notebook_path({"__session__": str(tmp_path / "gone.ipynb")}, cwd=tmp_path)
    assert path == exercise and "does not say" in how


def test_the_kernels_functions_against_the_saved_file(tmp_path):
    namespace = ran_in_a_cell(SOFTMAX, {"__name__": "__main__", "json": json})
    saved = notebook(tmp_path / "a.ipynb", "import torch", SOFTMAX.replace('"""Doc."""', '"""Doc."""  # mine'))
    assert check_cell.unsaved_functions(saved, namespace) == []  # comments and spacing aside
    placeholder = notebook(tmp_path / "b.ipynb", 'def softmax(x):\n    """Doc."""\n    raise NotImplementedError("Part 1")\n')
    assert check_cell.unsaved_functions(placeholder, namespace) == ["softmax"]
    ran_in_a_cell("def helper():\n    return 1\n", namespace, number=2)
    assert check_cell.unsaved_functions(saved, namespace) == ["helper"]  # run, never saved
    assert check_cell.unsaved_functions(tmp_path / "missing.ipynb", namespace) == []  # the check says what is wrong
