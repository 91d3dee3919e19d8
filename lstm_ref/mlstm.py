"""The mLSTM cell of the xLSTM (Beck et al., 2024): one step of its matrix memory, forward only.

:func:`mlstm_step_forward` stores key-value pairs in a matrix memory,
C_t = f C_{t−1} + i v_t k_tᵀ, and reads it with a query,
h_t = o ⊙ C_t q_t / max(|n_tᵀ q_t|, 1); one head, with the stabiliser of the
sLSTM (``lstm_ref.slstm``). Arrays are batches of N sequences as rows. The
function validates its arguments (``lstm_ref._checks``), computes in the dtype
of ``q`` and never writes to an array it is given.
"""

import math

import numpy as np

from lstm_ref._checks import check_array, float_dtype
from lstm_ref.activations import sigmoid
from lstm_ref.slstm import _check_forget_gate, _log_forget


def mlstm_step_forward(q, k, v, i_pre, f_pre, o_pre, C_prev, n_prev, m_prev, forget_gate="sigmoid"):
    """One stabilised mLSTM step, one head: write the pair (k_t, v_t) into C, read it with q_t.

    Unstabilised, with scalar gates i = exp(ĩ), f = σ(f̃) or exp(f̃) per sequence:

        k̂ = k_t / √d
        C_t = f C_{t−1} + i v_t k̂ᵀ          (d × d: the covariance update)
        n_t = f n_{t−1} + i k̂
        h_t = o ⊙ C_t q_t / max(|n_tᵀ q_t|, 1),   o = σ(õ)

    Stabilised as the sLSTM is: m_t = max(log f + m_{t−1}, ĩ), i' = exp(ĩ − m_t),
    f' = exp(log f + m_{t−1} − m_t), and C_t, n_t are stored divided by
    exp(m_t); the bound 1 in the denominator then becomes exp(−m_t):

        h_t = o ⊙ C_t q_t / max(|n_tᵀ q_t|, exp(−m_t))

    which is the same h_t. The key is divided by √d inside the step, as in the
    authors' recurrent step (the paper puts 1/√d into the definition of k).

    Parameters
    ----------
    q, k, v : (N, d) arrays
        Query, key (before the 1/√d) and value of each of N sequences.
    i_pre, f_pre : (N,) arrays
        ĩ and f̃: one input and one forget gate per sequence (scalars per head).
    o_pre : (N, d) array
        õ, the output gate's pre-activation.
    C_prev : (N, d, d) array
        The matrix memory C_{t−1}.
    n_prev : (N, d) array
        The normaliser n_{t−1}.
    m_prev : (N,) array
        The stabiliser m_{t−1}; from a fresh start all of C, n, m are zeros.
    forget_gate : "sigmoid" (the authors' code) or "exp"

    Returns
    -------
    h : (N, d) array
        h_t.
    C : (N, d, d) array
    n : (N, d) array
    m : (N,) array
        C_t, n_t, m_t (stabilised).
    """
    _check_forget_gate(forget_gate)
    dtype = float_dtype("q", q)
    q = check_array("q", q, dtype, ("N", "d"), (None, None))  # q fixes N and d
    N, d = q.shape
    k, v, o_pre, n_prev = (
        check_array(name, value, dtype, ("N", "d"), (N, d))
        for name, value in (("k", k), ("v", v), ("o_pre", o_pre), ("n_prev", n_prev))
    )
    i_pre, f_pre, m_prev = (
        check_array(name, value, dtype, ("N",), (N,))
        for name, value in (("i_pre", i_pre), ("f_pre", f_pre), ("m_prev", m_prev))
    )
    C_prev = check_array("C_prev", C_prev, dtype, ("N", "d", "d"), (N, d, d))
    log_f, _ = _log_forget(f_pre, forget_gate)
    m = np.maximum(log_f + m_prev, i_pre)
    i = np.exp(i_pre - m)[:, None]  # (N, 1), to scale each sequence's vectors
    f = np.exp(log_f + m_prev - m)[:, None]
    k_scaled = k / math.sqrt(d)
    C = f[:, :, None] * C_prev + i[:, :, None] * (v[:, :, None] * k_scaled[:, None, :])  # v k̂ᵀ
    n = f * n_prev + i * k_scaled
    retrieved = np.einsum("nij,nj->ni", C, q)  # C_t q_t
    denominator = np.maximum(np.abs(np.sum(n * q, axis=1)), np.exp(-m))
    h = sigmoid(o_pre) * retrieved / denominator[:, None]
    return h, C, n, m
