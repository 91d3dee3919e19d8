"""Lab 2: delayed recall, a target that really depends on the distant past.

Each sequence is ``lag + 1`` random weather symbols; the target is the first one,
so the model must carry it across ``lag`` distractors ("what was the weather
``lag`` days ago?"). Every training step draws a fresh batch, so nothing can be
memorised, and accuracy is measured on held-out sequences. Chance is 1/3.

Five models are compared: a tanh RNN, the LSTM at PyTorch's default
initialisation, the LSTM with its forget-gate bias set to 1 and to 3
(Gers et al. 2000; Jozefowicz et al. 2015), and the GRU. Beside accuracy, the
gradient ratio ``||dL/dx_{T-k}|| / ||dL/dx_T||`` at initialisation shows how much of
the learning signal reaches ``k`` steps back; it is computed with ``lstm_ref``'s
NumPy backward passes, the same code as the chapters.
"""

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from lstm_ref import data, diagnostics
from lstm_ref._checks import check_choice, check_choices, check_int
from lstm_labs.convert import params_from_torch
from lstm_labs.models import make_classifier
from lstm_labs.results import provenance
from lstm_labs.training import as_tensors, choose_device, prints_run_lines, seed_everything, train_on_stream

CHANCE = 1 / 3

# label -> (cell, forget-gate bias); the order is the order of every table and legend.
RECALL_MODELS = {
    "RNN": ("RNN", None),
    "LSTM": ("LSTM", None),
    "LSTM b_f=1": ("LSTM", 1.0),
    "LSTM b_f=3": ("LSTM", 3.0),
    "GRU": ("GRU", None),
}


@dataclass(frozen=True)
class RecallScale:
    """How much of Lab 2 to run.

    lags: the distances k to train at (sequences of k + 1 symbols).
    seeds: one initialisation and one data stream per seed.
    steps, batch: Adam steps, each on ``batch`` fresh sequences.
    hidden_size: H of every model.
    heldout_sequences: fixed held-out sequences per lag and seed.
    eval_every: steps between two held-out evaluations.
    ratio_length: sequence length T for the gradient ratios at initialisation.
    ratio_seeds: initialisations averaged for the gradient ratios.
    """

    lags: tuple
    seeds: tuple
    steps: int
    batch: int
    hidden_size: int
    heldout_sequences: int
    eval_every: int
    ratio_length: int
    ratio_seeds: tuple


SCALES = {
    "tiny": RecallScale(lags=(2, 5), seeds=(0,), steps=20, batch=16, hidden_size=8,
                        heldout_sequences=64, eval_every=10, ratio_length=12, ratio_seeds=(0,)),
    "book": RecallScale(lags=(5, 10, 20, 40), seeds=(0, 1), steps=500, batch=128, hidden_size=32,
                        heldout_sequences=1000, eval_every=50, ratio_length=101, ratio_seeds=(0, 1, 2)),
    "full": RecallScale(lags=(5, 10, 20, 50, 100), seeds=(0, 1, 2), steps=2000, batch=128,
                        hidden_size=32, heldout_sequences=2000, eval_every=100, ratio_length=201,
                        ratio_seeds=tuple(range(10))),
}


# ---------------------------------------------------------------------------
# the gradient ratio at initialisation, through lstm_ref


def _numpy_forward_backward(recurrent, x, dh_last_fn):
    """dL/dx for every step of ``x`` (T, N, D), through lstm_ref's NumPy backward.

    ``recurrent`` is a one-layer ``nn.LSTM``, ``nn.RNN`` or ``nn.GRU``; its weights are
    converted with ``lstm_labs.convert``. ``dh_last_fn(h_T)`` returns dL/dh_T; the loss
    reads only the last hidden state, so every other dL/dh_t arriving from above is 0.
    """
    from lstm_ref.gru import gru_backward, gru_forward
    from lstm_ref.lstm import lstm_backward, lstm_forward
    from lstm_ref.rnn import rnn_backward, rnn_forward

    T, N, _ = x.shape
    H = recurrent.hidden_size
    h0 = np.zeros((N, H))
    weights = [np.asarray(w, dtype=np.float64) for w in params_from_torch(recurrent)]
    if isinstance(recurrent, torch.nn.LSTM):
        hs, _, cache = lstm_forward(x, h0, np.zeros((N, H)), *weights)
        backward = lstm_backward
    elif isinstance(recurrent, torch.nn.GRU):
        hs, cache = gru_forward(x, h0, *weights)
        backward = gru_backward
    else:
        hs, cache = rnn_forward(x, h0, *weights)
        backward = rnn_backward
    dhs = np.zeros_like(hs)
    dhs[-1] = dh_last_fn(hs[-1])
    return backward(dhs, cache)[0]


