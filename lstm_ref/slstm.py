"""The sLSTM cell of the xLSTM (Beck et al., 2024), forward and backward, one step and a sequence.

One step maps x_t and the state (h_{t−1}, c_{t−1}, n_{t−1}, m_{t−1}) to

    a = W x_t + R h_{t−1} + b = [ĩ; f̃; z̃; õ]       pre-activations, gate order i, f, z, o
    z = tanh(z̃),   o = σ(õ)
    i = exp(ĩ),    f = exp(f̃)  or  f = σ(f̃)       exponential input gate; forget gate either
    c_t = f ⊙ c_{t−1} + i ⊙ z                      cell state
    n_t = f ⊙ n_{t−1} + i                          normaliser state
    h_t = o ⊙ c_t / n_t

``exp`` overflows (float64 at exp(709.8), float32 at exp(88.7)), so the cell
keeps a **stabiliser state** m_t and stores c and n divided by exp(m_t):

    m_t = max(log f + m_{t−1}, ĩ)
    i' = exp(ĩ − m_t),   f' = exp(log f + m_{t−1} − m_t)      both in (0, 1]
    c_t = f' ⊙ c_{t−1} + i' ⊙ z,   n_t = f' ⊙ n_{t−1} + i',   h_t = o ⊙ c_t / n_t

The factor exp(−m_t) is common to c_t and n_t, so h_t is the same as without
it; ``lstm_ref.slstm_unstabilised`` computes the version without, which
overflows where this one does not. As in the authors' code, a unit whose
n_{t−1} is 0 (a fresh start from zero states) takes m_t = ĩ, so that i' = 1 and
nothing underflows at the first step.

Parameters are stacked like the LSTM's, gate blocks in the order i, f, z, o:
``W`` (4H, D), ``b`` (4H,), and the recurrent weights in **heads**: the H
units are split into K = H / d heads of d units, and unit j of each gate reads
only the d entries of h_{t−1} in its own head (R is block-diagonal). ``R`` has
shape (4H, d): row g·H + j holds the weights of gate g's unit j on its head's
d inputs. With one head (d = H), ``R`` is (4H, H), exactly an LSTM's W_hh;
:func:`full_recurrent_matrix` expands any R into that (4H, H) block-diagonal
matrix. The number of heads is read from the shapes, K = H / d.

The xLSTM's other cell, the mLSTM, is ``lstm_ref.mlstm``.

Arrays are time-major, x of shape (T, N, D), states (N, H), batches as rows
(``x @ W.T``). Every function validates its arguments (``lstm_ref._checks``),
computes in the dtype of its first input and never writes to an array it is given.
"""

import math
from typing import NamedTuple

import numpy as np

from lstm_ref._checks import check_array, check_cache, check_dtype_argument, check_int, check_number
from lstm_ref._checks import float_dtype
from lstm_ref.activations import sigmoid
from lstm_ref.lstm import split_gates

FORGET_GATES = ("exp", "sigmoid")


class SLSTMParams(NamedTuple):
    """Parameters of the sLSTM, gate blocks stacked in the order i, f, z, o."""

    W: np.ndarray  # (4H, D) input weights
    R: np.ndarray  # (4H, d) recurrent weights, per head: d = H / K
    b: np.ndarray  # (4H,) bias


class SLSTMStepCache(NamedTuple):
    """What :func:`slstm_step_backward` needs from :func:`slstm_step_forward`."""

    x: np.ndarray  # (N, D) the input x_t
    h_prev: np.ndarray  # (N, H) h_{t−1}
    c_prev: np.ndarray  # (N, H) c_{t−1}
    n_prev: np.ndarray  # (N, H) n_{t−1}
    W: np.ndarray  # (4H, D)
    R: np.ndarray  # (4H, d)
    i: np.ndarray  # (N, H) stabilised input gate i' = exp(ĩ − m_t)
    f: np.ndarray  # (N, H) stabilised forget gate f' = exp(log f + m_{t−1} − m_t)
    z: np.ndarray  # (N, H) candidate tanh(z̃)
    o: np.ndarray  # (N, H) output gate σ(õ)
    c: np.ndarray  # (N, H) c_t
    n: np.ndarray  # (N, H) n_t
    h: np.ndarray  # (N, H) h_t
    log_f_slope: np.ndarray  # (N, H) d(log f)/df̃: 1 for exp, σ(−f̃) for sigmoid
    input_wins: np.ndarray  # (N, H) bool: m_t = ĩ (else m_t = log f + m_{t−1})


