"""Regularising an LSTM, measured: dropout, variational dropout, zoneout, weight-drop and layer normalisation.

A next-token model of the synthetic language (``lstm_ref.language``) trained on
a small fixed set of windows memorises it: its training loss falls below the
language's floor, the best loss any model can reach on new text, while its
held-out loss rises. Each regulariser below is a way to make memorising
harder; each is one setting of :class:`RegularisedLSTM`, whose members (one per
regulariser and seed, ``lstm_labs.members``) train together on the same windows
from the same initial weights:

==============  ============================  ==========================================
name            after                         what changes in training
==============  ============================  ==========================================
none                                          nothing
dropout         Zaremba et al. (2014)         x_t and h_t (to the read-out) each multiplied
                                              by a fresh mask at every step; not h_{t−1}
variational     Gal & Ghahramani (2016)       one mask per sequence, the same at every step,
                                              on x_t, on h_t to the read-out and on h_{t−1}
zoneout         Krueger et al. (2017)         each unit of h and c keeps its previous value
                                              with probability ``rate`` at each step
weight-drop     Merity et al. (2018)          entries of W_hh dropped, one mask per batch
layer norm      Ba et al. (2016)              W_ih x_t, W_hh h_{t−1} and c_t each normalised
                                              to mean 0, variance 1 over its units, with a
                                              learnt gain and bias (in evaluation too)
==============  ============================  ==========================================

Masks are "inverted": a kept value is divided by (1 − rate) in training, so
evaluation uses no mask; zoneout evaluates with the expected update,
h_t = rate·h_{t−1} + (1 − rate)·h̃_t (and likewise c_t). A member with rate 0 is
the plain LSTM, exactly.
"""

import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from lstm_ref import data, language
from lstm_ref._checks import check_choice, check_choices, check_int, check_number
from lstm_labs.members import draw_lstm_members_, evaluate_members, train_members
from lstm_labs.results import provenance
from lstm_labs.training import choose_device

REGULARISERS = ("none", "dropout", "variational", "zoneout", "weight-drop", "layer norm")


def _masks(shape, rates, generator, device):
    """Inverted dropout masks of ``shape`` (M, ...), member m's entries 0 with probability rates[m]."""
    keep = 1 - rates.reshape(-1, *([1] * (len(shape) - 1)))
    drawn = torch.rand(shape, generator=generator, device=device) < keep
    return drawn / keep.clamp(min=1e-12)


def layer_norm(a, gain, bias):
    """LN(a; α, β) = α ⊙ (a − mean(a)) / sqrt(var(a) + 1e-5) + β, mean and variance over the last axis."""
    centred = a - a.mean(-1, keepdim=True)
    return gain * centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + 1e-5) + bias


