"""Time the grading of the assignments: hidden tests per notebook, and autograde per submission.

    python bench/bench_autograde.py                      # every assignment, 3 submissions each
    python bench/bench_autograde.py a1_rnn_bptt -n 5     # one assignment, 5 submissions

Two numbers per assignment, against the course's targets:

* **hidden tests**: the wall time of every ``grade(...)`` call of the notebook (the
  hidden half of its test cells), run here on the instructor's answers. Each call
  starts a fresh ``python -I`` for its verdict. Target: under 2 s per notebook.
* **autograde per submission**: ``nbgrader autograde`` on 1 and then on n copies of
  the right answers, in a temporary copy of the course; the difference divided by
  n − 1 is the cost of one more submission, kernel start included (the first run
  also pays nbgrader's own start-up, reported apart). Target: under 5 s on 2 cores.

A timing is a measurement, not a test: it depends on the machine and on what else
runs on it, so the script prints the load average beside its numbers.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = ["a1_rnn_bptt", "a2_lstm_forward", "a3_lstm_backward", "a4_weather_lab"]
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


def hidden_test_times(assignment):
    """[(test cell id, seconds)] of the hidden tests, on the source notebook's own answers."""
    source = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    namespace = {}
    times = []
    for cell in source.cells:
        if cell.cell_type != "code":
            continue
        metadata = cell.metadata.get("nbgrader", {})
        if metadata.get("grade"):
            for hidden in HIDDEN.findall(cell.source):
                start = time.perf_counter()
                exec(compile(hidden, metadata["grade_id"], "exec"), namespace)
                times.append((metadata["grade_id"], time.perf_counter() - start))
        elif metadata.get("solution") or metadata.get("locked"):
            exec(compile(cell.source, metadata.get("grade_id", "cell"), "exec"), namespace)
    return times


def autograde_seconds(course, assignment, students, env):
    """Wall time of one `nbgrader autograde` over ``students`` copies of the right answers."""
    shutil.rmtree(course / "nbgrader_work" / "autograded", ignore_errors=True)
    shutil.rmtree(course / "nbgrader_work" / "submitted", ignore_errors=True)
    source = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    released = nbformat.read(ROOT / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in released.cells:
        cell.source = answers.get(cell.metadata.get("nbgrader", {}).get("grade_id"), cell.source)
    for index in range(students):
        folder = course / "nbgrader_work" / "submitted" / f"student{index}" / assignment
        folder.mkdir(parents=True)
        nbformat.write(released, folder / f"{assignment}.ipynb")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nbgrader", "autograde", assignment], cwd=course, env=env,
                   check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", default=ASSIGNMENTS)
    parser.add_argument("-n", "--students", type=int, default=3, help="submissions per run (>= 2)")
    args = parser.parse_args(argv)
    if args.students < 2:
        parser.error("--students must be at least 2")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (1 min) at the start")

    print("\nhidden tests, on the instructor's answers (target: < 2 s per notebook)")
    for assignment in args.assignments:
        times = hidden_test_times(assignment)
        parts = ", ".join(f"{name.removeprefix('test_')} {seconds:.2f}" for name, seconds in times)
        print(f"  {assignment:18s} {sum(s for _, s in times):5.2f} s   ({parts})")

    print(f"\nnbgrader autograde, 1 and {args.students} submissions (target: < 5 s per submission)")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    with tempfile.TemporaryDirectory() as scratch:
        course = Path(scratch)
        shutil.copy2(ROOT / "nbgrader_config.py", course)
        for assignment in args.assignments:
            shutil.copytree(ROOT / "solutions" / assignment, course / "solutions" / assignment)
            subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment],
                           cwd=course, env=env, check=True, capture_output=True)
            one = autograde_seconds(course, assignment, 1, env)
            many = autograde_seconds(course, assignment, args.students, env)
            per_submission = (many - one) / (args.students - 1)
            print(f"  {assignment:18s} {per_submission:5.2f} s per submission "
                  f"(1 submission: {one:.1f} s, {args.students}: {many:.1f} s; "
                  f"nbgrader start-up ≈ {one - per_submission:.1f} s)")
    print(f"\nload average {os.getloadavg()[0]:.1f} (1 min) at the end")


if __name__ == "__main__":
    main()
