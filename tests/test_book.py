"""`make book` builds with zero warnings, no page loads anything from another host, the site holds
no reference answer of any exercise, and every page works in a real browser (Chromium), on phones
and in the dark theme too.

The book is built once, for the whole module; the browser visits each page once (``browsed``)."""

import contextlib
import functools
import html
import json
import math
import re
import shutil
import subprocess
import sys
import threading
import urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
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
        assert 'raise NotImplementedError("Part 1: write ' in page, name
        assert (site / "_sources" / "chapters" / name / "exercise.ipynb").is_file(), name


def test_a_cached_release_is_redone_when_its_exercise_or_the_release_code_changes(tmp_path, monkeypatch):
    sys.path.insert(0, str(REPO / "tools"))
    import build_book

    exercise = tmp_path / "chapters" / "01-x" / "exercise.ipynb"
    exercise.parent.mkdir(parents=True)
    exercise.write_text('{"cells": []}')
    release_code = tmp_path / "course.py"
    release_code.write_text("# release code")
    monkeypatch.setattr(build_book, "REPO", tmp_path)
    monkeypatch.setattr(build_book, "RELEASE_CODE", [release_code])
    keys = [build_book._release_key("01-x")]
    exercise.write_text('{"cells": [{}]}')
    keys.append(build_book._release_key("01-x"))
    release_code.write_text("# release code, changed")
    keys.append(build_book._release_key("01-x"))
    assert len(set(keys)) == 3, keys


# --- In a real browser: Debian's Chromium driven by Playwright, the site served on 127.0.0.1. ---

PHONE, DESKTOP = {"width": 375, "height": 812}, {"width": 1280, "height": 900}
SCREENSHOTS = REPO / "_build" / "screenshots"
# after the page and MathJax are done: what a reader would notice is wrong
PAGE_REPORT = """async () => {
  if (window.MathJax && MathJax.startup) { await MathJax.startup.promise; }
  const shown = (el) => el.getClientRects().length > 0;
  return {
    unrendered_math: [...document.querySelectorAll('.math')]
      .filter(el => !el.querySelector('mjx-container')).map(el => el.textContent.slice(0, 80)),
    math_errors: [...document.querySelectorAll('mjx-merror')].map(el => el.textContent.slice(0, 80)),
    images: [...document.querySelectorAll('img')].filter(shown).map(img => ({
      src: img.getAttribute('src'), alt: img.getAttribute('alt') || '',
      loaded: img.complete && img.naturalWidth > 0})),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  };
}"""
# at a phone's width: how wide the page is, and the boxes that stick out of it (code blocks may scroll)
WIDTH_REPORT = """() => {
  const inScroller = (el) => { for (let p = el.parentElement; p; p = p.parentElement) {
    const overflow = getComputedStyle(p).overflowX;
    if (overflow !== 'visible' && p.clientWidth <= window.innerWidth) return true; } return false; };
  const wide = [...document.querySelectorAll('.bd-article *')].filter(el => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.right > window.innerWidth + 1 && !el.closest('pre') && !inScroller(el); });
  return {width: document.documentElement.scrollWidth,
          wide: wide.slice(0, 3).map(el => `${el.tagName}.${el.className}: ${el.textContent.slice(0, 60)}`)};
}"""

# the theme's script switches on the media change, which on a busy machine can take longer than any
# fixed pause: wait up to 30 s for it (DARK_REPORT says so if it never comes)
WAIT_FOR_DARK = """async () => {
  for (let i = 0; i < 300 && document.documentElement.dataset.theme !== 'dark'; i++)
    await new Promise(r => setTimeout(r, 100));
}"""

