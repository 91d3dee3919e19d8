"""The peephole LSTM (Gers & Schmidhuber, 2000), forward and backward, one step and a whole sequence.

The book's LSTM decides its gates from x_t and h_{t−1} only, and h_{t−1} shows
the cell state through the output gate, o_{t−1} ⊙ tanh(c_{t−1}): a closed
output gate hides it. Peephole connections let each gate look at the cell
state itself, through one weight per unit (a diagonal matrix):

    i_t = σ(W_xi x_t + W_hi h_{t−1} + b_i + p_i ⊙ c_{t−1})     input gate
    f_t = σ(W_xf x_t + W_hf h_{t−1} + b_f + p_f ⊙ c_{t−1})     forget gate
    g_t = tanh(W_xg x_t + W_hg h_{t−1} + b_g)                    candidate
    c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t
    o_t = σ(W_xo x_t + W_ho h_{t−1} + b_o + p_o ⊙ c_t)         output gate
    h_t = o_t ⊙ tanh(c_t)

The input and forget gates look at the old cell state c_{t−1}; the output gate
looks at the new one, c_t, so it is computed after the cell update. W_ih,
W_hh and b are the LSTM's, stacked in PyTorch's order i, f, g, o
(``lstm_ref.lstm``); the peephole weights are stacked in the order of their
gates, ``p = [p_i; p_f; p_o]`` of shape (3H,). With p = 0 every function here
gives exactly what ``lstm_ref.lstm`` gives.

Arrays are time-major, x of shape (T, N, D), states (N, H), a batch of row
vectors multiplied as ``x @ W_ih.T``. Every function validates its arguments
(``lstm_ref._checks``), computes in the dtype of ``x`` and never writes to an
array it is given.
"""

from typing import NamedTuple

import numpy as np

from lstm_ref._checks import check_array, check_cache, check_recurrent_inputs
from lstm_ref.activations import sigmoid
from lstm_ref.lstm import split_gates


class PeepholeStepCache(NamedTuple):
    """What :func:`peephole_step_backward` needs from :func:`peephole_step_forward`."""

    x: np.ndarray  # (N, D) the input x_t
    h_prev: np.ndarray  # (N, H) h_{t−1}
    c_prev: np.ndarray  # (N, H) c_{t−1}
    W_ih: np.ndarray  # (4H, D)
    W_hh: np.ndarray  # (4H, H)
    p: np.ndarray  # (3H,) peephole weights [p_i; p_f; p_o]
    i: np.ndarray  # (N, H) input gate i_t
    f: np.ndarray  # (N, H) forget gate f_t
    g: np.ndarray  # (N, H) candidate g_t
    o: np.ndarray  # (N, H) output gate o_t
    c: np.ndarray  # (N, H) the new cell state c_t
    tanh_c: np.ndarray  # (N, H) tanh(c_t)
    h: np.ndarray  # (N, H) the new hidden state h_t


class PeepholeCache(NamedTuple):
    """What :func:`peephole_backward` needs from :func:`peephole_forward`: the cache of every step.

    ``steps[t]`` is the :class:`PeepholeStepCache` of time step t + 1.
    """

    steps: tuple  # T PeepholeStepCache, in time order


def _check_inputs(x, x_symbols, states, W_ih, W_hh, b, p):
    """The LSTM's checks, then p (3H,); everything returned in x's dtype."""
    x, *states, W_ih, W_hh, b = check_recurrent_inputs(
        x, x_symbols, states, W_ih, W_hh, [("b", b)], gates=4
    )
    H = W_hh.shape[1]
    p = check_array("p", p, x.dtype, ("3H",), (3 * H,))
    return (x, *states, W_ih, W_hh, b, p)


def _step_forward(x, x_projections, h_prev, c_prev, W_ih, W_hh, p):
    """One step from its input projections W_x· x_t + b_· (each (N, H)): the arithmetic of the forward."""
    x_i, x_f, x_g, x_o = x_projections
    W_hi, W_hf, W_hg, W_ho = split_gates(W_hh)
    p_i, p_f, p_o = split_gates(p, num_gates=3)
    i = sigmoid(x_i + h_prev @ W_hi.T + p_i * c_prev)
    f = sigmoid(x_f + h_prev @ W_hf.T + p_f * c_prev)
    g = np.tanh(x_g + h_prev @ W_hg.T)
    c = f * c_prev + i * g
    o = sigmoid(x_o + h_prev @ W_ho.T + p_o * c)  # the output gate sees the new cell state
    tanh_c = np.tanh(c)
    h = o * tanh_c
    return h, c, PeepholeStepCache(x, h_prev, c_prev, W_ih, W_hh, p, i, f, g, o, c, tanh_c, h)


