"""Lab 1: the published synthetic weather experiment, reproduced and examined.

The set-up follows the article being reproduced (Iwai, Kernel Labs; key
``iwaiweather``): 500,000 i.i.d. uniform draws from {Sunny, Rainy, Cloudy}
with ``np.random.seed(42)``; windows of ``look_back`` steps, each labelled with the
value that follows; one-hot inputs, time-major; ``nn.LSTM(3, 10)`` or ``nn.RNN(3, 10)``
and a linear read-out; cross-entropy, Adam with learning rate 0.01, the whole set as
one batch, 400 epochs; training sets from the first 10,000, 50,000 and 100,000 values.

What this module adds, to test the article's claims: held-out windows the models
never trained on (the end of the same 500,000-value stream, which training never
reaches), accuracy beside loss, several seeds, and a Markov weather chain whose
best possible loss and accuracy are known in closed form.

``look_back`` is not published; it defaults to 10 (a short window: with i.i.d.
labels no window length can help, and 10 keeps the full grid near ten minutes on
two CPU cores).
"""

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from lstm_ref import data
from lstm_ref._checks import check_choice
from lstm_labs.models import make_classifier
from lstm_labs.results import provenance
from lstm_labs.training import (as_tensors, choose_device, evaluate, prints_run_lines, seed_everything,
                                train_full_batch)

LN3 = math.log(3)
STREAM_LENGTH = 500_000  # the published raw data: np.random.randint(0, 3, size=500000)

# The article's results as printed: the final training loss (labelled "Training
# MSE" there, though it is the cross-entropy), the predicted weather, and the
# scores it calls probabilities.
PUBLISHED_RESULTS = (
    {"size": 10_000, "model": "LSTM", "loss": 1.0585, "label": "Rainy", "scores": (-0.0982, -0.1910, 0.3882)},
    {"size": 10_000, "model": "RNN", "loss": 1.0796, "label": "Rainy", "scores": (-0.2650, -0.2228, -0.1560)},
    {"size": 50_000, "model": "LSTM", "loss": 1.0746, "label": "Cloudy", "scores": (-0.2796, 0.0365, -0.0602)},
    {"size": 50_000, "model": "RNN", "loss": 1.0962, "label": "Rainy", "scores": (-0.0424, 0.0275, -0.1372)},
    {"size": 100_000, "model": "LSTM", "loss": 1.1032, "label": "Rainy", "scores": (-0.2634, -0.1805, -0.0692)},
    {"size": 100_000, "model": "RNN", "loss": 1.0975, "label": "Rainy", "scores": (-0.4659, -0.4143, -0.4574)},
)


@dataclass(frozen=True)
class WeatherScale:
    """How much of the experiment to run.

    sizes: values of the stream each training set is cut from (the article's
        "sequence length"); a training set of ``size`` values has
        ``size - look_back`` windows.
    seeds: each seed draws its own 500,000-value stream and its own initial
        weights; seed 42 is the published stream.
    epochs: full-batch Adam steps per model.
    heldout_windows: windows cut from the end of the stream, never trained on.
    eval_every: epochs between two held-out evaluations.
    markov_size: values of the Markov chain the Markov comparison trains on.
    """

    sizes: tuple
    seeds: tuple
    epochs: int
    heldout_windows: int
    eval_every: int
    markov_size: int


SCALES = {
    # seconds: for the tests
    "tiny": WeatherScale(sizes=(200, 400), seeds=(42,), epochs=12, heldout_windows=300,
                         eval_every=4, markov_size=300),
    # the book build: the published sizes divided by 10, the published seed only
    "book": WeatherScale(sizes=(1_000, 5_000, 10_000), seeds=(42,), epochs=400,
                         heldout_windows=5_000, eval_every=10, markov_size=2_000),
    # the published grid, three seeds: about ten minutes per seed on 2 CPU cores
    "full": WeatherScale(sizes=(10_000, 50_000, 100_000), seeds=(42, 43, 44), epochs=400,
                         heldout_windows=20_000, eval_every=1, markov_size=10_000),
}


