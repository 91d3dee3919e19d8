"""A linear recurrence computed by a parallel scan, and a gated linear recurrent layer built on it.

The recurrence ``h_t = λ_t ⊙ h_{t-1} + β_t`` (t = 1..T, element-wise; λ_t the
decay, β_t the increment) is linear in ``h``: each step is the affine map
``φ_t(h) = λ_t ⊙ h + β_t``, and composing two such maps gives another::

    (φ_t ∘ φ_s)(h) = (λ_t ⊙ λ_s) ⊙ h + (λ_t ⊙ β_s + β_t),

so the pairs ``(λ, β)`` compose by an associative rule, and ``h_t`` is
``(φ_t ∘ … ∘ φ_1)(h_0)``: a prefix "sum" under that rule. A parallel scan
(Hillis & Steele 1986; Blelloch 1990) computes every prefix in ``ceil(log2 T)``
rounds of element-wise work instead of ``T`` dependent steps (Martin & Cundy 2018).
An LSTM cannot be scanned: its gates read ``h_{t-1}`` through a ``tanh``, so its
steps do not compose into a map of the same form.

Arrays are time-major: ``decay``, ``increment`` and the states are ``(T, N, H)``,
``h0`` is ``(N, H)``.
"""

import math
import os
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from lstm_ref._checks import check_choice, check_int
from lstm_labs.recall import train_on_recall
from lstm_labs.results import provenance
from lstm_labs.training import choose_device


def _check_recurrence(decay, increment, h0):
    if decay.dim() != 3 or decay.shape != increment.shape:
        raise ValueError(f"decay and increment must have the same shape (T, N, H), got {tuple(decay.shape)} "
                         f"and {tuple(increment.shape)}")
    if h0 is not None and h0.shape != decay.shape[1:]:
        raise ValueError(f"h0 must have shape (N, H) = {tuple(decay.shape[1:])}, got {tuple(h0.shape)}")


def linear_recurrence_loop(decay, increment, h0=None):
    """``h_t = λ_t ⊙ h_{t-1} + β_t`` for t = 1..T, one step after the other.

    ``decay`` (λ) and ``increment`` (β): ``(T, N, H)``; ``h0``: ``(N, H)``, zeros
    if None. Returns the states ``h_1 .. h_T`` as ``(T, N, H)``. T dependent
    steps: the reference that :func:`linear_recurrence_scan` is checked against.
    """
    _check_recurrence(decay, increment, h0)
    h = torch.zeros_like(increment[0]) if h0 is None else h0
    states = []
    for decay_t, increment_t in zip(decay, increment):
        h = decay_t * h + increment_t
        states.append(h)
    return torch.stack(states)


def scan_rounds(length):
    """The number of rounds of :func:`linear_recurrence_scan` for T = ``length``: ceil(log2 T)."""
    length = check_int("length", length, minimum=1)
    return math.ceil(math.log2(length)) if length > 1 else 0


def linear_recurrence_scan(decay, increment, h0=None):
    """The same states as :func:`linear_recurrence_loop`, by a Hillis–Steele scan.

    ``(P_t, Q_t)`` starts as ``(λ_t, β_t)``, the map of step t alone. Round r
    (offset d = 2^r) composes, for every t > d at once, the pair with the pair d
    steps earlier::

        Q_t <- P_t ⊙ Q_{t-d} + Q_t,    P_t <- P_t ⊙ P_{t-d}.

    Before the round, ``(P_t, Q_t)`` is the map of steps ``t-d+1 .. t`` (or from
    step 1); after it, of steps ``t-2d+1 .. t``. After ceil(log2 T) rounds it is the
    map of steps ``1 .. t``, so ``h_t = P_t ⊙ h_0 + Q_t``. Every round is a few
    element-wise products over all T steps: depth log2 T, work about T log2 T.
    """
    _check_recurrence(decay, increment, h0)
    P, Q = decay, increment
    offset = 1
    while offset < decay.shape[0]:
        # Q first: it needs the P of before this round.
        Q = torch.cat([Q[:offset], P[offset:] * Q[:-offset] + Q[offset:]])
        P = torch.cat([P[:offset], P[offset:] * P[:-offset]])
        offset *= 2
    return Q if h0 is None else P * h0 + Q


