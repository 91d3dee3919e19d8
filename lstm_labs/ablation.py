"""Greff et al.'s ablation at course scale: every LSTM variant on two tasks, several seeds each.

Greff et al. (2017) trained eight variants of the LSTM on three tasks with
random searches over hyperparameters, and reported that none beat their
vanilla LSTM significantly, that removing the forget gate or the output
activation hurt most, and that coupling the input and forget gates or dropping
the peepholes cost little. This module runs the same changes
(``lstm_labs.variants``) at a scale a CPU affords, on two tasks generated from
seeds:

- **recall**: delayed recall (``lstm_ref.data.delayed_recall``), the symbol seen
  ``lag`` steps before the end; fresh sequences at every step; held-out accuracy
  (chance 1/3). It needs memory and never needs forgetting.
- **language**: next-token prediction on the synthetic language of
  ``lstm_ref.language`` (windows of whole sentences, fresh at every step), whose
  best possible loss is known: the held-out loss minus that floor is what a model
  has still to learn; and the share of verbs whose number the model gets
  right, which agrees with a noun several tokens back. It needs memory across a relative clause and
  needs to forget at every ".".

Every variant of a seed starts from the same draws of the shared weights and
sees the same batches; one hyperparameter setting is used for all (Greff et al.
searched one per variant, see the chapter for what that changes).
"""

import math
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

from lstm_ref import data, language
from lstm_ref._checks import check_choice, check_choices
from lstm_labs.members import member_losses, train_members
from lstm_labs.results import provenance
from lstm_labs.training import choose_device
from lstm_labs.variants import VARIANTS, LSTMVariants

TASKS = ("recall", "language")
CHANCE = 1 / 3


@dataclass(frozen=True)
class AblationScale:
    """How much of the ablation to run.

    seeds: each seed gives every variant the same initial weights and batches.
    lag, recall_steps, recall_batch, recall_hidden: delayed recall at one lag.
    length, language_steps, language_batch, language_hidden: windows of ``length``
        targets of the synthetic language.
    heldout: held-out sequences (recall) and windows (language) per seed.
    eval_every: steps between two held-out evaluations.
    """

    seeds: tuple
    lag: int
    recall_steps: int
    recall_batch: int
    recall_hidden: int
    length: int
    language_steps: int
    language_batch: int
    language_hidden: int
    heldout: int
    eval_every: int


SCALES = {
    "tiny": AblationScale(seeds=(0,), lag=3, recall_steps=4, recall_batch=8, recall_hidden=4, length=8,
                          language_steps=4, language_batch=4, language_hidden=4, heldout=16, eval_every=2),
    "book": AblationScale(seeds=(0, 1), lag=10, recall_steps=150, recall_batch=32, recall_hidden=16, length=25,
                          language_steps=100, language_batch=32, language_hidden=24, heldout=200, eval_every=25),
    "full": AblationScale(seeds=(0, 1, 2, 3, 4), lag=20, recall_steps=600, recall_batch=64, recall_hidden=32,
                          length=40, language_steps=600, language_batch=32, language_hidden=32, heldout=500,
                          eval_every=50),
}


def _number(value):
    """A float for JSON, or None where training diverged (NaN or inf)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _stacked(per_seed, seeds_of_members, device, dtype=None):
    """One array per seed -> a tensor with one slice per member (the member's seed's array)."""
    return torch.as_tensor(np.stack([per_seed[seed] for seed in seeds_of_members]), dtype=dtype, device=device)


def _recall_data(scale, seeds_of_members, device):
    """next_batch() for training and the held-out pair, for delayed recall."""
    seeds = sorted(set(seeds_of_members))
    streams = {seed: np.random.default_rng([seed, scale.lag, 0]) for seed in seeds}

    def batch(size, generators):
        drawn = {seed: data.delayed_recall(size, scale.lag, rng=generators[seed]) for seed in seeds}
        return (_stacked({s: drawn[s][0] for s in seeds}, seeds_of_members, device),
                _stacked({s: drawn[s][1] for s in seeds}, seeds_of_members, device))

    heldout = batch(scale.heldout, {seed: np.random.default_rng([seed, scale.lag, 1]) for seed in seeds})
    return (lambda: batch(scale.recall_batch, streams)), heldout


def _language_windows(num_windows, length, seed):
    """(inputs one-hot (T, N, V) float32, targets (T, N), log-probabilities (T, N)) of the language."""
    windows, log_probs = language.sentences(num_windows, length, seed=seed)
    return data.one_hot(windows[:-1], language.VOCABULARY_SIZE, np.float32), windows[1:], log_probs


def _language_data(scale, seeds_of_members, device):
    """next_batch() for training, the held-out pair, and each seed's held-out floors (all tokens, verbs)."""
    seeds = sorted(set(seeds_of_members))
    batches_per_seed = {}
    for seed in seeds:  # every training window drawn at once: one generator per seed
        inputs, targets, _ = _language_windows(scale.language_steps * scale.language_batch, scale.length,
                                               np.random.default_rng([seed, 0]))
        batches_per_seed[seed] = (np.split(inputs, scale.language_steps, axis=1),
                                  np.split(targets, scale.language_steps, axis=1))
    step = iter(range(scale.language_steps))

    def next_batch():
        k = next(step)
        return (_stacked({s: batches_per_seed[s][0][k] for s in seeds}, seeds_of_members, device),
                _stacked({s: batches_per_seed[s][1][k] for s in seeds}, seeds_of_members, device))

    heldout = {seed: _language_windows(scale.heldout, scale.length, np.random.default_rng([seed, 1])) for seed in seeds}
    floors = {seed: language.floor(log_probs) for seed, (_, _, log_probs) in heldout.items()}
    pair = (_stacked({s: heldout[s][0] for s in seeds}, seeds_of_members, device),
            _stacked({s: heldout[s][1] for s in seeds}, seeds_of_members, device))
    return next_batch, pair, floors


