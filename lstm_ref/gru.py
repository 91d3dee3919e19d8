"""The gated recurrent unit (GRU), forward and backward, one step and a whole sequence.

In PyTorch's form and gate order r, z, n (reset, update, new):

    r_t = σ(W_ir x_t + b_ir + W_hr h_{t−1} + b_hr)
    z_t = σ(W_iz x_t + b_iz + W_hz h_{t−1} + b_hz)
    n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t−1} + b_hn))
    h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}

The blocks are stacked as in ``nn.GRU``: ``W_ih = [W_ir; W_iz; W_in]`` of shape
(3H, D), ``W_hh = [W_hr; W_hz; W_hn]`` of shape (3H, H), and two biases ``b_ih``
and ``b_hh`` of shape (3H,). Unlike the RNN and the LSTM, the two biases cannot
be folded into one: ``b_hn`` sits inside ``r_t ⊙ (…)``. In code a batch of N row
vectors is multiplied as ``x @ W_ih.T``; sequences are time-major, ``x`` of
shape (T, N, D), states of shape (N, H).

The sequence functions are loops over the step: :func:`gru_forward` runs the
step's arithmetic once per t and keeps each step's cache, :func:`gru_backward`
runs the step's backward from t = T down to 1.

Every function validates its arguments (see ``lstm_ref._checks``), computes in
the dtype of ``x`` (float32 or float64) and never writes to an array it is given.
"""

from typing import NamedTuple

import numpy as np

from lstm_ref._checks import check_array, check_cache, check_recurrent_inputs
from lstm_ref.activations import sigmoid
from lstm_ref.lstm import split_gates


class GRUStepCache(NamedTuple):
    """What :func:`gru_step_backward` needs from :func:`gru_step_forward`."""

    x: np.ndarray  # (N, D) the input x_t
    h_prev: np.ndarray  # (N, H) h_{t−1}
    W_ih: np.ndarray  # (3H, D)
    W_hh: np.ndarray  # (3H, H)
    r: np.ndarray  # (N, H) reset gate r_t
    z: np.ndarray  # (N, H) update gate z_t
    n: np.ndarray  # (N, H) new state n_t
    hn: np.ndarray  # (N, H) W_hn h_{t−1} + b_hn, the part that r_t scales
    h: np.ndarray  # (N, H) h_t


class GRUCache(NamedTuple):
    """What :func:`gru_backward` needs from :func:`gru_forward`: the cache of every step.

    ``steps[t]`` is the :class:`GRUStepCache` of time step t + 1, what
    :func:`gru_step_forward` returns for it. Their own memory is 5·T·N·H
    numbers (r, z, n, h_n and h_t of every step); ``x_t`` is a view of the
    caller's ``x``, and ``h0`` and the weights are the caller's arrays (never
    copied, never written).
    """

    steps: tuple  # T GRUStepCache, in time order


def _step_forward(x, x_projections, h_prev, W_ih, W_hh, b_hh):
    """One step from its input projections: the arithmetic of :func:`gru_step_forward`.

    ``x_projections`` are W_ir x_t + b_ir, W_iz x_t + b_iz and W_in x_t + b_in,
    each (N, H); the step adds the recurrent terms.
    """
    x_r, x_z, x_n = x_projections
    W_hr, W_hz, W_hn = split_gates(W_hh, num_gates=3)
    b_hr, b_hz, b_hn = split_gates(b_hh, num_gates=3)
    r = sigmoid(x_r + h_prev @ W_hr.T + b_hr)
    z = sigmoid(x_z + h_prev @ W_hz.T + b_hz)
    hn = h_prev @ W_hn.T + b_hn
    n = np.tanh(x_n + r * hn)
    h = (1 - z) * n + z * h_prev
    return h, GRUStepCache(x, h_prev, W_ih, W_hh, r, z, n, hn, h)


