"""A term in miniature: one class through nbgrader's own commands, over a local exchange.

In a temporary copy of the course, the instructor generates and releases
a1_rnn_bptt; three students fetch it, fill it in (one right, one partly wrong,
one whose notebook kills its kernel) and submit; more submissions are placed
straight into the submitted folder, as collect would leave them: an empty one,
every integrity trick, and every way a notebook can be broken. Then one collect,
one autograde, feedback released and fetched, and one export. Every test below
reads the results of that single run.

The oracle for the scores is the assignment's point table: a part earns its
points when its answer is right, nothing otherwise; a trick earns what an empty
answer earns.
"""

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, copy_checkout

pytestmark = pytest.mark.slow

ASSIGNMENT = "a1_rnn_bptt"
COURSE = "lstm-course"
POINTS = {"test_rnn_step_forward": 2, "test_rnn_step_backward": 3, "test_rnn_forward": 2,
          "test_rnn_backward": 3, "test_gradient_norms": 2, "test_estimate_growth_factor": 1,
          "answer_slope": 2}
AUTO_POINTS = sum(points for name, points in POINTS.items() if name.startswith("test_"))
CELL_TIMEOUT = 10  # seconds; the infinite loop costs this once


def solution_sources():
    """grade id -> source of every answer cell of the source notebook (the instructor's answers)."""
    source = nbformat.read(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]: cell.source for cell in source.cells
            if cell.metadata.get("nbgrader", {}).get("solution")}


RIGHT = solution_sources()

# Wrong answers of the right shapes: what the tricks are paired with.
ZEROS = {
    "rnn_step_forward": "def rnn_step_forward(x, h_prev, W_ih, W_hh, b):\n"
                        "    return np.zeros((x.shape[0], W_hh.shape[0])), (x, h_prev, W_ih, W_hh)",
    "rnn_step_backward": "def rnn_step_backward(dh, cache):\n"
                         "    x, h_prev, W_ih, W_hh = cache\n"
                         "    return (np.zeros_like(x), np.zeros_like(h_prev), np.zeros_like(W_ih),\n"
                         "            np.zeros_like(W_hh), np.zeros(W_hh.shape[0]))",
    "rnn_forward": "def rnn_forward(x, h0, W_ih, W_hh, b):\n"
                   "    return np.zeros(x.shape[:2] + (W_hh.shape[0],)), (x, h0, W_ih, W_hh)",
    "rnn_backward": "def rnn_backward(dhs, cache):\n"
                    "    x, h0, W_ih, W_hh = cache\n"
                    "    return (np.zeros_like(x), np.zeros_like(h0), np.zeros_like(W_ih),\n"
                    "            np.zeros_like(W_hh), np.zeros(W_hh.shape[0]))",
    "gradient_norms": "def gradient_norms(x, h0, W_ih, W_hh, b):\n"
                      "    return np.ones(x.shape[0] + 1)",
    "estimate_growth_factor": "def estimate_growth_factor(norms):\n    return 1.0",
}

TRICK_IMPORT = {
    "rnn_step_forward": "def rnn_step_forward(x, h_prev, W_ih, W_hh, b):\n"
                        "    import lstm_ref.rnn\n"
                        "    return lstm_ref.rnn.rnn_step_forward(x, h_prev, W_ih, W_hh, b)",
    "rnn_step_backward": "def rnn_step_backward(dh, cache):\n"
                         "    from lstm_ref.rnn import rnn_step_backward as reference\n"
                         "    return reference(dh, cache)",
    "rnn_forward": "import importlib\n"
                   "def rnn_forward(x, h0, W_ih, W_hh, b):\n"
                   "    return importlib.import_module('lstm_ref.rnn').rnn_forward(x, h0, W_ih, W_hh, b)",
    "rnn_backward": "def rnn_backward(dhs, cache):\n"
                    "    return __import__('lstm_ref.rnn', fromlist=['rnn']).rnn_backward(dhs, cache)",
    "gradient_norms": "import lstm_course.grading\n"
                      "def gradient_norms(x, h0, W_ih, W_hh, b,\n"
                      "                   _reference=lstm_course.grading._reference_gradient_norms):\n"
                      "    return _reference(x, h0, W_ih, W_hh, b)",
    "estimate_growth_factor": "from lstm_course.grading import _reference_growth\n"
                              "def make():\n"
                              "    reference = _reference_growth\n"
                              "    def estimate_growth_factor(norms):\n"
                              "        return reference(norms)\n"
                              "    return estimate_growth_factor\n"
                              "estimate_growth_factor = make()",
}