class SLSTMCache(NamedTuple):
    """What :func:`slstm_backward` needs from :func:`slstm_forward`: one step cache per t."""

    steps: tuple  # T SLSTMStepCache, in time order


def _check_forget_gate(forget_gate):
    if forget_gate not in FORGET_GATES:
        raise ValueError(f"forget_gate must be 'exp' or 'sigmoid', got {forget_gate!r}")


def _check_recurrent_weights(R, dtype):
    """R (4H, d) in ``dtype``, with H and d: R fixes both, and d must divide H."""
    R = check_array("R", R, dtype, ("4H", "d"), (None, None))
    if R.shape[0] % 4:
        raise ValueError(f"R must have shape (4H, d), its rows a multiple of 4, got {R.shape}")
    H, d = R.shape[0] // 4, R.shape[1]
    if H % d:
        raise ValueError(
            f"R must have shape (4H, d) with d dividing H = {H} (d = H / number of heads), got {R.shape}"
        )
    return R, H, d


def _check_slstm_inputs(x, x_symbols, states, W, R, b):
    """Validate x, the states and W, R, b; return them as arrays in x's dtype, in that order."""
    dtype = float_dtype("x", x)
    R, H, _ = _check_recurrent_weights(R, dtype)
    W = check_array("W", W, dtype, ("4H", "D"), (4 * H, None))
    b = check_array("b", b, dtype, ("4H",), (4 * H,))
    x = check_array("x", x, dtype, x_symbols, (None,) * (len(x_symbols) - 1) + (W.shape[1],))
    N = x.shape[-2]
    states = [check_array(name, value, dtype, ("N", "H"), (N, H)) for name, value in states]
    return (x, *states, W, R, b)


def full_recurrent_matrix(R):
    """The block-diagonal (4H, H) matrix that the per-head R of shape (4H, d) stands for.

    Gate g's block rows g·H .. (g+1)·H − 1 hold K = H / d blocks of d × d on their
    diagonal, head k's block being R[g·H + k·d : g·H + (k+1)·d]; everything else
    is 0. So ``h @ full_recurrent_matrix(R).T`` is the recurrent term R h_{t−1}.

    Parameters
    ----------
    R : (4H, d) array, d dividing H

    Returns
    -------
    (4H, H) array
    """
    R, H, d = _check_recurrent_weights(R, float_dtype("R", R))
    full = np.zeros((4 * H, H), dtype=R.dtype)
    for row in range(0, 4 * H, d):
        column = row % H  # the head's first unit
        full[row : row + d, column : column + d] = R[row : row + d]
    return full


def _recurrent_term(h, R):
    """R h_{t−1} for every sequence: (N, H) and (4H, d) give (N, 4H), gate-major.

    Entry (n, g·H + k·d + j) = Σ_l R[g·H + k·d + j, l] · h[n, k·d + l].
    """
    N, H = h.shape
    d = R.shape[1]
    K = H // d
    blocks = R.reshape(4, K, d, d)  # [gate, head, unit, input]
    return np.einsum("gkjl,nkl->ngkj", blocks, h.reshape(N, K, d)).reshape(N, 4 * H)


def _recurrent_backward(da, h, R):
    """Gradients of the recurrent term: (dh_prev (N, H), dR (4H, d)) from da (N, 4H)."""
    N, H = h.shape
    d = R.shape[1]
    K = H // d
    da_blocks = da.reshape(N, 4, K, d)
    dh = np.einsum("ngkj,gkjl->nkl", da_blocks, R.reshape(4, K, d, d)).reshape(N, H)
    dR = np.einsum("ngkj,nkl->gkjl", da_blocks, h.reshape(N, K, d)).reshape(4 * H, d)
    return dh, dR


