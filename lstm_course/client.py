"""The course's code that runs where the student's code runs: the visible check, and calls.

Two users, one way of calling a student's function:

* ``check(part, function, forward=None, seed=0)`` is the visible test of a released
  notebook: a student's instant self-test, with the same cases and messages as the
  grade. It needs the course installed (``lstm_course`` and the reference ``lstm_ref``),
  which a student's environment has and a grading sandbox does not.
* ``serve(spec, data, functions)`` is what the grader runs inside a sandboxed kernel:
  it calls the student's function on the cases it is sent and sends back plain arrays
  (``.npz`` without pickle, base64 in a display message). The grader decides the score
  outside the kernel; nothing here is trusted.

This module imports NumPy only (PyTorch only to call a4's answers), and nothing that
holds an answer: the test functions handed to ``numerical_gradient`` and the
forward/backward pairs handed to ``check_gradients`` compute no assignment's answer.
"""

import base64
import contextlib
import io
import json
import os
import signal
import sys
import threading
import traceback
import warnings

import numpy as np

REPLY_MIMETYPE = "application/vnd.lstm-course.reply+json"
TIME_LIMIT = 20  # seconds for one call of a student's function in the visible check (POSIX)


class CallError(Exception):
    """A student's function could not be called, or returned something unusable; the message says why."""


def check(part, function, forward=None, seed=0):
    """Run the visible test of ``part`` on ``function``: silent if right, AssertionError that teaches if not.

    ``forward`` is the forward pass a backward part runs first, to make its cache;
    ``seed`` chooses the cases (the feedback of a grade names the seed that replays a
    failing case).
    """
    try:
        from lstm_course import grading
    except ImportError as error:
        if os.environ.get("LSTM_COURSE_SANDBOX"):
            print(f"(the visible check of {part} does not run while the notebook is graded)")
            return
        raise RuntimeError(
            "the visible check needs the course installed in this environment: "
            "pip install 'lstm-course[student]' (it brings lstm_ref, the reference it compares with). "
            f"({error})") from None
    grading.check(part, function, forward=forward, seed=seed)


# --- calling a student's function ----------------------------------------------------------------

def _deepest_student_line(error):
    """' (line 7: h = x @ W_ih)' for the deepest traceback frame outside libraries, else ''."""
    libraries = tuple(os.path.realpath(p) + os.sep for p in {sys.prefix, sys.base_prefix})
    here = os.path.realpath(__file__)
    found = ""
    for frame, line in traceback.walk_tb(error.__traceback__):
        filename = frame.f_code.co_filename
        path = os.path.realpath(filename) if not filename.startswith("<") else filename
        if path == here or path.startswith(libraries):
            continue
        source = traceback.FrameSummary(filename, line, frame.f_code.co_name).line
        found = f" (line {line}: {source})" if source else f" (line {line})"
    return found


