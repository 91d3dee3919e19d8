"""Many-to-one recurrent classifiers: read a sequence, predict one class.

Each model is the published experiment's network: a recurrent layer
(``torch.nn.LSTM``, ``nn.RNN`` with tanh, or ``nn.GRU``), time-major
(``batch_first=False``), started from zero states, followed by a linear layer on
the output of the last time step::

    x: (T, N, D)  ->  h_1 .. h_T: (T, N, H)  ->  logits = h_T W_out^T + b_out: (N, C)

The logits are scores, not probabilities: ``softmax(logits)`` are the
probabilities, and ``torch.nn.functional.cross_entropy`` takes the logits.
"""

import torch
from torch import nn

from lstm_ref._checks import check_choice, check_int

RECURRENT_LAYERS = {"LSTM": nn.LSTM, "RNN": nn.RNN, "GRU": nn.GRU}


class SequenceClassifier(nn.Module):
    """A recurrent layer and a linear read-out of its last hidden state.

    Parameters
    ----------
    cell : "LSTM", "RNN" or "GRU".
    input_size : D, the width of each x_t (3 one-hot weather classes).
    hidden_size : H, the width of h_t (10 in the published experiment).
    num_classes : C, the number of logits.
    num_layers : stacked recurrent layers; the read-out sees the top one.
    forget_bias : LSTM only. If given, every layer's forget-gate bias
        b_f = b_ih[H:2H] + b_hh[H:2H] is set to this value (b_ih[H:2H] = forget_bias,
        b_hh[H:2H] = 0) instead of PyTorch's random U(-1/sqrt(H), 1/sqrt(H)) pair;
        Gers et al. (2000) and Jozefowicz et al. (2015) argue for 1 or more.
    """

    def __init__(self, cell, input_size=3, hidden_size=10, num_classes=3, num_layers=1, forget_bias=None):
        super().__init__()
        check_choice("cell", cell, RECURRENT_LAYERS)
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size),
                            ("num_classes", num_classes), ("num_layers", num_layers)):
            check_int(name, value, minimum=1)
        if forget_bias is not None and cell != "LSTM":
            raise ValueError(f"forget_bias applies to the LSTM only, got it for {cell}")
        self.cell = cell
        self.forget_bias = forget_bias
        self.recurrent = RECURRENT_LAYERS[cell](input_size, hidden_size, num_layers=num_layers)
        self.head = nn.Linear(hidden_size, num_classes)
        if forget_bias is not None:
            set_forget_bias(self.recurrent, forget_bias)

    def forward(self, x):
        """``x`` of shape (T, N, D), time-major, gives logits of shape (N, C)."""
        if x.dim() != 3 or x.shape[-1] != self.recurrent.input_size:
            raise ValueError(
                f"x must have shape (T, N, D) with D = {self.recurrent.input_size}, "
                f"got {tuple(x.shape)}"
            )
        # No initial state passed: PyTorch starts from h_0 = c_0 = 0, as published.
        outputs, _ = self.recurrent(x)
        return self.head(outputs[-1])


def set_forget_bias(lstm, value):
    """Set the forget-gate bias b_f = b_ih[H:2H] + b_hh[H:2H] of every layer to ``value``."""
    H = lstm.hidden_size
    with torch.no_grad():
        for layer in range(lstm.num_layers):
            getattr(lstm, f"bias_ih_l{layer}")[H : 2 * H] = value
            getattr(lstm, f"bias_hh_l{layer}")[H : 2 * H] = 0.0


class LSTMClassifier(SequenceClassifier):
    """``nn.LSTM`` + linear read-out of h_T; ``forget_bias`` optional (see SequenceClassifier)."""

    def __init__(self, input_size=3, hidden_size=10, num_classes=3, num_layers=1, forget_bias=None):
        super().__init__("LSTM", input_size, hidden_size, num_classes, num_layers, forget_bias)


class RNNClassifier(SequenceClassifier):
    """``nn.RNN`` (tanh) + linear read-out of h_T: the published ``StandardRNN``."""

    def __init__(self, input_size=3, hidden_size=10, num_classes=3, num_layers=1):
        super().__init__("RNN", input_size, hidden_size, num_classes, num_layers)


class GRUClassifier(SequenceClassifier):
    """``nn.GRU`` + linear read-out of h_T."""

    def __init__(self, input_size=3, hidden_size=10, num_classes=3, num_layers=1):
        super().__init__("GRU", input_size, hidden_size, num_classes, num_layers)


def make_classifier(cell, forget_bias=None, **sizes):
    """The classifier for ``cell`` ("LSTM", "RNN" or "GRU"), built with ``sizes``."""
    return SequenceClassifier(cell, forget_bias=forget_bias, **sizes)


def autograd_node_counts(layer, inputs):
    """Count the nodes, by name, of the autograd graph of one forward pass of a recurrent ``layer``.

    One ``MkldnnRnnLayerBackward0`` node means PyTorch ran the layer as one fused
    oneDNN kernel; ``AddmmBackward0`` nodes are matrix products, step by step.
    """
    outputs, _ = layer(inputs)
    counts, seen, pending = {}, set(), [outputs.grad_fn]
    while pending:
        node = pending.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        counts[node.name()] = counts.get(node.name(), 0) + 1
        pending.extend(next_node for next_node, _ in node.next_functions)
    return counts
