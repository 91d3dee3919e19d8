"""The assignments where students open them: a fresh environment, the student's extra, nothing else.

A released notebook opened on a bare kernel (a fresh Colab runtime) installs the course
through its own first cell (pointed at this checkout instead of the release on GitHub)
and runs to the end with only its stubs' NotImplementedError; then, in that environment
(what `pip install "lstm-course[student]"` gives), every assignment's notebook filled
with the course's answers runs its set-up cell and every visible test without an error.
"""

import pytest

from conftest import ROOT, copy_checkout
from environments import execute_notebook, fresh_environment, install_jupyter, is_inside, run, user_env
from lstm_course.generate import ASSIGNMENTS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """A fresh environment with a kernel, then the course installed by a released notebook's first cell."""
    checkout = copy_checkout(tmp_path_factory.mktemp("checkout"))
    folder = tmp_path_factory.mktemp("student")
    python = fresh_environment(folder / "venv")
    env = user_env(folder / "home", LSTM_COURSE_SOURCE=checkout.as_uri())
    install_jupyter(python, env=env, cwd=folder)
    missing = run([python, "-c", "import importlib.util as u; print(u.find_spec('lstm_course'))"], env=env, cwd=folder)
    assert missing.strip() == "None", "the fresh environment already has the course"
    content = folder / "content"  # Colab's working folder: the notebook alone
    content.mkdir()
    released = execute_notebook(python, checkout / "exercises/a1_rnn_bptt/a1_rnn_bptt.ipynb", env=env,
                                cwd=content, probe="lstm_course", allow_errors=True)
    return python, env, content, folder, released


def test_a_released_notebook_installs_the_course_and_runs_to_its_stubs(student):
    python, env, content, folder, released = student
    assert is_inside(released["lstm_course"], folder / "venv"), released
    assert released["errors"] and set(released["errors"]) == {"NotImplementedError"}, released["errors"]


def test_the_student_extra_holds_what_the_notebooks_import_and_nothing_of_the_labs_tools(student):
    python, env, content, _, _ = student
    found = run([python, "-c", "import importlib.util as u; print([m for m in "
                 "('numpy', 'matplotlib', 'torch', 'jupytext', 'lstm_ref', 'nbgrader', 'jupyter_book') "
                 "if u.find_spec(m)])"], env=env, cwd=content)
    assert found.strip() == "['numpy', 'matplotlib', 'torch', 'jupytext', 'lstm_ref']"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_assignment_runs_its_visible_tests_with_the_students_extra(student, assignment):
    python, env, content, folder, _ = student
    answered = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    where = execute_notebook(python, answered, env=env, cwd=content, probe="lstm_course")
    assert where["errors"] == [] and is_inside(where["lstm_course"], folder / "venv"), where