# in the dark theme: code legible on its background, and no transparent figure left on a dark one
DARK_REPORT = """() => {
  const rgb = (color) => (color.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => {
    const linear = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b); };
  const background = (el) => { for (; el; el = el.parentElement) {
    const color = rgb(getComputedStyle(el).backgroundColor); if (color.length < 4 || color[3] > 0) return color; }
    return [255, 255, 255]; };
  const contrast = (a, b) => { const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05); };
  const problems = [];
  if (document.documentElement.dataset.theme !== 'dark') problems.push('the dark theme did not apply');
  for (const pre of document.querySelectorAll('.bd-article pre')) {
    if (!pre.getClientRects().length) continue;
    const back = background(pre);
    for (const el of [pre, ...pre.querySelectorAll('span')]) {
      const ratio = contrast(rgb(getComputedStyle(el).color), back);
      if (ratio < 4.5 && el.textContent.trim()) {
        problems.push(`code contrast ${ratio.toFixed(1)} below 4.5: ${el.textContent.trim().slice(0, 40)}`); break; } } }
  for (const img of document.querySelectorAll('.bd-article img')) {
    if (!img.getClientRects().length || !img.naturalWidth) continue;
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const context = canvas.getContext('2d'); context.drawImage(img, 0, 0);
    const cornerAlpha = context.getImageData(0, 0, 1, 1).data[3];
    if (cornerAlpha < 255 && luminance(background(img)) < 0.5)
      problems.push(`transparent figure on a dark background: ${img.getAttribute('src')}`); }
  return problems;
}"""


def _chromium():
    """Playwright and Debian's Chromium, or a skip that says which is missing and how to get it."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser suite needs Playwright's Python "
                                   "package (pip install playwright; it drives the system Chromium)")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("the browser suite needs Chromium: apt-get install chromium (Debian)")
    return sync_api, executable


@contextlib.contextmanager
def _browsing(site):
    """``(browser, root)``: Chromium, and the URL of ``site`` served on 127.0.0.1 while it lasts."""
    sync_api, executable = _chromium()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable)
            yield browser, f"http://127.0.0.1:{server.server_address[1]}/"
            browser.close()
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def browsed(site):
    """Visit every page at desktop and at phone width once; what each check below needs, per page."""
    pages = sorted(str(p.relative_to(site)) for p in site.rglob("*.html")
                   if not p.relative_to(site).parts[0].startswith("_")  # _static/, _sources/: not pages
                   and 'http-equiv="Refresh"' not in p.read_text(encoding="utf-8"))  # index.html: a redirect
    with _browsing(site) as (browser, root):
        report = {"root": root, "pages": {}, "search": {}}
        for page_name in pages:
            report["pages"][page_name] = _visit(browser, root + page_name)
        report["search"] = _search(browser, root)
        _screenshots(browser, root)
    return report


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _visit(browser, url):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    found = {"errors": [], "requests": []}
    page.on("console", lambda message: message.type == "error" and found["errors"].append(message.text))
    page.on("pageerror", lambda error: found["errors"].append(str(error)))
    page.on("request", lambda request: found["requests"].append(request.url))
    page.goto(url, wait_until="load")
    found.update(page.evaluate(PAGE_REPORT))
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(100)  # let the layout settle at the new width
    found["phone"] = page.evaluate(WIDTH_REPORT)
    page.emulate_media(color_scheme="dark")  # the theme follows the reader's system setting
    page.evaluate(WAIT_FOR_DARK)
    found["dark"] = page.evaluate(DARK_REPORT)
    context.close()
    return found


def _chapter_terms():
    """A word of each chapter's title (its longest), which the search page must find in that chapter."""
    terms = {}
    for index in sorted((REPO / "chapters").glob("*/index.md")):
        title = re.search(r"^# (.+)$", index.read_text(encoding="utf-8"), re.MULTILINE).group(1)
        terms[index.parent.name] = max(re.findall(r"[A-Za-z]+", title), key=len)
    return terms


def _search(browser, root):
    """``{chapter: links of the search results for its term}``."""
    page = browser.new_page()
    results = {}
    for chapter, term in _chapter_terms().items():
        page.goto(f"{root}search.html?q={term}", wait_until="load")
        # Sphinx lists the results one at a time (5 ms apart), then says so: read them all, not the first few
        page.wait_for_function("() => /Search finished|did not match/.test("
                               "document.querySelector('#search-results .search-summary')?.innerText ?? '')",
                               timeout=15000)
        results[chapter] = [a.get_attribute("href") for a in page.query_selector_all("#search-results ul.search li a")]
    page.close()
    return results


