"""nbgrader plugins: grade a whole class without stopping, and say what went wrong.

nbgrader (0.9) grades a submission by restoring its test cells from the
gradebook, running it in a fresh kernel and scoring each test cell by whether
it raised. Left alone it has gaps that a class of real submissions finds:

* a duplicated test cell leaves a cell with empty nbgrader metadata, which
  nbgrader reports as an *old metadata format* and stops the whole batch;
* a deleted test cell is silently worth nothing (nbgrader can re-add it, but
  fails when the cell before it is a read-only cell);
* a kernel that dies (``os._exit``, a crash) loses the whole notebook;
* a notebook that is not valid JSON is logged and then simply missing from
  the export, where it looks like any other 0.0;
* the feedback shows the hidden tests (nbgrader issue #917) and tracebacks
  quote their source.

This module closes them, with nbgrader's own machinery wherever it exists.
``nbgrader_config.py`` plugs in each class below:

* :class:`SanitizeSubmission` (autograde, before running): audits the
  submission against the gradebook (edited or deleted test cells, changed
  points or metadata, duplicated cells, code that tampers with grading),
  rebuilds every nbgrader cell's metadata from the gradebook, re-adds deleted
  test cells where they belong, then runs nbgrader's own sanitizing steps;
* :class:`lstm_course.autograde.GradeInSandbox` (in place of nbgrader's
  ``Execute``): runs the submission in a sandboxed kernel and grades every
  test cell's part outside it;
* :class:`RecordExecution`: records timeouts, crashes, exceptions in the
  student's own cells, truncated floods of output, and the isolation the
  kernel had;
* :class:`HideHiddenTests` (feedback): removes hidden tests and shortens the
  tracebacks of test cells to their message, and puts the grading report on
  top of the feedback;
* :class:`StatusCsvExportPlugin` (export): nbgrader's CSV plus two columns,
  ``status`` (ok, flagged, not graded, not submitted) and ``problems``; a
  submission that could not be graded has an empty score, not 0.0.

The report of each submitted notebook is a small JSON file in
``<autograded directory>_reports/<student>/<assignment>/<notebook>.json``.
nbgrader imports this module by the names given in ``nbgrader_config.py``.
"""

import csv
import fnmatch
import json
import os

import nbformat
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import CsvExportPlugin
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearOutput,
    NbGraderPreprocessor,
    OverwriteCells,
    OverwriteKernelspec,
)

from lstm_course.autograde import GRADER_FAULT, KERNEL_DIED, NOT_RUN, TIMEOUT
from lstm_course.review import similar_origin

TRUNCATED = "... Output truncated ..."  # what nbgrader's LimitOutput writes

# --- the report of one submitted notebook -------------------------------------------------------

def _coursedir(configurable):
    """The CourseDirectory of the nbgrader application that created ``configurable``."""
    node = configurable
    while node is not None:
        if getattr(node, "coursedir", None) is not None:
            return node.coursedir
        node = getattr(node, "parent", None)
    raise RuntimeError(f"{type(configurable).__name__} runs outside an nbgrader command")


def report_path(coursedir, student, assignment, notebook):
    """Where the grading report of one submitted notebook lives."""
    folder = coursedir.format_path(coursedir.autograded_directory + "_reports", student, assignment)
    return os.path.join(folder, f"{notebook}.json")


def read_report(coursedir, student, assignment, notebook):
    """The report as a dict, or None if this notebook was never sanitized."""
    path = report_path(coursedir, student, assignment, notebook)
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except (OSError, ValueError):
        return None


class Report:
    """What went wrong with one submitted notebook, saved as JSON after each stage."""

    def __init__(self, coursedir, resources, fresh=False):
        names = resources["nbgrader"]
        self.path = report_path(coursedir, names["student"], names["assignment"], names["notebook"])
        self.data = None if fresh else read_report(
            coursedir, names["student"], names["assignment"], names["notebook"])
        if self.data is None:
            self.data = {"graded": False, "failure": None, "problems": []}

    def add(self, kind, where, detail):
        self.data["problems"].append({"kind": kind, "where": where, "detail": detail})

    def save(self):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path, "w", encoding="utf-8") as stream:
            json.dump(self.data, stream, indent=1)

    @property
    def problems(self):
        return self.data["problems"]


def describe(problem):
    """One line for a human: "timeout in rnn_forward_test: ..."."""
    where = f" in {problem['where']}" if problem.get("where") else ""
    return f"{problem['kind']}{where}: {problem['detail']}"


# --- autograde, stage 1: sanitize -----------------------------------------------------------------