class GatedLinearRecurrence(nn.Module):
    """A recurrent layer whose state update is linear in the state, with an input-dependent decay.

    With ``x_t`` of width D and ``h_t`` of width H::

        λ_t = σ(W_λ x_t + b_λ)              the decay, per unit, from the input only
        u_t = tanh(W_u x_t + b_u)           the candidate
        h_t = λ_t ⊙ h_{t-1} + (1 - λ_t) ⊙ u_t

    (the gated impulse linear recurrence of Martin & Cundy 2018). Nothing in
    ``λ_t`` or ``u_t`` reads ``h_{t-1}``, so the steps are the linear recurrence
    ``h_t = λ_t ⊙ h_{t-1} + β_t`` with ``β_t = (1 - λ_t) ⊙ u_t``, and all T states
    come from one scan (``scan=True``) or, the same numbers, a loop.
    ``decay_bias``: if given, every b_λ is set to it (σ(3) ≈ 0.95: the state starts
    out keeping 95 % per step, like an LSTM's forget bias of 3).
    """

    def __init__(self, input_size, hidden_size, decay_bias=None, scan=True):
        super().__init__()
        check_int("input_size", input_size, minimum=1)
        check_int("hidden_size", hidden_size, minimum=1)
        self.input_size, self.hidden_size, self.scan = input_size, hidden_size, scan
        self.decay = nn.Linear(input_size, hidden_size)
        self.candidate = nn.Linear(input_size, hidden_size)
        if decay_bias is not None:
            nn.init.constant_(self.decay.bias, decay_bias)

    def forward(self, x):
        """``x`` ``(T, N, D)`` gives the states ``(T, N, H)``, from h_0 = 0."""
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"x must have shape (T, N, D) with D = {self.input_size}, got {tuple(x.shape)}")
        decay = torch.sigmoid(self.decay(x))
        increment = (1 - decay) * torch.tanh(self.candidate(x))
        return (linear_recurrence_scan if self.scan else linear_recurrence_loop)(decay, increment)


class ScanClassifier(nn.Module):
    """``num_layers`` stacked :class:`GatedLinearRecurrence` layers and a linear read-out of the top h_T.

    The only non-linearities are the gates and candidates of each layer, which
    read the layer below: a stack puts between the layers what one linear
    recurrence lacks inside.
    """

    def __init__(self, input_size=3, hidden_size=32, num_classes=3, num_layers=1, decay_bias=3.0):
        super().__init__()
        check_int("num_layers", num_layers, minimum=1)
        sizes = [input_size] + [hidden_size] * num_layers
        self.layers = nn.ModuleList(GatedLinearRecurrence(d, hidden_size, decay_bias)
                                    for d in sizes[:-1])
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        """``x`` ``(T, N, D)`` gives logits ``(N, C)``."""
        for layer in self.layers:
            x = layer(x)
        return self.head(x[-1])


# ---------------------------------------------------------------------------
# the race: wall time of forward + backward against the length T

# label -> the layer of width H (input width H too, as inside a stack) that is timed.
TIMED_LAYERS = {
    "nn.LSTM": lambda width: nn.LSTM(width, width),
    "linear, loop": lambda width: GatedLinearRecurrence(width, width, scan=False),
    "linear, scan": lambda width: GatedLinearRecurrence(width, width, scan=True),
}


def _states(layer, x):
    outputs = layer(x)
    return outputs[0] if isinstance(layer, nn.LSTM) else outputs


def time_layers(lengths, batch=16, width=64, repeats=5, seed=0, device="cpu"):
    """Wall and CPU seconds of one forward and backward pass of each layer of TIMED_LAYERS, per length.

    Length by length: each layer first runs once untimed on the input ``(T, N, H)``
    and the upstream gradient on its states, then ``repeats`` times timed, the
    three in an order that rotates from one repeat to the next, so that a busy
    machine slows them alike. Returns ``{"lengths", "batch", "width", "repeats",
    "wall_s": {label: [[s per repeat] per T]}, "cpu_s": ...}``; the CPU time is the
    process's, all threads together. On a GPU (``device``) each pass is timed until
    the device has finished it. ``load_average``: the machine's 1-minute load
    average before and after (where the system reports it), since other work on
    the machine slows the wall times.
    """
    for name, value in (("batch", batch), ("width", width), ("repeats", repeats)):
        check_int(name, value, minimum=1)
    lengths = [check_int("every length", length, minimum=1) for length in lengths]
    device = torch.device(device)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    torch.manual_seed(seed)
    layers = {label: make(width).to(device) for label, make in TIMED_LAYERS.items()}
    labels = list(layers)
    wall = {label: [[] for _ in lengths] for label in labels}
    cpu = {label: [[] for _ in lengths] for label in labels}
    load_before = _load_average()
    for index, length in enumerate(lengths):
        x = torch.randn(length, batch, width, device=device)
        upstream = torch.randn(length, batch, width, device=device)
        for repeat in range(-1, repeats):  # repeat -1 warms up and is not kept
            shift = max(repeat, 0) % len(labels)
            for label in labels[shift:] + labels[:shift]:
                layer = layers[label]
                layer.zero_grad(set_to_none=True)
                synchronize()
                wall_start, cpu_start = time.perf_counter(), time.process_time()
                _states(layer, x).backward(upstream)
                synchronize()
                if repeat >= 0:
                    wall[label][index].append(time.perf_counter() - wall_start)
                    cpu[label][index].append(time.process_time() - cpu_start)
    return {"lengths": lengths, "batch": batch, "width": width, "repeats": repeats, "device": str(device),
            "threads": torch.get_num_threads(), "load_average": [load_before, _load_average()],
            "wall_s": wall, "cpu_s": cpu}


