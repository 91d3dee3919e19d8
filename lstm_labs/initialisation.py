"""Initialisation of recurrent networks, measured: the gradient at the start and learning on delayed recall.

The chapters measured one choice so far, the LSTM's forget-gate bias (chapters
on gradient flow, the long-range lab and practice). This module compares the
recurrent weights' initialisation, PyTorch's uniform draws against orthogonal
(Saxe et al., 2014) and identity (Le et al., 2015) matrices, and the chrono
initialisation of the gate biases (Tallec & Ollivier, 2018), in two ways:

- at initialisation, with ``lstm_ref``: how much of the gradient of a loss on
  h_T reaches h_{T−k} (``lstm_ref.diagnostics.gradient_ratios``), for the tanh
  RNN and the LSTM;
- in training: LSTMs started each way learn delayed recall at one lag, all of them
  as members of one batched model (``lstm_labs.members``), the same seeds, data
  and input weights for every initialisation.
"""

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from lstm_ref import data, diagnostics, lstm, params, rnn
from lstm_ref._checks import check_choice, check_choices
from lstm_labs.members import train_members
from lstm_labs.results import provenance
from lstm_labs.training import choose_device
from lstm_labs.variants import LSTMVariants

CHANCE = 1 / 3

# label -> (recurrent scheme, forget bias, chrono): the order of every table and legend.
# "chrono" takes T_max = the length of the sequences it is trained on.
INITIALISATIONS = {
    "uniform": ("uniform", None, False),
    "orthogonal": ("orthogonal", None, False),
    "identity": ("identity", None, False),
    "b_f = 1": ("uniform", 1.0, False),
    "chrono": ("uniform", None, True),
}


def lstm_parameters(label, D, H, seed, T_max):
    """An LSTM's (W_ih, W_hh, b) initialised as ``label`` says, from ``seed`` (lstm_ref.params)."""
    scheme, forget_bias, chrono = INITIALISATIONS[label]
    return params.init_lstm(D, H, seed=seed, forget_bias=forget_bias, recurrent=scheme,
                            chrono=T_max if chrono else None)


def ratio_curves(cell, labels, hidden_size, length, seeds, num_sequences=64):
    """‖dL/dh_{T−k}‖ / ‖dL/dh_T‖ at initialisation for k = 0..T−1, one row per seed, per label.

    L = Σ_n h_T · u_n with random unit upstream gradients u_n, the inputs
    delayed-recall sequences of ``length`` steps (one-hot, 3 symbols); computed in
    float64 by lstm_ref's forward and backward passes. ``cell`` is "RNN" or
    "LSTM"; for the RNN only the recurrent scheme of a label counts.

    Returns ``{label: (len(seeds), length) array}``.
    """
    curves = {}
    for label in labels:
        rows = []
        for seed in seeds:
            x, _ = data.delayed_recall(num_sequences, length - 1, rng=[seed, 2], dtype=np.float64)
            h0 = np.zeros((num_sequences, hidden_size))
            if cell == "RNN":
                weights = params.init_rnn(3, hidden_size, seed=seed, recurrent=INITIALISATIONS[label][0])
                hs, cache = rnn.rnn_forward(x, h0, *weights)
            else:
                weights = lstm_parameters(label, 3, hidden_size, seed, T_max=length)
                hs, _, cache = lstm.lstm_forward(x, h0, h0, *weights)
            dhs = np.zeros_like(hs)
            upstream = np.random.default_rng([seed, 3]).standard_normal(hs[-1].shape)
            dhs[-1] = upstream / np.linalg.norm(upstream, axis=1, keepdims=True)
            rows.append(diagnostics.gradient_ratios(diagnostics.hidden_gradients(dhs, cache)))
        curves[label] = np.array(rows)
    return curves


@dataclass(frozen=True)
class InitialisationScale:
    """How much of the training comparison to run.

    seeds: one set of initial weights and one data stream per seed.
    lag: the distance of delayed recall (sequences of lag + 1 symbols).
    steps, batch, hidden_size: Adam steps, sequences per step, H.
    heldout: held-out sequences per seed; eval_every: steps between evaluations.
    """

    seeds: tuple
    lag: int
    steps: int
    batch: int
    hidden_size: int
    heldout: int
    eval_every: int


SCALES = {
    "tiny": InitialisationScale(seeds=(0,), lag=3, steps=4, batch=8, hidden_size=4, heldout=16, eval_every=2),
    "book": InitialisationScale(seeds=(0, 1), lag=20, steps=200, batch=32, hidden_size=24, heldout=500,
                                eval_every=25),
    "full": InitialisationScale(seeds=(0, 1, 2, 3, 4), lag=40, steps=600, batch=64, hidden_size=32,
                                heldout=1000, eval_every=50),
}


