"""Time autograding with the sandbox: per submission for each assignment, and a class of 200.

    python bench/bench_autograde.py                       # both measurements
    python bench/bench_autograde.py --per-submission      # every assignment, n submissions each
    python bench/bench_autograde.py --class-size 200      # a3: one worker, then two

* **per submission**: ``nbgrader autograde`` with one worker on 1 and then on n copies of
  the course's answers, in a temporary copy of the course; the difference divided by
  n − 1 is the cost of one more submission, sandboxed kernel start included.
  Targets: 3 s, and 5 s for a4 (PyTorch).
* **a large class**: ``nbgrader autograde`` of a3 over a class of 200 (right answers,
  answers of zeros and stubs, in turn), with ``--GradeInSandbox.workers=1`` and then
  ``=2``. Target: 3 minutes on 2 cores.

A timing is a measurement, not a test: it depends on the machine and on what else runs
on it, so the script prints the load average beside its numbers.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "course")]

from class_helpers import (fill, place_submission, released, solution_sources)  # noqa: E402
from conftest import copy_checkout  # noqa: E402
from lstm_course.parts import ASSIGNMENTS  # noqa: E402

A3_ZEROS = {"numerical_gradient": "def numerical_gradient(f, x, df, eps=1e-6):\n    return 0 * x"}


def new_course():
    course = copy_checkout(Path(tempfile.mkdtemp(prefix="bench-course-")))
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    return course, env


def nbgrader(course, env, *args):
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"nbgrader {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result


def autograde_seconds(course, env, assignment, notebooks, workers):
    """Wall time of one `nbgrader autograde` over ``notebooks`` (one per student)."""
    for folder in ("autograded", "submitted"):
        shutil.rmtree(course / "nbgrader_work" / folder, ignore_errors=True)
    for index, notebook in enumerate(notebooks):
        place_submission(course, assignment, f"student{index:03d}", notebook)
    start = time.perf_counter()
    nbgrader(course, env, "autograde", assignment, f"--GradeInSandbox.workers={workers}")
    return time.perf_counter() - start


def per_submission(course, env, n):
    print(f"autograde per submission, one worker, sandboxed (load average {os.getloadavg()[0]:.1f})")
    print("| assignment | 1 submission (s) | one more submission (s) |")
    print("|---|---|---|")
    for assignment in ASSIGNMENTS:
        nbgrader(course, env, "generate_assignment", assignment, "--force")
        right = fill(released(assignment), solution_sources(assignment))
        one = autograde_seconds(course, env, assignment, [right], workers=1)
        many = autograde_seconds(course, env, assignment, [right] * n, workers=1)
        print(f"| {assignment} | {one:.1f} | {(many - one) / (n - 1):.2f} |", flush=True)


def large_class(course, env, size):
    assignment = "a3_lstm_backward"
    nbgrader(course, env, "generate_assignment", assignment, "--force")
    kinds = [fill(released(assignment), solution_sources(assignment)),
             fill(released(assignment), A3_ZEROS), released(assignment)]
    notebooks = [nbformat.from_dict(kinds[i % len(kinds)]) for i in range(size)]
    print(f"\na3_lstm_backward, a class of {size} (load average {os.getloadavg()[0]:.1f}, "
          f"{os.cpu_count()} cores)")
    print("| workers | wall time | per submission |")
    print("|---|---|---|")
    for workers in (1, 2):
        seconds = autograde_seconds(course, env, assignment, notebooks, workers)
        print(f"| {workers} | {seconds / 60:.1f} min ({seconds:.0f} s) | {seconds / size:.2f} s |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-submission", action="store_true", help="only the per-submission table")
    parser.add_argument("--class-size", type=int, default=200, help="the large class (0: skip)")
    parser.add_argument("-n", type=int, default=4, help="submissions per assignment for the per-submission cost")
    args = parser.parse_args()
    course, env = new_course()
    try:
        per_submission(course, env, args.n)
        if not args.per_submission and args.class_size:
            large_class(course, env, args.class_size)
    finally:
        shutil.rmtree(course, ignore_errors=True)


if __name__ == "__main__":
    main()
