"""Synthetic data for the labs: the weather sequence, windows, one-hot codes,
a Markov weather chain, and the delayed-recall task.

Everything is generated from a seed; nothing is downloaded. NumPy only.

Shapes follow the book: a batch of sequences is time-major, ``(T, N, C)``, with
``T`` time steps, ``N`` sequences and ``C`` classes (one-hot channels).

The weather classes are ``0 = Sunny, 1 = Rainy, 2 = Cloudy`` (``CLASS_NAMES``),
the map of the published experiment (Iwai, "Mastering Long Short-Term Memory
(LSTM) Networks", Kernel Labs; ``iwaiweather`` in references.bib).
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lstm_ref._checks import check_int

CLASS_NAMES = ("Sunny", "Rainy", "Cloudy")

# A persistent weather: each day tends to repeat the day before. Rows are today's
# weather, columns tomorrow's, in the order of CLASS_NAMES; every row sums to 1.
PERSISTENT_WEATHER = np.array(
    [
        [0.70, 0.10, 0.20],
        [0.15, 0.60, 0.25],
        [0.25, 0.25, 0.50],
    ]
)


# ---------------------------------------------------------------------------
# validation


def _check_symbols(array, name, num_classes=None):
    """Return ``array`` as an integer ndarray with values in ``[0, num_classes)``."""
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices, got dtype {array.dtype}")
    if num_classes is not None and array.size:
        low, high = array.min(), array.max()
        if low < 0 or high >= num_classes:
            raise ValueError(
                f"{name} must hold class indices in [0, {num_classes - 1}], "
                f"got values in [{low}, {high}]"
            )
    return array


def _check_transition(transition):
    """Return ``transition`` as a float64 (C, C) row-stochastic matrix, or raise."""
    P = np.asarray(transition, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] != P.shape[1] or P.shape[0] < 1:
        raise ValueError(f"transition must have shape (C, C), got {P.shape}")
    if not np.all(np.isfinite(P)) or np.any(P < 0):
        raise ValueError("transition must hold finite probabilities >= 0")
    row_sums = P.sum(axis=1)
    if not np.allclose(row_sums, 1.0, atol=1e-9):
        raise ValueError(f"every row of transition must sum to 1, got row sums {row_sums}")
    return P


def _rng(seed):
    """A ``np.random.Generator`` from a seed, or the generator itself if given one."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------------
# the published weather sequence


def weather_sequence(n, seed=42):
    """The published synthetic weather: ``n`` i.i.d. uniform draws from {0, 1, 2}.

    Reproduces ``np.random.seed(seed); np.random.randint(0, 3, size=n)`` exactly,
    through a private ``np.random.RandomState`` (the legacy Mersenne Twister that the
    global functions use), so NumPy's global random state is left untouched.

    Returns an int64 array of shape ``(n,)``. Each value is independent of every
    other: no model can predict it better than chance (cross-entropy ln 3).
    """
    n = check_int("n", n, minimum=0)
    return np.random.RandomState(seed).randint(0, 3, size=n).astype(np.int64)


def make_windows(sequence, look_back):
    """Cut a sequence into overlapping windows and their next values.

    For ``i = 0 .. L - look_back - 1`` (``L = len(sequence)``)::

        windows[i] = sequence[i : i + look_back]      # the inputs, x_1 .. x_T
        targets[i] = sequence[i + look_back]          # the value that follows

    as in the published code's loop, without the loop.

    Returns ``windows`` of shape ``(L - look_back, look_back)`` and ``targets`` of
    shape ``(L - look_back,)``, both *copies* in fresh memory: writing into them
    never changes ``sequence``, and they do not keep a large ``sequence`` alive.
    """
    sequence = _check_symbols(sequence, "sequence")
    if sequence.ndim != 1:
        raise ValueError(f"sequence must be 1-D with shape (L,), got shape {sequence.shape}")
    look_back = check_int("look_back", look_back, minimum=1)
    if look_back >= len(sequence):
        raise ValueError(
            f"look_back must be >= 1 and < len(sequence) = {len(sequence)}, got {look_back}"
        )
    # Every row of this view starts one step later; the last row has no target.
    all_windows = sliding_window_view(sequence, look_back)[:-1]
    return all_windows.copy(), sequence[look_back:].copy()


def one_hot(indices, num_classes=3, dtype=np.float64):
    """One-hot codes: ``out[..., c] = 1.0 if indices[...] == c else 0.0``.

    ``indices`` of any shape ``S`` gives ``out`` of shape ``S + (num_classes,)``
    and the float ``dtype`` asked for (float32 for PyTorch, float64 by default).
    """
    num_classes = check_int("num_classes", num_classes, minimum=1)
    indices = _check_symbols(indices, "indices", num_classes)
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise ValueError(f"dtype must be a float dtype, got {np.dtype(dtype)}")
    # Row c of the identity is the code of class c; indexing picks one row per index.
    return np.eye(num_classes, dtype=dtype)[indices]


