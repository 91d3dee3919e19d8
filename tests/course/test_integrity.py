"""lstm_course.grading: right answers pass however they are written; tricks and wrong answers fail.

The oracle of a verdict is lstm_ref itself (computed in a fresh interpreter); these
tests check the grader around it: every correct answer of tests/answers.py (loops,
other formulas) passes every hidden test, and each way of getting the reference's
numbers without computing them fails, with a message that says what happened.
The same tricks, as whole submissions graded by nbgrader, are in test_classroom.py.
"""

import functools
import importlib
import math
import shutil
import subprocess
import sys
import textwrap
import threading
import types
import unittest.mock

import numpy as np
import pytest

import answers
import lstm_ref.gradcheck
import lstm_ref.lstm
import lstm_ref.rnn
from conftest import ROOT
from lstm_course import grading

# A backward's answer is graded on its own forward's cache, but a3 gives its students the
# reference's LSTM forward: its backward answers read the reference's caches.
FORWARD_OF = {"rnn_step_backward": answers.rnn_step_forward, "rnn_backward": answers.rnn_forward,
              "lstm_step_backward": lstm_ref.lstm.lstm_step_forward,
              "lstm_backward": lstm_ref.lstm.lstm_forward,
              "gru_step_backward": answers.gru_step_forward}


def answer(name):
    return getattr(answers, name), FORWARD_OF.get(name)


@pytest.mark.parametrize("name", sorted(grading.SPECS))
def test_a_right_answer_written_differently_passes_visible_and_hidden_tests(name):
    function, forward = answer(name)
    grading.check(name, function, forward=forward)
    grading.grade(name, function, forward=forward)


def test_the_visible_test_gives_the_same_verdict_for_the_same_seed():
    wrong = lambda x, h, W_ih, W_hh, b: (np.tanh(x @ W_ih.T + h @ W_hh.T), None)  # noqa: E731
    with pytest.raises(grading.GradingError) as first:
        grading.check("rnn_step_forward", wrong, seed=7)
    with pytest.raises(grading.GradingError) as again:
        grading.check("rnn_step_forward", wrong, seed=7)
    assert str(first.value) == str(again.value)


# --- failures that teach ---------------------------------------------------------------

def failure(name, function, forward=None):
    with pytest.raises((grading.GradingError, NotImplementedError)) as raised:
        grading.grade(name, function, forward=forward)
    return raised.value


def test_a_missing_bias_is_named():
    message = str(failure("rnn_step_forward",
                          lambda x, h, W_ih, W_hh, b: (np.tanh(x @ W_ih.T + h @ W_hh.T), None)))
    assert "only the bias" in message and "look at b" in message


def test_a_wrong_gate_order_points_to_pytorchs_order():
    def gates_ifog(x, h_prev, c_prev, W_ih, W_hh, b):
        H = h_prev.shape[1]
        a = x @ W_ih.T + h_prev @ W_hh.T + b
        i, f, o = (answers.sigmoid(a[:, k * H:(k + 1) * H]) for k in range(3))
        c = f * c_prev + i * np.tanh(a[:, 3 * H:])
        return o * np.tanh(c), c, None
    assert "PyTorch's order i, f, g, o" in str(failure("lstm_step_forward", gates_ifog))


def test_float32_inside_is_caught_and_named():
    def in_float32(x, h_prev, W_ih, W_hh, b):
        single = [a.astype(np.float32) for a in (x, h_prev, W_ih, W_hh, b)]
        h = np.tanh(single[0] @ single[2].T + single[1] @ single[3].T + single[4])
        return h.astype(np.float64), None
    assert "float32" in str(failure("rnn_step_forward", in_float32))


def test_a_float32_result_is_named():
    def returns_float32(x, h_prev, W_ih, W_hh, b):
        return np.tanh(x @ W_ih.T + h_prev @ W_hh.T + b).astype(np.float32), None
    assert "h is float32 but the inputs were float64" in str(failure("rnn_step_forward", returns_float32))


def test_a_wrong_shape_is_named():
    def transposed(x, h_prev, W_ih, W_hh, b):
        return np.tanh(x @ W_ih.T + h_prev @ W_hh.T + b).T, None
    message = str(failure("rnn_step_forward", transposed))
    assert "has shape" in message and "expected (N, H)" in message


def test_changing_an_input_in_place_fails():
    def overwrites(x, h_prev, W_ih, W_hh, b):
        np.tanh(x @ W_ih.T + h_prev @ W_hh.T + b, out=h_prev)
        return h_prev.copy(), None
    assert "changed its input h_prev in place" in str(failure("rnn_step_forward", overwrites))


