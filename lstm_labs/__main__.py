"""Command line of the labs: ``python -m lstm_labs COMMAND [options]``, one command per experiment.

Each command trains, prints a summary table, and writes into ``--out`` a JSON of
results (configuration, per-epoch or per-step losses, final numbers, seeds,
device, versions, wall time) and its figures as PNG and SVG. A bad option gets
one line on stderr and exit status 2.
"""

import argparse
import sys
import time
from pathlib import Path

from lstm_ref._checks import check_int, check_number

EXAMPLES = """\
examples:
  python -m lstm_labs weather --scale book --out lab_results/weather
  python -m lstm_labs weather --scale full --device auto --out lab_results/weather_full
  python -m lstm_labs recall --lags 5 20 50 100 --out lab_results/recall
  python -m lstm_labs variants --scale full --out lab_results/variants
  python -m lstm_labs initialisation --scale full --out lab_results/initialisation
  python -m lstm_labs regularisation --scale full --out lab_results/regularisation
  python -m lstm_labs seq2seq --scale full --out lab_results/seq2seq_full
  python -m lstm_labs scan --scale full --out lab_results/scan_full
"""

# The sub-commands, in the order of --help.
COMMAND_NAMES = ("weather", "recall", "variants", "initialisation", "regularisation", "seq2seq", "scan")

# Command-line names of the delayed-recall models -> labels in lstm_labs.recall.
RECALL_MODEL_NAMES = {"rnn": "RNN", "lstm": "LSTM", "lstm-bf1": "LSTM b_f=1", "lstm-bf3": "LSTM b_f=3", "gru": "GRU"}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _argument_type(convert, expected):
    """An argparse type: ``convert(text)``, or the one-line error "must be <expected>, got '<text>'"."""

    def parse(text):
        try:
            return convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}") from None

    return parse


positive_int = _argument_type(lambda text: check_int("value", int(text), minimum=1), "an integer >= 1")
non_negative_int = _argument_type(lambda text: check_int("value", int(text), minimum=0), "an integer >= 0")
positive_float = _argument_type(lambda text: check_number("value", float(text), above=0), "a number > 0")
clip_norm = _argument_type(
    lambda text: None if text.lower() == "none" else check_number("value", float(text), above=0),
    "a number > 0 or 'none'",
)


def _common_options(parser, default_out):
    parser.add_argument("--scale", choices=("tiny", "book", "full"), default="book",
                        help="how much to run: 'tiny' takes seconds (for tests), 'book' is what the "
                             "book executes (under 90 s on 2 CPU cores), 'full' the whole experiment "
                             "(default: %(default)s)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto",
                        help="where to train: 'auto' takes CUDA, else MPS, else the CPU, and says "
                             "which and why (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path(default_out), metavar="DIR",
                        help="folder for the JSON results and the PNG/SVG figures, created if "
                             "missing (default: %(default)s)")
    parser.add_argument("--seeds", type=non_negative_int, nargs="+", metavar="SEED",
                        help="seeds to run; each gives its own data and initial weights "
                             "(default: the scale's)")
    parser.add_argument("--hidden", type=positive_int, metavar="H",
                        help="hidden size H of every model (default: the lab's)")
    parser.add_argument("--lr", type=positive_float, default=0.01,
                        help="Adam's learning rate (default: %(default)s, as published)")
    parser.add_argument("--threads", type=positive_int, default=1, metavar="N",
                        help="CPU threads for PyTorch (default: %(default)s; these models are too small "
                             "to gain from more, and extra threads slow them down badly on busy cores)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars (shown only on a terminal anyway) and no line per "
                             "finished run")


