"""lstm_ref.slstm, slstm_unstabilised and mlstm against its PyTorch twin, central differences, exact arithmetic and closed forms.

Oracles:
- the twin ``lstm_labs.slstm`` differentiated by autograd (forward and every gradient);
- an independent torch oracle written here from the equations, with the full
  block-diagonal R built by ``torch.block_diag`` and *no* stabiliser, at moderate values;
- central differences (``check_gradients``);
- the unstabilised recurrence in 40-digit decimal arithmetic, whose exponent range
  does not overflow: it predicts h_t where float64 cannot, and which steps overflow;
- closed forms for the mLSTM's matrix memory (orthonormal keys).
Everything runs in float64, built explicitly.
"""

import functools
import math
from decimal import Context, Decimal

import numpy as np
import pytest
import torch

from lstm_ref import mlstm, slstm, slstm_unstabilised
from lstm_ref.gradcheck import check_gradients, rel_error
from lstm_labs import evaluate, train_on_stream
from lstm_labs import slstm as twin

# (T, N, D, H, K): every size 1 once, one head and several.
SHAPES = [(1, 1, 1, 1, 1), (1, 3, 2, 4, 2), (4, 1, 3, 2, 1), (3, 2, 1, 6, 3), (5, 3, 4, 4, 4), (6, 2, 5, 6, 1)]
FORGET_GATES = ["exp", "sigmoid"]

# Both sides are exact float64 computations that differ only in the order of their roundings.
TORCH_TOLERANCE = 1e-10