def gradient_ratios(model, length, num_sequences=64, rng=0):
    """``||dL/dx_{T-k}|| / ||dL/dx_T||`` for ``k = 0 .. length - 1``, shape ``(length,)``.

    ``L`` is the mean cross-entropy of ``model`` (a ``SequenceClassifier`` with one
    recurrent layer) on ``num_sequences`` delayed-recall sequences of ``length``
    steps; each norm is the Frobenius norm over the batch, ``||dL/dx_t||`` of the
    ``(N, D)`` slice. Computed in float64 with lstm_ref's backward passes.
    """
    if model.recurrent.num_layers != 1:
        raise ValueError(f"gradient_ratios needs a one-layer model, got num_layers = {model.recurrent.num_layers}")
    x, targets = data.delayed_recall(num_sequences, length - 1, rng=rng, dtype=np.float64)
    W_out = model.head.weight.detach().cpu().double().numpy()
    b_out = model.head.bias.detach().cpu().double().numpy()

    def dloss_dh_last(h_last):
        # cross-entropy of softmax(h_T W_out^T + b_out): dL/dlogits = (p - y) / N
        logits = h_last @ W_out.T + b_out
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(targets)), targets] -= 1.0
        return (p / len(targets)) @ W_out

    dx = _numpy_forward_backward(model.recurrent, x, dloss_dh_last)
    return diagnostics.gradient_ratios(dx)


def ratio_curves(labels, hidden_size, length, seeds, num_sequences=64):
    """Gradient ratios at initialisation for each model label, one row per seed.

    Returns ``{label: [[ratio_k for k in 0..length-1] for seed in seeds]}``.
    """
    curves = {}
    for label in labels:
        cell, forget_bias = RECALL_MODELS[label]
        rows = []
        for seed in seeds:
            seed_everything(seed)
            model = make_classifier(cell, forget_bias=forget_bias, hidden_size=hidden_size)
            rows.append(gradient_ratios(model, length, num_sequences, rng=seed).tolist())
        curves[label] = rows
    return curves


# ---------------------------------------------------------------------------
# training


def run_recall(scale="book", lags=None, seeds=None, models=None, steps=None, batch=None,
               hidden_size=None, lr=0.01, clip_norm=1.0, device="auto", show_progress=None,
               ratios=True):
    """Train every (seed, lag, model) on delayed recall; measure held-out accuracy.

    Arguments left ``None`` come from ``SCALES[scale]``; ``models`` are labels of
    ``RECALL_MODELS``. Every model of a (seed, lag) sees the same batches and the
    same held-out set. Gradients are clipped to norm ``clip_norm`` (``None``: not
    clipped), the same for every model. A line is printed as each run ends (see
    ``training.prints_run_lines``). Returns a dict ready for JSON: ``config``, ``runs``,
    ``ratios`` (gradient ratios at initialisation) and ``provenance``.
    """
    check_choice("scale", scale, SCALES)
    started = time.perf_counter()
    chosen = SCALES[scale]
    lags = chosen.lags if lags is None else tuple(lags)
    seeds = chosen.seeds if seeds is None else tuple(seeds)
    models = tuple(RECALL_MODELS) if models is None else check_choices("models", models, RECALL_MODELS)
    for lag in lags:
        check_int("every lag", lag, minimum=1)
    steps = chosen.steps if steps is None else steps
    batch = chosen.batch if batch is None else batch
    hidden_size = chosen.hidden_size if hidden_size is None else hidden_size
    device = choose_device(device)
    runs = []
    for seed in seeds:
        for lag in lags:
            heldout = as_tensors(*data.delayed_recall(chosen.heldout_sequences, lag, rng=[seed, lag, 1]),
                                 device)
            for label in models:
                cell, forget_bias = RECALL_MODELS[label]
                seed_everything(seed)
                model = make_classifier(cell, forget_bias=forget_bias, hidden_size=hidden_size).to(device)
                stream = np.random.default_rng([seed, lag, 0])  # the same batches for every model

                def next_batch(stream=stream, lag=lag):
                    return as_tensors(*data.delayed_recall(batch, lag, rng=stream), device)

                run_started = time.perf_counter()
                history = train_on_stream(model, next_batch, heldout, steps=steps, lr=lr,
                                          clip_norm=clip_norm, eval_every=chosen.eval_every,
                                          show_progress=show_progress,
                                          description=f"{label} lag={lag} seed={seed}")
                final = {"heldout_loss": history["heldout_loss"][-1],
                         "heldout_accuracy": history["heldout_accuracy"][-1],
                         "wall_time_s": round(time.perf_counter() - run_started, 3)}
                runs.append({"model": label, "lag": lag, "seed": seed, "history": history, "final": final})
                if prints_run_lines(show_progress):
                    print(f"{label} lag={lag} seed={seed}: held-out accuracy {final['heldout_accuracy']:.3f}, "
                          f"{final['wall_time_s']:.1f} s", flush=True)
    ratio_results = None
    if ratios:
        ratio_results = {"length": chosen.ratio_length, "seeds": list(chosen.ratio_seeds),
                         "curves": ratio_curves(models, hidden_size, chosen.ratio_length, chosen.ratio_seeds)}
    config = {"scale": scale, **asdict(chosen), "lags": list(lags), "seeds": list(seeds),
              "models": list(models), "steps": steps, "batch": batch, "hidden_size": hidden_size,
              "lr": lr, "clip_norm": clip_norm, "optimizer": "Adam", "loss": "cross-entropy",
              "chance_accuracy": CHANCE}
    return {"lab": "recall", "config": config, "runs": runs, "ratios": ratio_results,
            "provenance": provenance(device, started)}