def build_parser():
    parser = OneLineParser(
        prog="python -m lstm_labs",
        description="Run the PyTorch labs of the LSTM course and write their results and figures.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", metavar="{" + ",".join(COMMAND_NAMES) + "}",
                                     parser_class=OneLineParser)
    commands.required = True

    weather = commands.add_parser(
        "weather", help="Lab 1: the published synthetic weather experiment, reproduced and examined",
        description="Lab 1: train LSTM and RNN classifiers on the published i.i.d. weather sequence "
                    "(seed 42, 3 classes, one-hot windows, hidden 10, Adam 0.01, full batch, "
                    "cross-entropy, 400 epochs) at each training size and seed; measure them on "
                    "held-out windows; then on a Markov weather chain with a known best loss.")
    _common_options(weather, "lab_results/weather")
    weather.add_argument("--sizes", type=positive_int, nargs="+", metavar="SIZE",
                         help="values of the stream to train on, the article's 'sequence length' "
                              "(default: the scale's; full: 10000 50000 100000)")
    weather.add_argument("--epochs", type=positive_int,
                         help="full-batch epochs per model (default: the scale's; 400 as published)")
    weather.add_argument("--look-back", type=positive_int, default=10, metavar="T",
                         help="steps in each input window; not published (default: %(default)s)")
    weather.add_argument("--clip-norm", type=clip_norm, default=None, metavar="MAX",
                         help="clip the gradient's 2-norm to MAX, or 'none' (default: none, as published)")
    weather.add_argument("--no-markov", action="store_true",
                         help="skip the Markov weather chain comparison")

    recall = commands.add_parser(
        "recall", help="Lab 2: delayed recall, a real long-range dependency",
        description="Lab 2: the target is the symbol seen LAG steps before the end of a sequence "
                    "of LAG+1 random symbols; fresh sequences every step, held-out accuracy per "
                    "model and lag, and the gradient ratio ||dL/dx_{T-k}|| / ||dL/dx_T|| at "
                    "initialisation.")
    _common_options(recall, "lab_results/recall")
    recall.add_argument("--lags", type=positive_int, nargs="+", metavar="LAG",
                        help="distances k to train at (default: the scale's; book: 5 10 20 40)")
    recall.add_argument("--models", nargs="+", choices=tuple(RECALL_MODEL_NAMES), metavar="MODEL",
                        help="models to train, among " + ", ".join(RECALL_MODEL_NAMES)
                             + " (lstm-bfX: forget-gate bias X; default: all)")
    recall.add_argument("--steps", type=positive_int,
                        help="Adam steps per model, each on a fresh batch (default: the scale's)")
    recall.add_argument("--batch", type=positive_int,
                        help="sequences per step (default: the scale's)")
    recall.add_argument("--clip-norm", type=clip_norm, default=1.0, metavar="MAX",
                        help="clip the gradient's 2-norm to MAX, or 'none' (default: %(default)s)")
    recall.add_argument("--no-ratios", action="store_true",
                        help="skip the gradient ratios at initialisation")

    from lstm_labs.ablation import TASKS
    from lstm_labs.variants import VARIANTS

    variants = commands.add_parser(
        "variants", help="Greff et al.'s LSTM variants, ablated on delayed recall and a synthetic language",
        description="Train PyTorch's LSTM and eight variants of it (peepholes, no input/forget/output gate, "
                    "no input/output activation, coupled input-forget gate, full gate recurrence), every "
                    "variant with every seed from the same initial weights and batches, on delayed recall "
                    "(held-out accuracy) and on a synthetic language (held-out loss above its exact floor, "
                    "and verb agreement).")
    _common_options(variants, "lab_results/variants")
    variants.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), metavar="VARIANT",
                          help="variants to train, among " + ", ".join(VARIANTS) + " (default: all)")
    variants.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS), metavar="TASK",
                          help="tasks, among " + ", ".join(TASKS) + " (default: both)")
    variants.add_argument("--clip-norm", type=clip_norm, default=1.0, metavar="MAX",
                          help="clip each model's gradient 2-norm to MAX, or 'none' (default: %(default)s)")

    from lstm_labs.initialisation import INITIALISATIONS

    initialisation = commands.add_parser(
        "initialisation", help="recurrent weights (uniform, orthogonal, identity) and gate biases (b_f = 1, chrono)",
        description="Train LSTMs started from PyTorch's uniform recurrent weights, orthogonal or identity "
                    "blocks, a forget bias of 1, or the chrono initialisation, on delayed recall (the same "
                    "seeds, data and input weights for each), and measure the gradient ratio "
                    "||dL/dh_{T-k}|| / ||dL/dh_T|| at initialisation for the RNN and the LSTM.")
    _common_options(initialisation, "lab_results/initialisation")
    initialisation.add_argument("--initialisations", nargs="+", choices=tuple(INITIALISATIONS), metavar="INIT",
                                help="initialisations, among " + ", ".join(f"'{name}'" for name in INITIALISATIONS)
                                     + " (default: all)")
    initialisation.add_argument("--lag", type=positive_int, metavar="LAG",
                                help="the distance of delayed recall (default: the scale's; full: 40)")
    initialisation.add_argument("--clip-norm", type=clip_norm, default=1.0, metavar="MAX",
                                help="clip each model's gradient 2-norm to MAX, or 'none' (default: %(default)s)")

    from lstm_labs.regularisation import REGULARISERS

    regularisation = commands.add_parser(
        "regularisation", help="dropout, variational dropout, zoneout, weight-drop, layer norm on a small corpus",
        description="Train next-token LSTMs on a small fixed set of windows of the synthetic language, "
                    "without a regulariser and with each of dropout, variational dropout, zoneout, "
                    "weight-drop and layer normalisation, from the same initial weights; report the "
                    "training and held-out losses beside the language's exact floor.")
    _common_options(regularisation, "lab_results/regularisation")
    regularisation.add_argument("--regularisers", nargs="+", choices=REGULARISERS, metavar="NAME",
                                default=list(REGULARISERS),
                                help="among " + ", ".join(f"'{name}'" for name in REGULARISERS) + " (default: all)")
    regularisation.add_argument("--clip-norm", type=clip_norm, default=1.0, metavar="MAX",
                                help="clip each model's gradient 2-norm to MAX, or 'none' (default: %(default)s)")

    seq2seq = commands.add_parser(
        "seq2seq", help="sequence to sequence: reversing sequences, without and with attention",
        description="An LSTM encoder-decoder learns to reverse sequences of 1 to 10 symbols, without "
                    "attention (one context vector) and with additive attention; held-out sequences "
                    "come from a part of the sequence space training never draws from; exact-sequence "
                    "and per-token accuracy of greedy decoding, per length, over seeds.")
    _common_options(seq2seq, "lab_results/seq2seq")
    seq2seq.add_argument("--steps", type=positive_int,
                         help="Adam steps per model, each on a fresh batch (default: the scale's)")
    seq2seq.add_argument("--clip-norm", type=clip_norm, default=1.0, metavar="MAX",
                         help="clip the gradient's 2-norm to MAX, or 'none' (default: %(default)s)")

    scan = commands.add_parser(
        "scan", help="a sequential LSTM against a linear recurrence computed by a parallel scan",
        description="Times forward + backward of nn.LSTM and of a gated linear recurrence (by a loop "
                    "and by a parallel scan) against the sequence length, then trains an LSTM and one- "
                    "and two-layer linear recurrences on delayed recall at several lags and seeds.")
    _common_options(scan, "lab_results/scan")
    scan.add_argument("--no-timing", action="store_true", help="skip the timing race")
    scan.add_argument("--no-recall", action="store_true", help="skip the delayed-recall comparison")
    return parser


