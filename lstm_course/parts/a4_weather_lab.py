"""Assignment 4, the weather lab in PyTorch: cases, NumPy references and lessons of its four parts.

The classifier part loads the case's weights into the student's model and compares its
logits with lstm_ref's forward. The training and evaluation parts hand the student's
functions a model the grader builds in the kernel (a linear model of the whole window,
lstm_course.client), so that they do not depend on the student's classifier; their
references are that model's loss, accuracy and Adam steps written out in NumPy.
"""

import numpy as np

from lstm_course.parts.common import Case, Part, normal, sizes
from lstm_ref.data import make_windows, one_hot, to_time_major
from lstm_ref.lstm import lstm_forward
from lstm_ref.rnn import rnn_forward

ASSIGNMENT = "a4_weather_lab"

# Part 1: windows -------------------------------------------------------------------------------


def _dataset_cases(rng):
    cases = []
    for length, look_back in ((2, 1), (int(rng.integers(12, 40)), int(rng.integers(2, 6))),
                              (int(rng.integers(5, 12)), 4)):
        sequence = rng.integers(0, 3, size=length).astype(np.int64)
        cases.append(Case(f"a sequence of {length} values with look_back={look_back}", "random",
                          {"sequence": sequence, "look_back": look_back}))
    return cases


def _dataset_reference(case):
    windows, targets = make_windows(case.inputs["sequence"], case.inputs["look_back"])
    return [to_time_major(one_hot(windows, 3, dtype=np.float32)), targets]


def _compare_dataset(got, expected):
    for name, mine, want in zip(("inputs (look_back, N, 3)", "targets (N,)"), got, expected):
        if mine.shape != want.shape:
            return f"{name} has shape {mine.shape}, expected {want.shape}"
    if got[0].dtype != np.float32:
        return f"inputs are {got[0].dtype}: PyTorch's layers expect float32 (np.float32)"
    if got[1].dtype.kind not in "iu":
        return f"targets are {got[1].dtype}: cross_entropy expects integer class indices"
    if not np.array_equal(got[0], expected[0]):
        return ("inputs are wrong: inputs[t, n] must be the one-hot code of sequence[n + t] "
                "(time-major: time first, then the window)")
    if not np.array_equal(got[1], expected[1]):
        return "targets are wrong: targets[n] must be sequence[n + look_back], the value after window n"
    return None


# Part 2: the many-to-one classifier --------------------------------------------------------------

def _classifier_cases(rng):
    cases = []
    for cell, forced in (("LSTM", {"T": 1, "N": 1}), ("LSTM", {}), ("RNN", {})):
        size = sizes(rng, **forced)
        T, N, H = size["T"], size["N"], size["H"]
        gates = 4 if cell == "LSTM" else 1
        inputs = {"cell": cell, "hidden_size": H, "x": normal(rng, T, N, 3),
                  "W_ih": normal(rng, gates * H, 3, scale=0.5), "W_hh": normal(rng, gates * H, H, scale=0.5),
                  "b_ih": normal(rng, gates * H, scale=0.5), "b_hh": normal(rng, gates * H, scale=0.5),
                  "W_out": normal(rng, 3, H), "b_out": normal(rng, 3)}
        cases.append(Case(f"cell={cell!r}, hidden_size={H}, x of shape ({T}, {N}, 3)", "random", inputs))
    return cases


def _classifier_reference(case):
    """h_T W_outᵀ + b_out, from lstm_ref's forward started at zero states (float64)."""
    x, W_ih, W_hh = case.inputs["x"], case.inputs["W_ih"], case.inputs["W_hh"]
    b = case.inputs["b_ih"] + case.inputs["b_hh"]
    N, H = x.shape[1], W_hh.shape[1]
    if case.inputs["cell"] == "LSTM":
        hs, _, _ = lstm_forward(x, np.zeros((N, H)), np.zeros((N, H)), W_ih, W_hh, b)
    else:
        hs, _ = rnn_forward(x, np.zeros((N, H)), W_ih, W_hh, b)
    return [hs[-1] @ case.inputs["W_out"].T + case.inputs["b_out"]]


# Parts 3 and 4: training and evaluation, on the grader's window model -----------------------------

