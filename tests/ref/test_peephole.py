"""lstm_ref.peephole against PyTorch autograd, central differences, and the LSTM it extends.

The PyTorch oracle (tests/oracles.py) is written from Gers & Schmidhuber's
equations with torch operations, independently of lstm_ref; autograd
differentiates it. Everything runs in float64.
"""

import numpy as np
import pytest

from lstm_ref import lstm, peephole
from lstm_ref.gradcheck import check_gradients, rel_error
from oracles import SHAPES, TORCH_TOLERANCE, torch_forward_and_gradients, torch_peephole_sequence
from oracles import torch_peephole_step

NAMES = ["dx", "dh", "dc", "dW_ih", "dW_hh", "db", "dp"]


def random_inputs(T, N, D, H, seed):
    """x (T, N, D), h0, c0 (N, H), W_ih (4H, D), W_hh (4H, H), b (4H,), p (3H,), float64."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, N, D))
    h0 = rng.standard_normal((N, H))
    c0 = rng.standard_normal((N, H))
    W_ih = 0.5 * rng.standard_normal((4 * H, D))
    W_hh = 0.5 * rng.standard_normal((4 * H, H))
    b = 0.5 * rng.standard_normal(4 * H)
    p = rng.standard_normal(3 * H)
    return x, h0, c0, W_ih, W_hh, b, p


@pytest.mark.parametrize("T, N, D, H", SHAPES)
def test_step_forward_and_backward_match_torch(T, N, D, H):
    x, h0, c0, W_ih, W_hh, b, p = random_inputs(T, N, D, H, seed=1)
    inputs = (x[0], h0, c0, W_ih, W_hh, b, p)
    h, c, cache = peephole.peephole_step_forward(*inputs)
    rng = np.random.default_rng(2)
    dh, dc = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    grads = peephole.peephole_step_backward(dh, dc, cache)

    (h_ref, c_ref), grads_ref = torch_forward_and_gradients(torch_peephole_step, inputs, [dh, dc])
    assert rel_error(h, h_ref) < TORCH_TOLERANCE
    assert rel_error(c, c_ref) < TORCH_TOLERANCE
    for name, grad, grad_ref in zip(NAMES, grads, grads_ref, strict=True):
        assert grad.shape == grad_ref.shape, name
        assert rel_error(grad, grad_ref) < TORCH_TOLERANCE, name


@pytest.mark.parametrize("with_dcT", [False, True])
@pytest.mark.parametrize("T, N, D, H", SHAPES)
def test_sequence_forward_and_backward_match_torch(T, N, D, H, with_dcT):
    inputs = random_inputs(T, N, D, H, seed=3)
    hs, cs, cache = peephole.peephole_forward(*inputs)
    rng = np.random.default_rng(4)
    dhs = rng.standard_normal((T, N, H))
    dcT = rng.standard_normal((N, H)) if with_dcT else None
    grads = peephole.peephole_backward(dhs, cache, dcT)

    def hs_cs_and_last_c(*tensors):
        hs, cs = torch_peephole_sequence(*tensors)
        return hs, cs, cs[-1]

    (hs_ref, cs_ref, _), grads_ref = torch_forward_and_gradients(hs_cs_and_last_c, inputs, [dhs, None, dcT])
    assert rel_error(hs, hs_ref) < TORCH_TOLERANCE
    assert rel_error(cs, cs_ref) < TORCH_TOLERANCE
    for name, grad, grad_ref in zip(NAMES, grads, grads_ref, strict=True):
        assert grad.shape == grad_ref.shape, name
        assert rel_error(grad, grad_ref) < TORCH_TOLERANCE, name


@pytest.mark.parametrize(
    "forward, backward, sequence",
    [
        (peephole.peephole_step_forward, peephole.peephole_step_backward, False),
        (peephole.peephole_forward, peephole.peephole_backward, True),
    ],
)
def test_gradients_match_central_differences(forward, backward, sequence):
    x, *rest = random_inputs(4, 3, 5, 4, seed=5)
    table = check_gradients(forward, backward, (x if sequence else x[0], *rest))
    # As for the LSTM: central differences in float64 agree to about 1e-8; a wrong formula is far off.
    assert [row.name for row in table] == ["x", "h0" if sequence else "h_prev", "c0" if sequence else "c_prev",
                                           "W_ih", "W_hh", "b", "p"]
    assert table.max_error < 1e-6, table


def test_zero_peepholes_give_the_lstm_exactly():
    x, h0, c0, W_ih, W_hh, b, p = random_inputs(5, 3, 4, 6, seed=6)
    hs, cs, cache = peephole.peephole_forward(x, h0, c0, W_ih, W_hh, b, np.zeros_like(p))
    hs_lstm, cs_lstm, cache_lstm = lstm.lstm_forward(x, h0, c0, W_ih, W_hh, b)
    np.testing.assert_array_equal(hs, hs_lstm)
    np.testing.assert_array_equal(cs, cs_lstm)
    dhs = np.random.default_rng(7).standard_normal(hs.shape)
    *grads, dp = peephole.peephole_backward(dhs, cache, dhs[0])
    for grad, grad_lstm in zip(grads, lstm.lstm_backward(dhs, cache_lstm, dhs[0]), strict=True):
        assert rel_error(grad, grad_lstm) < 1e-13
    assert np.abs(dp).max() > 0  # the peepholes still get a gradient at p = 0


def test_sequence_equals_a_loop_over_the_step():
    T, N, H = 4, 2, 3
    x, h0, c0, W_ih, W_hh, b, p = random_inputs(T, N, 5, H, seed=8)
    hs, cs, cache = peephole.peephole_forward(x, h0, c0, W_ih, W_hh, b, p)
    dhs = np.random.default_rng(9).standard_normal((T, N, H))
    dx, dh0, dc0, dW_ih, dW_hh, db, dp = peephole.peephole_backward(dhs, cache)

    h, c, step_caches = h0, c0, []
    for t in range(T):
        h, c, step_cache = peephole.peephole_step_forward(x[t], h, c, W_ih, W_hh, b, p)
        np.testing.assert_allclose(h, hs[t], rtol=1e-13)
        np.testing.assert_allclose(c, cs[t], rtol=1e-13)
        step_caches.append(step_cache)
    dh_next, dc_next = np.zeros((N, H)), np.zeros((N, H))
    totals = [np.zeros_like(a) for a in (W_ih, W_hh, b, p)]
    for t in reversed(range(T)):
        dx_t, dh_next, dc_next, *step_grads = peephole.peephole_step_backward(
            dhs[t] + dh_next, dc_next, step_caches[t])
        assert rel_error(dx_t, dx[t]) < 1e-12
        totals = [total + grad for total, grad in zip(totals, step_grads)]
    for grad, total in zip([dh0, dc0, dW_ih, dW_hh, db, dp], [dh_next, dc_next, *totals]):
        assert rel_error(grad, total) < 1e-12


def test_the_output_gate_sees_the_new_cell_state():
    """Only p_o non-zero, the output gate's other terms zero: o = σ(p_o ⊙ c_t), not σ(p_o ⊙ c_{t−1})."""
    N, D, H = 2, 3, 4
    x, h0, c0, W_ih, W_hh, b, p = random_inputs(1, N, D, H, seed=10)
    W_ih[3 * H:], W_hh[3 * H:], b[3 * H:] = 0.0, 0.0, 0.0
    p[: 2 * H] = 0.0
    h, c, cache = peephole.peephole_step_forward(x[0], h0, c0, W_ih, W_hh, b, p)
    o = 1 / (1 + np.exp(-p[2 * H:] * c))
    np.testing.assert_allclose(cache.o, o, rtol=1e-13)
    np.testing.assert_allclose(h, o * np.tanh(c), rtol=1e-13)
    assert not np.allclose(cache.o, 1 / (1 + np.exp(-p[2 * H:] * c0)))


