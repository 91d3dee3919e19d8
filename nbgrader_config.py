"""nbgrader's configuration for the course: the repository root is the course root.

Every nbgrader command run from the repository root reads this file:

    nbgrader generate_assignment a1_rnn_bptt      # solutions/ -> exercises/ (+ the gradebook)
    nbgrader release_assignment a1_rnn_bptt       # exercises/ -> the exchange
    nbgrader collect a1_rnn_bptt                  # the exchange -> nbgrader_work/submitted
    nbgrader autograde a1_rnn_bptt                # -> nbgrader_work/autograded (+ grades)
    nbgrader generate_feedback a1_rnn_bptt        # -> nbgrader_work/feedback (HTML)
    nbgrader release_feedback a1_rnn_bptt         # -> the exchange
    nbgrader export --to grades.csv               # one row per student and assignment

Layout. `solutions/<id>/<id>.ipynb` are the source notebooks and
`exercises/<id>/<id>.ipynb` the released ones (both in git). Everything a term
produces — submissions, autograded notebooks, feedback, the gradebook, the
grading reports and, by default, the exchange — lives under `nbgrader_work/`,
which git ignores.

The exchange. nbgrader moves files between instructor and students through
an "exchange" folder that everybody can write. It is the environment
variable LSTM_COURSE_EXCHANGE when set, else `nbgrader_work/exchange` in this
repository (created on first use, for one person trying the whole flow on one
machine). On a shared JupyterHub the exchange is one folder for all users,
e.g. `/srv/nbgrader/exchange` (created by an administrator, mode 1777): set
`c.Exchange.root` and `c.CourseDirectory.course_id` in a system-wide
`/etc/jupyter/nbgrader_config.py` that students read too, or export
LSTM_COURSE_EXCHANGE for the instructor. Any value here can also be given to
one command, e.g. `--Exchange.root=/tmp/exchange`.

Trust. A student's notebook runs in a sandbox; the grades are decided outside it
(lstm_course.autograde), on hidden cases that depend on a course secret kept in
`nbgrader_work/course_secret` (or the file LSTM_COURSE_SECRET_FILE names). Keep that
file: with it, a regrade gives the same cases. Without bubblewrap, autograde
refuses; `--GradeInSandbox.allow_unsandboxed=True` grades anyway and the CSV says so.
`--GradeInSandbox.workers=N` sets the number of parallel graders (default: one per
CPU core).

Robustness. A bad submission must never stop the class or pass for a
plausible 0.0: the plugins of `lstm_course.plugins` restore the test cells and
their metadata from the gradebook, keep grading after a kernel dies, record
every problem (timeouts, crashes, edited or deleted test cells, floods of
output, invalid JSON) in a report per submission, flag it in the gradebook and
in the exported CSV.
"""

import os
import sys

c = get_config()  # noqa: F821 (traitlets defines get_config when it runs this file)

COURSE_ROOT = os.path.dirname(os.path.abspath(__file__))
WORK = "nbgrader_work"

# nbgrader runs `alembic` as a program when it creates a gradebook; from a
# virtual environment that is not activated it is not on PATH, so put the
# environment's own bin folder first.
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

# --- where things are ---------------------------------------------------------------
c.CourseDirectory.root = COURSE_ROOT
c.CourseDirectory.course_id = os.environ.get("LSTM_COURSE_ID", "lstm-course")
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = f"{WORK}/submitted"
c.CourseDirectory.autograded_directory = f"{WORK}/autograded"
c.CourseDirectory.feedback_directory = f"{WORK}/feedback"
c.CourseDirectory.solution_directory = f"{WORK}/solution"
c.CourseDirectory.source_with_tests_directory = f"{WORK}/source_with_tests"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(COURSE_ROOT, WORK, "gradebook.db")
# Only the notebook is graded. A file that a student submits beside it is not
# copied next to the notebook at grading time: a `lstm_ref.py`, a `lstm_ref/`
# folder or any other module there would shadow the course package that the
# hidden tests import.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
    "*.py", "*.pth", "lstm_ref*", "*.so", "sitecustomize*", "usercustomize*",
]

c.Exchange.root = os.environ.get("LSTM_COURSE_EXCHANGE", os.path.join(COURSE_ROOT, WORK, "exchange"))
if c.Exchange.root == os.path.join(COURSE_ROOT, WORK, "exchange") and not os.path.isdir(c.Exchange.root):
    # nbgrader requires an existing exchange that everybody may write (like /tmp).
    os.makedirs(c.Exchange.root, exist_ok=True)
    os.chmod(c.Exchange.root, 0o1777)

os.makedirs(os.path.join(COURSE_ROOT, WORK), exist_ok=True)
c.NbGrader.logfile = os.path.join(COURSE_ROOT, WORK, "nbgrader.log")

# --- autograding: the trust boundary ---------------------------------------------------
# Every submission runs in a bubblewrap sandbox (lstm_course.sandbox), in an environment
# that holds NumPy and matplotlib (and PyTorch for a4) but not the reference; its test
# cells are not run there: lstm_course.autograde grades each part outside the kernel,
# on cases seeded by the course secret below (made on first use, never in git).
c.GradeInSandbox.timeout = int(os.environ.get("LSTM_COURSE_CELL_TIMEOUT", "60"))
c.GradeInSandbox.secret_file = os.environ.get(
    "LSTM_COURSE_SECRET_FILE", os.path.join(COURSE_ROOT, WORK, "course_secret"))
c.GradeInSandbox.environments = os.path.join(COURSE_ROOT, WORK, "grading_environments")
# A printing loop cannot blow up grading or feedback: a cell keeps its first
# 1,000 lines of output, a traceback its first and last lines.
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100
c.Autograde.sanitize_preprocessors = ["lstm_course.plugins.SanitizeSubmission"]
c.Autograde.autograde_preprocessors = [
    "lstm_course.autograde.GradeInSandbox",
    "nbgrader.preprocessors.LimitOutput",
    "lstm_course.plugins.RecordExecution",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# --- feedback: what went wrong, never the hidden tests ----------------------------
c.GenerateFeedback.preprocessors = [
    "lstm_course.plugins.HideHiddenTests",
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# --- export: one CSV row per student and assignment, with a status column ---------
c.ExportApp.plugin_class = "lstm_course.plugins.StatusCsvExportPlugin"
