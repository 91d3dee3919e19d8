"""lstm_ref.diagnostics against torch.autograd.functional.jacobian and autograd's gradients.

The torch step functions (tests/oracles.py) are written from the equations,
independently of lstm_ref, in float64 built explicitly.
"""

import numpy as np
import pytest
import torch
from torch.autograd.functional import jacobian as torch_jacobian

from lstm_ref import diagnostics, gru, lstm, rnn
from lstm_ref.gradcheck import rel_error
from oracles import torch_gru_step, torch_lstm_step, torch_rnn_step

T, N, D, H = 4, 3, 2, 5
TOLERANCE = 1e-10


def rng_arrays(seed, *shapes, scale=1.0):
    rng = np.random.default_rng(seed)
    return [scale * rng.standard_normal(shape) for shape in shapes]


def rnn_case(seed=0):
    x, h0 = rng_arrays(seed, (T, N, D), (N, H))
    W_ih, W_hh, b = rng_arrays(seed + 1, (H, D), (H, H), (H,), scale=0.7)
    return x, h0, W_ih, W_hh, b


def lstm_case(seed=0):
    x, h0, c0 = rng_arrays(seed, (T, N, D), (N, H), (N, H))
    W_ih, W_hh, b = rng_arrays(seed + 1, (4 * H, D), (4 * H, H), (4 * H,), scale=0.7)
    return x, h0, c0, W_ih, W_hh, b


def gru_case(seed=0):
    x, h0 = rng_arrays(seed, (T, N, D), (N, H))
    params = rng_arrays(seed + 1, (3 * H, D), (3 * H, H), (3 * H,), (3 * H,), scale=0.7)
    return x, h0, *params


def jacobian(function, inputs):
    return torch_jacobian(function, inputs, vectorize=True)


def tensors(*arrays):
    return [torch.tensor(a, dtype=torch.float64) for a in arrays]


def per_item(full):
    """The (N, H, H) per-item blocks of a batch Jacobian of shape (N, H, N, H)."""
    return np.stack([full[n, :, n, :] for n in range(full.shape[0])])


def test_rnn_jacobians_match_torch():
    x, h0, W_ih, W_hh, b = rnn_case()
    hs, cache = rnn.rnn_forward(x, h0, W_ih, W_hh, b)
    jacobians = diagnostics.rnn_jacobians(cache)
    assert jacobians.shape == (T, N, H, H)
    h_prevs = [h0, *hs[:-1]]
    for t in range(T):
        x_t, W_ih_t, W_hh_t, b_t = tensors(x[t], W_ih, W_hh, b)
        full = jacobian(lambda h: torch_rnn_step(x_t, h, W_ih_t, W_hh_t, b_t), tensors(h_prevs[t])[0])
        assert rel_error(jacobians[t], per_item(full.numpy())) < TOLERANCE, t
    _, step_cache = rnn.rnn_step_forward(x[0], h0, W_ih, W_hh, b)
    np.testing.assert_allclose(diagnostics.rnn_jacobians(step_cache), jacobians[0], rtol=1e-13, atol=1e-15)


def test_lstm_jacobians_match_torch():
    x, h0, c0, W_ih, W_hh, b = lstm_case()
    hs, cs, cache = lstm.lstm_forward(x, h0, c0, W_ih, W_hh, b)
    blocks = diagnostics.lstm_jacobians(cache)
    assert all(block.shape == (T, N, H, H) for block in blocks)
    h_prevs, c_prevs = [h0, *hs[:-1]], [c0, *cs[:-1]]
    for t in range(T):
        x_t, W_ih_t, W_hh_t, b_t = tensors(x[t], W_ih, W_hh, b)
        (dh_dh, dh_dc), (dc_dh, dc_dc) = jacobian(
            lambda h, c: torch_lstm_step(x_t, h, c, W_ih_t, W_hh_t, b_t), tuple(tensors(h_prevs[t], c_prevs[t]))
        )
        for name, ours, theirs in zip(blocks._fields, blocks, [dh_dh, dh_dc, dc_dh, dc_dc], strict=True):
            assert rel_error(ours[t], per_item(theirs.numpy())) < TOLERANCE, (name, t)
    # ∂c_t/∂c_{t−1} is exactly diag(f_t): the direct term.
    f = np.stack([step.f for step in cache.steps])
    np.testing.assert_array_equal(blocks.dc_dc, f[..., :, None] * np.eye(H))
    _, _, step_cache = lstm.lstm_step_forward(x[0], h0, c0, W_ih, W_hh, b)
    for ours_step, ours_sequence in zip(diagnostics.lstm_jacobians(step_cache), blocks, strict=True):
        np.testing.assert_allclose(ours_step, ours_sequence[0], rtol=1e-13, atol=1e-15)


