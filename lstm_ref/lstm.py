"""The LSTM cell, forward and backward, one step and a whole sequence.

One step maps the input x_t and the previous state (h_{t−1}, c_{t−1}) to

    i_t = σ(W_xi x_t + W_hi h_{t−1} + b_i)        input gate
    f_t = σ(W_xf x_t + W_hf h_{t−1} + b_f)        forget gate
    g_t = tanh(W_xg x_t + W_hg h_{t−1} + b_g)     candidate
    o_t = σ(W_xo x_t + W_ho h_{t−1} + b_o)        output gate
    c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t
    h_t = o_t ⊙ tanh(c_t)

The four gates are stacked in PyTorch's order i, f, g, o, exactly as in
``nn.LSTM``: ``W_ih = [W_xi; W_xf; W_xg; W_xo]`` of shape (4H, D),
``W_hh = [W_hi; W_hf; W_hg; W_ho]`` of shape (4H, H) and ``b`` of shape (4H,)
(PyTorch's ``b_ih + b_hh``), so that the pre-activations of all four gates are
one product, ``a_t = W_ih x_t + W_hh h_{t−1} + b`` of length 4H, and
:func:`split_gates` cuts it (or a weight, or a bias) into its four blocks.
In code a batch of N row vectors is multiplied as ``x @ W_ih.T``; sequences are
time-major, ``x`` of shape (T, N, D), states of shape (N, H).

The sequence functions are loops over the step: :func:`lstm_forward` calls
the step's arithmetic once per t and keeps each step's cache, and
:func:`lstm_backward` runs the step's backward from t = T down to 1.

Every function validates its arguments (see ``lstm_ref._checks``), computes in
the dtype of ``x`` (float32 or float64) and never writes to an array it is given.
"""

from typing import NamedTuple

import numpy as np

from lstm_ref._checks import check_array, check_cache, check_recurrent_inputs
from lstm_ref.activations import sigmoid


class LSTMStepCache(NamedTuple):
    """What :func:`lstm_step_backward` needs from :func:`lstm_step_forward`."""

    x: np.ndarray  # (N, D) the input x_t
    h_prev: np.ndarray  # (N, H) h_{t−1}
    c_prev: np.ndarray  # (N, H) c_{t−1}
    W_ih: np.ndarray  # (4H, D)
    W_hh: np.ndarray  # (4H, H)
    i: np.ndarray  # (N, H) input gate i_t
    f: np.ndarray  # (N, H) forget gate f_t
    g: np.ndarray  # (N, H) candidate g_t
    o: np.ndarray  # (N, H) output gate o_t
    c: np.ndarray  # (N, H) the new cell state c_t
    tanh_c: np.ndarray  # (N, H) tanh(c_t)
    h: np.ndarray  # (N, H) the new hidden state h_t


class LSTMCache(NamedTuple):
    """What :func:`lstm_backward` needs from :func:`lstm_forward`: the cache of every step.

    ``steps[t]`` is the :class:`LSTMStepCache` of time step t + 1, exactly what
    :func:`lstm_step_forward` returns for it. Their own memory is 7·T·N·H
    numbers: i, f, g, o, c_t, tanh(c_t) and h_t of every step (a step's
    ``c_prev`` and ``h_prev`` are the previous step's ``c`` and ``h``); ``x_t``
    is a view of the caller's ``x``, and the weights, ``h0`` and ``c0`` are the
    caller's arrays (never copied, never written).
    """

    steps: tuple  # T LSTMStepCache, in time order


