"""The nbgrader course directory, built from ``chapters/``, and the release of student notebooks.

Each chapter folder ``chapters/<assignment>/`` holds one ``exercise.ipynb`` in nbgrader source
form. ``build_course`` copies them to ``course/source/<assignment>/``; ``release`` runs
``nbgrader generate_assignment`` there (which strips solutions and hidden tests, clears outputs
and locks cells) and copies the student versions to ``release/<assignment>/``.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = REPO / "chapters"
EXERCISE = "exercise.ipynb"


def assignments(chapters=CHAPTERS):
    """Names of the chapters that have an exercise, in book order (e.g. ``"01-transformers"``)."""
    return sorted(p.parent.name for p in Path(chapters).glob(f"*/{EXERCISE}"))


def source_notebook(assignment, chapters=CHAPTERS):
    """Path of an assignment's exercise in source form; a clear error if there is none."""
    path = Path(chapters) / assignment / EXERCISE
    if not path.is_file():
        raise SystemExit(f"no exercise for {assignment!r}: expected {path}; known: {', '.join(assignments(chapters))}")
    return path


def build_course(course_dir, chapters=CHAPTERS, names=None):
    """Lay out nbgrader's course directory: ``nbgrader_config.py`` and ``source/<assignment>/``."""
    course_dir = Path(course_dir)
    (course_dir / "source").mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).with_name("nbgrader_config.py"), course_dir / "nbgrader_config.py")
    for name in names or assignments(chapters):
        target = course_dir / "source" / name
        target.mkdir(exist_ok=True)
        shutil.copy(source_notebook(name, chapters), target / EXERCISE)
    return course_dir


def release(names=None, course_dir=REPO / "course", out_dir=REPO / "release", chapters=CHAPTERS):
    """Generate student versions with nbgrader and copy them to ``out_dir/<assignment>/``."""
    names = list(names or assignments(chapters))
    build_course(course_dir, chapters, names)
    for name in names:
        _nbgrader(["generate_assignment", name, "--force", "--log-level=WARN"], course_dir)
        target = Path(out_dir) / name
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(Path(course_dir) / "release" / name, target)
    return [Path(out_dir) / name / EXERCISE for name in names]


def _nbgrader(args, course_dir):
    """Run nbgrader in ``course_dir`` with this interpreter's scripts (alembic among them) on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course_dir, env=env,
                            capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
