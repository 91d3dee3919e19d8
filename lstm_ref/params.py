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

Beside PyTorch's default, the recurrent weights can start orthogonal (Saxe et
al., 2014) or as the identity (Le et al., 2015), block by block
(``recurrent=``), and the LSTM's gate biases can start with the chrono
initialisation of Tallec & Ollivier (2018) (``chrono=``).

The layout is PyTorch's (``weight_ih_l0`` is ``W_ih``, gate blocks in PyTorch's
order), so converting to and from a PyTorch layer is a copy; the labs do it
(``lstm_labs.convert``). PyTorch keeps two biases, ``b_ih`` and ``b_hh``; the
RNN and the LSTM only ever use their sum, which is our ``b``. The GRU keeps
both, because ``b_hn`` sits inside ``r ⊙ (W_hn h + b_hn)``.
"""

import math
from typing import NamedTuple

import numpy as np

from lstm_ref._checks import check_choice, check_dtype_argument, check_int, check_number


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


RECURRENT_SCHEMES = ("uniform", "orthogonal", "identity")


def orthogonal(n, seed=None, dtype=np.float64):
    """A random orthogonal matrix Q (n, n), QᵀQ = I: every singular value is 1.

    Q is the orthogonal factor of the QR decomposition of a matrix of standard
    normal draws, with the signs of its columns set by the diagonal of R so that
    Q is uniformly distributed over the orthogonal matrices (as PyTorch's
    orthogonal initialiser draws it).
    """
    n = check_int("n", n, minimum=1)
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return (q * np.sign(np.diag(r))).astype(check_dtype_argument(dtype))


def _recurrent_blocks(W_hh, scheme, rng):
    """W_hh (gates·H, H) with every (H, H) block replaced as ``scheme`` says ("uniform" keeps it)."""
    check_choice("recurrent", scheme, RECURRENT_SCHEMES)
    if scheme == "uniform":
        return W_hh
    H = W_hh.shape[1]
    blocks = [orthogonal(H, rng) if scheme == "orthogonal" else np.eye(H) for _ in range(W_hh.shape[0] // H)]
    return np.concatenate(blocks).astype(W_hh.dtype)


def chrono_biases(H, T_max, seed=None, dtype=np.float64):
    """The chrono initialisation of the input and forget biases (Tallec & Ollivier, 2018).

        b_f ~ log(U(1, T_max − 1)),   b_i = −b_f

    A forget gate held at f = σ(b_f) lets the cell keep a share f^k of its
    content after k steps: a time constant of about 1 / (1 − f) = 1 + e^{b_f}
    steps, here spread uniformly between 2 and T_max over the H units, so that
    the units cover the time scales up to the longest dependency expected.

    Returns ``(b_i, b_f)``, each (H,).
    """
    H = check_int("H", H, minimum=1)
    T_max = check_number("T_max", T_max, above=2)
    rng = np.random.default_rng(seed)
    b_f = np.log(rng.uniform(1, T_max - 1, size=H)).astype(check_dtype_argument(dtype))
    return -b_f, b_f


def init_rnn(D, H, seed=None, dtype=np.float64, recurrent="uniform"):
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
    recurrent : "uniform", "orthogonal" or "identity"
        W_hh as PyTorch draws it, a random orthogonal matrix (:func:`orthogonal`),
        or the identity. W_ih and b are the same draws whichever is chosen.

    Returns
    -------
    RNNParams(W_ih, W_hh, b)
    """
    rng = np.random.default_rng(seed)
    W_ih, W_hh, b_ih, b_hh = _uniform_parameters(D, H, 1, rng, dtype)
    return RNNParams(W_ih, _recurrent_blocks(W_hh, recurrent, rng), b_ih + b_hh)


def init_lstm(D, H, seed=None, forget_bias=None, dtype=np.float64, recurrent="uniform", chrono=None):
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
    recurrent : "uniform", "orthogonal" or "identity"
        Each of the four (H, H) blocks of W_hh as PyTorch draws it, a random
        orthogonal matrix of its own (:func:`orthogonal`), or the identity.
    chrono : float or None
        T_max: set b_i and b_f by :func:`chrono_biases` (not with ``forget_bias``).

    W_ih and the other biases are the same draws whatever ``recurrent`` and
    ``chrono`` say, so initialisations compared from one seed differ only there.

    Returns
    -------
    LSTMParams(W_ih, W_hh, b)
    """
    if forget_bias is not None and chrono is not None:
        raise ValueError("forget_bias and chrono both set the forget bias: choose one")
    rng = np.random.default_rng(seed)
    W_ih, W_hh, b_ih, b_hh = _uniform_parameters(D, H, 4, rng, dtype)
    b = b_ih + b_hh
    if forget_bias is not None:
        b[H : 2 * H] = check_number("forget_bias", forget_bias)
    W_hh = _recurrent_blocks(W_hh, recurrent, rng)
    if chrono is not None:
        b[:H], b[H : 2 * H] = chrono_biases(H, chrono, rng, dtype)
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
