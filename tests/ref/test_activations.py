"""lstm_ref.activations against closed forms, PyTorch and central differences."""

import math
import warnings

import numpy as np
import pytest
import torch

from lstm_ref import activations
from lstm_ref.activations import sigmoid, sigmoid_prime, tanh, tanh_prime
from lstm_ref.gradcheck import rel_error

Z = np.linspace(-40.0, 40.0, 801)


def exact_sigmoid(z):
    """σ(z) in Python floats, each branch in the form that cannot overflow."""
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def test_sigmoid_closed_form_values():
    assert sigmoid(0.0) == 0.5
    np.testing.assert_allclose(sigmoid(np.log(3.0)), 0.75, rtol=1e-15)  # 1 / (1 + 1/3)
    np.testing.assert_allclose(sigmoid(Z) + sigmoid(-Z), 1.0, rtol=1e-15)


def test_sigmoid_keeps_full_relative_precision_on_both_sides():
    expected = np.array([exact_sigmoid(z) for z in Z])
    # Relative, elementwise: σ(−40) ≈ 4e-18 must be right to its last digits too.
    assert rel_error(sigmoid(Z), expected) < 1e-15


def test_sigmoid_and_tanh_match_torch():
    z = torch.tensor(Z, dtype=torch.float64)
    assert rel_error(sigmoid(Z), torch.sigmoid(z).numpy()) < 1e-15
    assert rel_error(tanh(Z), torch.tanh(z).numpy()) < 1e-15


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_of_huge_inputs_has_no_overflow_and_no_warning(dtype):
    largest = np.finfo(dtype).max
    z = np.array([-largest, -1e4, -1e3, -100.0, 0.0, 100.0, 1e3, 1e4, largest], dtype=dtype)
    # Underflow to zero (e^{-1000}) is the right answer and numpy's default; every
    # other floating-point event, and any warning, is an error here.
    with np.errstate(over="raise", divide="raise", invalid="raise"), warnings.catch_warnings():
        warnings.simplefilter("error")
        values = [sigmoid(z), sigmoid_prime(z), tanh(z), tanh_prime(z)]
    for value in values:
        assert value.dtype == dtype
        assert np.isfinite(value).all()
    assert sigmoid(z)[0] == 0.0 and sigmoid(z)[-1] == 1.0
    assert sigmoid(z)[4] == 0.5


@pytest.mark.parametrize("function", [sigmoid, sigmoid_prime, tanh, tanh_prime])
def test_float32_stays_float32(function):
    z = np.linspace(-5, 5, 11, dtype=np.float32)
    result = function(z)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, function(z.astype(np.float64)), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("function, derivative", [(sigmoid, sigmoid_prime), (tanh, tanh_prime)])
def test_derivatives_match_central_differences(function, derivative):
    z = np.linspace(-4, 4, 81)
    eps = 1e-6
    numerical = (function(z + eps) - function(z - eps)) / (2 * eps)
    # Central-difference error ~ eps² |f'''| + 1e-16 / eps ≈ 1e-10, against values ≥ 1e-3.
    assert rel_error(derivative(z), numerical) < 1e-6


def test_derivatives_match_torch_autograd_where_it_is_precise():
    # Autograd computes y (1 − y) and 1 − y², precise to about 1e-16 / (1 − y):
    # better than 1e-11 relative for |z| ≤ 10 (σ) and |z| ≤ 5 (tanh).
    z_values = Z[300:501]
    z = torch.tensor(z_values, dtype=torch.float64, requires_grad=True)
    (sigmoid_grad,) = torch.autograd.grad(torch.sigmoid(z).sum(), z)
    (tanh_grad,) = torch.autograd.grad(torch.tanh(z[50:151]).sum(), z)
    assert rel_error(sigmoid_prime(z_values), sigmoid_grad.numpy()) < 1e-10
    assert rel_error(tanh_prime(z_values[50:151]), tanh_grad.numpy()[50:151]) < 1e-10


def test_derivatives_closed_forms_and_tails():
    assert sigmoid_prime(0.0) == 0.25
    assert tanh_prime(0.0) == 1.0
    np.testing.assert_allclose(sigmoid_prime(np.log(3.0)), 0.75 * 0.25, rtol=1e-15)
    np.testing.assert_allclose(tanh_prime(Z[350:451]), 1 / np.cosh(Z[350:451]) ** 2, rtol=1e-13)
    # σ'(z) = e^{-|z|} (1 + e^{-|z|})^{-2} ≈ e^{-|z|} once e^{-|z|} is below float64 precision.
    np.testing.assert_allclose(sigmoid_prime([-40.0, 40.0]), np.exp(-40.0), rtol=1e-15)
    np.testing.assert_allclose(tanh_prime([-20.0, 20.0]), 4 * np.exp(-40.0), rtol=1e-15)


@pytest.mark.parametrize("function", [sigmoid, sigmoid_prime, tanh, tanh_prime])
def test_input_is_not_modified(function):
    z = np.linspace(-3, 3, 7)
    before = z.copy()
    function(z)
    np.testing.assert_array_equal(z, before)
