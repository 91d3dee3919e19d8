"""A local Sphinx extension: what the book's HTML needs beyond Jupyter Book's defaults.

- Each script and style sheet is included once. sphinx-thebe registers its configuration script
  (``const THEBE_JS_URL = ...``) once per reading of the sources, and a second copy
  on a page is a JavaScript error (a ``const`` declared twice).
- Code wraps at the column's edge instead of scrolling (``_static/book.css``).
- MathJax is loaded on every page, the search page included, and search summaries
  are typeset (``_static/search_math.js``), so that a summary shows a formula and
  not its TeX.
"""


def _asset_key(asset):
    """What makes two assets the same: the file (an inline script has none) and the attributes."""
    filename = getattr(asset, "filename", asset) or ""
    return str(filename), tuple(sorted(getattr(asset, "attributes", {}).items()))


def drop_duplicate_assets(app, pagename, templatename, context, doctree):
    """Keep the first of any scripts or style sheets that are the same file or the same inline body.

    The search page gets MathJax here: the theme's handler for it ends the event before
    Sphinx's own would add MathJax.
    """
    if pagename == "search":
        from sphinx.ext.mathjax import install_mathjax

        install_mathjax(app, pagename, templatename, context, doctree)
    for key in ("script_files", "css_files"):
        seen, kept = set(), []
        for asset in context.get(key, []):
            identity = _asset_key(asset)
            if identity not in seen:
                seen.add(identity)
                kept.append(asset)
        # In place: the list is the builder's, and later handlers (MathJax's) add to it.
        context[key][:] = kept


def setup(app):
    app.set_html_assets_policy("always")
    app.add_js_file("search_math.js", priority=900)
    app.add_css_file("book.css", priority=900)
    # Early: html-page-context stops at the first handler that returns a template name.
    app.connect("html-page-context", drop_duplicate_assets, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
