"""Bad input raises ValueError in the book's notation, and no function writes to its arguments.

The expected messages are written here by hand from the rule in DESIGN.md: the
argument's name, the shape expected (symbols, then numbers) and the shape got.
Sizes throughout: T = 3, N = 2, D = 4, H = 5.
"""

import numpy as np
import pytest

from lstm_ref import _checks, diagnostics, gru, lstm, rnn
from lstm_ref.gradcheck import rel_error

T, N, D, H = 3, 2, 4, 5


def arrays(**shapes):
    """Standard-normal float64 arrays of the given shapes, from a fixed seed."""
    rng = np.random.default_rng(0)
    return {name: 0.5 * rng.standard_normal(shape) for name, shape in shapes.items()}


def rnn_step_args():
    return arrays(x=(N, D), h_prev=(N, H), W_ih=(H, D), W_hh=(H, H), b=(H,))


def rnn_args():
    return arrays(x=(T, N, D), h0=(N, H), W_ih=(H, D), W_hh=(H, H), b=(H,))


def lstm_step_args():
    return arrays(x=(N, D), h_prev=(N, H), c_prev=(N, H), W_ih=(4 * H, D), W_hh=(4 * H, H), b=(4 * H,))


def lstm_args():
    return arrays(x=(T, N, D), h0=(N, H), c0=(N, H), W_ih=(4 * H, D), W_hh=(4 * H, H), b=(4 * H,))


def gru_step_args():
    return arrays(x=(N, D), h_prev=(N, H), W_ih=(3 * H, D), W_hh=(3 * H, H), b_ih=(3 * H,), b_hh=(3 * H,))


def gru_args():
    return arrays(x=(T, N, D), h0=(N, H), W_ih=(3 * H, D), W_hh=(3 * H, H), b_ih=(3 * H,), b_hh=(3 * H,))


FORWARDS = {
    "rnn_step_forward": (rnn.rnn_step_forward, rnn_step_args),
    "rnn_forward": (rnn.rnn_forward, rnn_args),
    "lstm_step_forward": (lstm.lstm_step_forward, lstm_step_args),
    "lstm_forward": (lstm.lstm_forward, lstm_args),
    "gru_step_forward": (gru.gru_step_forward, gru_step_args),
    "gru_forward": (gru.gru_forward, gru_args),
}

# (forward, argument, bad shape, the message expected)
SHAPE_CASES = [
    ("lstm_forward", "x", (N, D), "x must have shape (T, N, D) = (T, N, 4), got (2, 4)"),
    ("lstm_forward", "x", (T, N, D + 1), "x must have shape (T, N, D) = (3, 2, 4), got (3, 2, 5)"),
    ("lstm_forward", "h0", (N + 1, H), "h0 must have shape (N, H) = (2, 5), got (3, 5)"),
    ("lstm_forward", "h0", (N, H), None),  # control: the right shape passes
    ("lstm_forward", "c0", (N, H - 1), "c0 must have shape (N, H) = (2, 5), got (2, 4)"),
    ("lstm_forward", "c0", (1, N, H), "c0 must have shape (N, H) = (2, 5), got (1, 2, 5)"),
    ("lstm_forward", "W_ih", (4 * H, D + 1), "x must have shape (T, N, D) = (3, 2, 5), got (3, 2, 4)"),
    ("lstm_forward", "W_ih", (4 * H + 1, D), "W_ih must have shape (4H, D) = (20, 4), got (21, 4)"),
    ("lstm_forward", "W_hh", (4 * H, H - 1), "W_hh must have shape (4H, H) = (20, 5), got (20, 4)"),
    ("lstm_forward", "W_hh", (H, 4 * H), "W_hh must have shape (4H, H) = (80, 20), got (5, 20)"),
    ("lstm_forward", "b", (4 * H + 1,), "b must have shape (4H,) = (20,), got (21,)"),
    ("lstm_forward", "b", (1, 4 * H), "b must have shape (4H,) = (20,), got (1, 20)"),
    ("lstm_forward", "x", (0, N, D), "x must have shape (T, N, D) = (T, 2, 4) with every size at least 1, got (0, 2, 4)"),
    ("lstm_step_forward", "x", (T, N, D), "x must have shape (N, D) = (N, 4), got (3, 2, 4)"),
    ("lstm_step_forward", "h_prev", (N, H + 1), "h_prev must have shape (N, H) = (2, 5), got (2, 6)"),
    ("lstm_step_forward", "c_prev", (N + 1, H), "c_prev must have shape (N, H) = (2, 5), got (3, 5)"),
    ("rnn_forward", "W_hh", (H, H + 1), "W_hh must have shape (H, H) = (5, 5), got (5, 6)"),
    ("rnn_forward", "W_ih", (H + 1, D), "W_ih must have shape (H, D) = (5, 4), got (6, 4)"),
    ("rnn_forward", "b", (4 * H,), "b must have shape (H,) = (5,), got (20,)"),
    ("rnn_forward", "h0", (N, H + 1), "h0 must have shape (N, H) = (2, 5), got (2, 6)"),
    ("rnn_step_forward", "x", (N, D + 1), "x must have shape (N, D) = (2, 4), got (2, 5)"),
    ("gru_forward", "W_hh", (4 * H, H), "W_hh must have shape (3H, H) = (15, 5), got (20, 5)"),
    ("gru_forward", "b_ih", (3 * H + 3,), "b_ih must have shape (3H,) = (15,), got (18,)"),
    ("gru_forward", "b_hh", (H,), "b_hh must have shape (3H,) = (15,), got (5,)"),
    ("gru_forward", "x", (T, N), "x must have shape (T, N, D) = (T, N, 4), got (3, 2)"),
    ("gru_step_forward", "h_prev", (N + 1, H), "h_prev must have shape (N, H) = (2, 5), got (3, 5)"),
]