@pytest.mark.parametrize("shape, message", [
    ((4 * 5,), r"p must have shape \(3H,\) = \(15,\), got \(20,\)"),
    ((3, 5), r"p must have shape \(3H,\) = \(15,\), got \(3, 5\)"),
])
def test_a_wrong_peephole_shape_is_named(shape, message):
    x, h0, c0, W_ih, W_hh, b, _ = random_inputs(3, 2, 4, 5, seed=11)
    with pytest.raises(ValueError, match=message):
        peephole.peephole_forward(x, h0, c0, W_ih, W_hh, b, np.zeros(shape))
    with pytest.raises(ValueError, match=message):
        peephole.peephole_step_forward(x[0], h0, c0, W_ih, W_hh, b, np.zeros(shape))


def test_bad_caches_and_gradients_are_named():
    x, h0, c0, W_ih, W_hh, b, p = random_inputs(3, 2, 4, 5, seed=12)
    _, _, lstm_cache = lstm.lstm_forward(x, h0, c0, W_ih, W_hh, b)
    with pytest.raises(ValueError, match="cache must be the PeepholeCache returned by peephole_forward"):
        peephole.peephole_backward(np.zeros((3, 2, 5)), lstm_cache)
    _, _, cache = peephole.peephole_forward(x, h0, c0, W_ih, W_hh, b, p)
    with pytest.raises(ValueError, match=r"dhs must have shape \(T, N, H\) = \(3, 2, 5\), got \(2, 2, 5\)"):
        peephole.peephole_backward(np.zeros((2, 2, 5)), cache)
    with pytest.raises(ValueError, match=r"p must be finite"):
        peephole.peephole_forward(x, h0, c0, W_ih, W_hh, b, np.full(15, np.nan))


def test_float32_in_float32_out_and_arguments_unchanged():
    inputs = [a.astype(np.float32) for a in random_inputs(3, 2, 4, 5, seed=13)]
    copies = [a.copy() for a in inputs]
    hs, cs, cache = peephole.peephole_forward(*inputs)
    dhs = np.ones_like(hs)
    grads = peephole.peephole_backward(dhs, cache, dhs[0])
    assert all(a.dtype == np.float32 for a in [hs, cs, *grads])
    for given, copy in zip(inputs, copies):
        np.testing.assert_array_equal(given, copy)
    np.testing.assert_array_equal(dhs, np.ones_like(hs))