def published_label_check():
    """Each published row with the label its own scores give under the class map.

    Returns one dict per row of ``PUBLISHED_RESULTS`` with ``argmax_label`` (the
    weather of the largest score, classes ``0 = Sunny, 1 = Rainy, 2 = Cloudy``),
    ``agrees`` (whether that is the printed label), ``score_sum`` and
    ``softmax`` (the probabilities the scores would give if they are logits).
    """
    rows = []
    for row in PUBLISHED_RESULTS:
        scores = np.array(row["scores"])
        probabilities = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
        argmax_label = data.CLASS_NAMES[int(scores.argmax())]
        rows.append({**row, "argmax_label": argmax_label, "agrees": argmax_label == row["label"],
                     "score_sum": float(scores.sum()), "softmax": probabilities.tolist()})
    return rows


def window_tensors(sequence, look_back, device):
    """Windows of ``sequence`` as time-major one-hot inputs (look_back, N, 3) and targets (N,)."""
    windows, targets = data.make_windows(sequence, look_back)
    inputs = data.to_time_major(data.one_hot(windows, 3, np.float32))
    return as_tensors(inputs, targets, device)


@torch.no_grad()
def published_prediction(model, stream, size, device):
    """The article's inference: the last ``size`` values read as one sequence, argmax.

    Returns the predicted weather, the logits (what the article printed as
    probabilities) and their softmax (the probabilities).
    """
    model.eval()
    inputs = torch.as_tensor(data.one_hot(stream[-size:], 3, np.float32)[:, None, :], device=device)
    logits = model(inputs)[0]
    return {"label": data.CLASS_NAMES[int(logits.argmax())],
            "logits": logits.cpu().tolist(),
            "probabilities": torch.softmax(logits, dim=0).cpu().tolist()}


def _train_and_measure(cell, train, heldout, settings, device, description):
    """Build a seeded classifier, train it full-batch, and measure it on both sets."""
    seed_everything(settings["seed"])
    model = make_classifier(cell, hidden_size=settings["hidden_size"]).to(device)
    started = time.perf_counter()
    history = train_full_batch(model, train, heldout, epochs=settings["epochs"], lr=settings["lr"],
                               clip_norm=settings["clip_norm"], eval_every=settings["eval_every"],
                               show_progress=settings["show_progress"], description=description)
    train_loss, train_accuracy = evaluate(model, *train)
    heldout_loss, heldout_accuracy = evaluate(model, *heldout)
    final = {"train_loss_last_epoch": history["train_loss"][-1], "train_loss": train_loss,
             "train_accuracy": train_accuracy, "heldout_loss": heldout_loss,
             "heldout_accuracy": heldout_accuracy, "wall_time_s": round(time.perf_counter() - started, 3)}
    return model, history, final


def run_weather_grid(scale="book", sizes=None, seeds=None, models=("LSTM", "RNN"), epochs=None,
                     look_back=10, hidden_size=10, lr=0.01, clip_norm=None, device="auto",
                     show_progress=None):
    """Train every (seed, size, model) of the grid; return one record per run.

    Each record holds the configuration, the loss histories (``history``), the
    final numbers (``final``: training loss of the last epoch and after it,
    training and held-out loss and accuracy) and the article's prediction
    (``prediction``). Arguments left ``None`` come from ``SCALES[scale]``.
    A line is printed as each run ends (see ``training.prints_run_lines``).
    """
    chosen = SCALES[scale]
    sizes = chosen.sizes if sizes is None else tuple(sizes)
    seeds = chosen.seeds if seeds is None else tuple(seeds)
    epochs = chosen.epochs if epochs is None else epochs
    device = choose_device(device)
    largest = max(sizes)
    if largest + chosen.heldout_windows + look_back > STREAM_LENGTH or min(sizes) <= look_back:
        raise ValueError(f"sizes must be > look_back = {look_back} and leave "
                         f"{chosen.heldout_windows + look_back} of the {STREAM_LENGTH} values for held-out data, got {sizes}")
    runs = []
    for seed in seeds:
        stream = data.weather_sequence(STREAM_LENGTH, seed=seed)
        heldout = window_tensors(stream[-(chosen.heldout_windows + look_back):], look_back, device)
        for size in sizes:
            train = window_tensors(stream[:size], look_back, device)
            for cell in models:
                settings = {"seed": seed, "hidden_size": hidden_size, "epochs": epochs, "lr": lr,
                            "clip_norm": clip_norm, "eval_every": chosen.eval_every,
                            "show_progress": show_progress}
                model, history, final = _train_and_measure(
                    cell, train, heldout, settings, device, f"{cell} size={size:,} seed={seed}")
                runs.append({"model": cell, "size": size, "seed": seed, "windows": size - look_back,
                             "look_back": look_back, "history": history, "final": final,
                             "prediction": published_prediction(model, stream, size, device)})
                if prints_run_lines(show_progress):
                    print(f"{cell} size={size:,} seed={seed}: training loss {final['train_loss']:.4f}, "
                          f"held-out loss {final['heldout_loss']:.4f}, {final['wall_time_s']:.1f} s", flush=True)
    return runs


