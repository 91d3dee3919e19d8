"""A Sphinx extension: every page's Colab button opens the page's counterpart in notebooks/.

sphinx-book-theme links Colab to the page's own source, and Colab opens .ipynb files
only, not the chapters' Markdown. tools/notebooks.py writes an .ipynb counterpart of
each Markdown notebook page into notebooks/ (the same path, with .ipynb); this points
the Colab button there. Pages whose source is an .ipynb keep their link. Binder and
JupyterHub open the Markdown page itself, through jupytext.

_config.yml loads it with ``sphinx.local_extensions``.
"""

from pathlib import Path

from sphinx.errors import ExtensionError

COUNTERPARTS = "notebooks"


def point_colab_at_counterparts(app, pagename, templatename, context, doctree):
    """Rewrite the Colab link of sphinx-book-theme's launch buttons on one page."""
    source = Path(app.env.doc2path(pagename)) if pagename in app.env.all_docs else None
    if source is None or source.suffix == ".ipynb":
        return
    counterpart = Path(COUNTERPARTS, pagename).with_suffix(".ipynb")
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        for button in group["buttons"]:
            if button.get("text") != "Colab":
                continue
            if not (Path(app.srcdir) / counterpart).is_file():
                raise ExtensionError(f"{pagename}: no {counterpart} for its Colab button; run `make notebooks`")
            # The theme's link ends with the page's path from the repository's root.
            own_path = source.relative_to(app.srcdir).as_posix()
            if not button["url"].endswith("/" + own_path):
                raise ExtensionError(f"{pagename}: unexpected Colab link {button['url']} (sphinx-book-theme changed?)")
            button["url"] = button["url"].removesuffix(own_path) + counterpart.as_posix()


def setup(app):
    # After sphinx-book-theme's add_launch_buttons (priority 501) has made the buttons.
    app.connect("html-page-context", point_colab_at_counterparts, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
