"""The student's loop in JupyterLab, driven in Chromium (issue 25): open a released notebook, run all
cells, fill the answers (each ending with a ``check_part`` call), check before saving in a renamed
copy, then save and check again.

One JupyterLab server (the course's venv, on a free port, its own config and runtime folders) serves
every released notebook for the whole module; Playwright drives Debian's Chromium through JupyterLab's
own app object (``expose_app_in_browser``): commands to run, save and rename, the notebook model to set
a cell's text and read its outputs. Every wait is on the kernel's state or on a command's promise.
"""

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from autograder import course
from autograder.spec import load_spec

from conftest import grade_id, load, solution_ids
from test_book import _chromium

STEP_MS = 180_000  # one step (a run of every cell, a check) on 2 busy cores

# JavaScript run in the page: the open notebook of JupyterLab's app object, and what it did.
OPEN = """async (path) => {
  const app = window.jupyterapp;
  await app.started; await app.restored;
  const panel = await app.commands.execute('docmanager:open', {path});
  window.panel = panel;  // the notebook every step below acts on
  await panel.context.ready; await panel.sessionContext.ready;
  while (panel.sessionContext.session?.kernel?.status !== 'idle') await new Promise(r => setTimeout(r, 100));
  return panel.content.model.cells.length;
}"""
RUN_ALL = """async (command) => {
  const app = window.jupyterapp; const panel = window.panel; await app.shell.activateById(panel.id);
  panel.content.activeCellIndex = panel.content.model.cells.length - 1;
  await app.commands.execute(command);
  while (panel.sessionContext.session.kernel.status !== 'idle') await new Promise(r => setTimeout(r, 100));
}"""
RUN_LAST = """async () => {
  const app = window.jupyterapp; const panel = window.panel; await app.shell.activateById(panel.id);
  panel.content.activeCellIndex = panel.content.model.cells.length - 1;
  await app.commands.execute('notebook:run-cell');
  while (panel.sessionContext.session.kernel.status !== 'idle') await new Promise(r => setTimeout(r, 100));
}"""
OUTPUTS = """(index) => {
  const cells = window.panel.content.model.cells;
  const cell = cells.get(index < 0 ? cells.length + index : index);
  if (cell.type !== 'code') return '';
  return cell.outputs.toJSON().map(o => o.text ?? (o.ename ? `${o.ename}: ${o.evalue}\n` : null) ?? JSON.stringify(o.data ?? '')).join('');
}"""
FILL = """(answers) => {
  const cells = window.panel.content.model.cells;
  let filled = 0;
  for (let i = 0; i < cells.length; i++) {
    const id = cells.get(i).getMetadata('nbgrader')?.grade_id;
    if (id in answers) { cells.get(i).sharedModel.setSource(answers[id]); filled++; }
  }
  return filled;
}"""
STANDING = """() => {  // what a step that did not end left behind: the kernel's state, each code cell's run
  const kernel = window.panel?.sessionContext.session?.kernel;
  const cells = window.panel ? Array.from({length: window.panel.content.model.cells.length},
    (_, i) => window.panel.content.model.cells.get(i)).filter(c => c.type === 'code') : [];
  return {kernel: kernel?.status, connection: kernel?.connectionStatus,
          cells: cells.map(c => [c.executionCount, c.outputs.toJSON().map(o => o.ename ?? o.output_type).join(',')])};
}"""
KERNEL_SAYS = """async (code) => {
  const future = window.panel.sessionContext.session.kernel.requestExecute({code});
  let text = '';
  future.onIOPub = (msg) => { if (msg.header.msg_type === 'stream') text += msg.content.text; };
  await future.done;
  return text;
}"""
SAVE = "async () => { await window.panel.context.save(); }"
CLOSE = "async () => { await window.panel.sessionContext.shutdown(); window.panel.dispose(); }"
RENAME = """async ([from, to]) => {
  await window.jupyterapp.serviceManager.contents.rename(from, to);
  const panel = window.panel;
  while (panel.context.path !== to) await new Promise(r => setTimeout(r, 100));
}"""


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(released, tmp_path_factory):
    """``(page, root)``: a Chromium page on JupyterLab serving a copy of the released notebooks from ``root``."""
    sync_api, executable = _chromium()
    root = tmp_path_factory.mktemp("lab")
    notebooks = root / "notebooks"
    subprocess.run(["cp", "-r", str(released), str(notebooks)], check=True)
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, PATH=f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}",
               OMP_NUM_THREADS="1", JUPYTER_CONFIG_DIR=str(root / "config"), JUPYTER_RUNTIME_DIR=str(root / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(root / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(root / "workspaces"),
               IPYTHONDIR=str(root / "ipython"))
    # no autosave: the test checks a notebook before it is saved
    docmanager = root / "settings" / "@jupyterlab" / "docmanager-extension"
    docmanager.mkdir(parents=True)
    (docmanager / "plugin.jupyterlab-settings").write_text('{"autosave": false}')
    log = open(root / "jupyterlab.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ServerApp.port={port}",
                               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
                               f"--ServerApp.root_dir={notebooks}", "--LabApp.expose_app_in_browser=True",
                               *(["--allow-root"] if os.geteuid() == 0 else [])],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{url}/api/status?token={token}", server, root / "jupyterlab.log")
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.set_default_timeout(STEP_MS)
            page.goto(f"{url}/lab?token={token}")
            page.wait_for_function("() => window.jupyterapp !== undefined")
            yield page, notebooks
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
        log.close()


def _wait_for(url, server, log, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"JupyterLab did not answer in {seconds} s:\n{log.read_text()}")


def test_the_students_jupyterlab_shows_no_instructor_tools(lab):
    page, _ = lab
    page.wait_for_selector(".lm-MenuBar-itemLabel >> text=Kernel")
    menus = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
    commands = page.evaluate("() => window.jupyterapp.commands.listCommands().filter(c => c.startsWith('nbgrader'))")
    assert "Nbgrader" not in menus and not commands, (
        f"nbgrader's instructor tools are on in this venv ({menus}, {commands}): turn them off as make venv "
        "does (rm .venv/.installed && make venv)")


@pytest.mark.parametrize("assignment", course.assignments())
def test_the_students_loop(lab, assignment):
    page, notebooks = lab
    spec = load_spec(course.source_notebook(assignment), assignment)
    source = load(course.source_notebook(assignment))
    auto = sum(p.points for p in spec.parts if not p.manual)
    first = next(f for p in spec.parts for _, f in p.checks)

    _step(page, OPEN, f"{assignment}/{course.EXERCISE}")
    try:
        # JupyterLab tells the kernel its notebook's path
        said = _step(page, KERNEL_SAYS, "from autograder.check_cell import notebook_path\nprint(notebook_path(globals()))")
        assert said.strip() == repr((notebooks / assignment / course.EXERCISE, "")), said
        # the released notebook: Run All stops at the first placeholder, which says what to write there
        _step(page, RUN_ALL, "notebook:run-all-cells")
        text = _all_outputs(page)
        assert f"NotImplementedError: Part 1: write {first} here" in text, text

        # the answers, each cell ending with a check_part call; run, not saved
        checked = {f: grade_id(c) for c in source["cells"] for p in spec.parts for _, f in p.checks
                   if grade_id(c) in solution_ids(source) and f"def {f}(" in "".join(c["source"])}
        answers = {grade_id(c): "".join(c["source"]) for c in source["cells"]
                   if grade_id(c) in solution_ids(source) and c["cell_type"] == "code"}
        for function, gid in checked.items():
            answers[gid] = answers[gid].rstrip("\n") + f'\nfrom autograder import check_part; check_part("{function}")'
        assert page.evaluate(FILL, answers) == len(answers)
        _step(page, RUN_ALL, "notebook:run-all-above")  # every cell but the check
        text = _all_outputs(page)
        # check_part's verdicts (its lines wrap at words)
        assert len(re.findall(r"points\):\s+hidden\s+checks\s+passed", text)) == len(checked) and "FAILED" not in text, text

        # renamed while its kernel runs, and checked before saving: the renamed file is checked, with a warning
        renamed = f"{assignment}/my-{assignment}.ipynb"
        _step(page, RENAME, [f"{assignment}/{course.EXERCISE}", renamed])
        _step(page, RUN_LAST)
        report = page.evaluate(OUTPUTS, -1)
        assert f"Checking {notebooks / renamed} ({assignment})" in report, report
        assert "this editor does not say" not in report, report  # the server's session said the new name
        assert "WARNING: the saved file is not what this kernel ran" in report and "save with Ctrl+S" in report, report
        assert "not started" in report, report

        # saved: every point, check_part calls and all, and no warning
        _step(page, SAVE)
        _step(page, RUN_LAST)
        report = page.evaluate(OUTPUTS, -1)
        assert f"Checking {notebooks / renamed} ({assignment})" in report, report
        assert f"Total: {auto:g}/{auto:g} autograded points" in report and "Every autograded part passed." in report, report
        assert "WARNING" not in report, report
    finally:
        _step(page, CLOSE)  # its kernel too: five kernels with torch loaded would crowd a small machine


def _step(page, function, arg=None):
    """Run the JavaScript ``function`` on ``arg`` in the page; fail when it takes longer than a step may."""
    try:
        return page.evaluate(f"""async ([arg, ms]) => Promise.race([({function})(arg),
            new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer in ${{ms}} ms`)), ms))])""",
                             [arg, STEP_MS])
    except Exception as error:
        raise AssertionError(f"{error}\nwhere the notebook stood: {page.evaluate(STANDING)}") from error


def _all_outputs(page):
    n = page.evaluate("() => window.panel.content.model.cells.length")
    return "\n".join(page.evaluate(OUTPUTS, i) for i in range(n))
