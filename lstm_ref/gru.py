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

Every function validates its arguments (see ``lstm_ref._checks``), computes in
the dtype of ``x`` (float32 or float64) and never writes to an array it is given.
"""

from typing import NamedTuple

import numpy as np

from lstm_ref._checks import check_arrays, check_cache, check_recurrent_inputs
from lstm_ref.activations import _sigmoid_inplace, sigmoid


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
    """What :func:`gru_backward` needs from :func:`gru_forward`.

    Its own memory is 5·T·N·H numbers (gates 3, hns and hs 1 each); ``x``,
    ``h0`` and the weights are the caller's arrays, held by reference (never
    copied, never written). ``hs`` is the array :func:`gru_forward` returns.
    """

    x: np.ndarray  # (T, N, D) the inputs x_1 .. x_T
    h0: np.ndarray  # (N, H) the initial hidden state
    W_ih: np.ndarray  # (3H, D)
    W_hh: np.ndarray  # (3H, H)
    gates: np.ndarray  # (3, T, N, H) gate-major: r, z, n = gates, each (T, N, H)
    hns: np.ndarray  # (T, N, H) W_hn h_{t−1} + b_hn
    hs: np.ndarray  # (T, N, H) hidden states h_1 .. h_T


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
        "x", x, ("N", "D"), [("h_prev", h_prev)], W_ih, W_hh, [("b_ih", b_ih), ("b_hh", b_hh)], "3H"
    )
    H = h_prev.shape[1]
    from_input = x @ W_ih.T + b_ih
    from_hidden = h_prev @ W_hh.T + b_hh
    r = sigmoid(from_input[:, :H] + from_hidden[:, :H])
    z = sigmoid(from_input[:, H : 2 * H] + from_hidden[:, H : 2 * H])
    hn = from_hidden[:, 2 * H :]
    n = np.tanh(from_input[:, 2 * H :] + r * hn)
    h = (1 - z) * n + z * h_prev
    return h, GRUStepCache(x, h_prev, W_ih, W_hh, r, z, n, hn, h)


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
    N, H = cache.h.shape
    (dh,), _ = check_arrays([("dh", dh, ("N", "H"))], cache.h.dtype, {"N": N, "H": H})
    r, z, n = cache.r, cache.z, cache.n
    da_n = dh * (1 - z) * (1 - n * n)
    da_z = dh * (cache.h_prev - n) * z * (1 - z)
    da_r = da_n * cache.hn * r * (1 - r)
    d_from_input = np.concatenate([da_r, da_z, da_n], axis=1)
    d_from_hidden = np.concatenate([da_r, da_z, da_n * r], axis=1)
    dx = d_from_input @ cache.W_ih
    dh_prev = dh * z + d_from_hidden @ cache.W_hh
    dW_ih = d_from_input.T @ cache.x
    dW_hh = d_from_hidden.T @ cache.h_prev
    db_ih = d_from_input.sum(axis=0)
    db_hh = d_from_hidden.sum(axis=0)
    return dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh


def gru_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    """The GRU over a whole sequence: :func:`gru_step_forward` for t = 1..T.

    It computes what a loop over :func:`gru_step_forward` computes, but it is
    not written as one, for speed, in the same way as
    :func:`lstm_ref.lstm.lstm_forward`: the input projections W_ih x_t + b_ih
    are computed for all time steps before the loop (one product per gate),
    only h_{t−1} W_hhᵀ stays inside it, and the gates are stored gate-major,
    ``gates[k, t]`` being the contiguous (N, H) block of gate k at step t.

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
        For :func:`gru_backward`; it holds ``hs`` itself (not a copy).
    """
    x, h0, W_ih, W_hh, b_ih, b_hh = check_recurrent_inputs(
        "x", x, ("T", "N", "D"), [("h0", h0)], W_ih, W_hh, [("b_ih", b_ih), ("b_hh", b_hh)], "3H"
    )
    T, N, D = x.shape
    H = h0.shape[1]
    gates = np.empty((3, T, N, H), dtype=x.dtype)
    x_rows = x.reshape(T * N, D)
    for gate_rows, W_x, b_gate in zip(gates.reshape(3, T * N, H), W_ih.reshape(3, H, D), b_ih.reshape(3, H)):
        np.matmul(x_rows, W_x.T, out=gate_rows)  # W_ix x_t + b_ix for every t at once
        gate_rows += b_gate
    W_hh_T = W_hh.reshape(3, H, H).transpose(0, 2, 1)  # W_hh_T[k] = W_hkᵀ
    b_hh_blocks = b_hh.reshape(3, 1, H)
    hns = np.empty((T, N, H), dtype=x.dtype)
    hs = np.empty_like(hns)
    from_hidden = np.empty((3, N, H), dtype=x.dtype)
    h = h0
    for t in range(T):
        # gates[:, t] holds W_ix x_t + b_ix; complete it and squash it in place into r, z, n.
        np.matmul(h, W_hh_T, out=from_hidden)
        from_hidden += b_hh_blocks
        rz = gates[:2, t]
        rz += from_hidden[:2]
        r, z = _sigmoid_inplace(rz)
        hns[t] = from_hidden[2]
        n = gates[2, t]
        n += r * hns[t]
        np.tanh(n, out=n)
        # h_t = (1 − z) ⊙ n + z ⊙ h_{t−1} = n + z ⊙ (h_{t−1} − n)
        h_t = hs[t]
        np.subtract(h, n, out=h_t)
        h_t *= z
        h_t += n
        h = h_t
    return hs, GRUCache(x, h0, W_ih, W_hh, gates, hns, hs)


def gru_backward(dhs, cache):
    """Backpropagation through time for :func:`gru_forward`.

    Going backwards from t = T with dh_next = 0, the step of
    :func:`gru_step_backward` with dh = dhs_t + dh_next:

        da_n = dh ⊙ (1 − z_t) ⊙ (1 − n_t²),  da_z = dh ⊙ (h_{t−1} − n_t) ⊙ z_t(1 − z_t),
        da_r = da_n ⊙ h_n,t ⊙ r_t(1 − r_t),
        dh_next = dh ⊙ z_t + [da_r, da_z, da_n ⊙ r_t] W_hh

    and then, from all steps at once, dx_t = [da_r, da_z, da_n] W_ih and the
    weight and bias gradients as sums over t.

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
    T, N, H = cache.hs.shape
    D = cache.x.shape[2]
    (dhs,), _ = check_arrays(
        [("dhs", dhs, ("T", "N", "H"))], cache.hs.dtype, {"T": T, "N": N, "H": H}
    )
    # Only the recurrence runs step by step; the gradients of the two
    # projections are kept for every t (gate-major) and multiplied out after the loop.
    d_from_input = np.empty_like(cache.gates)  # [da_r, da_z, da_n]
    d_from_hidden = np.empty_like(cache.gates)  # [da_r, da_z, da_n ⊙ r]
    dh_parts = np.empty((3, N, H), dtype=dhs.dtype)
    dh_next = np.zeros_like(cache.h0)
    W_hh_blocks = cache.W_hh.reshape(3, H, H)  # W_hh_blocks[k] = W_hk
    for t in reversed(range(T)):
        r, z, n = cache.gates[:, t]
        h_prev = cache.hs[t - 1] if t > 0 else cache.h0
        da_r, da_z, da_n = d_from_input[:, t]
        dh = dhs[t] + dh_next
        np.multiply(dh * (1 - z), 1 - n * n, out=da_n)
        np.multiply(dh * (h_prev - n), z * (1 - z), out=da_z)
        np.multiply(da_n * cache.hns[t], r * (1 - r), out=da_r)
        d_from_hidden[:2, t] = d_from_input[:2, t]
        np.multiply(da_n, r, out=d_from_hidden[2, t])
        np.matmul(d_from_hidden[:, t], W_hh_blocks, out=dh_parts)
        dh_next = dh * z + dh_parts.sum(axis=0)
    x_rows = cache.x.reshape(T * N, D)
    h_prev_rows = np.concatenate([cache.h0[None], cache.hs[:-1]]).reshape(T * N, H)
    dW_ih = np.empty_like(cache.W_ih)
    dW_hh = np.empty_like(cache.W_hh)
    dx_rows = np.zeros((T * N, D), dtype=dhs.dtype)
    input_rows = d_from_input.reshape(3, T * N, H)
    hidden_rows = d_from_hidden.reshape(3, T * N, H)
    for k, W_x in enumerate(cache.W_ih.reshape(3, H, D)):
        np.matmul(input_rows[k].T, x_rows, out=dW_ih[k * H : (k + 1) * H])
        np.matmul(hidden_rows[k].T, h_prev_rows, out=dW_hh[k * H : (k + 1) * H])
        dx_rows += input_rows[k] @ W_x
    db_ih = d_from_input.sum(axis=(1, 2)).reshape(3 * H)
    db_hh = d_from_hidden.sum(axis=(1, 2)).reshape(3 * H)
    dh0 = dh_next  # what step 1 sends back
    return dx_rows.reshape(T, N, D), dh0, dW_ih, dW_hh, db_ih, db_hh