def _close(figure):
    import matplotlib.pyplot as plt

    plt.close(figure)


def run_weather_command(args):
    from lstm_labs.results import markdown_table, save_figure, write_json
    from lstm_labs.weather import final_table, plot_loss_histories, plot_markov, plot_train_vs_heldout, run_weather

    results = run_weather(args.scale, sizes=args.sizes, seeds=args.seeds, epochs=args.epochs,
                          look_back=args.look_back, hidden_size=args.hidden or 10, lr=args.lr,
                          clip_norm=args.clip_norm, device=args.device,
                          show_progress=False if args.no_progress else None, markov=not args.no_markov)
    results["command"] = sys.argv
    written = [write_json(results, args.out / "weather.json")]
    for stem, figure in (("weather_loss_history", plot_loss_histories(results["grid"], heldout=True)),
                         ("weather_train_vs_heldout", plot_train_vs_heldout(results["grid"]))):
        written += save_figure(figure, args.out, stem)
        _close(figure)
    if results["markov"] is not None:
        figure = plot_markov(results["markov"])
        written += save_figure(figure, args.out, "weather_markov")
        _close(figure)
    header = ("size", "model", "mean", "min", "max", "seeds")
    print("\nTraining loss after the last epoch (nats; ln 3 = 1.0986):")
    print(markdown_table(header, final_table(results["grid"], "train_loss")))
    print("\nHeld-out loss (nats):")
    print(markdown_table(header, final_table(results["grid"], "heldout_loss")))
    print("\nHeld-out accuracy (chance = 1/3):")
    print(markdown_table(header, final_table(results["grid"], "heldout_accuracy")))
    return results, written


