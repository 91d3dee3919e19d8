"""Write notebooks/: an .ipynb counterpart of every Markdown notebook page, for Colab.

Colab opens .ipynb files only, and the chapters are MyST Markdown notebooks. Each
counterpart, notebooks/<page>.ipynb, is the page as jupytext reads it, after two cells
that the book's pages would not show: one installs the course's packages where they
are missing (lstm_course.install_cell), one defines the book's LaTeX macros for the
notebook's Markdown. The pages' Colab buttons open them (tools/launch_links.py).
They are generated, never edited by hand: a test fails when one is stale.

    python tools/notebooks.py              # rewrite notebooks/ (make notebooks)
    python tools/notebooks.py --out DIR    # write them into DIR instead
"""

import argparse
import shutil
import sys
from pathlib import Path

import jupytext
import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout: its packages, not others

from lstm_course.install_cell import install_cell, release_source  # noqa: E402

FOLDER = "notebooks"
# The chapters import the labs' package and myst_nb (for glue): the `lab` extra.
EXTRA, MODULES = "lab", ["lstm_labs", "myst_nb"]


def notebook_pages(root=ROOT):
    """The pages of the book's table of contents whose source is a Markdown notebook."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    names = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                names.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    sources = [(root / name).with_suffix(".md") for name in names]
    return [path for path in sources if path.is_file() and "kernelspec" in jupytext.read(path).metadata]


def macro_definitions(config):
    """The book's MathJax macros (sphinx.config.mathjax3_config in _config.yml) as \\newcommand lines."""
    macros = config["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]
    lines = []
    for name, value in macros.items():
        body, arguments = (value, 0) if isinstance(value, str) else value
        count = f"[{arguments}]" if arguments else ""
        lines.append(f"\\newcommand{{\\{name}}}{count}{{{body}}}")
    return lines


def counterpart(page, source, macros):
    """The page as an .ipynb: the install cell, the macros, then the page's cells, with stable ids."""
    notebook = jupytext.read(page)
    notebook.metadata.pop("jupytext", None)
    notebook.metadata["language_info"] = {"name": "python"}
    macro_cell = nbformat.v4.new_markdown_cell("$$\n" + "\n".join(macros) + "\n$$",
                                               metadata={"tags": ["remove-cell"]})
    notebook.cells = [install_cell(EXTRA, MODULES, source), macro_cell, *notebook.cells]
    for number, cell in enumerate(notebook.cells):
        cell.id = f"cell-{number:03d}"
    return notebook


def write_notebooks(out, root=ROOT):
    """Write every counterpart into ``out`` (emptied first); return the paths written."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    source, macros = release_source(root), macro_definitions(config)
    written = []
    for page in notebook_pages(root):
        target = out / page.relative_to(root).with_suffix(".ipynb")
        target.parent.mkdir(parents=True, exist_ok=True)
        notebook = counterpart(page, source, macros)
        nbformat.validate(notebook)
        target.write_text(nbformat.writes(notebook) + "\n", encoding="utf-8")
        written.append(target)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / FOLDER,
                        help="the folder to write them into (default: %(default)s)")
    args = parser.parse_args(argv)
    for path in write_notebooks(args.out):
        print(path)


if __name__ == "__main__":
    main()