def random_inputs(T, N, D, H, K, seed, fresh_start=False):
    """x (T, N, D), h0, c0, n0 > 0, m0 (N, H), W (4H, D), R (4H, H/K), b (4H,), float64.

    ``fresh_start`` gives the zero states a sequence starts from.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, N, D))
    if fresh_start:
        states = [np.zeros((N, H)) for _ in range(4)]
    else:
        states = [rng.standard_normal((N, H)), rng.standard_normal((N, H)),
                  rng.uniform(0.5, 2.0, (N, H)), rng.standard_normal((N, H))]
    W = 0.5 * rng.standard_normal((4 * H, D))
    R = 0.5 * rng.standard_normal((4 * H, H // K))
    b = 0.5 * rng.standard_normal(4 * H)
    return [x, *states, W, R, b]


def as_tensors(arrays):
    return [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]


def twin_sequence(x, h0, c0, n0, m0, W, R, b, forget_gate):
    hs, _ = twin.slstm_sequence(x, (h0, c0, n0, m0), W, R, b, forget_gate)
    return hs


# --- forward and gradients against the twin --------------------------------------


@pytest.mark.parametrize("forget_gate", FORGET_GATES)
@pytest.mark.parametrize("T, N, D, H, K", SHAPES)
def test_sequence_matches_the_twin_forward_and_autograd(T, N, D, H, K, forget_gate):
    inputs = random_inputs(T, N, D, H, K, seed=T * 100 + H)
    hs, cs, ns, ms, cache = slstm.slstm_forward(*inputs, forget_gate=forget_gate)
    tensors = as_tensors(inputs)
    hs_ref, (h_T, c_T, n_T, m_T) = twin.slstm_sequence(tensors[0], tuple(tensors[1:5]), *tensors[5:],
                                                       forget_gate=forget_gate)
    assert rel_error(hs, hs_ref.detach().numpy()) < TORCH_TOLERANCE
    for mine, theirs in [(cs[-1], c_T), (ns[-1], n_T), (ms[-1], m_T)]:
        assert rel_error(mine, theirs.detach().numpy()) < TORCH_TOLERANCE
    dhs = np.random.default_rng(1).standard_normal(hs.shape)
    (hs_ref * torch.from_numpy(dhs)).sum().backward()
    names = ["x", "h0", "c0", "n0", "m0", "W", "R", "b"]
    for name, grad, tensor in zip(names, slstm.slstm_backward(dhs, cache), tensors):
        assert rel_error(grad, tensor.grad.numpy()) < TORCH_TOLERANCE, name


@pytest.mark.parametrize("forget_gate", FORGET_GATES)
@pytest.mark.parametrize("T, N, D, H, K", SHAPES[:4])
def test_step_gradients_of_every_output_match_autograd(T, N, D, H, K, forget_gate):
    x, *states, W, R, b = random_inputs(T, N, D, H, K, seed=7 + H)
    inputs = [x[0], *states, W, R, b]
    *outputs, cache = slstm.slstm_step_forward(*inputs, forget_gate=forget_gate)
    upstream = [np.random.default_rng(k).standard_normal(outputs[0].shape) for k in range(4)]
    tensors = as_tensors(inputs)
    outputs_ref = twin.slstm_step(*tensors, forget_gate=forget_gate)
    for mine, theirs in zip(outputs, outputs_ref):
        assert rel_error(mine, theirs.detach().numpy()) < TORCH_TOLERANCE
    sum(torch.sum(out * torch.from_numpy(up)) for out, up in zip(outputs_ref, upstream)).backward()
    names = ["x", "h_prev", "c_prev", "n_prev", "m_prev", "W", "R", "b"]
    for name, grad, tensor in zip(names, slstm.slstm_step_backward(*upstream, cache), tensors):
        assert rel_error(grad, tensor.grad.numpy()) < TORCH_TOLERANCE, name


@pytest.mark.parametrize("forget_gate", FORGET_GATES)
def test_a_fresh_start_matches_the_twin(forget_gate):
    """From zero states, m_1 = ĩ_1 (n_0 = 0): the twin and the reference agree, h_1 = o ⊙ tanh(z̃)."""
    x, *states, W, R, b = random_inputs(5, 3, 2, 4, 2, seed=3, fresh_start=True)
    hs, _, ns, ms, _ = slstm.slstm_forward(x, *states, W, R, b, forget_gate=forget_gate)
    tensors = as_tensors([x, *states, W, R, b])
    hs_ref = twin_sequence(*tensors, forget_gate=forget_gate)
    assert rel_error(hs, hs_ref.detach().numpy()) < TORCH_TOLERANCE
    a_1 = x[0] @ W.T + b  # h_0 = 0: no recurrent term
    i_pre, _, z_pre, o_pre = np.split(a_1, 4, axis=1)
    assert np.array_equal(ms[0], i_pre), "m_1 must be ĩ_1 when n_0 = 0"
    assert np.array_equal(ns[0], np.ones_like(ns[0])), "n_1 = i' = exp(ĩ_1 − m_1) = 1"
    assert rel_error(hs[0], np.tanh(z_pre) / (1 + np.exp(-o_pre))) < 1e-14


# --- an independent oracle: full block-diagonal R, no stabiliser ----------------------


def oracle_sequence(x, h0, c0, n0, m0, W, R, b, forget_gate, num_heads):
    """The sLSTM written from the equations: R as torch.block_diag of its heads, plain exp gates.

    The stored states of the stabilised cell are the plain ones times exp(−m), so the
    plain recurrence starts from c0·exp(m0), n0·exp(m0).
    """
    H = h0.shape[1]
    d = H // num_heads
    gates = []
    for g in range(4):
        heads = [R[g * H + k * d : g * H + (k + 1) * d] for k in range(num_heads)]
        gates.append(torch.block_diag(*heads))
    R_full = torch.cat(gates)  # (4H, H)
    h, c, n = h0, c0 * torch.exp(m0), n0 * torch.exp(m0)
    hs = []
    for x_t in x:
        a = x_t @ W.T + h @ R_full.T + b
        i_pre, f_pre, z_pre, o_pre = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        f = torch.exp(f_pre) if forget_gate == "exp" else torch.sigmoid(f_pre)
        c = f * c + torch.exp(i_pre) * torch.tanh(z_pre)
        n = f * n + torch.exp(i_pre)
        h = torch.sigmoid(o_pre) * c / n
        hs.append(h)
    return torch.stack(hs), R_full


@pytest.mark.parametrize("forget_gate", FORGET_GATES)
@pytest.mark.parametrize("T, N, D, H, K", SHAPES)
def test_the_stabilised_cell_equals_the_plain_equations(T, N, D, H, K, forget_gate):
    inputs = random_inputs(T, N, D, H, K, seed=11 * T + K)
    hs, *_ = slstm.slstm_forward(*inputs, forget_gate=forget_gate)
    hs_oracle, R_full = oracle_sequence(*(torch.from_numpy(a) for a in inputs), forget_gate, K)
    assert rel_error(hs, hs_oracle.numpy()) < 1e-10
    assert np.array_equal(slstm.full_recurrent_matrix(inputs[6]), R_full.numpy())
    hs_plain, _, _ = slstm_unstabilised.slstm_forward_unstabilised(
        inputs[0], inputs[1], inputs[2] * np.exp(inputs[4]), inputs[3] * np.exp(inputs[4]), *inputs[5:],
        forget_gate=forget_gate)
    assert rel_error(hs_plain, hs_oracle.numpy()) < 1e-10


# --- central differences ----------------------------------------------------------

# eps = 1e-5: the step's outputs reach a few units, so the loss carries a rounding
# error near 1e-14, which divided by 2 eps stays near 1e-9, while the truncation
# error of central differences, O(eps²), stays near 1e-10.
FD_EPS = 1e-5
FD_TOLERANCE = 1e-6


@pytest.mark.parametrize("forget_gate", FORGET_GATES)
def test_step_backward_against_central_differences(forget_gate):
    x, *states, W, R, b = random_inputs(1, 3, 4, 6, 2, seed=5)
    forward = functools.partial(slstm.slstm_step_forward, forget_gate=forget_gate)
    table = check_gradients(forward, slstm.slstm_step_backward, [x[0], *states, W, R, b], eps=FD_EPS)
    assert table.max_error < FD_TOLERANCE, table


@pytest.mark.parametrize("forget_gate", FORGET_GATES)
def test_sequence_backward_against_central_differences(forget_gate):
    inputs = random_inputs(5, 2, 3, 4, 2, seed=6)
    forward = functools.partial(slstm.slstm_forward, forget_gate=forget_gate)
    table = check_gradients(forward, slstm.slstm_backward, inputs, eps=FD_EPS)
    assert table.max_error < FD_TOLERANCE, table


def test_a_loss_of_h_alone_does_not_depend_on_m():
    """h does not depend on the stabiliser, so dL/dm_0 = 0 when c0, n0 are rescaled with m0.

    Shift m0 by δ and divide c0, n0 by exp(δ): the plain states, and so every h_t, are
    unchanged. Hence the directional derivative dL/dm0 − dL/dc0 ⊙ c0 − dL/dn0 ⊙ n0 is 0.
    """
    inputs = random_inputs(6, 3, 2, 4, 2, seed=8)
    hs, _, _, _, cache = slstm.slstm_forward(*inputs, forget_gate="exp")
    dhs = np.random.default_rng(0).standard_normal(hs.shape)
    _, _, dc0, dn0, dm0, *_ = slstm.slstm_backward(dhs, cache)
    _, _, c0, n0, *_ = inputs
    directional = dm0 - dc0 * c0 - dn0 * n0
    assert np.abs(directional).max() < 1e-12 * np.abs(dm0).max()


# --- stabilised and unstabilised, against exact arithmetic --------------------------

DECIMAL = Context(prec=40, Emax=10**6, Emin=-(10**6))
FLOAT64_MAX = Decimal(np.finfo(np.float64).max)


def decimal_unstabilised(x, W, R, b, forget_gate):
    """The plain sLSTM (no stabiliser) from zero states, in 40-digit decimal arithmetic.

    Every float64 input is converted exactly; exp never overflows in this exponent
    range. Unit j of gate g reads the d entries of h in its own head k = j // d.
    Returns hs as float64 (T, N, H) and n_t as Decimal, nested lists [t][seq][unit].
    """
    T, N, _ = x.shape
    H, d = W.shape[0] // 4, R.shape[1]
    one, two = Decimal(1), Decimal(2)

    def dec(value):
        return Decimal(float(value))

    def tanh(z):
        e = DECIMAL.exp(two * z)
        return DECIMAL.divide(e - one, e + one)

    def sigmoid(z):
        return DECIMAL.divide(one, one + DECIMAL.exp(-z))

    hs, ns = np.empty((T, N, H)), []
    for s in range(N):
        h, c, n = [Decimal(0)] * H, [Decimal(0)] * H, [Decimal(0)] * H
        for t in range(T):
            a = []
            for row in range(4 * H):
                head = (row % H) // d
                total = dec(b[row]) + sum(dec(W[row, col]) * dec(x[t, s, col]) for col in range(x.shape[2]))
                total += sum(dec(R[row, l]) * h[head * d + l] for l in range(d))
                a.append(DECIMAL.plus(total))
            i = [DECIMAL.exp(a[j]) for j in range(H)]
            f = [DECIMAL.exp(a[H + j]) if forget_gate == "exp" else sigmoid(a[H + j]) for j in range(H)]
            c = [f[j] * c[j] + i[j] * tanh(a[2 * H + j]) for j in range(H)]
            n = [f[j] * n[j] + i[j] for j in range(H)]
            h = [sigmoid(a[3 * H + j]) * DECIMAL.divide(c[j], n[j]) for j in range(H)]
            hs[t, s] = [float(value) for value in h]
            if s == 0:
                ns.append([])
            ns[t].append(n)
    return hs, ns


@pytest.fixture(scope="module")
def overflowing_case():
    """A sequence whose plain states grow like e^{1.5 t}: they pass float64's range near t = 470."""
    rng = np.random.default_rng(0)
    T, N, D, H, K = 600, 2, 2, 2, 2
    x = rng.standard_normal((T, N, D))
    W = 0.2 * rng.standard_normal((4 * H, D))
    R = 0.2 * rng.standard_normal((4 * H, H // K))
    b = 0.2 * rng.standard_normal(4 * H)
    b[H : 2 * H] = 1.5  # f = exp(f̃) ≈ e^{1.5} > 1: the memory (and n) grows at every step
    zeros = np.zeros((N, H))
    hs, _, ns, ms, _ = slstm.slstm_forward(x, zeros, zeros, zeros, zeros, W, R, b, forget_gate="exp")
    hs_plain, _, ns_plain = slstm_unstabilised.slstm_forward_unstabilised(x, zeros, zeros, zeros, W, R, b, forget_gate="exp")
    hs_exact, ns_exact = decimal_unstabilised(x, W, R, b, "exp")
    return dict(hs=hs, ns=ns, ms=ms, hs_plain=hs_plain, ns_plain=ns_plain, hs_exact=hs_exact, ns_exact=ns_exact)


def test_the_stabilised_cell_matches_exact_arithmetic_at_every_step(overflowing_case):
    case = overflowing_case
    assert np.isfinite(case["hs"]).all() and np.isfinite(case["ns"]).all()
    assert rel_error(case["hs"], case["hs_exact"]) < 1e-10


def test_the_unstabilised_cell_overflows_exactly_where_exact_arithmetic_leaves_float64(overflowing_case):
    case = overflowing_case
    # |c_t| ≤ n_t (c/n is a weighted mean of tanh values), so n_t is the largest state:
    # float64 holds a unit's states at step t exactly when its exact n_t is below float64's largest number.
    representable = np.array([[[value < FLOAT64_MAX for value in seq] for seq in step]
                              for step in case["ns_exact"]])  # (T, N, H)
    assert representable[0].all() and not representable[-1].any(), "the case must cross float64's range"
    np.testing.assert_array_equal(np.isfinite(case["ns_plain"]), representable)
    # Past the overflow h is wrong: first c / inf = 0 (silently), then inf / inf = nan.
    overflowed = case["hs_plain"][~representable]
    assert np.all(np.isnan(overflowed) | (overflowed == 0))
    assert np.isnan(overflowed).any() and (overflowed == 0).any()
    # Where the states are finite, h agrees with exact arithmetic, and so with the stabilised cell.
    assert rel_error(case["hs_plain"][representable], case["hs_exact"][representable]) < 1e-10
    assert rel_error(case["hs_plain"][representable], case["hs"][representable]) < 1e-10


def test_the_stabiliser_is_the_log_of_the_scale_removed(overflowing_case):
    """n_t stored = n_t exact · exp(−m_t): check log n_exact = log n_stored + m_t, past the overflow too."""
    case = overflowing_case
    log_exact = np.array([[[float(DECIMAL.ln(v)) for v in seq] for seq in step] for step in case["ns_exact"]])
    assert rel_error(log_exact, np.log(case["ns"]) + case["ms"]) < 1e-10
    assert log_exact.max() > math.log(np.finfo(np.float64).max)


def test_float32_overflows_sooner_and_the_stabiliser_still_holds():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((120, 1, 1)).astype(np.float32)
    W = np.zeros((4, 1), np.float32)
    R = np.zeros((4, 1), np.float32)
    b = np.array([0.0, 1.0, 0.5, 2.0], np.float32)  # f = e per step: n_t = 1 + e + … + e^{t−1}
    zeros = np.zeros((1, 1), np.float32)
    hs, _, ns, _, _ = slstm.slstm_forward(x, zeros, zeros, zeros, zeros, W, R, b, forget_gate="exp")
    _, _, ns_plain = slstm_unstabilised.slstm_forward_unstabilised(x, zeros, zeros, zeros, W, R, b, forget_gate="exp")
    assert hs.dtype == np.float32 and np.isfinite(hs).all() and np.isfinite(ns).all()
    # The exact n_t = (e^t − 1)/(e − 1) passes float32's largest number (3.4e38) at t = 90.
    t_first = next(t for t in range(1, 200) if (math.e**t - 1) / (math.e - 1) > float(np.finfo(np.float32).max))
    assert t_first == 90
    finite = np.isfinite(ns_plain[:, 0, 0])
    assert finite[: t_first - 1].all() and not finite[t_first - 1 :].any()
    # z and o are constant, so h_t = σ(2) tanh(0.5) at every step, exactly in the math.
    expected = np.tanh(0.5) / (1 + np.exp(-2.0))
    assert np.abs(hs.astype(np.float64) - expected).max() < 1e-6


# --- the mLSTM ----------------------------------------------------------------------


def plain_mlstm(q, k, v, i_pre, f_pre, o_pre):
    """The unstabilised mLSTM over T steps from zero states, one sequence at a time, with outer products."""
    T, N, d = q.shape
    hs = np.empty((T, N, d))
    for s in range(N):
        C, n = np.zeros((d, d)), np.zeros(d)
        for t in range(T):
            i, f = math.exp(i_pre[t, s]), 1 / (1 + math.exp(-f_pre[t, s]))
            k_hat = k[t, s] / math.sqrt(d)
            C = f * C + i * np.outer(v[t, s], k_hat)
            n = f * n + i * k_hat
            o = 1 / (1 + np.exp(-o_pre[t, s]))
            hs[t, s] = o * (C @ q[t, s]) / max(abs(n @ q[t, s]), 1.0)
    return hs


@pytest.mark.parametrize("T, N, d", [(1, 1, 1), (6, 3, 4), (4, 2, 2)])
def test_mlstm_matches_the_plain_equations(T, N, d):
    rng = np.random.default_rng(T + d)
    q, k, v, o_pre = (rng.standard_normal((T, N, d)) for _ in range(4))
    i_pre, f_pre = 2 * rng.standard_normal((T, N)), 2 * rng.standard_normal((T, N))
    C, n, m = np.zeros((N, d, d)), np.zeros((N, d)), np.zeros(N)
    hs = []
    for t in range(T):
        h, C, n, m = mlstm.mlstm_step_forward(q[t], k[t], v[t], i_pre[t], f_pre[t], o_pre[t], C, n, m)
        hs.append(h)
    assert rel_error(np.stack(hs), plain_mlstm(q, k, v, i_pre, f_pre, o_pre)) < 1e-12


def test_mlstm_retrieves_stored_values_with_orthonormal_keys():
    """Keys 2e_1, 2e_2 (k/√d = e_1, e_2 for d = 4), f = 1, i = 1, o = 1: C = v_1 e_1ᵀ + v_2 e_2ᵀ."""
    d = 4
    rng = np.random.default_rng(0)
    values = rng.standard_normal((2, d))
    eye = np.eye(d)
    state = (np.zeros((1, d, d)), np.zeros((1, d)), np.zeros(1))
    gates = dict(i_pre=np.zeros(1), f_pre=np.zeros(1), o_pre=np.full((1, d), 40.0))  # σ(40) == 1.0 in float64
    for key, value in zip(2 * eye[:2], values):
        _, *state = mlstm.mlstm_step_forward(eye[:1], key[None], value[None], **gates, C_prev=state[0],
                                             n_prev=state[1], m_prev=state[2], forget_gate="exp")
    C, n, m = state
    queries = np.stack([eye[0], eye[1], eye[2], (eye[0] + eye[1]) / math.sqrt(2)])
    repeat = len(queries)
    read = dict(k=np.zeros((repeat, d)), v=np.zeros((repeat, d)), i_pre=np.zeros(repeat), f_pre=np.zeros(repeat),
                o_pre=np.full((repeat, d), 40.0), C_prev=np.repeat(C, repeat, 0), n_prev=np.repeat(n, repeat, 0),
                m_prev=np.repeat(m, repeat, 0), forget_gate="exp")
    h, *_ = mlstm.mlstm_step_forward(queries, **read)
    assert rel_error(h[0], values[0]) < 1e-15
    assert rel_error(h[1], values[1]) < 1e-15
    assert np.array_equal(h[2], np.zeros(d)), "a query that matches no key reads 0, not 0/0"
    assert rel_error(h[3], values.mean(axis=0)) < 1e-15, "halfway between two keys: the mean of their values"


# --- validation, dtypes, mutation -----------------------------------------------------

N_, D_, H_, K_ = 2, 3, 4, 2


def step_args():
    x, h, c, n, m, W, R, b = random_inputs(1, N_, D_, H_, K_, seed=0)
    return dict(x=x[0], h_prev=h, c_prev=c, n_prev=n, m_prev=m, W=W, R=R, b=b)


@pytest.mark.parametrize("name, shape, message", [
    ("W", (4 * H_ + 1, D_), "W must have shape (4H, D) = (16, 3), got (17, 3)"),
    ("x", (N_, D_ + 1), "x must have shape (N, D) = (2, 3), got (2, 4)"),
    ("R", (4 * H_, 3), "R must have shape (4H, d) with d dividing H = 4 (d = H / number of heads), got (16, 3)"),
    ("R", (4 * H_ + 1, 2), "R must have shape (4H, d), its rows a multiple of 4, got (17, 2)"),
    ("b", (4 * H_ + 4,), "b must have shape (4H,) = (16,), got (20,)"),
    ("h_prev", (N_, H_ + 1), "h_prev must have shape (N, H) = (2, 4), got (2, 5)"),
    ("n_prev", (N_ + 1, H_), "n_prev must have shape (N, H) = (2, 4), got (3, 4)"),
    ("m_prev", (N_, H_ - 1), "m_prev must have shape (N, H) = (2, 4), got (2, 3)"),
])
def test_bad_shapes_name_the_argument(name, shape, message):
    args = step_args()
    args[name] = np.zeros(shape)
    with pytest.raises(ValueError) as error:
        slstm.slstm_step_forward(**args)
    assert str(error.value) == message


def test_other_bad_inputs():
    args = step_args()
    with pytest.raises(ValueError, match="forget_gate must be 'exp' or 'sigmoid', got 'tanh'"):
        slstm.slstm_step_forward(**args, forget_gate="tanh")
    bad = dict(args, W=args["W"].copy())
    bad["W"][1, 2] = np.nan
    with pytest.raises(ValueError, match=r"W must be finite, got nan at index \(1, 2\)"):
        slstm.slstm_step_forward(**bad)
    with pytest.raises(ValueError, match="x must hold float32 or float64 numbers, got dtype int64"):
        slstm.slstm_step_forward(**dict(args, x=np.ones((N_, D_), dtype=np.int64)))
    with pytest.raises(ValueError, match="cache must be the SLSTMStepCache returned by slstm_step_forward"):
        slstm.slstm_step_backward(*[np.zeros((N_, H_))] * 4, cache=(1, 2))
    *_, cache = slstm.slstm_step_forward(**args)
    with pytest.raises(ValueError, match=r"dn must have shape \(N, H\) = \(2, 4\), got \(2, 3\)"):
        slstm.slstm_step_backward(np.zeros((N_, H_)), np.zeros((N_, H_)), np.zeros((N_, H_ - 1)),
                                  np.zeros((N_, H_)), cache)
    with pytest.raises(ValueError, match="num_heads must divide H = 6, got 4"):
        slstm.init_slstm(3, 6, num_heads=4)
    with pytest.raises(ValueError, match=r"C_prev must have shape \(N, d, d\) = \(1, 2, 2\), got \(1, 2, 3\)"):
        mlstm.mlstm_step_forward(np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)), np.zeros(1), np.zeros(1),
                                 np.zeros((1, 2)), np.zeros((1, 2, 3)), np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(ValueError, match=r"i_pre must have shape \(N,\) = \(1,\), got \(1, 1\)"):
        mlstm.mlstm_step_forward(np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)), np.zeros((1, 1)),
                                 np.zeros(1), np.zeros((1, 2)), np.zeros((1, 2, 2)), np.zeros((1, 2)), np.zeros(1))