def test_an_unwritten_part_raises_not_implemented_error():
    def stub(x, h_prev, W_ih, W_hh, b):
        raise NotImplementedError()
    assert isinstance(failure("rnn_step_forward", stub), NotImplementedError)


def test_an_exception_names_the_line_of_the_students_code():
    def wrong_orientation(x, h_prev, W_ih, W_hh, b):
        a = x @ W_ih + h_prev @ W_hh.T + b
        return np.tanh(a), None
    message = str(failure("rnn_step_forward", wrong_orientation))
    assert "raised ValueError" in message and "a = x @ W_ih + h_prev @ W_hh.T + b" in message


def test_a_warning_fails_the_sigmoid_and_does_not_reach_stderr(capfd):
    message = str(failure("sigmoid", lambda z: 1 / (1 + np.exp(-z))))
    assert "overflow" in message
    assert capfd.readouterr().err == ""


def test_a_loop_that_never_ends_fails_after_the_time_limit():
    def never_ends(x, h_prev, W_ih, W_hh, b):
        while True:
            pass
    assert "ran for more than" in str(failure("rnn_step_forward", never_ends))


# --- calling the reference, by any route --------------------------------------------------------

REFERENCE = lstm_ref.rnn.rnn_step_forward


def via_import(x, h_prev, W_ih, W_hh, b):
    import lstm_ref.rnn
    return lstm_ref.rnn.rnn_step_forward(x, h_prev, W_ih, W_hh, b)


def via_from_import(x, h_prev, W_ih, W_hh, b):
    from lstm_ref.rnn import rnn_step_forward
    return rnn_step_forward(x, h_prev, W_ih, W_hh, b)


def via_importlib(x, h_prev, W_ih, W_hh, b):
    return importlib.import_module("lstm_ref.rnn").rnn_step_forward(x, h_prev, W_ih, W_hh, b)


def via_dunder_import(x, h_prev, W_ih, W_hh, b):
    return __import__("lstm_ref.rnn", fromlist=["rnn"]).rnn_step_forward(x, h_prev, W_ih, W_hh, b)


def via_default_argument(x, h_prev, W_ih, W_hh, b, _reference=REFERENCE):
    return _reference(x, h_prev, W_ih, W_hh, b)


def _make_closure():
    reference = REFERENCE

    def via_closure(x, h_prev, W_ih, W_hh, b):
        return reference(x, h_prev, W_ih, W_hh, b)
    return via_closure


def via_global(x, h_prev, W_ih, W_hh, b):
    return REFERENCE(x, h_prev, W_ih, W_hh, b)


def via_thread(x, h_prev, W_ih, W_hh, b):
    result = []
    worker = threading.Thread(target=lambda: result.append(REFERENCE(x, h_prev, W_ih, W_hh, b)))
    worker.start()
    worker.join()
    return result[0]


def via_code_object(x, h_prev, W_ih, W_hh, b):
    copy = types.FunctionType(REFERENCE.__code__, REFERENCE.__globals__)
    return copy(x, h_prev, W_ih, W_hh, b)


def via_removed_profiler(x, h_prev, W_ih, W_hh, b):
    hook = sys.getprofile()
    sys.setprofile(None)
    result = REFERENCE(x, h_prev, W_ih, W_hh, b)
    sys.setprofile(hook)
    return result


def via_another_process(x, h_prev, W_ih, W_hh, b):
    """Another Python could run the reference out of the profiler's sight."""
    subprocess.run([sys.executable, "-c", "import lstm_ref.rnn"], check=True)
    return np.zeros((x.shape[0], W_hh.shape[0])), None


ROUTES = [via_import, via_from_import, via_importlib, via_dunder_import, via_default_argument,
          _make_closure(), via_global, via_thread, via_code_object, REFERENCE,
          functools.partial(REFERENCE)]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: getattr(r, "__name__", "partial"))
def test_calling_the_reference_by_any_route_fails(route):
    message = str(failure("rnn_step_forward", route))
    assert "called lstm_ref.rnn.rnn_step_forward while it was being graded" in message


def test_calling_the_graders_own_reference_fails():
    def via_grader(x, h0, W_ih, W_hh, b):
        return grading._reference_gradient_norms(x, h0, W_ih, W_hh, b)
    assert "called lstm_ref.rnn.rnn_forward" in str(failure("gradient_norms", via_grader))


@pytest.mark.parametrize("route", [via_removed_profiler, via_another_process],
                         ids=["removed profiler", "another process"])