@pytest.mark.parametrize("forward_name, argument, bad_shape, message", SHAPE_CASES)
def test_a_wrong_shape_is_named_with_both_shapes(forward_name, argument, bad_shape, message):
    forward, make_args = FORWARDS[forward_name]
    args = make_args()
    args[argument] = np.zeros(bad_shape)
    if message is None:
        forward(**args)
        return
    with pytest.raises(ValueError) as error:
        forward(**args)
    assert str(error.value) == message


@pytest.mark.parametrize("forward_name", list(FORWARDS))
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_, np.complex128, np.float16, object])
def test_a_non_float_dtype_is_rejected_for_every_argument(forward_name, dtype):
    forward, make_args = FORWARDS[forward_name]
    for argument in make_args():
        args = make_args()
        args[argument] = args[argument].astype(dtype)
        with pytest.raises(ValueError) as error:
            forward(**args)
        expected = f"{argument} must hold float32 or float64 numbers, got dtype {np.dtype(dtype)}"
        assert str(error.value) == expected


@pytest.mark.parametrize("forward_name", list(FORWARDS))
@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_any_argument_is_rejected(forward_name, bad_value):
    forward, make_args = FORWARDS[forward_name]
    for argument in make_args():
        args = make_args()
        index = (0,) * (args[argument].ndim - 1) + (1,)
        args[argument][index] = bad_value
        with pytest.raises(ValueError) as error:
            forward(**args)
        assert str(error.value).startswith(f"{argument} must be finite, got {bad_value} at index {index}")


def test_mixed_dtypes_compute_in_the_dtype_of_x():
    args = lstm_args()
    args["x"] = args["x"].astype(np.float32)
    hs, cs, cache = lstm.lstm_forward(**args)
    assert hs.dtype == cs.dtype == cache.steps[0].W_hh.dtype == np.float32
    grads = lstm.lstm_backward(np.ones((T, N, H)), cache)  # float64 upstream, float32 cache
    assert all(grad.dtype == np.float32 for grad in grads)

    args = lstm_args()
    args["W_hh"] = args["W_hh"].astype(np.float32)
    hs, cs, cache = lstm.lstm_forward(**args)
    assert hs.dtype == np.float64


