"""lstm_labs.scan: the parallel scan against the sequential recurrence, and the gated linear layer.

Oracles: the recurrence h_t = λ_t ⊙ h_{t-1} + β_t written as a NumPy loop in
float64, the closed form for a constant decay, central finite differences
(torch.autograd.gradcheck) for the scan's gradients, and the layer's equations
written out step by step.
"""

import json
import math

import numpy as np
import pytest
import torch

from lstm_labs import scan
from lstm_labs.scan import GatedLinearRecurrence, ScanClassifier, linear_recurrence_loop, linear_recurrence_scan

from test_labs import _check_figures, _run_cli

LENGTHS = [1, 2, 3, 4, 5, 7, 8, 9, 16, 33, 100]


def numpy_recurrence(decay, increment, h0):
    """h_t = λ_t * h_{t-1} + β_t, one step at a time, in NumPy float64."""
    h, states = np.array(h0, dtype=np.float64), []
    for decay_t, increment_t in zip(decay, increment):
        h = decay_t * h + increment_t
        states.append(h)
    return np.stack(states)


def _random_recurrence(T, N=3, H=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    a = torch.rand(T, N, H, generator=generator, dtype=torch.float64)
    b = torch.randn(T, N, H, generator=generator, dtype=torch.float64)
    h0 = torch.randn(N, H, generator=generator, dtype=torch.float64)
    return a, b, h0


@pytest.mark.parametrize("T", LENGTHS)
@pytest.mark.parametrize("recurrence", [linear_recurrence_loop, linear_recurrence_scan])
def test_both_ways_give_the_recurrence(recurrence, T):
    a, b, h0 = _random_recurrence(T, seed=T)
    expected = numpy_recurrence(a.numpy(), b.numpy(), h0.numpy())
    np.testing.assert_allclose(recurrence(a, b, h0).numpy(), expected, rtol=1e-12, atol=1e-14)
    # No h0: the recurrence starts from zeros.
    expected_from_zero = numpy_recurrence(a.numpy(), b.numpy(), np.zeros_like(h0.numpy()))
    np.testing.assert_allclose(recurrence(a, b).numpy(), expected_from_zero, rtol=1e-12, atol=1e-14)


def test_a_constant_decay_gives_the_closed_form():
    """With λ_t = α for all t: h_t = α^t h_0 + Σ_{s ≤ t} α^{t-s} β_s."""
    T, alpha = 37, 0.9
    _, b, h0 = _random_recurrence(T)
    a = torch.full_like(b, alpha)
    states = linear_recurrence_scan(a, b, h0)
    for t in (1, 2, 17, 37):
        expected = alpha ** t * h0 + sum(alpha ** (t - s) * b[s - 1] for s in range(1, t + 1))
        torch.testing.assert_close(states[t - 1], expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("T", [1, 2, 5, 8, 13])
def test_scan_gradients_match_central_differences(T):
    a, b, h0 = (tensor.requires_grad_() for tensor in _random_recurrence(T, N=2, H=3, seed=T))
    assert torch.autograd.gradcheck(linear_recurrence_scan, (a, b, h0), eps=1e-6, atol=1e-8)


def test_scan_and_loop_have_the_same_gradients():
    a, b, h0 = (tensor.requires_grad_() for tensor in _random_recurrence(50, seed=1))
    upstream = torch.randn(50, 3, 4, dtype=torch.float64)
    gradients = [torch.autograd.grad(recurrence(a, b, h0), (a, b, h0), upstream)
                 for recurrence in (linear_recurrence_loop, linear_recurrence_scan)]
    for loop_gradient, scan_gradient in zip(*gradients):
        torch.testing.assert_close(scan_gradient, loop_gradient, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("T, rounds", [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (64, 6), (65, 7), (4096, 12)])
def test_the_scan_takes_ceil_log2_T_rounds(T, rounds, monkeypatch):
    assert scan.scan_rounds(T) == rounds
    # Count the rounds the scan really does: each round concatenates two pieces of Q and of P.
    calls = []
    original = torch.cat
    monkeypatch.setattr(torch, "cat", lambda *args, **kwargs: calls.append(1) or original(*args, **kwargs))
    linear_recurrence_scan(torch.rand(T, 1, 1), torch.rand(T, 1, 1))
    assert len(calls) == 2 * rounds


def test_the_recurrence_rejects_mismatched_shapes():
    a, b, h0 = _random_recurrence(4)
    with pytest.raises(ValueError, match=r"decay and increment must have the same shape \(T, N, H\), got \(4, 3, 4\) and \(4, 3, 2\)"):
        linear_recurrence_scan(a, b[..., :2])
    with pytest.raises(ValueError, match=r"h0 must have shape \(N, H\) = \(3, 4\), got \(3, 5\)"):
        linear_recurrence_loop(a, b, torch.zeros(3, 5))
    with pytest.raises(ValueError, match="length must be an integer >= 1, got 0"):
        scan.scan_rounds(0)


# --- the gated linear recurrent layer ---------------------------------------------


def test_the_layer_computes_its_equations():
    torch.manual_seed(0)
    layer = GatedLinearRecurrence(3, 5).double()
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    h = torch.zeros(2, 5, dtype=torch.float64)
    expected = []
    for x_t in x:
        decay_t = torch.sigmoid(x_t @ layer.decay.weight.T + layer.decay.bias)
        u_t = torch.tanh(x_t @ layer.candidate.weight.T + layer.candidate.bias)
        h = decay_t * h + (1 - decay_t) * u_t
        expected.append(h)
    torch.testing.assert_close(layer(x), torch.stack(expected), rtol=1e-12, atol=1e-14)
    layer.scan = False
    torch.testing.assert_close(layer(x), torch.stack(expected), rtol=1e-12, atol=1e-14)


def test_decay_bias_sets_the_initial_decay():
    layer = GatedLinearRecurrence(3, 4, decay_bias=3.0)
    assert torch.all(layer.decay.bias == 3.0)
    # A zero input: every unit keeps sigma(3) of its state per step.
    decay = torch.sigmoid(layer.decay(torch.zeros(1, 3)))
    torch.testing.assert_close(decay, torch.full((1, 4), 1 / (1 + math.exp(-3.0))))


def test_the_classifier_reads_the_top_layer_at_the_last_step():
    torch.manual_seed(0)
    model = ScanClassifier(input_size=3, hidden_size=6, num_classes=3, num_layers=2)
    x = torch.randn(7, 4, 3)
    assert model(x).shape == (4, 3)
    top = model.layers[1](model.layers[0](x))
    torch.testing.assert_close(model(x), model.head(top[-1]))
    assert scan.use_loop(model) is model and not any(layer.scan for layer in model.layers)
    torch.testing.assert_close(model(x), model.head(top[-1]), rtol=1e-5, atol=1e-6)


def test_the_layer_rejects_bad_input():
    layer = GatedLinearRecurrence(3, 4)
    with pytest.raises(ValueError, match=r"x must have shape \(T, N, D\) with D = 3, got \(5, 2, 4\)"):
        layer(torch.zeros(5, 2, 4))
    with pytest.raises(ValueError, match="num_layers must be an integer >= 1, got 0"):
        ScanClassifier(num_layers=0)


# --- the race and the recall comparison ----------------------------------------------


def test_timing_runs_every_layer_on_every_length():
    timings = scan.time_layers([4, 16], batch=2, width=3, repeats=3)
    assert timings["lengths"] == [4, 16] and timings["threads"] == torch.get_num_threads()
    for key in ("wall_s", "cpu_s"):
        assert list(timings[key]) == list(scan.TIMED_LAYERS)
        assert all(len(per_length) == 2 and all(len(values) == 3 for values in per_length)
                   for per_length in timings[key].values())
    assert all(value > 0 for per_length in timings["wall_s"].values() for values in per_length for value in values)
    rows = scan.timing_table(timings)
    assert [row[0] for row in rows] == [4, 16]
    assert rows[1][3] == pytest.approx(np.median(timings["wall_s"]["linear, scan"][1]) * 1000)


def test_scan_command_writes_json_and_figures(tmp_path):
    result = _run_cli("scan", "--scale", "tiny", "--device", "cpu", "--out", str(tmp_path), "--no-progress")
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "scan.json").read_text(encoding="utf-8"))
    assert results["timings"]["lengths"] == [8, 32]
    assert [(run["model"], run["lag"]) for run in results["runs"]] == [(label, 3) for label in scan.RECALL_MODELS]
    lags, table = scan.recall_table(results["runs"])
    assert lags == [3] and table["LSTM b_f=3"] == [[results["runs"][0]["final"]["heldout_accuracy"]]]
    assert all(len(run["history"]["train_loss"]) == results["config"]["steps"] for run in results["runs"])
    compact = scan.compact_results(results)
    assert all("history" not in run for run in compact["runs"]) and compact["timings"] == results["timings"]
    assert compact["runs"][0]["final"]["heldout_accuracy"] == round(results["runs"][0]["final"]["heldout_accuracy"], 5)
    assert "Forward + backward, median wall time (ms)" in result.stdout
    _check_figures(tmp_path, ["scan_timings"])


def test_first_step_writing_compares_the_first_step_with_the_rest():
    torch.manual_seed(0)
    model = ScanClassifier(input_size=3, hidden_size=4, num_layers=2)
    x = torch.randn(6, 5, 3)
    ratios = scan.first_step_writing(model, x)
    assert len(ratios) == 2
    with torch.no_grad():
        writing = 1 - torch.sigmoid(model.layers[0].decay(x))
        assert ratios[0] == pytest.approx(float(writing[0].mean() / writing[1:].mean()))
        below = model.layers[0](x)
        writing = 1 - torch.sigmoid(model.layers[1].decay(below))
        assert ratios[1] == pytest.approx(float(writing[0].mean() / writing[1:].mean()))
    # The same input at every step: the first layer writes the same amount at every step.
    assert scan.first_step_writing(model, x[:1].expand(6, 5, 3))[0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"x must have shape \(T, N, D\) with T >= 2, got \(1, 5, 3\)"):
        scan.first_step_writing(model, x[:1])
