"""lstm_ref.data against direct loops, NumPy's global generator and closed forms."""

import math

import numpy as np
import pytest

from lstm_ref import data


# --- the published weather sequence -------------------------------------------


@pytest.mark.parametrize("seed, n", [(42, 500), (0, 1), (7, 0), (42, 20_000)])
def test_weather_sequence_is_the_global_seed_stream(seed, n):
    saved = np.random.get_state()
    try:
        np.random.seed(seed)
        expected = np.random.randint(0, 3, size=n)
    finally:
        np.random.set_state(saved)
    got = data.weather_sequence(n, seed=seed)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.int64 and got.shape == (n,)


def test_weather_sequence_leaves_the_global_state_alone():
    np.random.seed(123)
    before = np.random.random(3)
    np.random.seed(123)
    data.weather_sequence(1000, seed=42)
    after = np.random.random(3)
    np.testing.assert_array_equal(before, after)


def test_weather_sequence_default_seed_is_42():
    np.testing.assert_array_equal(data.weather_sequence(50), data.weather_sequence(50, seed=42))
    assert data.CLASS_NAMES == ("Sunny", "Rainy", "Cloudy")


@pytest.mark.parametrize("bad", [-1, 2.5, "10", None, True])
def test_weather_sequence_rejects_a_bad_length(bad):
    with pytest.raises(ValueError, match="n must be an integer >= 0"):
        data.weather_sequence(bad)


# --- windows ---------------------------------------------------------------------


def windows_by_loop(sequence, look_back):
    """The published code's loop, the oracle for make_windows."""
    xs, ys = [], []
    for i in range(len(sequence) - look_back):
        xs.append(sequence[i : i + look_back])
        ys.append(sequence[i + look_back])
    return np.array(xs).reshape(-1, look_back), np.array(ys)


@pytest.mark.parametrize("length, look_back", [(2, 1), (11, 10), (37, 1), (37, 5), (100, 99)])
def test_make_windows_matches_the_loop(length, look_back):
    sequence = np.random.default_rng(length).integers(0, 3, size=length)
    windows, targets = data.make_windows(sequence, look_back)
    expected_windows, expected_targets = windows_by_loop(sequence, look_back)
    assert windows.shape == (length - look_back, look_back)
    assert targets.shape == (length - look_back,)
    np.testing.assert_array_equal(windows, expected_windows)
    np.testing.assert_array_equal(targets, expected_targets)


def test_make_windows_returns_copies_that_cannot_change_the_sequence():
    sequence = data.weather_sequence(30)
    original = sequence.copy()
    windows, targets = data.make_windows(sequence, 4)
    assert not np.shares_memory(windows, sequence)
    assert not np.shares_memory(targets, sequence)
    windows[:] = 9
    targets[:] = 9
    np.testing.assert_array_equal(sequence, original)


def test_make_windows_handles_the_published_length():
    sequence = data.weather_sequence(500_000)
    windows, targets = data.make_windows(sequence, 10)
    assert windows.shape == (499_990, 10)
    # spot checks against the definition, first, middle and last window
    for i in (0, 250_000, 499_989):
        np.testing.assert_array_equal(windows[i], sequence[i : i + 10])
        assert targets[i] == sequence[i + 10]


@pytest.mark.parametrize(
    "look_back, message",
    [
        (0, "look_back must be an integer >= 1, got 0"),
        (10, r"look_back must be >= 1 and < len\(sequence\) = 10, got 10"),
        (2.0, "look_back must be an integer >= 1"),
    ],
)
def test_make_windows_rejects_a_bad_look_back(look_back, message):
    with pytest.raises(ValueError, match=message):
        data.make_windows(np.zeros(10, dtype=np.int64), look_back)


def test_make_windows_rejects_a_bad_sequence():
    with pytest.raises(ValueError, match=r"sequence must be 1-D with shape \(L,\), got shape \(2, 5\)"):
        data.make_windows(np.zeros((2, 5), dtype=np.int64), 2)
    with pytest.raises(ValueError, match="sequence must hold integer class indices, got dtype float64"):
        data.make_windows(np.zeros(10), 2)


