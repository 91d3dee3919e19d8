"""lstm_ref.params: PyTorch's initialisation, and conversion both ways checked by running both layers."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from lstm_ref import gru, lstm, params, rnn
from lstm_ref.gradcheck import rel_error
from lstm_ref.params import GRUParams, LSTMParams, RNNParams

INITS = {"rnn": (params.init_rnn, 1), "lstm": (params.init_lstm, 4), "gru": (params.init_gru, 3)}
TORCH_TOLERANCE = 1e-10


@pytest.mark.parametrize("kind", list(INITS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_init_shapes_dtypes_and_bounds(kind, dtype):
    init, gates = INITS[kind]
    D, H = 7, 16
    result = init(D, H, seed=0, dtype=dtype)
    k = 1 / math.sqrt(H)
    assert result.W_ih.shape == (gates * H, D) and result.W_hh.shape == (gates * H, H)
    for name, array in zip(result._fields, result):
        assert array.dtype == dtype, name
        # RNN and LSTM: b is the sum of two U(−k, k) draws, in (−2k, 2k).
        bound = 2 * k if name == "b" else k
        assert np.abs(array).max() <= bound, name
    assert (np.abs(result.W_ih) > 0.9 * k).any()  # the full range is used, not a smaller one


@pytest.mark.parametrize("kind", list(INITS))
def test_init_is_reproducible_from_its_seed(kind):
    init, _ = INITS[kind]
    first, again, other = init(3, 4, seed=5), init(3, 4, seed=5), init(3, 4, seed=6)
    for a, b, c in zip(first, again, other, strict=True):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


def test_bias_has_the_distribution_of_pytorchs_b_ih_plus_b_hh():
    """Var U(−k, k) = k²/3, so the sum of PyTorch's two biases has variance 2k²/3 and reaches past k."""
    D, H, layers = 1, 100, 25  # 25 layers of 4H = 400 biases: 10,000 draws on each side
    k = 1 / math.sqrt(H)
    ours = np.concatenate([params.init_lstm(D, H, seed=seed).b for seed in range(layers)])
    torch.manual_seed(0)
    theirs = np.concatenate(
        [
            (layer.bias_ih_l0 + layer.bias_hh_l0).detach().numpy()
            for layer in (torch.nn.LSTM(D, H, dtype=torch.float64) for _ in range(layers))
        ]
    )
    expected_variance = 2 * k**2 / 3
    # The sample variance of 10,000 draws has a relative standard error of about
    # sqrt(Var(b²)) / (√n Var b) ≈ 1.1%; 5% is over four standard errors. A single
    # U(−k, k), the tempting mistake, would have half the variance.
    for sample in (ours, theirs):
        assert abs(sample.var() / expected_variance - 1) < 0.05
        assert np.abs(sample).max() > 1.5 * k


def test_forget_bias_sets_the_f_block_only():
    H = 5
    plain = params.init_lstm(3, H, seed=1)
    with_bias = params.init_lstm(3, H, seed=1, forget_bias=1.0)
    b_i, b_f, b_g, b_o = lstm.split_gates(with_bias.b)
    np.testing.assert_array_equal(b_f, np.ones(H))
    for block, plain_block in zip([b_i, b_g, b_o], np.delete(lstm.split_gates(plain.b), 1, axis=0)):
        np.testing.assert_array_equal(block, plain_block)
    np.testing.assert_array_equal(with_bias.W_ih, plain.W_ih)
    np.testing.assert_array_equal(with_bias.W_hh, plain.W_hh)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: params.init_lstm(0, 4), "D must be a positive integer, got 0"),
        (lambda: params.init_rnn(3, -1), "H must be a positive integer, got -1"),
        (lambda: params.init_gru(3, 2.5), "H must be a positive integer, got 2.5"),
        (lambda: params.init_lstm(3, True), "H must be a positive integer, got True"),
        (lambda: params.init_lstm(3, 4, dtype=np.int64), "dtype must be float32 or float64, got int64"),
        (lambda: params.init_rnn(3, 4, dtype=np.float16), "dtype must be float32 or float64, got float16"),
        (lambda: params.init_lstm(3, 4, forget_bias=math.nan), "forget_bias must be finite, got nan"),
        (lambda: params.init_lstm(3, 4, forget_bias="1"), "forget_bias must be a number or None, got '1'"),
    ],
)
def test_init_rejects_bad_arguments(call, message):
    with pytest.raises(ValueError) as error:
        call()
    assert str(error.value) == message