def test_float32_in_float32_out():
    args = {name: value.astype(np.float32) for name, value in step_args().items()}
    args["W"] = args["W"].astype(np.float64)  # a float64 parameter is converted to x's dtype
    h, c, n, m, cache = slstm.slstm_step_forward(**args)
    assert {a.dtype for a in (h, c, n, m)} == {np.dtype(np.float32)}
    grads = slstm.slstm_step_backward(*[np.ones((N_, H_), np.float32)] * 4, cache)
    assert {g.dtype for g in grads} == {np.dtype(np.float32)}


def test_no_function_writes_to_its_arguments():
    inputs = random_inputs(3, N_, D_, H_, K_, seed=2)
    copies = [a.copy() for a in inputs]
    hs, _, _, _, cache = slstm.slstm_forward(*inputs, forget_gate="exp")
    dhs = np.ones_like(hs)
    dhs_copy = dhs.copy()
    slstm.slstm_backward(dhs, cache)
    slstm_unstabilised.slstm_forward_unstabilised(*inputs[:4], *inputs[5:])
    step_inputs = [inputs[0][0], *inputs[1:]]
    step_copies = [a.copy() for a in step_inputs]
    *outputs, step_cache = slstm.slstm_step_forward(*step_inputs)
    upstream = [np.ones((N_, H_)) for _ in range(4)]
    slstm.slstm_step_backward(*upstream, step_cache)
    slstm.full_recurrent_matrix(inputs[6])
    for original, copy in zip(inputs + step_inputs + [dhs], copies + step_copies + [dhs_copy]):
        assert np.array_equal(original, copy)
    assert all(np.array_equal(u, np.ones((N_, H_))) for u in upstream)
    mlstm_args = [np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2)), np.zeros(1), np.zeros(1), np.zeros((1, 2)),
                  np.ones((1, 2, 2)), np.ones((1, 2)), np.zeros(1)]
    mlstm_copies = [a.copy() for a in mlstm_args]
    mlstm.mlstm_step_forward(*mlstm_args)
    assert all(np.array_equal(a, b) for a, b in zip(mlstm_args, mlstm_copies))


