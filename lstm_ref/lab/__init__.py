"""The PyTorch labs: models, device choice, training, and the two experiments.

The only part of ``lstm_ref`` that imports PyTorch. From the command line::

    python -m lstm_ref.lab weather --scale book --out lab_results/weather
    python -m lstm_ref.lab recall --lags 5 20 50 100 --out lab_results/recall
    python -m lstm_ref.lab --help

From Python::

    from lstm_ref.lab import LSTMClassifier, choose_device, train_full_batch
    from lstm_ref.lab.weather import run_weather
    from lstm_ref.lab.recall import run_recall
"""

from lstm_ref.lab.models import (
    GRUClassifier,
    LSTMClassifier,
    RNNClassifier,
    SequenceClassifier,
    make_classifier,
    set_forget_bias,
)
from lstm_ref.lab.results import markdown_table, provenance, save_figure, write_json
from lstm_ref.lab.training import (
    as_tensors,
    choose_device,
    evaluate,
    progress_bar,
    seed_everything,
    train_full_batch,
    train_on_stream,
)

__all__ = [
    "GRUClassifier",
    "LSTMClassifier",
    "RNNClassifier",
    "SequenceClassifier",
    "as_tensors",
    "choose_device",
    "evaluate",
    "make_classifier",
    "markdown_table",
    "progress_bar",
    "provenance",
    "save_figure",
    "seed_everything",
    "set_forget_bias",
    "train_full_batch",
    "train_on_stream",
    "write_json",
]
