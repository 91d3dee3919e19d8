"""What the assignments' tests use: a student's function against the reference, fairly and safely.

Every graded part of every assignment is checked by one call here::

    from lstm_course.grading import check, grade
    check("rnn_step_forward", rnn_step_forward)        # visible test: fixed cases, runs here
    grade("rnn_step_forward", rnn_step_forward)        # hidden test: fresh cases, verdict elsewhere
    grade("rnn_step_backward", rnn_step_backward, forward=rnn_step_forward)

Both draw the same kinds of cases: random shapes (one with T = 1 and N = 1),
float64 inputs, and *probes* that zero every term but one, so that a failure
says where to look ("with only b non-zero your h is wrong: look at b"). An
answer passes when every output has the right type, dtype and shape and a
relative error of at most 1e-7 (``lstm_ref.gradcheck.rel_error``) against the
reference, and no input was changed in place. A correct answer written in
another way (loops, another formula) passes; an answer computed in float32
does not, because a *precision* probe lets the pre-activations cancel, which
float32 cannot resolve. A failure raises :class:`GradingError` (an
``AssertionError``) whose message teaches; an unanswered part raises
``NotImplementedError``.

Integrity: what the grading stops
---------------------------------
The student has ``lstm_ref`` installed (the visible tests need it) and the
hidden tests run in the student's own kernel, after the student's code.

* **Calling the reference.** The student's function runs under a profiler
  hook (``sys.setprofile`` and ``threading.setprofile`` for threads it
  starts). Any Python frame whose code lives in the ``lstm_ref`` package fails
  the part, however it was reached: ``import``, ``from … import``,
  ``importlib``, ``__import__``, a default argument, a closure, a global, an
  alias of the reference, ``functools.partial``. Only the functions the
  grader itself hands to the student's code (for example the ``f`` given to
  ``numerical_gradient``) may run reference code. Replacing the hook
  (``sys.setprofile``/``settrace``) or starting a process during the call
  fails the part too.
* **The reference's forward, run by the grader.** A backward is graded on
  the cache of the forward its test passes as ``forward=``. That is usually
  the student's own forward, which runs under the guard like any answer; a3
  gives its students the reference's LSTM forward instead (so that a3 does not
  print a2's answers), and its tests pass it. The grader then runs that
  forward as its own trusted code, on three conditions: the function is the
  very object ``lstm_ref.<module>.<forward>`` that this module captured when it
  was imported (the setup cell imports it before any answer runs), checked by
  identity, never by name; its ``__code__`` is still the package's; and the
  trust covers the forward's call only. The student's backward then runs under
  the full guard, so a backward that calls the reference's forward, its
  backward or anything else of ``lstm_ref`` fails the part as before. A
  wrapper of the reference's forward, a ``functools.partial`` of it or a copy
  of its code is not that object, and runs guarded.
* **Patching the checker.** ``grade`` compares nothing in the kernel: a fresh
  interpreter (``python -I``: no ``PYTHONPATH``, not the notebook's folder, no
  user site) picks the random seed, rebuilds the cases from it, computes the
  reference and the verdict. So replacing ``numpy.allclose``,
  ``numpy.testing``, ``math.isclose``, ``rel_error`` or numpy's random
  generators in the kernel changes nothing, and the seed cannot be predicted
  to replay precomputed answers. This module itself cannot be patched by
  assignment: ``lstm_course.grading.grade = …``, ``setattr``, ``mock.patch`` and
  writes to its ``__dict__`` raise.
* **Shadowing.** The fresh interpreter reports where it found ``lstm_ref``;
  a different package in the kernel (a ``lstm_ref/`` folder next to the
  notebook) fails the test. nbgrader does not copy a submitted ``*.py`` or
  ``lstm_ref*`` next to the notebook in the first place (``CourseDirectory.ignore``
  in ``nbgrader_config.py``), and a ``lstm_ref.py`` there makes
  ``import lstm_course.grading`` fail.
* **Edited, deleted or duplicated test cells, changed points**: nbgrader
  restores them from the gradebook (see ``lstm_course.plugins``).

What it does not stop
---------------------
* Copying the reference's source text into the notebook (or ``exec`` of it):
  the code then lives in the notebook, like any copied answer. That is a
  matter for the course's honour code; ``lstm_course.plugins`` flags every
  submission whose answer cells mention ``lstm_ref`` for a human to read.
* Deliberate attacks on the kernel itself, which no test running in the
  student's kernel can prevent: rewriting later cells with IPython input
  transformers, replacing builtins, swapping a function's ``__code__``,
  replacing a name the reference's trusted forward looks up (a global of
  ``lstm_ref.lstm`` or of NumPy), which that forward would then run
  unguarded, ``object.__setattr__`` on this module, ``ctypes``, or a thread started
  *before* the graded call that runs the reference on request (Python 3.11
  cannot profile threads that already exist). These leave code in the
  submission; ``lstm_course.plugins`` flags the usual spellings for review.
"""

import json
import linecache
import os
import signal
import sys
import threading
import types
import warnings
from typing import Callable, NamedTuple

import numpy as np

from lstm_ref import gru as _gru, lstm as _lstm, rnn as _rnn

TOLERANCE = 1e-7
TIME_LIMIT = 10.0  # seconds for one call of a student's function on a tiny case
# The reference package and the labs (a4's answers may not call the labs' trainer either).
PACKAGE_DIRS = tuple(os.path.join(os.path.dirname(os.path.realpath(_lstm.__file__)), os.pardir, name)
                     for name in ("lstm_ref", "lstm_labs"))
PACKAGE_DIRS = tuple(os.path.realpath(d) for d in PACKAGE_DIRS)

# Captured now, before any student code can replace them in this kernel. The
# isolated verdict travels through these operating-system calls and bytes
# methods only: builtins whose behaviour a notebook cannot change.
_PYTHON = sys.executable
_setprofile, _getprofile = sys.setprofile, sys.getprofile
_thread_setprofile = threading.setprofile
_pipe, _read, _write, _close, _kill = os.pipe, os.read, os.write, os.close, os.kill
_spawn, _waitpid = os.posix_spawn, os.waitpid
_SIGKILL = signal.SIGKILL
_json_dumps = json.dumps

FLOAT32_LESSON = (
    "Your values are right to about 7 digits but not to 16: somewhere the computation runs in "
    "float32 (np.float32, astype, a float32 array you created, or torch's default dtype). "
    "Keep every array in the dtype of the inputs, float64 here."
)


class GradingError(AssertionError):
    """A graded function is wrong; the message says how and where to look."""


# --- cases -------------------------------------------------------------------------------------

class Case(NamedTuple):
    """One set of inputs for a graded function."""

    label: str  # how a message names it, e.g. "a random case (N=2, D=3, H=4)"
    kind: str  # "random", "probe" (all terms zeroed but one), "precision", "special"
    inputs: dict  # argument name -> value, in the function's order
    lesson: str = ""  # for a probe: what to look at when this probe fails
    passing: str = ""  # for a probe: what it means when this probe passes but a random case fails


def _sizes(rng, T=None, N=None):
    """Random sizes for one case; T and N can be forced (T = 1 and N = 1 are always tried)."""
    return {
        "T": int(rng.integers(2, 6)) if T is None else T,
        "N": int(rng.integers(2, 5)) if N is None else N,
        "D": int(rng.integers(1, 6)),
        "H": int(rng.integers(1, 6)),
    }


def _size_label(sizes, letters):
    return ", ".join(f"{letter}={sizes[letter]}" for letter in letters)


def _normal(rng, *shape, scale=1.0):
    return scale * rng.standard_normal(shape)


def _recurrent_inputs(rng, sizes, gates, sequence, cell):
    """x, the initial state(s) and W_ih, W_hh, b for an RNN (gates=1) or an LSTM (gates=4)."""
    T, N, D, H = sizes["T"], sizes["N"], sizes["D"], sizes["H"]
    inputs = {"x": _normal(rng, T, N, D) if sequence else _normal(rng, N, D)}
    state = "h0" if sequence else "h_prev"
    inputs[state] = _normal(rng, N, H, scale=0.5)
    if cell:
        inputs["c0" if sequence else "c_prev"] = _normal(rng, N, H)
    inputs["W_ih"] = _normal(rng, gates * H, D, scale=0.5)
    inputs["W_hh"] = _normal(rng, gates * H, H, scale=0.5)
    inputs["b"] = _normal(rng, gates * H, scale=0.5)
    return inputs


def _zeroed(inputs, *names):
    """A copy of ``inputs`` with the named arrays set to zero."""
    return {name: (np.zeros_like(value) if name in names else value.copy())
            for name, value in inputs.items()}


def _cancelling(inputs, gates, sequence):
    """Inputs whose pre-activations cancel to about 1e-3 (N = 1): float32 cannot resolve them."""
    x = inputs["x"][0] if sequence else inputs["x"]
    h = inputs["h0" if sequence else "h_prev"]
    total = x @ inputs["W_ih"].T + h @ inputs["W_hh"].T
    # About ±1e-3, never near 0 (where even float64 keeps no relative precision).
    H = total.shape[1]
    small = 1e-3 * (1 + np.arange(H) / H) * np.where(np.arange(H) % 2, -1.0, 1.0)
    changed = dict(inputs)
    changed["b"] = small - total[0]
    if "c_prev" in inputs or "c0" in inputs:
        changed["c0" if sequence else "c_prev"] = np.zeros_like(h)
    return changed


def _random_cases(rng, build, letters, sequence):
    """Three random cases: T = N = 1, then two with random sizes."""
    cases = []
    for forced in ({"T": 1, "N": 1}, {}, {}):
        sizes = _sizes(rng, **forced)
        if not sequence:
            sizes["T"] = 1
        shown = [letter for letter in letters if sequence or letter != "T"]
        cases.append(Case(f"a random case ({_size_label(sizes, shown)})", "random", build(rng, sizes)))
    return cases


# --- running the student's function under the guard (in the kernel) ---------------------------

class _TooSlow(Exception):
    pass


def _on_alarm(signum, frame):
    raise _TooSlow()


def _process_starters():
    """Builtins that start another process (which could run the reference unseen)."""
    names = ["fork", "forkpty", "system", "posix_spawn", "posix_spawnp", "execv", "execve", "spawnv"]
    found = [getattr(os, name) for name in names if hasattr(os, name)]
    try:
        import _posixsubprocess
        found.append(_posixsubprocess.fork_exec)
    except ImportError:
        pass
    return found


_FORBIDDEN_BUILTINS = (sys.setprofile, sys.settrace, *_process_starters())
_FORBIDDEN_CODES = frozenset({threading.setprofile.__code__, threading.settrace.__code__})


def _is_reference(filename, known):
    """Whether code from ``filename`` belongs to the lstm_ref package (memoised in ``known``)."""
    inside = known.get(filename)
    if inside is None:
        path = os.path.realpath(filename) if filename and not filename.startswith("<") else ""
        inside = known[filename] = any(path.startswith(d + os.sep) for d in PACKAGE_DIRS)
    return inside


