"""The plain (Elman) recurrent network with a tanh nonlinearity, forward and backward.

One step maps the input x_t and the previous hidden state h_{t-1} to

    a_t = W_ih x_t + W_hh h_{t-1} + b
    h_t = tanh(a_t)

with ``W_ih`` of shape (H, D), ``W_hh`` of shape (H, H) and ``b`` of shape (H,):
PyTorch's ``nn.RNN`` layout, with its two biases folded into ``b = b_ih + b_hh``.
In code a batch of N row vectors is multiplied as ``x @ W_ih.T``. Sequences are
time-major: ``x`` is (T, N, D), the hidden states ``hs`` are (T, N, H).

The step backward applies the chain rule to one step; the sequence backward is
backpropagation through time (BPTT):

    da_t     = (dL/dh_t) ⊙ (1 − h_t²)
    dL/dx_t  = da_t W_ih            dW_ih = Σ_t da_tᵀ x_t
    dL/dh_{t−1} (from step t) = da_t W_hh      dW_hh = Σ_t da_tᵀ h_{t−1}
    db = Σ_t Σ_n da_t

where dL/dh_t sums the loss's own gradient at h_t and what step t+1 sends back.

Every function validates its arguments (see ``lstm_ref._checks``), computes in
the dtype of ``x`` (float32 or float64) and never writes to an array it is given.
"""

from typing import NamedTuple

import numpy as np

from lstm_ref._checks import check_arrays, check_cache, check_recurrent_inputs


class RNNStepCache(NamedTuple):
    """What :func:`rnn_step_backward` needs from :func:`rnn_step_forward`."""

    x: np.ndarray  # (N, D) the input x_t
    h_prev: np.ndarray  # (N, H) the previous hidden state h_{t-1}
    W_ih: np.ndarray  # (H, D)
    W_hh: np.ndarray  # (H, H)
    h: np.ndarray  # (N, H) the new hidden state h_t = tanh(a_t)


class RNNCache(NamedTuple):
    """What :func:`rnn_backward` needs from :func:`rnn_forward`.

    Its own memory is O(T·N·H): the hidden states; ``x``, ``h0`` and the weights
    are the caller's arrays, held by reference (never copied, never written).
    """

    x: np.ndarray  # (T, N, D) the inputs x_1 .. x_T
    h0: np.ndarray  # (N, H) the initial hidden state
    W_ih: np.ndarray  # (H, D)
    W_hh: np.ndarray  # (H, H)
    hs: np.ndarray  # (T, N, H) the hidden states h_1 .. h_T (the same array rnn_forward returns)


def rnn_step_forward(x, h_prev, W_ih, W_hh, b):
    """One step of the tanh RNN: h_t = tanh(W_ih x_t + W_hh h_{t−1} + b).

    Parameters
    ----------
    x : (N, D) array
        The inputs x_t of a batch of N sequences at one time step.
    h_prev : (N, H) array
        The previous hidden states h_{t−1}.
    W_ih : (H, D) array
        Input-to-hidden weights.
    W_hh : (H, H) array
        Hidden-to-hidden (recurrent) weights.
    b : (H,) array
        Bias (PyTorch's ``b_ih + b_hh``).

    Returns
    -------
    h : (N, H) array
        The new hidden states h_t.
    cache : RNNStepCache
        For :func:`rnn_step_backward`.
    """
    x, h_prev, W_ih, W_hh, b = check_recurrent_inputs(
        "x", x, ("N", "D"), [("h_prev", h_prev)], W_ih, W_hh, [("b", b)], "H"
    )
    h = np.tanh(x @ W_ih.T + h_prev @ W_hh.T + b)
    return h, RNNStepCache(x, h_prev, W_ih, W_hh, h)


def rnn_step_backward(dh, cache):
    """Backward pass of one RNN step, from dL/dh_t to the gradients of every input.

        da = dh ⊙ (1 − h_t²)
        dx = da W_ih,   dh_prev = da W_hh,   dW_ih = daᵀ x,   dW_hh = daᵀ h_{t−1},   db = Σ_n da

    Parameters
    ----------
    dh : (N, H) array
        dL/dh_t, the gradient of the loss with respect to the step's output.
    cache : RNNStepCache
        From :func:`rnn_step_forward`.

    Returns
    -------
    dx : (N, D) array
    dh_prev : (N, H) array
    dW_ih : (H, D) array
    dW_hh : (H, H) array
    db : (H,) array
        The gradients of the loss with respect to ``x, h_prev, W_ih, W_hh, b``.
    """
    check_cache("cache", cache, RNNStepCache, "rnn_step_forward")
    N, H = cache.h.shape
    (dh,), _ = check_arrays([("dh", dh, ("N", "H"))], cache.h.dtype, {"N": N, "H": H})
    da = dh * (1 - cache.h * cache.h)
    dx = da @ cache.W_ih
    dh_prev = da @ cache.W_hh
    dW_ih = da.T @ cache.x
    dW_hh = da.T @ cache.h_prev
    db = da.sum(axis=0)
    return dx, dh_prev, dW_ih, dW_hh, db


