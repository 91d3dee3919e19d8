"""What the chapters measure: one-step Jacobians, and gradient norms along a sequence.

Backpropagation through time multiplies one-step Jacobians: the gradient that
reaches h_{T−k} from a loss on h_T is

    dL/dh_{T−k} = dL/dh_T · J_T J_{T−1} ⋯ J_{T−k+1},     J_t = ∂h_t/∂h_{t−1},

so whether it vanishes or explodes depends on the sizes of the J_t
(Pascanu et al., 2013). This module computes

* the one-step Jacobians of the RNN (:func:`rnn_jacobians`), of the LSTM
  through h and through c (:func:`lstm_jacobians`, :func:`lstm_state_jacobian`,
  :func:`lstm_cell_jacobians`) and of the GRU (:func:`gru_jacobians`),
  from a forward's cache, one (H, H) matrix per batch item and time step;
* the gradient dL/dh_t at every step (:func:`hidden_gradients`), the norm of
  a gradient at each step (:func:`step_norms`), and the ratios
  r_k = ‖dL/dh_{T−k}‖ / ‖dL/dh_T‖ (or of dL/dx) that the chapters and labs
  plot against k (:func:`gradient_ratios`).

Jacobians follow the usual convention J[..., j, k] = ∂(output)_j / ∂(input)_k,
so for a batch of row vectors the chain rule reads dL/dh_{t−1} = dL/dh_t @ J_t.
A step cache gives arrays of shape (N, H, H), a sequence cache (T, N, H, H)
with J[t] for the step from t−1 to t (h_0 is the initial state).
"""

from typing import NamedTuple

import numpy as np

from lstm_ref._checks import as_float_array, check_array, float_dtype
from lstm_ref.gru import GRUCache, GRUStepCache, gru_step_backward
from lstm_ref.lstm import LSTMCache, LSTMStepCache, lstm_step_backward, split_gates
from lstm_ref.rnn import RNNCache, RNNStepCache, rnn_step_backward


class LSTMJacobians(NamedTuple):
    """The four blocks of the Jacobian of one LSTM step (h_{t−1}, c_{t−1}) ↦ (h_t, c_t).

    Each is (N, H, H) for a step cache, (T, N, H, H) for a sequence cache.
    """

    dh_dh: np.ndarray  # ∂h_t/∂h_{t−1}
    dh_dc: np.ndarray  # ∂h_t/∂c_{t−1}
    dc_dh: np.ndarray  # ∂c_t/∂h_{t−1}
    dc_dc: np.ndarray  # ∂c_t/∂c_{t−1} = diag(f_t)


def _check_cache_type(cache, step_type, sequence_type, model):
    if not isinstance(cache, (step_type, sequence_type)):
        raise ValueError(
            f"cache must be the {step_type.__name__} or {sequence_type.__name__} returned by "
            f"{model}_step_forward or {model}_forward, got {type(cache).__name__}"
        )


def _stacked_steps(cache, step_type):
    """A step cache whose arrays carry a leading T axis: the steps of a sequence cache, stacked.

    A step cache is returned as it is. The weights are the same at every step and stay as they are.
    """
    if isinstance(cache, step_type):
        return cache
    first = cache.steps[0]
    return step_type(*(
        value if name.startswith("W_") else np.stack([getattr(step, name) for step in cache.steps])
        for name, value in zip(first._fields, first)
    ))


def _diag(v):
    """A batch of diagonal matrices: (..., H) -> (..., H, H) with v on the diagonal."""
    return v[..., :, None] * np.eye(v.shape[-1], dtype=v.dtype)


def _rows_scaled(v, W):
    """diag(v) W for a batch of vectors v (..., H) and one matrix W (H, K): (..., H, K)."""
    return v[..., :, None] * W


