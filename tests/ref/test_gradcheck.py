"""lstm_ref.gradcheck on closed-form cases, and its power to catch wrong gradients."""

import numpy as np
import pytest

from lstm_ref import lstm, rnn
from lstm_ref.gradcheck import GradientTable, check_gradients, numerical_gradient, rel_error


def test_rel_error_closed_forms():
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error([1.0], [0.0]) == 1.0
    assert rel_error([1.0], [-1.0]) == 1.0
    assert rel_error([1.0], [3.0]) == 0.5  # |1 − 3| / (1 + 3)
    # The largest over elements: a small element's error is not hidden by a large one.
    assert rel_error([1e6, 1e-6], [1e6, 3e-6]) == pytest.approx(0.5, rel=1e-12)
    assert rel_error(np.empty((0, 3)), np.empty((0, 3))) == 0.0


def test_rel_error_rejects_different_shapes():
    with pytest.raises(ValueError, match=r"same shape, got \(2,\) and \(3,\)"):
        rel_error(np.zeros(2), np.zeros(3))


def test_numerical_gradient_of_closed_forms():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    df = rng.standard_normal((3, 4))
    # d/dx Σ x³ ⊙ df = 3x² ⊙ df. Central differences err by eps² |df| (the x³ term)
    # plus rounding, 1e-16 |L| / eps: about 1e-9 here, in absolute terms.
    np.testing.assert_allclose(numerical_gradient(lambda v: v**3, x, df), 3 * x**2 * df, rtol=0, atol=1e-8)
    A = rng.standard_normal((5, 3))
    df_linear = rng.standard_normal((5, 4))
    # d/dx Σ (A x) ⊙ df = Aᵀ df; for a linear map only the rounding error is left.
    np.testing.assert_allclose(numerical_gradient(lambda v: A @ v, x, df_linear), A.T @ df_linear, rtol=0, atol=1e-8)


def test_numerical_gradient_perturbs_a_copy():
    x = np.arange(6.0).reshape(2, 3)
    before = x.copy()
    seen = []

    def f(v):
        seen.append(v is x or np.shares_memory(v, x))
        return v * 2

    grad = numerical_gradient(f, x, np.ones_like(x))
    np.testing.assert_array_equal(x, before)
    assert not any(seen)
    np.testing.assert_allclose(grad, 2.0, rtol=1e-8)


def test_numerical_gradient_rejects_integer_input():
    with pytest.raises(ValueError, match="x must hold float32 or float64 numbers, got dtype int64"):
        numerical_gradient(lambda v: v, np.arange(3), np.ones(3))


def lstm_inputs(seed=0, T=3, N=2, D=3, H=4):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((T, N, D)),
        rng.standard_normal((N, H)),
        rng.standard_normal((N, H)),
        0.5 * rng.standard_normal((4 * H, D)),
        0.5 * rng.standard_normal((4 * H, H)),
        0.5 * rng.standard_normal(4 * H),
    )


def test_check_gradients_table_rows_indexing_and_printing():
    inputs = lstm_inputs()
    table = check_gradients(lstm.lstm_forward, lstm.lstm_backward, inputs)
    assert isinstance(table, GradientTable)
    assert [row.name for row in table] == ["x", "h0", "c0", "W_ih", "W_hh", "b"]
    assert [row.shape for row in table] == [a.shape for a in inputs]
    assert table["W_hh"] == table.rows[4].rel_error
    assert table.max_error == max(row.rel_error for row in table)
    text = repr(table)
    assert "lstm_backward" in text and "W_hh" in text and "(16, 4)" in text
    with pytest.raises(KeyError, match="no input named 'W'"):
        table["W"]


def test_check_gradients_accepts_a_mapping_in_any_order():
    rng = np.random.default_rng(1)
    x, h0 = rng.standard_normal((3, 2, 5)), rng.standard_normal((2, 4))
    W_ih, W_hh, b = (0.5 * rng.standard_normal(shape) for shape in [(4, 5), (4, 4), (4,)])
    mapping = {"b": b, "W_hh": W_hh, "x": x, "W_ih": W_ih, "h0": h0}
    table = check_gradients(rnn.rnn_forward, rnn.rnn_backward, mapping)
    assert [row.name for row in table] == ["x", "h0", "W_ih", "W_hh", "b"]
    assert table.max_error < 1e-6


def test_check_gradients_finds_a_wrong_gradient_and_names_it():
    def backward_with_wrong_dW_hh(dhs, cache, dcT=None):
        dx, dh0, dc0, dW_ih, dW_hh, db = lstm.lstm_backward(dhs, cache, dcT)
        return dx, dh0, dc0, dW_ih, 1.01 * dW_hh, db

    table = check_gradients(lstm.lstm_forward, backward_with_wrong_dW_hh, lstm_inputs())
    assert table["W_hh"] > 1e-3
    assert max(row.rel_error for row in table if row.name != "W_hh") < 1e-6


def test_check_gradients_checks_the_dcT_path():
    def backward_ignoring_dcT(dhs, cache, dcT=None):
        return lstm.lstm_backward(dhs, cache)

    table = check_gradients(lstm.lstm_forward, backward_ignoring_dcT, lstm_inputs())
    # c_T depends on every input, so ignoring dL/dc_T spoils every gradient.
    assert min(row.rel_error for row in table) > 1e-3


def test_check_gradients_rejects_float32_inputs():
    inputs = [a.astype(np.float32) if k == 3 else a for k, a in enumerate(lstm_inputs())]
    with pytest.raises(ValueError, match="float64 inputs .* got W_ih of dtype float32"):
        check_gradients(lstm.lstm_forward, lstm.lstm_backward, inputs)


def test_check_gradients_leaves_the_inputs_alone():
    inputs = lstm_inputs()
    before = [a.copy() for a in inputs]
    check_gradients(lstm.lstm_forward, lstm.lstm_backward, inputs)
    for array, copy in zip(inputs, before, strict=True):
        np.testing.assert_array_equal(array, copy)
