"""The book test's detector of remote resources finds what it should."""

from test_book import CSS_REMOTE, LOADING_TAG, REMOTE


def remote_tags(html):
    return [t.group(0) for t in LOADING_TAG.finditer(html) if REMOTE.search(t.group(0))]


def test_detects_cdn_script_and_font():
    html = ('<script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-chtml.js"></script>'
            '<link rel="stylesheet" href="//fonts.googleapis.com/css?family=Lato">'
            '<script src="_static/local.js"></script><a href="https://arxiv.org">paper</a>')
    assert len(remote_tags(html)) == 2
    assert CSS_REMOTE.search("@font-face{src:url('https://fonts.gstatic.com/x.woff2')}")
    assert not CSS_REMOTE.search("@font-face{src:url('../fonts/x.woff2')}")