def gru_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    """One GRU step, gates in PyTorch's order r, z, n.

        [i_r, i_z, i_n] = W_ih x_t + b_ih,   [h_r, h_z, h_n] = W_hh h_{t−1} + b_hh
        r = σ(i_r + h_r),  z = σ(i_z + h_z),  n = tanh(i_n + r ⊙ h_n)
        h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}

    Parameters
    ----------
    x : (N, D) array
        The inputs x_t of a batch of N sequences at one time step.
    h_prev : (N, H) array
        h_{t−1}.
    W_ih : (3H, D) array
        Input weights, blocks r, z, n stacked.
    W_hh : (3H, H) array
        Recurrent weights, blocks r, z, n stacked.
    b_ih : (3H,) array
        Input bias.
    b_hh : (3H,) array
        Recurrent bias (its n block is scaled by r).

    Returns
    -------
    h : (N, H) array
        h_t.
    cache : GRUStepCache
        For :func:`gru_step_backward`.
    """
    x, h_prev, W_ih, W_hh, b_ih, b_hh = check_recurrent_inputs(
        x, ("N", "D"), [("h_prev", h_prev)], W_ih, W_hh, [("b_ih", b_ih), ("b_hh", b_hh)], gates=3
    )
    W_ir, W_iz, W_in = split_gates(W_ih, num_gates=3)
    b_ir, b_iz, b_in = split_gates(b_ih, num_gates=3)
    x_projections = [x @ W_ir.T + b_ir, x @ W_iz.T + b_iz, x @ W_in.T + b_in]
    return _step_forward(x, x_projections, h_prev, W_ih, W_hh, b_hh)


def _step_backward(dh, cache):
    """The recurrent half of :func:`gru_step_backward`: (d_from_input, d_from_hidden (N, 3H), dh_prev)."""
    r, z, n = cache.r, cache.z, cache.n
    da_n = dh * (1 - z) * (1 - n * n)
    da_z = dh * (cache.h_prev - n) * z * (1 - z)
    da_r = da_n * cache.hn * r * (1 - r)
    d_from_input = np.concatenate([da_r, da_z, da_n], axis=1)
    d_from_hidden = np.concatenate([da_r, da_z, da_n * r], axis=1)
    return d_from_input, d_from_hidden, dh * z + d_from_hidden @ cache.W_hh


def gru_step_backward(dh, cache):
    """Backward pass of one GRU step.

    With dh = dL/dh_t:

        da_n = dh ⊙ (1 − z) ⊙ (1 − n²)              (a_n = i_n + r ⊙ h_n)
        da_z = dh ⊙ (h_{t−1} − n) ⊙ z(1 − z)
        da_r = da_n ⊙ h_n ⊙ r(1 − r)
        d_from_input  = [da_r, da_z, da_n]          (N, 3H), gradient of W_ih x + b_ih
        d_from_hidden = [da_r, da_z, da_n ⊙ r]      (N, 3H), gradient of W_hh h + b_hh
        dx = d_from_input W_ih,   dh_prev = dh ⊙ z + d_from_hidden W_hh
        dW_ih = d_from_inputᵀ x,  dW_hh = d_from_hiddenᵀ h_{t−1},
        db_ih = Σ_n d_from_input, db_hh = Σ_n d_from_hidden

    Parameters
    ----------
    dh : (N, H) array
        dL/dh_t.
    cache : GRUStepCache
        From :func:`gru_step_forward`.

    Returns
    -------
    dx : (N, D) array
    dh_prev : (N, H) array
    dW_ih : (3H, D) array
    dW_hh : (3H, H) array
    db_ih : (3H,) array
    db_hh : (3H,) array
        The gradients of the loss with respect to ``x, h_prev, W_ih, W_hh, b_ih, b_hh``.
    """
    check_cache("cache", cache, GRUStepCache, "gru_step_forward")
    dh = check_array("dh", dh, cache.h.dtype, ("N", "H"), cache.h.shape)
    d_from_input, d_from_hidden, dh_prev = _step_backward(dh, cache)
    dx = d_from_input @ cache.W_ih
    dW_ih = d_from_input.T @ cache.x
    dW_hh = d_from_hidden.T @ cache.h_prev
    return dx, dh_prev, dW_ih, dW_hh, d_from_input.sum(axis=0), d_from_hidden.sum(axis=0)