# --- one-hot and layout ----------------------------------------------------------------


@pytest.mark.parametrize("shape", [(), (5,), (4, 3), (2, 3, 4)])
def test_one_hot_matches_a_loop(shape):
    indices = np.random.default_rng(0).integers(0, 3, size=shape)
    codes = data.one_hot(indices)
    assert codes.shape == shape + (3,)
    assert codes.dtype == np.float64
    expected = np.zeros(shape + (3,))
    for position in np.ndindex(*shape):
        expected[position + (indices[position],)] = 1.0
    np.testing.assert_array_equal(codes, expected)


def test_one_hot_other_sizes_and_dtypes():
    codes = data.one_hot(np.array([0, 4, 2]), num_classes=5, dtype=np.float32)
    assert codes.dtype == np.float32
    np.testing.assert_array_equal(codes.argmax(-1), [0, 4, 2])
    np.testing.assert_array_equal(codes.sum(-1), [1, 1, 1])


def test_one_hot_rejects_bad_input():
    with pytest.raises(ValueError, match=r"indices must hold class indices in \[0, 2\], got values in \[0, 3\]"):
        data.one_hot(np.array([0, 3]))
    with pytest.raises(ValueError, match=r"got values in \[-1, 1\]"):
        data.one_hot(np.array([-1, 1]))
    with pytest.raises(ValueError, match="indices must hold integer class indices"):
        data.one_hot(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="dtype must be a float dtype"):
        data.one_hot(np.array([0, 1]), dtype=np.int64)


def test_to_time_major_is_the_published_permute():
    batch = np.arange(2 * 5 * 3).reshape(2, 5, 3)
    moved = data.to_time_major(batch)
    assert moved.shape == (5, 2, 3)
    for n in range(2):
        for t in range(5):
            np.testing.assert_array_equal(moved[t, n], batch[n, t])
    assert moved.flags.c_contiguous and not np.shares_memory(moved, batch)
    with pytest.raises(ValueError, match=r"batch must have shape \(N, T, ...\), got shape \(4,\)"):
        data.to_time_major(np.zeros(4))


# --- the Markov weather chain -------------------------------------------------------------


def test_uniform_chain_has_the_ln3_floor_and_chance_accuracy():
    uniform = np.full((3, 3), 1 / 3)
    assert data.entropy_rate(uniform) == pytest.approx(math.log(3), rel=1e-12)
    assert data.bayes_accuracy(uniform) == pytest.approx(1 / 3, rel=1e-12)
    np.testing.assert_allclose(data.stationary_distribution(uniform), [1 / 3] * 3, rtol=1e-12)


@pytest.mark.parametrize("a, b", [(0.1, 0.3), (0.5, 0.5), (0.9, 0.05)])
def test_two_state_chain_matches_its_closed_form(a, b):
    P = np.array([[1 - a, a], [b, 1 - b]])
    pi = np.array([b, a]) / (a + b)

    def binary_entropy(p):
        return -(p * math.log(p) + (1 - p) * math.log(1 - p))

    np.testing.assert_allclose(data.stationary_distribution(P), pi, rtol=1e-12)
    expected_h = pi[0] * binary_entropy(a) + pi[1] * binary_entropy(b)
    assert data.entropy_rate(P) == pytest.approx(expected_h, rel=1e-12)
    expected_acc = pi[0] * max(a, 1 - a) + pi[1] * max(b, 1 - b)
    assert data.bayes_accuracy(P) == pytest.approx(expected_acc, rel=1e-12)


def test_deterministic_cycle_is_perfectly_predictable():
    cycle = np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=float)
    assert data.entropy_rate(cycle) == 0.0
    assert data.bayes_accuracy(cycle) == pytest.approx(1.0)
    states = data.markov_weather(100, cycle, seed=3)
    np.testing.assert_array_equal(states[1:], (states[:-1] + 1) % 3)


