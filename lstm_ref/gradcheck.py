"""Checking a backward pass against central finite differences.

A backward pass is right when, for a loss L = Σ (outputs ⊙ upstream) with any
fixed ``upstream``, its gradients match the numerical derivative

    ∂L/∂x_k ≈ (L(x + ε e_k) − L(x − ε e_k)) / (2ε)

for every element x_k of every input. The error of central differences is
O(ε²) plus rounding of order (machine epsilon)/ε, so in float64 with ε = 1e-6
a correct gradient typically agrees to a relative error of 1e-8 or better, and
a wrong one is off by far more than that.

* :func:`rel_error` compares two arrays elementwise;
* :func:`numerical_gradient` differentiates any function numerically;
* :func:`check_gradients` checks every gradient of a forward/backward pair of
  ``lstm_ref.rnn``, ``lstm_ref.lstm`` or ``lstm_ref.gru`` in one call.
"""

import functools
import inspect
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from lstm_ref._checks import float_dtype

# Gradients that a backward takes after its cache, with the forward output whose
# last time step they belong to: lstm_backward's dcT is dL/dc_T, and c_T is the
# last step of lstm_forward's second output, cs.
_FINAL_STATE_GRADIENTS = {"dcT": 1}


def rel_error(a, b):
    """The largest elementwise relative error between two arrays of the same shape.

        rel_error(a, b) = max_k |a_k − b_k| / max(|a_k| + |b_k|, tiny)

    where ``tiny`` is the smallest positive normal float64 (about 2.2e-308), so
    that two zeros agree exactly (error 0) instead of dividing 0 by 0. The value
    lies in [0, 1]: 0 when the arrays are equal, 1 when an element of one is zero
    and the other's is not, or their signs differ. Being elementwise, it does not
    let a large element hide an error in a small one.

    Parameters
    ----------
    a, b : array_like, the same shape

    Returns
    -------
    float
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        return 0.0
    scale = np.maximum(np.abs(a) + np.abs(b), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(a - b) / scale))


def numerical_gradient(f, x, df, eps=1e-6):
    """Central-difference gradient of the scalar L(x) = Σ f(x) ⊙ df with respect to x.

        dL/dx_k ≈ (L(x + eps e_k) − L(x − eps e_k)) / (2 eps),   for every element k

    ``f`` is called with a perturbed *copy* of ``x`` (2 calls per element of x);
    the caller's array is never changed.

    Parameters
    ----------
    f : callable
        Maps an array shaped like ``x`` to an array shaped like ``df`` (or to
        anything whose product with ``df`` can be summed).
    x : array_like of float32 or float64, any shape
        The point at which to differentiate; use float64 (in float32, central
        differences keep only a few digits).
    df : array_like
        The upstream gradient dL/df that weights the outputs of ``f``.
    eps : float
        The step ε.

    Returns
    -------
    ndarray, shape and dtype of ``x``
        The numerical dL/dx.
    """
    dtype = float_dtype("x", x)
    x_work = np.array(x, dtype=dtype, copy=True)
    grad = np.zeros_like(x_work)
    for index in np.ndindex(x_work.shape):
        original = x_work[index]
        x_work[index] = original + eps
        loss_plus = np.sum(f(x_work) * df)
        x_work[index] = original - eps
        loss_minus = np.sum(f(x_work) * df)
        x_work[index] = original
        grad[index] = (loss_plus - loss_minus) / (2 * eps)
    return grad


class GradientRow(NamedTuple):
    """One row of a :class:`GradientTable`."""

    name: str  # the forward's argument, e.g. "W_hh"
    shape: tuple  # its shape
    rel_error: float  # rel_error(analytic gradient, numerical gradient)


class GradientTable:
    """The relative error of every gradient of a backward pass, one row per input.

    Print it to read it; index it by input name (``table["W_hh"]``) for one
    error; iterate over its :class:`GradientRow` rows; ``table.max_error`` is
    the worst of them.
    """

    def __init__(self, title, rows):
        self.title = title
        self.rows = list(rows)

    def __getitem__(self, name):
        for row in self.rows:
            if row.name == name:
                return row.rel_error
        raise KeyError(f"no input named {name!r}; the inputs are {[row.name for row in self.rows]}")

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)

    @property
    def max_error(self):
        """The largest relative error over all inputs."""
        return max(row.rel_error for row in self.rows)

    def __repr__(self):
        header = ("input", "shape", "relative error")
        cells = [(row.name, str(row.shape), f"{row.rel_error:.2e}") for row in self.rows]
        widths = [max(len(line[k]) for line in [header, *cells]) for k in range(3)]
        lines = [self.title, "  ".join(text.ljust(width) for text, width in zip(header, widths))]
        lines += ["  ".join(text.ljust(width) for text, width in zip(line, widths)) for line in cells]
        return "\n".join(line.rstrip() for line in lines)


def check_gradients(forward, backward, inputs, seed=0, eps=1e-6):
    """Check every gradient of a forward/backward pair against central differences.

    Works for the step and sequence functions of ``lstm_ref.rnn``, ``lstm_ref.lstm``
    and ``lstm_ref.gru``, whose forward returns ``(outputs..., cache)`` and whose
    backward takes ``(upstream gradients..., cache)`` and returns the gradients in
    the order of the forward's inputs::

        table = check_gradients(lstm.lstm_forward, lstm.lstm_backward, (x, h0, c0, W_ih, W_hh, b))
        print(table)            # one row per input: name, shape, relative error
        table["W_hh"]           # one error
        table.max_error         # the worst

    The loss is L = Σ_k Σ output_k ⊙ upstream_k, with random upstream gradients
    (a standard normal from ``seed``) for every output the backward takes a
    gradient for. A backward that also takes a gradient for a final state after
    its cache (``lstm_backward``'s ``dcT`` = dL/dc_T) gets a random one too, and
    the loss includes Σ c_T ⊙ dcT, so that path is checked as well.

    Parameters
    ----------
    forward : callable
        E.g. ``lstm.lstm_forward``; called as ``forward(*inputs)``.
    backward : callable
        The matching backward, e.g. ``lstm.lstm_backward``.
    inputs : sequence of float64 arrays, or a mapping from argument name to array
        The forward's arguments, in its order (a mapping is put in that order).
    seed : int
        Seed of the random upstream gradients.
    eps : float
        The step of the central differences.

    Returns
    -------
    GradientTable
        rel_error(analytic, numerical) for every input.
    """
    names = list(inspect.signature(forward).parameters)
    if isinstance(inputs, Mapping):
        inputs = [inputs[name] for name in names if name in inputs]
    inputs = list(inputs)
    names = names[: len(inputs)]
    for name, value in zip(names, inputs):
        if float_dtype(name, value) != np.float64:
            raise ValueError(
                f"check_gradients needs float64 inputs (central differences in float32 keep "
                f"only a few digits), got {name} of dtype {np.asarray(value).dtype}"
            )

    *outputs, cache = forward(*inputs)
    backward_parameters = list(inspect.signature(backward).parameters)
    n_upstream = backward_parameters.index("cache")
    final_state_names = [p for p in backward_parameters[n_upstream + 1 :] if p in _FINAL_STATE_GRADIENTS]

    rng = np.random.default_rng(seed)
    upstream = [rng.standard_normal(np.shape(output)) for output in outputs[:n_upstream]]
    final_states = {
        name: rng.standard_normal(np.shape(outputs[_FINAL_STATE_GRADIENTS[name]])[1:])
        for name in final_state_names
    }
    analytic = backward(*upstream, cache, **final_states)
    if len(analytic) != len(inputs):
        raise ValueError(
            f"{backward.__name__} returned {len(analytic)} gradients for the "
            f"{len(inputs)} inputs of {forward.__name__}"
        )

    def loss_outputs(candidate, position):
        """The outputs entering the loss when input ``position`` is replaced by ``candidate``."""
        changed = inputs[:position] + [candidate] + inputs[position + 1 :]
        *changed_outputs, _ = forward(*changed)
        parts = [np.ravel(output) for output in changed_outputs[:n_upstream]]
        parts += [np.ravel(changed_outputs[_FINAL_STATE_GRADIENTS[name]][-1]) for name in final_state_names]
        return np.concatenate(parts)

    weights = np.concatenate([np.ravel(d) for d in [*upstream, *final_states.values()]])
    rows = []
    for position, (name, value) in enumerate(zip(names, inputs)):
        loss_outputs_of_input = functools.partial(loss_outputs, position=position)
        numerical = numerical_gradient(loss_outputs_of_input, value, weights, eps)
        rows.append(GradientRow(name, np.shape(value), rel_error(analytic[position], numerical)))
    title = f"{backward.__name__} against central differences (eps={eps:g})"
    return GradientTable(title, rows)