def _cell_label(cell, index):
    """How a report names a cell: its grade id, else its position and first line."""
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    if grade_id:
        return grade_id
    first = cell.source.strip().splitlines()[0][:40] if cell.source.strip() else ""
    return f"cell {index + 1} ({first})" if first else f"cell {index + 1}"


def _expected_cells(gradebook, notebook_id, assignment_id):
    """Every nbgrader cell of the source notebook: grade id -> canonical cell fields."""
    source_notebook = gradebook.find_notebook(notebook_id, assignment_id)
    grades = {cell.name: cell for cell in source_notebook.grade_cells}
    solutions = {cell.name for cell in source_notebook.solution_cells}
    expected = {}
    for cell in source_notebook.source_cells:
        metadata = {
            "grade": cell.name in grades,
            "solution": cell.name in solutions,
            "locked": bool(cell.locked),
            "grade_id": cell.name,
            "schema_version": 3,
            "checksum": cell.checksum,
        }
        if cell.name in grades:
            metadata["points"] = float(grades[cell.name].max_score)
        expected[cell.name] = {"cell_type": cell.cell_type, "source": cell.source, "metadata": metadata}
    return expected


def _released_notebook(coursedir, assignment_id, notebook_id):
    """The released notebook (else the source one) as the instructor wrote it, or None."""
    for step in (coursedir.release_directory, coursedir.source_directory):
        path = os.path.join(coursedir.format_path(step, ".", assignment_id), f"{notebook_id}.ipynb")
        if os.path.exists(path):
            return nbformat.read(path, as_version=4)
    return None


class SanitizeSubmission(NbGraderPreprocessor):
    """Audit a submission against the gradebook, repair its structure, then sanitize it.

    Runs in place of nbgrader's list of sanitizing preprocessors and then runs
    that list itself (ClearOutput, OverwriteKernelspec, OverwriteCells,
    CheckCellMetadata), after doing the repairs nbgrader gets wrong:

    * of several cells with one grade id, one keeps the id (an unedited copy of
      a test cell if there is one, else the last); the others become plain
      cells, without the empty metadata that stops nbgrader's batch;
    * every cell with a known grade id gets its metadata back from the
      gradebook (points, locked, grade, solution); unknown ids are dropped;
    * a deleted test cell, read-only cell or written-answer cell is re-added
      after the nbgrader cell that preceded it in the released notebook. (A
      deleted code answer cell is not re-added: the stub would overwrite an
      answer the student moved elsewhere.)

    Every finding goes into the submission's report. An error here fails this
    submission only: it is re-raised as a plain exception, never as one of
    nbgrader's metadata-format errors that abort the batch.
    """

    def preprocess(self, nb, resources):
        coursedir = _coursedir(self)
        report = Report(coursedir, resources, fresh=True)
        try:
            nb, resources = sanitize(self, coursedir, nb, resources, report)
        except Exception as error:
            report.data["failure"] = f"could not be prepared for grading: {type(error).__name__}: {error}"
            report.save()
            raise RuntimeError(report.data["failure"]) from error
        report.save()
        return nb, resources

    @staticmethod
    def _audit(nb, expected, report, assignment):
        """Record every difference between the submission and the gradebook's cells."""
        seen = {}
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in expected:
                seen.setdefault(grade_id, []).append(cell)
        for grade_id, want in expected.items():
            cells = seen.get(grade_id, [])
            kind = _cell_kind(want["metadata"])
            if not cells:
                restored = "restored from the gradebook" if _restorable(want) else "not restored"
                report.add(f"{kind} deleted", grade_id, restored)
                continue
            if len(cells) > 1:
                report.add(f"{kind} duplicated", grade_id, f"{len(cells)} copies; one was kept")
            for cell in cells:
                _audit_cell(cell, grade_id, want, kind, report, assignment)

    @staticmethod
    def _keep_one_cell_per_id(nb, expected):
        by_id = {}
        for cell in nb.cells:
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in expected:
                by_id.setdefault(grade_id, []).append(cell)
        for grade_id, cells in by_id.items():
            if len(cells) < 2:
                continue
            want = expected[grade_id]
            unedited = [c for c in cells if c.source == want.get("released", want["source"])]
            keeper = unedited[0] if (want["metadata"]["locked"] and unedited) else cells[-1]
            for cell in cells:
                if cell is not keeper:
                    del cell.metadata["nbgrader"]

    @staticmethod
    def _restore_metadata(nb, expected, report):
        for index, cell in enumerate(nb.cells):
            if "nbgrader" not in cell.metadata:
                continue
            grade_id = cell.metadata["nbgrader"].get("grade_id")
            if grade_id in expected:
                cell.metadata["nbgrader"] = NotebookNode(dict(expected[grade_id]["metadata"]))
            else:
                if cell.metadata["nbgrader"]:
                    report.add("unknown nbgrader cell", _cell_label(cell, index),
                               f"grade id {grade_id!r} is not in the gradebook; treated as a plain cell")
                del cell.metadata["nbgrader"]

    @staticmethod
    def _restore_missing_cells(nb, expected, order):
        present = {cell.metadata.get("nbgrader", {}).get("grade_id") for cell in nb.cells}
        order = [grade_id for grade_id in order if grade_id in expected]
        order += [grade_id for grade_id in expected if grade_id not in order]
        for position, grade_id in enumerate(order):
            want = expected[grade_id]
            if grade_id in present or not _restorable(want):
                continue
            cell = _new_cell(want)
            anchor = _index_of_last_present(nb, order[:position])
            nb.cells.insert(anchor + 1, cell)
            present.add(grade_id)