def _screenshots(browser, root):
    """One screenshot of each chapter's first page at desktop and phone width, in _build/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for index in sorted((REPO / "chapters").glob("*/index.md")):
        for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page = browser.new_page(viewport=viewport)
            page.goto(f"{root}chapters/{index.parent.name}/index.html", wait_until="load")
            page.screenshot(path=str(SCREENSHOTS / f"{index.parent.name}-{label}.png"), full_page=True)
            page.close()


def _each_page(browsed, problems):
    failures = [f"{name}: {problem}" for name, found in browsed["pages"].items() for problem in problems(found)]
    assert not failures, "\n".join(failures[:40])


def test_browser_no_console_error_and_no_other_host(browsed):
    _each_page(browsed, lambda found: found["errors"] + [
        f"requests {url}" for url in found["requests"] if not url.startswith(browsed["root"])])


def test_browser_every_formula_rendered_by_mathjax(browsed):
    _each_page(browsed, lambda found: [f"raw TeX: {tex}" for tex in found["unrendered_math"]]
               + [f"MathJax error: {error}" for error in found["math_errors"]])


def test_browser_every_image_loads_with_alt_text_that_describes_it(browsed):
    def problems(found):
        for image in found["images"]:
            if not image["loaded"]:
                yield f"image not loaded: {image['src']}"
            alt = image["alt"].strip()
            if len(alt.split()) < 5 or re.search(r"\.(png|jpe?g|svg|gif)$", alt):
                yield f"alt text says nothing of the figure: {alt!r} ({image['src']})"
    _each_page(browsed, problems)


def test_browser_every_internal_link_and_anchor_resolves(browsed, site):
    def problems(found):
        for link in found["links"]:
            if not link.startswith(browsed["root"]):
                continue
            path, _, anchor = urllib.parse.unquote(link[len(browsed["root"]):]).partition("#")
            target = site / path.split("?")[0]
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                yield f"broken link: {link}"
            elif anchor and target.suffix == ".html" and f'id="{anchor}"' not in target.read_text(encoding="utf-8"):
                yield f"missing anchor: {link}"
    _each_page(browsed, problems)


def test_browser_search_finds_each_chapter(browsed):
    missing = [f"{chapter}: {_chapter_terms()[chapter]!r} finds {links[:5]}"
               for chapter, links in browsed["search"].items()
               if not any(f"chapters/{chapter}/" in link for link in links)]
    assert not missing, "\n".join(missing)


def test_browser_nothing_but_code_scrolls_sideways_on_a_phone(browsed):
    _each_page(browsed, lambda found: [] if found["phone"]["width"] <= PHONE["width"]
               else [f"{found['phone']['width']} px wide: {found['phone']['wide']}"])


def test_browser_writes_a_screenshot_per_chapter(browsed):
    for index in (REPO / "chapters").glob("*/index.md"):
        for label in ("desktop", "phone"):
            assert (SCREENSHOTS / f"{index.parent.name}-{label}.png").stat().st_size > 0


def test_browser_dark_theme_keeps_figures_and_code_readable(browsed):
    _each_page(browsed, lambda found: found["dark"])


# --- The calculators (issue 13, point 3): their functions agree with the shared table of cases, which
# tests/test_calculators.py checks against solutions.memory, solutions.quantization and torch, and their
# forms show what the functions compute. ---

CALCULATOR_CASES = json.loads((REPO / "tests" / "data" / "calculator_cases.json").read_text())
CALCULATOR_PAGES = {"gpu_memory": "chapters/04-gpu-memory/calculator.html",
                    "number_formats": "chapters/05-quantization/calculator.html"}
# every case of the table through the calculators' own modules; returns the mismatches and the count checked
CALCULATOR_CHECK = """async (cases) => {
  const NF = await import('/_static/calculators/number-formats.mjs');
  const GM = await import('/_static/calculators/gpu-memory.mjs');
  const same = (a, b) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
  const wrong = []; let checked = 0;
  for (const c of cases.number_formats) {
    const x = Number(c.x);
    for (const [format, e] of Object.entries(c.formats)) {
      const r = NF.roundToFormat(x, format), error = NF.roundingError(x, r.value); checked++;
      if (r.bits !== e.bits || !same(r.value, Number(e.value)) || !same(error.absolute, Number(e.abs_error))
          || !same(error.relative, Number(e.rel_error)))
        wrong.push(`${c.x} in ${format}: ${r.bits} = ${r.value} (error ${error.absolute}, ${error.relative}), `
                   + `expected ${e.bits} = ${e.value} (${e.abs_error}, ${e.rel_error})`); } }
  for (const c of cases.int8) {
    const scale = c.absmax === undefined ? Number(c.scale) : NF.absmaxScale(Number(c.absmax));
    const r = NF.int8Quantize(Number(c.x), scale); checked++;
    if (!same(r.scale, Number(c.scale)) || r.q !== c.q || !same(r.dequantized, Number(c.dequantized)))
      wrong.push(`int8 ${c.x} / ${scale}: ${JSON.stringify(r)}, expected ${JSON.stringify(c)}`); }
  for (const c of cases.gpu_memory) {
    const i = c.inputs; checked++;
    const r = GM.bytesPerGpu({nParams: i.n_params, precision: i.precision, optimizer: i.optimizer, nGpus: i.n_gpus,
      stage: i.zero_stage, formula: i.activations, shape: {batch: i.batch, seqLen: i.seq_len, dModel: i.d_model,
      nHeads: i.n_heads, nLayers: i.n_layers, vocabSize: i.vocab_size}});
    const got = {...r, fits: GM.fits(r.total, i.gpu_bytes)};
    for (const [key, value] of Object.entries(c.expected))
      if (got[key] !== value) wrong.push(`${c.name}: ${key} ${got[key]}, expected ${value}`); }
  for (const c of cases.parse_count) {
    const r = GM.parseCount(c.text); checked++;
    if (c.count === null ? !Number.isNaN(r) : r !== c.count) wrong.push(`parseCount(${JSON.stringify(c.text)}): ${r}, expected ${c.count}`); }
  return {wrong, checked};
}"""


def _displayed_bytes(page, key):
    """The byte count the GPU-memory page shows for ``key`` ("1,750,000,000 bytes = ...")."""
    return float(page.inner_text(f"#gm-out-{key}").split(" bytes")[0].replace(",", ""))


def _drive_gpu_memory(page, case):
    """Enter a case's inputs in the GPU-memory form; what the page then shows, in the table's terms."""
    i = case["inputs"]
    page.fill("#gm-params", str(i["n_params"]))
    for select, value in (("#gm-precision", i["precision"]), ("#gm-optimizer", i["optimizer"]),
                          ("#gm-stage", str(i["zero_stage"])), ("#gm-activations", i["activations"])):
        page.select_option(select, value)
    for field, key in (("gpus", "n_gpus"), ("batch", "batch"), ("seq-len", "seq_len"), ("d-model", "d_model"),
                       ("n-heads", "n_heads"), ("n-layers", "n_layers"), ("vocab", "vocab_size")):
        page.fill(f"#gm-{field}", str(i[key]))
    page.select_option("#gm-gpu", "custom")
    page.select_option("#gm-gpu-unit", "1073741824" if i["gpu_bytes"] % 2**30 == 0 else "1000000000")
    page.fill("#gm-gpu-size", str(i["gpu_bytes"] // 2**30 if i["gpu_bytes"] % 2**30 == 0 else i["gpu_bytes"] / 1e9))
    shown = {key: _displayed_bytes(page, key) for key in ("weights", "gradients", "optimizer", "activations", "total")}
    shown["fits"] = page.inner_text("#gm-verdict").startswith("Fits")
    shown["capacity"] = _displayed_bytes(page, "capacity")
    return shown


def _drive_number_formats(page, x, scale):
    """Type ``x`` and an INT8 scale; per format the bits and stored value shown, and INT8's q and q * scale."""
    page.fill("#nf-value", x)
    page.fill("#nf-scale", scale)
    shown = {}
    for section in page.query_selector_all("#nf-formats [data-format]"):
        shown[section.get_attribute("data-format")] = {
            "bits": section.query_selector(".calc-bits").inner_text(),
            "value": section.query_selector("[data-field=value]").inner_text()}
    fields = {field: page.query_selector(f"#nf-int8 [data-field={field}]") for field in ("q", "dequantized")}
    shown["int8"] = {field: element.inner_text() for field, element in fields.items() if element}
    return shown