@torch.no_grad()
def language_scores(model, inputs, targets):
    """Each member's held-out cross-entropy, and its agreement: two (M,) tensors.

    The agreement is the share of verb targets at which the model gives more
    probability to the verbs of the right number than to those of the other
    (chance 1/2): it reads whether the model tracked which noun the verb closes.
    """
    model.eval()
    logits = model(inputs)  # (M, T, N, V)
    model.train()
    probabilities = torch.softmax(logits, dim=-1)
    singular, plural = (probabilities[..., first:first + language.VERBS_PER_NUMBER].sum(-1)
                        for first in (language.FIRST_VERB[language.SINGULAR], language.FIRST_VERB[language.PLURAL]))
    numbers = torch.as_tensor(language.verb_number(targets.cpu().numpy()), device=logits.device)
    right = torch.where(numbers == language.PLURAL, plural > singular, singular > plural)
    verbs = numbers >= 0
    agreement = (right & verbs).flatten(1).sum(1) / verbs.flatten(1).sum(1)
    return member_losses(logits, targets), agreement


def run_ablation(scale="book", seeds=None, variants=None, tasks=TASKS, hidden_size=None, lr=0.01, clip_norm=1.0,
                 device="auto", show_progress=None):
    """Train every variant with every seed on each task; return a dict ready for JSON.

    Arguments left None come from ``SCALES[scale]``; ``hidden_size`` replaces
    the hidden size of both tasks.

    ``runs`` holds one entry per (task, variant, seed): for recall the held-out
    loss and accuracy, for the language the held-out loss, the floor, and the
    excess over the floor, and the agreement of verbs (:func:`language_scores`);
    with the held-out curve of each.
    """
    check_choice("scale", scale, SCALES)
    check_choices("tasks", tasks, TASKS)
    started = time.perf_counter()
    chosen = SCALES[scale]
    if hidden_size is not None:
        chosen = replace(chosen, recall_hidden=hidden_size, language_hidden=hidden_size)
    seeds = chosen.seeds if seeds is None else tuple(seeds)
    variants = tuple(VARIANTS) if variants is None else tuple(variants)
    device = choose_device(device)
    members = [(variant, seed) for seed in seeds for variant in variants]
    names, seeds_of_members = [variant for variant, _ in members], [seed for _, seed in members]
    runs, timings = [], {}
    for task in tasks:
        task_started = time.perf_counter()
        if task == "recall":
            model = LSTMVariants(names, seeds_of_members, 3, chosen.recall_hidden, 3).to(device)
            next_batch, heldout = _recall_data(chosen, seeds_of_members, device)
            history = train_members(model, next_batch, chosen.recall_steps, heldout, lr=lr, clip_norm=clip_norm,
                                    eval_every=chosen.eval_every, show_progress=show_progress,
                                    description="ablation, recall")
            for m, (variant, seed) in enumerate(members):
                curve = [_number(row[m]) for row in history["heldout_accuracy"]]
                runs.append({"task": task, "variant": variant, "seed": seed,
                             "final": {"heldout_loss": _number(history["heldout_loss"][-1][m]),
                                       "heldout_accuracy": curve[-1]},
                             "curve": {"step": history["heldout_step"], "heldout_accuracy": curve}})
        else:
            V = language.VOCABULARY_SIZE
            model = LSTMVariants(names, seeds_of_members, V, chosen.language_hidden, V, per_step=True).to(device)
            next_batch, heldout, floors = _language_data(chosen, seeds_of_members, device)
            history = train_members(model, next_batch, chosen.language_steps, heldout, lr=lr, clip_norm=clip_norm,
                                    eval_every=chosen.eval_every, show_progress=show_progress,
                                    description="ablation, language")
            losses, agreement = language_scores(model, *heldout)
            for m, (variant, seed) in enumerate(members):
                floor = floors[seed]
                curve = [_number(row[m] - floor) for row in history["heldout_loss"]]
                runs.append({"task": task, "variant": variant, "seed": seed,
                             "final": {"heldout_loss": _number(losses[m]), "floor": floor,
                                       "excess_loss": _number(losses[m] - floor),
                                       "agreement": _number(agreement[m])},
                             "curve": {"step": history["heldout_step"], "excess_loss": curve}})
        timings[task] = round(time.perf_counter() - task_started, 3)
        if show_progress is not False:
            print(f"ablation, {task}: {len(members)} runs in {timings[task]:.1f} s", flush=True)
    config = {"scale": scale, **asdict(chosen), "seeds": list(seeds), "variants": list(variants),
              "tasks": list(tasks), "lr": lr, "clip_norm": clip_norm, "optimizer": "Adam",
              "chance_accuracy": CHANCE, "wall_time_s": timings}
    return {"lab": "ablation", "config": config, "runs": runs, "provenance": provenance(device, started)}