def gru_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    """The GRU over a whole sequence: the step of :func:`gru_step_forward` for t = 1..T.

    The input projections W_i· x_t + b_i· do not depend on the recurrence, so
    they are computed for all T steps at once before the loop, one
    (T·N, D) @ (D, H) product per gate; each step then adds its recurrent terms.

    Parameters
    ----------
    x : (T, N, D) array
        The input sequences, time-major.
    h0 : (N, H) array
        The initial hidden states.
    W_ih : (3H, D) array
    W_hh : (3H, H) array
    b_ih : (3H,) array
    b_hh : (3H,) array

    Returns
    -------
    hs : (T, N, H) array
        The hidden states h_1 .. h_T.
    cache : GRUCache
        For :func:`gru_backward`.
    """
    x, h0, W_ih, W_hh, b_ih, b_hh = check_recurrent_inputs(
        x, ("T", "N", "D"), [("h0", h0)], W_ih, W_hh, [("b_ih", b_ih), ("b_hh", b_hh)], gates=3
    )
    T, N, D = x.shape
    H = h0.shape[1]
    # W_i· x_t + b_i· of each gate for all T steps at once: three (T·N, D) @ (D, H) products.
    x_projections = [
        (x.reshape(T * N, D) @ W_x.T + b_gate).reshape(T, N, H)
        for W_x, b_gate in zip(split_gates(W_ih, num_gates=3), split_gates(b_ih, num_gates=3))
    ]
    h, hs, steps = h0, [], []
    for t in range(T):
        h, step = _step_forward(x[t], [x_gate[t] for x_gate in x_projections], h, W_ih, W_hh, b_hh)
        hs.append(h)
        steps.append(step)
    return np.stack(hs), GRUCache(tuple(steps))


def gru_backward(dhs, cache):
    """Backpropagation through time for :func:`gru_forward`.

    From t = T down to 1, the step backward of :func:`gru_step_backward` with
    dh = dhs_t + dh_next, where dh_next is the dh_prev of step t + 1 (0 at t = T):

        da_n = dh ⊙ (1 − z_t) ⊙ (1 − n_t²),  da_z = dh ⊙ (h_{t−1} − n_t) ⊙ z_t(1 − z_t),
        da_r = da_n ⊙ h_n,t ⊙ r_t(1 − r_t),
        dh_next ← dh ⊙ z_t + [da_r, da_z, da_n ⊙ r_t] W_hh

    The gradients of x, of the weights and of the biases are sums over t of
    products with [da_r, da_z, da_n] (through W_ih) and [da_r, da_z, da_n ⊙ r_t]
    (through W_hh), so the loop keeps both for every t and they are computed
    after it, each as one product over all steps.

    Parameters
    ----------
    dhs : (T, N, H) array
        dL/dh_t for every t (zeros where the loss does not read h_t).
    cache : GRUCache
        From :func:`gru_forward`.

    Returns
    -------
    dx : (T, N, D) array
    dh0 : (N, H) array
    dW_ih : (3H, D) array
    dW_hh : (3H, H) array
    db_ih : (3H,) array
    db_hh : (3H,) array
        The gradients of the loss with respect to ``x, h0, W_ih, W_hh, b_ih, b_hh``.
    """
    check_cache("cache", cache, GRUCache, "gru_forward")
    steps = cache.steps
    T, (N, H), dtype = len(steps), steps[0].h.shape, steps[0].h.dtype
    dhs = check_array("dhs", dhs, dtype, ("T", "N", "H"), (T, N, H))
    dh_next = np.zeros((N, H), dtype=dtype)
    d_from_inputs, d_from_hiddens = [None] * T, [None] * T
    for t in reversed(range(T)):
        d_from_inputs[t], d_from_hiddens[t], dh_next = _step_backward(dhs[t] + dh_next, steps[t])
    # The rows of all steps stacked, T·N rows each.
    d_from_input = np.concatenate(d_from_inputs)
    d_from_hidden = np.concatenate(d_from_hiddens)
    xs = np.concatenate([step.x for step in steps])
    h_prevs = np.concatenate([step.h_prev for step in steps])
    dx = (d_from_input @ steps[0].W_ih).reshape(T, N, -1)
    dW_ih = d_from_input.T @ xs
    dW_hh = d_from_hidden.T @ h_prevs
    db_ih, db_hh = d_from_input.sum(axis=0), d_from_hidden.sum(axis=0)
    dh0 = dh_next  # what step 1 sends back
    return dx, dh0, dW_ih, dW_hh, db_ih, db_hh
