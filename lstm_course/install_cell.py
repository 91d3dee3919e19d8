"""The first cell of a notebook that may open where the course is not installed (Colab).

The cell installs the course's packages, from the repository at the book's own version,
when a module the notebook needs is missing; where they are installed (Binder, a class's
JupyterHub, the environment `make` creates) it does nothing. The environment variable
``LSTM_COURSE_SOURCE``, a pip URL, overrides where they come from: the tests point it at
the local checkout. The book's pages do not show the cell (tag ``remove-cell``).

``tools/notebooks.py`` puts it in front of every chapter's ``.ipynb`` counterpart; the
assignments' generator can put it in front of the released notebooks::

    source = release_source(ROOT)
    notebook.cells.insert(0, install_cell("student", ["lstm_course"], source))
"""

import tomllib
from pathlib import Path

import nbformat

SOURCE_VARIABLE = "LSTM_COURSE_SOURCE"
DISTRIBUTION = "lstm-course"


def release_source(root):
    """The pip URL of the course at the version of the checkout in ``root``.

    ``git+<repository.url of _config.yml>@v<version of pyproject.toml>``: a release is
    the git tag ``v`` followed by the version.
    """
    import yaml  # with the book's packages: whoever generates notebooks has them

    root = Path(root)
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    if project["name"] != DISTRIBUTION:
        raise ValueError(f"root must hold the {DISTRIBUTION} project, got {project['name']!r} in {root}")
    return f"git+{config['repository']['url']}@v{project['version']}"


def install_cell(extra, modules, source):
    """A code cell that runs ``pip install "lstm-course[<extra>] @ <source>"`` when one of
    ``modules`` (top-level module names) cannot be imported, unless LSTM_COURSE_SOURCE
    names another source; tagged ``remove-cell``."""
    if (not isinstance(modules, (list, tuple)) or not modules
            or not all(isinstance(name, str) and name.isidentifier() for name in modules)):
        raise ValueError(f"modules must be a non-empty list of module names, got {modules!r}")
    needed = ", ".join(repr(name) for name in modules)
    code = f'''\
# Installs the course's packages where they are missing (Colab, a fresh Jupyter), which
# takes a minute or two; where they are installed, it does nothing.
import importlib, importlib.util, os, subprocess, sys

if any(importlib.util.find_spec(name) is None for name in [{needed}]):
    source = os.environ.get("{SOURCE_VARIABLE}", "{source}")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", f"{DISTRIBUTION}[{extra}] @ {{source}}"],
                   check=True)
    importlib.invalidate_caches()'''
    return nbformat.v4.new_code_cell(code, metadata={"tags": ["remove-cell"]})