# the GPU-memory cases typed into the form (the number-format cases are picked in the fixture)
DRIVEN_GPU_CASES = ("ZeRO Figure 1, stage 2", "just misses 24 GiB", "misses 80 GB by its activations",
                    "GPT activations, math attention, B=2 T=4 C=8 a=2 L=3 V=16")


@pytest.fixture(scope="module")
def calculators(site):
    """Each calculator page: its console errors, the check of the table, and its form driven with table cases."""
    found = {}
    with _browsing(site) as (browser, root):
        for name, path in CALCULATOR_PAGES.items():
            page = browser.new_page(viewport=DESKTOP)
            errors = []
            page.on("console", lambda message: message.type == "error" and errors.append(message.text))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(root + path, wait_until="load")
            page.wait_for_selector("#gm-out-total[data-bytes], #nf-formats [data-format]")
            found[name] = {"errors": errors, "check": page.evaluate(CALCULATOR_CHECK, CALCULATOR_CASES)}
            if name == "gpu_memory":
                found[name]["driven"] = [(case, _drive_gpu_memory(page, case))
                                         for case in CALCULATOR_CASES["gpu_memory"] if case["name"] in DRIVEN_GPU_CASES]
            else:
                cases = {c["x"]: c for c in CALCULATOR_CASES["number_formats"]}
                int8 = {(c["x"], c["scale"]): c for c in CALCULATOR_CASES["int8"] if "absmax" not in c}
                found[name]["driven"] = [(None, int8[x, scale], _drive_number_formats(page, x, scale))
                                         for x, scale in (("100", "0.5"), ("-63.75", "0.5"), ("0.375", "0.25"))]
                found[name]["driven"] += [(cases[x], None, _drive_number_formats(page, x, "1"))
                                          for x in ("65520", "464", "1e-8", "NaN", "-0", "0.1")]
            page.close()
    return found