def sanitize(parent, coursedir, nb, resources, report):
    """Audit ``nb`` against the gradebook into ``report``, repair it, run nbgrader's sanitizing steps."""
    names = resources["nbgrader"]
    with Gradebook(names["db_url"]) as gradebook:
        expected = _expected_cells(gradebook, names["notebook"], names["assignment"])
    released = _released_notebook(coursedir, names["assignment"], names["notebook"])
    released_cells = released.cells if released is not None else []
    order = [cell.metadata["nbgrader"]["grade_id"] for cell in released_cells
             if "grade_id" in cell.metadata.get("nbgrader", {})]
    # What the student received: a test cell there lacks its hidden tests.
    for cell in released_cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in expected:
            expected[grade_id]["released"] = cell.source
    SanitizeSubmission._audit(nb, expected, report, names["assignment"])
    _audit_files(coursedir, names["student"], names["assignment"], report)
    SanitizeSubmission._keep_one_cell_per_id(nb, expected)
    SanitizeSubmission._restore_metadata(nb, expected, report)
    SanitizeSubmission._restore_missing_cells(nb, expected, order)
    for step in (ClearOutput, OverwriteKernelspec, OverwriteCells, CheckCellMetadata):
        nb, resources = step(parent=parent).preprocess(nb, resources)
    return nb, resources


class _Scratch(Report):
    """A report that is never saved: for sanitizing a copy ahead of time."""

    def __init__(self):
        self.data = {"graded": False, "failure": None, "problems": []}

    def save(self):
        pass


def sanitized_copy(converter, path, assignment, student, notebook):
    """The submitted notebook at ``path`` as the sanitize step will leave it, or None if unreadable.

    Nothing is written: this is what grading ahead in parallel works on (lstm_course.autograde).
    """
    try:
        nb = nbformat.read(path, as_version=4)
        resources = {"nbgrader": {"student": student, "assignment": assignment, "notebook": notebook,
                                  "db_url": converter.coursedir.db_url}}
        nb, _ = sanitize(converter.exporter, converter.coursedir, nb, resources, _Scratch())
        return nb
    except Exception:
        return None


def _cell_kind(metadata):
    if metadata["grade"] and metadata["solution"]:
        return "written answer cell"
    if metadata["grade"]:
        return "test cell"
    if metadata["solution"]:
        return "answer cell"
    return "read-only cell"


def _restorable(want):
    """Test cells, read-only cells and written answers come back; code answers do not."""
    metadata = want["metadata"]
    return not (metadata["solution"] and want["cell_type"] == "code")


def _new_cell(want):
    if want["cell_type"] == "code":
        cell = nbformat.v4.new_code_cell(want["source"])
    else:
        cell = nbformat.v4.new_markdown_cell(want["source"])
    cell.metadata["nbgrader"] = NotebookNode(dict(want["metadata"]))
    return cell


def _index_of_last_present(nb, earlier_ids):
    """The index of the cell holding the latest of ``earlier_ids`` present in nb, else -1."""
    positions = {cell.metadata.get("nbgrader", {}).get("grade_id"): index
                 for index, cell in enumerate(nb.cells)}
    for grade_id in reversed(earlier_ids):
        if grade_id in positions:
            return positions[grade_id]
    return -1