def test_tampering_with_the_guard_or_starting_a_process_fails(route):
    message = str(failure("rnn_step_forward", route))
    assert "while it was being graded" in message and "called" in message


# --- a3: the reference's forward runs as the grader's code, the backward under the guard --------

A3_STEP = lstm_ref.lstm.lstm_step_forward
A3_SEQUENCE = lstm_ref.lstm.lstm_forward


def step_backward_via_reference(dh, dc, cache):
    from lstm_ref.lstm import lstm_step_backward
    return lstm_step_backward(dh, dc, cache)


def step_backward_via_given_forward(dh, dc, cache):
    """Runs the forward a3 gives (the reference's) again, inside the graded backward."""
    b = np.zeros(cache.W_ih.shape[0])
    A3_STEP(cache.x, cache.h_prev, cache.c_prev, cache.W_ih, cache.W_hh, b)
    return answers.lstm_step_backward(dh, dc, cache)


def sequence_backward_via_reference_steps(dhs, cache, dcT=None):
    """BPTT by hand, each step's gradients from the reference's step backward."""
    i, f, g, o = cache.gates
    dh, dc = np.zeros_like(cache.h0), (np.zeros_like(cache.c0) if dcT is None else dcT)
    dx, dW_ih, dW_hh, db = np.zeros_like(cache.x), 0, 0, 0
    for t in reversed(range(len(cache.x))):
        step = lstm_ref.lstm.LSTMStepCache(
            cache.x[t], cache.hs[t - 1] if t else cache.h0, cache.cs[t - 1] if t else cache.c0,
            cache.W_ih, cache.W_hh, i[t], f[t], g[t], o[t], cache.cs[t], cache.tanh_cs[t])
        dx[t], dh, dc, a, b, c = lstm_ref.lstm.lstm_step_backward(dhs[t] + dh, dc, step)
        dW_ih, dW_hh, db = dW_ih + a, dW_hh + b, db + c
    return dx, dh, dc, dW_ih, dW_hh, db


A3_TRICKS = [
    ("lstm_step_backward", step_backward_via_reference, A3_STEP, "lstm_step_backward"),
    ("lstm_step_backward", lstm_ref.lstm.lstm_step_backward, A3_STEP, "lstm_step_backward"),
    ("lstm_step_backward", step_backward_via_given_forward, A3_STEP, "lstm_step_forward"),
    ("lstm_backward", sequence_backward_via_reference_steps, A3_SEQUENCE, "lstm_step_backward"),
    ("lstm_backward", functools.partial(lstm_ref.lstm.lstm_backward), A3_SEQUENCE, "lstm_backward"),
]


@pytest.mark.parametrize("name, backward, forward, called", A3_TRICKS,
                         ids=["import", "alias", "given forward", "reference steps", "partial"])
@pytest.mark.parametrize("test", [grading.check, grading.grade], ids=["visible", "hidden"])
def test_an_a3_backward_that_calls_the_reference_fails_though_its_forward_is_the_reference(
        test, name, backward, forward, called):
    with pytest.raises(grading.GradingError) as raised:
        test(name, backward, forward=forward)
    assert f"{name} called lstm_ref.lstm.{called} while it was being graded" in str(raised.value)


def wrapped_forward(x, h_prev, c_prev, W_ih, W_hh, b):
    return A3_STEP(x, h_prev, c_prev, W_ih, W_hh, b)


@pytest.mark.parametrize("forward", [
    wrapped_forward, functools.partial(A3_STEP), types.FunctionType(A3_STEP.__code__, A3_STEP.__globals__),
    A3_SEQUENCE,  # a reference forward, but not the one of this backward
], ids=["wrapper", "partial", "copy of its code", "another reference forward"])
def test_only_the_reference_forward_object_itself_runs_as_the_graders_code(forward):
    with pytest.raises(grading.GradingError) as raised:
        grading.grade("lstm_step_backward", answers.lstm_step_backward, forward=forward)
    assert "lstm_step_forward called lstm_ref.lstm." in str(raised.value)


def test_the_reference_forward_with_another_code_object_is_not_trusted(monkeypatch):
    assert grading._trusted_forward(A3_STEP, "lstm_step_forward") == {A3_STEP.__code__}
    monkeypatch.setattr(A3_STEP, "__code__", wrapped_forward.__code__)
    assert grading._trusted_forward(A3_STEP, "lstm_step_forward") == frozenset()


# --- patching the checker ----------------------------------------------------------------------

def zeros_answer(x, h_prev, W_ih, W_hh, b):
    return np.zeros((x.shape[0], W_hh.shape[0])), None