@contextlib.contextmanager
def _time_limit(seconds):
    """Raise TimeoutError after ``seconds`` where POSIX alarms exist (main thread); elsewhere no limit."""
    usable = hasattr(signal, "SIGALRM") and seconds and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise TimeoutError(f"no result after {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _call(name, function, args, kwargs=None, inputs=None, time_limit=None):
    """``function(*args, **kwargs)``, with what went wrong turned into a CallError that teaches.

    ``inputs`` (name -> array) are compared before and after: changing one in place fails.
    A NotImplementedError passes through: the part is not answered yet.
    """
    if not callable(function):
        raise CallError(f"{name} must be a function, got {type(function).__name__}.")
    before = {key: value.copy() for key, value in (inputs or {}).items() if isinstance(value, np.ndarray)}
    with warnings.catch_warnings(record=True) as caught, np.errstate(all="warn"):
        warnings.simplefilter("always")
        try:
            with _time_limit(time_limit):
                result = function(*args, **(kwargs or {}))
        except NotImplementedError:
            raise
        except TimeoutError:
            raise CallError(f"{name} did not finish within {time_limit} s on this tiny case: "
                            f"look for a loop that never ends.") from None
        except Exception as error:
            raise CallError(f"{name} raised {type(error).__name__}: {error}"
                            f"{_deepest_student_line(error)}") from None
    for key, value in before.items():
        if not np.array_equal(inputs[key], value, equal_nan=True):
            raise CallError(f"{name} changed its input {key} in place: work on new arrays "
                            f"(a = a + 1, not a += 1 on an array you were given; copy before you "
                            f"perturb).")
    overflow = [w for w in caught if "overflow" in str(w.message)]
    return result, overflow


def _as_arrays(name, result, names):
    """The outputs named in ``names`` ("cache" skipped) as NumPy arrays, or a CallError.

    One name: ``result`` is that output; several: ``result`` must be a tuple of them.
    """
    if len(names) > 1 and (type(result) is not tuple or len(result) != len(names)):
        got = f"a tuple of {len(result)}" if type(result) is tuple else f"a {type(result).__name__}"
        raise CallError(f"{name} must return a tuple ({', '.join(names)}), got {got}.")
    return [_as_array(name, label, value)
            for label, value in zip(names, result if len(names) > 1 else (result,)) if label != "cache"]


def _as_array(name, label, value):
    if isinstance(value, (float, int, np.floating, np.integer)) and not isinstance(value, (bool, np.bool_)):
        value = np.asarray(value)
    if type(value) is not np.ndarray or value.dtype.kind not in "fiu":
        kind = f" of dtype {value.dtype}" if isinstance(value, np.ndarray) else ""
        raise CallError(f"{name}: {label} must be a NumPy array of numbers, got {type(value).__name__}{kind}.")
    return value.copy()


# The functions handed to a student's numerical_gradient: f(x) = x³ and f(x) = exp(x A).
def cube(x):
    """f(x) = x³, elementwise."""
    return x ** 3


def exp_of_product(A):
    def f(x):
        """f(x) = exp(x A)."""
        return np.exp(x @ A)
    return f


# The pairs handed to a student's check_gradients. They differentiate a small made-up
# elementwise layer, a = x ⊙ W + b, y = sin(a) (and a second output a²/2): a right one with
# one output, a right one with two, and one whose gradient of W is twice the right one.
def _layer_pair(two_outputs=False, planted_bug=False):
    def forward(x, W, b):
        a = x * W + b
        outputs = (np.sin(a), a * a / 2) if two_outputs else (np.sin(a),)
        return (*outputs, (x, W, a))

    def backward(*upstream_and_cache):
        *upstream, (x, W, a) = upstream_and_cache
        da = upstream[0] * np.cos(a)
        if two_outputs:
            da = da + upstream[1] * a
        return da * W, da * x * (2.0 if planted_bug else 1.0), da

    return forward, backward


PAIRS = {  # name -> (forward, backward, the input whose gradient is wrong or None)
    "one output": (*_layer_pair(), None),
    "two outputs": (*_layer_pair(two_outputs=True), None),
    "a bug planted in dW": (*_layer_pair(planted_bug=True), "W"),
}
PAIR_INPUTS = ("x", "W", "b")


def _torch_model(spec, arrays):
    """The grader's model for a4's training and evaluation parts: logits = Σ_t x_t W_tᵀ + b.

    A linear model of the whole window, in float64, built here so that those parts do not
    depend on the student's classifier (part 2).
    """
    import torch

    class WindowModel(torch.nn.Module):
        def __init__(self, W, b):
            super().__init__()
            self.W = torch.nn.Parameter(torch.as_tensor(W))
            self.b = torch.nn.Parameter(torch.as_tensor(b))

        def forward(self, x):
            return torch.einsum("tnd,tkd->nk", x, self.W) + self.b

    return WindowModel(arrays["W"].copy(), arrays["b"].copy())


def _classifier_layers(name, model, cell, hidden_size):
    """The recurrent layer and the linear read-out of a student's classifier, or a CallError."""
    from torch import nn
    recurrent = [m for m in model.modules() if isinstance(m, (nn.LSTM, nn.RNN, nn.GRU))]
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    kind = nn.LSTM if cell == "LSTM" else nn.RNN
    if len(recurrent) != 1 or type(recurrent[0]) is not kind or len(linear) != 1:
        raise CallError(
            f"{name}(cell={cell!r}) must hold exactly one torch.nn.{cell} and one torch.nn.Linear, "
            f"got {len(recurrent)} recurrent layer(s) ({', '.join(type(m).__name__ for m in recurrent)}) "
            f"and {len(linear)} linear layer(s).")
    layer, head = recurrent[0], linear[0]
    wanted = {"input_size": 3, "hidden_size": hidden_size, "num_layers": 1, "batch_first": False,
              "bias": True, "bidirectional": False}
    for attribute, value in wanted.items():
        if getattr(layer, attribute) != value:
            raise CallError(f"{name}: the {cell} layer has {attribute}={getattr(layer, attribute)}, "
                            f"expected {value}.")
    if (head.in_features, head.out_features) != (hidden_size, 3):
        raise CallError(f"{name}: the linear read-out maps {head.in_features} to {head.out_features} "
                        f"features, expected hidden_size={hidden_size} to 3 classes.")
    return layer, head


def call_case(spec, functions, arrays, time_limit=None):
    """Call the student's function on one case as ``spec`` says; return its outputs as arrays.

    ``spec`` is plain data (JSON): ``kind`` and the names involved; ``functions`` maps
    "function" (and "forward" for a backward) to what the notebook defines; ``arrays``
    are the case's inputs by name. Raises CallError (with a message for the student) or
    NotImplementedError.
    """
    name, kind = spec["function"], spec["kind"]
    function = functions["function"]
    if kind == "call":
        args = [arrays[key] if key in arrays else spec["scalars"][key] for key in spec["args"]]
        result, overflow = _call(name, function, args, inputs=arrays, time_limit=time_limit)
        if overflow and spec.get("no_overflow"):
            raise CallError(f"{name} gave a warning ({overflow[0].message}): a stable {name} never "
                            f"computes e^z for a large positive z: use e^(−|z|), for example "
                            f"σ(z) = e^(min(z, 0)) / (1 + e^(−|z|)) (np.where evaluates both "
                            f"branches, so it warns too).")
        return _as_arrays(name, result, spec["returns"])
    if kind == "backward":
        forward_name = spec["forward"]
        if functions.get("forward") is None:
            raise CallError(f"grading {name} needs the forward pass: pass forward={forward_name}.")
        forward_inputs = {key: arrays[key] for key in spec["forward_args"]}
        result, _ = _call(forward_name, functions["forward"], list(forward_inputs.values()),
                          inputs=forward_inputs, time_limit=time_limit)
        n_outputs = len(spec["forward_returns"])
        if type(result) is not tuple or len(result) != n_outputs + 1:
            raise CallError(f"{forward_name} must return a tuple of {n_outputs + 1} "
                            f"({', '.join(spec['forward_returns'])}, cache).")
        *forward_outputs, cache = result
        args = [arrays[key] for key in spec["upstream"]] + [cache]
        kwargs = {key: arrays[key] for key in spec.get("keyword", []) if key in arrays}
        result, _ = _call(name, function, args, kwargs, inputs=arrays, time_limit=time_limit)
        gradients = _as_arrays(name, result, spec["returns"])
        return gradients + [_as_array(forward_name, label, value)
                            for label, value in zip(spec["forward_returns"], forward_outputs)]
    if kind == "numerical":
        f = cube if spec["scalars"]["f"] == "cube" else exp_of_product(arrays["A"])
        result, _ = _call(name, function, [f, arrays["x"], arrays["df"]],
                          inputs={"x": arrays["x"], "df": arrays["df"]}, time_limit=time_limit)
        return _as_arrays(name, result, ["dx"])
    if kind == "checker":
        pair_forward, pair_backward, _ = PAIRS[spec["scalars"]["pair"]]
        inputs = {key: arrays[key] for key in PAIR_INPUTS}
        result, _ = _call(name, function, [pair_forward, pair_backward, inputs], inputs=inputs,
                          time_limit=time_limit)
        try:
            return [np.array([float(result[key]) for key in PAIR_INPUTS])]
        except Exception:
            raise CallError(f"{name} must return a dict from each input's name ({', '.join(PAIR_INPUTS)}) "
                            f"to a relative error, e.g. {{'x': 2e-10, …}}.") from None
    if kind in ("classifier", "training", "evaluate"):
        return _call_torch(spec, function, arrays, time_limit)
    raise CallError(f"unknown kind of call {kind!r}")


def _call_torch(spec, function, arrays, time_limit):
    """a4's parts: a student's classifier, trainer or evaluator, with PyTorch in float64."""
    import torch
    name, kind, scalars = spec["function"], spec["kind"], spec["scalars"]
    x = torch.as_tensor(arrays["x"])
    if kind == "classifier":
        cell, hidden_size = scalars["cell"], int(scalars["hidden_size"])
        model, _ = _call(name, function, [cell, hidden_size], time_limit=time_limit)
        if not isinstance(model, torch.nn.Module):
            raise CallError(f"{name}(cell, hidden_size) must build a torch.nn.Module, "
                            f"got {type(model).__name__}.")
        layer, head = _classifier_layers(name, model, cell, hidden_size)
        model.double()
        with torch.no_grad():
            for tensor, key in [(layer.weight_ih_l0, "W_ih"), (layer.weight_hh_l0, "W_hh"),
                                (layer.bias_ih_l0, "b_ih"), (layer.bias_hh_l0, "b_hh"),
                                (head.weight, "W_out"), (head.bias, "b_out")]:
                tensor.copy_(torch.as_tensor(arrays[key]))
        logits, _ = _call(f"{name}.forward", model, [x], time_limit=time_limit)
        if not isinstance(logits, torch.Tensor):
            raise CallError(f"the model must return a tensor of logits, got {type(logits).__name__}.")
        return [logits.detach().cpu().numpy().copy()]
    model = _torch_model(spec, arrays)
    targets = torch.as_tensor(arrays["targets"])
    if kind == "training":
        result, _ = _call(name, function, [model, (x, targets), int(scalars["epochs"]), float(scalars["lr"])],
                          time_limit=time_limit)
        what = "a list of one loss per epoch"
    else:
        result, _ = _call(name, function, [model, x, targets], time_limit=time_limit)
        what = "(mean cross-entropy, accuracy)"
    try:
        values = np.array([float(value) for value in result], dtype=np.float64)
    except Exception:
        raise CallError(f"{name} must return {what}, got {type(result).__name__}.") from None
    return [values]


# --- the grader's side, inside the sandboxed kernel --------------------------------------------

def encode_arrays(arrays):
    """A dict of arrays as base64 text of an .npz file (no pickle)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_arrays(text):
    """The dict of arrays that :func:`encode_arrays` made (refusing anything pickled)."""
    with np.load(io.BytesIO(base64.b64decode(text)), allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def serve(spec, data, functions):
    """Call the student's function on every case the grader sent; publish the outputs.

    ``spec`` is the part's call (JSON text), ``data`` the cases' arrays (``case3/x``, …,
    from :func:`encode_arrays`), ``functions`` a callable returning the notebook's
    functions by role (so that a missing name is reported here, not as a crash).
    """
    spec = json.loads(spec)
    arrays = decode_arrays(data)
    try:
        found = functions()
    except NameError as error:
        found = error
    results, outputs = [], {}
    for index, scalars in enumerate(spec["cases"]):
        prefix = f"case{index}/"
        case_arrays = {key[len(prefix):]: value for key, value in arrays.items() if key.startswith(prefix)}
        case_spec = dict(spec, scalars=scalars)
        try:
            if isinstance(found, NameError):
                raise CallError(f"{found}: run the cell that defines it (and keep its name).")
            got = call_case(case_spec, found, case_arrays)
        except NotImplementedError:
            results.append({"status": "not answered"})
            continue
        except CallError as error:
            results.append({"status": "error", "message": str(error)})
            continue
        except (Exception, SystemExit) as error:  # an interrupt (the time limit) ends the call
            results.append({"status": "error", "message": f"{type(error).__name__}: {error}"})
            continue
        for position, value in enumerate(got):
            outputs[f"{prefix}{position}"] = value
        results.append({"status": "ok", "outputs": len(got)})
    reply = {"results": results, "arrays": encode_arrays(outputs)}
    from IPython.display import display
    display({REPLY_MIMETYPE: reply}, raw=True)