def test_calculators_agree_with_the_shared_cases(calculators):
    expected = (sum(len(c["formats"]) for c in CALCULATOR_CASES["number_formats"]) + len(CALCULATOR_CASES["int8"])
                + len(CALCULATOR_CASES["gpu_memory"]) + len(CALCULATOR_CASES["parse_count"]))
    for name, found in calculators.items():
        assert not found["errors"], f"{name}: {found['errors']}"
        assert found["check"]["checked"] == expected, name
        assert not found["check"]["wrong"], "\n".join(found["check"]["wrong"][:40])


def test_gpu_memory_form_shows_the_computed_bytes(calculators):
    driven = calculators["gpu_memory"]["driven"]
    assert len(driven) == 4
    for case, shown in driven:
        assert shown.pop("capacity") == case["inputs"]["gpu_bytes"], case["name"]
        assert shown == case["expected"], case["name"]


def test_number_format_form_shows_the_bits_and_values(calculators):
    driven = calculators["number_formats"]["driven"]
    assert len(driven) == 9
    for case, int8, shown in driven:
        for fmt, expected in (case["formats"] if case else {}).items():
            assert shown[fmt]["bits"].replace("\n", "") == expected["bits"], (case["x"], fmt)
            value = float(shown[fmt]["value"])
            assert (math.isnan(value) and expected["value"] == "NaN") or (
                value == float(expected["value"]) and math.copysign(1, value) == math.copysign(1, float(expected["value"]))), (
                case["x"], fmt, shown[fmt]["value"])
        if int8:
            assert int(shown["int8"]["q"].split()[0]) == int8["q"], int8["x"]
            assert float(shown["int8"]["dequantized"]) == float(int8["dequantized"]), int8["x"]
