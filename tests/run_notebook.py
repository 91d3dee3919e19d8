"""Execute one notebook, as a fresh environment's Jupyter would; run by that environment's Python.

    python run_notebook.py NOTEBOOK --cwd FOLDER [--jupytext ROOT]

With --jupytext ROOT, NOTEBOOK is a path under ROOT opened through jupytext's contents
manager, as JupyterLab on Binder or a hub opens a chapter's Markdown; otherwise it is
an .ipynb read as it is. The kernel is this Python's own. A last cell reports where the
kernel's Python and the labs' package are, as JSON on the last line of the output.
"""

import argparse
import json
from pathlib import Path

import nbformat
from nbclient import NotebookClient

PROBE = "import json, sys, lstm_labs\nprint(json.dumps({'prefix': sys.prefix, 'lstm_labs': lstm_labs.__file__}))"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook")
    parser.add_argument("--cwd", required=True, type=Path, help="the kernel's working folder")
    parser.add_argument("--jupytext", type=Path, help="open NOTEBOOK through jupytext, from this root")
    args = parser.parse_args()
    if args.jupytext:
        from jupytext import TextFileContentsManager

        model = TextFileContentsManager(root_dir=str(args.jupytext)).get(args.notebook, content=True, type="notebook")
        notebook = nbformat.from_dict(model["content"])
    else:
        notebook = nbformat.read(args.notebook, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PROBE))
    NotebookClient(notebook, kernel_name="python3", timeout=600,
                   resources={"metadata": {"path": str(args.cwd)}}).execute()
    print(notebook.cells[-1].outputs[-1]["text"].strip())


if __name__ == "__main__":
    main()
