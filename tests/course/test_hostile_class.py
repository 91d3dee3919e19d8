"""A hostile class, graded with nbgrader's own commands: no attack earns more than a stub.

For a2 and a3, a class is placed in the submitted folder as collect leaves it: the
released notebook (every answer a stub), the course's answers, answers written
differently, answers of the right shapes that are all zeros, and one submission per
attack on the grading, each with stub answers (or, for the ones that try to borrow the
reference or PyTorch, with answers that call them). Then ``nbgrader autograde`` (in
parallel workers) and ``nbgrader export``, twice.

The oracle is the assignment's point table: right answers earn every automatic point,
a stub earns 0, and an attack earns what the stub earns. A right submission graded
after every attack still earns full marks, every submission has its row, the gradebook
holds only what grading wrote, and a regrade gives the same scores.
"""

import pytest

from class_helpers import (answer_sources, autograded, export, fill, insert_after, nbgrader, new_course,
                           place_submission, points, released, solution_sources)

pytestmark = pytest.mark.slow

ASSIGNMENTS = ["a2_lstm_forward", "a3_lstm_backward"]
# A part no other part calls: an answer to it that never returns costs that part alone.
SLOW_PART = {"a2_lstm_forward": "concat_weights", "a3_lstm_backward": "lstm_backward"}
REGRADED = "a3_lstm_backward"  # autograded twice, --force the second time

ZEROS = {
    "a2_lstm_forward": {
        "sigmoid": "def sigmoid(z):\n    return np.zeros_like(z)",
        "lstm_step_forward": "def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b):\n"
                             "    return np.zeros_like(h_prev), np.zeros_like(c_prev), None",
        "lstm_forward": "def lstm_forward(x, h0, c0, W_ih, W_hh, b):\n"
                        "    zeros = np.zeros((len(x),) + h0.shape)\n    return zeros, zeros, None",
        "lstm_parameter_count": "def lstm_parameter_count(D, H):\n    return 0",
        "concat_weights": "def concat_weights(W_ih, W_hh):\n"
                          "    return np.zeros((W_ih.shape[0], W_hh.shape[1] + W_ih.shape[1]))",
        "lstm_step_forward_concat": "def lstm_step_forward_concat(x, h_prev, c_prev, W, b):\n"
                                    "    return np.zeros_like(h_prev), np.zeros_like(c_prev)",
    },
    "a3_lstm_backward": {
        "numerical_gradient": "def numerical_gradient(f, x, df, eps=1e-6):\n    return np.zeros_like(x)",
        "lstm_step_backward": "def lstm_step_backward(dh, dc, cache):\n"
                              "    return (np.zeros_like(cache.x), np.zeros_like(dh), np.zeros_like(dc),\n"
                              "            np.zeros_like(cache.W_ih), np.zeros_like(cache.W_hh),\n"
                              "            np.zeros(cache.W_ih.shape[0]))",
        "lstm_backward": "def lstm_backward(dhs, caches, dcT=None):\n"
                         "    first = caches[0]\n"
                         "    return (np.zeros((len(caches),) + first.x.shape), np.zeros_like(first.h_prev),\n"
                         "            np.zeros_like(first.c_prev), np.zeros_like(first.W_ih),\n"
                         "            np.zeros_like(first.W_hh), np.zeros(first.W_ih.shape[0]))",
        "check_gradients": "def check_gradients(forward, backward, inputs, seed=0, eps=1e-6):\n"
                           "    return {name: 0.0 for name in inputs}",
    },
}