def _audit_cell(cell, grade_id, want, kind, report, assignment):
    metadata = cell.metadata.get("nbgrader", {})
    if cell.cell_type != want["cell_type"]:
        report.add("cell type changed", grade_id, f"{want['cell_type']} became {cell.cell_type}; restored")
    if want["metadata"].get("grade"):
        points = metadata.get("points")
        if points is None or float(points) != want["metadata"]["points"]:
            report.add("points changed", grade_id,
                       f"{want['metadata']['points']:g} became {points}; restored from the gradebook")
    for flag in ("grade", "solution", "locked"):
        if bool(metadata.get(flag, False)) != want["metadata"][flag]:
            report.add("metadata changed", grade_id, f"'{flag}' was changed; restored from the gradebook")
    if want["metadata"]["locked"] and cell.source != want.get("released", want["source"]):
        report.add(f"{kind} edited", grade_id, "restored from the gradebook")
    if want["metadata"]["solution"] and cell.cell_type == "code":
        origin = similar_origin(assignment, grade_id, cell.source)
        if origin:
            report.add("review", grade_id, f"the answer's code is that of {origin}, token for token "
                                           f"(names and comments aside)")


# What the exchange itself writes beside a submission.
_EXCHANGE_FILES = {"timestamp.txt", "submission_secret.txt"}


def _audit_files(coursedir, student, assignment, report):
    """Record the submitted files that nbgrader will not copy next to the notebook."""
    folder = coursedir.format_path(coursedir.submitted_directory, student, assignment)
    for path in sorted(utils.find_all_files(folder, [])):
        relative = os.path.relpath(path, folder)
        top = relative.split(os.sep)[0]
        if relative in _EXCHANGE_FILES or relative.endswith(".ipynb"):
            continue
        if any(fnmatch.fnmatch(top, pattern) or fnmatch.fnmatch(os.path.basename(relative), pattern)
               for pattern in coursedir.ignore):
            report.add("file ignored", relative,
                       "submitted beside the notebook; not used for grading (only notebooks are)")


class RecordExecution(NbGraderPreprocessor):
    """Write what went wrong while the notebook ran into its report; flag it in the gradebook.

    Runs after nbgrader's LimitOutput and before SaveAutoGrades. Records
    timeouts, a dead kernel, exceptions raised by the student's own cells
    (a ``NotImplementedError`` left in an answer cell is an unanswered part,
    not a problem) and output that LimitOutput truncated.
    """

    def preprocess(self, nb, resources):
        report = Report(_coursedir(self), resources)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                self._record_cell(cell, _cell_label(cell, index), report)
        graded = resources.get("lstm_course", {})
        report.data["isolation"] = graded.get("isolation", "unknown")
        report.data["seeds"] = graded.get("seeds", {})
        if not report.data["isolation"].startswith("bubblewrap"):
            report.add("unsandboxed", "", f"graded without a sandbox: {report.data['isolation']}")
        report.data["graded"] = True
        report.save()
        if report.problems:
            names = resources["nbgrader"]
            with Gradebook(names["db_url"]) as gradebook:
                submitted = gradebook.find_submission_notebook(
                    names["notebook"], names["assignment"], names["student"])
                submitted.flagged = True
                gradebook.db.commit()
        return nb, resources

    @staticmethod
    def _record_cell(cell, label, report):
        is_test = utils.is_grade(cell)
        timed_out = any(o.output_type == "error" and o.ename == TIMEOUT for o in cell.outputs)
        for output in cell.outputs:
            if output.output_type == "stream" and TRUNCATED in output.text:
                report.add("output truncated", label, "more output than LimitOutput keeps")
            if output.output_type != "error":
                continue
            if output.ename == TIMEOUT:
                report.add("timeout", label, "the cell ran past the time limit and was interrupted")
            elif output.ename == KERNEL_DIED:
                report.add("kernel died", label, output.evalue)
            elif output.ename == GRADER_FAULT:
                report.add("grader fault", label, output.evalue)
            elif output.ename == NOT_RUN or (timed_out and output.ename == "KeyboardInterrupt"):
                continue
            elif not is_test and output.ename != "NotImplementedError":
                report.add("exception", label, f"{output.ename}: {output.evalue}"[:300])
        if any(o.output_type == "error" and o.ename == NOT_RUN for o in cell.outputs) and is_test:
            report.add("not run", label, "the kernel had died before this test")


# --- feedback ---------------------------------------------------------------------------------

class HideHiddenTests(NbGraderPreprocessor):
    """Feedback without hidden tests: their code removed, test tracebacks cut to the message.

    A failing test still tells the student why (our tests put the lesson in
    the exception's message); the lines of the traceback, which quote the
    hidden test's source, are dropped. The submission's grading report, if it
    has problems, opens the feedback.
    """

    def preprocess(self, nb, resources):
        clear = ClearHiddenTests(parent=self, enforce_metadata=False)
        for cell in nb.cells:
            if not utils.is_grade(cell) or cell.cell_type != "code":
                continue
            clear._remove_hidden_test_region(cell)
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        names = resources["nbgrader"]
        report = read_report(_coursedir(self), names["student"], names["assignment"], names["notebook"])
        if report and report["problems"]:
            lines = "\n".join(f"- {describe(problem)}" for problem in report["problems"])
            nb.cells.insert(0, nbformat.v4.new_markdown_cell(
                f"**Problems found while grading this notebook:**\n\n{lines}"))
        return nb, resources