# --- the PyTorch layer and classifier ---------------------------------------------------


def test_layer_conversion_round_trip_and_forward():
    params = slstm.init_slstm(3, 6, num_heads=3, seed=4, forget_bias=2.0)
    assert np.all(params.b[6:12] == 2.0)
    layer = twin.slstm_layer_from_params(params, forget_gate="exp")
    back = twin.params_from_slstm_layer(layer)
    assert all(np.array_equal(a, b) for a, b in zip(params, back))
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    zeros = np.zeros((2, 6))
    hs, *_ = slstm.slstm_forward(x, zeros, zeros, zeros, zeros, *params, forget_gate="exp")
    with torch.no_grad():
        hs_layer, _ = layer(torch.from_numpy(x))
    assert rel_error(hs, hs_layer.numpy()) < TORCH_TOLERANCE


def test_classifier_reads_the_last_step_and_trains_with_the_lab_loop():
    torch.manual_seed(0)
    model = twin.SLSTMClassifier(input_size=3, hidden_size=4, num_heads=2, forget_gate="exp")
    x = torch.randn(7, 5, 3)
    hs, _ = model.recurrent(x)
    torch.testing.assert_close(model(x), hs[-1] @ model.head.weight.T + model.head.bias, rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"x must have shape \(T, N, D\) with D = 3, got \(7, 5, 2\)"):
        model(torch.randn(7, 5, 2))
    # Four Adam steps on one fixed batch lower its loss: gradients flow to every parameter.
    batch = (x, torch.randint(0, 3, (5,)))
    before, _ = evaluate(model, *batch)
    history = train_on_stream(model, lambda: batch, batch, steps=4, lr=0.05, eval_every=4, show_progress=False)
    assert history["heldout_loss"][-1] < before
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_slstm_layer_rejects_bad_sizes():
    with pytest.raises(ValueError, match="num_heads must divide hidden_size = 6, got 4"):
        twin.SLSTMLayer(3, 6, num_heads=4)
    with pytest.raises(ValueError, match="forget_gate must be 'exp' or 'sigmoid', got 'relu'"):
        twin.SLSTMLayer(3, 6, forget_gate="relu")


def test_recall_runner_trains_every_model_on_the_same_batches():
    results = twin.run_slstm_recall(lags=(2,), seeds=(0,), steps=2, batch=8, hidden_size=4, heldout_sequences=16,
                                    eval_every=1, device="cpu", show_progress=False, keep_models=True)
    labels = ["LSTM", twin.slstm_label("sigmoid"), twin.slstm_label("exp")]
    assert [run["model"] for run in results["runs"]] == labels == results["config"]["models"]
    assert sorted(results["models"]) == sorted((label, 2, 0) for label in labels)
    assert results["models"]["sLSTM (f = exp)", 2, 0].recurrent.forget_gate == "exp"
    # The sLSTM with one head has the LSTM's 4H(D + H + 1) weights; nn.LSTM keeps a second bias of 4H.
    H, D, C = 4, 3, 3
    head = H * C + C
    assert results["runs"][1]["parameters"] == 4 * H * (D + H + 1) + head
    assert results["runs"][0]["parameters"] == 4 * H * (D + H + 2) + head
    with pytest.raises(ValueError, match="forget_gates must hold 'exp' or 'sigmoid', got 'tanh'"):
        twin.run_slstm_recall(forget_gates=("tanh",))