def transition_counts_predictor(train_sequence, heldout_windows, heldout_targets, num_classes=3):
    """Held-out loss and accuracy of counting: P(next | last) from training transition counts.

    The maximum-likelihood first-order Markov model (add-one smoothing so no held-out
    transition has probability 0) needs no training loop: it is the baseline any
    learnt model of a first-order chain should match.
    """
    counts = np.ones((num_classes, num_classes))
    np.add.at(counts, (train_sequence[:-1], train_sequence[1:]), 1)
    estimate = counts / counts.sum(axis=1, keepdims=True)
    probabilities = estimate[heldout_windows[:, -1]]
    loss = -np.mean(np.log(probabilities[np.arange(len(heldout_targets)), heldout_targets]))
    accuracy = np.mean(probabilities.argmax(axis=1) == heldout_targets)
    return float(loss), float(accuracy)


def run_markov(scale="book", size=None, seeds=None, models=("LSTM", "RNN"), epochs=None,
               transition=data.PERSISTENT_WEATHER, look_back=10, hidden_size=10, lr=0.01,
               clip_norm=None, device="auto", show_progress=None):
    """Train on a Markov weather chain; compare with its entropy rate and Bayes accuracy.

    For each seed a chain of ``size`` training values and held-out windows from a
    separate stretch is drawn; each model is trained as in the published set-up.
    Returns the floors (``entropy_rate``, ``bayes_accuracy``) and one record per run,
    with the transition-count predictor's numbers as ``model = "counting"``.
    """
    chosen = SCALES[scale]
    size = chosen.markov_size if size is None else size
    seeds = chosen.seeds if seeds is None else tuple(seeds)
    epochs = chosen.epochs if epochs is None else epochs
    device = choose_device(device)
    runs = []
    for seed in seeds:
        chain = data.markov_weather(size + chosen.heldout_windows + look_back, transition, seed=seed)
        train_sequence, heldout_sequence = chain[:size], chain[size:]
        heldout_windows, heldout_targets = data.make_windows(heldout_sequence, look_back)
        loss, accuracy = transition_counts_predictor(train_sequence, heldout_windows, heldout_targets)
        runs.append({"model": "counting", "seed": seed, "size": size,
                     "final": {"heldout_loss": loss, "heldout_accuracy": accuracy}})
        train = window_tensors(train_sequence, look_back, device)
        heldout = window_tensors(heldout_sequence, look_back, device)
        for cell in models:
            settings = {"seed": seed, "hidden_size": hidden_size, "epochs": epochs, "lr": lr,
                        "clip_norm": clip_norm, "eval_every": chosen.eval_every,
                        "show_progress": show_progress}
            _, history, final = _train_and_measure(cell, train, heldout, settings, device,
                                                   f"Markov {cell} seed={seed}")
            runs.append({"model": cell, "seed": seed, "size": size, "history": history, "final": final})
            if prints_run_lines(show_progress):
                print(f"Markov {cell} seed={seed}: held-out loss {final['heldout_loss']:.4f} "
                      f"(floor {data.entropy_rate(transition):.4f}), {final['wall_time_s']:.1f} s", flush=True)
    return {"transition": np.asarray(transition).tolist(),
            "entropy_rate": data.entropy_rate(transition),
            "bayes_accuracy": data.bayes_accuracy(transition),
            "stationary_distribution": data.stationary_distribution(transition).tolist(),
            "runs": runs}