# Answers that borrow what the grading environment does not hold.
BORROWED = {
    "a2_lstm_forward": {
        "lstm_step_forward": "def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b):\n"
                             "    import torch\n"
                             "    cell = torch.nn.LSTMCell(x.shape[1], h_prev.shape[1]).double()\n"
                             "    with torch.no_grad():\n"
                             "        cell.weight_ih.copy_(torch.as_tensor(W_ih)); cell.weight_hh.copy_(torch.as_tensor(W_hh))\n"
                             "        cell.bias_ih.copy_(torch.as_tensor(b)); cell.bias_hh.zero_()\n"
                             "        h, c = cell(torch.as_tensor(x), (torch.as_tensor(h_prev), torch.as_tensor(c_prev)))\n"
                             "    return h.numpy(), c.numpy(), None",
        "sigmoid": "from lstm_ref.activations import sigmoid",
        "lstm_forward": "import importlib\n"
                        "def lstm_forward(x, h0, c0, W_ih, W_hh, b):\n"
                        "    return importlib.import_module('lstm' + '_ref.lstm').lstm_forward(x, h0, c0, W_ih, W_hh, b)",
    },
    "a3_lstm_backward": {
        "lstm_step_backward": "def lstm_step_backward(dh, dc, cache):\n"
                              "    import torch\n"
                              "    raise RuntimeError('unreachable: torch is not there')",
        "numerical_gradient": "from lstm_ref.gradcheck import numerical_gradient",
        "lstm_backward": "def lstm_backward(dhs, caches, dcT=None):\n"
                         "    namespace = {}\n"
                         "    exec(open(COURSE + '/lstm_ref/lstm.py').read(), namespace)\n"
                         "    return namespace['lstm_backward'](dhs, caches, dcT)",
    },
}

# Each attack is a cell placed right after the set-up cell; the answers stay stubs.
ATTACKS = {
    "kill_everything": """
import os, signal
for pid in [1, os.getppid()] + list(range(2, 64)):
    if pid != os.getpid():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError as error:
            print(pid, error)
os.kill(-1, signal.SIGKILL)
""",
    "forged_reply": """
import json, sys, types
import numpy as np
import lstm_course.client as client
from IPython.display import display

def serve(spec, data, functions):
    spec, arrays = json.loads(spec), client.decode_arrays(data)
    results, outputs = [], {}
    for index, _ in enumerate(spec['cases']):
        inputs = [v for k, v in arrays.items() if k.startswith(f'case{index}/')]
        for position, value in enumerate(inputs):
            outputs[f'case{index}/{position}'] = np.zeros_like(value, dtype=float)
        results.append({'status': 'ok', 'outputs': len(inputs)})
    display({client.REPLY_MIMETYPE: {'results': results, 'arrays': client.encode_arrays(outputs)}}, raw=True)

client.serve = serve
forged = types.ModuleType('lstm_course.client')
forged.serve = serve
sys.modules['lstm_course.client'] = forged
display({client.REPLY_MIMETYPE: {'results': [], 'arrays': ''}}, raw=True)
""",
    "environment": """
import os, site
os.environ.update(LD_PRELOAD='/tmp/evil.so', PYTHONPATH='/tmp/evil', PYTHONSTARTUP='/tmp/evil.py')
os.makedirs('/tmp/evil', exist_ok=True)
open('/tmp/evil/sitecustomize.py', 'w').write('raise SystemExit')
for folder in site.getsitepackages():
    try:
        open(os.path.join(folder, 'sitecustomize.py'), 'w').write('print(1)')
    except OSError as error:
        print('refused:', error)
""",
    "sys_modules": """
import sys, types
import numpy
fake = types.ModuleType('numpy.testing')
fake.assert_allclose = lambda *args, **kwargs: None
sys.modules['numpy.testing'] = fake
numpy.allclose = lambda *args, **kwargs: True
sys.modules['lstm_course.client'] = types.ModuleType('lstm_course.client')
sys.modules['lstm_course'] = types.ModuleType('lstm_course')
""",
    "ipython_hooks": """
ip = get_ipython()
ip.input_transformers_cleanup.append(lambda lines: ['pass\\n'])
ip.events.register('post_run_cell', lambda result: setattr(result, 'error_in_exec', None))
original = ip.run_cell
def run_cell(*args, **kwargs):
    result = original(*args, **kwargs)
    result.error_in_exec = None
    return result
ip.run_cell = run_cell
import sys
sys.excepthook = lambda *args: None
""",
    "gradebook": """
import sqlite3
for path in (COURSE + '/nbgrader_work/gradebook.db', 'gradebook.db', '../gradebook.db'):
    try:
        connection = sqlite3.connect(f'file:{path}?mode=rw', uri=True)
        connection.execute('update grade set extra_credit = 100')
        connection.commit()
        print('wrote', path)
    except Exception as error:
        print('refused', path, error)
""",
    "edit_package": """
import os
import lstm_course, numpy
for folder in {os.path.dirname(lstm_course.__file__), os.path.dirname(numpy.__file__),
               COURSE + '/lstm_course', COURSE + '/lstm_ref'}:
    for name in ('client.py', '__init__.py', 'grading.py', 'rnn.py'):
        try:
            with open(os.path.join(folder, name), 'a') as stream:
                stream.write('\\nraise SystemExit\\n')
            print('edited', folder, name)
        except OSError as error:
            print('refused', folder, name, error)
""",
    "memory": """
blocks = []
try:
    while True:
        blocks.append(bytearray(100 * 2**20))
except MemoryError:
    print('stopped at', len(blocks) * 100, 'MB')
""",
    "fork_bomb": """
import os, time
children = 0
try:
    while children < 100_000:
        if os.fork() == 0:
            time.sleep(120)
            os._exit(0)
        children += 1
except OSError as error:
    print('stopped after', children, 'processes:', error)
""",
    "read_files": """
import os
for path in (COURSE + '/solutions', COURSE + '/nbgrader_work/submitted', COURSE + '/nbgrader_work/course_secret',
             COURSE + '/nbgrader_work/autograded', '/root', '/etc/shadow', '/work'):
    try:
        print(path, os.listdir(path) if os.path.isdir(path) else open(path).read()[:100])
    except OSError as error:
        print('refused', path, error)
""",
    "threads": """
import _thread, time
def meddle():
    for _ in range(400):
        try:
            import lstm_ref
            print('the reference is here')
        except ImportError:
            pass
        time.sleep(0.05)
_thread.start_new_thread(meddle, ())
""",
    "copy_of_the_reference": """
import os
found = [folder for top in ('/usr', '/tmp', '/root') for folder, dirs, files in os.walk(top)
         if 'lstm_ref' in dirs or 'lstm_ref.py' in files]
print('copies of the reference:', found)
""",
}


