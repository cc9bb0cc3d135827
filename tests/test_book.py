"""`make book` builds with zero warnings, no page loads anything from another host, and the site
holds no reference answer of any exercise."""

import html
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.course import assignments, source_notebook
from autograder.spec import HIDDEN_BEGIN, HIDDEN_END, is_solution

REPO = Path(__file__).resolve().parent.parent
# a tag that makes the browser fetch something: scripts, styles, fonts, images, frames
LOADING_TAG = re.compile(r"<(script|link|img|iframe|source|audio|video)\b[^>]*>", re.IGNORECASE)
REMOTE = re.compile(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", re.IGNORECASE)
CSS_REMOTE = re.compile(r"""(@import\s+|url\(\s*["']?)(https?:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    result = subprocess.run([sys.executable, "tools/build_book.py", "--path-output", str(out)],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, f"the book build failed or warned:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return out / "_build" / "html"


def test_every_toc_page_is_built(site):
    toc = (REPO / "_toc.yml").read_text()
    for page in re.findall(r"file:\s*(\S+)", toc):
        assert (site / f"{page}.html").is_file(), page
    assert (site / "index.html").is_file()


def test_no_page_loads_from_another_host(site):
    offenders = []
    for page in site.rglob("*.html"):
        for tag in LOADING_TAG.finditer(page.read_text(encoding="utf-8")):
            is_link = tag.group(1).lower() == "link"
            if REMOTE.search(tag.group(0)) and not (is_link and re.search(r'rel="?(canonical|author|license)', tag.group(0))):
                offenders.append(f"{page.relative_to(site)}: {tag.group(0)[:120]}")
    for sheet in site.rglob("*.css"):
        if CSS_REMOTE.search(sheet.read_text(encoding="utf-8", errors="replace")):
            offenders.append(str(sheet.relative_to(site)))
    assert not offenders, "\n".join(offenders)


def test_mathjax_is_served_by_the_site(site):
    page = (site / "chapters/01-transformers/scores-to-probabilities.html").read_text()
    assert 'src="../../_static/mathjax/tex-chtml.js"' in page
    assert (site / "_static/mathjax/tex-chtml.js").is_file()
    assert any((site / "_static/mathjax/output/chtml/fonts/woff-v2").iterdir())


# an answer line shorter than this (after stripping) may well appear in any page: "return x"
MIN_ANSWER_CHARS = 25
MARKERS = ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS")
SCANNED = {".html", ".ipynb", ".txt", ".md", ".py"}  # pages, notebooks, _sources/ and _downloads/


def answer_lines(notebook):
    """The distinctive lines of an exercise's answers: those between ``### BEGIN SOLUTION`` and
    ``### END SOLUTION`` or in a hidden-tests region, and every line of a written answer cell."""
    lines = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        inside = cell.cell_type == "markdown" and is_solution(cell)
        for line in cell.source.splitlines():
            stripped = line.strip()
            if stripped in ("### BEGIN SOLUTION", HIDDEN_BEGIN):
                inside = True
            elif stripped in ("### END SOLUTION", HIDDEN_END):
                inside = False
            elif inside and len(stripped) > MIN_ANSWER_CHARS:
                lines.append(stripped)
    return lines


def site_text(path):
    """What a reader or a download sees in ``path``: a page's text without its markup (syntax
    highlighting splits code into spans), or every string of a notebook, its outputs included."""
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".html":
        return html.unescape(re.sub(r"<[^>]+>", "", raw))
    if path.suffix == ".ipynb":
        strings = []

        def walk(node):
            if isinstance(node, str):
                strings.append(node)
            elif isinstance(node, dict):
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                strings.append("".join(n for n in node if isinstance(n, str)))
                for value in node:
                    walk(value)
        walk(json.loads(raw))
        return "\n".join(strings)
    return raw


def leaked_answers(site):
    """``"file: line"`` for each answer line or nbgrader marker found anywhere in the built site."""
    needles = {marker: "nbgrader marker" for marker in MARKERS}
    for name in assignments():
        needles.update({line: f"answer of {name}" for line in answer_lines(source_notebook(name))})
    found = []
    for path in sorted(p for p in site.rglob("*") if p.suffix in SCANNED and p.is_file()):
        text = site_text(path)
        found += [f"{path.relative_to(site)}: {what}: {needle}" for needle, what in needles.items() if needle in text]
    return found


def test_answer_lines_are_found_in_each_exercise():
    """The scan below looks for something: every exercise has answers long enough to recognise."""
    for name in assignments():
        assert len(answer_lines(source_notebook(name))) >= 3, name


def test_the_site_holds_no_reference_answer(site):
    leaks = leaked_answers(site)
    assert not leaks, f"{len(leaks)} answer lines on the site:\n" + "\n".join(leaks[:40])


def test_exercise_pages_are_the_student_version(site):
    for name in assignments():
        page = site_text(site / "chapters" / name / "exercise.html")
        assert "raise NotImplementedError()" in page, name
        assert (site / "_sources" / "chapters" / name / "exercise.ipynb").is_file(), name

