"""`make book` builds with zero warnings, and no page loads anything from another host."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# a tag that makes the browser fetch something: scripts, styles, fonts, images, frames
LOADING_TAG = re.compile(r"<(script|link|img|iframe|source|audio|video)\b[^>]*>", re.IGNORECASE)
REMOTE = re.compile(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", re.IGNORECASE)
CSS_REMOTE = re.compile(r"""(@import\s+|url\(\s*["']?)(https?:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    result = subprocess.run([str(jupyter_book), "build", "-W", "-n", "--keep-going", "--path-output", str(out), "."],
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