# ---------------------------------------------------------------------------
# summaries and figures

# The number each task is judged by, and whether larger is better.
MEASURES = {"recall": ("heldout_accuracy", True), "language": ("excess_loss", False)}
COLUMNS = {"recall": "recall: held-out accuracy", "language": "language: excess loss (nats)"}


def finals(runs, task, variant, key=None):
    """The final values of ``key`` (default: the task's measure) of a variant's runs, in seed order."""
    key = key or MEASURES[task][0]
    chosen = sorted((run for run in runs if run["task"] == task and run["variant"] == variant),
                    key=lambda run: run["seed"])
    return [run["final"][key] for run in chosen]


def _summary(values, digits):
    """"mean (min–max)" over the runs that did not diverge, and how many did."""
    kept = [value for value in values if value is not None]
    text = f"{np.mean(kept):.{digits}f} ({min(kept):.{digits}f}–{max(kept):.{digits}f})" if kept else "–"
    return text + (f", {len(values) - len(kept)} diverged" if len(kept) < len(values) else "")


def ablation_rows(runs, digits=3):
    """One row per variant: its name, Greff et al.'s, then per measure the mean and the range over seeds."""
    tasks = [task for task in TASKS if any(run["task"] == task for run in runs)]
    variants = [name for name in VARIANTS if any(run["variant"] == name for run in runs)]
    rows = []
    for variant in variants:
        row = [variant, VARIANTS[variant][0]]
        row += [_summary(finals(runs, task, variant), digits) for task in tasks]
        if "language" in tasks:
            row.append(_summary(finals(runs, "language", variant, "agreement"), digits))
        rows.append(row)
    header = ["variant", "Greff et al."] + [COLUMNS[task] for task in tasks]
    if "language" in tasks:
        header.append("language: verb agreement")
    return header, rows


def plot_ablation(runs):
    """Two panels, one above the other: recall accuracy and language excess loss per variant, a dot per
    seed and a bar for the mean."""
    import matplotlib.pyplot as plt

    from lstm_labs.plotting import COLORS

    variants = [name for name in VARIANTS if any(run["variant"] == name for run in runs)]
    figure, axes = plt.subplots(2, 1, figsize=(4.2, 5.6), layout="constrained")
    for ax, task, title, label in ((axes[0], "recall", "Delayed recall", "held-out accuracy"),
                                   (axes[1], "language", "Synthetic language", "held-out loss − floor (nats)")):
        positions = np.arange(len(variants))
        for k, variant in enumerate(variants):
            values = [value for value in finals(runs, task, variant) if value is not None]
            color = COLORS["LSTM"] if variant == "LSTM" else "#777777"
            ax.bar(k, np.mean(values), color=color, alpha=0.35, width=0.7)
            ax.scatter(np.full(len(values), k), values, color=color, s=16, zorder=3)
        ax.set_xticks(positions, variants, rotation=45)
        ax.set_title(title)
        ax.set_xlabel("variant")
        ax.set_ylabel(label)
        ax.grid(True, axis="y", alpha=0.3)
        if task == "recall":
            ax.axhline(CHANCE, color=COLORS["chance"], linestyle=":", label="chance (1/3)")
            ax.set_ylim(0, 1.05)
            ax.legend(fontsize="small", loc="lower right")
        else:
            ax.set_yscale("log")
    return figure


def compact_results(results, digits=5):
    """A smaller copy to keep beside the book: configuration, provenance, every run's final numbers rounded."""
    runs = [{"task": run["task"], "variant": run["variant"], "seed": run["seed"],
             "final": {key: None if value is None else round(value, digits) for key, value in run["final"].items()}}
            for run in results["runs"]]
    return {**results, "runs": runs}