def _load_average():
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not reported on every system
        return None


def timing_table(timings, key="wall_s"):
    """Rows ``[T, median ms of each layer...]`` of :func:`time_layers`'s ``timings[key]``."""
    labels = list(timings[key])
    return [[length] + [float(np.median(timings[key][label][index]) * 1000) for label in labels]
            for index, length in enumerate(timings["lengths"])]


# ---------------------------------------------------------------------------
# what each learns: delayed recall

# label -> a classifier of hidden size H on delayed recall; the order of every table and legend.
RECALL_MODELS = {
    "LSTM b_f=3": lambda hidden_size: _lstm_classifier(hidden_size),
    "linear, 1 layer": lambda hidden_size: ScanClassifier(hidden_size=hidden_size, num_layers=1),
    "linear, 2 layers": lambda hidden_size: ScanClassifier(hidden_size=hidden_size, num_layers=2),
}


def _lstm_classifier(hidden_size):
    from lstm_labs.models import make_classifier

    return make_classifier("LSTM", forget_bias=3.0, hidden_size=hidden_size)


def use_loop(model):
    """Make every GatedLinearRecurrence of ``model`` compute its states by the loop (the same numbers)."""
    for module in model.modules():
        if isinstance(module, GatedLinearRecurrence):
            module.scan = False
    return model


@dataclass(frozen=True)
class ScanScale:
    """How much of the race and of the recall comparison to run.

    lengths, batch, width, repeats: the timing (see :func:`time_layers`).
    lags, seeds, steps, recall_batch, hidden_size, heldout_sequences: delayed
    recall, as in Lab 2 (fresh sequences at every step, Adam 0.01, clipping at 1).
    """

    lengths: tuple
    batch: int
    width: int
    repeats: int
    lags: tuple
    seeds: tuple
    steps: int
    recall_batch: int
    hidden_size: int
    heldout_sequences: int


SCALES = {
    "tiny": ScanScale(lengths=(8, 32), batch=4, width=8, repeats=2, lags=(3,), seeds=(0,), steps=10,
                      recall_batch=16, hidden_size=8, heldout_sequences=64),
    "book": ScanScale(lengths=(64, 256, 1024, 4096), batch=8, width=64, repeats=3, lags=(5, 20), seeds=(0, 1),
                      steps=300, recall_batch=128, hidden_size=32, heldout_sequences=1000),
    "full": ScanScale(lengths=(64, 128, 256, 512, 1024, 2048, 4096, 8192), batch=8, width=64, repeats=9,
                      lags=(5, 20, 50, 100), seeds=(0, 1, 2), steps=1000, recall_batch=128, hidden_size=32,
                      heldout_sequences=2000),
}


def run_scan_recall(lags, seeds, steps, batch=128, hidden_size=32, heldout_sequences=1000, lr=0.01,
                    clip_norm=1.0, device="auto", show_progress=None, models=None):
    """Train every model of RECALL_MODELS on delayed recall at every lag and seed (``recall.train_on_recall``).

    The linear recurrences are trained with the loop, which is the faster of the
    two on a CPU and gives the same states. Returns the runs (model, lag, seed,
    parameters, training history, final held-out loss and accuracy); ``models``,
    if a dict, receives ``{(label, lag, seed): model}``.
    """
    builders = {label: (lambda make=make: use_loop(make(hidden_size))) for label, make in RECALL_MODELS.items()}
    return train_on_recall(builders, lags, seeds, steps, batch, lr, clip_norm, heldout_sequences,
                           eval_every=steps, device=choose_device(device), show_progress=show_progress,
                           print_runs=show_progress is not False, models=models)


