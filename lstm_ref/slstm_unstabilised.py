"""The sLSTM without its stabiliser: the equations as the paper first writes them, for demonstrations.

:func:`slstm_forward_unstabilised` computes the recurrence of ``lstm_ref.slstm``
with exp(ĩ) and the states c_t, n_t as they are, not divided by exp(m_t). The
book runs it beside the stabilised cell to show where exp(ĩ) overflows and the
stabilised cell does not.
"""

import numpy as np

from lstm_ref.activations import sigmoid
from lstm_ref.lstm import split_gates
from lstm_ref.slstm import _check_forget_gate, _check_slstm_inputs, _recurrent_term


def _unstabilised_step(x, h_prev, c_prev, n_prev, W, R, b, forget_gate):
    """One unstabilised step (no validation: its states may be inf or nan)."""
    a = x @ W.T + _recurrent_term(h_prev, R) + b
    i_pre, f_pre, z_pre, o_pre = split_gates(a, axis=-1)
    with np.errstate(over="ignore", invalid="ignore"):
        i = np.exp(i_pre)
        f = np.exp(f_pre) if forget_gate == "exp" else sigmoid(f_pre)
        c = f * c_prev + i * np.tanh(z_pre)
        n = f * n_prev + i
        h = sigmoid(o_pre) * c / n
    return h, c, n


def slstm_forward_unstabilised(x, h0, c0, n0, W, R, b, forget_gate="sigmoid"):
    """The sLSTM over a sequence *without* the stabiliser: for demonstrations only.

    For t = 1..T, the step

        a = W x_t + R h_{t−1} + b = [ĩ; f̃; z̃; õ]
        i = exp(ĩ),  f = exp(f̃) or σ(f̃),  z = tanh(z̃),  o = σ(õ)
        c_t = f ⊙ c_{t−1} + i ⊙ z,   n_t = f ⊙ n_{t−1} + i,   h_t = o ⊙ c_t / n_t

    Mathematically the same h_t as ``lstm_ref.slstm.slstm_forward``;
    numerically, exp(ĩ) overflows to inf once ĩ exceeds about 709.8 (88.7 in
    float32), and then c_t / n_t is inf / inf = nan, which propagates through h
    into every later step (through R h_{t−1}). The overflow is the point of
    this function, so it raises no warning: it returns the inf and nan.

    Parameters
    ----------
    x : (T, N, D) array
    h0, c0, n0 : (N, H) arrays
    W : (4H, D) array
    R : (4H, d) array
    b : (4H,) array
    forget_gate : "sigmoid" or "exp"

    Returns
    -------
    hs, cs, ns : (T, N, H) arrays
        h_t, c_t, n_t for t = 1..T (possibly inf or nan).
    """
    _check_forget_gate(forget_gate)
    states = [("h0", h0), ("c0", c0), ("n0", n0)]
    x, h, c, n, W, R, b = _check_slstm_inputs(x, ("T", "N", "D"), states, W, R, b)
    outputs = []
    for x_t in x:
        h, c, n = _unstabilised_step(x_t, h, c, n, W, R, b, forget_gate)
        outputs.append((h, c, n))
    hs, cs, ns = (np.stack(sequence) for sequence in zip(*outputs))
    return hs, cs, ns
