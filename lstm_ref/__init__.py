"""lstm_ref: the NumPy reference for every equation of the course.

The forward and backward passes of the plain RNN (``rnn``), the LSTM
(``lstm``), the peephole LSTM (``peephole``), the GRU (``gru``), and the
xLSTM's cells (``slstm``, with ``slstm_unstabilised`` beside it, and
``mlstm``), one step and a whole sequence, in PyTorch's parameter layout and gate order with time-major arrays;
each function's docstring carries its equation in the book's notation and
every shape. ``activations`` holds σ and tanh with their derivatives,
``gradcheck`` checks any backward pass against central differences, ``params``
initialises parameters as PyTorch does, ``diagnostics`` computes the Jacobians,
gradient norms and gradient ratios the chapters plot, and ``data`` generates
the seeded sequences the labs and exercises learn from. NumPy only: the
PyTorch labs are the package ``lstm_labs``, grading and the assignments
``lstm_course``.
"""

from lstm_ref import activations, data, diagnostics, gradcheck, gru, lstm, mlstm, params, peephole, rnn, slstm
from lstm_ref import slstm_unstabilised

__all__ = [
    "activations", "data", "diagnostics", "gradcheck", "gru", "lstm", "mlstm", "params", "peephole", "rnn", "slstm",
    "slstm_unstabilised",
]