def run_initialisation(scale="book", seeds=None, labels=None, lag=None, lr=0.01, clip_norm=1.0, device="auto",
                       show_progress=None):
    """Train an LSTM from every initialisation with every seed on delayed recall; a dict ready for JSON.

    Members of one seed share their input weights, read-out and data; they differ
    in W_hh and the gate biases only, as ``INITIALISATIONS`` sets them.
    """
    check_choice("scale", scale, SCALES)
    started = time.perf_counter()
    chosen = SCALES[scale]
    seeds = chosen.seeds if seeds is None else tuple(seeds)
    labels = tuple(INITIALISATIONS) if labels is None else check_choices("labels", labels, INITIALISATIONS)
    lag = chosen.lag if lag is None else lag
    device = choose_device(device)
    members = [(label, seed) for seed in seeds for label in labels]
    H = chosen.hidden_size
    model = LSTMVariants(["LSTM"] * len(members), [seed for _, seed in members], 3, H, 3)
    with torch.no_grad():
        for m, (label, seed) in enumerate(members):
            for name, value in zip(("W_ih", "W_hh", "b"), lstm_parameters(label, 3, H, seed, T_max=lag + 1)):
                getattr(model, name)[m] = torch.as_tensor(value)
    model.to(device)
    streams = {seed: np.random.default_rng([seed, lag, 0]) for seed in seeds}

    def batch(size, generators):
        drawn = {seed: data.delayed_recall(size, lag, rng=generators[seed]) for seed in seeds}
        return (torch.as_tensor(np.stack([drawn[seed][0] for _, seed in members]), device=device),
                torch.as_tensor(np.stack([drawn[seed][1] for _, seed in members]), device=device))

    heldout = batch(chosen.heldout, {seed: np.random.default_rng([seed, lag, 1]) for seed in seeds})
    history = train_members(model, lambda: batch(chosen.batch, streams), chosen.steps, heldout, lr=lr,
                            clip_norm=clip_norm, eval_every=chosen.eval_every, show_progress=show_progress,
                            description="initialisation, recall")
    runs = [{"initialisation": label, "seed": seed,
             "final": {"heldout_loss": history["heldout_loss"][-1][m],
                       "heldout_accuracy": history["heldout_accuracy"][-1][m]},
             "curve": {"step": history["heldout_step"],
                       "heldout_accuracy": [row[m] for row in history["heldout_accuracy"]]}}
            for m, (label, seed) in enumerate(members)]
    config = {"scale": scale, **asdict(chosen), "seeds": list(seeds), "lag": lag, "initialisations": list(labels),
              "lr": lr, "clip_norm": clip_norm, "optimizer": "Adam", "chance_accuracy": CHANCE}
    return {"lab": "initialisation", "config": config, "runs": runs, "provenance": provenance(device, started)}


# ---------------------------------------------------------------------------
# summaries and figures

STYLES = {"uniform": ("#0072B2", "-"), "orthogonal": ("#009E73", "--"), "identity": ("#D55E00", ":"),
          "b_f = 1": ("#56B4E9", "-."), "chrono": ("#CC79A7", "-")}


def accuracy_rows(runs, digits=3):
    """One row per initialisation: mean held-out accuracy, the range, and the seeds that solved it (≥ 0.95)."""
    rows = []
    for label in INITIALISATIONS:
        values = [run["final"]["heldout_accuracy"] for run in sorted(runs, key=lambda run: run["seed"])
                  if run["initialisation"] == label]
        if values:
            rows.append([label, f"{np.mean(values):.{digits}f}", f"{min(values):.{digits}f}–{max(values):.{digits}f}",
                         f"{sum(value >= 0.95 for value in values)}/{len(values)}"])
    return ["initialisation", "held-out accuracy (mean)", "range over seeds", "seeds solved"], rows


def plot_ratio_curves(curves, title, ax=None):
    """Median gradient ratio over seeds against k, a band from the smallest to the largest, log y."""
    from lstm_labs.plotting import new_axes

    ax = new_axes(title, "k (steps back)", r"$\|\partial L/\partial h_{T-k}\| \,/\, \|\partial L/\partial h_T\|$",
                  log_y=True, ax=ax)
    for label, rows in curves.items():
        color, style = STYLES[label]
        k = np.arange(rows.shape[1])
        ax.plot(k, np.median(rows, axis=0), color=color, linestyle=style, label=label)
        ax.fill_between(k, rows.min(axis=0), rows.max(axis=0), color=color, alpha=0.15)
    ax.legend(fontsize="small")
    return ax


def plot_learning_curves(runs, lag):
    """Held-out accuracy during training: a line per initialisation and seed."""
    from lstm_labs.plotting import COLORS, new_axes

    ax = new_axes(f"Delayed recall, k = {lag}: held-out accuracy while training", "Adam step",
                  "held-out accuracy")
    shown = set()
    for run in runs:
        color, style = STYLES[run["initialisation"]]
        label = None if run["initialisation"] in shown else run["initialisation"]
        shown.add(run["initialisation"])
        ax.plot(run["curve"]["step"], run["curve"]["heldout_accuracy"], color=color, linestyle=style, alpha=0.8,
                label=label)
    ax.axhline(CHANCE, color=COLORS["chance"], linestyle=":", label="chance (1/3)")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize="small", loc="upper left")
    return ax.figure


def compact_results(results, digits=5):
    """A smaller copy to keep beside the book: every run's final numbers, no curves."""
    runs = [{"initialisation": run["initialisation"], "seed": run["seed"],
             "final": {key: round(value, digits) for key, value in run["final"].items()}}
            for run in results["runs"]]
    return {**results, "runs": runs}