# Backward: (forward, backward, call(backward, upstream..., cache), the upstream arguments and shapes)
BACKWARDS = {
    "rnn_step_backward": (rnn.rnn_step_forward, rnn_step_args, rnn.rnn_step_backward, {"dh": (N, H)}),
    "rnn_backward": (rnn.rnn_forward, rnn_args, rnn.rnn_backward, {"dhs": (T, N, H)}),
    "lstm_step_backward": (
        lstm.lstm_step_forward,
        lstm_step_args,
        lstm.lstm_step_backward,
        {"dh": (N, H), "dc": (N, H)},
    ),
    "lstm_backward": (lstm.lstm_forward, lstm_args, lstm.lstm_backward, {"dhs": (T, N, H), "dcT": (N, H)}),
    "gru_step_backward": (gru.gru_step_forward, gru_step_args, gru.gru_step_backward, {"dh": (N, H)}),
    "gru_backward": (gru.gru_forward, gru_args, gru.gru_backward, {"dhs": (T, N, H)}),
}


def run_backward(name, **changes):
    forward, make_args, backward, upstream_shapes = BACKWARDS[name]
    *_, cache = forward(**make_args())
    upstream = {arg: np.ones(shape) for arg, shape in upstream_shapes.items()}
    upstream["cache"] = cache
    upstream.update(changes)
    return backward(**upstream)


@pytest.mark.parametrize("name", list(BACKWARDS))
def test_backward_names_a_wrong_upstream_shape(name):
    *_, upstream_shapes = BACKWARDS[name]
    for argument, shape in upstream_shapes.items():
        bad_shape = shape[:-1] + (shape[-1] + 1,)
        with pytest.raises(ValueError) as error:
            run_backward(name, **{argument: np.ones(bad_shape)})
        symbols = "(T, N, H)" if len(shape) == 3 else "(N, H)"
        assert str(error.value) == f"{argument} must have shape {symbols} = {shape}, got {bad_shape}"


@pytest.mark.parametrize("name", list(BACKWARDS))
def test_backward_rejects_integers_and_nan_upstream(name):
    *_, upstream_shapes = BACKWARDS[name]
    argument, shape = next(iter(upstream_shapes.items()))
    with pytest.raises(ValueError, match=f"^{argument} must hold float32 or float64 numbers, got dtype int64"):
        run_backward(name, **{argument: np.ones(shape, dtype=np.int64)})
    bad = np.ones(shape)
    bad[(0,) * len(shape)] = np.nan
    with pytest.raises(ValueError, match=f"^{argument} must be finite, got nan at index"):
        run_backward(name, **{argument: bad})


@pytest.mark.parametrize(
    "backward, wrong_cache, message",
    [
        (rnn.rnn_backward, lambda: rnn.rnn_step_forward(**rnn_step_args())[-1],
         "cache must be the RNNCache returned by rnn_forward, got RNNStepCache"),
        (lstm.lstm_backward, lambda: lstm.lstm_step_forward(**lstm_step_args())[-1],
         "cache must be the LSTMCache returned by lstm_forward, got LSTMStepCache"),
        (lstm.lstm_step_backward, lambda: tuple(lstm.lstm_step_forward(**lstm_step_args())[-1]),
         "cache must be the LSTMStepCache returned by lstm_step_forward, got tuple"),
        (gru.gru_backward, lambda: rnn.rnn_forward(**rnn_args())[-1],
         "cache must be the GRUCache returned by gru_forward, got RNNCache"),
    ],
)
def test_backward_names_a_wrong_cache(backward, wrong_cache, message):
    upstream = {"lstm_step_backward": (np.ones((N, H)), np.ones((N, H)))}.get(
        backward.__name__, (np.ones((T, N, H)),)
    )
    with pytest.raises(ValueError) as error:
        backward(*upstream, wrong_cache())
    assert str(error.value) == message


# ---- No function writes to an array it was given ------------------------------------


def assert_unchanged(before, after):
    """Every array in two nested structures of arrays, tuples and dicts is equal."""
    if isinstance(before, np.ndarray):
        np.testing.assert_array_equal(after, before)
    elif isinstance(before, dict):
        for key in before:
            assert_unchanged(before[key], after[key])
    elif isinstance(before, tuple):
        for item_before, item_after in zip(before, after, strict=True):
            assert_unchanged(item_before, item_after)


