"""Parameters: PyTorch's initialisation, and exact conversion to and from ``torch.nn`` layers.

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
order), so conversion is a copy. PyTorch keeps two biases, ``b_ih`` and
``b_hh``; the RNN and the LSTM only ever use their sum, which is our ``b``.
The GRU keeps both, because ``b_hn`` sits inside ``r ⊙ (W_hn h + b_hn)``.

PyTorch is imported inside :func:`params_from_torch` and :func:`params_to_torch`
only, so ``import lstm_ref.params`` does not need it.
"""

import math
from typing import NamedTuple

import numpy as np

from lstm_ref._checks import FLOAT_DTYPES, check_arrays, check_positive_int, float_dtype


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


# Gate blocks per layer kind, and the torch class name that holds them.
_GATES = {RNNParams: 1, LSTMParams: 4, GRUParams: 3}
_TORCH_NAMES = {RNNParams: "RNN", LSTMParams: "LSTM", GRUParams: "GRU"}


def _float_dtype(dtype):
    """np.float32 or np.float64 from anything np.dtype understands; ValueError otherwise."""
    try:
        dtype = np.dtype(dtype)
    except TypeError as error:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}") from error
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def _uniform_parameters(D, H, gates, seed, dtype):
    """W_ih, W_hh, b_ih, b_hh, every entry ~ U(−k, k) with k = 1/√H, as PyTorch draws them."""
    D = check_positive_int("D", D)
    H = check_positive_int("H", H)
    dtype = _float_dtype(dtype)
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
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, (int, float, np.number)):
            raise ValueError(f"forget_bias must be a number or None, got {forget_bias!r}")
        if not math.isfinite(forget_bias):
            raise ValueError(f"forget_bias must be finite, got {forget_bias}")
        b[H : 2 * H] = forget_bias
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


def _layer_kind(layer):
    """The params class for a single-layer, unidirectional, time-major torch layer; ValueError otherwise."""
    import torch

    if isinstance(layer, torch.nn.LSTM):
        kind = LSTMParams
    elif isinstance(layer, torch.nn.GRU):
        kind = GRUParams
    elif isinstance(layer, torch.nn.RNN):
        kind = RNNParams
        if layer.nonlinearity != "tanh":
            raise ValueError(f"layer must be an nn.RNN with nonlinearity='tanh', got '{layer.nonlinearity}'")
    else:
        raise ValueError(f"layer must be a torch.nn.RNN, nn.LSTM or nn.GRU, got {type(layer).__name__}")
    if layer.num_layers != 1:
        raise ValueError(f"layer must have a single layer, num_layers=1, got num_layers={layer.num_layers}")
    if layer.bidirectional:
        raise ValueError("layer must be unidirectional, bidirectional=False, got bidirectional=True")
    if layer.batch_first:
        raise ValueError(
            "layer must be time-major, batch_first=False (lstm_ref's x is (T, N, D)), got batch_first=True"
        )
    if getattr(layer, "proj_size", 0):
        raise ValueError(f"layer must have no projection, proj_size=0, got proj_size={layer.proj_size}")
    return kind


def params_from_torch(layer):
    """The parameters of a torch layer as NumPy arrays, in lstm_ref's layout.

    ``nn.RNN`` (tanh) gives :class:`RNNParams` and ``nn.LSTM`` gives
    :class:`LSTMParams`, with ``b = bias_ih_l0 + bias_hh_l0`` (the layer only
    uses that sum); ``nn.GRU`` gives :class:`GRUParams` with both biases. The
    arrays are copies (changing them leaves the layer alone) in the layer's
    dtype, float32 or float64; a layer made with ``bias=False`` gives zero biases.

    Parameters
    ----------
    layer : torch.nn.RNN, torch.nn.LSTM or torch.nn.GRU
        Single layer (``num_layers=1``), unidirectional, ``batch_first=False``,
        without projection (``proj_size=0``).

    Returns
    -------
    RNNParams, LSTMParams or GRUParams
    """
    kind = _layer_kind(layer)
    W_ih, W_hh = layer.weight_ih_l0, layer.weight_hh_l0
    if W_ih.dtype not in (_torch_dtype(np.float32), _torch_dtype(np.float64)):
        raise ValueError(f"layer parameters must be float32 or float64, got {W_ih.dtype}")

    def to_numpy(tensor):
        return tensor.detach().cpu().numpy().copy()

    if layer.bias:
        b_ih, b_hh = to_numpy(layer.bias_ih_l0), to_numpy(layer.bias_hh_l0)
    else:
        b_ih = b_hh = np.zeros(W_ih.shape[0], dtype=to_numpy(W_ih).dtype)
    if kind is GRUParams:
        return GRUParams(to_numpy(W_ih), to_numpy(W_hh), b_ih, b_hh.copy())
    return kind(to_numpy(W_ih), to_numpy(W_hh), b_ih + b_hh)


def _torch_dtype(dtype):
    """torch.float32 or torch.float64 for a NumPy or torch float dtype; ValueError otherwise."""
    import torch

    if dtype in (torch.float32, torch.float64):
        return dtype
    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[_float_dtype(dtype)]


def params_to_torch(params, dtype=None):
    """A new torch layer that computes what lstm_ref computes with ``params``.

    :class:`RNNParams` gives ``nn.RNN(D, H, nonlinearity="tanh")``,
    :class:`LSTMParams` gives ``nn.LSTM(D, H)`` and :class:`GRUParams` gives
    ``nn.GRU(D, H)``: single layer, time-major, on the CPU, holding copies of
    the arrays. For the RNN and the LSTM, ``b`` goes to ``bias_ih_l0`` and
    ``bias_hh_l0`` is zero (the layer uses only their sum). Building the layer
    does not move PyTorch's global random stream.

    Parameters
    ----------
    params : RNNParams, LSTMParams or GRUParams
        Validated like a forward's parameters: shapes, float dtype, finite values.
    dtype : torch.float32, torch.float64, np.float32, np.float64 or None
        The layer's dtype; None follows the dtype of ``params.W_ih``.

    Returns
    -------
    torch.nn.RNN, torch.nn.LSTM or torch.nn.GRU
    """
    import torch

    kind = type(params)
    if kind not in _GATES:
        raise ValueError(f"params must be an RNNParams, LSTMParams or GRUParams, got {kind.__name__}")
    gates = _GATES[kind]
    rows = f"{gates}H" if gates > 1 else "H"
    specs = [("W_hh", params.W_hh, (rows, "H")), ("W_ih", params.W_ih, (rows, "D"))]
    specs += [(name, getattr(params, name), (rows,)) for name in kind._fields[2:]]
    params_dtype = float_dtype("W_ih", params.W_ih)
    (W_hh, W_ih, *biases), sizes = check_arrays(specs, params_dtype)
    torch_dtype = _torch_dtype(params_dtype if dtype is None else dtype)

    layer_class = getattr(torch.nn, _TORCH_NAMES[kind])
    # The constructor draws PyTorch's initialisation, which we overwrite at once;
    # fork_rng keeps those draws out of the caller's random stream.
    with torch.random.fork_rng(devices=[]):
        layer = layer_class(sizes["D"], sizes["H"], dtype=torch_dtype)
    if kind is not GRUParams:
        biases = [biases[0], np.zeros_like(biases[0])]
    names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    with torch.no_grad():
        for name, array in zip(names, [W_ih, W_hh, *biases]):
            getattr(layer, name).copy_(torch.from_numpy(array))
    return layer
