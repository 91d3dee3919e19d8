"""Conversion between lstm_ref's parameters and ``torch.nn`` layers, in both directions.

lstm_ref's layout is PyTorch's (``weight_ih_l0`` is ``W_ih``, gate blocks in
PyTorch's order), so conversion is a copy. PyTorch keeps two biases, ``b_ih``
and ``b_hh``; the RNN and the LSTM only ever use their sum, which is lstm_ref's
``b``. The GRU keeps both, because ``b_hn`` sits inside ``r ⊙ (W_hn h + b_hn)``.
"""

import numpy as np
import torch

from lstm_ref._checks import check_dtype_argument, check_recurrent_parameters, float_dtype
from lstm_ref.params import GRUParams, LSTMParams, RNNParams

# Gate blocks per layer kind, and the torch class that holds them.
_GATES = {RNNParams: 1, LSTMParams: 4, GRUParams: 3}
_TORCH_NAMES = {RNNParams: "RNN", LSTMParams: "LSTM", GRUParams: "GRU"}


def _layer_kind(layer):
    """The params class for a single-layer, unidirectional, time-major torch layer; ValueError otherwise."""
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
    if dtype in (torch.float32, torch.float64):
        return dtype
    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[check_dtype_argument(dtype)]


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
    kind = type(params)
    if kind not in _GATES:
        raise ValueError(f"params must be an RNNParams, LSTMParams or GRUParams, got {kind.__name__}")
    biases = [(name, getattr(params, name)) for name in kind._fields[2:]]
    params_dtype = float_dtype("W_ih", params.W_ih)
    W_ih, W_hh, *biases = check_recurrent_parameters(params.W_ih, params.W_hh, biases, _GATES[kind], params_dtype)
    torch_dtype = _torch_dtype(W_ih.dtype if dtype is None else dtype)

    layer_class = getattr(torch.nn, _TORCH_NAMES[kind])
    # The constructor draws PyTorch's initialisation, which we overwrite at once;
    # fork_rng keeps those draws out of the caller's random stream.
    with torch.random.fork_rng(devices=[]):
        layer = layer_class(W_ih.shape[1], W_hh.shape[1], dtype=torch_dtype)
    if kind is not GRUParams:
        biases = [biases[0], np.zeros_like(biases[0])]
    names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    with torch.no_grad():
        for name, array in zip(names, [W_ih, W_hh, *biases]):
            getattr(layer, name).copy_(torch.from_numpy(array))
    return layer