TRICK_ALIAS = {
    "rnn_step_forward": "from lstm_ref.rnn import rnn_step_forward",
    "rnn_step_backward": "from lstm_ref.rnn import rnn_step_backward",
    "rnn_forward": "import lstm_ref.rnn\nrnn_forward = lstm_ref.rnn.rnn_forward",
    "rnn_backward": "import functools, lstm_ref.rnn\nrnn_backward = functools.partial(lstm_ref.rnn.rnn_backward)",
}

PATCH_CHECKERS = (
    "import math, numpy, numpy.testing, lstm_ref.gradcheck\n"
    "numpy.allclose = lambda *a, **k: True\n"
    "numpy.array_equal = lambda *a, **k: True\n"
    "numpy.testing.assert_allclose = lambda *a, **k: None\n"
    "math.isclose = lambda *a, **k: True\n"
    "lstm_ref.gradcheck.rel_error = lambda a, b: 0.0\n")

PATCH_HELPER = (
    "import unittest.mock, lstm_course.grading as grading\n"
    "def passes(*args, **kwargs):\n"
    "    return None\n"
    "for attempt in (lambda: setattr(grading, 'grade', passes),\n"
    "                lambda: setattr(grading, 'check', passes),\n"
    "                lambda: grading.__dict__.__setitem__('grade', passes),\n"
    "                lambda: grading.SPECS.__setitem__('rnn_step_forward', None),\n"
    "                lambda: unittest.mock.patch.object(grading, 'verdict', passes).start()):\n"
    "    try:\n"
    "        attempt()\n"
    "    except Exception as refused:\n"
    "        print('refused:', refused)\n")

FAKE_GRADING = "def check(*args, **kwargs):\n    pass\n\ndef grade(*args, **kwargs):\n    pass\n"


def fill(nb, answers):
    """Put ``answers`` (grade id -> source) into the answer cells of a notebook."""
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb


def insert_after(nb, grade_id, source):
    """Add a plain code cell after the cell with ``grade_id``."""
    index = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return nb


def grade_cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def released():
    return nbformat.read(ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)


def bob_answers():
    """Parts 1-3 and 5 right; BPTT forgets the loss's gradient before the last step; 6 and 7 blank."""
    answers = {k: RIGHT[k] for k in ("rnn_step_forward", "rnn_step_backward", "rnn_forward", "gradient_norms")}
    answers["rnn_backward"] = (
        "def rnn_backward(dhs, cache):\n"
        "    T = len(cache)\n"
        "    dx, dW_ih, dW_hh, db = [None] * T, 0, 0, 0\n"
        "    dh = dhs[-1]\n"
        "    for t in reversed(range(T)):\n"
        "        dx[t], dh, a, b_, c = rnn_step_backward(dh, cache[t])\n"
        "        dW_ih, dW_hh, db = dW_ih + a, dW_hh + b_, db + c\n"
        "    return np.stack(dx), dh, dW_ih, dW_hh, db")
    return answers


