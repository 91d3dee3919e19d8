"""Parameters: PyTorch's initialisation, in PyTorch's layout.

The parameters of a layer travel together in a small NamedTuple whose fields
are the forward's parameter arguments, in order, so that a forward call reads

    hs, cs, cache = lstm_forward(x, h0, c0, *params)       # params = init_lstm(D, H)

===========  ==========================================  =====================
tuple        fields (shapes)                             layer
===========  ==========================================  =====================
RNNParams    W_ih (H, D), W_hh (H, H), b (H,)            ``nn.RNN`` (tanh)
LSTMParams   W_ih (4H, D), W_hh (4H, H), b (4H,)         ``nn.LSTM``
GRUParams    W_ih (3H, D), W_hh (3H, H), b_ih, b_hh (3H,) ``nn.GRU``
===========  ==========================================  =====================

The layout is PyTorch's (``weight_ih_l0`` is ``W_ih``, gate blocks in PyTorch's
order), so converting to and from a PyTorch layer is a copy; the labs do it
(``lstm_labs.convert``). PyTorch keeps two biases, ``b_ih`` and ``b_hh``; the
RNN and the LSTM only ever use their sum, which is our ``b``. The GRU keeps
both, because ``b_hn`` sits inside ``r ⊙ (W_hn h + b_hn)``.
"""

import math
from typing import NamedTuple

import numpy as np

from lstm_ref._checks import check_dtype_argument, check_int, check_number


class RNNParams(NamedTuple):
    """Parameters of the tanh RNN: h_t = tanh(W_ih x_t + W_hh h_{t−1} + b)."""

    W_ih: np.ndarray  # (H, D)
    W_hh: np.ndarray  # (H, H)
    b: np.ndarray  # (H,) = PyTorch's b_ih + b_hh


class LSTMParams(NamedTuple):
    """Parameters of the LSTM, gate blocks stacked in the order i, f, g, o."""

    W_ih: np.ndarray  # (4H, D)
    W_hh: np.ndarray  # (4H, H)
    b: np.ndarray  # (4H,) = PyTorch's b_ih + b_hh


class GRUParams(NamedTuple):
    """Parameters of the GRU, blocks stacked in the order r, z, n, with PyTorch's two biases."""

    W_ih: np.ndarray  # (3H, D)
    W_hh: np.ndarray  # (3H, H)
    b_ih: np.ndarray  # (3H,)
    b_hh: np.ndarray  # (3H,)



def _uniform_parameters(D, H, gates, seed, dtype):
    """W_ih, W_hh, b_ih, b_hh, every entry ~ U(−k, k) with k = 1/√H, as PyTorch draws them."""
    D = check_int("D", D, minimum=1)
    H = check_int("H", H, minimum=1)
    dtype = check_dtype_argument(dtype)
    rng = np.random.default_rng(seed)
    bound = 1 / math.sqrt(H)
    shapes = [(gates * H, D), (gates * H, H), (gates * H,), (gates * H,)]
    return [rng.uniform(-bound, bound, size=shape).astype(dtype) for shape in shapes]


def init_rnn(D, H, seed=None, dtype=np.float64):
    """Random RNN parameters, distributed as those of a new ``nn.RNN(D, H)``.

    ``W_ih`` (H, D) and ``W_hh`` (H, H) are drawn from U(−1/√H, 1/√H), PyTorch's
    default. PyTorch draws two biases from the same uniform and the layer only
    uses their sum, so ``b`` (H,) is drawn as that sum, b = u₁ + u₂: a triangular
    distribution on (−2/√H, 2/√H). A network started from ``init_rnn`` is thus
    statistically the same as one started by PyTorch (the numbers differ: the
    random generators do).

    Parameters
    ----------
    D : int
        Input size.
    H : int
        Hidden size.
    seed : int, numpy Generator or None
        For ``np.random.default_rng``; None draws fresh entropy.
    dtype : float32 or float64

    Returns
    -------
    RNNParams(W_ih, W_hh, b)
    """
    W_ih, W_hh, b_ih, b_hh = _uniform_parameters(D, H, 1, seed, dtype)
    return RNNParams(W_ih, W_hh, b_ih + b_hh)


def init_lstm(D, H, seed=None, forget_bias=None, dtype=np.float64):
    """Random LSTM parameters, distributed as those of a new ``nn.LSTM(D, H)``.

    ``W_ih`` (4H, D) and ``W_hh`` (4H, H) are drawn from U(−1/√H, 1/√H),
    PyTorch's default; ``b`` (4H,) is drawn as the sum of PyTorch's two biases,
    b = u₁ + u₂ with each uᵢ ~ U(−1/√H, 1/√H), because the layer only ever uses
    that sum (see :func:`init_rnn`).

    ``forget_bias`` then sets every entry of the forget gate's block b_f =
    b[H:2H] to that value. A positive forget bias (1 is the usual choice)
    starts the forget gate near σ(1) ≈ 0.73 instead of 0.5, so the cell keeps
    its state, and its gradient, over more steps at the start of training
    (Jozefowicz et al., 2015; ``jozefowicz2015empirical`` in references.bib).

    Parameters
    ----------
    D : int
        Input size.
    H : int
        Hidden size.
    seed : int, numpy Generator or None
        For ``np.random.default_rng``; None draws fresh entropy.
    forget_bias : float or None
        The value of b_f; None keeps the random draw.
    dtype : float32 or float64

    Returns
    -------
    LSTMParams(W_ih, W_hh, b)
    """
    W_ih, W_hh, b_ih, b_hh = _uniform_parameters(D, H, 4, seed, dtype)
    b = b_ih + b_hh
    if forget_bias is not None:
        b[H : 2 * H] = check_number("forget_bias", forget_bias)
    return LSTMParams(W_ih, W_hh, b)


def init_gru(D, H, seed=None, dtype=np.float64):
    """Random GRU parameters, distributed as those of a new ``nn.GRU(D, H)``.

    Every entry of ``W_ih`` (3H, D), ``W_hh`` (3H, H), ``b_ih`` and ``b_hh``
    (3H,) is drawn from U(−1/√H, 1/√H), PyTorch's default. The GRU keeps both
    biases, so each is drawn on its own.

    Parameters
    ----------
    D : int
        Input size.
    H : int
        Hidden size.
    seed : int, numpy Generator or None
        For ``np.random.default_rng``; None draws fresh entropy.
    dtype : float32 or float64

    Returns
    -------
    GRUParams(W_ih, W_hh, b_ih, b_hh)
    """
    return GRUParams(*_uniform_parameters(D, H, 3, seed, dtype))