def train_on_recall(builders, lags, seeds, steps, batch=128, lr=0.01, clip_norm=1.0, heldout_sequences=1000,
                    eval_every=50, device="cpu", show_progress=None, print_runs=False, models=None):
    """Train every model of ``builders`` on delayed recall at every lag and seed, on the same batches.

    ``builders`` maps a label to a function that builds a fresh classifier. For
    each (seed, lag), every model starts from ``seed``, sees the same ``steps``
    batches of ``batch`` fresh sequences (Adam, learning rate ``lr``, gradients
    clipped to norm ``clip_norm``) and is evaluated on the same
    ``heldout_sequences`` sequences, never trained on, drawn with the seeds that
    ``run_recall`` uses. Returns the runs, one per seed, lag and model: its label,
    parameter count, training ``history`` and ``final`` held-out loss and
    accuracy and wall time. With ``print_runs``, a line is printed as each run
    ends; if ``models`` is a dict, it receives ``{(label, lag, seed): model}``.
    """
    for lag in lags:
        check_int("every lag", lag, minimum=1)
    device = torch.device(device)
    runs = []
    for seed in seeds:
        for lag in lags:
            heldout = as_tensors(*data.delayed_recall(heldout_sequences, lag, rng=[seed, lag, 1]), device)
            for label, build in builders.items():
                seed_everything(seed)
                model = build().to(device)
                stream = np.random.default_rng([seed, lag, 0])  # the same batches for every model

                def next_batch(stream=stream, lag=lag):
                    return as_tensors(*data.delayed_recall(batch, lag, rng=stream), device)

                run_started = time.perf_counter()
                history = train_on_stream(model, next_batch, heldout, steps=steps, lr=lr, clip_norm=clip_norm,
                                          eval_every=eval_every, show_progress=show_progress,
                                          description=f"{label} lag={lag} seed={seed}")
                final = {"heldout_loss": history["heldout_loss"][-1],
                         "heldout_accuracy": history["heldout_accuracy"][-1],
                         "wall_time_s": round(time.perf_counter() - run_started, 3)}
                runs.append({"model": label, "lag": lag, "seed": seed, "history": history,
                             "parameters": sum(p.numel() for p in model.parameters()), "final": final})
                if models is not None:
                    models[label, lag, seed] = model
                if print_runs:
                    print(f"{label} lag={lag} seed={seed}: held-out accuracy {final['heldout_accuracy']:.3f}, "
                          f"{final['wall_time_s']:.1f} s", flush=True)
    return runs


# ---------------------------------------------------------------------------
# summaries and figures