def peephole_step_forward(x, h_prev, c_prev, W_ih, W_hh, b, p):
    """One step of the peephole LSTM.

        [a_i; a_f; a_g; a_o] = W_ih x_t + W_hh h_{t−1} + b
        i = σ(a_i + p_i ⊙ c_{t−1}),   f = σ(a_f + p_f ⊙ c_{t−1}),   g = tanh(a_g)
        c_t = f ⊙ c_{t−1} + i ⊙ g
        o = σ(a_o + p_o ⊙ c_t)
        h_t = o ⊙ tanh(c_t)

    Parameters
    ----------
    x : (N, D) array
        The inputs x_t.
    h_prev, c_prev : (N, H) arrays
        h_{t−1} and c_{t−1}.
    W_ih : (4H, D) array
    W_hh : (4H, H) array
    b : (4H,) array
        The LSTM's parameters, gate blocks i, f, g, o stacked.
    p : (3H,) array
        Peephole weights [p_i; p_f; p_o].

    Returns
    -------
    h, c : (N, H) arrays
        h_t and c_t.
    cache : PeepholeStepCache
        For :func:`peephole_step_backward`.
    """
    x, h_prev, c_prev, W_ih, W_hh, b, p = _check_inputs(
        x, ("N", "D"), [("h_prev", h_prev), ("c_prev", c_prev)], W_ih, W_hh, b, p
    )
    x_projections = [x @ W_x.T + b_gate for W_x, b_gate in zip(split_gates(W_ih), split_gates(b))]
    return _step_forward(x, x_projections, h_prev, c_prev, W_ih, W_hh, p)


def _step_backward(dh, dc, cache):
    """The recurrent half of the step backward: (da (N, 4H), dp_rows (N, 3H), dh_prev, dc_prev).

    ``dp_rows`` holds the per-sequence terms of dp, summed over the batch by the caller.
    """
    i, f, g, o, c, tanh_c, c_prev = cache.i, cache.f, cache.g, cache.o, cache.c, cache.tanh_c, cache.c_prev
    p_i, p_f, p_o = split_gates(cache.p, num_gates=3)
    da_o = dh * tanh_c * o * (1 - o)
    # c_t reaches the loss through c_{t+1} (dc), through tanh(c_t) in h_t, and through o's peephole.
    dc_total = dc + dh * o * (1 - tanh_c * tanh_c) + da_o * p_o
    da_i = dc_total * g * i * (1 - i)
    da_f = dc_total * c_prev * f * (1 - f)
    da_g = dc_total * i * (1 - g * g)
    da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)
    dp_rows = np.concatenate([da_i * c_prev, da_f * c_prev, da_o * c], axis=1)
    # c_{t−1} reaches c_t directly (f) and through the peepholes of i and f.
    dc_prev = dc_total * f + da_i * p_i + da_f * p_f
    return da, dp_rows, da @ cache.W_hh, dc_prev


def peephole_step_backward(dh, dc, cache):
    """Backward pass of one peephole LSTM step.

    With dh = dL/dh_t and dc = dL/dc_t from step t+1, the output gate first,
    because it reads c_t:

        da_o = dh ⊙ tanh(c_t) ⊙ o(1 − o)
        dc_t = dc + dh ⊙ o ⊙ (1 − tanh²(c_t)) + da_o ⊙ p_o
        da_i = dc_t ⊙ g ⊙ i(1 − i)       da_f = dc_t ⊙ c_{t−1} ⊙ f(1 − f)
        da_g = dc_t ⊙ i ⊙ (1 − g²)
        dc_prev = dc_t ⊙ f + da_i ⊙ p_i + da_f ⊙ p_f
        dp = Σ_n [da_i ⊙ c_{t−1}, da_f ⊙ c_{t−1}, da_o ⊙ c_t]
        da = [da_i, da_f, da_g, da_o];  dx, dh_prev, dW_ih, dW_hh, db as for the LSTM

    Parameters
    ----------
    dh : (N, H) array
        dL/dh_t.
    dc : (N, H) array
        dL/dc_t from outside the step (zeros at the end of a sequence).
    cache : PeepholeStepCache
        From :func:`peephole_step_forward`.

    Returns
    -------
    dx : (N, D), dh_prev : (N, H), dc_prev : (N, H), dW_ih : (4H, D), dW_hh : (4H, H),
    db : (4H,), dp : (3H,)
        The gradients with respect to ``x, h_prev, c_prev, W_ih, W_hh, b, p``.
    """
    check_cache("cache", cache, PeepholeStepCache, "peephole_step_forward")
    N, H = cache.c.shape
    dh = check_array("dh", dh, cache.c.dtype, ("N", "H"), (N, H))
    dc = check_array("dc", dc, cache.c.dtype, ("N", "H"), (N, H))
    da, dp_rows, dh_prev, dc_prev = _step_backward(dh, dc, cache)
    dx = da @ cache.W_ih
    dW_ih, dW_hh, db, dp = da.T @ cache.x, da.T @ cache.h_prev, da.sum(axis=0), dp_rows.sum(axis=0)
    return dx, dh_prev, dc_prev, dW_ih, dW_hh, db, dp


