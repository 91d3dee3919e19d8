"""lstm_ref.params: PyTorch's initialisation, in its layout, with its distribution."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from lstm_ref import lstm, params

INITS = {"rnn": (params.init_rnn, 1), "lstm": (params.init_lstm, 4), "gru": (params.init_gru, 3)}


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
        (lambda: params.init_lstm(0, 4), "D must be an integer >= 1, got 0"),
        (lambda: params.init_rnn(3, -1), "H must be an integer >= 1, got -1"),
        (lambda: params.init_gru(3, 2.5), "H must be an integer >= 1, got 2.5"),
        (lambda: params.init_lstm(3, True), "H must be an integer >= 1, got True"),
        (lambda: params.init_lstm(3, 4, dtype=np.int64), "dtype must be float32 or float64, got int64"),
        (lambda: params.init_rnn(3, 4, dtype=np.float16), "dtype must be float32 or float64, got float16"),
        (lambda: params.init_lstm(3, 4, forget_bias=math.nan), "forget_bias must be a finite number, got nan"),
        (lambda: params.init_lstm(3, 4, forget_bias="1"), "forget_bias must be a finite number, got '1'"),
    ],
)
def test_init_rejects_bad_arguments(call, message):
    with pytest.raises(ValueError) as error:
        call()
    assert str(error.value) == message


def test_importing_the_numpy_modules_does_not_import_torch_or_matplotlib():
    probe = (
        "import sys, lstm_ref, lstm_ref.params, lstm_ref.diagnostics, lstm_ref.gradcheck; "
        "print('torch' in sys.modules, 'matplotlib' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


# --- orthogonal and identity recurrent weights, chrono biases -------------------------------------


def test_orthogonal_matrices_have_unit_singular_values_and_are_haar_distributed():
    n = 6
    for seed in range(3):
        Q = params.orthogonal(n, seed=seed)
        np.testing.assert_allclose(Q.T @ Q, np.eye(n), atol=1e-12)
        np.testing.assert_allclose(np.linalg.svd(Q, compute_uv=False), np.ones(n), atol=1e-12)
    # Uniform over the orthogonal group: every entry has mean 0 and E[Q_jk²] = 1/n, for every j, k
    # (without the sign fix, QR's Q has a positive-leaning first column). 4,000 draws: a few standard errors.
    draws = np.stack([params.orthogonal(n, seed=seed) for seed in range(4000)])
    assert np.abs(draws.mean(axis=0)).max() < 0.03
    np.testing.assert_allclose((draws**2).mean(axis=0), np.full((n, n), 1 / n), atol=0.02)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
@pytest.mark.parametrize("scheme", ["orthogonal", "identity"])
def test_recurrent_schemes_replace_each_block_and_nothing_else(kind, scheme):
    init, gates = INITS[kind]
    D, H = 3, 5
    default, chosen = init(D, H, seed=4), init(D, H, seed=4, recurrent=scheme)
    np.testing.assert_array_equal(chosen.W_ih, default.W_ih)
    np.testing.assert_array_equal(chosen.b, default.b)
    blocks = lstm.split_gates(chosen.W_hh, num_gates=gates) if gates > 1 else [chosen.W_hh]
    for block in blocks:
        if scheme == "identity":
            np.testing.assert_array_equal(block, np.eye(H))
        else:
            np.testing.assert_allclose(block.T @ block, np.eye(H), atol=1e-12)
    if scheme == "orthogonal" and gates > 1:
        assert not np.allclose(blocks[0], blocks[1])  # every block drawn on its own


def test_chrono_biases_follow_tallec_and_ollivier():
    H, T_max = 20000, 50
    b_i, b_f = params.chrono_biases(H, T_max, seed=0)
    np.testing.assert_array_equal(b_i, -b_f)
    # b_f = log(u) with u ~ U(1, T_max − 1): e^{b_f} is uniform on (1, 49), mean 25, variance 48²/12.
    u = np.exp(b_f)
    assert u.min() >= 1 and u.max() <= T_max - 1
    assert abs(u.mean() - 25) < 0.3 and abs(u.var() - 48**2 / 12) < 5
    lstm_params = params.init_lstm(3, 8, seed=1, chrono=T_max)
    b_i, b_f = lstm.split_gates(lstm_params.b)[:2]
    np.testing.assert_array_equal(b_i, -b_f)
    assert np.all((b_f >= 0) & (b_f <= np.log(T_max - 1)))
    np.testing.assert_array_equal(lstm_params.W_hh, params.init_lstm(3, 8, seed=1).W_hh)


@pytest.mark.parametrize("call, message", [
    (lambda: params.init_lstm(3, 4, recurrent="eye"), "recurrent must be one of"),
    (lambda: params.init_lstm(3, 4, forget_bias=1.0, chrono=10), "choose one"),
    (lambda: params.chrono_biases(4, 2), "T_max must be a finite number > 2, got 2"),
    (lambda: params.orthogonal(0), "n must be an integer >= 1, got 0"),
])
def test_bad_initialisation_settings_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