def accuracy_table(runs):
    """Held-out accuracy per model (rows) and lag (columns): mean over seeds, and every seed.

    Returns ``(lags, {label: [(mean, [accuracy per seed]) for lag in lags]})``.
    """
    lags = sorted({run["lag"] for run in runs})
    labels = [label for label in RECALL_MODELS if any(run["model"] == label for run in runs)]
    table = {}
    for label in labels:
        row = []
        for lag in lags:
            values = [run["final"]["heldout_accuracy"] for run in runs
                      if run["model"] == label and run["lag"] == lag]
            row.append((float(np.mean(values)), values))
        table[label] = row
    return lags, table


def _color(label):
    from lstm_labs.plotting import COLORS, FORGET_BIAS_SHADES

    cell, forget_bias = RECALL_MODELS[label]
    if cell == "LSTM":
        # PyTorch's default forget bias is the sum of two small random numbers: about 0.
        return FORGET_BIAS_SHADES[0.0 if forget_bias is None else forget_bias]
    return COLORS[cell]


def _style(label):
    return {"LSTM": "-", "LSTM b_f=1": "--", "LSTM b_f=3": "-."}.get(label, "-")


def plot_recall_accuracy(runs):
    """Held-out accuracy against the lag k: a line through the seed means, a dot per seed."""
    from lstm_labs.plotting import COLORS, new_axes

    lags, table = accuracy_table(runs)
    ax = new_axes("Delayed recall: held-out accuracy", "lag k (steps back)", "held-out accuracy",
                  figsize=(4.2, 4.4))
    ax.set_xscale("log")
    for label, row in table.items():
        means = [mean for mean, _ in row]
        ax.plot(lags, means, color=_color(label), linestyle=_style(label), marker="o", label=label)
        for lag, (_, values) in zip(lags, row):
            ax.scatter([lag] * len(values), values, color=_color(label), s=10, alpha=0.5)
    ax.axhline(CHANCE, color=COLORS["chance"], linestyle=":", label="chance (1/3)")
    ax.set_xticks(lags, [str(lag) for lag in lags])
    ax.minorticks_off()
    ax.set_ylim(0, 1.05)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    return ax.figure


def plot_gradient_ratios(ratios):
    """The gradient ratio at initialisation against k, log y: median over seeds, band min-max."""
    from lstm_labs.plotting import new_axes

    ax = new_axes("Gradient k steps back, at initialisation", "k (steps back)",
                  r"$\|\partial L/\partial x_{T-k}\| \;/\; \|\partial L/\partial x_T\|$", log_y=True,
                  figsize=(4.2, 4.4))
    for label, rows in ratios["curves"].items():
        curves = np.array(rows)
        k = np.arange(curves.shape[1])
        ax.plot(k, np.median(curves, axis=0), color=_color(label), linestyle=_style(label), label=label)
        ax.fill_between(k, curves.min(axis=0), curves.max(axis=0), color=_color(label), alpha=0.15)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    return ax.figure


def plot_learning_curves(runs, lag):
    """Held-out accuracy during training at one ``lag``: a line per model and seed."""
    from lstm_labs.plotting import COLORS, new_axes

    ax = new_axes(f"Delayed recall, k = {lag}, while training", "Adam step", "held-out accuracy",
                  figsize=(4.2, 4.4))
    shown = set()
    for run in (r for r in runs if r["lag"] == lag):
        label = run["model"] if run["model"] not in shown else None
        shown.add(run["model"])
        ax.plot(run["history"]["heldout_step"], run["history"]["heldout_accuracy"], color=_color(run["model"]),
                linestyle=_style(run["model"]), alpha=0.8, label=label)
    ax.axhline(CHANCE, color=COLORS["chance"], linestyle=":", label="chance (1/3)")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    return ax.figure


def compact_results(results, digits=5):
    """A smaller copy of ``run_recall``'s results, to keep beside the book.

    Keeps the configuration, provenance and every run's final numbers; drops the
    per-step histories; keeps, of the gradient ratios, the median over seeds per
    model; rounds the final numbers to ``digits`` decimals and the ratio medians to
    4 significant digits.
    """
    runs = [{key: value for key, value in run.items() if key != "history"} for run in results["runs"]]
    runs = [{**run, "final": {key: round(value, digits) for key, value in run["final"].items()}} for run in runs]
    ratios = results["ratios"]
    if ratios is not None:
        medians = {label: [float(f"{value:.4g}") for value in np.median(np.array(rows), axis=0)]
                   for label, rows in ratios["curves"].items()}
        ratios = {"length": ratios["length"], "seeds": ratios["seeds"], "median": medians}
    return {**results, "runs": runs, "ratios": ratios}