def peephole_forward(x, h0, c0, W_ih, W_hh, b, p):
    """The peephole LSTM over a sequence: :func:`peephole_step_forward` for t = 1..T.

    The input projections W_x· x_t + b_· of all steps are computed before the
    loop, one (T·N, D) @ (D, H) product per gate.

    Parameters
    ----------
    x : (T, N, D) array
    h0, c0 : (N, H) arrays
    W_ih : (4H, D), W_hh : (4H, H), b : (4H,), p : (3H,) arrays

    Returns
    -------
    hs, cs : (T, N, H) arrays
        h_1 .. h_T and c_1 .. c_T.
    cache : PeepholeCache
        For :func:`peephole_backward`.
    """
    x, h0, c0, W_ih, W_hh, b, p = _check_inputs(
        x, ("T", "N", "D"), [("h0", h0), ("c0", c0)], W_ih, W_hh, b, p
    )
    T, N, D = x.shape
    H = h0.shape[1]
    x_projections = [
        (x.reshape(T * N, D) @ W_x.T + b_gate).reshape(T, N, H)
        for W_x, b_gate in zip(split_gates(W_ih), split_gates(b))
    ]
    h, c = h0, c0
    hs, cs, steps = [], [], []
    for t in range(T):
        h, c, step = _step_forward(x[t], [x_gate[t] for x_gate in x_projections], h, c, W_ih, W_hh, p)
        hs.append(h)
        cs.append(c)
        steps.append(step)
    return np.stack(hs), np.stack(cs), PeepholeCache(tuple(steps))


def peephole_backward(dhs, cache, dcT=None):
    """Backpropagation through time for :func:`peephole_forward`.

    From t = T down to 1, :func:`peephole_step_backward` with dh = dhs_t + dh_next
    and dc = dc_next (the dh_prev and dc_prev of step t + 1; dc_next = dcT or 0 at
    t = T). The gradients of x and of the parameters are sums over t:

        dx_t = da_t W_ih,  dW_ih = Σ_t da_tᵀ x_t,  dW_hh = Σ_t da_tᵀ h_{t−1},
        db = Σ_t Σ_n da_t,  dp = Σ_t dp_t

    Parameters
    ----------
    dhs : (T, N, H) array
        dL/dh_t for every t.
    cache : PeepholeCache
        From :func:`peephole_forward`.
    dcT : (N, H) array or None
        dL/dc_T from beyond the sequence; None means zero.

    Returns
    -------
    dx : (T, N, D), dh0 : (N, H), dc0 : (N, H), dW_ih : (4H, D), dW_hh : (4H, H),
    db : (4H,), dp : (3H,)
        The gradients with respect to ``x, h0, c0, W_ih, W_hh, b, p``.
    """
    check_cache("cache", cache, PeepholeCache, "peephole_forward")
    steps = cache.steps
    T, (N, H), dtype = len(steps), steps[0].c.shape, steps[0].c.dtype
    dhs = check_array("dhs", dhs, dtype, ("T", "N", "H"), (T, N, H))
    dh_next = np.zeros((N, H), dtype=dtype)
    dc_next = np.zeros((N, H), dtype=dtype)
    if dcT is not None:
        dc_next = check_array("dcT", dcT, dtype, ("N", "H"), (N, H))
    das, dp_rows = [None] * T, [None] * T
    for t in reversed(range(T)):
        das[t], dp_rows[t], dh_next, dc_next = _step_backward(dhs[t] + dh_next, dc_next, steps[t])
    # The rows of all steps stacked: da_t, x_t and h_{t−1} for t = 1..T, T·N rows each.
    da = np.concatenate(das)
    xs = np.concatenate([step.x for step in steps])
    h_prevs = np.concatenate([step.h_prev for step in steps])
    dx = (da @ steps[0].W_ih).reshape(T, N, -1)
    dW_ih = da.T @ xs  # Σ_t da_tᵀ x_t
    dW_hh = da.T @ h_prevs  # Σ_t da_tᵀ h_{t−1}
    db = da.sum(axis=0)
    dp = np.concatenate(dp_rows).sum(axis=0)
    dh0, dc0 = dh_next, dc_next  # what step 1 sends back
    return dx, dh0, dc0, dW_ih, dW_hh, db, dp
