"""lstm_ref: the NumPy reference for every equation of the course.

The forward and backward passes of the plain RNN (``rnn``), the LSTM
(``lstm``) and the GRU (``gru``), and the xLSTM's sLSTM and mLSTM cells
(``xlstm``), one step and a whole sequence, in PyTorch's parameter layout and
gate order with time-major arrays, each function's docstring carrying its
equation in the book's notation and every shape. ``activations`` holds σ and
tanh with their derivatives, ``gradcheck`` checks any backward pass against
central differences, ``params`` initialises parameters as PyTorch does,
``diagnostics`` computes the Jacobians and gradient norms the chapters plot,
and ``data`` generates the seeded sequences the labs and exercises learn from. NumPy only: the PyTorch
labs are the package ``lstm_labs``, grading and the assignments ``lstm_course``.
"""

from lstm_ref import activations, data, diagnostics, gradcheck, gru, lstm, params, rnn, xlstm

__all__ = ["activations", "data", "diagnostics", "gradcheck", "gru", "lstm", "params", "rnn", "xlstm"]
