"""Build the assignments from their sources: solutions/, exercises/ and worked/.

Each assignment is written once, as Markdown with fenced code cells, in
``lstm_course/assignments/<id>.md`` (reviewable as text). This script makes of it

* ``solutions/<id>/<id>.ipynb``: the nbgrader *source* notebook (solutions, tests
  with points, hidden tests), the instructor's master copy;
* ``exercises/<id>/<id>.ipynb``: the *released* notebook, made from the source by
  nbgrader's ``generate_assignment`` (run through its Python API; it also records the
  assignment in the gradebook), never edited by hand;
* ``worked/<id>.ipynb``: the worked solutions of the self-study edition: the source
  without hidden tests and without nbgrader's markers or metadata, executed when the
  book is built.

    python -m lstm_course.generate                # everything (what `make assignments` runs)
    python -m lstm_course.generate a1_rnn_bptt    # one assignment
    python -m lstm_course.generate --check        # exit 1 if a committed file is stale

The source format. Markdown text becomes markdown cells (a line ``+++`` starts a
new one). A fenced block becomes a cell; its info string says which kind:

    ```python                               a plain code cell
    ```python readonly id=setup             code students cannot change (restored at grading)
    ```python solution id=rnn_step_forward  an answer cell: ### BEGIN/END SOLUTION inside
    ```python test id=test_x points=2       a graded test: ### BEGIN/END HIDDEN TESTS inside
    ```markdown answer id=answer_x points=2 a written answer graded by hand (the model answer)

A code cell that draws a figure says what the figure shows, for the book's readers
who cannot see it: ``alt="..."`` in its info string (quoted, so it may hold spaces)
becomes the figure's alt text in the worked solutions, which draw it.
"""

import argparse
import re
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "lstm_course" / "assignments"
ASSIGNMENTS = ["a1_rnn_bptt", "a2_lstm_forward", "a3_lstm_backward", "a4_weather_lab", "a5_gru", "a6_peephole"]
# An assignment whose set-up cell hands out another's answer, on purpose: a3 gives an LSTM
# forward pass, a2's answer, so that it stands on its own. Release it after a2's deadline.
HANDS_OUT = {"a3_lstm_backward": ("a2_lstm_forward",)}