def submissions_in_place():
    """Student id -> (notebook, or text for a broken file; extra files) placed in submitted/."""
    right = fill(released(), RIGHT)
    duplicated = fill(released(), RIGHT)
    copy = nbformat.from_dict(grade_cell(duplicated, "test_rnn_forward"))
    copy["id"] = "a-copy-of-test-rnn-forward"  # the notebook format wants unique cell ids
    duplicated.cells.insert(len(duplicated.cells) - 1, copy)
    deleted = fill(released(), RIGHT)
    deleted.cells.remove(grade_cell(deleted, "test_rnn_forward"))
    edited = fill(released(), ZEROS)
    for cell in edited.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "pass  # every test passes now"
            cell.metadata["nbgrader"]["points"] = 100
    return {
        "empty": (released(), {}),
        "trick_import": (fill(released(), TRICK_IMPORT), {}),
        "trick_alias": (fill(released(), {**ZEROS, **TRICK_ALIAS}), {}),
        "trick_checkers": (fill(released(), {**ZEROS, "rnn_step_forward": PATCH_CHECKERS + ZEROS["rnn_step_forward"]}), {}),
        "trick_helper": (fill(released(), {**ZEROS, "rnn_step_forward": PATCH_HELPER + ZEROS["rnn_step_forward"]}), {}),
        "trick_edit": (edited, {}),
        "trick_shadow": (fill(released(), ZEROS), {
            "lstm_ref.py": FAKE_GRADING, "grading.py": FAKE_GRADING,
            "lstm_ref/__init__.py": "", "lstm_ref/grading.py": FAKE_GRADING}),
        "broken_exception": (insert_after(fill(released(), RIGHT), "rnn_forward", "undefined_name + 1"), {}),
        "broken_loop": (insert_after(fill(released(), RIGHT), "rnn_forward", "while True:\n    pass"), {}),
        "broken_flood": (insert_after(fill(released(), RIGHT), "rnn_forward",
                                      "for line in range(200_000):\n    print(line)"), {}),
        "broken_json": ('{"cells": [ {"cell_type": "code", "source": "x = 1" ', {}),
        "broken_duplicate": (duplicated, {}),
        "broken_deleted": (deleted, {}),
    }


EXCHANGE_STUDENTS = {
    "alice": lambda: fill(released(), RIGHT),
    "bob": lambda: fill(released(), bob_answers()),
    "carol": lambda: insert_after(
        fill(released(), {k: RIGHT[k] for k in ("rnn_step_forward", "rnn_step_backward")}),
        "test_rnn_step_backward", "import os\nos._exit(1)"),
}


class Term:
    """What the run leaves behind: the course folder, the students' folders, logs, the CSV."""

    def __init__(self, root, exchange, students_dir):
        self.root, self.exchange, self.students_dir = root, exchange, students_dir
        self.logs = {}
        self.rows = {}

    def work(self, *parts):
        return self.root / "nbgrader_work" / Path(*parts)

    def autograded(self, student):
        path = self.work("autograded", student, ASSIGNMENT, f"{ASSIGNMENT}.ipynb")
        return nbformat.read(path, as_version=4) if path.exists() else None


def run(args, cwd, env, expect=0):
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                            capture_output=True, text=True)
    if expect is not None and result.returncode != expect:
        raise AssertionError(f"nbgrader {' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}")
    return result