def rnn_jacobians(cache):
    """The one-step Jacobians of the tanh RNN, J_t = ∂h_t/∂h_{t−1} = diag(1 − h_t²) W_hh.

    Parameters
    ----------
    cache : RNNStepCache or RNNCache
        From :func:`lstm_ref.rnn.rnn_step_forward` or :func:`lstm_ref.rnn.rnn_forward`.

    Returns
    -------
    (N, H, H) array for a step cache, (T, N, H, H) for a sequence cache.
    """
    _check_cache_type(cache, RNNStepCache, RNNCache, "rnn")
    step = _stacked_steps(cache, RNNStepCache)
    return _rows_scaled(1 - step.h * step.h, step.W_hh)


def lstm_jacobians(cache):
    """The four blocks of the one-step LSTM Jacobian, ∂(h_t, c_t)/∂(h_{t−1}, c_{t−1}).

    With W_hi, W_hf, W_hg, W_ho the gate blocks of W_hh and u_t = o_t ⊙ (1 − tanh²(c_t)):

        ∂c_t/∂h_{t−1} = diag(c_{t−1} ⊙ f(1−f)) W_hf + diag(g ⊙ i(1−i)) W_hi
                        + diag(i ⊙ (1−g²)) W_hg
        ∂c_t/∂c_{t−1} = diag(f_t)
        ∂h_t/∂h_{t−1} = diag(tanh(c_t) ⊙ o(1−o)) W_ho + diag(u_t) ∂c_t/∂h_{t−1}
        ∂h_t/∂c_{t−1} = diag(u_t ⊙ f_t)

    The gates read h_{t−1} and x_t but not c_{t−1}, so ∂c_t/∂c_{t−1} is exactly
    the direct term diag(f_t): the cell path ("constant error carousel") that
    carries gradients without a squashing derivative or a weight matrix. The
    other ways c_{t−1} reaches c_t run through h_{t−1}; they appear in products
    of the whole state Jacobian (:func:`lstm_state_jacobian`) and in
    :func:`lstm_cell_jacobians`.

    Parameters
    ----------
    cache : LSTMStepCache or LSTMCache
        From :func:`lstm_ref.lstm.lstm_step_forward` or :func:`lstm_ref.lstm.lstm_forward`.

    Returns
    -------
    LSTMJacobians(dh_dh, dh_dc, dc_dh, dc_dc)
        Each (N, H, H) for a step cache, (T, N, H, H) for a sequence cache.
    """
    _check_cache_type(cache, LSTMStepCache, LSTMCache, "lstm")
    step = _stacked_steps(cache, LSTMStepCache)
    i, f, g, o, c_prev, tanh_c = step.i, step.f, step.g, step.o, step.c_prev, step.tanh_c
    W_hi, W_hf, W_hg, W_ho = split_gates(step.W_hh)
    dc_dh = (
        _rows_scaled(c_prev * f * (1 - f), W_hf)
        + _rows_scaled(g * i * (1 - i), W_hi)
        + _rows_scaled(i * (1 - g * g), W_hg)
    )
    u = o * (1 - tanh_c * tanh_c)
    dh_dh = _rows_scaled(tanh_c * o * (1 - o), W_ho) + u[..., :, None] * dc_dh
    return LSTMJacobians(dh_dh, _diag(u * f), dc_dh, _diag(f))


def lstm_state_jacobian(jacobians):
    """The blocks assembled into one matrix per step, for the state s_t = [h_t, c_t] of length 2H:

        ∂s_t/∂s_{t−1} = [[∂h_t/∂h_{t−1}, ∂h_t/∂c_{t−1}],
                         [∂c_t/∂h_{t−1}, ∂c_t/∂c_{t−1}]]

    A product of these over steps is the exact multi-step Jacobian ∂s_t/∂s_{t−k}.

    Parameters
    ----------
    jacobians : LSTMJacobians
        From :func:`lstm_jacobians`, blocks (..., H, H).

    Returns
    -------
    (..., 2H, 2H) array
    """
    top = np.concatenate([jacobians.dh_dh, jacobians.dh_dc], axis=-1)
    bottom = np.concatenate([jacobians.dc_dh, jacobians.dc_dc], axis=-1)
    return np.concatenate([top, bottom], axis=-2)