def run_recall_command(args):
    from lstm_labs.recall import accuracy_table, plot_gradient_ratios, plot_recall_accuracy, run_recall
    from lstm_labs.results import markdown_table, save_figure, write_json

    models = None if args.models is None else [RECALL_MODEL_NAMES[name] for name in args.models]
    results = run_recall(args.scale, lags=args.lags, seeds=args.seeds, models=models, steps=args.steps,
                         batch=args.batch, hidden_size=args.hidden, lr=args.lr, clip_norm=args.clip_norm,
                         device=args.device, show_progress=False if args.no_progress else None,
                         ratios=not args.no_ratios)
    results["command"] = sys.argv
    written = [write_json(results, args.out / "recall.json")]
    figure = plot_recall_accuracy(results["runs"])
    written += save_figure(figure, args.out, "recall_accuracy")
    _close(figure)
    if results["ratios"] is not None:
        figure = plot_gradient_ratios(results["ratios"])
        written += save_figure(figure, args.out, "recall_gradient_ratio")
        _close(figure)
    lags, table = accuracy_table(results["runs"])
    print("\nHeld-out accuracy, mean over seeds (chance = 1/3):")
    print(markdown_table(["model"] + [f"k={lag}" for lag in lags],
                         [[label] + [mean for mean, _ in row] for label, row in table.items()], digits=3))
    return results, written


def run_seq2seq_command(args):
    from lstm_labs.results import markdown_table, save_figure, write_json
    from lstm_labs.seq2seq import accuracy_summary, plot_accuracy_by_length, run_seq2seq

    if args.hidden is not None:
        raise ValueError("seq2seq takes its sizes from --scale; --hidden is not an option here")
    results = run_seq2seq(args.scale, seeds=args.seeds, steps=args.steps, lr=args.lr, clip_norm=args.clip_norm,
                          device=args.device, show_progress=False if args.no_progress else None)
    results["command"] = sys.argv
    written = [write_json(results, args.out / "seq2seq.json")]
    figure = plot_accuracy_by_length(results["runs"])
    written += save_figure(figure, args.out, "seq2seq_accuracy_by_length")
    _close(figure)
    for key, name in (("exact", "exact-sequence"), ("per_token", "per-token")):
        print(f"\nHeld-out {name} accuracy:")
        rows = [[label, mean, low, high, len(values)] for label, (mean, low, high, values)
                in accuracy_summary(results["runs"], key).items()]
        print(markdown_table(("model", "mean", "min", "max", "seeds"), rows, digits=3))
    return results, written


def run_scan_command(args):
    import numpy as np

    from lstm_labs.results import markdown_table, save_figure, write_json
    from lstm_labs.scan import plot_timings, recall_table, run_scan, timing_table

    if args.hidden is not None or args.seeds is not None:
        raise ValueError("scan takes its sizes and seeds from --scale; --hidden and --seeds are not options here")
    results = run_scan(args.scale, lr=args.lr, device=args.device,
                       show_progress=False if args.no_progress else None,
                       timing=not args.no_timing, recall=not args.no_recall)
    results["command"] = sys.argv
    written = [write_json(results, args.out / "scan.json")]
    timings = results["timings"]
    if timings is not None:
        figure = plot_timings(timings)
        written += save_figure(figure, args.out, "scan_timings")
        _close(figure)
        print("\nForward + backward, median wall time (ms):")
        print(markdown_table(["T"] + list(timings["wall_s"]), timing_table(timings), digits=2))
    if results["runs"]:
        lags, table = recall_table(results["runs"])
        print("\nDelayed recall, held-out accuracy, mean over seeds (chance = 1/3):")
        print(markdown_table(["model"] + [f"k={lag}" for lag in lags],
                             [[label] + [float(np.mean(values)) for values in rows] for label, rows in table.items()],
                             digits=3))
    return results, written