def run_weather(scale="book", sizes=None, seeds=None, epochs=None, look_back=10, hidden_size=10,
                lr=0.01, clip_norm=None, device="auto", show_progress=None, markov=True):
    """The whole of Lab 1: the grid, and (if ``markov``) the Markov comparison.

    Returns a dict ready for JSON: ``config``, ``published`` (with the label check),
    ``ln3``, ``grid`` (run records), ``markov`` and ``provenance`` (versions, device,
    wall time).
    """
    check_choice("scale", scale, SCALES)
    started = time.perf_counter()
    chosen_device = choose_device(device)
    common = dict(epochs=epochs, look_back=look_back, hidden_size=hidden_size, lr=lr,
                  clip_norm=clip_norm, device=device, show_progress=show_progress)
    grid = run_weather_grid(scale, sizes=sizes, seeds=seeds, **common)
    markov_results = run_markov(scale, seeds=seeds, **common) if markov else None
    scale_settings = asdict(SCALES[scale])
    config = {"scale": scale, **scale_settings,
              "sizes": list(sizes or scale_settings["sizes"]), "seeds": list(seeds or scale_settings["seeds"]),
              "epochs": epochs or scale_settings["epochs"], "look_back": look_back,
              "hidden_size": hidden_size, "lr": lr, "clip_norm": clip_norm, "optimizer": "Adam",
              "loss": "cross-entropy", "batch": "full", "stream_length": STREAM_LENGTH,
              "markov_transition": data.PERSISTENT_WEATHER.tolist() if markov else None}
    return {"lab": "weather", "config": config, "ln3": LN3, "published": published_label_check(),
            "grid": grid, "markov": markov_results, "provenance": provenance(chosen_device, started)}


# ---------------------------------------------------------------------------
# summaries and figures


def final_table(grid, key):
    """Mean and spread over seeds of ``final[key]``, per (size, model), in grid order.

    Returns rows ``(size, model, mean, min, max, number_of_seeds)``.
    """
    groups = {}
    for run in grid:
        groups.setdefault((run["size"], run["model"]), []).append(run["final"][key])
    return [(size, model, float(np.mean(v)), float(np.min(v)), float(np.max(v)), len(v))
            for (size, model), v in groups.items()]


def plot_loss_histories(grid, seed=None, heldout=False):
    """The article's figure: training loss per epoch, LSTM and RNN, one panel per size, stacked.

    Draws the runs of ``seed`` (the first seed by default), ln 3 as a grey line and,
    if ``heldout``, the held-out loss as dashed lines.
    """
    import matplotlib.pyplot as plt

    from lstm_labs.plotting import COLORS, new_axes

    seed = grid[0]["seed"] if seed is None else seed
    runs = [run for run in grid if run["seed"] == seed]
    sizes = sorted({run["size"] for run in runs})
    figure, axes = plt.subplots(len(sizes), 1, figsize=(4.2, 0.6 + 2.4 * len(sizes)), sharex=True,
                                layout="constrained", squeeze=False)
    for ax, size in zip(axes[:, 0], sizes):
        new_axes(f"{size:,} values ({size - runs[0]['look_back']:,} windows)", "epoch" if size == sizes[-1] else "",
                 "loss (nats)", ax=ax)
        for run in (r for r in runs if r["size"] == size):
            history = run["history"]
            epochs = np.arange(1, len(history["train_loss"]) + 1)
            ax.plot(epochs, history["train_loss"], color=COLORS[run["model"]], label=f"{run['model']} training")
            if heldout:
                ax.plot(history["heldout_epoch"], history["heldout_loss"], color=COLORS[run["model"]],
                        linestyle="--", label=f"{run['model']} held-out")
        ax.axhline(LN3, color=COLORS["chance"], linestyle=":", label="ln 3 (chance)")
    figure.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncol=2)
    figure.suptitle(f"Loss per epoch, seed {seed}")
    return figure