def lstm_cell_jacobians(cache, direct_only=False):
    """dc_t/dc_{t−1} along a sequence: the direct term diag(f_t), plus the path through h_{t−1}.

    The cell state c_{t−1} reaches c_t directly, through f_t ⊙ c_{t−1}, and
    through the hidden state h_{t−1} = o_{t−1} ⊙ tanh(c_{t−1}) that the gates
    of step t read. Counting both,

        dc_t/dc_{t−1} = diag(f_t) + ∂c_t/∂h_{t−1} · diag(o_{t−1} ⊙ (1 − tanh²(c_{t−1})))

    for t ≥ 2; for t = 1, h_0 is given, not computed from c_0, so only diag(f_1)
    remains. With ``direct_only=True`` the result is diag(f_t) for every t: the
    cell path alone. (For exact products over several steps, use
    :func:`lstm_state_jacobian`, which also follows h_{t−1} back to h_{t−2}.)

    Parameters
    ----------
    cache : LSTMCache
        From :func:`lstm_ref.lstm.lstm_forward`.
    direct_only : bool
        Return only the direct term diag(f_t).

    Returns
    -------
    (T, N, H, H) array
    """
    if not isinstance(cache, LSTMCache):
        raise ValueError(f"cache must be the LSTMCache returned by lstm_forward, got {type(cache).__name__}")
    jacobians = lstm_jacobians(cache)
    if direct_only:
        return jacobians.dc_dc
    step = _stacked_steps(cache, LSTMStepCache)
    # ∂h_{t−1}/∂c_{t−1} = diag(o_{t−1} ⊙ (1 − tanh²(c_{t−1}))), for t = 2..T
    dh_prev_dc_prev = step.o[:-1] * (1 - step.tanh_c[:-1] ** 2)
    through_h = np.zeros_like(jacobians.dc_dc)
    through_h[1:] = jacobians.dc_dh[1:] * dh_prev_dc_prev[..., None, :]
    return jacobians.dc_dc + through_h


def gru_jacobians(cache):
    """The one-step Jacobians of the GRU, J_t = ∂h_t/∂h_{t−1}.

    With W_hr, W_hz, W_hn the blocks of W_hh and h_n = W_hn h_{t−1} + b_hn:

        ∂r/∂h_{t−1} = diag(r(1−r)) W_hr,      ∂z/∂h_{t−1} = diag(z(1−z)) W_hz
        ∂n/∂h_{t−1} = diag(1 − n²) (diag(r) W_hn + diag(h_n) ∂r/∂h_{t−1})
        J_t = diag(z) + diag(h_{t−1} − n) ∂z/∂h_{t−1} + diag(1 − z) ∂n/∂h_{t−1}

    The diag(z) term is the GRU's direct path, the counterpart of the LSTM's diag(f_t).

    Parameters
    ----------
    cache : GRUStepCache or GRUCache
        From :func:`lstm_ref.gru.gru_step_forward` or :func:`lstm_ref.gru.gru_forward`.

    Returns
    -------
    (N, H, H) array for a step cache, (T, N, H, H) for a sequence cache.
    """
    _check_cache_type(cache, GRUStepCache, GRUCache, "gru")
    step = _stacked_steps(cache, GRUStepCache)
    r, z, n, hn, h_prev = step.r, step.z, step.n, step.hn, step.h_prev
    W_hr, W_hz, W_hn = split_gates(step.W_hh, num_gates=3)
    dr = _rows_scaled(r * (1 - r), W_hr)
    dz = _rows_scaled(z * (1 - z), W_hz)
    dn = (1 - n * n)[..., :, None] * (_rows_scaled(r, W_hn) + hn[..., :, None] * dr)
    return _diag(z) + (h_prev - n)[..., :, None] * dz + (1 - z)[..., :, None] * dn


