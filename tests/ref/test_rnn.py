"""lstm_ref.rnn against PyTorch autograd, torch.nn.RNN and central differences.

The PyTorch oracle is written from the book's equation with torch operations,
independently of lstm_ref; autograd differentiates it. Everything runs in
float64, built explicitly (no global default dtype).
"""

import warnings

import numpy as np
import pytest
import torch

from lstm_ref import rnn
from lstm_ref.gradcheck import check_gradients, rel_error
from oracles import SHAPES, TORCH_TOLERANCE, torch_rnn_sequence, torch_rnn_step, torch_forward_and_gradients

def random_inputs(T, N, D, H, seed):
    """x (T, N, D), h0 (N, H), W_ih (H, D), W_hh (H, H), b (H,), float64."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, N, D))
    h0 = rng.standard_normal((N, H))
    W_ih = 0.5 * rng.standard_normal((H, D))
    W_hh = 0.5 * rng.standard_normal((H, H))
    b = 0.5 * rng.standard_normal(H)
    return x, h0, W_ih, W_hh, b


@pytest.mark.parametrize("T, N, D, H", SHAPES)
def test_step_forward_and_backward_match_torch(T, N, D, H):
    x, h0, W_ih, W_hh, b = random_inputs(T, N, D, H, seed=1)
    inputs = (x[0], h0, W_ih, W_hh, b)
    h, cache = rnn.rnn_step_forward(*inputs)
    dh = np.random.default_rng(2).standard_normal((N, H))
    grads = rnn.rnn_step_backward(dh, cache)

    h_ref, grads_ref = torch_forward_and_gradients(torch_rnn_step, inputs, dh)
    assert rel_error(h, h_ref) < TORCH_TOLERANCE
    for name, grad, grad_ref in zip(["dx", "dh_prev", "dW_ih", "dW_hh", "db"], grads, grads_ref, strict=True):
        assert grad.shape == grad_ref.shape, name
        assert rel_error(grad, grad_ref) < TORCH_TOLERANCE, name


@pytest.mark.parametrize("T, N, D, H", SHAPES)
def test_sequence_forward_and_backward_match_torch(T, N, D, H):
    inputs = random_inputs(T, N, D, H, seed=3)
    hs, cache = rnn.rnn_forward(*inputs)
    dhs = np.random.default_rng(4).standard_normal((T, N, H))
    grads = rnn.rnn_backward(dhs, cache)

    hs_ref, grads_ref = torch_forward_and_gradients(torch_rnn_sequence, inputs, dhs)
    assert rel_error(hs, hs_ref) < TORCH_TOLERANCE
    for name, grad, grad_ref in zip(["dx", "dh0", "dW_ih", "dW_hh", "db"], grads, grads_ref, strict=True):
        assert grad.shape == grad_ref.shape, name
        assert rel_error(grad, grad_ref) < TORCH_TOLERANCE, name


@pytest.mark.parametrize("T, N, D, H", [(1, 1, 1, 1), (5, 3, 4, 6)])
def test_sequence_matches_torch_nn_rnn(T, N, D, H):
    x, h0, W_ih, W_hh, b = random_inputs(T, N, D, H, seed=5)
    layer = torch.nn.RNN(D, H, nonlinearity="tanh", dtype=torch.float64)
    with torch.no_grad():
        layer.weight_ih_l0.copy_(torch.from_numpy(W_ih))
        layer.weight_hh_l0.copy_(torch.from_numpy(W_hh))
        layer.bias_ih_l0.copy_(torch.from_numpy(b))
        layer.bias_hh_l0.zero_()
    x_t, h0_t = (torch.tensor(a, requires_grad=True) for a in (x, h0))
    hs_ref, _ = layer(x_t, h0_t[None])
    dhs = np.random.default_rng(6).standard_normal((T, N, H))
    (hs_ref * torch.from_numpy(dhs)).sum().backward()

    hs, cache = rnn.rnn_forward(x, h0, W_ih, W_hh, b)
    dx, dh0, dW_ih, dW_hh, db = rnn.rnn_backward(dhs, cache)
    assert rel_error(hs, hs_ref.detach().numpy()) < TORCH_TOLERANCE
    assert rel_error(dx, x_t.grad.numpy()) < TORCH_TOLERANCE
    assert rel_error(dh0, h0_t.grad.numpy()) < TORCH_TOLERANCE
    assert rel_error(dW_ih, layer.weight_ih_l0.grad.numpy()) < TORCH_TOLERANCE
    assert rel_error(dW_hh, layer.weight_hh_l0.grad.numpy()) < TORCH_TOLERANCE
    assert rel_error(db, layer.bias_ih_l0.grad.numpy()) < TORCH_TOLERANCE
    assert rel_error(db, layer.bias_hh_l0.grad.numpy()) < TORCH_TOLERANCE


@pytest.mark.parametrize("T, N, D, H", [(1, 2, 3, 4), (6, 4, 5, 3)])
def test_sequence_equals_a_loop_over_the_step(T, N, D, H):
    x, h0, W_ih, W_hh, b = random_inputs(T, N, D, H, seed=7)
    hs, cache = rnn.rnn_forward(x, h0, W_ih, W_hh, b)
    dhs = np.random.default_rng(8).standard_normal((T, N, H))
    grads = rnn.rnn_backward(dhs, cache)

    h, step_caches, hs_loop = h0, [], []
    for t in range(T):
        h, step_cache = rnn.rnn_step_forward(x[t], h, W_ih, W_hh, b)
        hs_loop.append(h)
        step_caches.append(step_cache)
    dx = np.zeros_like(x)
    dW_ih, dW_hh, db = np.zeros_like(W_ih), np.zeros_like(W_hh), np.zeros_like(b)
    dh_next = np.zeros((N, H))
    for t in reversed(range(T)):
        dx[t], dh_next, dW_ih_t, dW_hh_t, db_t = rnn.rnn_step_backward(dhs[t] + dh_next, step_caches[t])
        dW_ih, dW_hh, db = dW_ih + dW_ih_t, dW_hh + dW_hh_t, db + db_t

    # The same arithmetic up to the order of additions: equal to rounding.
    assert rel_error(hs, np.stack(hs_loop)) < 1e-12
    for name, grad, grad_loop in zip(
        ["dx", "dh0", "dW_ih", "dW_hh", "db"], grads, [dx, dh_next, dW_ih, dW_hh, db], strict=True
    ):
        assert rel_error(grad, grad_loop) < 1e-12, name


@pytest.mark.parametrize(
    "forward, backward, sequence",
    [(rnn.rnn_step_forward, rnn.rnn_step_backward, False), (rnn.rnn_forward, rnn.rnn_backward, True)],
)
def test_gradients_match_central_differences(forward, backward, sequence):
    x, h0, W_ih, W_hh, b = random_inputs(4, 3, 5, 4, seed=9)
    table = check_gradients(forward, backward, (x if sequence else x[0], h0, W_ih, W_hh, b))
    # Central differences with eps = 1e-6 in float64 carry an error of about
    # 1e-10 in absolute terms; relative to gradient elements of order 1e-3 and
    # above, that is below 1e-6, and any mistake in a formula is far larger.
    assert len(table) == 5
    assert table.max_error < 1e-6, table


def test_saturated_inputs_stay_finite_without_warnings():
    rng = np.random.default_rng(10)
    x, h0, W_ih, W_hh, b = (1e3 * a for a in random_inputs(4, 3, 2, 5, seed=10))
    dhs = rng.standard_normal((4, 3, 5))
    with np.errstate(over="raise", divide="raise", invalid="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        hs, cache = rnn.rnn_forward(x, h0, W_ih, W_hh, b)
        grads = rnn.rnn_backward(dhs, cache)
    assert all(np.isfinite(a).all() for a in [hs, *grads])


def test_float32_gives_float32_close_to_float64():
    inputs = random_inputs(5, 3, 4, 6, seed=11)
    dhs = np.random.default_rng(12).standard_normal((5, 3, 6))
    hs64, cache64 = rnn.rnn_forward(*inputs)
    grads64 = rnn.rnn_backward(dhs, cache64)
    hs32, cache32 = rnn.rnn_forward(*(a.astype(np.float32) for a in inputs))
    grads32 = rnn.rnn_backward(dhs.astype(np.float32), cache32)
    for result32, result64 in zip([hs32, *grads32], [hs64, *grads64], strict=True):
        assert result32.dtype == np.float32
        # float32 keeps about 7 digits; a few dozen operations lose one or two.
        np.testing.assert_allclose(result32, result64, rtol=1e-4, atol=1e-5)