def _dotted(code):
    """lstm_labs.training.train_full_batch, for a code object of the package."""
    relative = os.path.relpath(os.path.realpath(code.co_filename), os.path.dirname(PACKAGE_DIRS[0]))
    module = os.path.splitext(relative)[0].replace(os.sep, ".")
    return f"{module}.{code.co_qualname}"


def _make_guard(trusted_codes=()):
    """A profiler hook that records what a student's function must not do, and its record.

    Frames of code in the lstm_ref package are violations, except inside code
    the grader trusts (``trusted_codes``: a function it hands to the student's
    code, or the reference's forward it runs itself), where anything goes; so
    are calls that change the profiler or start a process.
    """
    trusted = frozenset(trusted_codes) | {_on_alarm.__code__}
    violations, inside_trusted, known_files = [], [], {}

    def hook(frame, event, arg):
        if event == "call":
            if inside_trusted:
                return
            code = frame.f_code
            if code in trusted:
                inside_trusted.append(frame)
            elif code in _FORBIDDEN_CODES:
                violations.append(f"changed the profiler ({code.co_name})")
            elif _is_reference(code.co_filename, known_files):
                violations.append(f"called {_dotted(code)}")
        elif event == "return":
            if inside_trusted and frame is inside_trusted[-1]:
                inside_trusted.pop()
        elif event == "c_call" and not inside_trusted:
            if any(arg is forbidden for forbidden in _FORBIDDEN_BUILTINS) and frame.f_code is not _CALLER:
                violations.append(f"called {getattr(arg, '__name__', arg)}")

    return hook, violations


def _call_guarded(function, args, hook, violations):
    """Call ``function(*args)`` under the profiler ``hook``; return (result, exception, warnings)."""
    alarm = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if alarm:
        previous = signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT, 0.5)
    result, error = None, None
    # NumPy's default error state (underflow is silent), whatever the kernel set.
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="warn", under="ignore"):
        warnings.simplefilter("always")
        _thread_setprofile(hook)
        _setprofile(hook)
        try:
            result = function(*args)
        except BaseException as exception:  # the student's code may raise anything
            error = exception
        finally:
            # (An alarm that fires inside the hook also unsets it: that is "too slow".)
            if _getprofile() is not hook and not isinstance(error, _TooSlow):
                violations.append("removed the grading guard")
            _setprofile(None)
            _thread_setprofile(None)
            if alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
    if isinstance(error, KeyboardInterrupt):
        raise error
    return result, error, [str(w.message) for w in caught]


_CALLER = _call_guarded.__code__


def _where_in_student_code(error):
    """" (line 7: h = x @ W_ih)" for the deepest traceback frame outside libraries, else ""."""
    libraries = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, *PACKAGE_DIRS)}
    found = ""
    trace = error.__traceback__
    while trace is not None:
        filename = trace.tb_frame.f_code.co_filename
        real = os.path.realpath(filename) if not filename.startswith("<") else filename
        if not any(real.startswith(lib + os.sep) for lib in libraries):
            line = linecache.getline(filename, trace.tb_lineno).strip()
            found = f" (line {trace.tb_lineno}: {line})" if line else f" (line {trace.tb_lineno})"
        trace = trace.tb_next
    return found


def _snapshot(values):
    return {name: value.tobytes() for name, value in values.items() if type(value) is np.ndarray}


def _changed_inputs(values, snapshot):
    return [name for name, data in snapshot.items() if values[name].tobytes() != data]


def _run(name, function, args, named_inputs, trusted=()):
    """Call a student's function under the guard; raise at once if it misbehaves."""
    snapshot = _snapshot(named_inputs)
    hook, violations = _make_guard(trusted)
    result, error, caught = _call_guarded(function, args, hook, violations)
    if violations:
        # "called lstm_ref.rnn.rnn_forward" says more than the module's own import.
        named = [v for v in violations if not v.endswith("<module>")] or violations
        raise GradingError(
            f"{name} {named[0]} while it was being graded. The graded functions must "
            f"compute everything themselves: they may not call lstm_ref (the reference) or "
            f"change the grading guard.")
    if isinstance(error, _TooSlow):
        raise GradingError(
            f"{name} ran for more than {TIME_LIMIT:g} s on a tiny case: is there a loop that never "
            f"ends (a while loop whose condition never changes)?")
    if isinstance(error, NotImplementedError):
        raise NotImplementedError(
            f"{name} is not written yet: replace `raise NotImplementedError()` with your code.")
    if error is not None:
        raise GradingError(
            f"{name} raised {type(error).__name__}: {error}{_where_in_student_code(error)}") from None
    changed = _changed_inputs(named_inputs, snapshot)
    if changed:
        raise GradingError(
            f"{name} changed its input {changed[0]} in place (with +=, *=, out=, or an assignment "
            f"into it). A function must leave the caller's arrays as they were: compute into new "
            f"arrays, or copy first.")
    return result, caught


def _as_outputs(name, result, names, returns_tuple):
    """The student's outputs as exact ndarrays, or a GradingError that says what is wrong."""
    if returns_tuple:
        if type(result) is not tuple or len(result) != len(names):
            got = (f"a tuple of {len(result)}" if type(result) is tuple
                   else f"a {type(result).__name__}")
            raise GradingError(f"{name} must return a tuple ({', '.join(names)}), got {got}.")
        values = result
    else:
        values = (result,)
    outputs = []
    for label, value in zip(names, values):
        if label == "cache":
            continue
        if isinstance(value, (float, int, np.floating, np.integer)) and not isinstance(value, bool):
            value = np.asarray(value)
        if type(value) is not np.ndarray or value.dtype.kind not in "fiu":
            raise GradingError(
                f"{name}: {label} must be a NumPy array of floats, got {type(value).__name__}"
                + (f" of dtype {value.dtype}" if isinstance(value, np.ndarray) else "") + ".")
        outputs.append(value.copy())
    return outputs


# --- the specifications of the graded functions ----------------------------------------------

class Spec(NamedTuple):
    """How to grade one function."""

    cases: Callable  # (rng) -> list of Case
    run: Callable  # (function, forward, case) -> list of arrays (in the kernel, guarded)
    reference: Callable  # (case) -> list of arrays (in the verdict's interpreter)
    outputs: tuple  # output names with shapes in the book's notation, e.g. ("h (N, H)",)
    hints: dict = {}  # output name -> what to check when that output is wrong
    combined: str = ""  # when every probe passes but a random case fails
    diagnose: Callable = None  # (case, got, expected) -> extra lesson or ""
    compare: Callable = None  # (got, expected) -> problem text or None; default: rel_error
    reads_outputs: bool = False  # reference(case, got): it needs what the kernel shipped (a model's weights)
    forward_outputs: int = 0  # a backward also ships its forward's outputs, to say when those are wrong


def _forward_runner(name, outputs):
    def run(function, forward, case):
        args = [case.inputs[key] for key in case.inputs]
        result, _ = _run(name, function, args, case.inputs)
        return _as_outputs(name, result, outputs + ("cache",), True)
    return run


def _reference_function(module, function_name):
    """(function, code) of the reference's ``function_name``, looked up when this module is imported.

    The setup cell imports lstm_course.grading before any answer runs, so this is
    the package's own function, not something a notebook put under its name
    later; its code object is kept too, so that the same function object with a
    swapped ``__code__`` is not recognised. A function whose code does not come
    from the module's own file (replaced before this import) is never trusted.
    """
    function = getattr(module, function_name)
    code = getattr(function, "__code__", None)
    if code is None or os.path.realpath(code.co_filename) != os.path.realpath(module.__file__):
        return None, None
    return function, code


# The forwards the grader runs itself when a test passes one of them as a backward's
# ``forward=`` (a3 gives its students the reference's LSTM forward, so that its backward
# parts stand on their own). Keyed by a backward's forward name.
_REFERENCE_FORWARDS = types.MappingProxyType({
    name: _reference_function(module, name)
    for module, name in [(_rnn, "rnn_step_forward"), (_rnn, "rnn_forward"),
                         (_lstm, "lstm_step_forward"), (_lstm, "lstm_forward"),
                         (_gru, "gru_step_forward")]
})


def _trusted_forward(forward, forward_name):
    """The codes to trust while ``forward`` runs: the reference's own forward, or nothing.

    Only the exact function object captured in ``_REFERENCE_FORWARDS`` for this
    backward's forward counts, with its code unchanged: a wrapper, an alias made
    with ``functools.partial``, a copy with the same code object, or another
    reference function all run under the full guard, as any student code does.
    """
    function, code = _REFERENCE_FORWARDS[forward_name]
    if function is not None and forward is function and getattr(forward, "__code__", None) is code:
        return frozenset({code})
    return frozenset()


def _backward_runner(name, forward_name, forward_outputs, upstream, grads, extra_kwargs=()):
    """Run the forward to get its cache, then the student's backward on it.

    The forward is the student's own (it runs under the guard like any answer) or,
    when the test passes the reference's forward itself, the grader's trusted code
    (see ``_trusted_forward``). The backward always runs under the full guard: if it
    calls lstm_ref in any way, the reference's forward included, the part fails.
    """
    def run(function, forward, case):
        if forward is None:
            raise GradingError(f"grading {name} needs your forward: pass forward={forward_name}")
        forward_inputs = {k: v for k, v in case.inputs.items() if k not in upstream}
        result, _ = _run(forward_name, forward, list(forward_inputs.values()), forward_inputs,
                         trusted=_trusted_forward(forward, forward_name))
        *forward_values, cache = _as_tuple(forward_name, result, len(forward_outputs) + 1)
        args = [case.inputs[k] for k in upstream if k not in extra_kwargs] + [cache]
        args += [case.inputs[k] for k in extra_kwargs if k in case.inputs]
        result, _ = _run(name, function, args, case.inputs)
        gradients = _as_outputs(name, result, grads, True)
        return gradients + _as_outputs(forward_name, tuple(forward_values), forward_outputs, True)
    return run


def _as_tuple(name, result, length):
    if type(result) is not tuple or len(result) != length:
        raise GradingError(f"{name} must return a tuple of {length} (its outputs and the cache).")
    return result


def _reference(module, function_name, n_outputs):
    def reference(case):
        import importlib
        function = getattr(importlib.import_module(f"lstm_ref.{module}"), function_name)
        return list(function(*case.inputs.values())[:n_outputs])
    return reference


def _backward_reference(module, forward_name, backward_name, n_forward, upstream, keyword=()):
    def reference(case):
        import importlib
        package = importlib.import_module(f"lstm_ref.{module}")
        forward_inputs = [v for k, v in case.inputs.items() if k not in upstream]
        *forward_values, cache = getattr(package, forward_name)(*forward_inputs)
        args = [case.inputs[k] for k in upstream if k not in keyword] + [cache]
        kwargs = {k: case.inputs[k] for k in keyword if k in case.inputs}
        gradients = getattr(package, backward_name)(*args, **kwargs)
        return list(gradients) + list(forward_values[:n_forward])
    return reference


def _name(output):
    return output.split(" ")[0]


# RNN ---------------------------------------------------------------------------------------------

