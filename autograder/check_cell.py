"""What the released notebook's "Check your work" cell runs (``course.CHECK_CELL``), in the student's kernel.

:func:`check_this_notebook` finds the file the cell runs in (:func:`notebook_path`), so a renamed
copy checks itself; warns when the kernel's functions differ from that saved file
(:func:`unsaved_functions`), since the check grades the file, not the kernel; then runs
``python -m autograder check`` on the file and prints its report as it comes.

How a kernel learns its notebook's path depends on the editor: JupyterLab's server (jupyter_server 2)
starts each kernel with ``JPY_SESSION_NAME``, the notebook's path, which ipykernel puts in the
namespace as ``__session__``; VS Code sets ``__vsc_ipynb_file__``. A notebook renamed after its
kernel started keeps the old ``__session__``: the running server's sessions then say the new name.
Elsewhere (``nbconvert --execute``, classic Notebook) the cell looks in the kernel's folder, which is
the notebook's: ``exercise.ipynb``, or the only notebook there.
"""

import ast
import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

from autograder import course

SAVE_FIRST = "save with Ctrl+S (File > Save Notebook), then run this cell again"


def check_this_notebook(namespace=None):
    """Check the saved notebook this cell runs in as the grader would; print what to do when the kernel
    ran code the file does not hold. ``namespace`` is the notebook's (default: the caller's globals).
    Returns the check's exit status (0: every autograded part passed; 1: not; 2: could not check)."""
    namespace = sys._getframe(1).f_globals if namespace is None else namespace
    path, how = notebook_path(namespace)
    if path is None:
        print("This cell cannot tell which file it runs in (this editor does not say, and no exercise.ipynb "
              "is in the kernel's folder). In a terminal, run: python -m autograder check YOUR_NOTEBOOK.ipynb")
        return 2
    if how:
        print(f"({how}: checking {path})")
    differ = unsaved_functions(path, namespace)
    if differ:
        print(_unsaved_warning(differ))
    status = _run_check(path)
    if differ:
        print(_unsaved_warning(differ))
    return status


def notebook_path(namespace, cwd=None):
    """The path of the notebook the kernel with globals ``namespace`` runs, and a note on how it was
    found when the editor did not say (``""`` when it did); ``(None, ...)`` when no file fits."""
    cwd = Path.cwd() if cwd is None else Path(cwd)
    for name in ("__session__", "__vsc_ipynb_file__"):
        said = namespace.get(name)
        if isinstance(said, str) and said.endswith(".ipynb"):
            for candidate in (Path(said), cwd / said, cwd / Path(said).name):
                if candidate.is_absolute() and candidate.is_file():
                    return candidate, ""
            renamed = _path_from_server()
            if renamed is not None:
                return renamed, ""
    if (cwd / course.EXERCISE).is_file():
        return cwd / course.EXERCISE, "this editor does not say which file this is"
    notebooks = sorted(cwd.glob("*.ipynb"))
    if len(notebooks) == 1:
        return notebooks[0], "this editor does not say which file this is"
    return None, "no notebook found"


def _path_from_server():
    """The notebook path a running Jupyter server's sessions give this kernel now (after a rename),
    or ``None``: asked of the servers in Jupyter's runtime folder, for this kernel's id."""
    try:
        from ipykernel.connect import get_connection_file
        from jupyter_server.serverapp import list_running_servers

        kernel_id = Path(get_connection_file()).stem.removeprefix("kernel-")
        for server in list_running_servers():
            request = urllib.request.Request(f"{server['url']}api/sessions",
                                             headers={"Authorization": f"token {server.get('token', '')}"})
            with urllib.request.urlopen(request, timeout=2) as answer:
                sessions = json.load(answer)
            for session in sessions:
                if session.get("kernel", {}).get("id") == kernel_id:
                    path = Path(server["root_dir"]) / session["path"]
                    return path if path.is_file() else None
    except Exception:  # no server, no kernel, no answer: the caller falls back
        return None
    return None


def unsaved_functions(path, namespace):
    """Names of the functions the kernel (globals ``namespace``) defined in a notebook cell whose
    definition the saved notebook ``path`` does not hold: a different one (comments and spacing
    aside), or none at the top level of any code cell."""
    try:
        cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError, TypeError):
        return []  # the check itself says what is wrong with the file
    saved = {}
    for cell in cells:
        if cell.get("cell_type") == "code":
            saved.update(_definitions("".join(cell.get("source", ""))))
    ran = {name: _definitions(_source(value)).get(name) for name, value in namespace.items() if _from_a_cell(value)}
    return sorted(name for name, dump in ran.items() if dump is not None and saved.get(name) != dump)


def _from_a_cell(value):
    """Whether ``value`` is a function whose code a notebook cell defined (ipykernel's or IPython's cell files)."""
    filename = getattr(getattr(value, "__code__", None), "co_filename", "")
    return "ipykernel_" in filename or filename.startswith("<ipython-input")


def _definitions(source):
    """``{name: ast.dump}`` of the functions defined at the top level of ``source`` (none if it does not parse)."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return {}
    return {node.name: ast.dump(node) for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _source(function):
    """The source of ``function`` as the kernel ran it, or ``""`` when it has none to read."""
    import inspect

    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        return ""


def _unsaved_warning(names):
    listed = ", ".join(f"`{name}`" for name in names)
    return (f"WARNING: the saved file is not what this kernel ran ({listed} differ). The check grades the "
            f"saved file: {SAVE_FIRST}.")


def _run_check(path):
    """``python -m autograder check path`` with this kernel's interpreter, its lines printed as they come."""
    with subprocess.Popen([sys.executable, "-m", "autograder", "check", str(path)], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, cwd=Path(path).parent,
                          env=dict(os.environ, PYTHONUNBUFFERED="1")) as process:
        for line in process.stdout:
            print(line, end="", flush=True)
    return process.returncode