def run_variants_command(args):
    from lstm_labs.ablation import ablation_rows, compact_results, plot_ablation, run_ablation
    from lstm_labs.results import markdown_table, save_figure, write_json

    results = run_ablation(args.scale, seeds=args.seeds, variants=args.variants, tasks=args.tasks,
                           hidden_size=args.hidden, lr=args.lr, clip_norm=args.clip_norm, device=args.device,
                           show_progress=False if args.no_progress else None)
    results["command"] = sys.argv
    written = [write_json(results, args.out / "variants.json"),
               write_json(compact_results(results), args.out / "variants_compact.json")]
    if set(args.tasks) == set(TASKS_OF_FIGURE):
        figure = plot_ablation(results["runs"])
        written += save_figure(figure, args.out, "variants")
        _close(figure)
    header, rows = ablation_rows(results["runs"])
    print("\nFinal numbers, mean over seeds (min–max):")
    print(markdown_table(header, rows))
    return results, written


def run_initialisation_command(args):
    from lstm_labs.initialisation import (accuracy_rows, compact_results, plot_learning_curves, plot_ratio_curves,
                                          ratio_curves, run_initialisation)
    from lstm_labs.results import markdown_table, save_figure, write_json

    if args.hidden is not None:
        raise ValueError("--hidden is not an option of initialisation: its scales fix H")
    results = run_initialisation(args.scale, seeds=args.seeds, labels=args.initialisations, lag=args.lag,
                                 lr=args.lr, clip_norm=args.clip_norm, device=args.device,
                                 show_progress=False if args.no_progress else None)
    config = results["config"]
    ratios, figures = {}, []
    for cell, labels in (("RNN", ("uniform", "orthogonal", "identity")), ("LSTM", config["initialisations"])):
        curves = ratio_curves(cell, labels, config["hidden_size"], config["lag"] + 1, config["seeds"])
        ratios[cell] = {label: rows.tolist() for label, rows in curves.items()}
        figure = plot_ratio_curves(curves, f"{cell}: gradient reaching k steps back, at initialisation").figure
        figures += save_figure(figure, args.out, f"initialisation_ratios_{cell.lower()}")
        _close(figure)
    results["ratios"] = ratios
    results["command"] = sys.argv
    written = [write_json(results, args.out / "initialisation.json"),
               write_json(compact_results(results), args.out / "initialisation_compact.json"), *figures]
    figure = plot_learning_curves(results["runs"], config["lag"])
    written += save_figure(figure, args.out, "initialisation_learning")
    _close(figure)
    print(f"\nDelayed recall at k = {config['lag']}, held-out accuracy (chance 1/3):")
    print(markdown_table(*accuracy_rows(results["runs"])))
    return results, written


def run_regularisation_command(args):
    from lstm_labs.regularisation import compact_results, loss_rows, plot_curves, run_regularisation
    from lstm_labs.results import markdown_table, save_figure, write_json

    if args.hidden is not None:
        raise ValueError("--hidden is not an option of regularisation: its scales fix H")
    results = run_regularisation(args.scale, seeds=args.seeds, regularisers=args.regularisers, lr=args.lr,
                                 clip_norm=args.clip_norm, device=args.device,
                                 show_progress=False if args.no_progress else None)
    results["command"] = sys.argv
    written = [write_json(results, args.out / "regularisation.json"),
               write_json(compact_results(results), args.out / "regularisation_compact.json")]
    figure = plot_curves(results)
    written += save_figure(figure, args.out, "regularisation")
    _close(figure)
    config = results["config"]
    print(f"\nCross-entropy in nats; floors: training {config['train_floor']:.4f}, "
          f"held-out {config['heldout_floor']:.4f}")
    print(markdown_table(*loss_rows(results)))
    return results, written


COMMANDS = {"weather": run_weather_command, "recall": run_recall_command, "variants": run_variants_command,
            "initialisation": run_initialisation_command, "regularisation": run_regularisation_command,
            "seq2seq": run_seq2seq_command, "scan": run_scan_command}
TASKS_OF_FIGURE = ("recall", "language")


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        # Fail now, not after an hour of training, if the results cannot be written.
        args.out.mkdir(parents=True, exist_ok=True)
        import matplotlib

        matplotlib.use("Agg")  # files only: no window, works without a display
        import torch

        torch.set_num_threads(args.threads)
        results, written = COMMANDS[args.command](args)
    except ValueError as error:
        # Bad values that only the lab can judge (a device not present, sizes too large).
        print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"{parser.prog} {args.command}: error: cannot write to --out {args.out}: {error.strerror}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130
    print(f"\nDevice: {results['provenance']['device']}, torch {results['provenance']['torch_version']}, "
          f"wall time {time.perf_counter() - started:.1f} s")
    print("Wrote:", *[str(path) for path in written], sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