def _rnn_step_cases(rng):
    def build(rng, sizes):
        return _recurrent_inputs(rng, sizes, 1, sequence=False, cell=False)
    cases = _random_cases(rng, build, "NDH", sequence=False)
    base = build(rng, _sizes(rng))
    cases += [
        Case("a probe with only the input term (h_{t−1} = 0, b = 0)", "probe",
             _zeroed(base, "h_prev", "b"),
             "look at the input term x_t W_ihᵀ: in code x @ W_ih.T, an (N, D) @ (D, H) product"),
        Case("a probe with only the recurrent term (x_t = 0, b = 0)", "probe", _zeroed(base, "x", "b"),
             "look at the recurrent term h_{t−1} W_hhᵀ: in code h_prev @ W_hh.T (W_hh is used "
             "transposed, and with h_prev, not h)"),
        Case("a probe with only the bias (x_t = 0, h_{t−1} = 0)", "probe", _zeroed(base, "x", "h_prev"),
             "look at b: it is added to every row of the pre-activation, before tanh"),
        Case("a precision case (N = 1, pre-activations that nearly cancel)", "precision",
             _cancelling(build(rng, _sizes(rng, N=1)), 1, sequence=False)),
    ]
    return cases


def _rnn_step_backward_cases(rng):
    cases = []
    for case in _rnn_step_cases(rng):
        if case.kind == "precision":
            continue
        inputs = dict(case.inputs)
        inputs["dh"] = _normal(rng, *inputs["h_prev"].shape)
        cases.append(case._replace(inputs=inputs, kind="random" if case.kind == "random" else "special"))
    return cases


def _sequence_probes(rng, build, state_names):
    sizes = _sizes(rng)
    base = build(rng, sizes)
    return [
        Case(f"a probe with a zero initial state ({_size_label(sizes, 'TNDH')})", "probe",
             _zeroed(base, *state_names),
             passing="you are right when the initial state is zero: look at how the initial state "
                     "enters (the first step starts from it, and its gradient is what step 1 sends "
                     "back)"),
        Case(f"a probe with a single time step (T=1, N={sizes['N']})", "probe",
             {k: (v[:1].copy() if k == "x" or k == "dhs" else v.copy()) for k, v in base.items()},
             "look at a single step first: it must equal your step function's result",
             passing="one time step is right, several are not: look at how step t+1 uses what "
                     "step t produced (or, backwards, what step t+1 sends back to step t)"),
    ]


def _rnn_cases(rng):
    def build(rng, sizes):
        return _recurrent_inputs(rng, sizes, 1, sequence=True, cell=False)
    cases = _random_cases(rng, build, "TNDH", sequence=True)
    cases += _sequence_probes(rng, build, ["h0"])
    precise = _cancelling(build(rng, _sizes(rng, T=1, N=1)), 1, sequence=True)
    cases.append(Case("a precision case (T = N = 1, pre-activations that nearly cancel)", "precision",
                      precise))
    return cases


def _with_upstream(rng, forward_cases):
    """A backward's cases: the forward's (but its precision case) with a random dhs (T, N, H)."""
    cases = []
    for case in forward_cases:
        if case.kind == "precision":
            continue
        inputs = dict(case.inputs)
        T, N = inputs["x"].shape[:2]
        H = inputs["W_hh"].shape[1]
        inputs["dhs"] = _normal(rng, T, N, H)
        cases.append(case._replace(inputs=inputs))
    return cases


def _rnn_backward_cases(rng):
    cases = _with_upstream(rng, _rnn_cases(rng))
    last_only = dict(cases[1].inputs)
    last_only["dhs"] = np.zeros_like(last_only["dhs"])
    last_only["dhs"][-1] = _normal(rng, *last_only["dhs"].shape[1:])
    cases.append(Case("a probe with a loss on h_T only (dhs zero before the last step)", "probe",
                      last_only, "look at the gradient that flows back from step t+1 into h_t",
                      passing="you are right when the loss reads h_T only: the loss reads every "
                              "h_t, so add dhs[t] to the gradient of h_t at every step t"))
    return cases


def _shifted(case, got, expected):
    """A lesson when the student's states are the reference's shifted by one step."""
    if got[0].shape != expected[0].shape or got[0].shape[0] < 2:
        return ""
    if np.allclose(got[0][1:], expected[0][:-1], rtol=1e-9, atol=1e-12):
        return ("your states are shifted by one step: hs[t] must hold h_{t+1}, the state after "
                "reading x[t] (hs holds h_1 .. h_T, not h_0 .. h_{T−1}).")
    return ""


_RNN_STEP_GRAD_HINTS = {
    "dx": "dx = da W_ih, with da = dh ⊙ (1 − h_t²)",
    "dh_prev": "dh_prev = da W_hh",
    "dW_ih": "dW_ih = daᵀ x_t (summed over the batch)",
    "dW_hh": "dW_hh = daᵀ h_{t−1}: the previous state, not the new one",
    "db": "db = Σ_n da (a sum over the batch, axis 0)",
}
_TANH_LESSON = ("look at da = dh ⊙ (1 − h_t²) first: it feeds every gradient (tanh' is 1 − tanh², "
                "evaluated at the output h_t, which your cache must hold)")

# LSTM --------------------------------------------------------------------------------------------

def _gate_rows(H, gate):
    return slice("ifgo".index(gate) * H, ("ifgo".index(gate) + 1) * H)


def _only_bias(inputs, gates, keep_cell):
    """x = 0, h = 0, b zero except the named gates' blocks; c kept if asked, else 0."""
    H = inputs["W_hh"].shape[1]
    state_names = [k for k in inputs if k in ("h_prev", "h0")]
    cell_names = [k for k in inputs if k in ("c_prev", "c0")]
    changed = _zeroed(inputs, "x", *state_names, *([] if keep_cell else cell_names))
    b = np.zeros_like(inputs["b"])
    for gate in gates:
        b[_gate_rows(H, gate)] = inputs["b"][_gate_rows(H, gate)] + 1.0
    changed["b"] = b
    return changed


def _lstm_probes(base, sequence):
    state = "h0" if sequence else "h_prev"
    cell = "c0" if sequence else "c_prev"
    order = ("the gates are stacked in PyTorch's order i, f, g, o: rows 0..H of W_ih, W_hh and b "
             "are the input gate, H..2H the forget gate, 2H..3H the candidate g (tanh), 3H..4H "
             "the output gate")
    return [
        Case("a probe of the forget path (x = 0, h = 0, only the forget block of b non-zero, "
             "c_{t−1} ≠ 0)", "probe", _only_bias(base, "f", keep_cell=True),
             f"look at c_t = f ⊙ c_{{t−1}} + i ⊙ g and at the forget gate f = σ(…): {order}"),
        Case("a probe of the input path (x = 0, h = 0, c = 0, only the i and g blocks of b "
             "non-zero)", "probe", _only_bias(base, "ig", keep_cell=False),
             f"look at i ⊙ g, with i = σ(…) and g = tanh(…): {order}"),
        Case("a probe of the output gate (x = 0, h = 0, c = 0, only the g and o blocks of b "
             "non-zero)", "probe", _only_bias(base, "go", keep_cell=False),
             f"look at h_t = o ⊙ tanh(c_t), with o = σ(…): {order}"),
        Case("a probe with only the input term (h = 0, c = 0, b = 0)", "probe",
             _zeroed(base, state, cell, "b"),
             "look at the input term x_t W_ihᵀ (x @ W_ih.T, an (N, D) @ (D, 4H) product)"),
        Case("a probe with only the recurrent term (x = 0, c = 0, b = 0)", "probe",
             _zeroed(base, "x", cell, "b"),
             "look at the recurrent term h_{t−1} W_hhᵀ (h_prev @ W_hh.T)"),
    ]


def _lstm_step_cases(rng):
    def build(rng, sizes):
        return _recurrent_inputs(rng, sizes, 4, sequence=False, cell=True)
    cases = _random_cases(rng, build, "NDH", sequence=False)
    cases += _lstm_probes(build(rng, _sizes(rng)), sequence=False)
    cases.append(Case("a precision case (N = 1, pre-activations that nearly cancel)", "precision",
                      _cancelling(build(rng, _sizes(rng, N=1)), 4, sequence=False)))
    return cases


def _lstm_cases(rng):
    def build(rng, sizes):
        return _recurrent_inputs(rng, sizes, 4, sequence=True, cell=True)
    cases = _random_cases(rng, build, "TNDH", sequence=True)
    cases += _sequence_probes(rng, build, ["h0", "c0"])
    cases.append(Case("a precision case (T = N = 1, pre-activations that nearly cancel)", "precision",
                      _cancelling(build(rng, _sizes(rng, T=1, N=1)), 4, sequence=True)))
    return cases


def _lstm_step_backward_cases(rng):
    cases = []
    for case in _lstm_step_cases(rng):
        if case.kind in ("precision",):
            continue
        inputs = dict(case.inputs)
        shape = inputs["h_prev"].shape
        inputs["dh"], inputs["dc"] = _normal(rng, *shape), _normal(rng, *shape)
        cases.append(case._replace(inputs=inputs, kind="random" if case.kind == "random" else "special"))
    base = dict(cases[1].inputs)
    only_c = dict(base, dh=np.zeros_like(base["dh"]))
    only_h = dict(base, dc=np.zeros_like(base["dc"]))
    cases += [
        Case("a probe with dL/dh_t = 0 (the gradient arrives through c_t only)", "probe", only_c,
             "look at the cell path: dc_prev = (dc + dh ⊙ o ⊙ (1 − tanh²(c_t))) ⊙ f"),
        Case("a probe with dL/dc_t = 0 (the gradient arrives through h_t only)", "probe", only_h,
             "look at the output path: dh reaches c_t through dh ⊙ o ⊙ (1 − tanh²(c_t)), and o "
             "through dh ⊙ tanh(c_t)"),
    ]
    return cases


def _lstm_backward_cases(rng):
    cases = _with_upstream(rng, _lstm_cases(rng))
    with_dcT = dict(cases[1].inputs)
    with_dcT["dcT"] = _normal(rng, *with_dcT["h0"].shape)
    only_dcT = dict(with_dcT, dhs=np.zeros_like(with_dcT["dhs"]))
    cases += [
        Case("a case with a gradient dcT on the last cell state", "special", with_dcT),
        Case("a probe with only dcT (dhs = 0)", "probe", only_dcT,
             "look at dcT: it is added to the gradient of c_T at the last step (None means zero)"),
    ]
    return cases


_LSTM_STEP_GRAD_HINTS = {
    "dx": "dx = da W_ih, with da the gradient of the stacked pre-activations [di, df, dg, do]",
    "dh_prev": "dh_prev = da W_hh",
    "dc_prev": "dc_prev = (dc + dh ⊙ o ⊙ (1 − tanh²(c_t))) ⊙ f",
    "dW_ih": "dW_ih = daᵀ x_t",
    "dW_hh": "dW_hh = daᵀ h_{t−1}",
    "db": "db = Σ_n da",
}
_LSTM_GATE_LESSON = (
    "look at the gate gradients first, with dc_t = dc + dh ⊙ o ⊙ (1 − tanh²(c_t)): "
    "di = dc_t ⊙ g ⊙ i(1 − i), df = dc_t ⊙ c_{t−1} ⊙ f(1 − f), dg = dc_t ⊙ i ⊙ (1 − g²), "
    "do = dh ⊙ tanh(c_t) ⊙ o(1 − o), stacked in the order i, f, g, o")