def submissions(assignment, course_root):
    """Student id -> notebook: the honest ones, every attack, and the right one graded last."""
    right, different = solution_sources(assignment), answer_sources(assignment)
    slow = SLOW_PART[assignment]
    define_course = f"COURSE = {str(course_root)!r}\n"
    class_ = {
        "stub": released(assignment),
        "right": fill(released(assignment), right),
        "different": fill(released(assignment), different),
        "then_zeros": fill(released(assignment), ZEROS[assignment]),
        "attack_borrowed": insert_after(fill(released(assignment), BORROWED[assignment]), "setup",
                                        define_course),
        "slow_part": fill(released(assignment), dict(right, **{slow: right[slow].replace(
            "    ### BEGIN SOLUTION\n", "    ### BEGIN SOLUTION\n    while True:\n        pass\n")})),
        "zz_right_after_all": fill(released(assignment), right),
    }
    for name, code in ATTACKS.items():
        class_[f"attack_{name}"] = insert_after(released(assignment), "setup", define_course + code)
    return class_


class HostileClass:
    def __init__(self, root, env, assignment):
        self.root, self.env, self.assignment = root, env, assignment
        self.points = points(assignment)
        self.total = sum(self.points.values())


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def graded(request, tmp_path_factory):
    assignment = request.param
    root, env = new_course(tmp_path_factory, timeout=10)
    nbgrader(["generate_assignment", assignment, "--force"], root, env)
    class_ = submissions(assignment, root)
    for student, notebook in class_.items():
        place_submission(root, assignment, student, notebook)
    hostile = HostileClass(root, env, assignment)
    hostile.autograde = nbgrader(["autograde", assignment], root, env)
    hostile.rows = export(root, env)
    if assignment == REGRADED:
        hostile.regraded = nbgrader(["autograde", assignment, "--force"], root, env)
        hostile.rows_again = export(root, env, "grades_again.csv")
    return hostile