def test_products_of_lstm_state_jacobians_give_the_multi_step_jacobian():
    x, h0, c0, W_ih, W_hh, b = lstm_case(seed=3)
    _, _, cache = lstm.lstm_forward(x, h0, c0, W_ih, W_hh, b)
    states = diagnostics.lstm_state_jacobian(diagnostics.lstm_jacobians(cache))
    assert states.shape == (T, N, 2 * H, 2 * H)
    product = np.broadcast_to(np.eye(2 * H), (N, 2 * H, 2 * H))
    for t in range(T):
        product = states[t] @ product  # ∂s_t/∂s_0 = J_t ⋯ J_1

    def final_state(h, c):
        for x_t in tensors(*x):
            h, c = torch_lstm_step(x_t, h, c, *tensors(W_ih, W_hh, b))
        return h, c

    (dh_dh, dh_dc), (dc_dh, dc_dc) = jacobian(final_state, tuple(tensors(h0, c0)))
    blocks = [per_item(block.numpy()) for block in (dh_dh, dh_dc, dc_dh, dc_dc)]
    expected = np.concatenate(
        [np.concatenate(blocks[:2], axis=-1), np.concatenate(blocks[2:], axis=-1)], axis=-2
    )
    # A product of T Jacobians: a little more rounding than one of them.
    assert rel_error(product, expected) < 1e-9


def test_lstm_cell_jacobians_count_the_path_through_h():
    x, h0, c0, W_ih, W_hh, b = lstm_case(seed=5)
    hs, cs, cache = lstm.lstm_forward(x, h0, c0, W_ih, W_hh, b)
    total = diagnostics.lstm_cell_jacobians(cache)
    direct = diagnostics.lstm_cell_jacobians(cache, direct_only=True)
    f, o = (np.stack([getattr(step, name) for step in cache.steps]) for name in "fo")
    np.testing.assert_array_equal(direct, f[..., :, None] * np.eye(H))
    np.testing.assert_array_equal(total[0], direct[0])  # h_0 is given, not made from c_0
    for t in range(1, T):
        x_t, W_ih_t, W_hh_t, b_t, o_prev = tensors(x[t], W_ih, W_hh, b, o[t - 1])

        def next_cell(c_prev):
            h_prev = o_prev * torch.tanh(c_prev)  # h_{t−1} made from c_{t−1}, o_{t−1} fixed
            return torch_lstm_step(x_t, h_prev, c_prev, W_ih_t, W_hh_t, b_t)[1]

        full = jacobian(next_cell, tensors(cs[t - 1])[0])
        assert rel_error(total[t], per_item(full.numpy())) < TOLERANCE, t
        assert not np.allclose(total[t], direct[t])


def test_gru_jacobians_match_torch():
    x, h0, *params = gru_case()
    hs, cache = gru.gru_forward(x, h0, *params)
    jacobians = diagnostics.gru_jacobians(cache)
    assert jacobians.shape == (T, N, H, H)
    h_prevs = [h0, *hs[:-1]]
    for t in range(T):
        x_t, *params_t = tensors(x[t], *params)
        full = jacobian(lambda h: torch_gru_step(x_t, h, *params_t), tensors(h_prevs[t])[0])
        assert rel_error(jacobians[t], per_item(full.numpy())) < TOLERANCE, t
    _, step_cache = gru.gru_step_forward(x[0], h0, *params)
    np.testing.assert_allclose(diagnostics.gru_jacobians(step_cache), jacobians[0], rtol=1e-13, atol=1e-15)


def torch_hidden_gradients(step, x, states, params, dhs, dcT=None):
    """dL/dh_t from autograd, for L = Σ_t h_t ⊙ dhs_t (+ c_T ⊙ dcT)."""
    params = tensors(*params)
    states = tuple(state.requires_grad_() for state in tensors(*states))  # so that the h_t join a graph
    hs = []
    for x_t in tensors(*x):
        output = step(x_t, *states, *params)
        states = output if isinstance(output, tuple) else (output,)
        hs.append(states[0])
    loss = sum((h * d).sum() for h, d in zip(hs, tensors(*dhs)))
    if dcT is not None:
        loss = loss + (states[1] * tensors(dcT)[0]).sum()
    return np.stack([g.numpy() for g in torch.autograd.grad(loss, hs)])


@pytest.mark.parametrize("model", ["rnn", "lstm", "gru"])
def test_hidden_gradients_match_autograd(model):
    dhs, dcT = rng_arrays(7, (T, N, H), (N, H))
    if model == "rnn":
        x, h0, *params = rnn_case()
        _, cache = rnn.rnn_forward(x, h0, *params)
        expected = torch_hidden_gradients(torch_rnn_step, x, [h0], params, dhs)
        ours = diagnostics.hidden_gradients(dhs, cache)
    elif model == "gru":
        x, h0, *params = gru_case()
        _, cache = gru.gru_forward(x, h0, *params)
        expected = torch_hidden_gradients(torch_gru_step, x, [h0], params, dhs)
        ours = diagnostics.hidden_gradients(dhs, cache)
    else:
        x, h0, c0, *params = lstm_case()
        _, _, cache = lstm.lstm_forward(x, h0, c0, *params)
        expected = torch_hidden_gradients(torch_lstm_step, x, [h0, c0], params, dhs, dcT)
        ours = diagnostics.hidden_gradients(dhs, cache, dcT)
    assert ours.shape == (T, N, H)
    assert rel_error(ours, expected) < TOLERANCE