def split_gates(a, axis=0, num_gates=4):
    """Cut a stacked array into its gate blocks: the LSTM's i, f, g, o (or the GRU's r, z, n).

    The stacked axis (4H for the LSTM) is axis 0 by default, as in the
    parameters ``W_ih`` (4H, D), ``W_hh`` (4H, H) and ``b`` (4H,);
    pre-activations of a batch carry it last, (N, 4H), so pass ``axis=-1`` for
    them::

        W_xi, W_xf, W_xg, W_xo = split_gates(W_ih)          # each (H, D)
        b_i, b_f, b_g, b_o = split_gates(b)                  # each (H,)
        a = x @ W_ih.T + h_prev @ W_hh.T + b                 # (N, 4H)
        a_i, a_f, a_g, a_o = split_gates(a, axis=-1)         # each (N, H)
        W_hr, W_hz, W_hn = split_gates(W_hh, num_gates=3)    # a GRU's (3H, H): each (H, H)

    Parameters
    ----------
    a : array with a stacked axis of num_gates·H entries
    axis : int
        The stacked axis (default 0).
    num_gates : int
        The number of blocks: 4 for the LSTM (default), 3 for the GRU.

    Returns
    -------
    tuple of ``num_gates`` views of ``a`` (no copies), each with H in place of num_gates·H.
    """
    a = np.asarray(a)
    if a.ndim == 0 or not -a.ndim <= axis < a.ndim or a.shape[axis] % num_gates or a.shape[axis] == 0:
        raise ValueError(
            f"a must have a {num_gates}H axis (a positive multiple of {num_gates}) at axis {axis}, "
            f"got shape {a.shape}"
        )
    H = a.shape[axis] // num_gates
    index = [slice(None)] * a.ndim
    blocks = []
    for k in range(num_gates):
        index[axis] = slice(k * H, (k + 1) * H)
        blocks.append(a[tuple(index)])
    return tuple(blocks)


def _step_forward(x, x_projections, h_prev, c_prev, W_ih, W_hh):
    """One step from its input projections: the arithmetic of :func:`lstm_step_forward`.

    ``x_projections`` are W_xi x_t + b_i, W_xf x_t + b_f, W_xg x_t + b_g and
    W_xo x_t + b_o, each (N, H); the step adds the recurrent terms W_h· h_{t−1}.
    """
    x_i, x_f, x_g, x_o = x_projections
    W_hi, W_hf, W_hg, W_ho = split_gates(W_hh)
    i = sigmoid(x_i + h_prev @ W_hi.T)
    f = sigmoid(x_f + h_prev @ W_hf.T)
    g = np.tanh(x_g + h_prev @ W_hg.T)
    o = sigmoid(x_o + h_prev @ W_ho.T)
    c = f * c_prev + i * g
    tanh_c = np.tanh(c)
    h = o * tanh_c
    return h, c, LSTMStepCache(x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, c, tanh_c, h)


def lstm_step_forward(x, h_prev, c_prev, W_ih, W_hh, b):
    """One LSTM step.

        a = W_ih x_t + W_hh h_{t−1} + b = [a_i; a_f; a_g; a_o]
        i = σ(a_i),  f = σ(a_f),  g = tanh(a_g),  o = σ(a_o)
        c_t = f ⊙ c_{t−1} + i ⊙ g
        h_t = o ⊙ tanh(c_t)

    Parameters
    ----------
    x : (N, D) array
        The inputs x_t of a batch of N sequences at one time step.
    h_prev : (N, H) array
        h_{t−1}.
    c_prev : (N, H) array
        c_{t−1}.
    W_ih : (4H, D) array
        Input weights, gate blocks i, f, g, o stacked.
    W_hh : (4H, H) array
        Recurrent weights, gate blocks i, f, g, o stacked.
    b : (4H,) array
        Bias (PyTorch's ``b_ih + b_hh``).

    Returns
    -------
    h : (N, H) array
        h_t.
    c : (N, H) array
        c_t.
    cache : LSTMStepCache
        For :func:`lstm_step_backward`.
    """
    x, h_prev, c_prev, W_ih, W_hh, b = check_recurrent_inputs(
        x, ("N", "D"), [("h_prev", h_prev), ("c_prev", c_prev)], W_ih, W_hh, [("b", b)], gates=4
    )
    x_projections = [x @ W_x.T + b_gate for W_x, b_gate in zip(split_gates(W_ih), split_gates(b))]
    return _step_forward(x, x_projections, h_prev, c_prev, W_ih, W_hh)