def to_time_major(batch):
    """``(N, T, ...)`` batch-major to ``(T, N, ...)`` time-major, a contiguous copy.

    The published code permutes its one-hot windows ``(samples, look_back, 3)`` to
    ``(look_back, samples, 3)`` for ``nn.LSTM(batch_first=False)``; so does this.
    """
    batch = np.asarray(batch)
    if batch.ndim < 2:
        raise ValueError(f"batch must have shape (N, T, ...), got shape {batch.shape}")
    return np.ascontiguousarray(np.swapaxes(batch, 0, 1))


# ---------------------------------------------------------------------------
# a Markov weather chain, whose best possible prediction is known exactly


def stationary_distribution(transition):
    """The distribution ``pi`` with ``pi P = pi`` and ``sum(pi) = 1``, shape ``(C,)``.

    Solved as a linear system: ``(P^T - I) pi = 0`` with one equation replaced by
    ``sum(pi) = 1``. Assumes the chain is irreducible (one stationary distribution).
    """
    P = _check_transition(transition)
    C = P.shape[0]
    system = P.T - np.eye(C)
    system[-1, :] = 1.0
    rhs = np.zeros(C)
    rhs[-1] = 1.0
    try:
        pi = np.linalg.solve(system, rhs)
    except np.linalg.LinAlgError:
        raise ValueError("transition must describe an irreducible chain (one stationary distribution)") from None
    return pi


def entropy_rate(transition):
    """Entropy rate of the stationary chain, in nats: the best possible cross-entropy.

        H = - sum_i pi_i sum_j P_ij ln P_ij

    Given the whole past, the next state's distribution is row ``P[x_t]``; no
    predictor has a lower expected cross-entropy than ``H``. For the i.i.d. uniform
    weather (every row ``1/3``) ``H = ln 3``.
    """
    P = _check_transition(transition)
    pi = stationary_distribution(P)
    # 0 ln 0 = 0: a transition that never happens costs nothing.
    plogp = np.where(P > 0, P * np.log(np.where(P > 0, P, 1.0)), 0.0)
    return float(-pi @ plogp.sum(axis=1))


def bayes_accuracy(transition):
    """Accuracy of the best possible next-state guess: ``sum_i pi_i max_j P_ij``.

    The Bayes rule guesses the most likely successor of today's state; no predictor
    that sees the past is right more often. For the i.i.d. uniform weather it is 1/3.
    """
    P = _check_transition(transition)
    return float(stationary_distribution(P) @ P.max(axis=1))


def markov_weather(n, transition=PERSISTENT_WEATHER, seed=0):
    """``n`` steps of a Markov chain: ``Pr(x_{t+1} = j | x_t = i) = P[i, j]``.

    The first state is drawn from the stationary distribution, so the whole
    sequence is stationary and its per-step cross-entropy floor is
    ``entropy_rate(P)``. Returns an int64 array of shape ``(n,)``.
    """
    n = check_int("n", n, minimum=0)
    P = _check_transition(transition)
    rng = _rng(seed)
    uniforms = rng.random(n)
    cumulative = np.cumsum(P, axis=1)
    cumulative[:, -1] = 1.0  # rounding must never leave a uniform above the last bin
    # successor[i, t]: the state at t if the state at t-1 was i (all i at once).
    successor = np.stack([np.searchsorted(row, uniforms, side="right") for row in cumulative])
    first = np.searchsorted(np.cumsum(stationary_distribution(P)), uniforms[:1], side="right")
    states = np.empty(n, dtype=np.int64)
    if n == 0:
        return states
    # The chain itself is sequential; only a table lookup is left inside the loop.
    state = min(int(first[0]), P.shape[0] - 1)
    table = successor.tolist()
    states[0] = state
    for t in range(1, n):
        state = table[state][t]
        states[t] = state
    return states


# ---------------------------------------------------------------------------
# delayed recall: a target that depends on the distant past


def delayed_recall(num_sequences, lag, length=None, num_symbols=3, rng=None, dtype=np.float32):
    """A batch of the delayed-recall task: "what was the weather ``lag`` days ago?".

    Each sequence ``s_1 .. s_T`` holds i.i.d. uniform symbols; the target is
    ``s_{T - lag}``, the symbol seen ``lag`` steps before the last one. By default
    ``T = lag + 1``, so the target is the first symbol and ``lag`` distractors follow.

    Pass the same ``np.random.Generator`` on every call to get fresh sequences each
    time (nothing can be memorised); an int seeds a new generator.

    Returns ``inputs`` one-hot, time-major, shape ``(T, N, num_symbols)`` and the
    ``dtype`` asked for, and ``targets`` int64 of shape ``(N,)``.
    """
    num_sequences = check_int("num_sequences", num_sequences, minimum=1)
    lag = check_int("lag", lag, minimum=0)
    length = lag + 1 if length is None else check_int("length", length, minimum=1)
    if lag >= length:
        raise ValueError(f"lag must be < length = {length}, got {lag}")
    num_symbols = check_int("num_symbols", num_symbols, minimum=2)
    symbols = _rng(rng).integers(0, num_symbols, size=(length, num_sequences))
    return one_hot(symbols, num_symbols, dtype), symbols[length - 1 - lag].copy()