def plot_train_vs_heldout(grid):
    """Final training and held-out loss per size, every seed a dot, LSTM and RNN."""
    import matplotlib.pyplot as plt

    from lstm_labs.plotting import COLORS, new_axes

    figure, axes = plt.subplots(2, 1, figsize=(4.2, 6.0), sharex=True, layout="constrained")
    sizes = sorted({run["size"] for run in grid})
    for ax, key, title in zip(axes, ("train_loss", "heldout_loss"),
                              ("Training loss, last epoch", "Held-out loss")):
        new_axes(title, "training values (log scale)" if key == "heldout_loss" else "", "loss (nats)", ax=ax)
        ax.set_xscale("log")
        for model, shift in (("LSTM", 0.94), ("RNN", 1.06)):
            runs = [run for run in grid if run["model"] == model]
            if not runs:
                continue
            ax.scatter([run["size"] * shift for run in runs], [run["final"][key] for run in runs],
                       color=COLORS[model], label=model, s=18)
            means = [np.mean([run["final"][key] for run in runs if run["size"] == size]) for size in sizes]
            ax.plot([size * shift for size in sizes], means, color=COLORS[model], alpha=0.6)
        ax.axhline(LN3, color=COLORS["chance"], linestyle=":", label="ln 3 (chance)")
        ax.set_xticks(sizes, [f"{size:,}" for size in sizes])
        ax.minorticks_off()
    axes[0].legend()
    return figure


def plot_markov(markov):
    """Held-out loss of each model on the Markov chain against the entropy-rate floor."""
    from lstm_labs.plotting import COLORS, new_axes

    ax = new_axes("Markov weather: held-out loss", "model", "held-out loss (nats)", figsize=(4.2, 3.8))
    names = ["counting", "RNN", "LSTM"]
    colors = {"counting": COLORS["bound"], "RNN": COLORS["RNN"], "LSTM": COLORS["LSTM"]}
    for position, name in enumerate(names):
        values = [run["final"]["heldout_loss"] for run in markov["runs"] if run["model"] == name]
        ax.scatter([position] * len(values), values, color=colors[name], s=24, zorder=3)
    ax.axhline(markov["entropy_rate"], color=COLORS["chance"], linestyle="--",
               label=f"entropy rate {markov['entropy_rate']:.4f}")
    ax.axhline(LN3, color=COLORS["chance"], linestyle=":", label="ln 3 (no memory at all)")
    ax.set_xticks(range(len(names)), ["counts", "RNN", "LSTM"])
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2))
    return ax.figure


def plot_seed_spread(runs):
    """Final training and held-out loss of each model, one dot per seed, against ln 3."""
    import matplotlib.pyplot as plt

    from lstm_labs.plotting import COLORS, new_axes

    models = [model for model in ("LSTM", "RNN") if any(run["model"] == model for run in runs)]
    sizes = sorted({run["size"] for run in runs})
    figure, axes = plt.subplots(2, 1, figsize=(4.2, 6.0), sharex=True, layout="constrained")
    for ax, key, title in zip(axes, ("train_loss", "heldout_loss"), ("Training loss", "Held-out loss")):
        new_axes(f"{title}, {len({run['seed'] for run in runs})} seeds", "model" if key == "heldout_loss" else "",
                 "loss (nats)", ax=ax)
        for position, model in enumerate(models):
            values = [run["final"][key] for run in runs if run["model"] == model]
            ax.scatter([position] * len(values), values, color=COLORS[model], s=24, zorder=3)
        ax.axhline(LN3, color=COLORS["chance"], linestyle=":", label="ln 3 (chance)")
        ax.set_xticks(range(len(models)), models)
        ax.set_xlim(-0.5, len(models) - 0.5)
    axes[0].legend()
    figure.suptitle(f"Spread over seeds at {', '.join(f'{size:,}' for size in sizes)} values")
    return figure


def compact_results(results, history_seeds=(42,), digits=5):
    """A smaller copy of ``run_weather``'s results, to keep beside the book.

    Keeps the configuration, provenance, Markov comparison and every run's final
    numbers and prediction; keeps loss histories only for ``history_seeds``;
    rounds floats to ``digits`` decimals.
    """
    def rounded(value):
        if isinstance(value, float):
            return round(value, digits)
        if isinstance(value, dict):
            return {key: rounded(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [rounded(item) for item in value]
        return value

    grid = []
    for run in results["grid"]:
        kept = {key: value for key, value in run.items() if key != "history"}
        if run["seed"] in history_seeds:
            kept["history"] = {key: run["history"][key]
                               for key in ("train_loss", "heldout_epoch", "heldout_loss", "heldout_accuracy")}
        grid.append(kept)
    markov = results["markov"]
    if markov is not None:
        markov = {**markov, "runs": [{key: value for key, value in run.items() if key != "history"}
                                     for run in markov["runs"]]}
    return rounded({**results, "grid": grid, "markov": markov})