def _log_forget(f_pre, forget_gate):
    """log f and its slope d(log f)/df̃, for f = exp(f̃) or f = σ(f̃)."""
    if forget_gate == "exp":
        return f_pre, np.ones_like(f_pre)
    # log σ(f̃) = −log(1 + e^{−f̃}) = min(f̃, 0) − log1p(e^{−|f̃|}): no overflow for any f̃.
    log_f = np.minimum(f_pre, 0) - np.log1p(np.exp(-np.abs(f_pre)))
    return log_f, sigmoid(-f_pre)


def slstm_step_forward(x, h_prev, c_prev, n_prev, m_prev, W, R, b, forget_gate="sigmoid"):
    """One stabilised sLSTM step.

        a = W x_t + R h_{t−1} + b = [ĩ; f̃; z̃; õ]
        log f = f̃ (forget_gate="exp")  or  log σ(f̃) (forget_gate="sigmoid")
        m_t = max(log f + m_{t−1}, ĩ)                   (m_t = ĩ where n_{t−1} = 0)
        i' = exp(ĩ − m_t),  f' = exp(log f + m_{t−1} − m_t),  z = tanh(z̃),  o = σ(õ)
        c_t = f' ⊙ c_{t−1} + i' ⊙ z
        n_t = f' ⊙ n_{t−1} + i'
        h_t = o ⊙ c_t / n_t

    Parameters
    ----------
    x : (N, D) array
        The inputs x_t of a batch of N sequences at one step.
    h_prev, c_prev, n_prev, m_prev : (N, H) arrays
        h_{t−1}, c_{t−1}, n_{t−1} (≥ 0 in use) and the stabiliser m_{t−1}.
        From a fresh start: all zeros.
    W : (4H, D) array
        Input weights, gate blocks i, f, z, o stacked.
    R : (4H, d) array
        Recurrent weights per head, d = H / K for K heads (d = H: one head).
    b : (4H,) array
        Bias.
    forget_gate : "sigmoid" (the authors' code) or "exp"

    Returns
    -------
    h, c, n, m : (N, H) arrays
        h_t, c_t, n_t, m_t.
    cache : SLSTMStepCache
        For :func:`slstm_step_backward`.
    """
    _check_forget_gate(forget_gate)
    states = [("h_prev", h_prev), ("c_prev", c_prev), ("n_prev", n_prev), ("m_prev", m_prev)]
    x, h_prev, c_prev, n_prev, m_prev, W, R, b = _check_slstm_inputs(x, ("N", "D"), states, W, R, b)
    a = x @ W.T + _recurrent_term(h_prev, R) + b
    i_pre, f_pre, z_pre, o_pre = split_gates(a, axis=-1)
    log_f, log_f_slope = _log_forget(f_pre, forget_gate)
    input_wins = (n_prev == 0) | (i_pre >= log_f + m_prev)
    m = np.where(input_wins, i_pre, log_f + m_prev)
    i = np.exp(i_pre - m)
    f = np.exp(log_f + m_prev - m)
    z = np.tanh(z_pre)
    o = sigmoid(o_pre)
    c = f * c_prev + i * z
    n = f * n_prev + i
    h = o * c / n
    cache = SLSTMStepCache(x, h_prev, c_prev, n_prev, W, R, i, f, z, o, c, n, h, log_f_slope, input_wins)
    return h, c, n, m, cache