def test_hidden_gradients_of_a_last_step_loss_follow_the_jacobians():
    x, h0, *params = rnn_case(seed=9)
    _, cache = rnn.rnn_forward(x, h0, *params)
    dhs = np.zeros((T, N, H))
    dhs[-1] = 1.0
    gradients = diagnostics.hidden_gradients(dhs, cache)
    jacobians = diagnostics.rnn_jacobians(cache)
    for t in range(T - 1):  # dL/dh_t = dL/dh_{t+1} J_{t+1}, a row vector times a matrix
        expected = np.einsum("nj,njk->nk", gradients[t + 1], jacobians[t + 1])
        assert rel_error(gradients[t], expected) < 1e-12


def test_step_norms_closed_form():
    gradients = np.zeros((3, 2, 2))
    gradients[0] = [[3.0, 0.0], [0.0, 4.0]]
    gradients[2, 1, 1] = -2.0
    np.testing.assert_array_equal(diagnostics.step_norms(gradients), [5.0, 0.0, 2.0])
    gradients[1, 0, 0] = np.inf  # an exploded gradient is still measured
    assert diagnostics.step_norms(gradients)[1] == np.inf


def test_gradient_ratios_closed_form():
    # G_t = 2^t u_n for t = 0..3, with u_0 of norm 1 and u_1 of norm 3: every ratio is 2^-k.
    units = np.array([[1.0, 0.0], [0.0, 3.0]])
    gradients = np.stack([2.0**t * units for t in range(4)])
    np.testing.assert_allclose(diagnostics.gradient_ratios(gradients), 2.0 ** -np.arange(4), rtol=1e-15)
    per_sequence = diagnostics.gradient_ratios(gradients, per_sequence=True)
    assert per_sequence.shape == (4, 2)
    np.testing.assert_allclose(per_sequence, np.stack([2.0 ** -np.arange(4)] * 2, axis=1), rtol=1e-15)
    # A sequence whose gradient vanishes at one step: only its own column shows it.
    gradients[1, 1] = 0.0
    per_sequence = diagnostics.gradient_ratios(gradients, per_sequence=True)
    assert per_sequence[2, 1] == 0.0 and per_sequence[2, 0] == 0.25


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: diagnostics.rnn_jacobians(lstm.lstm_forward(*lstm_case())[-1]),
         "cache must be the RNNStepCache or RNNCache returned by rnn_step_forward or rnn_forward, got LSTMCache"),
        (lambda: diagnostics.lstm_jacobians(tuple(lstm.lstm_forward(*lstm_case())[-1])),
         "cache must be the LSTMStepCache or LSTMCache returned by lstm_step_forward or lstm_forward, got tuple"),
        (lambda: diagnostics.lstm_cell_jacobians(lstm.lstm_step_forward(*[a[0] if a.ndim == 3 else a for a in lstm_case()])[-1]),
         "cache must be the LSTMCache returned by lstm_forward, got LSTMStepCache"),
        (lambda: diagnostics.hidden_gradients(np.zeros((T, N, H)), rnn.rnn_forward(*rnn_case())[-1], np.zeros((N, H))),
         "dcT is a gradient of the LSTM's cell state; a RNNCache has none"),
        (lambda: diagnostics.hidden_gradients(np.zeros((T, N, H + 1)), gru.gru_forward(*gru_case())[-1]),
         "dhs must have shape (T, N, H) = (4, 3, 5), got (4, 3, 6)"),
        (lambda: diagnostics.step_norms(np.zeros((T, N))),
         "gradients must have shape (T, N, H) or (T, N, D), got (4, 3)"),
        (lambda: diagnostics.gradient_ratios(np.zeros((T, N)), per_sequence=True),
         "gradients must have shape (T, N, H) or (T, N, D), got (4, 3)"),
        (lambda: diagnostics.step_norms(np.zeros((T, N, H), dtype=int)),
         "gradients must hold float32 or float64 numbers, got dtype int64"),
    ],
)
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError) as error:
        call()
    assert str(error.value) == message


def test_diagnostics_do_not_write_to_their_arguments():
    x, h0, c0, *params = lstm_case()
    _, _, cache = lstm.lstm_forward(x, h0, c0, *params)
    dhs, dcT = rng_arrays(11, (T, N, H), (N, H))
    arrays = [*(array for step in cache.steps for array in step), dhs, dcT]
    before = [a.copy() for a in arrays]
    diagnostics.lstm_jacobians(cache)
    diagnostics.lstm_cell_jacobians(cache)
    gradients = diagnostics.hidden_gradients(dhs, cache, dcT)
    gradients_copy = gradients.copy()
    diagnostics.step_norms(gradients)
    for array, copy in zip(arrays, before, strict=True):
        np.testing.assert_array_equal(array, copy)
    np.testing.assert_array_equal(gradients, gradients_copy)