def snapshot(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {key: snapshot(item) for key, item in value.items()}
    if isinstance(value, tuple):
        return tuple(snapshot(item) for item in value)
    return value


@pytest.mark.parametrize("forward_name", list(FORWARDS))
def test_forward_does_not_write_to_its_arguments(forward_name):
    forward, make_args = FORWARDS[forward_name]
    args = make_args()
    before = snapshot(args)
    forward(**args)
    assert_unchanged(before, args)


@pytest.mark.parametrize("name", list(BACKWARDS))
def test_backward_does_not_write_to_its_upstream_or_its_cache(name):
    forward, make_args, backward, upstream_shapes = BACKWARDS[name]
    *_, cache = forward(**make_args())
    rng = np.random.default_rng(1)
    upstream = {arg: rng.standard_normal(shape) for arg, shape in upstream_shapes.items()}
    before = snapshot((upstream, tuple(cache)))
    first = backward(**upstream, cache=cache)
    assert_unchanged(before, (upstream, tuple(cache)))
    # And so a second call gives the same gradients.
    second = backward(**upstream, cache=cache)
    assert_unchanged(first, second)


def test_the_other_public_functions_do_not_write_to_their_arguments():
    _, rnn_cache = rnn.rnn_forward(**rnn_args())
    _, gru_cache = gru.gru_forward(**gru_args())
    _, _, lstm_step_cache = lstm.lstm_step_forward(**lstm_step_args())
    dhs = np.random.default_rng(2).standard_normal((T, N, H))
    a, b = np.ones(5), np.arange(5.0)
    W_ih = lstm_args()["W_ih"]
    everything = (tuple(rnn_cache), tuple(gru_cache), tuple(lstm_step_cache), dhs, a, b, W_ih)
    before = snapshot(everything)
    rel_error(a, b)
    lstm.split_gates(W_ih)
    diagnostics.rnn_jacobians(rnn_cache)
    diagnostics.gru_jacobians(gru_cache)
    diagnostics.lstm_state_jacobian(diagnostics.lstm_jacobians(lstm_step_cache))
    diagnostics.hidden_gradients(dhs, rnn_cache)
    diagnostics.hidden_gradients(dhs, gru_cache)
    diagnostics.step_norms(dhs)
    assert_unchanged(before, everything)


# ---- Integer and real arguments: one check each, everywhere --------------------------


@pytest.mark.parametrize("value", [0, -1, 2.0, True, "3", None])
def test_check_int_rejects_what_is_not_an_integer_of_at_least_the_minimum(value):
    with pytest.raises(ValueError) as error:
        _checks.check_int("look_back", value, minimum=1)
    assert str(error.value) == f"look_back must be an integer >= 1, got {value!r}"


@pytest.mark.parametrize("value", [np.nan, np.inf, "1", True, None])
def test_check_number_rejects_what_is_not_a_finite_number(value):
    with pytest.raises(ValueError) as error:
        _checks.check_number("forget_bias", value)
    assert str(error.value) == f"forget_bias must be a finite number, got {value!r}"
    with pytest.raises(ValueError, match="^lr must be a finite number > 0, got 0$"):
        _checks.check_number("lr", 0, above=0)


def test_check_int_and_check_number_return_plain_python_numbers():
    assert _checks.check_int("n", np.int64(3)) == 3 and type(_checks.check_int("n", np.int64(3))) is int
    assert _checks.check_number("lr", np.float32(0.5), above=0) == 0.5
    assert type(_checks.check_number("lr", 1, above=0)) is float


# ---- Named settings: one of a fixed set ----------------------------------------------------

SCALES = {"full": 2, "book": 1}


@pytest.mark.parametrize("value", ["ful", "Book", None, ["book"], 1])
def test_check_choice_names_the_setting_the_choices_and_the_value(value):
    with pytest.raises(ValueError) as error:
        _checks.check_choice("scale", value, SCALES)
    assert str(error.value) == f"scale must be one of ['book', 'full'], got {value!r}"


def test_check_choices_names_only_the_unknown_values():
    with pytest.raises(ValueError) as error:
        _checks.check_choices("models", ["LSTM", "TCN", ["GRU"], "RNN"], ("RNN", "LSTM", "GRU"))
    assert str(error.value) == "models must be among ['GRU', 'LSTM', 'RNN'], got ['TCN', ['GRU']]"


def test_check_choice_and_check_choices_return_what_they_accept():
    assert _checks.check_choice("scale", "book", SCALES) == "book"
    assert _checks.check_choices("models", (name for name in ["GRU", "RNN"]), ("RNN", "GRU")) == ("GRU", "RNN")
    assert _checks.check_choices("models", [], ("RNN",)) == ()
