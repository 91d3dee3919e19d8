"""Running a class through nbgrader's own commands, for the classroom and hostile-class tests."""

import csv
import inspect
import os
import re
import subprocess
import sys

import nbformat

import answers
from conftest import ROOT, copy_checkout

COURSE = "lstm-course"


def released(assignment):
    return nbformat.read(ROOT / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)


def solution_sources(assignment):
    """grade id -> source of every answer cell of the source notebook (the course's own answers)."""
    source = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in source.cells
            if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code"}


def answer_sources(assignment):
    """grade id -> tests/answers.py's answer (written unlike the course's), with the helpers it uses."""
    sources = {}
    for grade_id in solution_sources(assignment):
        function = getattr(answers, grade_id)
        text = inspect.getsource(function)
        helpers = sorted(set(re.findall(r"\b(_[a-z]\w*)\(", text)))
        parts = [inspect.getsource(getattr(answers, name)) for name in helpers if hasattr(answers, name)]
        sources[grade_id] = "import numpy as np\n\n" + "\n\n".join(parts + [text])
    return sources


def fill(nb, answers_by_id):
    """Put ``answers_by_id`` (grade id -> source) into the answer cells of a notebook."""
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers_by_id:
            cell.source = answers_by_id[grade_id]
    return nb


def insert_after(nb, grade_id, source):
    """Add a plain code cell after the cell with ``grade_id``."""
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return nb


def grade_cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def new_course(tmp_path_factory, timeout=10):
    """A copy of the course as a clean checkout, and the environment its nbgrader commands run in."""
    root = copy_checkout(tmp_path_factory.mktemp("course"))
    env = dict(os.environ, LSTM_COURSE_CELL_TIMEOUT=str(timeout),
               JUPYTER_DATA_DIR=str(tmp_path_factory.mktemp("jupyter_data")),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return root, env


def nbgrader(args, cwd, env, expect=0):
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                            capture_output=True, text=True)
    if expect is not None and result.returncode != expect:
        raise AssertionError(f"nbgrader {' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}")
    return result


def place_submission(root, assignment, student, notebook, extra_files=None):
    """Put a submission where nbgrader's collect leaves one."""
    folder = root / "nbgrader_work" / "submitted" / student / assignment
    folder.mkdir(parents=True)
    target = folder / f"{assignment}.ipynb"
    if isinstance(notebook, str):
        target.write_text(notebook, encoding="utf-8")
    else:
        nbformat.write(notebook, target)
    # What nbgrader's exchange writes beside every submission.
    (folder / "timestamp.txt").write_text("2026-01-15 12:00:00.000000 UTC")
    (folder / "submission_secret.txt").write_text(f"secret-of-{student}")
    for name, text in (extra_files or {}).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def export(root, env, name="grades.csv"):
    """nbgrader export, as {student: row}."""
    nbgrader(["export", "--to", str(root / name)], root, env)
    with open(root / name, newline="", encoding="utf-8") as stream:
        return {row["student_id"]: row for row in csv.DictReader(stream)}


def autograded(root, student, assignment):
    path = root / "nbgrader_work" / "autograded" / student / assignment / f"{assignment}.ipynb"
    return nbformat.read(path, as_version=4) if path.exists() else None


def points(assignment):
    """grade id -> points of every automatically graded cell."""
    source = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]: cell.metadata["nbgrader"]["points"]
            for cell in source.cells
            if cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code"}
