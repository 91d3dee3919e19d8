"""Input validation shared by every module of ``lstm_ref`` (private).

Every public function checks its arguments here first, so that a mistake is
reported where it is made, in the book's notation::

    W_hh must have shape (4H, H) = (40, 10), got (40, 9)

The rules, the same for every module:

* **Shapes.** An expected shape is written with the book's symbols
  (``T, N, D, H`` and multiples such as ``4H``). The parameters fix the sizes
  (``H`` from the 4H rows of ``W_hh``, ``D`` from ``W_ih``), the input ``x``
  fixes ``N`` (and ``T``), and every later argument is checked against them.
  Every size must be at least 1.
* **Dtypes.** Arrays hold float32 or float64 numbers; integer, boolean,
  complex and other dtypes are rejected.
* **One computation dtype: the input's.** A forward runs in the dtype of its
  input ``x``, a backward in the dtype of its cache. Any other floating array
  is converted to that dtype (into a new array: the caller's array is never
  changed). So float32 ``x`` gives float32 outputs and gradients even with
  float64 parameters, and float64 ``x`` gives float64 results. We convert
  rather than reject because the common slip, ``np.zeros((N, H))`` (float64)
  as the initial state of a float32 sequence, is harmless.
* **Finite values.** NaN or inf in any argument is rejected: it would only
  propagate into every output.
"""

import re

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

_SYMBOL = re.compile(r"^(\d*)([A-Za-z_]\w*)$")


def float_dtype(name, value):
    """Return the dtype of ``value`` if it is float32 or float64, else raise ValueError."""
    dtype = np.asarray(value).dtype
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name} must hold float32 or float64 numbers, got dtype {dtype}")
    return dtype


def as_float_array(name, value, dtype):
    """Return ``value`` as an array of ``dtype`` (float32 or float64), never a view that we write to.

    Raises ValueError if ``value`` does not hold float32 or float64 numbers.
    The result is ``value`` itself when it already is such an array: callers
    only read it.
    """
    float_dtype(name, value)
    array = np.asarray(value)
    if array.dtype != dtype:
        # Overflow here (1e300 to float32) becomes inf, which check_finite reports.
        with np.errstate(over="ignore"):
            array = array.astype(dtype)
    return array


def _parse(symbol):
    """Split a size symbol into (factor, letter): "4H" -> (4, "H"), "N" -> (1, "N")."""
    match = _SYMBOL.match(symbol)
    if match is None:
        raise AssertionError(f"bad size symbol {symbol!r}")
    factor, letter = match.groups()
    return (int(factor) if factor else 1), letter


def _format(items):
    """Format a shape like Python does: (40, 10), (40,) and ()."""
    items = [str(item) for item in items]
    if len(items) == 1:
        return f"({items[0]},)"
    return "(" + ", ".join(items) + ")"


def _bind_sizes(shape, dims, sizes):
    """Learn, from an array of the right rank, the sizes that ``sizes`` does not know yet.

    Each unknown letter is read from its first axis, "4H" included (40 gives
    H = 10), unless that axis is not a multiple of the factor; then from its next.
    """
    for symbol, got in zip(dims, shape):
        factor, letter = _parse(symbol)
        if letter not in sizes and got > 0 and got % factor == 0:
            sizes[letter] = got // factor


def _expected_sizes(dims, sizes):
    """The expected shape as a tuple: (40, 10) for ("4H", "H") with H = 10; unknown letters stay symbols."""
    expected = []
    for symbol in dims:
        factor, letter = _parse(symbol)
        expected.append(factor * sizes[letter] if letter in sizes else symbol)
    return tuple(expected)


def expected_shape(dims, sizes):
    """The expected shape as text, e.g. "(4H, H) = (40, 10)", or "(N, D) = (N, 3)"."""
    symbolic = _format(dims)
    numeric = _format(_expected_sizes(dims, sizes))
    return symbolic if numeric == symbolic else f"{symbolic} = {numeric}"


def check_shape(name, array, dims, sizes):
    """Check ``array.shape`` against the symbolic ``dims``; learn unknown sizes into ``sizes``.

    ``dims`` is a tuple of the book's symbols, e.g. ``("4H", "H")`` or
    ``("T", "N", "D")``; ``sizes`` maps a letter to its known value and is
    updated in place with the letters this array defines.
    """
    shape = tuple(np.shape(array))
    if len(shape) == len(dims):
        _bind_sizes(shape, dims, sizes)
    expected = expected_shape(dims, sizes)
    if len(shape) == len(dims) and 0 in shape:
        raise ValueError(
            f"{name} must have shape {expected} with every size at least 1, got {_format(shape)}"
        )
    if shape != _expected_sizes(dims, sizes):
        raise ValueError(f"{name} must have shape {expected}, got {_format(shape)}")


def check_finite(name, array):
    """Raise ValueError if ``array`` holds NaN or inf, naming the first bad index."""
    finite = np.isfinite(array)
    if not finite.all():
        index = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(
            f"{name} must be finite, got {array[index]} at index {index} "
            f"of an array of shape {_format(array.shape)}"
        )


def check_arrays(specs, dtype, sizes=None):
    """Validate arguments in order and return them as arrays of ``dtype``, with the sizes learnt.

    ``specs`` is a sequence of ``(name, value, dims)``; ``None`` as a value is
    not allowed here (callers handle optional arguments before). Dtypes are
    checked for every argument first, then shapes in the order given (so the
    first argument of a size defines it), then finiteness.

    Returns ``(arrays, sizes)``: the list of arrays in the order of ``specs``
    and a dict such as ``{"N": 2, "D": 3, "H": 4}``.
    """
    sizes = {} if sizes is None else dict(sizes)
    arrays = [as_float_array(name, value, dtype) for name, value, _ in specs]
    for (name, _, dims), array in zip(specs, arrays):
        check_shape(name, array, dims, sizes)
    for (name, _, _), array in zip(specs, arrays):
        check_finite(name, array)
    return arrays, sizes


def check_recurrent_inputs(x_name, x, x_dims, states, W_ih, W_hh, biases, rows):
    """Validate a recurrent layer's input, states and parameters; return them in x's dtype.

    ``rows`` is the stacked gate axis in the book's symbols: "H" for the RNN, "4H"
    for the LSTM, "3H" for the GRU. ``states`` and ``biases`` are lists of
    ``(name, value)``; each state is (N, H), each bias (rows,). ``W_hh`` is checked
    first, so H comes from it, then ``W_ih`` (D), the biases, ``x`` and the states.

    Returns ``(x, *states, W_ih, W_hh, *biases)`` as arrays of x's dtype.
    """
    dtype = float_dtype(x_name, x)
    specs = [("W_hh", W_hh, (rows, "H")), ("W_ih", W_ih, (rows, "D"))]
    specs += [(name, value, (rows,)) for name, value in biases]
    specs.append((x_name, x, x_dims))
    specs += [(name, value, ("N", "H")) for name, value in states]
    (W_hh, W_ih, *rest), _ = check_arrays(specs, dtype)
    checked_biases, (x, *checked_states) = rest[: len(biases)], rest[len(biases):]
    return (x, *checked_states, W_ih, W_hh, *checked_biases)


def check_cache(name, cache, cache_type, producer):
    """Raise ValueError unless ``cache`` is a ``cache_type`` (a NamedTuple made by ``producer``)."""
    if not isinstance(cache, cache_type):
        raise ValueError(
            f"{name} must be the {cache_type.__name__} returned by {producer}, "
            f"got {type(cache).__name__}"
        )


def check_positive_int(name, value):
    """Return ``value`` as an int if it is a positive integer, else raise ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
