"""The two squashing functions of the course and their derivatives.

    σ(z) = 1 / (1 + e^{-z}),        σ'(z) = σ(z) (1 - σ(z))
    tanh(z),                        tanh'(z) = 1 - tanh²(z)

Derivatives are taken with respect to the pre-activation ``z``. Every function
works elementwise on an array of any shape, keeps its dtype (float32 stays
float32) and returns a new array.
"""

import numpy as np


def sigmoid(z):
    """The logistic function σ(z) = 1 / (1 + e^{-z}), elementwise, for any shape.

    Written as σ(z) = e^{min(z, 0)} / (1 + e^{-|z|}): both exponents are at most
    zero, so nothing overflows and no warning is raised for any finite ``z``
    (the textbook form overflows in e^{-z} for z < −88.7 in float32, −709.8 in
    float64), and the result keeps full relative precision on both sides,
    σ(−40) ≈ 4.2e-18 included.

    Parameters
    ----------
    z : array_like, any shape
        Pre-activations.

    Returns
    -------
    ndarray, the shape and floating dtype of ``z``, values in [0, 1].
    """
    z = np.asarray(z)
    return np.exp(np.minimum(z, 0)) / (1 + np.exp(-np.abs(z)))


def sigmoid_prime(z):
    """The derivative σ'(z) = σ(z) (1 − σ(z)), elementwise, for any shape.

    Computed as e / (1 + e)² with e = e^{-|z|} (σ' is even), which keeps full
    relative precision in the tails: σ'(40) ≈ 4.2e-18, where σ(40) rounds to 1
    and σ(z)(1 − σ(z)) would give 0. Log-scale plots of vanishing gradients
    need those tails.

    Parameters
    ----------
    z : array_like, any shape
        Pre-activations (not σ(z)).

    Returns
    -------
    ndarray, the shape and floating dtype of ``z``, values in [0, 1/4].
    """
    e = np.exp(-np.abs(np.asarray(z)))
    return e / ((1 + e) * (1 + e))


def tanh(z):
    """The hyperbolic tangent tanh(z), elementwise, for any shape (``np.tanh``).

    Parameters
    ----------
    z : array_like, any shape
        Pre-activations.

    Returns
    -------
    ndarray, the shape and floating dtype of ``z``, values in [-1, 1].
    """
    return np.tanh(z)


def tanh_prime(z):
    """The derivative tanh'(z) = 1 − tanh²(z), elementwise, for any shape.

    Computed as 4e / (1 + e)² with e = e^{-2|z|}, which keeps full relative
    precision in the tails (tanh'(20) ≈ 1.7e-17, where 1 − tanh²(20) gives 0).

    Parameters
    ----------
    z : array_like, any shape
        Pre-activations (not tanh(z)).

    Returns
    -------
    ndarray, the shape and floating dtype of ``z``, values in [0, 1].
    """
    e = np.exp(-np.abs(np.asarray(z)))
    e = e * e  # e^{-2|z|}, without overflowing 2|z| for the largest floats
    return 4 * e / ((1 + e) * (1 + e))