class RegularisedLSTM(nn.Module):
    """M next-token LSTMs, one regulariser each, as one batched model (member axis first).

    Parameters
    ----------
    regularisers : names of ``REGULARISERS``, one per member; "layer norm" may not be
        mixed with the others in one model (it changes every step's arithmetic).
    rates : one number in [0, 1) per member: the dropout, zoneout or weight-drop
        rate (ignored for "none" and "layer norm").
    seeds : one int per member: its initial weights, the same draws for every
        regulariser (PyTorch's default distribution, as in ``lstm_labs.variants``).
    vocabulary_size, hidden_size : V (inputs one-hot of width V, V logits) and H.
    """

    def __init__(self, regularisers, rates, seeds, vocabulary_size, hidden_size):
        super().__init__()
        regularisers, rates, seeds = list(regularisers), list(rates), list(seeds)
        unknown = [name for name in regularisers if name not in REGULARISERS]
        if unknown or not regularisers:
            raise ValueError(f"regularisers must be a non-empty list of names among {list(REGULARISERS)}, "
                             f"got {regularisers}")
        if len(rates) != len(regularisers) or len(seeds) != len(regularisers):
            raise ValueError(f"rates and seeds must have one entry per member, {len(regularisers)}, "
                             f"got {len(rates)} and {len(seeds)}")
        for rate in rates:
            if not 0 <= check_number("every rate", rate) < 1:
                raise ValueError(f"every rate must be in [0, 1), got {rate!r}")
        self.layer_norm = "layer norm" in regularisers
        if self.layer_norm and set(regularisers) != {"layer norm"}:
            raise ValueError("a model is either all 'layer norm' members or none: it changes every step's arithmetic")
        V, H = check_int("vocabulary_size", vocabulary_size, minimum=1), check_int("hidden_size", hidden_size, minimum=1)
        self.regularisers, self.seeds = regularisers, [check_int("every seed", seed) for seed in seeds]
        M = len(regularisers)
        self.W_ih = nn.Parameter(torch.empty(M, 4 * H, V))
        self.W_hh = nn.Parameter(torch.empty(M, 4 * H, H))
        self.b = nn.Parameter(torch.empty(M, 4 * H))
        self.W_out = nn.Parameter(torch.empty(M, V, H))
        self.b_out = nn.Parameter(torch.empty(M, V))
        if self.layer_norm:  # gains α (start at 1) and biases β (at 0) of the three normalisations
            self.input_gain, self.recurrent_gain = (nn.Parameter(torch.ones(M, 1, 4 * H)) for _ in range(2))
            self.input_bias, self.recurrent_bias = (nn.Parameter(torch.zeros(M, 1, 4 * H)) for _ in range(2))
            self.cell_gain, self.cell_bias = nn.Parameter(torch.ones(M, 1, H)), nn.Parameter(torch.zeros(M, 1, H))
        # Each regulariser's rate per member (0 for the others), kept as numbers: the forward makes
        # them tensors in the dtype of its input, so that a float64 model computes its masks in float64.
        self.rates = {name: [float(rate) if regulariser == name else 0.0 for regulariser, rate in zip(regularisers, rates)]
                      for name in ("dropout", "variational", "zoneout", "weight-drop")}
        self.generator = None  # the masks' random numbers: torch's global generator unless set
        self.reset_parameters()

    def reset_parameters(self):
        """Draw member m's weights from its seed, as PyTorch draws those of nn.LSTM and nn.Linear."""
        draw_lstm_members_(self.seeds, self.W_ih, self.W_hh, self.b, self.W_out, self.b_out)

    def forward(self, x):
        """x (M, T, N, V) one-hot gives logits (M, T, N, V)."""
        M, T, N, V = x.shape
        if M != len(self.regularisers) or V != self.W_ih.shape[2]:
            raise ValueError(f"x must have shape (M, T, N, V) = ({len(self.regularisers)}, T, N, "
                             f"{self.W_ih.shape[2]}), got {tuple(x.shape)}")
        H = self.W_hh.shape[2]
        training, device, generator = self.training, x.device, self.generator
        rates = {name: torch.tensor(values, dtype=x.dtype, device=device) for name, values in self.rates.items()}
        used = {name for name, values in self.rates.items() if any(values)}
        W_hh = self.W_hh
        if training and "weight-drop" in used:  # DropConnect on W_hh: one mask for the whole batch
            W_hh = W_hh * _masks(W_hh.shape, rates["weight-drop"], generator, device)
        if training and "dropout" in used:  # a fresh mask at every step, on x_t and on h_t to the read-out
            x = x * _masks(x.shape, rates["dropout"], generator, device)
        if training and "variational" in used:  # one mask per sequence, the same at every step
            x = x * _masks((M, 1, N, V), rates["variational"], generator, device)
            recurrent_mask = _masks((M, N, H), rates["variational"], generator, device)
        x_projections = torch.einsum("mtnv,mgv->tmng", x, self.W_ih).unbind(0)
        zoneout = rates["zoneout"].reshape(M, 1, 1)
        h = c = x.new_zeros(M, N, H)
        hs = []
        for t in range(T):
            h_read = h * recurrent_mask if training and "variational" in used else h
            recurrent = torch.bmm(h_read, W_hh.transpose(1, 2))
            if self.layer_norm:  # Ba et al.: LN(W_hh h_{t−1}) + LN(W_ih x_t) + b, and tanh(LN(c_t))
                a = (layer_norm(x_projections[t], self.input_gain, self.input_bias)
                     + layer_norm(recurrent, self.recurrent_gain, self.recurrent_bias) + self.b[:, None])
            else:
                a = x_projections[t] + recurrent + self.b[:, None]
            a_i, a_f, a_g, a_o = a.chunk(4, dim=-1)
            c_new = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
            c_read = layer_norm(c_new, self.cell_gain, self.cell_bias) if self.layer_norm else c_new
            h_new = torch.sigmoid(a_o) * torch.tanh(c_read)
            if "zoneout" in used:
                if training:  # keep the old value where the mask says so
                    keep_h = torch.rand(h.shape, generator=generator, device=device) < zoneout
                    keep_c = torch.rand(c.shape, generator=generator, device=device) < zoneout
                    h_new, c_new = torch.where(keep_h, h, h_new), torch.where(keep_c, c, c_new)
                else:  # the expected update
                    h_new, c_new = zoneout * h + (1 - zoneout) * h_new, zoneout * c + (1 - zoneout) * c_new
            h, c = h_new, c_new
            hs.append(h)
        hs = torch.stack(hs, dim=1)  # (M, T, N, H)
        if training and "dropout" in used:
            hs = hs * _masks(hs.shape, rates["dropout"], generator, device)
        if training and "variational" in used:
            hs = hs * _masks((M, 1, N, H), rates["variational"], generator, device)
        return torch.einsum("mtnh,mvh->mtnv", hs, self.W_out) + self.b_out[:, None, None]