# GRU (a5) ----------------------------------------------------------------------------------------

def _gru_inputs(rng, sizes, sequence):
    """x, the initial state and W_ih, W_hh, b_ih, b_hh for a GRU (blocks r, z, n)."""
    T, N, D, H = sizes["T"], sizes["N"], sizes["D"], sizes["H"]
    inputs = {"x": _normal(rng, T, N, D) if sequence else _normal(rng, N, D)}
    inputs["h0" if sequence else "h_prev"] = _normal(rng, N, H, scale=0.5)
    inputs["W_ih"] = _normal(rng, 3 * H, D, scale=0.5)
    inputs["W_hh"] = _normal(rng, 3 * H, H, scale=0.5)
    inputs["b_ih"] = _normal(rng, 3 * H, scale=0.5)
    inputs["b_hh"] = _normal(rng, 3 * H, scale=0.5)
    return inputs


def _gru_rows(H, gate):
    return slice("rzn".index(gate) * H, ("rzn".index(gate) + 1) * H)


def _gru_only_biases(inputs, input_side, recurrent_side, zero_W_hh=False):
    """x = 0 (and W_hh = 0 if asked); b_ih and b_hh zero except the named gates' blocks."""
    H = inputs["W_hh"].shape[1]
    changed = _zeroed(inputs, "x", *(["W_hh"] if zero_W_hh else []))
    for name, gates in (("b_ih", input_side), ("b_hh", recurrent_side)):
        bias = np.zeros_like(inputs[name])
        for gate in gates:
            bias[_gru_rows(H, gate)] = inputs[name][_gru_rows(H, gate)] + 1.0
        changed[name] = bias
    return changed


_GRU_ORDER = ("The blocks are stacked in PyTorch's order r, z, n: rows 0..H of W_ih, W_hh, b_ih and "
              "b_hh are the reset gate, H..2H the update gate, 2H..3H the new content")


def _gru_probes(base, sequence):
    state = "h0" if sequence else "h_prev"
    no_state = _zeroed(base, state)
    return [
        Case("a probe of the update gate (x = 0, W_hh = 0, only the z blocks of the biases "
             "non-zero, h_{t−1} ≠ 0)", "probe", _gru_only_biases(base, "z", "z", zero_W_hh=True),
             "look at h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}: z is the share of the old state that is "
             "kept (here n = 0, so h_t = z ⊙ h_{t−1}); z ⊙ n + (1 − z) ⊙ h_{t−1} swaps the two. "
             + _GRU_ORDER),
        Case("a probe of b_hn (x = 0, h_{t−1} = 0, only the r block of b_ih and the n block of "
             "b_hh non-zero)", "probe", _gru_only_biases(no_state, "r", "n"),
             "look at b_hn, the n block of b_hh: it sits inside the reset product, "
             "n = tanh(W_xn x + b_xn + r ⊙ (W_hn h_{t−1} + b_hn)), so here n = tanh(r ⊙ b_hn). "
             "Adding all of b_hh to the pre-activations, like the LSTM's b, is wrong in the n block"),
        Case("a probe with only the input term (h_{t−1} = 0, b_ih = b_hh = 0)", "probe",
             _zeroed(base, state, "b_ih", "b_hh"),
             "look at the input term x_t W_ihᵀ (x @ W_ih.T, an (N, D) @ (D, 3H) product) and at "
             "h_t = (1 − z) ⊙ n when h_{t−1} = 0. " + _GRU_ORDER),
        Case("a probe with only the recurrent term (x = 0, b_ih = b_hh = 0)", "probe",
             _zeroed(base, "x", "b_ih", "b_hh"),
             "look at the recurrent term h_{t−1} W_hhᵀ: its r and z blocks go into the gates, and "
             "its n block is multiplied by r after the product, r ⊙ (h_{t−1} W_hnᵀ + b_hn), "
             "not (r ⊙ h_{t−1}) W_hnᵀ"),
    ]


def _gru_cancelling(inputs, sequence):
    """N = 1, h_{t−1} = 0 and biases that make every pre-activation about ±1e-3: float32 cannot resolve them."""
    x = inputs["x"][0] if sequence else inputs["x"]
    H = inputs["W_hh"].shape[1]
    changed = _zeroed(inputs, "h0" if sequence else "h_prev")
    small = 1e-3 * (1 + np.arange(3 * H) / (3 * H)) * np.where(np.arange(3 * H) % 2, -1.0, 1.0)
    # With h_{t−1} = 0: a_r, a_z = x W_ihᵀ + b_ih + b_hh (blocks r, z), a_n = x W_xnᵀ + b_xn + r ⊙ b_hn.
    from_x = x @ inputs["W_ih"].T
    b_hh = inputs["b_hh"]
    b_ih = small - from_x[0] - b_hh
    r = 1 / (1 + np.exp(-(from_x[0, :H] + b_ih[:H] + b_hh[:H])))
    b_ih[2 * H:] = small[2 * H:] - from_x[0, 2 * H:] - r * b_hh[2 * H:]
    changed["b_ih"] = b_ih
    return changed


def _gru_step_cases(rng):
    def build(rng, sizes):
        return _gru_inputs(rng, sizes, sequence=False)
    cases = _random_cases(rng, build, "NDH", sequence=False)
    cases += _gru_probes(build(rng, _sizes(rng)), sequence=False)
    cases.append(Case("a precision case (N = 1, pre-activations that nearly cancel)", "precision",
                      _gru_cancelling(build(rng, _sizes(rng, N=1)), sequence=False)))
    return cases


def _gru_cases(rng):
    def build(rng, sizes):
        return _gru_inputs(rng, sizes, sequence=True)
    cases = _random_cases(rng, build, "TNDH", sequence=True)
    cases += _sequence_probes(rng, build, ["h0"])
    cases.append(Case("a precision case (T = N = 1, pre-activations that nearly cancel)", "precision",
                      _gru_cancelling(build(rng, _sizes(rng, T=1, N=1)), sequence=True)))
    return cases


def _gru_reset_open(inputs):
    """The reset gate fully open: its weights zero and its input bias 40, so r = σ(40) = 1 exactly."""
    H = inputs["W_hh"].shape[1]
    changed = {name: value.copy() for name, value in inputs.items()}
    rows = _gru_rows(H, "r")
    changed["W_ih"][rows] = 0.0
    changed["W_hh"][rows] = 0.0
    changed["b_ih"][rows] = 40.0
    changed["b_hh"][rows] = 0.0
    return changed


def _gru_step_backward_cases(rng):
    cases = []
    for case in _gru_step_cases(rng):
        if case.kind == "precision":
            continue
        inputs = dict(case.inputs)
        inputs["dh"] = _normal(rng, *inputs["h_prev"].shape)
        cases.append(case._replace(inputs=inputs, kind="random" if case.kind == "random" else "special"))
    cases += [
        Case("a probe with the reset gate fully open (r = 1 exactly)", "probe", _gru_reset_open(cases[1].inputs),
             "look at the update gate and the new content first: da_n = dh ⊙ (1 − z) ⊙ (1 − n²), "
             "da_z = dh ⊙ (h_{t−1} − n) ⊙ z(1 − z), and the direct path dh ⊙ z in dh_prev",
             passing="you are right when r = 1: look at what r changes. The n block of the "
                     "recurrent side gets da_n ⊙ r (in dW_hh, db_hh and dh_prev), and "
                     "da_r = da_n ⊙ (W_hn h_{t−1} + b_hn) ⊙ r(1 − r)"),
    ]
    return cases


_GRU_STEP_GRAD_HINTS = {
    "dx": "dx = [da_r, da_z, da_n] W_ih",
    "dh_prev": "dh_prev = dh ⊙ z + [da_r, da_z, da_n ⊙ r] W_hh: the direct path, then the product",
    "dW_ih": "dW_ih = [da_r, da_z, da_n]ᵀ x_t (summed over the batch)",
    "dW_hh": "dW_hh = [da_r, da_z, da_n ⊙ r]ᵀ h_{t−1}: in the n block the reset gate stands between",
    "db_ih": "db_ih = Σ_n [da_r, da_z, da_n]",
    "db_hh": "db_hh = Σ_n [da_r, da_z, da_n ⊙ r]: it differs from db_ih in the n block",
}
_GRU_GATE_LESSON = (
    "look at the gate gradients first: da_n = dh ⊙ (1 − z) ⊙ (1 − n²), "
    "da_z = dh ⊙ (h_{t−1} − n) ⊙ z(1 − z), da_r = da_n ⊙ (W_hn h_{t−1} + b_hn) ⊙ r(1 − r), "
    "stacked in the order r, z, n; the recurrent side gets da_n ⊙ r in the n block")


def _gru_free_count_cases(rng):
    return [Case(f"D={D}, H={H}", "random", {"D": D, "H": H})
            for D, H in [(3, 10), (1, 1)] + [tuple(int(n) for n in rng.integers(1, 200, 2))]]


def _reference_gru_free_count(D, H):
    return np.asarray(3 * H * (D + H + 1) + H)


# a1: gradient norms along the sequence ---------------------------------------------------------

def _norm_cases(rng):
    def build(rng, sizes):
        inputs = _recurrent_inputs(rng, sizes, 1, sequence=True, cell=False)
        return inputs
    cases = _random_cases(rng, build, "TNDH", sequence=True)
    return cases


def _reference_gradient_norms(x, h0, W_ih, W_hh, b):
    """‖dL/dh_{T−k}‖ for k = 0..T, with L = Σ h_T (reference for a1's gradient_norms)."""
    from lstm_ref.rnn import rnn_backward, rnn_forward
    hs, _ = rnn_forward(x, h0, W_ih, W_hh, b)
    states = np.concatenate([h0[None], hs])  # h_0 .. h_T
    T = x.shape[0]
    norms = np.empty(T + 1)
    for k in range(T + 1):
        if k == 0:
            norms[0] = np.linalg.norm(np.ones_like(h0))
            continue
        dhs = np.zeros((k,) + h0.shape)
        dhs[-1] = 1.0
        _, cache = rnn_forward(x[T - k:], states[T - k], W_ih, W_hh, b)
        norms[k] = np.linalg.norm(rnn_backward(dhs, cache)[1])
    return norms


def _growth_cases(rng):
    cases = []
    for index in range(3):
        K = int(rng.integers(3, 12))
        rate = float(rng.uniform(0.5, 1.5))
        norms = (rate ** np.arange(K)) * np.exp(_normal(rng, K, scale=0.05)) * rng.uniform(0.5, 3)
        cases.append(Case(f"norms of {K} steps (decay ≈ {rate:.2f} per step)", "random",
                          {"norms": norms}))
    return cases


