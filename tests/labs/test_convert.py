"""lstm_labs.convert: lstm_ref's parameters to and from torch.nn layers, checked by running both."""

import numpy as np
import pytest
import torch

from lstm_labs import convert
from lstm_ref import gru, lstm, params, rnn
from lstm_ref.gradcheck import rel_error
from lstm_ref.params import GRUParams, LSTMParams, RNNParams

INITS = {"rnn": (params.init_rnn, 1), "lstm": (params.init_lstm, 4), "gru": (params.init_gru, 3)}
TORCH_TOLERANCE = 1e-10


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
    converted = convert.params_from_torch(layer)
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
    layer = convert.params_to_torch(ours)
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
        back = convert.params_from_torch(convert.params_to_torch(ours))
        assert type(back) is type(ours)
        for a, b in zip(ours, back, strict=True):
            assert b.dtype == dtype
            np.testing.assert_array_equal(a, b)


def test_dtype_argument_of_params_to_torch():
    ours = params.init_lstm(3, 4, seed=4)
    assert convert.params_to_torch(ours, dtype=torch.float32).weight_hh_l0.dtype == torch.float32
    assert convert.params_to_torch(ours, dtype=np.float32).weight_hh_l0.dtype == torch.float32
    ours32 = params.init_lstm(3, 4, seed=4, dtype=np.float32)
    assert convert.params_to_torch(ours32).weight_hh_l0.dtype == torch.float32
    with pytest.raises(ValueError, match="dtype must be float32 or float64, got int64"):
        convert.params_to_torch(ours, dtype=np.int64)


def test_a_float32_layer_gives_float32_arrays():
    layer = torch.nn.LSTM(3, 4)
    assert all(array.dtype == np.float32 for array in convert.params_from_torch(layer))


def test_a_layer_without_bias_gives_zero_biases():
    layer = torch.nn.GRU(3, 4, bias=False, dtype=torch.float64)
    converted = convert.params_from_torch(layer)
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
        convert.params_from_torch(layer())
    assert str(error.value) == message


def test_params_to_torch_rejects_a_plain_tuple_and_bad_shapes():
    ours = params.init_lstm(3, 4, seed=5)
    with pytest.raises(ValueError, match="^params must be an RNNParams, LSTMParams or GRUParams, got tuple$"):
        convert.params_to_torch(tuple(ours))
    with pytest.raises(ValueError) as error:
        convert.params_to_torch(ours._replace(b=ours.b[:-1]))
    assert str(error.value) == "b must have shape (4H,) = (16,), got (15,)"
    with pytest.raises(ValueError) as error:
        convert.params_to_torch(RNNParams(*params.init_rnn(3, 4)[:2], np.full(4, np.nan)))
    assert str(error.value).startswith("b must be finite, got nan at index (0,)")


def test_conversions_copy_and_leave_their_inputs_alone():
    ours = params.init_lstm(3, 4, seed=6)
    before = [a.copy() for a in ours]
    layer = convert.params_to_torch(ours)
    for a, b in zip(ours, before, strict=True):
        np.testing.assert_array_equal(a, b)
    layer_before = {name: p.detach().clone() for name, p in layer.named_parameters()}
    converted = convert.params_from_torch(layer)
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
    convert.params_to_torch(ours)
    assert torch.equal(torch.rand(3), expected)
