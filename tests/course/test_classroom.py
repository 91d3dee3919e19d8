"""A term in miniature: one class through nbgrader's own commands, over a local exchange.

In a temporary copy of the course, the instructor generates and releases
a1_rnn_bptt; three students fetch it, fill it in (one right in their own words, one
partly wrong, one whose notebook kills its kernel) and submit; more submissions are
placed straight into the submitted folder, as collect would leave them: an empty one,
one that copies the published solutions, an edited one, one with files beside the
notebook, and every way a notebook can be broken. Then one collect, one autograde,
feedback released and fetched, and one export. Every test below reads the results of
that single run. (The attacks on the grading itself are in test_hostile_class.py.)

The oracle for the scores is the assignment's point table: a part earns its points
when its answer is right, nothing otherwise.
"""

import os
import shutil

import nbformat
import pytest

from class_helpers import (COURSE, answer_sources, autograded, export, fill, grade_cell, insert_after,
                           nbgrader, place_submission, released as released_of, solution_sources)
from conftest import ROOT, copy_checkout

pytestmark = pytest.mark.slow

ASSIGNMENT = "a1_rnn_bptt"
POINTS = {"test_rnn_step_forward": 2, "test_rnn_step_backward": 3, "test_rnn_forward": 2,
          "test_rnn_backward": 3, "test_gradient_norms": 2, "test_estimate_growth_factor": 1,
          "answer_slope": 2}
AUTO_POINTS = sum(points for name, points in POINTS.items() if name.startswith("test_"))
CELL_TIMEOUT = 5  # seconds; the infinite loop costs this once

RIGHT = solution_sources(ASSIGNMENT)
OWN_WORDS = answer_sources(ASSIGNMENT)

# Wrong answers of the right shapes.
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

FAKE_GRADING = "def check(*args, **kwargs):\n    pass\n"


def released():
    return released_of(ASSIGNMENT)


def bob_answers():
    """Parts 1-3 and 5 right; BPTT forgets the loss's gradient before the last step; 6 and 7 blank."""
    answers = {k: OWN_WORDS[k] for k in ("rnn_step_forward", "rnn_step_backward", "rnn_forward", "gradient_norms")}
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
    duplicated = fill(released(), OWN_WORDS)
    copy = nbformat.from_dict(grade_cell(duplicated, "test_rnn_forward"))
    copy["id"] = "a-copy-of-test-rnn-forward"  # the notebook format wants unique cell ids
    duplicated.cells.insert(len(duplicated.cells) - 1, copy)
    deleted = fill(released(), OWN_WORDS)
    deleted.cells.remove(grade_cell(deleted, "test_rnn_forward"))
    edited = fill(released(), ZEROS)
    for cell in edited.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "pass  # every test passes now"
            cell.metadata["nbgrader"]["points"] = 100
    return {
        "empty": (released(), {}),
        "copied": (fill(released(), RIGHT), {}),
        "trick_edit": (edited, {}),
        "trick_shadow": (fill(released(), ZEROS), {
            "lstm_ref.py": FAKE_GRADING, "client.py": FAKE_GRADING,
            "lstm_course/__init__.py": "", "lstm_course/client.py": FAKE_GRADING}),
        "broken_exception": (insert_after(fill(released(), OWN_WORDS), "rnn_forward", "undefined_name + 1"), {}),
        "broken_loop": (insert_after(fill(released(), OWN_WORDS), "rnn_forward", "while True:\n    pass"), {}),
        "broken_flood": (insert_after(fill(released(), OWN_WORDS), "rnn_forward",
                                      "for line in range(200_000):\n    print(line)"), {}),
        "broken_json": ('{"cells": [ {"cell_type": "code", "source": "x = 1" ', {}),
        "broken_duplicate": (duplicated, {}),
        "broken_deleted": (deleted, {}),
    }