def _reference_growth(norms):
    """exp of the least-squares slope of log ‖dL/dh_{T−k}‖ against k."""
    k = np.arange(len(norms))
    slope = np.polyfit(k, np.log(norms), 1)[0]
    return float(np.exp(slope))


# a2: sigmoid, parameter count, concatenated weights ----------------------------------------------

_EXTREMES = np.array([-1e308, -1e4, -1000.0, -745.0, -740.0, -710.0, -100.0, -40.0, -1.0, -1e-12,
                      0.0, 1e-12, 1.0, 40.0, 100.0, 710.0, 1000.0, 1e4, 1e308])


def _sigmoid_cases(rng):
    shape = tuple(int(n) for n in rng.integers(1, 5, size=int(rng.integers(1, 4))))
    return [
        Case(f"a random array of shape {shape}", "random", {"z": _normal(rng, *shape, scale=3)}),
        Case("a single number in an array of shape (1,)", "random", {"z": _normal(rng, 1)}),
        Case("very negative and very positive inputs (±1e308, ±1000, ±745, …, 0)", "special",
             {"z": _EXTREMES.copy()}),
        Case("a (2, N) array with extreme rows", "special",
             {"z": np.stack([_EXTREMES, -_EXTREMES[::-1]])}),
    ]


def _count_cases(rng):
    return [Case(f"D={D}, H={H}", "random", {"D": D, "H": H})
            for D, H in [(3, 10), (1, 1)] + [tuple(int(n) for n in rng.integers(1, 200, 2))]]


def _reference_count(D, H):
    return np.asarray(4 * (H * D + H * H + H))


def _concat_cases(rng):
    cases = []
    for case in _random_cases(rng, lambda r, s: _recurrent_inputs(r, s, 4, False, True), "NDH", False):
        cases.append(case._replace(inputs={"W_ih": case.inputs["W_ih"], "W_hh": case.inputs["W_hh"]}))
    return cases


def _concat_step_cases(rng):
    cases = []
    for case in _lstm_step_cases(rng):
        inputs = dict(case.inputs)
        W_ih, W_hh = inputs.pop("W_ih"), inputs.pop("W_hh")
        b = inputs.pop("b")
        inputs["W"] = np.concatenate([W_hh, W_ih], axis=1)
        inputs["b"] = b
        cases.append(case._replace(inputs=inputs))
    return cases


def _reference_concat_step(x, h_prev, c_prev, W, b):
    from lstm_ref.lstm import lstm_step_forward
    H = h_prev.shape[1]
    h, c, _ = lstm_step_forward(x, h_prev, c_prev, W[:, H:], W[:, :H], b)
    return [h, c]


# a3: numerical gradient and a gradient checker ------------------------------------------------

def _cube(x):
    """f(x) = x³ elementwise: a test function the grader hands to numerical_gradient."""
    return x ** 3


def _exp_of_product(A):
    def f(x):
        """f(x) = exp(x A): a test function the grader hands to numerical_gradient."""
        return np.exp(x @ A)
    return f


def _away_from_zero(rng, shape, low=0.5, high=1.5):
    return rng.uniform(low, high, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def _numerical_cases(rng):
    cases = []
    shape = tuple(int(n) for n in rng.integers(1, 4, size=2))
    cases.append(Case(f"f(x) = x³ on x of shape {shape}", "random",
                      {"f": ("cube",), "x": _away_from_zero(rng, shape),
                       "df": _away_from_zero(rng, shape)}))
    N, D, M = (int(n) for n in rng.integers(1, 4, size=3))
    A = rng.uniform(0.1, 0.5, size=(D, M))
    cases.append(Case(f"f(x) = exp(x A) with x of shape ({N}, {D}), A of shape ({D}, {M})",
                      "random", {"f": ("exp", A), "x": rng.uniform(-1, 1, size=(N, D)),
                                 "df": rng.uniform(0.5, 1.5, size=(N, M))}))
    cases.append(Case("f(x) = x³ on a single number (x of shape (1,))", "special",
                      {"f": ("cube",), "x": _away_from_zero(rng, (1,)), "df": np.ones(1)}))
    return cases


def _make_f(description):
    return _cube if description[0] == "cube" else _exp_of_product(description[1])


_TRUSTED = frozenset({_cube.__code__, _exp_of_product(np.zeros((1, 1))).__code__})


def _run_numerical(function, forward, case):
    f = _make_f(case.inputs["f"])
    arrays = {k: v for k, v in case.inputs.items() if k != "f"}
    result, _ = _run("numerical_gradient", function, [f, arrays["x"], arrays["df"]], arrays,
                     trusted=_TRUSTED)
    return _as_outputs("numerical_gradient", result, ("dx",), False)


def _reference_numerical(case):
    from lstm_ref.gradcheck import numerical_gradient
    f = _make_f(case.inputs["f"])
    return [numerical_gradient(f, case.inputs["x"], case.inputs["df"])]


# The pairs handed to a student's check_gradients: right ones, and one with a planted bug.
# They are closures with plain names, so that a checker cannot tell them apart by name.
def _rnn_pair(planted_bug):
    def forward(x, h_prev, W_ih, W_hh, b):
        from lstm_ref.rnn import rnn_step_forward
        return rnn_step_forward(x, h_prev, W_ih, W_hh, b)

    def backward(dh, cache):
        from lstm_ref.rnn import rnn_step_backward
        dx, dh_prev, dW_ih, dW_hh, db = rnn_step_backward(dh, cache)
        if planted_bug:  # dW_hh from the new state h_t instead of h_{t−1}
            dW_hh = (dh * (1 - cache.h * cache.h)).T @ cache.h
        return dx, dh_prev, dW_ih, dW_hh, db

    return forward, backward


def _lstm_pair():
    def forward(x, h_prev, c_prev, W_ih, W_hh, b):
        from lstm_ref.lstm import lstm_step_forward
        return lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b)

    def backward(dh, dc, cache):
        from lstm_ref.lstm import lstm_step_backward
        return lstm_step_backward(dh, dc, cache)

    return forward, backward


_PAIRS = types.MappingProxyType({  # name -> (forward, backward, input names, the wrong gradient)
    "rnn": (*_rnn_pair(False), ("x", "h_prev", "W_ih", "W_hh", "b"), None),
    "rnn with a bug": (*_rnn_pair(True), ("x", "h_prev", "W_ih", "W_hh", "b"), "W_hh"),
    "lstm": (*_lstm_pair(), ("x", "h_prev", "c_prev", "W_ih", "W_hh", "b"), None),
})
_PAIR_TRUSTED = frozenset(f.__code__ for pair in _PAIRS.values() for f in pair[:2])


def _checker_cases(rng):
    labels = {"rnn": "a right backward (one RNN step, one output)",
              "rnn with a bug": "a backward with a planted bug in dW_hh (one RNN step)",
              "lstm": "a right backward with two outputs, h and c (one LSTM step)"}
    cases = []
    for pair, label in labels.items():
        sizes = _sizes(rng)
        cell = pair == "lstm"
        inputs = _recurrent_inputs(rng, sizes, 4 if cell else 1, sequence=False, cell=cell)
        cases.append(Case(f"{label}, {_size_label(sizes, 'NDH')}", "random", {"pair": pair, **inputs}))
    return cases


def _run_checker(function, forward, case):
    pair_forward, pair_backward, names, _ = _PAIRS[case.inputs["pair"]]
    arrays = {k: v for k, v in case.inputs.items() if k != "pair"}
    result, _ = _run("check_gradients", function, [pair_forward, pair_backward, arrays], arrays,
                     trusted=_PAIR_TRUSTED)
    try:
        errors = [float(result[name]) for name in names]
    except Exception:
        raise GradingError(
            f"check_gradients must return a mapping from each input's name ({', '.join(names)}) "
            f"to a relative error, e.g. {{'x': 2e-10, …}}.") from None
    return [np.array(errors)]


def _reference_checker(case):
    _, _, names, wrong = _PAIRS[case.inputs["pair"]]
    return [np.array([1.0 if name == wrong else 0.0 for name in names])]


def _compare_checker(got, expected):
    names = {len(pair[2]): pair[2] for pair in _PAIRS.values()}[len(expected[0])]
    if got[0].shape != expected[0].shape:
        return f"check_gradients returned {got[0].size} errors for {len(names)} inputs"
    for name, error, wrong in zip(names, got[0], expected[0]):
        if wrong and not error > 1e-3:
            return (f"the error you report for {name} is {error:.1e}, but this backward's {name} "
                    f"gradient is wrong: a check must expose it (expect an error above 1e-3)")
        # Central differences (eps = 1e-6) agree with a right gradient to about 1e-8, but the
        # elementwise error of an entry close to zero can reach 1e-6: 1e-5 leaves a margin.
        if not wrong and not error <= 1e-5:
            return (f"the error you report for {name} is {error:.1e}, but this backward's {name} "
                    f"gradient is right: with central differences (eps = 1e-6) in float64 a right "
                    f"gradient agrees to about 1e-8, and its worst element rarely beyond 1e-6")
    return None


def _compare_exact(got, expected):
    if got[0].shape != expected[0].shape or not np.array_equal(got[0], expected[0]):
        return f"got {got[0].tolist()}, expected {expected[0].tolist()}"
    return None


def _call_spec_runner(name, outputs, returns_tuple=True):
    def run(function, forward, case):
        result, caught = _run(name, function, list(case.inputs.values()), case.inputs)
        if name == "sigmoid" and caught:
            raise GradingError(
                f"sigmoid gave a warning on {case.label}: {caught[0]}. A stable sigmoid never "
                f"computes e^z for a large positive z: use e^(−|z|), for example "
                f"σ(z) = e^(min(z, 0)) / (1 + e^(−|z|)). (np.where evaluates both branches, so it "
                f"warns too.)")
        return _as_outputs(name, result, outputs if returns_tuple else outputs[:1], returns_tuple)
    return run


def _plain_reference(function):
    def reference(case):
        return [np.asarray(function(*case.inputs.values()))]
    return reference


def _activation_reference(case):
    from lstm_ref.activations import sigmoid
    return [sigmoid(case.inputs["z"])]


# a4: the weather lab in PyTorch (graded against NumPy: the verdict never imports torch) --------

def _dataset_cases(rng):
    cases = []
    for length, look_back in ((2, 1), (int(rng.integers(12, 40)), int(rng.integers(2, 6))),
                              (int(rng.integers(5, 12)), 4)):
        sequence = rng.integers(0, 3, size=length).astype(np.int64)
        cases.append(Case(f"a sequence of {length} values with look_back={look_back}", "random",
                          {"sequence": sequence, "look_back": look_back}))
    return cases


def _reference_dataset(sequence, look_back):
    from lstm_ref.data import make_windows, one_hot, to_time_major
    windows, targets = make_windows(sequence, look_back)
    return [to_time_major(one_hot(windows, 3, dtype=np.float32)), targets]