# ---------------------------------------------------------------------------
# the experiment


@dataclass(frozen=True)
class RegularisationScale:
    """How much of the comparison to run.

    seeds: initial weights (and masks) per seed; the training windows are the same for all.
    train_windows, length: the fixed training set, windows of ``length`` targets.
    heldout_windows: new windows of the same language, never trained on.
    epochs: full-batch Adam steps; hidden_size: H; eval_every: epochs between evaluations.
    rates: the rate of each regulariser that has one.
    """

    seeds: tuple
    train_windows: int
    length: int
    heldout_windows: int
    epochs: int
    hidden_size: int
    eval_every: int
    rates: tuple = (("dropout", 0.3), ("variational", 0.3), ("zoneout", 0.15), ("weight-drop", 0.3))


SCALES = {
    "tiny": RegularisationScale(seeds=(0,), train_windows=4, length=8, heldout_windows=8, epochs=4, hidden_size=4,
                                eval_every=2),
    "book": RegularisationScale(seeds=(0, 1), train_windows=32, length=30, heldout_windows=100, epochs=120,
                                hidden_size=40, eval_every=10),
    "full": RegularisationScale(seeds=(0, 1, 2, 3, 4), train_windows=64, length=40, heldout_windows=300,
                                epochs=400, hidden_size=64, eval_every=20),
}


def _windows(num_windows, length, seed, device):
    """One-hot inputs (T, N, V) and targets (T, N) as tensors, and the floor of those targets."""
    windows, log_probs = language.sentences(num_windows, length, seed=seed)
    inputs = torch.as_tensor(data.one_hot(windows[:-1], language.VOCABULARY_SIZE, np.float32), device=device)
    return inputs, torch.as_tensor(windows[1:], device=device), language.floor(log_probs)