EXCHANGE_STUDENTS = {
    "alice": lambda: fill(released(), OWN_WORDS),
    "bob": lambda: fill(released(), bob_answers()),
    "carol": lambda: insert_after(
        fill(released(), {k: OWN_WORDS[k] for k in ("rnn_step_forward", "rnn_step_backward")}),
        "test_rnn_step_backward", "import os\nos._exit(1)"),
}


class Term:
    """What the run leaves behind: the course folder, the students' folders, logs, the CSV."""

    def __init__(self, root, exchange, students_dir):
        self.root, self.exchange, self.students_dir = root, exchange, students_dir
        self.logs = {}
        self.rows = {}

    def work(self, *parts):
        return self.root.joinpath("nbgrader_work", *parts)

    def autograded(self, student):
        return autograded(self.root, student, ASSIGNMENT)


def run(args, cwd, env, expect=0):
    return nbgrader(args, cwd, env, expect)


def run_students(commands, env):
    """Run one nbgrader command per student at once: {student: (args, cwd)}."""
    import subprocess
    import sys
    running = {student: subprocess.Popen([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for student, (args, cwd) in commands.items()}
    for student, process in running.items():
        _, err = process.communicate()
        assert process.returncode == 0, f"{student}: nbgrader {commands[student][0]}:\n{err[-3000:]}"


@pytest.fixture(scope="module")
def term(tmp_path_factory):
    import sys
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
        place_submission(root, ASSIGNMENT, student, notebook, extra_files)

    # One submission cannot be graded (invalid JSON): autograde says so with exit 1.
    term.logs["autograde"] = run(["autograde", ASSIGNMENT], root, env, expect=1)
    term.logs["feedback"] = run(["generate_feedback", ASSIGNMENT], root, env)
    term.logs["release_feedback"] = run(["release_feedback", ASSIGNMENT], root, env)
    run_students({s: (["fetch_feedback", ASSIGNMENT, *student_flags, cache[s], f"--student={s}"], homes[s])
                  for s in homes}, env)
    term.rows = export(root, env)
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


def test_a_copy_of_the_published_solutions_earns_its_points_and_is_flagged_for_review(term):
    row = term.rows["copied"]
    assert float(row["score"]) == AUTO_POINTS
    assert row["status"] == "flagged" and "published solution" in row["problems"]
    for part in ("rnn_backward", "gradient_norms"):  # the long answers; short ones coincide by necessity
        assert f"review in {part}" in row["problems"]


def test_the_grades_say_each_submission_ran_in_the_sandbox(term):
    for student, row in term.rows.items():
        if student != "broken_json":
            assert row["isolation"].startswith("bubblewrap"), (
                f"{student}: {row['isolation']}, {row['problems']}\n{term.logs['autograde'].stderr[-3000:]}")


def test_edited_tests_and_points_are_restored_from_the_gradebook(term):
    graded = term.autograded("trick_edit")
    source = nbformat.read(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    for grade_id, points in POINTS.items():
        if not grade_id.startswith("test_"):
            continue
        restored, original = grade_cell(graded, grade_id), grade_cell(source, grade_id)
        assert restored.source == original.source
        assert restored.metadata["nbgrader"]["points"] == points
    row = term.rows["trick_edit"]
    assert "test cell edited" in row["problems"] and "points changed" in row["problems"]


def test_submitted_files_beside_the_notebook_are_not_copied_for_grading(term):
    folder = term.work("autograded", "trick_shadow", ASSIGNMENT)
    assert not (folder / "lstm_ref.py").exists() and not (folder / "lstm_course").exists()
    row = term.rows["trick_shadow"]
    assert row["status"] == "flagged" and "file ignored in lstm_ref.py" in row["problems"]
    assert float(row["score"]) == 0.0


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


def test_feedback_shows_no_hidden_case_and_names_the_seed_that_replays_one(term):
    bob = term.work("feedback", "bob", ASSIGNMENT, f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
    assert "replays them" in bob and "seed=" in bob
    for path in feedback_files(term):
        assert "course_secret" not in path.read_text(encoding="utf-8"), path


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