def _compare_dataset(got, expected):
    names = ("inputs (look_back, N, 3)", "targets (N,)")
    for name, mine, want in zip(names, got, expected):
        if mine.shape != want.shape:
            return f"{name} has shape {mine.shape}, expected {want.shape}"
    if got[0].dtype != np.float32:
        return f"inputs are {got[0].dtype}: PyTorch's layers expect float32 (one_hot(..., dtype=np.float32))"
    if got[1].dtype.kind not in "iu":
        return f"targets are {got[1].dtype}: cross_entropy expects integer class indices"
    if not np.array_equal(got[0], expected[0]):
        return ("inputs are wrong: inputs[t, n] must be the one-hot code of sequence[n + t] "
                "(time-major: time first, then the window)")
    if not np.array_equal(got[1], expected[1]):
        return "targets are wrong: targets[n] must be sequence[n + look_back], the value after window n"
    return None


def _classifier_inputs(rng, sizes):
    T, N, H = sizes["T"], sizes["N"], sizes["H"]
    return {"x": _normal(rng, T, N, 3), "hidden_size": H}


def _model_cases(rng):
    cases = []
    for cell, forced in (("LSTM", {"T": 1, "N": 1}), ("LSTM", {}), ("RNN", {})):
        sizes = _sizes(rng, **forced)
        inputs = _classifier_inputs(rng, sizes)
        label = f"cell={cell!r}, hidden_size={sizes['H']}, x of shape ({sizes['T']}, {sizes['N']}, 3)"
        cases.append(Case(label, "random", {"cell": cell, **inputs}))
    return cases


def _layers(name, model, cell, hidden_size):
    """The recurrent layer and the linear read-out of a student's classifier, or a lesson."""
    from torch import nn
    recurrent = [m for m in model.modules() if isinstance(m, (nn.LSTM, nn.RNN, nn.GRU))]
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    kind = nn.LSTM if cell == "LSTM" else nn.RNN
    if len(recurrent) != 1 or type(recurrent[0]) is not kind or len(linear) != 1:
        raise GradingError(
            f"{name}(cell={cell!r}) must hold exactly one torch.nn.{cell} and one torch.nn.Linear, "
            f"got {len(recurrent)} recurrent layer(s) ({', '.join(type(m).__name__ for m in recurrent)}) "
            f"and {len(linear)} linear layer(s).")
    layer, head = recurrent[0], linear[0]
    wanted = {"input_size": 3, "hidden_size": hidden_size, "num_layers": 1, "batch_first": False}
    for attribute, value in wanted.items():
        if getattr(layer, attribute) != value:
            raise GradingError(f"{name}: the {cell} layer has {attribute}={getattr(layer, attribute)}, "
                               f"expected {value}.")
    if (head.in_features, head.out_features) != (hidden_size, 3):
        raise GradingError(f"{name}: the linear read-out maps {head.in_features} to {head.out_features} "
                           f"features, expected hidden_size={hidden_size} to 3 classes.")
    return layer, head


def _parameters(layer, head):
    """W_ih, W_hh, b_ih, b_hh, W_out, b_out of a recurrent layer and its read-out, as float64 arrays."""
    tensors = (layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, layer.bias_hh_l0,
               head.weight, head.bias)
    return [t.detach().cpu().double().numpy().copy() for t in tensors]


def _run_model(function, forward, case):
    import torch
    cell, H = case.inputs["cell"], case.inputs["hidden_size"]
    model, _ = _run("WeatherClassifier", function, [cell, H], {})
    if not isinstance(model, torch.nn.Module):
        raise GradingError(f"WeatherClassifier(cell, hidden_size) must build a torch.nn.Module, "
                           f"got {type(model).__name__}.")
    layer, head = _layers("WeatherClassifier", model, cell, H)
    model.double()
    x = torch.as_tensor(case.inputs["x"])
    logits, _ = _run("WeatherClassifier.forward", model, [x], {})
    if not isinstance(logits, torch.Tensor):
        raise GradingError(f"the model must return a tensor of logits, got {type(logits).__name__}.")
    return [logits.detach().cpu().numpy().copy(), *_parameters(layer, head)]


def _classifier_logits(cell, x, W_ih, W_hh, b_ih, b_hh, W_out, b_out):
    """The logits h_T W_outᵀ + b_out of the many-to-one classifier, from lstm_ref (float64)."""
    from lstm_ref.lstm import lstm_forward
    from lstm_ref.rnn import rnn_forward
    N, H = x.shape[1], W_hh.shape[1]
    if cell == "LSTM":
        hs, _, cache = lstm_forward(x, np.zeros((N, H)), np.zeros((N, H)), W_ih, W_hh, b_ih + b_hh)
    else:
        hs, cache = rnn_forward(x, np.zeros((N, H)), W_ih, W_hh, b_ih + b_hh)
    return hs[-1] @ W_out.T + b_out, hs, cache


def _reference_model(case, got):
    """The logits that the student's own parameters give, computed by lstm_ref."""
    logits, _, _ = _classifier_logits(case.inputs["cell"], case.inputs["x"], *got[1:])
    return [logits, *got[1:]]