def _step_backward(dh, dc, cache):
    """The recurrent half of :func:`lstm_step_backward`: (da (N, 4H), dh_prev, dc_prev)."""
    i, f, g, o, tanh_c = cache.i, cache.f, cache.g, cache.o, cache.tanh_c
    dc_total = dc + dh * o * (1 - tanh_c * tanh_c)
    da_i = dc_total * g * i * (1 - i)
    da_f = dc_total * cache.c_prev * f * (1 - f)
    da_g = dc_total * i * (1 - g * g)
    da_o = dh * tanh_c * o * (1 - o)
    da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)
    return da, da @ cache.W_hh, dc_total * f


def lstm_step_backward(dh, dc, cache):
    """Backward pass of one LSTM step.

    With dh = dL/dh_t and dc = dL/dc_t arriving from above and from step t+1:

        dc_t    = dc + dh ⊙ o ⊙ (1 − tanh²(c_t))        (c_t reaches L directly and through h_t)
        da_i = dc_t ⊙ g ⊙ i(1 − i)       da_f = dc_t ⊙ c_{t−1} ⊙ f(1 − f)
        da_g = dc_t ⊙ i ⊙ (1 − g²)       da_o = dh ⊙ tanh(c_t) ⊙ o(1 − o)
        da = [da_i, da_f, da_g, da_o]    (N, 4H)
        dx = da W_ih,  dh_prev = da W_hh,  dc_prev = dc_t ⊙ f,
        dW_ih = daᵀ x,  dW_hh = daᵀ h_{t−1},  db = Σ_n da

    Parameters
    ----------
    dh : (N, H) array
        dL/dh_t.
    dc : (N, H) array
        dL/dc_t from outside the step (what step t+1 sends back; zeros at the end).
    cache : LSTMStepCache
        From :func:`lstm_step_forward`.

    Returns
    -------
    dx : (N, D) array
    dh_prev : (N, H) array
    dc_prev : (N, H) array
    dW_ih : (4H, D) array
    dW_hh : (4H, H) array
    db : (4H,) array
        The gradients of the loss with respect to ``x, h_prev, c_prev, W_ih, W_hh, b``.
    """
    check_cache("cache", cache, LSTMStepCache, "lstm_step_forward")
    N, H = cache.c.shape
    dh = check_array("dh", dh, cache.c.dtype, ("N", "H"), (N, H))
    dc = check_array("dc", dc, cache.c.dtype, ("N", "H"), (N, H))
    da, dh_prev, dc_prev = _step_backward(dh, dc, cache)
    return da @ cache.W_ih, dh_prev, dc_prev, da.T @ cache.x, da.T @ cache.h_prev, da.sum(axis=0)


def lstm_forward(x, h0, c0, W_ih, W_hh, b):
    """The LSTM over a whole sequence: the step of :func:`lstm_step_forward` for t = 1..T.

    The input projections W_x· x_t + b_· do not depend on the recurrence, so they
    are computed for all T steps at once before the loop, one (T·N, D) @ (D, H)
    product per gate; each step then adds its recurrent terms W_h· h_{t−1}.

    Parameters
    ----------
    x : (T, N, D) array
        The input sequences, time-major.
    h0 : (N, H) array
        The initial hidden states.
    c0 : (N, H) array
        The initial cell states.
    W_ih : (4H, D) array
    W_hh : (4H, H) array
    b : (4H,) array

    Returns
    -------
    hs : (T, N, H) array
        The hidden states h_1 .. h_T.
    cs : (T, N, H) array
        The cell states c_1 .. c_T.
    cache : LSTMCache
        For :func:`lstm_backward`.
    """
    x, h0, c0, W_ih, W_hh, b = check_recurrent_inputs(
        x, ("T", "N", "D"), [("h0", h0), ("c0", c0)], W_ih, W_hh, [("b", b)], gates=4
    )
    T, N, D = x.shape
    H = h0.shape[1]
    # W_x· x_t + b_· of each gate for all T steps at once: four (T·N, D) @ (D, H) products.
    x_projections = [
        (x.reshape(T * N, D) @ W_x.T + b_gate).reshape(T, N, H)
        for W_x, b_gate in zip(split_gates(W_ih), split_gates(b))
    ]
    h, c = h0, c0
    hs, cs, steps = [], [], []
    for t in range(T):
        h, c, step = _step_forward(x[t], [x_gate[t] for x_gate in x_projections], h, c, W_ih, W_hh)
        hs.append(h)
        cs.append(c)
        steps.append(step)
    return np.stack(hs), np.stack(cs), LSTMCache(tuple(steps))


