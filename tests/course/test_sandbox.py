"""lstm_course.sandbox: what a student's kernel has and has not, checked from inside one.

The grading environment is built from this installation and inspected file by file;
a kernel is started in the sandbox and asked about its world (its user, the network,
the course's folders, the reference, its limits); and nbgrader's autograde refuses to
grade where bubblewrap is missing, unless told to, and then says so in every row.
"""

import os

import nbformat
import pytest

from class_helpers import export, fill, nbgrader, new_course, place_submission, released, solution_sources
from conftest import ROOT
from lstm_course import autograde, sandbox

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def environments(tmp_path_factory):
    return tmp_path_factory.mktemp("environments")


def top_level(environment):
    site = sandbox._site_packages(environment)
    return {entry.name for entry in site.iterdir() if not entry.name.endswith(".dist-info")}


def test_the_numpy_environment_holds_the_notebooks_imports_and_the_client_only(environments):
    environment = sandbox.grading_environment("numpy", environments)
    names = top_level(environment)
    assert {"numpy", "matplotlib", "ipykernel", "IPython", "lstm_course"} <= names
    assert not {"lstm_ref", "lstm_labs", "nbgrader", "torch", "nbclient", "sqlalchemy"} & names
    client = sandbox._site_packages(environment) / "lstm_course"
    assert sorted(entry.name for entry in client.iterdir()) == sorted(sandbox.CLIENT)


def test_the_torch_environment_adds_pytorch_for_a4(environments):
    names = top_level(sandbox.grading_environment("torch", environments))
    assert "torch" in names and "lstm_ref" not in names and "nbgrader" not in names


def test_an_environment_is_rebuilt_only_when_what_it_holds_changes(environments):
    first = sandbox.grading_environment("numpy", environments)
    stamp = (first / "manifest.json").stat().st_mtime_ns
    assert sandbox.grading_environment("numpy", environments) == first
    assert (first / "manifest.json").stat().st_mtime_ns == stamp


PROBES = {
    "user": "import os; print(os.getuid())",
    "network": "import socket\ns = socket.socket(); s.settimeout(2)\nprint(s.connect_ex(('1.1.1.1', 80)))",
    "course": f"import os; print(os.path.exists({str(ROOT)!r}))",
    "reference": "import importlib.util; print(importlib.util.find_spec('lstm_ref'))",
    "write": ("import os, numpy\ntry:\n    open(os.path.join(os.path.dirname(numpy.__file__), 'x.py'), 'w')\n"
              "    print('written')\nexcept OSError as error:\n    print(type(error).__name__)"),
    "runtime": ("import glob, os\nfolder = os.path.dirname(glob.glob('/tmp/lstm-kernel-*/kernel.json')[0])\n"
                "try:\n    open(os.path.join(folder, 'x'), 'w')\n    print('written')\n"
                "except OSError as error:\n    print(type(error).__name__)"),
    "processes": ("import os, time\nn = 0\ntry:\n    while n < 5000:\n        if os.fork() == 0:\n"
                  "            time.sleep(30)\n            os._exit(0)\n        n += 1\nexcept OSError:\n    pass\nprint(n)"),
    "memory": ("try:\n    block = bytearray(8 * 2**30)\n    print('allocated')\nexcept MemoryError:\n"
               "    print('MemoryError')"),
}


@pytest.fixture(scope="module")
def answers_from_inside(environments):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code) for code in PROBES.values()]
    run = autograde.SandboxRun(nb, "a2_lstm_forward", "probe", b"secret", environments, slot=7, timeout=30)
    run.run()
    answers = {name: "".join(o.get("text", "") for o in cell.outputs).strip()
               for name, cell in zip(PROBES, run.nb.cells)}
    return dict(answers, leased=str(run.box.uid))


def test_the_kernel_runs_as_another_user(answers_from_inside):
    if os.geteuid() == 0:
        assert answers_from_inside["user"] == answers_from_inside["leased"]
        assert sandbox.FIRST_UID <= int(answers_from_inside["user"]) < sandbox.FIRST_UID + sandbox.USER_IDS


def test_two_live_sandboxes_never_share_a_user_id(environments):
    """Two graders at once (here, two sandboxes asking for one slot) get different users, so a
    fork bomb in one cannot exhaust the other's process limit; an id is free again after."""
    if os.geteuid() != 0:
        pytest.skip("user ids are leased only when the grader runs as root")
    environment = sandbox.grading_environment("numpy", environments)
    first, second = sandbox.Sandbox(environment, slot=3), sandbox.Sandbox(environment, slot=3)
    try:
        assert first.uid != second.uid
    finally:
        held = first.uid
        first.remove()
        second.remove()
    uid, lease = sandbox.lease_user_id(held)
    os.close(lease)
    assert uid == held


def test_the_kernel_has_no_network(answers_from_inside):
    assert answers_from_inside["network"] != "0"


def test_the_kernel_sees_neither_the_course_nor_the_reference(answers_from_inside):
    assert answers_from_inside["course"] == "False"
    assert answers_from_inside["reference"] == "None"


def test_the_kernel_cannot_write_its_environment_or_its_runtime_folder(answers_from_inside):
    assert answers_from_inside["write"] in ("OSError", "PermissionError")
    assert answers_from_inside["runtime"] == "PermissionError"


def test_the_kernel_has_limits_on_processes_and_memory(answers_from_inside):
    assert int(answers_from_inside["processes"]) < sandbox.PROCESSES
    assert answers_from_inside["memory"] == "MemoryError"


def test_without_bubblewrap_autograde_refuses_unless_told_and_then_says_so(tmp_path_factory):
    assignment = "a2_lstm_forward"
    root, env = new_course(tmp_path_factory)
    nbgrader(["generate_assignment", assignment, "--force"], root, env)
    place_submission(root, assignment, "right", fill(released(assignment), solution_sources(assignment)))
    place_submission(root, assignment, "stub", released(assignment))
    missing = "--GradeInSandbox.bubblewrap=/nowhere/bwrap"
    refused = nbgrader(["autograde", assignment, missing], root, env, expect=1)
    assert "refusing to grade without a sandbox" in refused.stderr
    rows = export(root, env)
    assert {row["status"] for row in rows.values()} == {"not graded"}
    assert all(row["score"] == "" for row in rows.values())
    nbgrader(["autograde", assignment, missing, "--GradeInSandbox.allow_unsandboxed=True"], root, env)
    rows = export(root, env)
    assert float(rows["right"]["score"]) > 0 and float(rows["stub"]["score"]) == 0
    for row in rows.values():
        assert row["status"] == "flagged" and "unsandboxed" in row["problems"]
        assert row["isolation"].startswith("none")
