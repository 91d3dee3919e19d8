"""Execute one notebook, as a fresh environment's Jupyter would; run by that environment's Python.

    python run_notebook.py NOTEBOOK --cwd FOLDER [--jupytext ROOT] [--probe MODULE] [--allow-errors]

With --jupytext ROOT, NOTEBOOK is a path under ROOT opened through jupytext's contents
manager, as JupyterLab on Binder or a hub opens a chapter's Markdown; otherwise it is
an .ipynb read as it is. The kernel is this Python's own. A last cell reports where the
kernel's Python and MODULE (default: the labs' package) are, as JSON on the last line of
the output; with --allow-errors every cell runs and the JSON also lists the errors'
names (an assignment's stubs raise NotImplementedError by design).
"""

import argparse
import json
from pathlib import Path

import nbformat
from nbclient import NotebookClient

PROBE = ("import json, sys, {module}\n"
         "print(json.dumps({{'prefix': sys.prefix, '{module}': {module}.__file__, 'errors': {errors!r}}}))")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook")
    parser.add_argument("--cwd", required=True, type=Path, help="the kernel's working folder")
    parser.add_argument("--jupytext", type=Path, help="open NOTEBOOK through jupytext, from this root")
    parser.add_argument("--probe", default="lstm_labs", help="the module whose location is reported")
    parser.add_argument("--allow-errors", action="store_true", help="run every cell; report the errors")
    args = parser.parse_args()
    if args.jupytext:
        from jupytext import TextFileContentsManager

        model = TextFileContentsManager(root_dir=str(args.jupytext)).get(args.notebook, content=True, type="notebook")
        notebook = nbformat.from_dict(model["content"])
    else:
        notebook = nbformat.read(args.notebook, as_version=4)
    client = NotebookClient(notebook, kernel_name="python3", timeout=600, allow_errors=args.allow_errors,
                            resources={"metadata": {"path": str(args.cwd)}})
    errors = []
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
            errors += [o["ename"] for o in cell.get("outputs", []) if o["output_type"] == "error"]
        notebook.cells.append(nbformat.v4.new_code_cell(PROBE.format(module=args.probe, errors=errors)))
        client.execute_cell(notebook.cells[-1], len(notebook.cells) - 1)
    print(notebook.cells[-1].outputs[-1]["text"].strip())


if __name__ == "__main__":
    main()