def lstm_backward(dhs, cache, dcT=None):
    """Backpropagation through time for :func:`lstm_forward`.

    From t = T down to 1, the step backward of :func:`lstm_step_backward` with

        dh = dhs_t + dh_next,   dc = dc_next           (dh_next = 0, dc_next = dcT or 0 at t = T)

    where dh_next and dc_next are the dh_prev and dc_prev of step t + 1. The
    gradients of x and of the weights are sums over t of products with da_t,

        dx_t = da_t W_ih,   dW_ih = Σ_t da_tᵀ x_t,   dW_hh = Σ_t da_tᵀ h_{t−1},   db = Σ_t Σ_n da_t

    so the loop keeps every da_t and they are computed after it, each as one
    product over all steps. dh0 and dc0 are what step 1 sends back.

    Parameters
    ----------
    dhs : (T, N, H) array
        dL/dh_t for every t: the gradient of the loss with respect to each output
        hidden state (zeros where the loss does not read h_t).
    cache : LSTMCache
        From :func:`lstm_forward`.
    dcT : (N, H) array or None
        dL/dc_T, a gradient arriving at the last cell state (when c_T is passed
        on, e.g. to the next chunk of a sequence). None means zero.

    Returns
    -------
    dx : (T, N, D) array
    dh0 : (N, H) array
    dc0 : (N, H) array
    dW_ih : (4H, D) array
    dW_hh : (4H, H) array
    db : (4H,) array
        The gradients of the loss with respect to ``x, h0, c0, W_ih, W_hh, b``.
    """
    check_cache("cache", cache, LSTMCache, "lstm_forward")
    steps = cache.steps
    T, (N, H), dtype = len(steps), steps[0].c.shape, steps[0].c.dtype
    dhs = check_array("dhs", dhs, dtype, ("T", "N", "H"), (T, N, H))
    dh_next = np.zeros((N, H), dtype=dtype)
    dc_next = np.zeros((N, H), dtype=dtype)
    if dcT is not None:
        dc_next = check_array("dcT", dcT, dtype, ("N", "H"), (N, H))
    das = [None] * T
    for t in reversed(range(T)):
        das[t], dh_next, dc_next = _step_backward(dhs[t] + dh_next, dc_next, steps[t])
    # The rows of all steps stacked: da_t, x_t and h_{t−1} for t = 1..T, T·N rows each.
    da = np.concatenate(das)
    xs = np.concatenate([step.x for step in steps])
    h_prevs = np.concatenate([step.h_prev for step in steps])
    dx = (da @ steps[0].W_ih).reshape(T, N, -1)
    dW_ih = da.T @ xs  # Σ_t da_tᵀ x_t
    dW_hh = da.T @ h_prevs  # Σ_t da_tᵀ h_{t−1}
    db = da.sum(axis=0)
    dh0, dc0 = dh_next, dc_next  # what step 1 sends back
    return dx, dh0, dc0, dW_ih, dW_hh, db
