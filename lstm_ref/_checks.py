"""Input validation shared by every module of ``lstm_ref`` (private).

Every public function checks its arguments here first, so that a mistake is
reported where it is made, in the book's notation::

    W_hh must have shape (4H, H) = (40, 10), got (40, 9)

The rules, the same for every module:

* **Shapes.** An expected shape is written with the book's symbols
  (``T, N, D, H`` and multiples such as ``4H``) and with the numbers that the
  arguments checked before it fixed: the parameters fix ``H`` and ``D``, the
  input ``x`` fixes ``N`` (and ``T``), and every later argument is checked
  against them. Every size must be at least 1.
* **Dtypes.** Arrays hold float32 or float64 numbers; integer, boolean,
  complex and other dtypes are rejected.
* **One computation dtype: the input's.** A forward runs in the dtype of its
  input ``x``, a backward in the dtype of its cache. Any other floating array
  is converted to that dtype (into a new array: the caller's array is never
  changed). So float32 ``x`` gives float32 outputs and gradients even with
  float64 parameters. We convert rather than reject because the common slip,
  ``np.zeros((N, H))`` (float64) as the initial state of a float32 sequence,
  is harmless.
* **Finite values.** NaN or inf in any argument is rejected: it would only
  propagate into every output.
* **Numbers.** A count (a size, a number of steps) is an ``int`` of at least
  some minimum (:func:`check_int`); a real setting such as a bias value or a
  learning rate is a finite ``int`` or ``float`` (:func:`check_number`). A bool
  is neither. A named setting (a scale, a model, a scheme) is one of a fixed
  set (:func:`check_choice`, :func:`check_choices` for several).
"""

