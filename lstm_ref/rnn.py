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
The sequence functions are loops over the step: :func:`rnn_forward` runs the
step's arithmetic once per t and keeps each step's cache, :func:`rnn_backward`
runs the step's backward from t = T down to 1.

Every function validates its arguments (see ``lstm_ref._checks``), computes in
the dtype of ``x`` (float32 or float64) and never writes to an array it is given.
"""

from typing import NamedTuple

import numpy as np

from lstm_ref._checks import check_array, check_cache, check_recurrent_inputs


class RNNStepCache(NamedTuple):
    """What :func:`rnn_step_backward` needs from :func:`rnn_step_forward`."""

    x: np.ndarray  # (N, D) the input x_t
    h_prev: np.ndarray  # (N, H) the previous hidden state h_{t-1}
    W_ih: np.ndarray  # (H, D)
    W_hh: np.ndarray  # (H, H)
    h: np.ndarray  # (N, H) the new hidden state h_t = tanh(a_t)


class RNNCache(NamedTuple):
    """What :func:`rnn_backward` needs from :func:`rnn_forward`: the cache of every step.

    ``steps[t]`` is the :class:`RNNStepCache` of time step t + 1, what
    :func:`rnn_step_forward` returns for it. Their own memory is T·N·H numbers,
    the h_t; ``x_t`` is a view of the caller's ``x``, and ``h0`` and the weights
    are the caller's arrays (never copied, never written).
    """

    steps: tuple  # T RNNStepCache, in time order


def _step_forward(x, x_projection, h_prev, W_ih, W_hh):
    """One step from its input projection W_ih x_t + b (N, H): the arithmetic of :func:`rnn_step_forward`."""
    h = np.tanh(x_projection + h_prev @ W_hh.T)
    return h, RNNStepCache(x, h_prev, W_ih, W_hh, h)


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
        x, ("N", "D"), [("h_prev", h_prev)], W_ih, W_hh, [("b", b)], gates=1
    )
    return _step_forward(x, x @ W_ih.T + b, h_prev, W_ih, W_hh)


def _step_backward(dh, cache):
    """The recurrent half of :func:`rnn_step_backward`: (da (N, H), dh_prev)."""
    da = dh * (1 - cache.h * cache.h)
    return da, da @ cache.W_hh


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
    dh = check_array("dh", dh, cache.h.dtype, ("N", "H"), cache.h.shape)
    da, dh_prev = _step_backward(dh, cache)
    return da @ cache.W_ih, dh_prev, da.T @ cache.x, da.T @ cache.h_prev, da.sum(axis=0)


def rnn_forward(x, h0, W_ih, W_hh, b):
    """The tanh RNN over a whole sequence: the step of :func:`rnn_step_forward` for t = 1..T.

    The input projections W_ih x_t + b do not depend on the recurrence, so they
    are computed for all T steps at once before the loop, as one (T·N, D) @ (D, H)
    product; each step then adds its recurrent term W_hh h_{t−1}.

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
        For :func:`rnn_backward`.
    """
    x, h0, W_ih, W_hh, b = check_recurrent_inputs(
        x, ("T", "N", "D"), [("h0", h0)], W_ih, W_hh, [("b", b)], gates=1
    )
    T, N, D = x.shape
    x_projections = (x.reshape(T * N, D) @ W_ih.T + b).reshape(T, N, -1)  # W_ih x_t + b for every t
    h, hs, steps = h0, [], []
    for t in range(T):
        h, step = _step_forward(x[t], x_projections[t], h, W_ih, W_hh)
        hs.append(h)
        steps.append(step)
    return np.stack(hs), RNNCache(tuple(steps))


def rnn_backward(dhs, cache):
    """Backpropagation through time for :func:`rnn_forward`.

    From t = T down to 1, the step backward of :func:`rnn_step_backward` with
    dh = dhs_t + dh_next, where dh_next is the dh_prev of step t + 1 (0 at t = T):

        da_t = (dhs_t + dh_next) ⊙ (1 − h_t²),   dh_next ← da_t W_hh

    The gradients of x and of the weights are sums over t of products with da_t,

        dx_t = da_t W_ih,   dW_ih = Σ_t da_tᵀ x_t,   dW_hh = Σ_t da_tᵀ h_{t−1},   db = Σ_t Σ_n da_t

    so the loop keeps every da_t and they are computed after it, each as one
    product over all steps. dh0 is what step 1 sends back.

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
    steps = cache.steps
    T, (N, H), dtype = len(steps), steps[0].h.shape, steps[0].h.dtype
    dhs = check_array("dhs", dhs, dtype, ("T", "N", "H"), (T, N, H))
    dh_next = np.zeros((N, H), dtype=dtype)
    das = [None] * T
    for t in reversed(range(T)):
        das[t], dh_next = _step_backward(dhs[t] + dh_next, steps[t])
    # The rows of all steps stacked: da_t, x_t and h_{t−1} for t = 1..T, T·N rows each.
    da = np.concatenate(das)
    xs = np.concatenate([step.x for step in steps])
    h_prevs = np.concatenate([step.h_prev for step in steps])
    dx = (da @ steps[0].W_ih).reshape(T, N, -1)
    dW_ih = da.T @ xs  # Σ_t da_tᵀ x_t
    dW_hh = da.T @ h_prevs  # Σ_t da_tᵀ h_{t−1}
    db = da.sum(axis=0)
    dh0 = dh_next  # what step 1 sends back
    return dx, dh0, dW_ih, dW_hh, db