def hidden_gradients(dhs, cache, dcT=None):
    """dL/dh_t at every step: the loss's own gradient at h_t plus everything later steps send back.

        dL/dh_t = dhs_t + (dL/dh_{t+1}) ∂h_{t+1}/∂h_t   (through the cell state too, for the LSTM)

    These are the gradients whose norms vanish or explode with the distance
    from the loss: with a loss on the last step only (``dhs`` zero except
    ``dhs[-1]``), ``step_norms(hidden_gradients(dhs, cache))`` gives
    ‖dL/dh_t‖ for t = 1..T.

    Parameters
    ----------
    dhs : (T, N, H) array
        The loss's gradient with respect to each h_t, as for the backward functions.
    cache : RNNCache, LSTMCache or GRUCache
        From ``rnn_forward``, ``lstm_forward`` or ``gru_forward``.
    dcT : (N, H) array or None
        LSTM only: a gradient arriving at the last cell state, as for ``lstm_backward``.

    Returns
    -------
    (T, N, H) array
        dL/dh_t for t = 1..T.
    """
    if not isinstance(cache, (RNNCache, LSTMCache, GRUCache)):
        raise ValueError(
            "cache must be the RNNCache, LSTMCache or GRUCache returned by rnn_forward, "
            f"lstm_forward or gru_forward, got {type(cache).__name__}"
        )
    if dcT is not None and not isinstance(cache, LSTMCache):
        raise ValueError(f"dcT is a gradient of the LSTM's cell state; a {type(cache).__name__} has none")
    steps = cache.steps
    T, (N, H), dtype = len(steps), steps[0].h_prev.shape, steps[0].h_prev.dtype
    dhs = check_array("dhs", dhs, dtype, ("T", "N", "H"), (T, N, H))
    total = np.empty_like(dhs)
    dh_next = np.zeros((N, H), dtype=dtype)
    dc_next = dh_next if dcT is None else check_array("dcT", dcT, dtype, ("N", "H"), (N, H))
    for t, step_cache in reversed(list(enumerate(steps))):
        total[t] = dhs[t] + dh_next
        if isinstance(cache, LSTMCache):
            _, dh_next, dc_next, *_ = lstm_step_backward(total[t], dc_next, step_cache)
        elif isinstance(cache, GRUCache):
            _, dh_next, *_ = gru_step_backward(total[t], step_cache)
        else:
            _, dh_next, *_ = rnn_step_backward(total[t], step_cache)
    return total


def _check_gradients(gradients):
    """``gradients`` as a float array of shape (T, N, H) or (T, N, D); ValueError otherwise."""
    gradients = as_float_array("gradients", gradients, float_dtype("gradients", gradients))
    if gradients.ndim != 3:
        # No finiteness check: an exploding gradient may well be inf, and that is worth plotting.
        raise ValueError(f"gradients must have shape (T, N, H) or (T, N, D), got {gradients.shape}")
    return gradients


def step_norms(gradients):
    """The Euclidean norm of a gradient at each time step, over the batch and the features.

        norms[t] = ‖G_t‖ = sqrt(Σ_n Σ_j G[t, n, j]²)

    Parameters
    ----------
    gradients : (T, N, H) or (T, N, D) array
        E.g. :func:`hidden_gradients`, or the ``dx`` of a backward function.

    Returns
    -------
    (T,) array
    """
    gradients = _check_gradients(gradients)
    return np.sqrt(np.einsum("tnk,tnk->t", gradients, gradients))


def gradient_ratios(gradients, per_sequence=False):
    """How much of a gradient reaches k steps back: r_k = ‖G_{T−k}‖ / ‖G_T‖ for k = 0..T−1.

    For a loss on the last step, ``gradients`` is dL/dh_t from
    :func:`hidden_gradients` (or dL/dx_t, the ``dx`` of a backward function),
    and r_k is the ratio that the chapters plot on a log axis against k.

    Parameters
    ----------
    gradients : (T, N, H) or (T, N, D) array
        A gradient at every time step.
    per_sequence : bool
        False: one norm per step over the whole batch and every feature
        (:func:`step_norms`), giving one curve. True: one norm per step and
        sequence, over the features only, giving one curve per sequence.

    Returns
    -------
    (T,) array, or (T, N) with ``per_sequence``
        Row k is r_k, k steps back from T: row 0 is 1.
    """
    gradients = _check_gradients(gradients)
    norms = np.linalg.norm(gradients, axis=2) if per_sequence else step_norms(gradients)
    norms = norms[::-1]
    return norms / norms[0]