def run_students(commands, env):
    """Run one nbgrader command per student at once: {student: (args, cwd)}."""
    running = {student: subprocess.Popen([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for student, (args, cwd) in commands.items()}
    for student, process in running.items():
        _, err = process.communicate()
        assert process.returncode == 0, f"{student}: nbgrader {commands[student][0]}:\n{err[-3000:]}"


def place_submission(term, student, notebook, extra_files):
    folder = term.work("submitted", student, ASSIGNMENT)
    folder.mkdir(parents=True)
    target = folder / f"{ASSIGNMENT}.ipynb"
    if isinstance(notebook, str):
        target.write_text(notebook, encoding="utf-8")
    else:
        nbformat.write(notebook, target)
    # What nbgrader's exchange writes beside every submission.
    (folder / "timestamp.txt").write_text("2026-01-15 12:00:00.000000 UTC")
    (folder / "submission_secret.txt").write_text(f"secret-of-{student}")
    for name, text in extra_files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    root = copy_checkout(tmp_path_factory.mktemp("course"))
    shutil.rmtree(root / "nbgrader_work", ignore_errors=True)
    exchange = tmp_path_factory.mktemp("exchange")
    exchange.chmod(0o1777)
    students_dir = tmp_path_factory.mktemp("students")
    term = Term(root, exchange, students_dir)
    env = dict(os.environ, LSTM_COURSE_EXCHANGE=str(exchange), LSTM_COURSE_CELL_TIMEOUT=str(CELL_TIMEOUT),
               JUPYTER_DATA_DIR=str(tmp_path_factory.mktemp("jupyter_data")),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))

    run(["generate_assignment", ASSIGNMENT, "--force"], root, env)
    run(["release_assignment", ASSIGNMENT], root, env)

    student_flags = [f"--course={COURSE}", f"--Exchange.root={exchange}"]
    homes = {student: students_dir / student for student in EXCHANGE_STUDENTS}
    for home in homes.values():
        home.mkdir()
    cache = {s: f"--Exchange.cache={homes[s] / '.nbgrader_cache'}" for s in homes}
    run_students({s: (["fetch_assignment", ASSIGNMENT, *student_flags, cache[s]], homes[s]) for s in homes}, env)
    for student, make in EXCHANGE_STUDENTS.items():
        fetched = homes[student] / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        assert fetched.exists()
        nbformat.write(make(), fetched)
    run_students({s: (["submit", ASSIGNMENT, *student_flags, cache[s], f"--student={s}"], homes[s])
                  for s in homes}, env)

    term.logs["collect"] = run(["collect", ASSIGNMENT], root, env)
    for student, (notebook, extra_files) in submissions_in_place().items():
        place_submission(term, student, notebook, extra_files)

    # One submission cannot be graded (invalid JSON): autograde says so with exit 1.
    term.logs["autograde"] = run(["autograde", ASSIGNMENT], root, env, expect=1)
    term.logs["feedback"] = run(["generate_feedback", ASSIGNMENT], root, env)
    term.logs["release_feedback"] = run(["release_feedback", ASSIGNMENT], root, env)
    run_students({s: (["fetch_feedback", ASSIGNMENT, *student_flags, cache[s], f"--student={s}"], homes[s])
                  for s in homes}, env)
    run(["export", "--to", str(root / "grades.csv")], root, env)
    with open(root / "grades.csv", newline="", encoding="utf-8") as stream:
        term.rows = {row["student_id"]: row for row in csv.DictReader(stream)}
    return term


def score(term, student):
    return term.rows[student]["score"]


# --- scores ------------------------------------------------------------------------------------

def test_every_submission_has_one_row_with_the_maximum_score(term):
    expected = set(EXCHANGE_STUDENTS) | set(submissions_in_place())
    assert set(term.rows) == expected
    assert {row["max_score"] for row in term.rows.values()} == {str(float(sum(POINTS.values())))}


def test_the_right_answers_earn_every_automatic_point(term):
    """Alice's written answer waits for a human; every automatic part is hers."""
    assert float(score(term, "alice")) == AUTO_POINTS
    assert term.rows["alice"]["status"] == "ok", term.rows["alice"]["problems"]


def test_a_partly_wrong_submission_earns_its_right_parts(term):
    expected = sum(POINTS[f"test_{part}"] for part in
                   ("rnn_step_forward", "rnn_step_backward", "rnn_forward", "gradient_norms"))
    assert float(score(term, "bob")) == expected
    assert term.rows["bob"]["status"] == "ok"


def test_the_released_notebook_scores_zero(term):
    assert float(score(term, "empty")) == 0.0
    assert term.rows["empty"]["status"] == "ok"


def test_the_parts_before_a_dying_kernel_keep_their_points_and_the_death_is_reported(term):
    row = term.rows["carol"]
    assert float(row["score"]) == POINTS["test_rnn_step_forward"] + POINTS["test_rnn_step_backward"]
    assert row["status"] == "flagged" and "kernel died" in row["problems"]


@pytest.mark.parametrize("student", [s for s in submissions_in_place() if s.startswith("trick_")])
def test_an_integrity_trick_scores_what_an_empty_answer_scores(term, student):
    assert score(term, student) == score(term, "empty"), term.rows[student]["problems"]


def test_calling_the_reference_is_named_in_the_graded_notebook(term):
    outputs = "\n".join(output.get("evalue", "") for cell in term.autograded("trick_import").cells
                        for output in cell.get("outputs", []))
    for called in ("rnn.rnn_step_forward", "rnn.rnn_forward", "grading._reference_gradient_norms",
                   "grading._reference_growth"):
        assert f"called lstm_ref.{called} while it was being graded" in outputs


def test_answers_that_mention_the_reference_are_flagged_for_review(term):
    for student in ("trick_import", "trick_alias", "trick_helper"):
        assert "review" in term.rows[student]["problems"], student


def test_edited_tests_and_points_are_restored_from_the_gradebook(term):
    graded = term.autograded("trick_edit")
    source = nbformat.read(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    for grade_id, points in POINTS.items():
        if not grade_id.startswith("test_"):
            continue
        restored, original = grade_cell(graded, grade_id), grade_cell(source, grade_id)
        assert restored.source == original.source  # hidden tests included
        assert restored.metadata["nbgrader"]["points"] == points
    row = term.rows["trick_edit"]
    assert "test cell edited" in row["problems"] and "points changed" in row["problems"]


def test_submitted_files_beside_the_notebook_are_not_copied_for_grading(term):
    folder = term.work("autograded", "trick_shadow", ASSIGNMENT)
    assert not (folder / "lstm_ref.py").exists() and not (folder / "lstm_ref").exists()
    assert not (folder / "grading.py").exists()
    row = term.rows["trick_shadow"]
    assert row["status"] == "flagged" and "file ignored in lstm_ref.py" in row["problems"]


# --- robustness --------------------------------------------------------------------------------

@pytest.mark.parametrize("student, problem", [
    ("broken_exception", "exception"), ("broken_loop", "timeout"),
    ("broken_flood", "output truncated"), ("broken_duplicate", "test cell duplicated"),
    ("broken_deleted", "test cell deleted"),
])
def test_a_broken_notebook_is_graded_to_the_end_and_flagged_with_its_reason(term, student, problem):
    row = term.rows[student]
    assert row["status"] == "flagged" and problem in row["problems"], row["problems"]
    assert float(row["score"]) == AUTO_POINTS


def test_a_notebook_that_is_not_json_is_reported_not_graded_without_a_score(term):
    row = term.rows["broken_json"]
    assert row["status"] == "not graded"
    assert row["score"] == "" and row["raw_score"] == ""
    assert "not a valid notebook" in row["problems"]
    assert "broken_json" in term.logs["autograde"].stderr


def test_the_flood_of_output_is_truncated_in_the_graded_notebook(term):
    lines = sum(output.get("text", "").count("\n") for cell in term.autograded("broken_flood").cells
                for output in cell.get("outputs", []) if output.get("output_type") == "stream")
    assert lines < 5000


def test_a_bad_submission_loses_nothing_of_the_others(term):
    graded = {student for student in term.rows if term.autograded(student) is not None}
    assert graded == set(term.rows) - {"broken_json"}


def test_flagged_submissions_are_flagged_in_the_gradebook(term):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{term.work('gradebook.db')}") as gradebook:
        for student, row in term.rows.items():
            if row["status"] in ("flagged",):
                submitted = gradebook.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
                assert submitted.flagged, student


# --- feedback ----------------------------------------------------------------------------------

def feedback_files(term):
    return sorted(term.work("feedback").glob(f"*/{ASSIGNMENT}/{ASSIGNMENT}.html"))


def test_every_graded_submission_has_feedback(term):
    students = {path.parent.parent.name for path in feedback_files(term)}
    assert students == set(term.rows) - {"broken_json"}


def test_feedback_never_shows_the_hidden_tests(term):
    for path in feedback_files(term):
        text = path.read_text(encoding="utf-8")
        assert "HIDDEN TESTS" not in text, path
        assert "import grade" not in text and "grade(&quot;" not in text and 'grade("' not in text, path


def test_feedback_says_what_went_wrong(term):
    def feedback(student):
        return term.work("feedback", student, ASSIGNMENT, f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
    assert "kernel died" in feedback("carol")
    assert "timeout" in feedback("broken_loop")
    assert "look at the gradient that flows back" in feedback("bob") or "add dhs[t]" in feedback("bob")


def test_students_fetch_their_own_feedback(term):
    for student in EXCHANGE_STUDENTS:
        fetched = list((term.students_dir / student / ASSIGNMENT / "feedback").glob(f"*/{ASSIGNMENT}.html"))
        assert len(fetched) == 1, student
        released = term.work("feedback", student, ASSIGNMENT, f"{ASSIGNMENT}.html")
        assert fetched[0].read_bytes() == released.read_bytes(), student