import math

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_int(name, value, minimum=0):
    """Return ``value`` as an int if it is an integer (not a bool) of at least ``minimum``.

    Raises ValueError, e.g. "look_back must be an integer >= 1, got 0".
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_number(name, value, above=None):
    """Return ``value`` as a float if it is a finite real number (not a bool), larger than ``above`` if given.

    Raises ValueError, e.g. "forget_bias must be a finite number, got nan" or
    "lr must be a finite number > 0, got -1".
    """
    bound = "" if above is None else f" > {above}"
    if (
        isinstance(value, (bool, np.bool_))
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(value)
        or (above is not None and not value > above)
    ):
        raise ValueError(f"{name} must be a finite number{bound}, got {value!r}")
    return float(value)


def _is_one_of(value, choices):
    try:
        return value in choices
    except TypeError:  # an unhashable value, such as a list, is in no set of names
        return False


def check_choice(name, value, choices):
    """Return ``value`` if it is one of ``choices``.

    Raises ValueError, e.g. "scale must be one of ['book', 'full'], got 'ful'".
    """
    if not _is_one_of(value, choices):
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def check_choices(name, values, choices):
    """Return ``values`` as a tuple if every one of them is one of ``choices``.

    Raises ValueError naming the others, e.g. "models must be among ['GRU', 'LSTM'], got ['TCN']".
    """
    values = tuple(values)
    unknown = [value for value in values if not _is_one_of(value, choices)]
    if unknown:
        raise ValueError(f"{name} must be among {sorted(choices)}, got {unknown}")
    return values


def check_dtype_argument(dtype):
    """float32 or float64 from a ``dtype`` argument (anything np.dtype takes); ValueError otherwise."""
    try:
        dtype = np.dtype(dtype)
    except TypeError as error:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}") from error
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def float_dtype(name, value):
    """Return the dtype of ``value`` if it is float32 or float64, else raise ValueError."""
    dtype = np.asarray(value).dtype
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name} must hold float32 or float64 numbers, got dtype {dtype}")
    return dtype


def as_float_array(name, value, dtype):
    """``value`` as an array of ``dtype`` (float32 or float64); ``value`` itself if it already is one.

    Raises ValueError if ``value`` does not hold float32 or float64 numbers.
    Callers only read the result, so returning the caller's own array is safe.
    """
    float_dtype(name, value)
    array = np.asarray(value)
    if array.dtype != dtype:
        # Overflow here (1e300 to float32) becomes inf, which check_finite reports.
        with np.errstate(over="ignore"):
            array = array.astype(dtype)
    return array


def _shape_text(sizes):
    """A shape written as Python writes it: (40, 10), (40,) and ()."""
    sizes = [str(size) for size in sizes]
    return "(" + ", ".join(sizes) + ("," if len(sizes) == 1 else "") + ")"


def check_shape(name, array, symbols, sizes):
    """Raise ValueError unless ``array`` has the shape ``sizes``, every size at least 1.

    ``symbols`` names each axis in the book's notation, e.g. ``("4H", "H")``,
    and ``sizes`` gives the numbers, e.g. ``(40, 10)``. A size of None is one
    that this array fixes itself (N and T for ``x``, D for ``W_ih``): any size
    is accepted there, and the message shows the array's own. The message gives
    both forms::

        W_hh must have shape (4H, H) = (40, 10), got (40, 9)
        x must have shape (T, N, D) = (T, N, 3), got (5, 3)     (wrong rank: T, N unknown)
    """
    shape = np.shape(array)
    if len(shape) == len(symbols):
        sizes = [got if size is None and got > 0 else size for got, size in zip(shape, sizes)]
    expected = [symbol if size is None else size for symbol, size in zip(symbols, sizes)]
    text = _shape_text(symbols)
    if expected != list(symbols):
        text += " = " + _shape_text(expected)
    if len(shape) == len(symbols) and 0 in shape:
        got = _shape_text(shape)
        raise ValueError(f"{name} must have shape {text} with every size at least 1, got {got}")
    if list(shape) != expected:
        raise ValueError(f"{name} must have shape {text}, got {_shape_text(shape)}")


def check_finite(name, array):
    """Raise ValueError if ``array`` holds NaN or inf, naming the first bad index."""
    finite = np.isfinite(array)
    if not finite.all():
        index = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(
            f"{name} must be finite, got {array[index]} at index {index} "
            f"of an array of shape {_shape_text(array.shape)}"
        )


def check_array(name, value, dtype, symbols, sizes):
    """One array argument checked in full: float dtype, shape, finite values; returned in ``dtype``."""
    array = as_float_array(name, value, dtype)
    check_shape(name, array, symbols, sizes)
    check_finite(name, array)
    return array


def check_recurrent_parameters(W_ih, W_hh, biases, gates, dtype):
    """Validate a recurrent layer's parameters; return ``(W_ih, W_hh, *biases)`` in ``dtype``.

    ``gates`` is the number of stacked blocks: 1 for the RNN (``W_hh`` is
    (H, H)), 4 for the LSTM (4H, H), 3 for the GRU (3H, H). ``biases`` is a list
    of ``(name, value)``, each (gates·H,).
    """
    rows = f"{gates}H" if gates > 1 else "H"
    # W_hh fixes H: from its gates·H rows, or from its H columns where the rows
    # are no multiple of the number of gates (then the rows are what is wrong).
    check_shape("W_hh", W_hh, (rows, "H"), (None, None))
    H_rows, H_columns = np.shape(W_hh)
    H = H_rows // gates if H_rows % gates == 0 else H_columns
    W_hh = check_array("W_hh", W_hh, dtype, (rows, "H"), (gates * H, H))
    W_ih = check_array("W_ih", W_ih, dtype, (rows, "D"), (gates * H, None))  # W_ih fixes D
    biases = [check_array(name, value, dtype, (rows,), (gates * H,)) for name, value in biases]
    return (W_ih, W_hh, *biases)


def check_recurrent_inputs(x, x_symbols, states, W_ih, W_hh, biases, gates):
    """Validate a recurrent layer's input, states and parameters; return them in x's dtype.

    ``x_symbols`` is ``("N", "D")`` for a step, ``("T", "N", "D")`` for a
    sequence; ``states`` is a list of ``(name, value)``, each (N, H); the
    parameters are checked first, by :func:`check_recurrent_parameters`.

    Returns ``(x, *states, W_ih, W_hh, *biases)`` as arrays of x's dtype.
    """
    dtype = float_dtype("x", x)
    W_ih, W_hh, *biases = check_recurrent_parameters(W_ih, W_hh, biases, gates, dtype)
    D, H = W_ih.shape[1], W_hh.shape[1]
    x = check_array("x", x, dtype, x_symbols, (None,) * (len(x_symbols) - 1) + (D,))  # x fixes N and T
    N = x.shape[-2]
    states = [check_array(name, value, dtype, ("N", "H"), (N, H)) for name, value in states]
    return (x, *states, W_ih, W_hh, *biases)


def check_cache(name, cache, cache_type, producer):
    """Raise ValueError unless ``cache`` is a ``cache_type`` (a NamedTuple made by ``producer``)."""
    if not isinstance(cache, cache_type):
        raise ValueError(
            f"{name} must be the {cache_type.__name__} returned by {producer}, "
            f"got {type(cache).__name__}"
        )