# --- export -----------------------------------------------------------------------------------

def _diagnose_unreadable(path):
    """Why nbgrader could not read a submitted notebook, or None if it reads fine."""
    try:
        nbformat.read(path, as_version=4)
    except Exception as error:  # nbformat raises many kinds; every one is the reason
        return f"not a valid notebook ({type(error).__name__}: {str(error)[:200]})"
    return None


def notebook_status(coursedir, student, assignment, notebook):
    """(graded, problems) of one notebook of one submission, problems as lines of text."""
    submitted = os.path.join(
        coursedir.format_path(coursedir.submitted_directory, student, assignment), f"{notebook}.ipynb")
    autograded = os.path.join(
        coursedir.format_path(coursedir.autograded_directory, student, assignment), f"{notebook}.ipynb")
    if not os.path.exists(submitted):
        return True, [f"{notebook}.ipynb missing from the submission (scored 0)"]
    report = read_report(coursedir, student, assignment, notebook)
    problems = [f"{notebook}: {describe(p)}" for p in (report or {}).get("problems", [])]
    if report and report.get("graded") and os.path.exists(autograded):
        return True, problems
    reason = (report or {}).get("failure") or _diagnose_unreadable(submitted)
    if reason is None:
        reason = ("autograde has not run on it, or failed while running it "
                  "(see nbgrader_work/nbgrader.log)")
    return False, problems + [f"{notebook}: not graded: {reason}"]


class StatusCsvExportPlugin(CsvExportPlugin):
    """nbgrader's CSV export plus ``status`` and ``problems``; no plausible 0.0 for a broken notebook.

    status is one of:

    * ``ok``: graded, nothing unusual;
    * ``flagged``: graded, with problems listed (the score is what it earned);
    * ``not graded``: a notebook could not be graded; the score columns are
      empty and ``problems`` says why;
    * ``not submitted``: no submission (score 0, as nbgrader exports it).

    ``isolation`` says how each submission's kernel was confined while it was graded.
    """

    KEYS = ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
            "raw_score", "late_submission_penalty", "score", "max_score", "status", "problems", "isolation"]

    def export(self, gradebook):
        destination = self.to or "grades.csv"
        coursedir = _coursedir(self)
        students = [str(s) for s in self.student]
        assignments = [str(a) for a in self.assignment]
        self.log.info("Exporting grades with status to %s", destination)
        with open(destination, "w", newline="", encoding="utf-8") as stream:
            writer = csv.DictWriter(stream, fieldnames=self.KEYS)
            writer.writeheader()
            for assignment in gradebook.assignments:
                if assignments and assignment.name not in assignments:
                    continue
                for student in gradebook.students:
                    if students and student.id not in students:
                        continue
                    writer.writerow(self._row(gradebook, coursedir, assignment, student))

    @staticmethod
    def _row(gradebook, coursedir, assignment, student):
        row = {"assignment": assignment.name, "duedate": assignment.duedate or "",
               "student_id": student.id, "last_name": student.last_name or "",
               "first_name": student.first_name or "", "email": student.email or "",
               "max_score": assignment.max_score}
        try:
            submission = gradebook.find_submission(assignment.name, student.id)
        except MissingEntry:
            row.update(timestamp="", raw_score=0.0, late_submission_penalty=0.0, score=0.0,
                       status="not submitted", problems="", isolation="")
            return row
        graded, problems, isolation = True, [], set()
        for notebook in assignment.notebooks:
            ok, found = notebook_status(coursedir, student.id, assignment.name, notebook.name)
            graded = graded and ok
            problems += found
            report = read_report(coursedir, student.id, assignment.name, notebook.name) or {}
            isolation.add(report.get("isolation", "not graded"))
        penalty = submission.late_submission_penalty or 0.0
        row.update(timestamp=submission.timestamp or "", late_submission_penalty=penalty,
                   problems="; ".join(problems), isolation="; ".join(sorted(isolation)))
        if graded:
            row.update(raw_score=submission.score, score=max(0.0, submission.score - penalty),
                       status="flagged" if problems else "ok")
        else:
            row.update(raw_score="", score="", status="not graded")
        return row