def rnn_forward(x, h0, W_ih, W_hh, b):
    """The tanh RNN over a whole sequence: h_t = tanh(W_ih x_t + W_hh h_{t−1} + b), t = 1..T.

    It computes exactly what T calls of :func:`rnn_step_forward` compute, but
    faster: the input projections W_ih x_t + b of all time steps do not depend
    on the recurrence, so they are one (T·N, D) @ (D, H) product before the
    loop, and only the recurrent product h_{t−1} @ W_hh.T stays inside it.

    Parameters
    ----------
    x : (T, N, D) array
        The input sequences, time-major.
    h0 : (N, H) array
        The initial hidden states.
    W_ih : (H, D) array
    W_hh : (H, H) array
    b : (H,) array

    Returns
    -------
    hs : (T, N, H) array
        The hidden states h_1 .. h_T.
    cache : RNNCache
        For :func:`rnn_backward`; it holds ``hs`` itself (not a copy).
    """
    x, h0, W_ih, W_hh, b = check_recurrent_inputs(
        "x", x, ("T", "N", "D"), [("h0", h0)], W_ih, W_hh, [("b", b)], "H"
    )
    T, N, D = x.shape
    H = W_hh.shape[0]
    # hs first holds the input projections a_t − W_hh h_{t−1}; each step completes
    # its slice and overwrites it with h_t.
    hs = (x.reshape(T * N, D) @ W_ih.T).reshape(T, N, H)
    hs += b
    h = h0
    for t in range(T):
        hs[t] += h @ W_hh.T
        h = np.tanh(hs[t], out=hs[t])
    return hs, RNNCache(x, h0, W_ih, W_hh, hs)


def rnn_backward(dhs, cache):
    """Backpropagation through time for :func:`rnn_forward`.

    Going backwards from t = T, with dh_{T+1→T} = 0:

        da_t = (dhs_t + dh_{t+1→t}) ⊙ (1 − h_t²),   dh_{t→t−1} = da_t W_hh

    then, from all the da_t at once, dx_t = da_t W_ih, dW_ih = Σ_t da_tᵀ x_t,
    dW_hh = Σ_t da_tᵀ h_{t−1}, db = Σ_t Σ_n da_t, and dh0 = dh_{1→0}.

    Parameters
    ----------
    dhs : (T, N, H) array
        dL/dh_t for every t: the gradient of the loss with respect to each
        output hidden state (zeros where the loss does not read h_t).
    cache : RNNCache
        From :func:`rnn_forward`.

    Returns
    -------
    dx : (T, N, D) array
    dh0 : (N, H) array
    dW_ih : (H, D) array
    dW_hh : (H, H) array
    db : (H,) array
        The gradients of the loss with respect to ``x, h0, W_ih, W_hh, b``.
    """
    check_cache("cache", cache, RNNCache, "rnn_forward")
    T, N, H = cache.hs.shape
    D = cache.x.shape[2]
    (dhs,), _ = check_arrays(
        [("dhs", dhs, ("T", "N", "H"))], cache.hs.dtype, {"T": T, "N": N, "H": H}
    )
    # Only the recurrence runs step by step; the weight and input gradients are
    # sums over t of products with da_t, so they are one product each after the loop.
    da = np.empty_like(cache.hs)
    dh_next = np.zeros_like(cache.h0)
    for t in reversed(range(T)):
        np.add(dhs[t], dh_next, out=da[t])
        da[t] *= 1 - cache.hs[t] * cache.hs[t]
        dh_next = da[t] @ cache.W_hh
    da_rows = da.reshape(T * N, H)
    dx = (da_rows @ cache.W_ih).reshape(T, N, D)
    dW_ih = da_rows.T @ cache.x.reshape(T * N, D)
    # h_{t−1} is h0 for t = 1 and hs[t−2] after it.
    dW_hh = da[0].T @ cache.h0 + da_rows[N:].T @ cache.hs[:-1].reshape((T - 1) * N, H)
    db = da_rows.sum(axis=0)
    dh0 = dh_next  # what step 1 sends back
    return dx, dh0, dW_ih, dW_hh, db