def _cross_entropy(logits, targets):
    """Mean cross-entropy (nats) and its gradient with respect to the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = len(targets)
    loss = -log_probs[np.arange(N), targets].mean()
    dlogits = np.exp(log_probs)
    dlogits[np.arange(N), targets] -= 1
    return loss, dlogits / N


def _reference_training(cell, x, targets, epochs, lr, parameters):
    """Full-batch Adam (PyTorch's defaults) on the classifier, in NumPy: the loss before each step."""
    from lstm_ref.lstm import lstm_backward
    from lstm_ref.rnn import rnn_backward
    parameters = [p.copy() for p in parameters]
    first, second = [np.zeros_like(p) for p in parameters], [np.zeros_like(p) for p in parameters]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    losses = []
    for step in range(1, epochs + 1):
        W_ih, W_hh, b_ih, b_hh, W_out, b_out = parameters
        logits, hs, cache = _classifier_logits(cell, x, *parameters)
        loss, dlogits = _cross_entropy(logits, targets)
        losses.append(loss)
        dhs = np.zeros_like(hs)
        dhs[-1] = dlogits @ W_out
        if cell == "LSTM":
            _, _, _, dW_ih, dW_hh, db = lstm_backward(dhs, cache)
        else:
            _, _, dW_ih, dW_hh, db = rnn_backward(dhs, cache)
        gradients = [dW_ih, dW_hh, db, db, dlogits.T @ hs[-1], dlogits.sum(axis=0)]
        for p, g, m, v in zip(parameters, gradients, first, second):
            m += (g - m) * (1 - beta1)
            v *= beta2
            v += (1 - beta2) * g * g
            denominator = np.sqrt(v) / np.sqrt(1 - beta2 ** step) + eps
            p -= (lr / (1 - beta1 ** step)) * m / denominator
    return np.array(losses)


def _training_cases(rng):
    """Random cases, and one whose logits carry a large common offset: the cross-entropy does
    not change, but float32 cannot resolve it."""
    cases = []
    for cell, forced, offset in (("LSTM", {"N": 1}, 0.0), ("LSTM", {}, 0.0), ("RNN", {}, 0.0),
                                 ("LSTM", {}, 1e4)):
        sizes = _sizes(rng, **forced)
        T, N = sizes["T"], sizes["N"]
        x = np.eye(3)[rng.integers(0, 3, size=(T, N))]
        kind, extra = ("precision", ", logits offset by 1e4") if offset else ("random", "")
        cases.append(Case(f"cell={cell!r}, hidden_size={sizes['H']}, {N} windows of {T} steps, "
                          f"6 epochs{extra}", kind,
                          {"cell": cell, "hidden_size": sizes["H"], "x": x,
                           "targets": rng.integers(0, 3, size=N), "epochs": 6, "lr": 0.01,
                           "seed": int(rng.integers(0, 2**31)), "offset": offset}))
    return cases


def _grader_model(case):
    """A classifier built by the grader (lstm_labs), in float64, with initial weights from the case."""
    import torch
    from lstm_labs.models import SequenceClassifier
    torch.manual_seed(case.inputs["seed"])
    model = SequenceClassifier(case.inputs["cell"], input_size=3, hidden_size=case.inputs["hidden_size"],
                               num_classes=3).double()
    with torch.no_grad():
        model.head.bias += case.inputs["offset"]
    return model, torch.as_tensor(case.inputs["x"]), torch.as_tensor(case.inputs["targets"])


def _model_trusted():
    from lstm_labs.models import SequenceClassifier
    return frozenset({SequenceClassifier.forward.__code__})


def _floats(name, result, what):
    try:
        return np.array([float(value) for value in result], dtype=np.float64)
    except Exception:
        raise GradingError(f"{name} must return {what}, got {type(result).__name__}.") from None


def _warm_up_torch():
    """Take one Adam step outside the guard: the first one imports torch._dynamo (seconds)."""
    import torch
    parameter = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    optimizer = torch.optim.Adam([parameter])
    parameter.sum().backward()
    optimizer.step()


def _run_training(function, forward, case):
    _warm_up_torch()
    model, x, targets = _grader_model(case)
    initial = _parameters(model.recurrent, model.head)
    inputs = {"x": x.numpy(), "targets": targets.numpy()}
    result, _ = _run("train_full_batch", function, [model, (x, targets), case.inputs["epochs"],
                                                    case.inputs["lr"]], inputs, trusted=_model_trusted())
    losses = _floats("train_full_batch", result, "a list of one loss per epoch")
    return [losses, *initial]


def _reference_training_case(case, got):
    losses = _reference_training(case.inputs["cell"], case.inputs["x"], case.inputs["targets"],
                                 case.inputs["epochs"], case.inputs["lr"], got[1:])
    return [losses, *got[1:]]


def _evaluate_cases(rng):
    return [case._replace(label=case.label.replace(", 6 epochs", "")) for case in _training_cases(rng)]


def _run_evaluate(function, forward, case):
    model, x, targets = _grader_model(case)
    parameters = _parameters(model.recurrent, model.head)
    inputs = {"x": x.numpy(), "targets": targets.numpy()}
    result, _ = _run("evaluate", function, [model, x, targets], inputs, trusted=_model_trusted())
    loss_and_accuracy = _floats("evaluate", result, "(mean cross-entropy, accuracy)")
    if loss_and_accuracy.shape != (2,):
        raise GradingError("evaluate must return two numbers: (mean cross-entropy, accuracy).")
    return [loss_and_accuracy, *parameters]


def _reference_evaluate(case, got):
    logits, _, _ = _classifier_logits(case.inputs["cell"], case.inputs["x"], *got[1:])
    loss, _ = _cross_entropy(logits, case.inputs["targets"])
    accuracy = np.mean(logits.argmax(axis=1) == case.inputs["targets"])
    return [np.array([loss, accuracy]), *got[1:]]


# The registry: every graded function, by its name in the assignments.
SPECS = types.MappingProxyType({
    "rnn_step_forward": Spec(
        _rnn_step_cases, _forward_runner("rnn_step_forward", ("h",)),
        _reference("rnn", "rnn_step_forward", 1), ("h (N, H)",),
        combined="each term alone is right but not their sum: all three terms, x_t W_ihᵀ + "
                 "h_{t−1} W_hhᵀ + b, go inside one tanh"),
    "rnn_step_backward": Spec(
        _rnn_step_backward_cases,
        _backward_runner("rnn_step_backward", "rnn_step_forward", ("h",), ("dh",),
                         ("dx", "dh_prev", "dW_ih", "dW_hh", "db")),
        _backward_reference("rnn", "rnn_step_forward", "rnn_step_backward", 1, ("dh",)),
        ("dx (N, D)", "dh_prev (N, H)", "dW_ih (H, D)", "dW_hh (H, H)", "db (H,)", "h (N, H)"),
        hints=_RNN_STEP_GRAD_HINTS, combined=_TANH_LESSON, forward_outputs=1),
    "rnn_forward": Spec(
        _rnn_cases, _forward_runner("rnn_forward", ("hs",)),
        _reference("rnn", "rnn_forward", 1), ("hs (T, N, H)",), diagnose=_shifted,
        combined="each step must start from the state the previous step produced"),
    "rnn_backward": Spec(
        _rnn_backward_cases,
        _backward_runner("rnn_backward", "rnn_forward", ("hs",), ("dhs",),
                         ("dx", "dh0", "dW_ih", "dW_hh", "db")),
        _backward_reference("rnn", "rnn_forward", "rnn_backward", 1, ("dhs",)),
        ("dx (T, N, D)", "dh0 (N, H)", "dW_ih (H, D)", "dW_hh (H, H)", "db (H,)", "hs (T, N, H)"),
        hints={"dh0": "dh0 is what step 1 sends back: da_1 W_hh",
               "dW_hh": "dW_hh = Σ_t da_tᵀ h_{t−1}, with h_0 for t = 1",
               "dx": "dx_t = da_t W_ih at every t", "dW_ih": "dW_ih = Σ_t da_tᵀ x_t",
               "db": "db = Σ_t Σ_n da_t"},
        combined="going backwards, each step's dL/dh_t is dhs[t] plus what step t+1 sends back; "
                 "da_t = that sum ⊙ (1 − h_t²)", forward_outputs=1),
    "gradient_norms": Spec(
        _norm_cases, _call_spec_runner("gradient_norms", ("norms",), False),
        _plain_reference(_reference_gradient_norms), ("norms (T+1,)",),
        combined="norms[k] is ‖dL/dh_{T−k}‖ with L = Σ h_T: norms[0] = ‖ones‖ = √(N·H), and "
                 "norms[T] is the gradient at the initial state h_0"),
    "estimate_growth_factor": Spec(
        _growth_cases, _call_spec_runner("estimate_growth_factor", ("factor",), False),
        _plain_reference(_reference_growth), ("factor ()",),
        combined="fit a straight line to log(norms[k]) against k by least squares "
                 "(np.polyfit(k, np.log(norms), 1)); the factor per step is e^slope"),
    "sigmoid": Spec(
        _sigmoid_cases, _call_spec_runner("sigmoid", ("s",), False), _activation_reference,
        ("σ(z) (same shape as z)",)),
    "lstm_step_forward": Spec(
        _lstm_step_cases, _forward_runner("lstm_step_forward", ("h", "c")),
        _reference("lstm", "lstm_step_forward", 2), ("h (N, H)", "c (N, H)"),
        combined="each term alone is right but not their sum: the four gates' pre-activations are "
                 "x_t W_ihᵀ + h_{t−1} W_hhᵀ + b, split into four blocks of H columns"),
    "lstm_forward": Spec(
        _lstm_cases, _forward_runner("lstm_forward", ("hs", "cs")),
        _reference("lstm", "lstm_forward", 2), ("hs (T, N, H)", "cs (T, N, H)"), diagnose=_shifted,
        combined="each step must start from the h and c that the previous step produced"),
    "lstm_parameter_count": Spec(
        _count_cases, _call_spec_runner("lstm_parameter_count", ("count",), False),
        _plain_reference(_reference_count), ("count ()",), compare=_compare_exact,
        combined="count W_ih (4H × D), W_hh (4H × H) and b (4H): 4(HD + H² + H)"),
    "concat_weights": Spec(
        _concat_cases, _call_spec_runner("concat_weights", ("W",), False),
        _plain_reference(lambda W_ih, W_hh: np.concatenate([W_hh, W_ih], axis=1)),
        ("W (4H, H + D)",),
        combined="W · [h_{t−1}, x_t] = W_hh h_{t−1} + W_ih x_t: the W_hh columns come first"),
    "lstm_step_forward_concat": Spec(
        _concat_step_cases, _call_spec_runner("lstm_step_forward_concat", ("h", "c")),
        lambda case: _reference_concat_step(*case.inputs.values()), ("h (N, H)", "c (N, H)"),
        combined="the pre-activations are np.concatenate([h_prev, x], axis=1) @ W.T + b"),
    "numerical_gradient": Spec(
        _numerical_cases, _run_numerical, _reference_numerical, ("dx (shape of x)",),
        combined="use central differences: (L(x + eps e_k) − L(x − eps e_k)) / (2 eps), with "
                 "L = Σ f(x) ⊙ df, for every element k, and put x back exactly as it was"),
    "lstm_step_backward": Spec(
        _lstm_step_backward_cases,
        _backward_runner("lstm_step_backward", "lstm_step_forward", ("h", "c"), ("dh", "dc"),
                         ("dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db")),
        _backward_reference("lstm", "lstm_step_forward", "lstm_step_backward", 2, ("dh", "dc")),
        ("dx (N, D)", "dh_prev (N, H)", "dc_prev (N, H)", "dW_ih (4H, D)", "dW_hh (4H, H)",
         "db (4H,)", "h (N, H)", "c (N, H)"),
        hints=_LSTM_STEP_GRAD_HINTS, combined=_LSTM_GATE_LESSON, forward_outputs=2),
    "lstm_backward": Spec(
        _lstm_backward_cases,
        _backward_runner("lstm_backward", "lstm_forward", ("hs", "cs"), ("dhs", "dcT"),
                         ("dx", "dh0", "dc0", "dW_ih", "dW_hh", "db"), extra_kwargs=("dcT",)),
        _backward_reference("lstm", "lstm_forward", "lstm_backward", 2, ("dhs", "dcT"),
                            keyword=("dcT",)),
        ("dx (T, N, D)", "dh0 (N, H)", "dc0 (N, H)", "dW_ih (4H, D)", "dW_hh (4H, H)", "db (4H,)",
         "hs (T, N, H)", "cs (T, N, H)"),
        hints={"dc0": "dc0 is what step 1 sends back through the cell: (dc_1 + …) ⊙ f_1",
               "dh0": "dh0 = da_1 W_hh", "dW_hh": "dW_hh = Σ_t da_tᵀ h_{t−1}, with h_0 for t = 1"},
        combined="going backwards, carry both dh and dc from step t+1 into step t: dh_t gets "
                 "dhs[t] added, dc_t gets what step t+1 sends through f_{t+1}", forward_outputs=2),
    "gru_step_forward": Spec(
        _gru_step_cases, _forward_runner("gru_step_forward", ("h",)),
        _reference("gru", "gru_step_forward", 1), ("h (N, H)",),
        combined="each term alone is right but not their sum: r and z are σ of the r and z blocks "
                 "of x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh, and n = tanh(x_t W_xnᵀ + b_xn + "
                 "r ⊙ (h_{t−1} W_hnᵀ + b_hn))"),
    "gru_forward": Spec(
        _gru_cases, _forward_runner("gru_forward", ("hs",)),
        _reference("gru", "gru_forward", 1), ("hs (T, N, H)",), diagnose=_shifted,
        combined="each step must start from the state the previous step produced"),
    "gru_step_backward": Spec(
        _gru_step_backward_cases,
        _backward_runner("gru_step_backward", "gru_step_forward", ("h",), ("dh",),
                         ("dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh")),
        _backward_reference("gru", "gru_step_forward", "gru_step_backward", 1, ("dh",)),
        ("dx (N, D)", "dh_prev (N, H)", "dW_ih (3H, D)", "dW_hh (3H, H)", "db_ih (3H,)", "db_hh (3H,)",
         "h (N, H)"),
        hints=_GRU_STEP_GRAD_HINTS, combined=_GRU_GATE_LESSON, forward_outputs=1),
    "gru_free_parameter_count": Spec(
        _gru_free_count_cases, _call_spec_runner("gru_free_parameter_count", ("count",), False),
        _plain_reference(_reference_gru_free_count), ("count ()",), compare=_compare_exact,
        combined="count W_ih (3H × D) and W_hh (3H × H), then the biases: in the r and z blocks "
                 "only the sums b_xr + b_hr and b_xz + b_hz act (H numbers each), in the n block "
                 "b_xn and b_hn act separately (b_hn is scaled by r)"),
    "check_gradients": Spec(
        _checker_cases, _run_checker, _reference_checker, ("errors",), compare=_compare_checker),
    "make_dataset": Spec(
        _dataset_cases, _call_spec_runner("make_dataset", ("inputs", "targets")),
        lambda case: _reference_dataset(*case.inputs.values()), ("inputs", "targets"),
        compare=_compare_dataset),
    "WeatherClassifier": Spec(
        _model_cases, _run_model, _reference_model, ("logits (N, 3)",), reads_outputs=True,
        combined="the logits are the linear read-out of the last time step's output, h_T, of a "
                 "recurrent layer started from zero states"),
    "train_full_batch": Spec(
        _training_cases, _run_training, _reference_training_case, ("losses (epochs,)",),
        reads_outputs=True,
        combined="one Adam step per epoch on the whole set (torch.optim.Adam(model.parameters(), "
                 "lr=lr)), the mean cross-entropy of the logits, and losses[e] recorded before "
                 "epoch e's step; do not change the model's weights in any other way"),
    "evaluate": Spec(
        _evaluate_cases, _run_evaluate, _reference_evaluate, ("loss and accuracy (2,)",),
        reads_outputs=True,
        combined="the mean cross-entropy (nats) of the model's logits on the whole set, and the "
                 "fraction of windows whose largest logit is the target"),
})


# --- the verdict (in a fresh interpreter for hidden tests) ------------------------------------

def _cases(name, seed):
    return SPECS[name].cases(np.random.default_rng(seed))


def _compare(spec, got, expected):
    """The problems of the student's outputs against the reference's (a list), or None."""
    if spec.compare is not None:
        problem = spec.compare(got, expected)
        return [Problem("other", problem)] if problem else None
    problems = []
    for output, mine, want in zip(spec.outputs, got, expected):
        label, shape = _name(output), output[len(_name(output)) + 1:]
        want = np.asarray(want)
        if mine.shape != want.shape:
            problems.append(Problem("shape", f"{label} has shape {mine.shape}, expected {shape} = "
                                             f"{want.shape}", label))
        elif want.dtype == np.float64 and mine.dtype != np.float64:
            problems.append(Problem("dtype", f"{label} is {mine.dtype} but the inputs were float64: "
                                             f"keep float64 (no astype(np.float32), no float32 "
                                             f"arrays)", label))
        else:
            error = _rel_error(mine, want)
            if not error <= TOLERANCE:
                problems.append(Problem("value", f"{label} is wrong: relative error {error:.1e} "
                                                 f"(at most {TOLERANCE:.0e} allowed)", label, error))
    return problems or None


class Problem(NamedTuple):
    """What is wrong with one output on one case."""

    kind: str  # "shape", "dtype", "value" or "other"
    text: str
    output: str = ""
    error: float = float("inf")


def _rel_error(a, b):
    from lstm_ref.gradcheck import rel_error
    if not (np.all(np.isfinite(a))):
        return float("inf")
    return rel_error(a, b)


def verdict(name, seed, outputs):
    """Compare the student's outputs on the cases of ``seed`` with the reference; None if right.

    ``outputs`` holds, for every case of ``_cases(name, seed)``, the list of arrays
    the student's function produced. Returns the message of a failure.
    """
    spec = SPECS[name]
    cases = _cases(name, seed)
    graded = len(spec.outputs) - spec.forward_outputs
    failures, forward_wrong = [], False
    for case, got in zip(cases, outputs):
        expected = spec.reference(case, got) if spec.reads_outputs else spec.reference(case)
        problems = _compare(spec, got[:graded], expected[:graded])
        if problems:
            extra = spec.diagnose(case, got, expected) if spec.diagnose else ""
            failures.append((case, problems, extra))
        if graded < len(expected) and _compare(
                spec._replace(outputs=spec.outputs[graded:]), got[graded:], expected[graded:]):
            forward_wrong = True
    if not failures:
        return None
    return _explain(name, spec, cases, failures, forward_wrong, seed)


def _explain(name, spec, cases, failures, forward_wrong, seed):
    """The message of a failed check: the first failure, then where to look."""
    failed = {id(case) for case, _, _ in failures}
    main = [f for f in failures if f[0].kind != "probe"] or failures
    case, problems, _ = main[0]
    lines = [f"{name} is wrong on {case.label}:"]
    lines += [f"  - {problem.text}" for problem in problems]
    if len(problems) < len(spec.outputs) - spec.forward_outputs:  # some outputs right: name the rest
        lines += [f"    check: {spec.hints[p.output]}" for p in problems if p.output in spec.hints]
    lines += _where_to_look(spec, cases, failures, failed, problems)
    if forward_wrong:
        forward = name.replace("_backward", "_forward")
        lines.append(f"Note: your {forward} is wrong on these cases too, and the backward uses "
                     f"its cache: make {forward} pass first.")
    lines.append(f"(cases from seed {seed}: check({name!r}, …, seed={seed}) replays them)")
    return "\n".join(lines)


def _where_to_look(spec, cases, failures, failed, main_problems):
    """Lessons from the probes, the precision case and the spec's own diagnosis."""
    if any(problem.kind in ("shape", "dtype") for problem in main_problems):
        return []  # the problem itself says what to fix
    extras = [extra for _, _, extra in failures if extra]
    if extras:
        return [f"Look here: {extras[0]}"]
    value_errors = [p.error for case, problems, _ in failures if case.kind != "precision"
                    for p in problems if p.kind == "value"]
    if any(case.kind == "precision" for case, _, _ in failures) and max(value_errors, default=0) < 1e-4:
        return [FLOAT32_LESSON]
    lessons = [f"With {case.label} your answer is wrong too: {case.lesson}."
               for case, _, _ in failures if case.kind == "probe" and case.lesson]
    if lessons:
        return lessons[:2]
    random_failed = any(case.kind in ("random", "special") for case, _, _ in failures)
    passing = [f"Look here: {case.passing}." for case in cases
               if case.kind == "probe" and case.passing and id(case) not in failed]
    if random_failed and passing:
        return passing[:2]
    some_right = len(main_problems) < len(spec.outputs) - spec.forward_outputs
    if spec.combined and not (spec.hints and some_right):  # per-output hints said it already
        return [f"Hint: {spec.combined}."]
    return []


def _encode(outputs):
    """The student's outputs as one JSON header line and the raw bytes of every array."""
    header, blobs = [], []
    for case_outputs in outputs:
        header.append([[a.dtype.str, list(a.shape)] for a in case_outputs])
        blobs += [a.tobytes() for a in case_outputs]
    return _json_dumps(header).encode() + b"\n" + b"".join(blobs)


def _decode(data):
    line, _, rest = data.partition(b"\n")
    outputs, offset = [], 0
    for case_header in json.loads(line):
        arrays = []
        for dtype, shape in case_header:
            dtype = np.dtype(dtype)
            if dtype.kind not in "fiu":
                raise ValueError(f"unexpected dtype {dtype}")
            size = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
            arrays.append(np.frombuffer(rest[offset:offset + size], dtype=dtype).reshape(shape))
            offset += size
        outputs.append(arrays)
    return outputs


def _isolated_main():
    """The fresh interpreter's side of ``grade``: seed out, outputs in, verdict out.

    Writes "<seed> <package folder>\n", reads "<name>\n<encoded outputs>" to the end
    of its input, then writes "PASS" or "FAIL\n<message>".
    """
    seed = int.from_bytes(os.urandom(4), "little")
    sys.stdout.buffer.write(f"{seed} {PACKAGE_DIRS[0]}\n".encode())
    sys.stdout.flush()
    request = sys.stdin.buffer.read()
    name, _, payload = request.partition(b"\n")
    # Outputs full of inf or NaN fail; NumPy need not say so on stderr (our stdout).
    warnings.simplefilter("ignore")
    try:
        with np.errstate(all="ignore"):
            message = verdict(name.decode(), seed, _decode(payload))
    except Exception as error:  # a malformed payload is a failure, never a pass
        message = f"the grader could not read the outputs ({type(error).__name__}: {error})"
    sys.stdout.buffer.write(b"PASS" if message is None else b"FAIL\n" + message.encode())
    sys.stdout.flush()


_BOOT = "from lstm_course.grading import _isolated_main; _isolated_main()"


class _Isolated:
    """A fresh ``python -I`` running :func:`_isolated_main`, spoken to through raw pipes."""

    def __init__(self):
        to_child, self._to_child = _pipe()
        self._from_child, from_child = _pipe()
        actions = [(os.POSIX_SPAWN_DUP2, to_child, 0), (os.POSIX_SPAWN_DUP2, from_child, 1),
                   (os.POSIX_SPAWN_DUP2, from_child, 2)]
        self.pid = _spawn(_PYTHON, [_PYTHON, "-I", "-c", _BOOT], os.environ, file_actions=actions)
        _close(to_child)
        _close(from_child)

    def read_line(self):
        data = b""
        while not data.endswith(b"\n"):
            chunk = _read(self._from_child, 1)
            if not chunk:
                break
            data += chunk
        return data

    def finish(self, request):
        """Send ``request``, close the input, return everything the child writes."""
        view, sent = memoryview(request), 0
        while sent < len(request):
            sent += _write(self._to_child, view[sent:sent + 65536])
        _close(self._to_child)
        chunks = []
        while True:
            chunk = _read(self._from_child, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        _close(self._from_child)
        _waitpid(self.pid, 0)
        return b"".join(chunks)

    def abandon(self):
        try:
            _kill(self.pid, _SIGKILL)
        except ProcessLookupError:
            pass
        _close(self._to_child)
        _close(self._from_child)
        _waitpid(self.pid, 0)


def _start_isolated():
    """Start the verdict's interpreter: (process, seed), after checking it found this package."""
    process = _Isolated()
    seed_text, _, package = process.read_line().rstrip(b"\n").partition(b" ")
    if not seed_text.isdigit():
        process.abandon()
        raise GradingError(
            "The grader could not start its isolated interpreter: python -I cannot import "
            "lstm_ref, so install the course package into this environment (pip install -e .). "
            f"It said: {seed_text.decode(errors='replace')[-300:]}") from None
    if package.decode() != PACKAGE_DIRS[0]:
        process.abandon()
        raise GradingError(
            f"The lstm_ref imported in this notebook ({PACKAGE_DIRS[0]}) is not the installed one "
            f"({package.decode()}): a file or folder named lstm_ref next to the notebook "
            f"shadows it. Remove it.")
    return process, int(seed_text)


# --- the public entry points -------------------------------------------------------------------

def _student_outputs(name, function, forward, cases):
    spec = SPECS[name]
    return [spec.run(function, forward, case) for case in cases]


def _check_name(name):
    if name not in SPECS:
        raise ValueError(f"no graded function named {name!r}; the graded functions are "
                         f"{sorted(SPECS)}")


def check(name, function, forward=None, seed=0):
    """The visible test of a graded function: the cases of ``seed``, compared here.

    Parameters
    ----------
    name : str
        The graded function's name, e.g. "rnn_step_forward" (see ``SPECS``).
    function : callable
        The student's function.
    forward : callable, optional
        For a backward: the forward whose cache the backward receives, the
        student's own or the reference's function itself (then run as the
        grader's trusted code, see the module's docstring).
    seed : int
        The cases' seed; a hidden test's failure message gives its seed to replay.

    Raises GradingError (an AssertionError) with a lesson if the function is
    wrong, NotImplementedError if it is not written yet.
    """
    _check_name(name)
    outputs = _student_outputs(name, function, forward, _cases(name, seed))
    message = verdict(name, seed, outputs)
    if message:
        raise GradingError(message)


def grade(name, function, forward=None):
    """The hidden test of a graded function: fresh cases, judged in an isolated interpreter.

    A fresh ``python -I`` picks the seed; the student's function runs here, on
    the cases of that seed, under the guard; its outputs go back to the fresh
    interpreter, which computes the reference and the verdict. Raises like
    :func:`check`.
    """
    _check_name(name)
    process, seed = _start_isolated()
    try:
        outputs = _student_outputs(name, function, forward, _cases(name, seed))
    except BaseException:
        process.abandon()
        raise
    answer = process.finish(name.encode() + b"\n" + _encode(outputs))
    if answer == b"PASS":
        return
    if answer.startswith(b"FAIL\n"):
        raise GradingError(answer[5:].decode(errors="replace"))
    raise GradingError("the grader's isolated interpreter failed: "
                       + answer.decode(errors="replace")[-500:])


# --- this module cannot be patched by assignment ------------------------------------------------

_MODULE_DICT = types.ModuleType.__dict__["__dict__"]  # the real namespace's descriptor


class _SealedModule(types.ModuleType):
    """A module whose attributes a notebook cannot reassign or delete."""

    def __setattr__(self, name, value):
        if name.startswith("__") and name.endswith("__") and name != "__dict__":
            return super().__setattr__(name, value)
        raise AttributeError(f"lstm_course.grading cannot be changed ({name}): the tests rely on it")

    def __delattr__(self, name):
        raise AttributeError(f"lstm_course.grading cannot be changed ({name}): the tests rely on it")

    @property
    def __dict__(self):
        return types.MappingProxyType(_MODULE_DICT.__get__(self))

    def __dir__(self):
        return sorted(_MODULE_DICT.__get__(self))


sys.modules[__name__].__class__ = _SealedModule