def slstm_step_backward(dh, dc, dn, dm, cache):
    """Backward pass of one stabilised sLSTM step.

    With dh, dc, dn, dm the gradients of the loss with respect to h_t, c_t, n_t,
    m_t from outside the step, and u = ĩ − m_t, v = log f + m_{t−1} − m_t (so
    i' = e^u, f' = e^v):

        dc_t = dc + dh ⊙ o / n_t              (c_t reaches L directly and through h_t)
        dn_t = dn − dh ⊙ h_t / n_t            (h_t = o c_t / n_t)
        dõ = dh ⊙ (c_t / n_t) ⊙ o(1 − o),     dz̃ = dc_t ⊙ i' ⊙ (1 − z²)
        du = (dc_t ⊙ z + dn_t) ⊙ i',          dv = (dc_t ⊙ c_{t−1} + dn_t ⊙ n_{t−1}) ⊙ f'
        dm_t = dm − du − dv                   (m_t enters u and v with a minus sign)
        where m_t = ĩ:          dĩ = du + dm_t,  d log f = dv,          dm_prev = dv
        where m_t = log f + m_{t−1}:  dĩ = du,   d log f = dv + dm_t,   dm_prev = dv + dm_t
        df̃ = d log f ⊙ (1 for exp, σ(−f̃) for sigmoid)
        da = [dĩ, df̃, dz̃, dõ]   (N, 4H)
        dx = da W,  dW = daᵀ x,  db = Σ_n da,  dc_prev = dc_t ⊙ f',  dn_prev = dn_t ⊙ f'
        dh_prev, dR: the per-head transposes of a = R h_{t−1} + …

    For a loss that reads only h (dc = dn = dm = 0 at the last step) the m terms
    cancel in total, because h does not depend on m; they are kept so that the
    gradients of c_t, n_t and m_t themselves are right too.

    Parameters
    ----------
    dh, dc, dn, dm : (N, H) arrays
        dL/dh_t, dL/dc_t, dL/dn_t, dL/dm_t from outside the step (zeros if unused).
    cache : SLSTMStepCache
        From :func:`slstm_step_forward`.

    Returns
    -------
    dx : (N, D) array
    dh_prev, dc_prev, dn_prev, dm_prev : (N, H) arrays
    dW : (4H, D) array
    dR : (4H, d) array
    db : (4H,) array
        The gradients with respect to ``x, h_prev, c_prev, n_prev, m_prev, W, R, b``.
    """
    check_cache("cache", cache, SLSTMStepCache, "slstm_step_forward")
    dh, dc, dn, dm = (
        check_array(name, value, cache.c.dtype, ("N", "H"), cache.c.shape)
        for name, value in (("dh", dh), ("dc", dc), ("dn", dn), ("dm", dm))
    )
    i, f, z, o, c, n = cache.i, cache.f, cache.z, cache.o, cache.c, cache.n
    dc_total = dc + dh * o / n
    dn_total = dn - dh * cache.h / n
    do_pre = dh * (c / n) * o * (1 - o)
    dz_pre = dc_total * i * (1 - z * z)
    du = (dc_total * z + dn_total) * i
    dv = (dc_total * cache.c_prev + dn_total * cache.n_prev) * f
    dm_total = dm - du - dv
    wins = cache.input_wins
    di_pre = du + np.where(wins, dm_total, 0)
    dlog_f = dv + np.where(wins, 0, dm_total)
    dm_prev = dlog_f  # m_{t−1} enters exactly where log f does: in v, and in m_t's second branch
    df_pre = dlog_f * cache.log_f_slope
    da = np.concatenate([di_pre, df_pre, dz_pre, do_pre], axis=1)
    dx = da @ cache.W
    dh_prev, dR = _recurrent_backward(da, cache.h_prev, cache.R)
    dW = da.T @ cache.x
    db = da.sum(axis=0)
    return dx, dh_prev, dc_total * f, dn_total * f, dm_prev, dW, dR, db


def slstm_forward(x, h0, c0, n0, m0, W, R, b, forget_gate="sigmoid"):
    """The stabilised sLSTM over a sequence: :func:`slstm_step_forward` for t = 1..T.

    Parameters
    ----------
    x : (T, N, D) array
        The input sequences, time-major.
    h0, c0, n0, m0 : (N, H) arrays
        The initial states; all zeros for a fresh start.
    W : (4H, D) array
    R : (4H, d) array
    b : (4H,) array
    forget_gate : "sigmoid" or "exp"

    Returns
    -------
    hs, cs, ns, ms : (T, N, H) arrays
        h_t, c_t, n_t, m_t for t = 1..T.
    cache : SLSTMCache
        For :func:`slstm_backward`.
    """
    _check_forget_gate(forget_gate)
    states = [("h0", h0), ("c0", c0), ("n0", n0), ("m0", m0)]
    x, h, c, n, m, W, R, b = _check_slstm_inputs(x, ("T", "N", "D"), states, W, R, b)
    outputs, caches = [], []
    for x_t in x:
        h, c, n, m, cache = slstm_step_forward(x_t, h, c, n, m, W, R, b, forget_gate)
        outputs.append((h, c, n, m))
        caches.append(cache)
    hs, cs, ns, ms = (np.stack(sequence) for sequence in zip(*outputs))
    return hs, cs, ns, ms, SLSTMCache(tuple(caches))


