"""The PyTorch labs: models, device choice, training, plots, and the experiments.

The course's PyTorch and matplotlib code; it reads the NumPy reference ``lstm_ref``
and never the grading package ``lstm_course``. From the command line::

    python -m lstm_labs weather --scale book --out lab_results/weather
    python -m lstm_labs recall --lags 5 20 50 100 --out lab_results/recall
    python -m lstm_labs variants --scale full --out lab_results/variants
    python -m lstm_labs --help

From Python::

    from lstm_labs import LSTMClassifier, choose_device, train_full_batch
    from lstm_labs.weather import run_weather
    from lstm_labs.recall import run_recall
    from lstm_labs.ablation import run_ablation          # Greff et al.'s variants (lstm_labs.variants)
    from lstm_labs.initialisation import run_initialisation
    from lstm_labs.regularisation import run_regularisation
    from lstm_labs.seq2seq import run_seq2seq    # sequence to sequence, with and without attention
    from lstm_labs.scan import run_scan          # a linear recurrence by a parallel scan, against nn.LSTM

Many small models of one comparison train at once as members of one batched model
(``lstm_labs.members``).
"""

from lstm_labs.models import (
    GRUClassifier,
    LSTMClassifier,
    RNNClassifier,
    SequenceClassifier,
    autograd_node_counts,
    make_classifier,
    set_forget_bias,
)
from lstm_labs.results import markdown_table, provenance, save_figure, stored_run, write_json
from lstm_labs.training import (
    as_tensors,
    choose_device,
    evaluate,
    progress_bar,
    seed_everything,
    train_full_batch,
    train_minibatches,
    train_on_stream,
)

__all__ = [
    "GRUClassifier",
    "LSTMClassifier",
    "RNNClassifier",
    "SequenceClassifier",
    "as_tensors",
    "autograd_node_counts",
    "choose_device",
    "evaluate",
    "make_classifier",
    "markdown_table",
    "progress_bar",
    "provenance",
    "save_figure",
    "seed_everything",
    "set_forget_bias",
    "stored_run",
    "train_full_batch",
    "train_minibatches",
    "train_on_stream",
    "write_json",
]