def test_patched_comparisons_in_the_kernel_do_not_change_the_verdict(monkeypatch):
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(np.testing, "assert_allclose", lambda *a, **k: None)
    monkeypatch.setattr(np, "array_equal", lambda *a, **k: True)
    monkeypatch.setattr(math, "isclose", lambda *a, **k: True)
    monkeypatch.setattr(lstm_ref.gradcheck, "rel_error", lambda a, b: 0.0)
    with pytest.raises(grading.GradingError, match="relative error"):
        grading.grade("rnn_step_forward", zeros_answer)


def test_a_replayed_answer_cannot_predict_the_hidden_seed(monkeypatch):
    """Answers precomputed for known cases pass the visible test, never the hidden one."""
    known = {}
    for case in grading._cases("rnn_step_forward", 0):
        key = b"".join(v.tobytes() for v in case.inputs.values())
        known[key] = REFERENCE(*case.inputs.values())[0]

    def replay(x, h_prev, W_ih, W_hh, b):
        key = b"".join(v.tobytes() for v in (x, h_prev, W_ih, W_hh, b))
        return known.get(key, np.zeros((x.shape[0], W_hh.shape[0]))), None

    grading.check("rnn_step_forward", replay, seed=0)
    monkeypatch.setattr("os.urandom", lambda n: bytes(n))  # the kernel's randomness is not used
    with pytest.raises(grading.GradingError):
        grading.grade("rnn_step_forward", replay)


def test_a_fake_python_executable_is_not_used(monkeypatch, tmp_path):
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\nprintf '1 {grading.PACKAGE_DIRS[0]}\\n'\ncat > /dev/null\nprintf PASS\n")
    fake.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake))
    with pytest.raises(grading.GradingError):
        grading.grade("rnn_step_forward", zeros_answer)


def test_the_grading_module_cannot_be_patched():
    original = grading.grade
    with pytest.raises(AttributeError, match="cannot be changed"):
        grading.grade = lambda *a, **k: None
    with pytest.raises(AttributeError):
        setattr(grading, "check", lambda *a, **k: None)
    with pytest.raises(AttributeError):
        del grading.grade
    with pytest.raises(TypeError):
        grading.__dict__["grade"] = lambda *a, **k: None
    with pytest.raises(TypeError):
        vars(grading)["verdict"] = lambda *a, **k: None
    with pytest.raises(TypeError):
        grading.SPECS["rnn_step_forward"] = None
    with pytest.raises(AttributeError):
        with unittest.mock.patch.object(grading, "grade", lambda *a, **k: None):
            pass
    assert grading.grade is original


# --- shadowing ---------------------------------------------------------------------------------

def run_python(code, cwd):
    """Run code with ``cwd`` first on sys.path, as a notebook's kernel has its own folder."""
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin"})


def test_a_copied_and_edited_lstm_ref_next_to_the_notebook_is_detected(tmp_path):
    shadow = tmp_path / "lstm_ref"
    shutil.copytree(ROOT / "lstm_ref", shadow, ignore=shutil.ignore_patterns("__pycache__"))
    # The shadow's "reference" returns zeros, like the student's wrong answer.
    with open(shadow / "rnn.py", "a", encoding="utf-8") as rnn:
        rnn.write(textwrap.dedent("""
            def rnn_step_forward(x, h_prev, W_ih, W_hh, b):
                return np.zeros((x.shape[0], W_hh.shape[0])), None
        """))
    code = textwrap.dedent("""
        import sys, numpy as np
        sys.path.insert(0, '')
        from lstm_course.grading import grade
        wrong = lambda x, h, Wi, Wh, b: (np.zeros((x.shape[0], Wh.shape[0])), None)
        try:
            grade("rnn_step_forward", wrong)
            print("PASSED")
        except AssertionError as error:
            print(error)
    """)
    result = run_python(code, tmp_path)
    assert "shadows it" in result.stdout, result.stdout + result.stderr
    assert "PASSED" not in result.stdout


def test_a_lstm_ref_py_next_to_the_notebook_breaks_the_import(tmp_path):
    (tmp_path / "lstm_ref.py").write_text("def grade(*args, **kwargs):\n    pass\n")
    result = run_python("import sys; sys.path.insert(0, ''); import lstm_course.grading", tmp_path)
    assert result.returncode != 0 and "cannot import name 'gru' from 'lstm_ref'" in result.stderr


def test_importing_lstm_ref_imports_neither_nbgrader_nor_torch():
    code = ("import sys, lstm_ref, lstm_course.grading; "
            "print(sorted(m for m in ('nbgrader', 'torch', 'lstm_course.plugins') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