_FENCE = re.compile(r"^```(python|markdown)\b(.*)$")
_HIDDEN = re.compile(r"^\s*### BEGIN HIDDEN TESTS.*?^\s*### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)
_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION[^\n]*\n?", re.M)
_KINDS = {
    # kind: (solution, grade, locked)
    "solution": (True, False, False),
    "test": (False, True, True),
    "readonly": (False, False, True),
    "answer": (True, True, False),
}


def _attributes(info):
    """("solution", {"id": "x"}) from the rest of a fence's info string, e.g. " solution id=x"."""
    words = shlex.split(info)
    kind = words[0] if words and "=" not in words[0] else None
    pairs = dict(word.split("=", 1) for word in words if "=" in word)
    if kind is not None and kind not in _KINDS:
        raise ValueError(f"unknown cell kind {kind!r}; the kinds are {sorted(_KINDS)}")
    if kind is not None and "id" not in pairs:
        raise ValueError(f"a {kind} cell needs an id=…")
    if kind in ("test", "answer") and "points" not in pairs:
        raise ValueError(f"the {kind} cell {pairs['id']} needs points=…")
    return kind, pairs


def parse_source(text):
    """The cells of a source file, as dicts: type, source, kind, id, points."""
    cells, lines, fence = [], [], None

    def flush_markdown():
        source = "\n".join(lines).strip("\n")
        if source.strip():
            cells.append({"type": "markdown", "source": source, "kind": None})
        lines.clear()

    for line in text.splitlines():
        if fence is None:
            match = _FENCE.match(line)
            if match:
                flush_markdown()
                kind, pairs = _attributes(match.group(2))
                fence = {"type": "code" if match.group(1) == "python" else "markdown",
                         "kind": kind, "id": pairs.get("id"), "points": pairs.get("points"),
                         "alt": pairs.get("alt"), "lines": []}
            elif line.strip() == "+++":
                flush_markdown()
            else:
                lines.append(line)
        elif line.startswith("```"):
            fence["source"] = "\n".join(fence.pop("lines")).strip("\n")
            if fence["type"] == "markdown" and fence["kind"] is None:
                raise ValueError("a fenced markdown block must be an answer cell")
            cells.append(fence)
            fence = None
        else:
            fence["lines"].append(line)
    if fence is not None:
        raise ValueError("a fenced block is not closed")
    flush_markdown()
    return cells


def _new_notebook(cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nb.cells = cells
    for index, cell in enumerate(nb.cells):
        # Stable ids keep the diffs of regenerated notebooks empty.
        cell["id"] = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell-{index}"
    return nb


def source_notebook(assignment):
    """The nbgrader source notebook of an assignment, from lstm_course/assignments/<id>.md.

    Its first cell installs the course where it is missing (Colab), a plain cell that the
    book's pages hide (lstm_course.install_cell); it checks for ``lstm_course`` only, which
    a grading sandbox holds (its client) while it lacks ``lstm_ref``, so the cell never runs
    pip there. Its metadata tells the book (MyST-NB) never to execute it or the released
    notebook nbgrader makes of it, which keeps the metadata: a released notebook raises
    NotImplementedError by design.
    """
    from lstm_course.install_cell import install_cell, release_source

    cells = [install_cell("student", ["lstm_course"], release_source(ROOT))]
    for spec in parse_source((SOURCES / f"{assignment}.md").read_text(encoding="utf-8")):
        maker = nbformat.v4.new_code_cell if spec["type"] == "code" else nbformat.v4.new_markdown_cell
        cell = maker(spec["source"])
        if spec["kind"] is not None:
            solution, grade, locked = _KINDS[spec["kind"]]
            metadata = {"grade": grade, "grade_id": spec["id"], "locked": locked,
                        "schema_version": 3, "solution": solution}
            if grade:
                metadata["points"] = int(spec["points"])
            cell.metadata["nbgrader"] = metadata
        if spec.get("alt"):
            cell.metadata["mystnb"] = {"image": {"alt": spec["alt"]}}
        cells.append(cell)
    nb = _new_notebook(cells)
    nb.metadata["mystnb"] = {"execution_mode": "off"}
    return nb


def worked_notebook(source):
    """The worked solutions: the source without hidden tests, markers or nbgrader metadata."""
    cells = []
    for cell in source.cells:
        metadata = cell.metadata.get("nbgrader", {})
        text = _MARKER.sub("", _HIDDEN.sub("", cell.source)).rstrip("\n")
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(text, metadata={k: v for k, v in cell.metadata.items()
                                                            if k in ("tags", "mystnb")})  # hidden; a figure's alt text
        elif metadata.get("solution"):
            new = nbformat.v4.new_markdown_cell(f"**A model answer.**\n\n{text}")
        else:
            new = nbformat.v4.new_markdown_cell(text)
        cells.append(new)
    first = next(index for index, cell in enumerate(cells) if cell.cell_type == "markdown")
    title = cells[first].source.splitlines()[0]
    cells[first].source = cells[first].source.replace(title, f"{title} (worked solutions)", 1)
    cells.insert(first + 1, nbformat.v4.new_markdown_cell(
        "This is the assignment with one correct answer to every part, run when the book is "
        "built: every visible test below passes. Try the assignment first, in the released "
        "notebook (the repository's `exercises/` folder), and come here to compare."))
    # The book's figures: SVG, sized for its column (hidden from the page).
    cells.insert(2, nbformat.v4.new_code_cell(
        "from lstm_labs.plotting import book_style\n\nbook_style()", metadata={"tags": ["remove-cell"]}))
    return _new_notebook(cells)


def solution_namespace(assignment):
    """The course's own answers: the namespace of the set-up and solution cells, run in order.

    What the seed sweep and the benchmarks grade as "a correct answer"; plain code cells
    (experiments, plots) are not run.
    """
    namespace = {"__name__": f"solutions_of_{assignment}"}
    for spec in parse_source((SOURCES / f"{assignment}.md").read_text(encoding="utf-8")):
        if spec["type"] == "code" and spec["kind"] in ("readonly", "solution"):
            exec(compile(_MARKER.sub("", spec["source"]), f"<{assignment}:{spec['id']}>", "exec"), namespace)
    return namespace


def write_if_changed(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def release(course_root, assignment):
    """nbgrader generate_assignment, through nbgrader's Python API, with the course's own config.

    The same converter as the command line (which also records the assignment in the
    gradebook), without starting a new Python for every assignment.
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_root)).load_config()
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    result = api.generate_assignment(assignment, force=True)
    released = Path(course_root) / "exercises" / assignment / f"{assignment}.ipynb"
    if not result["success"] or not released.exists():
        raise RuntimeError(f"nbgrader generate_assignment {assignment} failed:\n"
                           f"{result.get('error') or result.get('log')}")
    return released.read_text(encoding="utf-8")


def build(course_root, assignments):
    """Write solutions/, exercises/ and worked/ for ``assignments`` under ``course_root``."""
    course_root = Path(course_root)
    for assignment in assignments:
        source = source_notebook(assignment)
        write_if_changed(course_root / "solutions" / assignment / f"{assignment}.ipynb",
                         nbformat.writes(source) + "\n")
        write_if_changed(course_root / "worked" / f"{assignment}.ipynb",
                         nbformat.writes(worked_notebook(source)) + "\n")
        release(course_root, assignment)


def stale_files(assignments):
    """The committed files that differ from what the sources make now (paths relative to ROOT)."""
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        shutil.copy2(ROOT / "nbgrader_config.py", scratch / "nbgrader_config.py")
        build(scratch, assignments)
        stale = []
        for assignment in assignments:
            for relative in (f"solutions/{assignment}/{assignment}.ipynb",
                             f"exercises/{assignment}/{assignment}.ipynb",
                             f"worked/{assignment}.ipynb"):
                committed = ROOT / relative
                fresh = (scratch / relative).read_text(encoding="utf-8")
                if not committed.exists() or committed.read_text(encoding="utf-8") != fresh:
                    stale.append(relative)
        return stale


def available(assignments):
    return [a for a in assignments if (SOURCES / f"{a}.md").exists()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help=f"default: all of {ASSIGNMENTS} that exist")
    parser.add_argument("--check", action="store_true", help="only report stale files (exit 1)")
    args = parser.parse_args(argv)
    assignments = args.assignments or available(ASSIGNMENTS)
    if args.check:
        stale = stale_files(assignments)
        for relative in stale:
            print(f"stale: {relative} (run: make assignments)")
        return 1 if stale else 0
    build(ROOT, assignments)
    print(f"built {', '.join(assignments)}: solutions/, exercises/, worked/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