def run_scan(scale="book", lr=0.01, clip_norm=1.0, device="auto", show_progress=None, timing=True, recall=True,
             keep_models=False):
    """The race (:func:`time_layers`) and the recall comparison at ``scale``, both on ``device``.

    Returns a dict ready for JSON: ``config``, ``timings`` (or None), ``runs``
    (or an empty list) and ``provenance``; with ``keep_models``, also ``trained``,
    ``{(label, lag, seed): model}`` (not JSON).
    """
    check_choice("scale", scale, SCALES)
    started = time.perf_counter()
    chosen = SCALES[scale]
    device = choose_device(device)
    timings = None
    if timing:
        timings = time_layers(chosen.lengths, chosen.batch, chosen.width, chosen.repeats, device=device)
    runs, trained = [], {}
    if recall:
        runs = run_scan_recall(chosen.lags, chosen.seeds, chosen.steps, chosen.recall_batch, chosen.hidden_size,
                               chosen.heldout_sequences, lr, clip_norm, device, show_progress, trained)
    config = {"scale": scale, **asdict(chosen), "lr": lr, "clip_norm": clip_norm, "optimizer": "Adam",
              "chance_accuracy": 1 / 3}
    results = {"lab": "scan", "config": config, "timings": timings, "runs": runs,
               "provenance": provenance(device, started)}
    if keep_models:
        results["trained"] = trained
    return results


@torch.no_grad()
def first_step_writing(model, x):
    """How much more each layer of a ScanClassifier writes at the first step than later.

    A layer writes ``1 - λ_t`` of its candidate into its state at step t. Returns,
    per layer, the mean of ``1 - λ_1`` over sequences and units divided by the
    mean of ``1 - λ_t`` over t >= 2: about 1 for the first layer, whose decay sees
    only the current symbol, and larger where a layer has learnt to write at the
    start and hold afterwards. ``x``: ``(T, N, D)`` with T >= 2.
    """
    if x.dim() != 3 or x.shape[0] < 2:
        raise ValueError(f"x must have shape (T, N, D) with T >= 2, got {tuple(x.shape)}")
    ratios = []
    for layer in model.layers:
        writing = 1 - torch.sigmoid(layer.decay(x))
        ratios.append(float(writing[0].mean() / writing[1:].mean()))
        x = layer(x)
    return ratios


def compact_results(results, digits=5):
    """A smaller copy of ``run_scan``'s results, to keep beside the book: the runs without their histories."""
    runs = [{**{key: value for key, value in run.items() if key != "history"},
             "final": {key: round(value, digits) for key, value in run["final"].items()}}
            for run in results["runs"]]
    return {**results, "runs": runs}


# ---------------------------------------------------------------------------
# figures

LAYER_STYLES = {"nn.LSTM": ("LSTM", "-"), "linear, loop": ("GRU", "--"), "linear, scan": ("sLSTM", "-")}


def plot_timings(timings, key="wall_s"):
    """Median time of forward + backward against T, log-log, a dot per repeat."""
    from lstm_labs.plotting import COLORS, new_axes

    kind = "wall" if key == "wall_s" else "CPU"
    ax = new_axes(f"Forward + backward, N = {timings['batch']}, H = {timings['width']}", "sequence length T",
                  f"{kind} time (ms)", log_y=True)
    ax.set_xscale("log", base=2)
    lengths = timings["lengths"]
    for label, per_length in timings[key].items():
        color, style = COLORS[LAYER_STYLES[label][0]], LAYER_STYLES[label][1]
        medians = [np.median(values) * 1000 for values in per_length]
        ax.plot(lengths, medians, color=color, linestyle=style, marker="o", label=label)
        for length, values in zip(lengths, per_length):
            ax.scatter([length] * len(values), np.array(values) * 1000, color=color, s=8, alpha=0.4)
    ax.set_xticks(lengths, [str(length) for length in lengths])
    ax.minorticks_off()
    ax.legend()
    return ax.figure


def recall_table(runs):
    """Held-out accuracy per model and lag: ``(lags, {label: [[accuracy per seed] per lag]})``."""
    lags = sorted({run["lag"] for run in runs})
    table = {}
    for label in RECALL_MODELS:
        rows = [[run["final"]["heldout_accuracy"] for run in runs if run["model"] == label and run["lag"] == lag]
                for lag in lags]
        if any(rows):
            table[label] = rows
    return lags, table
