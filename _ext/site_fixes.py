"""Sphinx extension of the course site: each page loads a script at most once.

Under Jupyter Book, sphinx-thebe's inline configuration (``const THEBE_JS_URL = ...``) and
sphinx-togglebutton's reach each page twice, so every page logs "Identifier 'THEBE_JS_URL' has
already been declared" in the browser's console. This drops the repeats from each page's scripts.
"""


def _one_of_each_script(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # an inline script's repeat has filename "" where the first has None: compare what the page gets
        key = (str(getattr(script, "filename", script) or ""), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _one_of_each_script, priority=900)  # after the handlers that add scripts
    return {"parallel_read_safe": True, "parallel_write_safe": True}