def run_both(layer, converted, seed=0):
    """Run the torch layer and lstm_ref on the same float64 sequence; return both outputs and input gradients."""
    T, N = 4, 3
    D, H = layer.input_size, layer.hidden_size
    rng = np.random.default_rng(seed)
    x, h0, c0 = rng.standard_normal((T, N, D)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    dhs = rng.standard_normal((T, N, H))
    x_t = torch.tensor(x, requires_grad=True)
    if isinstance(layer, torch.nn.LSTM):
        hs_ref, _ = layer(x_t, (torch.tensor(h0)[None], torch.tensor(c0)[None]))
        hs, _, cache = lstm.lstm_forward(x, h0, c0, *converted)
        dx = lstm.lstm_backward(dhs, cache)[0]
    elif isinstance(layer, torch.nn.GRU):
        hs_ref, _ = layer(x_t, torch.tensor(h0)[None])
        hs, cache = gru.gru_forward(x, h0, *converted)
        dx = gru.gru_backward(dhs, cache)[0]
    else:
        hs_ref, _ = layer(x_t, torch.tensor(h0)[None])
        hs, cache = rnn.rnn_forward(x, h0, *converted)
        dx = rnn.rnn_backward(dhs, cache)[0]
    (hs_ref * torch.tensor(dhs)).sum().backward()
    return (hs, hs_ref.detach().numpy()), (dx, x_t.grad.numpy())


LAYERS = {
    "rnn": lambda: torch.nn.RNN(3, 5, dtype=torch.float64),
    "lstm": lambda: torch.nn.LSTM(3, 5, dtype=torch.float64),
    "gru": lambda: torch.nn.GRU(3, 5, dtype=torch.float64),
}


@pytest.mark.parametrize("kind", list(LAYERS))
def test_params_from_torch_computes_what_the_layer_computes(kind):
    torch.manual_seed(1)
    layer = LAYERS[kind]()
    converted = params.params_from_torch(layer)
    assert type(converted) is {"rnn": RNNParams, "lstm": LSTMParams, "gru": GRUParams}[kind]
    (hs, hs_ref), (dx, dx_ref) = run_both(layer, converted)
    assert rel_error(hs, hs_ref) < TORCH_TOLERANCE
    assert rel_error(dx, dx_ref) < TORCH_TOLERANCE
    if kind != "gru":
        np.testing.assert_array_equal(converted.b, (layer.bias_ih_l0 + layer.bias_hh_l0).detach().numpy())


@pytest.mark.parametrize("kind", list(INITS))
def test_params_to_torch_computes_what_lstm_ref_computes(kind):
    init, _ = INITS[kind]
    ours = init(3, 5, seed=2)
    layer = params.params_to_torch(ours)
    assert layer.weight_ih_l0.dtype == torch.float64
    (hs, hs_ref), (dx, dx_ref) = run_both(layer, ours)
    assert rel_error(hs, hs_ref) < TORCH_TOLERANCE
    assert rel_error(dx, dx_ref) < TORCH_TOLERANCE
    if kind != "gru":
        assert not layer.bias_hh_l0.detach().numpy().any()


@pytest.mark.parametrize("kind", list(INITS))
def test_round_trip_is_exact(kind):
    init, _ = INITS[kind]
    for dtype in (np.float64, np.float32):
        ours = init(4, 6, seed=3, dtype=dtype)
        back = params.params_from_torch(params.params_to_torch(ours))
        assert type(back) is type(ours)
        for a, b in zip(ours, back, strict=True):
            assert b.dtype == dtype
            np.testing.assert_array_equal(a, b)


def test_dtype_argument_of_params_to_torch():
    ours = params.init_lstm(3, 4, seed=4)
    assert params.params_to_torch(ours, dtype=torch.float32).weight_hh_l0.dtype == torch.float32
    assert params.params_to_torch(ours, dtype=np.float32).weight_hh_l0.dtype == torch.float32
    ours32 = params.init_lstm(3, 4, seed=4, dtype=np.float32)
    assert params.params_to_torch(ours32).weight_hh_l0.dtype == torch.float32
    with pytest.raises(ValueError, match="dtype must be float32 or float64, got int64"):
        params.params_to_torch(ours, dtype=np.int64)


def test_a_float32_layer_gives_float32_arrays():
    layer = torch.nn.LSTM(3, 4)
    assert all(array.dtype == np.float32 for array in params.params_from_torch(layer))


def test_a_layer_without_bias_gives_zero_biases():
    layer = torch.nn.GRU(3, 4, bias=False, dtype=torch.float64)
    converted = params.params_from_torch(layer)
    assert not converted.b_ih.any() and not converted.b_hh.any()
    assert converted.b_ih.shape == (12,)


@pytest.mark.parametrize(
    "layer, message",
    [
        (lambda: torch.nn.LSTM(3, 4, num_layers=2), "layer must have a single layer, num_layers=1, got num_layers=2"),
        (lambda: torch.nn.GRU(3, 4, bidirectional=True), "layer must be unidirectional, bidirectional=False, got bidirectional=True"),
        (lambda: torch.nn.RNN(3, 4, batch_first=True), "layer must be time-major, batch_first=False (lstm_ref's x is (T, N, D)), got batch_first=True"),
        (lambda: torch.nn.RNN(3, 4, nonlinearity="relu"), "layer must be an nn.RNN with nonlinearity='tanh', got 'relu'"),
        (lambda: torch.nn.LSTM(3, 4, proj_size=2), "layer must have no projection, proj_size=0, got proj_size=2"),
        (lambda: torch.nn.Linear(3, 4), "layer must be a torch.nn.RNN, nn.LSTM or nn.GRU, got Linear"),
        (lambda: torch.nn.LSTM(3, 4, dtype=torch.float16), "layer parameters must be float32 or float64, got torch.float16"),
    ],
)
def test_params_from_torch_rejects_what_lstm_ref_cannot_compute(layer, message):
    with pytest.raises(ValueError) as error:
        params.params_from_torch(layer())
    assert str(error.value) == message


def test_params_to_torch_rejects_a_plain_tuple_and_bad_shapes():
    ours = params.init_lstm(3, 4, seed=5)
    with pytest.raises(ValueError, match="^params must be an RNNParams, LSTMParams or GRUParams, got tuple$"):
        params.params_to_torch(tuple(ours))
    with pytest.raises(ValueError) as error:
        params.params_to_torch(ours._replace(b=ours.b[:-1]))
    assert str(error.value) == "b must have shape (4H,) = (16,), got (15,)"
    with pytest.raises(ValueError) as error:
        params.params_to_torch(RNNParams(*params.init_rnn(3, 4)[:2], np.full(4, np.nan)))
    assert str(error.value).startswith("b must be finite, got nan at index (0,)")


def test_conversions_copy_and_leave_their_inputs_alone():
    ours = params.init_lstm(3, 4, seed=6)
    before = [a.copy() for a in ours]
    layer = params.params_to_torch(ours)
    for a, b in zip(ours, before, strict=True):
        np.testing.assert_array_equal(a, b)
    layer_before = {name: p.detach().clone() for name, p in layer.named_parameters()}
    converted = params.params_from_torch(layer)
    converted.W_ih[:] = 0  # a copy: the layer must not see this
    for name, p in layer.named_parameters():
        assert torch.equal(p, layer_before[name]), name
    layer.weight_hh_l0.data.zero_()  # and the arrays we gave must not see this
    np.testing.assert_array_equal(ours.W_hh, before[1])


def test_params_to_torch_does_not_move_torchs_random_stream():
    ours = params.init_gru(3, 4, seed=7)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    params.params_to_torch(ours)
    assert torch.equal(torch.rand(3), expected)


def test_importing_the_numpy_modules_does_not_import_torch_or_matplotlib():
    probe = (
        "import sys, lstm_ref, lstm_ref.params, lstm_ref.diagnostics, lstm_ref.gradcheck; "
        "print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