def run_regularisation(scale="book", seeds=None, regularisers=REGULARISERS, lr=0.01, clip_norm=1.0, device="auto",
                       show_progress=None):
    """Train every regulariser with every seed on one small fixed set of windows; a dict ready for JSON.

    Every member sees the whole training set at every epoch (full batch) and is
    measured on held-out windows of the same language; both losses are reported
    beside the floors of the two sets.
    """
    check_choice("scale", scale, SCALES)
    check_choices("regularisers", regularisers, REGULARISERS)
    started = time.perf_counter()
    chosen = SCALES[scale]
    seeds = chosen.seeds if seeds is None else tuple(seeds)
    device = choose_device(device)
    rates = dict(chosen.rates)
    train_x, train_y, train_floor = _windows(chosen.train_windows, chosen.length, 100, device)
    heldout_x, heldout_y, heldout_floor = _windows(chosen.heldout_windows, chosen.length, 101, device)
    runs = []
    # "layer norm" changes every step's arithmetic, so it is a model of its own.
    for group in ([name for name in regularisers if name != "layer norm"],
                  [name for name in regularisers if name == "layer norm"]):
        if not group:
            continue
        members = [(name, seed) for seed in seeds for name in group]
        model = RegularisedLSTM([name for name, _ in members], [rates.get(name, 0.0) for name, _ in members],
                                [seed for _, seed in members], language.VOCABULARY_SIZE, chosen.hidden_size).to(device)
        model.generator = torch.Generator(device=device).manual_seed(seeds[0])
        M = len(members)
        stacked = tuple(tensor.expand(M, *tensor.shape) for tensor in (train_x, train_y, heldout_x, heldout_y))
        history = train_members(model, lambda: stacked[:2], chosen.epochs, heldout=stacked[2:], lr=lr,
                                clip_norm=clip_norm, eval_every=chosen.eval_every, show_progress=show_progress,
                                description=f"regularisation, {', '.join(group)}")
        train_losses, _ = evaluate_members(model, *stacked[:2])
        for m, (name, seed) in enumerate(members):
            runs.append({"regulariser": name, "seed": seed, "rate": rates.get(name),
                         "final": {"train_loss": float(train_losses[m]),
                                   "heldout_loss": history["heldout_loss"][-1][m],
                                   "best_heldout_loss": min(row[m] for row in history["heldout_loss"])},
                         "curve": {"epoch": history["heldout_step"],
                                   "heldout_loss": [row[m] for row in history["heldout_loss"]],
                                   "train_loss": [row[m] for row in history["train_loss"]]}})
    config = {"scale": scale, **asdict(chosen), "rates": rates, "seeds": list(seeds),
              "regularisers": list(regularisers), "lr": lr, "clip_norm": clip_norm, "optimizer": "Adam",
              "train_floor": train_floor, "heldout_floor": heldout_floor,
              "train_tokens": chosen.train_windows * chosen.length}
    return {"lab": "regularisation", "config": config, "runs": runs, "provenance": provenance(device, started)}


# ---------------------------------------------------------------------------
# summaries and figures

STYLES = {"none": ("#0072B2", "-"), "dropout": ("#E69F00", "--"), "variational": ("#009E73", "-"),
          "zoneout": ("#CC79A7", "-."), "weight-drop": ("#D55E00", ":"), "layer norm": ("#555555", "--")}


def loss_rows(results, digits=3):
    """One row per regulariser: its rate, then final training, final held-out and best held-out loss (mean, range)."""
    def summary(values):
        return f"{np.mean(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"

    rows = []
    for name in REGULARISERS:
        runs = [run for run in results["runs"] if run["regulariser"] == name]
        if runs:
            rate = runs[0]["rate"]
            rows.append([name, "–" if rate is None else f"{rate:g}"]
                        + [summary([run["final"][key] for run in runs])
                           for key in ("train_loss", "heldout_loss", "best_heldout_loss")])
    header = ["regulariser", "rate", "training loss (end)", "held-out loss (end)", "held-out loss (best)"]
    return header, rows


def plot_curves(results):
    """Held-out loss against the epoch, a line per regulariser and seed, with both floors."""
    from lstm_labs.plotting import COLORS, new_axes

    config = results["config"]
    ax = new_axes(f"Synthetic language, {config['train_tokens']:,} training tokens: held-out loss", "epoch",
                  "held-out cross-entropy (nats)")
    shown = set()
    for run in results["runs"]:
        color, style = STYLES[run["regulariser"]]
        label = None if run["regulariser"] in shown else run["regulariser"]
        shown.add(run["regulariser"])
        ax.plot(run["curve"]["epoch"], run["curve"]["heldout_loss"], color=color, linestyle=style, alpha=0.85,
                label=label)
    ax.axhline(config["heldout_floor"], color=COLORS["chance"], linestyle=":", label="floor (best possible)")
    ax.set_ylim(config["heldout_floor"] - 0.2, None)
    ax.legend(fontsize="small", ncols=2)
    return ax.figure


def compact_results(results, digits=5):
    """A smaller copy to keep beside the book: every run's final numbers, no curves."""
    runs = [{key: value for key, value in run.items() if key != "curve"} for run in results["runs"]]
    runs = [{**run, "final": {key: round(value, digits) for key, value in run["final"].items()}} for run in runs]
    return {**results, "runs": runs}