def _window_logits(x, W, b):
    """The grader's model: logits = Σ_t x_t W_tᵀ + b, x (T, N, 3), W (T, 3, 3), b (3,)."""
    return np.einsum("tnd,tkd->nk", x, W) + b


def _cross_entropy(logits, targets):
    """Mean cross-entropy (nats) and its gradient with respect to the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = len(targets)
    dlogits = np.exp(log_probs)
    dlogits[np.arange(N), targets] -= 1
    return -log_probs[np.arange(N), targets].mean(), dlogits / N


def adam_losses(x, targets, W, b, epochs, lr):
    """Full-batch Adam with PyTorch's defaults on the window model: the loss before each step."""
    parameters = [W.copy(), b.copy()]
    first = [np.zeros_like(p) for p in parameters]
    second = [np.zeros_like(p) for p in parameters]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    losses = []
    for step in range(1, epochs + 1):
        loss, dlogits = _cross_entropy(_window_logits(x, *parameters), targets)
        losses.append(loss)
        gradients = [np.einsum("nk,tnd->tkd", dlogits, x), dlogits.sum(axis=0)]
        for p, g, m, v in zip(parameters, gradients, first, second):
            m += (g - m) * (1 - beta1)
            v *= beta2
            v += (1 - beta2) * g * g
            denominator = np.sqrt(v) / np.sqrt(1 - beta2 ** step) + eps
            p -= (lr / (1 - beta1 ** step)) * m / denominator
    return np.array(losses)


def _model_cases(rng, epochs=None):
    """Random cases, and one whose logits carry a large common offset: the cross-entropy does
    not change, but float32 cannot resolve it."""
    cases = []
    for forced, offset in (({"N": 1}, 0.0), ({}, 0.0), ({}, 0.0), ({}, 1e4)):
        size = sizes(rng, **forced)
        T, N = size["T"], size["N"]
        inputs = {"x": np.eye(3)[rng.integers(0, 3, size=(T, N))], "targets": rng.integers(0, 3, size=N),
                  "W": normal(rng, T, 3, 3, scale=0.5), "b": normal(rng, 3, scale=0.5) + offset}
        if epochs:
            inputs.update(epochs=epochs, lr=0.01)
        kind, extra = ("precision", ", logits offset by 1e4") if offset else ("random", "")
        what = f", {epochs} epochs" if epochs else ""
        cases.append(Case(f"the grader's model, {N} windows of {T} steps{what}{extra}", kind, inputs))
    return cases


def _training_reference(case):
    inputs = case.inputs
    return [adam_losses(inputs["x"], inputs["targets"], inputs["W"], inputs["b"], inputs["epochs"], inputs["lr"])]


def _evaluate_reference(case):
    logits = _window_logits(case.inputs["x"], case.inputs["W"], case.inputs["b"])
    loss, _ = _cross_entropy(logits, case.inputs["targets"])
    return [np.array([loss, np.mean(logits.argmax(axis=1) == case.inputs["targets"])])]


PARTS = (
    Part(ASSIGNMENT, "make_dataset", _dataset_cases,
         {"kind": "call", "args": ["sequence", "look_back"], "returns": ["inputs", "targets"]},
         _dataset_reference, ("inputs", "targets"), compare=_compare_dataset),
    Part(ASSIGNMENT, "WeatherClassifier", _classifier_cases, {"kind": "classifier"},
         _classifier_reference, ("logits (N, 3)",),
         combined="the logits are the linear read-out of the last time step's output, h_T, of a "
                  "recurrent layer started from zero states"),
    Part(ASSIGNMENT, "train_full_batch", lambda rng: _model_cases(rng, epochs=6), {"kind": "training"},
         _training_reference, ("losses (epochs,)",),
         combined="one Adam step per epoch on the whole set (torch.optim.Adam(model.parameters(), "
                  "lr=lr)), the mean cross-entropy of the logits, and losses[e] recorded before "
                  "epoch e's step; do not change the model's weights in any other way (the grader "
                  "hands your function a model of its own, a linear model of the window)"),
    Part(ASSIGNMENT, "evaluate", _model_cases, {"kind": "evaluate"},
         _evaluate_reference, ("loss and accuracy (2,)",),
         combined="the mean cross-entropy (nats) of the model's logits on the whole set, and the "
                  "fraction of windows whose largest logit is the target (the grader hands your "
                  "function a model of its own, a linear model of the window)"),
)