def test_markov_weather_has_the_asked_transition_frequencies():
    P = data.PERSISTENT_WEATHER
    states = data.markov_weather(200_000, P, seed=1)
    counts = np.zeros((3, 3))
    np.add.at(counts, (states[:-1], states[1:]), 1)
    frequencies = counts / counts.sum(axis=1, keepdims=True)
    # each row holds >= 40,000 transitions: a binomial standard error below 0.0025
    np.testing.assert_allclose(frequencies, P, atol=0.0125)
    occupancy = np.bincount(states, minlength=3) / len(states)
    np.testing.assert_allclose(occupancy, data.stationary_distribution(P), atol=0.02)


def test_markov_weather_is_seeded():
    one = data.markov_weather(500, seed=5)
    np.testing.assert_array_equal(one, data.markov_weather(500, seed=5))
    assert not np.array_equal(one, data.markov_weather(500, seed=6))
    assert one.dtype == np.int64 and set(np.unique(one)) <= {0, 1, 2}
    assert data.markov_weather(0).shape == (0,)


@pytest.mark.parametrize(
    "transition, message",
    [
        (np.ones((2, 3)) / 3, r"transition must have shape \(C, C\), got \(2, 3\)"),
        (np.array([[0.5, 0.6], [0.5, 0.5]]), "every row of transition must sum to 1"),
        (np.array([[1.5, -0.5], [0.5, 0.5]]), "transition must hold finite probabilities >= 0"),
        (np.array([[np.nan, 1.0], [0.5, 0.5]]), "transition must hold finite probabilities >= 0"),
    ],
)
def test_markov_functions_reject_a_bad_transition(transition, message):
    for function in (data.entropy_rate, data.bayes_accuracy, data.stationary_distribution):
        with pytest.raises(ValueError, match=message):
            function(transition)
    with pytest.raises(ValueError, match=message):
        data.markov_weather(10, transition)


# --- delayed recall ---------------------------------------------------------------


@pytest.mark.parametrize("lag, length", [(0, None), (5, None), (3, 10), (9, 10)])
def test_delayed_recall_target_is_the_symbol_lag_steps_before_the_end(lag, length):
    inputs, targets = data.delayed_recall(64, lag, length=length, rng=np.random.default_rng(0))
    T = lag + 1 if length is None else length
    assert inputs.shape == (T, 64, 3) and inputs.dtype == np.float32
    assert targets.shape == (64,) and targets.dtype == np.int64
    np.testing.assert_array_equal(inputs.sum(-1), np.ones((T, 64)))
    symbols = inputs.argmax(-1)
    for n in range(64):
        assert targets[n] == symbols[T - 1 - lag, n]


def test_delayed_recall_is_fresh_on_every_call_and_seeded():
    rng = np.random.default_rng(11)
    first, _ = data.delayed_recall(32, 4, rng=rng)
    second, _ = data.delayed_recall(32, 4, rng=rng)
    assert not np.array_equal(first, second)
    again, _ = data.delayed_recall(32, 4, rng=np.random.default_rng(11))
    np.testing.assert_array_equal(first, again)
    from_int, _ = data.delayed_recall(32, 4, rng=11)
    np.testing.assert_array_equal(first, from_int)


def test_delayed_recall_symbols_are_roughly_uniform():
    _, targets = data.delayed_recall(30_000, 2, num_symbols=4, rng=0)
    frequencies = np.bincount(targets, minlength=4) / len(targets)
    np.testing.assert_allclose(frequencies, 0.25, atol=0.015)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_sequences=0, lag=2), "num_sequences must be an integer >= 1, got 0"),
        (dict(num_sequences=4, lag=-1), "lag must be an integer >= 0, got -1"),
        (dict(num_sequences=4, lag=5, length=5), "lag must be < length = 5, got 5"),
        (dict(num_sequences=4, lag=1, num_symbols=1), "num_symbols must be an integer >= 2, got 1"),
    ],
)
def test_delayed_recall_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.delayed_recall(**kwargs)