def score(graded, student):
    return float(graded.rows[student]["score"])


def test_right_answers_earn_every_automatic_point(graded):
    for student in ("right", "different", "zz_right_after_all"):
        assert score(graded, student) == graded.total, graded.rows[student]["problems"]
    assert graded.rows["different"]["status"] == "ok", graded.rows["different"]["problems"]


def test_the_stub_and_answers_of_zeros_earn_nothing(graded):
    assert score(graded, "stub") == 0.0
    assert score(graded, "then_zeros") == 0.0


@pytest.mark.parametrize("attack", ["borrowed", *ATTACKS])
def test_an_attack_earns_no_more_than_the_stub(graded, attack):
    row = graded.rows[f"attack_{attack}"]
    assert row["score"] != "" and float(row["score"]) <= score(graded, "stub"), row["problems"]


def test_a_part_that_never_returns_costs_that_part_only(graded):
    expected = graded.total - graded.points[f"test_{SLOW_PART[graded.assignment]}"]
    assert score(graded, "slow_part") == expected, graded.rows["slow_part"]["problems"]
    graded_nb = autograded(graded.root, "slow_part", graded.assignment)
    outputs = "\n".join(o.get("evalue", "") for c in graded_nb.cells for o in c.get("outputs", []))
    assert "did not finish on the hidden cases" in outputs


def test_every_submission_has_its_row_and_was_graded_in_the_sandbox(graded):
    class_ = submissions(graded.assignment, graded.root)
    assert set(graded.rows) == set(class_)
    for student, row in graded.rows.items():
        assert row["status"] in ("ok", "flagged"), (student, row["problems"])
        assert row["isolation"].startswith("bubblewrap"), (student, row["isolation"])


def test_the_gradebook_holds_only_what_grading_wrote(graded):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{graded.root / 'nbgrader_work' / 'gradebook.db'}") as gradebook:
        for student in graded.rows:
            submission = gradebook.find_submission_notebook(graded.assignment, graded.assignment, student)
            for grade in submission.grades:
                assert not grade.extra_credit, (student, grade.name)
                assert grade.manual_score is None, (student, grade.name)
                if grade.name in graded.points:
                    assert grade.auto_score in (0.0, graded.points[grade.name]), (student, grade.name)


def test_the_attacks_failed_where_they_ran(graded):
    """What the attacks printed: refusals, not successes (the hidden cases never reached them)."""
    def printed(student):
        nb = autograded(graded.root, student, graded.assignment)
        return "\n".join(o.get("text", "") + o.get("evalue", "") for c in nb.cells for o in c.get("outputs", []))
    assert "wrote" not in printed("attack_gradebook") and "refused" in printed("attack_gradebook")
    assert "edited" not in printed("attack_edit_package") and "refused" in printed("attack_edit_package")
    assert "copies of the reference: []" in printed("attack_copy_of_the_reference")
    assert "the reference is here" not in printed("attack_threads")
    assert "stopped after" in printed("attack_fork_bomb")
    assert "stopped at" in printed("attack_memory")
    course_paths = [line for line in printed("attack_read_files").splitlines() if str(graded.root) in line]
    assert len(course_paths) == 4 and all(line.startswith("refused") for line in course_paths)


def test_a_regrade_gives_the_same_scores(graded):
    if graded.assignment != REGRADED:
        pytest.skip(f"regraded once, for {REGRADED}")
    for student, row in graded.rows.items():
        assert graded.rows_again[student]["score"] == row["score"], student


def test_the_log_names_each_submission_as_it_is_graded_with_the_time_left(graded):
    log = graded.autograde.stderr
    assert "sandboxed workers" in log
    assert f"[{len(graded.rows)}/{len(graded.rows)}]" in log and "s left" in log
