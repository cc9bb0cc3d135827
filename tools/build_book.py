"""Build the site as students see it: each exercise page is its released notebook, never the source.

The book's files (:data:`BOOK_FILES`) are staged into ``<path-output>/_build/site-src/``, where each
``chapters/<assignment>/exercise.ipynb`` is replaced by its student version from
:func:`autograder.course.release` (solutions and hidden tests stripped, outputs cleared). Jupyter
Book then builds that folder into ``<path-output>/_build/html``, so the instructor's source never
reaches the site, its ``_sources/`` or its download buttons. Unchanged files keep their modification
times, so a second ``make book`` rebuilds only what changed; the releases are cached in
``_build/release-cache/`` and redone only when an exercise or the code that releases it changes.

Usage: ``python tools/build_book.py [--path-output DIR]`` (default: the repository, as ``make book``).
"""

import argparse
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder.course import EXERCISE, assignments, release  # noqa: E402

BOOK_FILES = ("intro.md", "_config.yml", "_toc.yml", "_static", "_ext", "chapters")
STAGE = Path("_build") / "site-src"
# nbgrader takes seconds per exercise: its student versions are kept here, one per exercise and input
RELEASE_CACHE = REPO / "_build" / "release-cache"
RELEASE_CODE = [REPO / "autograder" / name for name in ("course.py", "spec.py", "nbgrader_config.py")]


def stage(site_src):
    """Mirror :data:`BOOK_FILES` into ``site_src``, exercises replaced by their releases."""
    site_src = Path(site_src)
    wanted = set()
    for name in BOOK_FILES:
        source = REPO / name
        if source.is_dir():
            files = [p for p in source.rglob("*") if p.is_file()]
        else:
            files = [source] if source.is_file() else []
        for path in files:
            if ".ipynb_checkpoints" in path.parts or "__pycache__" in path.parts:
                continue
            relative = path.relative_to(REPO)
            wanted.add(relative)
            if relative.name != EXERCISE:
                _sync(path, site_src / relative)
    for name, released in _releases().items():
        _sync(released, site_src / "chapters" / name / EXERCISE)
    for path in [p for p in site_src.rglob("*") if p.is_file()]:
        if path.relative_to(site_src) not in wanted:
            path.unlink()
    return site_src


def _releases():
    """``{assignment: student notebook}`` for every exercise, from :data:`RELEASE_CACHE` where
    nothing the release depends on has changed, else released by nbgrader (in parallel) and cached."""
    cached = {name: RELEASE_CACHE / f"{name}-{_release_key(name)}.ipynb" for name in assignments()}
    stale = [name for name, path in cached.items() if not path.is_file()]
    if stale:
        RELEASE_CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="site-release-") as tmp:
            out = Path(tmp)

            def one(name):  # a course folder each: nbgrader keeps a gradebook database in it
                return name, release([name], course_dir=out / "course" / name, out_dir=out / "release")[0]

            with ThreadPoolExecutor() as pool:
                for name, released in pool.map(one, stale):
                    _unfold(released)
                    for old in RELEASE_CACHE.glob(f"{name}-*.ipynb"):
                        old.unlink(missing_ok=True)
                    partial = cached[name].with_suffix(f".{os.getpid()}.part")  # another build may read
                    shutil.copy2(released, partial)
                    os.replace(partial, cached[name])
    return cached


def _release_key(name):
    """A digest of everything a release depends on: the exercise's source, the code that releases it
    (this file and the course modules) and nbgrader's version."""
    digest = hashlib.sha256(importlib.metadata.version("nbgrader").encode())
    for path in (REPO / "chapters" / name / EXERCISE, Path(__file__), *RELEASE_CODE):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _unfold(path):
    """Drop ``hide-input`` from the answer and test cells of the notebook at ``path``: the source
    folds them to hide its solutions, and in a release they hold only stubs and visible tests."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        grading = cell.metadata.get("nbgrader", {})
        if grading.get("solution") or grading.get("grade"):
            tags = [t for t in cell.metadata.get("tags", []) if t != "hide-input"]
            if tags:
                cell.metadata["tags"] = tags
            else:
                cell.metadata.pop("tags", None)
    nbformat.write(nb, path)


def _sync(source, target):
    """Copy ``source`` to ``target`` unless it already holds the same bytes (keeping its mtime)."""
    if target.is_file() and target.read_bytes() == source.read_bytes():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)


def build(path_output=REPO):
    """Stage the book under ``path_output/_build/site-src`` and build it into ``path_output/_build/html``."""
    site_src = stage(Path(path_output) / STAGE)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    return subprocess.run([str(jupyter_book), "build", "-W", "-n", "--keep-going",
                           "--path-output", str(path_output), str(site_src)]).returncode


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path-output", type=Path, default=REPO,
                        help="folder that receives _build/site-src and _build/html (default: the repository)")
    sys.exit(build(parser.parse_args().path_output.resolve()))
