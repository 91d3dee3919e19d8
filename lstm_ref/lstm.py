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

Every function validates its arguments (see ``lstm_ref._checks``), computes in
the dtype of ``x`` (float32 or float64) and never writes to an array it is given.
"""

from typing import NamedTuple

import numpy as np

from lstm_ref._checks import check_arrays, check_cache, check_recurrent_inputs
from lstm_ref.activations import _sigmoid_inplace, sigmoid


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


class LSTMCache(NamedTuple):
    """What :func:`lstm_backward` needs from :func:`lstm_forward`.

    Its own memory is 7·T·N·H numbers (gates 4, cs, tanh_cs and hs 1 each);
    ``x``, ``h0``, ``c0`` and the weights are the caller's arrays, held by
    reference (never copied, never written). ``hs`` and ``cs`` are the arrays
    :func:`lstm_forward` returns.
    """

    x: np.ndarray  # (T, N, D) the inputs x_1 .. x_T
    h0: np.ndarray  # (N, H) initial hidden state
    c0: np.ndarray  # (N, H) initial cell state
    W_ih: np.ndarray  # (4H, D)
    W_hh: np.ndarray  # (4H, H)
    gates: np.ndarray  # (4, T, N, H) gate-major: i, f, g, o = gates, each (T, N, H)
    cs: np.ndarray  # (T, N, H) cell states c_1 .. c_T
    tanh_cs: np.ndarray  # (T, N, H) tanh(c_t)
    hs: np.ndarray  # (T, N, H) hidden states h_1 .. h_T


def split_gates(a, axis=0):
    """Cut a stacked array into its four gate blocks, in PyTorch's order i, f, g, o.

    The 4H axis is axis 0 by default, as in the parameters ``W_ih`` (4H, D),
    ``W_hh`` (4H, H) and ``b`` (4H,); pre-activations of a batch carry it last,
    (N, 4H), so pass ``axis=-1`` for them::

        W_xi, W_xf, W_xg, W_xo = split_gates(W_ih)          # each (H, D)
        b_i, b_f, b_g, b_o = split_gates(b)                  # each (H,)
        a = x @ W_ih.T + h_prev @ W_hh.T + b                 # (N, 4H)
        a_i, a_f, a_g, a_o = split_gates(a, axis=-1)         # each (N, H)

    (The sequence cache stores its gates already split, gate-major:
    ``i, f, g, o = cache.gates``, each (T, N, H).)

    Parameters
    ----------
    a : array with a 4H axis
    axis : int
        The 4H axis (default 0).

    Returns
    -------
    (i, f, g, o) : four views of ``a`` (no copies), each with H in place of 4H.
    """
    a = np.asarray(a)
    if a.ndim == 0 or not -a.ndim <= axis < a.ndim or a.shape[axis] % 4 or a.shape[axis] == 0:
        raise ValueError(
            f"a must have a 4H axis (a positive multiple of 4) at axis {axis}, got shape {a.shape}"
        )
    H = a.shape[axis] // 4
    index = [slice(None)] * a.ndim
    blocks = []
    for k in range(4):
        index[axis] = slice(k * H, (k + 1) * H)
        blocks.append(a[tuple(index)])
    return tuple(blocks)


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
        "x", x, ("N", "D"), [("h_prev", h_prev), ("c_prev", c_prev)], W_ih, W_hh, [("b", b)], "4H"
    )
    a = x @ W_ih.T + h_prev @ W_hh.T + b
    a_i, a_f, a_g, a_o = split_gates(a, axis=-1)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    c = f * c_prev + i * g
    tanh_c = np.tanh(c)
    h = o * tanh_c
    return h, c, LSTMStepCache(x, h_prev, c_prev, W_ih, W_hh, i, f, g, o, c, tanh_c)


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
    (dh, dc), _ = check_arrays(
        [("dh", dh, ("N", "H")), ("dc", dc, ("N", "H"))], cache.c.dtype, {"N": N, "H": H}
    )
    i, f, g, o, tanh_c = cache.i, cache.f, cache.g, cache.o, cache.tanh_c
    dc_total = dc + dh * o * (1 - tanh_c * tanh_c)
    da_i = dc_total * g * i * (1 - i)
    da_f = dc_total * cache.c_prev * f * (1 - f)
    da_g = dc_total * i * (1 - g * g)
    da_o = dh * tanh_c * o * (1 - o)
    da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)
    dx = da @ cache.W_ih
    dh_prev = da @ cache.W_hh
    dc_prev = dc_total * f
    dW_ih = da.T @ cache.x
    dW_hh = da.T @ cache.h_prev
    db = da.sum(axis=0)
    return dx, dh_prev, dc_prev, dW_ih, dW_hh, db


def lstm_forward(x, h0, c0, W_ih, W_hh, b):
    """The LSTM over a whole sequence: :func:`lstm_step_forward` for t = 1..T.

    It computes what a loop over :func:`lstm_step_forward` computes, but it is
    not written as one, for speed:

    * the input projections W_ih x_t + b do not depend on the recurrence, so
      they are computed for all time steps before the loop, one (T·N, D) @ (D, H)
      product per gate; only h_{t−1} W_hhᵀ stays inside the loop;
    * the gates are stored gate-major, ``gates[k, t]`` being the (N, H) block of
      gate k at step t, so that every elementwise operation of the loop runs on
      contiguous memory (NumPy is several times slower on the strided (N, H)
      blocks of an (N, 4H) array), and the results are written into arrays
      allocated once instead of new ones at each step.

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
        For :func:`lstm_backward`; it holds ``hs`` and ``cs`` themselves (not copies).
    """
    x, h0, c0, W_ih, W_hh, b = check_recurrent_inputs(
        "x", x, ("T", "N", "D"), [("h0", h0), ("c0", c0)], W_ih, W_hh, [("b", b)], "4H"
    )
    T, N, D = x.shape
    H = W_hh.shape[1]
    gates = np.empty((4, T, N, H), dtype=x.dtype)
    x_rows = x.reshape(T * N, D)
    for gate_rows, W_x, b_gate in zip(gates.reshape(4, T * N, H), split_gates(W_ih), split_gates(b)):
        np.matmul(x_rows, W_x.T, out=gate_rows)  # W_x x_t for every t at once
        gate_rows += b_gate
    W_hh_T = W_hh.reshape(4, H, H).transpose(0, 2, 1)  # W_hh_T[k] = W_hkᵀ
    hs = np.empty((T, N, H), dtype=x.dtype)
    cs = np.empty_like(hs)
    tanh_cs = np.empty_like(hs)
    recurrent = np.empty((4, N, H), dtype=x.dtype)
    h, c = h0, c0
    for t in range(T):
        # gates[:, t] holds W_x x_t + b; add W_h h_{t−1}, then squash in place into i, f, g, o.
        a = gates[:, t]
        np.matmul(h, W_hh_T, out=recurrent)
        a += recurrent
        i, f, g, o = a
        _sigmoid_inplace(a[:2])  # i and f
        np.tanh(g, out=g)
        _sigmoid_inplace(o)
        c_t, tanh_c, h_t = cs[t], tanh_cs[t], hs[t]
        np.multiply(f, c, out=c_t)
        np.multiply(i, g, out=h_t)  # h_t is free until the last line: use it for i ⊙ g
        c_t += h_t
        np.tanh(c_t, out=tanh_c)
        np.multiply(o, tanh_c, out=h_t)
        h, c = h_t, c_t
    return hs, cs, LSTMCache(x, h0, c0, W_ih, W_hh, gates, cs, tanh_cs, hs)


def lstm_backward(dhs, cache, dcT=None):
    """Backpropagation through time for :func:`lstm_forward`.

    Going backwards from t = T, with dh_next = 0 and dc_next = dcT (or 0):

        dh = dhs_t + dh_next
        dc = dc_next + dh ⊙ o_t ⊙ (1 − tanh²(c_t))
        da_t = [dc ⊙ g_t ⊙ i_t(1 − i_t), dc ⊙ c_{t−1} ⊙ f_t(1 − f_t),
                dc ⊙ i_t ⊙ (1 − g_t²),    dh ⊙ tanh(c_t) ⊙ o_t(1 − o_t)]
        dh_next = da_t W_hh,   dc_next = dc ⊙ f_t

    and then, from all the da_t at once: dx_t = da_t W_ih, dW_ih = Σ_t da_tᵀ x_t,
    dW_hh = Σ_t da_tᵀ h_{t−1}, db = Σ_t Σ_n da_t; dh0 and dc0 are the last
    dh_next and dc_next.

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
    T, N, H = cache.hs.shape
    D = cache.x.shape[2]
    specs = [("dhs", dhs, ("T", "N", "H"))]
    if dcT is not None:
        specs.append(("dcT", dcT, ("N", "H")))
    (dhs, *rest), _ = check_arrays(specs, cache.hs.dtype, {"T": T, "N": N, "H": H})
    # Only the recurrence runs step by step. The weight and input gradients are
    # sums over t of products with da_t, so da is kept for every t (gate-major,
    # like the cache's gates) and they become one product per gate after the loop.
    da = np.empty_like(cache.gates)
    slopes = np.empty((4, N, H), dtype=dhs.dtype)  # σ' or tanh' of each gate, from its value
    dh_parts = np.empty((4, N, H), dtype=dhs.dtype)  # da_k W_hk, summed into dh_next
    dh = np.empty((N, H), dtype=dhs.dtype)
    dc = np.empty_like(dh)
    dh_next = np.zeros_like(dh)
    dc_next = np.zeros_like(dh)
    if rest:
        dc_next[...] = rest[0]  # a copy: the loop overwrites dc_next
    W_hh_blocks = cache.W_hh.reshape(4, H, H)  # W_hh_blocks[k] = W_hk
    for t in reversed(range(T)):
        gates = cache.gates[:, t]
        i, f, g, o = gates
        tanh_c = cache.tanh_cs[t]
        c_prev = cache.cs[t - 1] if t > 0 else cache.c0
        # slopes = [i(1 − i), f(1 − f), 1 − g², o(1 − o)]
        np.subtract(1, gates, out=slopes)
        slopes *= gates
        np.multiply(g, g, out=slopes[2])
        np.subtract(1, slopes[2], out=slopes[2])
        # dh = dhs_t + dh_next;  dc = dc_next + dh ⊙ o ⊙ (1 − tanh²(c_t))
        np.add(dhs[t], dh_next, out=dh)
        np.multiply(tanh_c, tanh_c, out=dc)
        np.subtract(1, dc, out=dc)
        dc *= o
        dc *= dh
        dc += dc_next
        # da = [dc ⊙ g, dc ⊙ c_{t−1}, dc ⊙ i, dh ⊙ tanh(c_t)] ⊙ slopes
        da_i, da_f, da_g, da_o = da_t = da[:, t]
        np.multiply(dc, g, out=da_i)
        np.multiply(dc, c_prev, out=da_f)
        np.multiply(dc, i, out=da_g)
        np.multiply(dh, tanh_c, out=da_o)
        da_t *= slopes
        np.matmul(da_t, W_hh_blocks, out=dh_parts)
        np.sum(dh_parts, axis=0, out=dh_next)
        np.multiply(dc, f, out=dc_next)
    x_rows = cache.x.reshape(T * N, D)
    h_prev_rows = np.concatenate([cache.h0[None], cache.hs[:-1]]).reshape(T * N, H)
    dW_ih = np.empty_like(cache.W_ih)
    dW_hh = np.empty_like(cache.W_hh)
    dx_rows = np.zeros((T * N, D), dtype=dhs.dtype)
    for k, (da_rows, W_x) in enumerate(zip(da.reshape(4, T * N, H), split_gates(cache.W_ih))):
        np.matmul(da_rows.T, x_rows, out=dW_ih[k * H : (k + 1) * H])
        np.matmul(da_rows.T, h_prev_rows, out=dW_hh[k * H : (k + 1) * H])
        dx_rows += da_rows @ W_x
    db = da.sum(axis=(1, 2)).reshape(4 * H)
    dh0, dc0 = dh_next, dc_next  # what step 1 sends back
    return dx_rows.reshape(T, N, D), dh0, dc0, dW_ih, dW_hh, db
