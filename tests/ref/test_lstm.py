"""lstm_ref.lstm against PyTorch autograd, torch.nn.LSTM and central differences.

The PyTorch oracle (tests/oracles.py) is written from the book's equations with
torch operations, independently of lstm_ref; autograd differentiates it.
Everything runs in float64, built explicitly (no global default dtype).
"""

import warnings

import numpy as np
import pytest
import torch

from lstm_ref import lstm
from lstm_ref.gradcheck import check_gradients, rel_error
from oracles import SHAPES, TORCH_TOLERANCE, torch_forward_and_gradients, torch_lstm_sequence, torch_lstm_step


def random_inputs(T, N, D, H, seed):
    """x (T, N, D), h0, c0 (N, H), W_ih (4H, D), W_hh (4H, H), b (4H,), float64."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, N, D))
    h0 = rng.standard_normal((N, H))
    c0 = rng.standard_normal((N, H))
    W_ih = 0.5 * rng.standard_normal((4 * H, D))
    W_hh = 0.5 * rng.standard_normal((4 * H, H))
    b = 0.5 * rng.standard_normal(4 * H)
    return x, h0, c0, W_ih, W_hh, b


@pytest.mark.parametrize("T, N, D, H", SHAPES)
def test_step_forward_and_backward_match_torch(T, N, D, H):
    x, h0, c0, W_ih, W_hh, b = random_inputs(T, N, D, H, seed=1)
    inputs = (x[0], h0, c0, W_ih, W_hh, b)
    h, c, cache = lstm.lstm_step_forward(*inputs)
    rng = np.random.default_rng(2)
    dh, dc = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    grads = lstm.lstm_step_backward(dh, dc, cache)

    (h_ref, c_ref), grads_ref = torch_forward_and_gradients(torch_lstm_step, inputs, [dh, dc])
    assert rel_error(h, h_ref) < TORCH_TOLERANCE
    assert rel_error(c, c_ref) < TORCH_TOLERANCE
    names = ["dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db"]
    for name, grad, grad_ref in zip(names, grads, grads_ref, strict=True):
        assert grad.shape == grad_ref.shape, name
        assert rel_error(grad, grad_ref) < TORCH_TOLERANCE, name


@pytest.mark.parametrize("with_dcT", [False, True])
@pytest.mark.parametrize("T, N, D, H", SHAPES)
def test_sequence_forward_and_backward_match_torch(T, N, D, H, with_dcT):
    inputs = random_inputs(T, N, D, H, seed=3)
    hs, cs, cache = lstm.lstm_forward(*inputs)
    rng = np.random.default_rng(4)
    dhs = rng.standard_normal((T, N, H))
    dcT = rng.standard_normal((N, H)) if with_dcT else None
    grads = lstm.lstm_backward(dhs, cache, dcT)


    def hs_cs_and_last_c(*tensors):
        hs, cs = torch_lstm_sequence(*tensors)
        return hs, cs, cs[-1]

    # L = Σ hs ⊙ dhs (+ c_T ⊙ dcT): cs enters the loss through c_T only.
    (hs_ref, cs_ref, _), grads_ref = torch_forward_and_gradients(hs_cs_and_last_c, inputs, [dhs, None, dcT])
    assert rel_error(hs, hs_ref) < TORCH_TOLERANCE
    assert rel_error(cs, cs_ref) < TORCH_TOLERANCE
    names = ["dx", "dh0", "dc0", "dW_ih", "dW_hh", "db"]
    for name, grad, grad_ref in zip(names, grads, grads_ref, strict=True):
        assert grad.shape == grad_ref.shape, name
        assert rel_error(grad, grad_ref) < TORCH_TOLERANCE, name


@pytest.mark.parametrize("T, N, D, H", [(1, 1, 1, 1), (5, 3, 4, 6)])
def test_sequence_matches_torch_nn_lstm(T, N, D, H):
    x, h0, c0, W_ih, W_hh, b = random_inputs(T, N, D, H, seed=5)
    layer = torch.nn.LSTM(D, H, dtype=torch.float64)
    with torch.no_grad():
        layer.weight_ih_l0.copy_(torch.from_numpy(W_ih))
        layer.weight_hh_l0.copy_(torch.from_numpy(W_hh))
        layer.bias_ih_l0.copy_(torch.from_numpy(b))
        layer.bias_hh_l0.zero_()
    x_t, h0_t, c0_t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    hs_ref, (hT_ref, cT_ref) = layer(x_t, (h0_t[None], c0_t[None]))
    rng = np.random.default_rng(6)
    dhs, dcT = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))
    loss = (hs_ref * torch.from_numpy(dhs)).sum() + (cT_ref[0] * torch.from_numpy(dcT)).sum()
    loss.backward()

    hs, cs, cache = lstm.lstm_forward(x, h0, c0, W_ih, W_hh, b)
    dx, dh0, dc0, dW_ih, dW_hh, db = lstm.lstm_backward(dhs, cache, dcT)
    assert rel_error(hs, hs_ref.detach().numpy()) < TORCH_TOLERANCE
    assert rel_error(cs[-1], cT_ref[0].detach().numpy()) < TORCH_TOLERANCE
    assert rel_error(dx, x_t.grad.numpy()) < TORCH_TOLERANCE
    assert rel_error(dh0, h0_t.grad.numpy()) < TORCH_TOLERANCE
    assert rel_error(dc0, c0_t.grad.numpy()) < TORCH_TOLERANCE
    assert rel_error(dW_ih, layer.weight_ih_l0.grad.numpy()) < TORCH_TOLERANCE
    assert rel_error(dW_hh, layer.weight_hh_l0.grad.numpy()) < TORCH_TOLERANCE
    # PyTorch's b_ih and b_hh enter the sum b_ih + b_hh, so each gets dL/db.
    assert rel_error(db, layer.bias_ih_l0.grad.numpy()) < TORCH_TOLERANCE
    assert rel_error(db, layer.bias_hh_l0.grad.numpy()) < TORCH_TOLERANCE


@pytest.mark.parametrize("T, N, D, H", [(1, 2, 3, 4), (6, 4, 5, 3)])
def test_sequence_equals_a_loop_over_the_step(T, N, D, H):
    x, h0, c0, W_ih, W_hh, b = random_inputs(T, N, D, H, seed=7)
    hs, cs, cache = lstm.lstm_forward(x, h0, c0, W_ih, W_hh, b)
    rng = np.random.default_rng(8)
    dhs, dcT = rng.standard_normal((T, N, H)), rng.standard_normal((N, H))
    grads = lstm.lstm_backward(dhs, cache, dcT)

    h, c, step_caches, hs_loop, cs_loop = h0, c0, [], [], []
    for t in range(T):
        h, c, step_cache = lstm.lstm_step_forward(x[t], h, c, W_ih, W_hh, b)
        hs_loop.append(h)
        cs_loop.append(c)
        step_caches.append(step_cache)
    dx = np.zeros_like(x)
    dW_ih, dW_hh, db = np.zeros_like(W_ih), np.zeros_like(W_hh), np.zeros_like(b)
    dh_next, dc_next = np.zeros((N, H)), dcT
    for t in reversed(range(T)):
        dx[t], dh_next, dc_next, dW_ih_t, dW_hh_t, db_t = lstm.lstm_step_backward(
            dhs[t] + dh_next, dc_next, step_caches[t]
        )
        dW_ih, dW_hh, db = dW_ih + dW_ih_t, dW_hh + dW_hh_t, db + db_t

    # The same arithmetic up to the order of additions: equal to rounding.
    assert rel_error(hs, np.stack(hs_loop)) < 1e-12
    assert rel_error(cs, np.stack(cs_loop)) < 1e-12
    for name, grad, grad_loop in zip(
        ["dx", "dh0", "dc0", "dW_ih", "dW_hh", "db"],
        grads,
        [dx, dh_next, dc_next, dW_ih, dW_hh, db],
        strict=True,
    ):
        assert rel_error(grad, grad_loop) < 1e-12, name


@pytest.mark.parametrize(
    "forward, backward, sequence",
    [
        (lstm.lstm_step_forward, lstm.lstm_step_backward, False),
        (lstm.lstm_forward, lstm.lstm_backward, True),
    ],
)
def test_gradients_match_central_differences(forward, backward, sequence):
    x, h0, c0, W_ih, W_hh, b = random_inputs(4, 3, 5, 4, seed=9)
    inputs = (x if sequence else x[0], h0, c0, W_ih, W_hh, b)
    table = check_gradients(forward, backward, inputs)
    # Central differences with eps = 1e-6 in float64 carry an error of about
    # 1e-10 in absolute terms; relative to gradient elements of order 1e-3 and
    # above, that is below 1e-6, and any mistake in a formula is far larger.
    assert len(table) == 6
    assert table.max_error < 1e-6, table


def test_dcT_none_equals_zero():
    inputs = random_inputs(3, 2, 3, 4, seed=10)
    _, _, cache = lstm.lstm_forward(*inputs)
    dhs = np.random.default_rng(11).standard_normal((3, 2, 4))
    without = lstm.lstm_backward(dhs, cache)
    with_zero = lstm.lstm_backward(dhs, cache, np.zeros((2, 4)))
    for grad, grad_zero in zip(without, with_zero, strict=True):
        np.testing.assert_array_equal(grad, grad_zero)


def test_split_gates_gives_the_per_gate_form():
    x, h0, c0, W_ih, W_hh, b = random_inputs(1, 3, 4, 5, seed=12)
    h, c, cache = lstm.lstm_step_forward(x[0], h0, c0, W_ih, W_hh, b)
    W_xi, W_xf, W_xg, W_xo = lstm.split_gates(W_ih)
    W_hi, W_hf, W_hg, W_ho = lstm.split_gates(W_hh)
    b_i, b_f, b_g, b_o = lstm.split_gates(b)
    assert W_xi.shape == (5, 4) and W_hi.shape == (5, 5) and b_i.shape == (5,)

    def sigma(z):
        return 1 / (1 + np.exp(-z))

    i = sigma(x[0] @ W_xi.T + h0 @ W_hi.T + b_i)
    f = sigma(x[0] @ W_xf.T + h0 @ W_hf.T + b_f)
    g = np.tanh(x[0] @ W_xg.T + h0 @ W_hg.T + b_g)
    o = sigma(x[0] @ W_xo.T + h0 @ W_ho.T + b_o)
    np.testing.assert_allclose(cache.i, i, rtol=1e-13)
    np.testing.assert_allclose(cache.f, f, rtol=1e-13)
    np.testing.assert_allclose(cache.g, g, rtol=1e-13)
    np.testing.assert_allclose(cache.o, o, rtol=1e-13)
    np.testing.assert_allclose(c, f * c0 + i * g, rtol=1e-13)
    np.testing.assert_allclose(h, o * np.tanh(f * c0 + i * g), rtol=1e-13)


def test_sequence_cache_holds_the_cache_of_every_step():
    T, N, H = 3, 2, 4
    x, h0, c0, W_ih, W_hh, b = random_inputs(T, N, 3, H, seed=13)
    hs, cs, cache = lstm.lstm_forward(x, h0, c0, W_ih, W_hh, b)
    assert len(cache.steps) == T
    h, c = h0, c0
    for t, step_cache in enumerate(cache.steps):
        h, c, expected = lstm.lstm_step_forward(x[t], h, c, W_ih, W_hh, b)
        assert isinstance(step_cache, lstm.LSTMStepCache)
        for name, ours, theirs in zip(expected._fields, step_cache, expected, strict=True):
            np.testing.assert_allclose(ours, theirs, rtol=1e-13, err_msg=name)
    i, f, g, o = (np.stack([getattr(step, name) for step in cache.steps]) for name in "ifgo")
    np.testing.assert_allclose(cs[1], f[1] * cs[0] + i[1] * g[1], rtol=1e-13)
    np.testing.assert_allclose(hs, o * np.tanh(cs), rtol=1e-13)


def test_split_gates_on_the_last_axis():
    a = np.arange(2 * 3 * 8).reshape(2, 3, 8)
    i, f, g, o = lstm.split_gates(a, axis=-1)
    np.testing.assert_array_equal(g, a[..., 4:6])
    np.testing.assert_array_equal(np.concatenate([i, f, g, o], axis=-1), a)
    assert np.shares_memory(o, a)  # views, no copies


def test_split_gates_cuts_a_gru_array_into_three():
    W_hh = np.arange(3 * 2 * 2).reshape(6, 2)
    W_hr, W_hz, W_hn = lstm.split_gates(W_hh, num_gates=3)
    np.testing.assert_array_equal(W_hz, W_hh[2:4])
    np.testing.assert_array_equal(np.concatenate([W_hr, W_hz, W_hn]), W_hh)
    with pytest.raises(ValueError, match=r"3H axis .* got shape \(8, 2\)"):
        lstm.split_gates(np.zeros((8, 2)), num_gates=3)


@pytest.mark.parametrize("shape, axis", [((41, 3), 0), ((2, 41), -1), ((), 0), ((8, 3), 2)])
def test_split_gates_rejects_an_axis_that_is_not_4H(shape, axis):
    with pytest.raises(ValueError, match=r"4H axis .* got shape"):
        lstm.split_gates(np.zeros(shape), axis=axis)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_saturated_inputs_stay_finite_without_warnings(dtype):
    """Pre-activations of size 1e3 drive every gate to 0 or 1: outputs and gradients stay finite."""
    T, N, D, H = 4, 3, 2, 5
    rng = np.random.default_rng(14)
    x = (1e3 * rng.standard_normal((T, N, D))).astype(dtype)
    h0, c0 = (1e3 * rng.standard_normal((2, N, H))).astype(dtype)
    W_ih, W_hh = (rng.standard_normal((4 * H, k)).astype(dtype) for k in (D, H))
    b = (1e3 * rng.standard_normal(4 * H)).astype(dtype)
    dhs = rng.standard_normal((T, N, H)).astype(dtype)
    # Underflow to zero (e^{-1000}) is the right answer and numpy's default; every
    # other floating-point event, and any warning, is an error here.
    with np.errstate(over="raise", divide="raise", invalid="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        h, c, step_cache = lstm.lstm_step_forward(x[0], h0, c0, W_ih, W_hh, b)
        step_grads = lstm.lstm_step_backward(dhs[0], dhs[1], step_cache)
        hs, cs, cache = lstm.lstm_forward(x, h0, c0, W_ih, W_hh, b)
        grads = lstm.lstm_backward(dhs, cache, dhs[0])
    for array in [h, c, *step_grads, hs, cs, *grads]:
        assert array.dtype == dtype
        assert np.isfinite(array).all()


@pytest.mark.parametrize("T, N, D, H", [(5, 3, 4, 6)])
def test_float32_gives_float32_close_to_float64(T, N, D, H):
    inputs = random_inputs(T, N, D, H, seed=15)
    dhs = np.random.default_rng(16).standard_normal((T, N, H))
    hs64, cs64, cache64 = lstm.lstm_forward(*inputs)
    grads64 = lstm.lstm_backward(dhs, cache64, dhs[0])
    inputs32 = [a.astype(np.float32) for a in inputs]
    hs32, cs32, cache32 = lstm.lstm_forward(*inputs32)
    grads32 = lstm.lstm_backward(dhs.astype(np.float32), cache32, dhs[0].astype(np.float32))
    for result32, result64 in zip([hs32, cs32, *grads32], [hs64, cs64, *grads64], strict=True):
        assert result32.dtype == np.float32
        # float32 keeps about 7 digits; a few dozen operations lose one or two.
        np.testing.assert_allclose(result32, result64, rtol=1e-4, atol=1e-5)