def slstm_backward(dhs, cache):
    """Backpropagation through time for :func:`slstm_forward`.

    From t = T down to 1, :func:`slstm_step_backward` with dh = dhs_t + dh_next
    and dc, dn, dm = what step t + 1 sent back (zeros at t = T); the weight
    gradients are summed over t.

    Parameters
    ----------
    dhs : (T, N, H) array
        dL/dh_t for every t (zeros where the loss does not read h_t).
    cache : SLSTMCache
        From :func:`slstm_forward`.

    Returns
    -------
    dx : (T, N, D) array
    dh0, dc0, dn0, dm0 : (N, H) arrays
    dW : (4H, D) array
    dR : (4H, d) array
    db : (4H,) array
        The gradients with respect to ``x, h0, c0, n0, m0, W, R, b``.
    """
    check_cache("cache", cache, SLSTMCache, "slstm_forward")
    first = cache.steps[0]
    T, (N, H) = len(cache.steps), first.c.shape
    dhs = check_array("dhs", dhs, first.c.dtype, ("T", "N", "H"), (T, N, H))
    dx = np.empty((T, N, first.x.shape[1]), dtype=dhs.dtype)
    dW, dR, db = np.zeros_like(first.W), np.zeros_like(first.R), np.zeros(4 * H, dtype=dhs.dtype)
    dh_next = dc_next = dn_next = dm_next = np.zeros((N, H), dtype=dhs.dtype)
    for t in reversed(range(T)):
        dx[t], dh_next, dc_next, dn_next, dm_next, dW_t, dR_t, db_t = slstm_step_backward(
            dhs[t] + dh_next, dc_next, dn_next, dm_next, cache.steps[t]
        )
        dW, dR, db = dW + dW_t, dR + dR_t, db + db_t
    return dx, dh_next, dc_next, dn_next, dm_next, dW, dR, db


def init_slstm(D, H, num_heads=1, seed=None, forget_bias=None, dtype=np.float64):
    """Random sLSTM parameters, drawn as PyTorch draws an LSTM's: U(−1/√H, 1/√H).

    ``W`` (4H, D), ``R`` (4H, d) with d = H / num_heads, and ``b`` (4H,) are drawn
    from U(−1/√H, 1/√H), the scheme of ``nn.LSTM`` (one bias, not two).
    ``forget_bias`` then sets the forget gate's block b[H:2H]. (The authors'
    code initialises differently: R = 0, and forget biases spread over a range;
    this is the book's simpler choice, the same as its LSTM's.)

    Parameters
    ----------
    D, H : int
        Input and hidden size.
    num_heads : int
        K, a divisor of H.
    seed : int, numpy Generator or None
    forget_bias : float or None
    dtype : float32 or float64

    Returns
    -------
    SLSTMParams(W, R, b)
    """
    D, H = check_int("D", D, minimum=1), check_int("H", H, minimum=1)
    num_heads = check_int("num_heads", num_heads, minimum=1)
    if H % num_heads:
        raise ValueError(f"num_heads must divide H = {H}, got {num_heads}")
    dtype = check_dtype_argument(dtype)
    rng = np.random.default_rng(seed)
    bound = 1 / math.sqrt(H)
    W, R, b = (rng.uniform(-bound, bound, size=shape).astype(dtype)
               for shape in [(4 * H, D), (4 * H, H // num_heads), (4 * H,)])
    if forget_bias is not None:
        b[H : 2 * H] = check_number("forget_bias", forget_bias)
    return SLSTMParams(W, R, b)
