"""A local Sphinx extension: what the book's HTML needs beyond Jupyter Book's defaults.

- Each script is included once. sphinx-thebe registers its configuration script
  (``const THEBE_JS_URL = ...``) once per reading of the sources, and a second copy
  on a page is a JavaScript error (a ``const`` declared twice).
- Code wraps at the column's edge instead of scrolling (``_static/book.css``).
- MathJax is loaded on every page, the search page included, and search summaries
  are typeset (``_static/search_math.js``), so that a summary shows a formula and
  not its TeX.
"""


def _script_key(script):
    return (str(getattr(script, "filename", script)), getattr(script, "priority", 0),
            tuple(sorted(getattr(script, "attributes", {}).items())))


def drop_duplicate_scripts(app, pagename, templatename, context, doctree):
    """Keep the first of any scripts that are the same file or the same inline body."""
    seen, kept = set(), []
    for script in context.get("script_files", []):
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.set_html_assets_policy("always")
    app.add_js_file("search_math.js", priority=900)
    app.add_css_file("book.css", priority=900)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
