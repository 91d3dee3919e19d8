"""lstm_labs: models against plain torch layers, seeded training, the command line.

Oracles: torch.nn layers called directly with explicit zero states, PyTorch
autograd for the gradient ratio, and the JSON/PNG formats themselves.
"""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import ROOT
from lstm_labs import (
    GRUClassifier,
    LSTMClassifier,
    RNNClassifier,
    choose_device,
    evaluate,
    make_classifier,
    seed_everything,
    train_full_batch,
    train_on_stream,
)
from lstm_labs import __main__ as cli
from lstm_labs import training
from lstm_labs.weather import PUBLISHED_RESULTS, published_label_check

CLASSIFIERS = [LSTMClassifier, RNNClassifier, GRUClassifier]


# --- models ---------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSIFIERS)
@pytest.mark.parametrize("T, N, D, H, C, layers", [(1, 1, 1, 1, 2, 1), (7, 5, 3, 10, 3, 1), (4, 2, 6, 8, 5, 2)])
def test_classifier_shapes(cls, T, N, D, H, C, layers):
    model = cls(input_size=D, hidden_size=H, num_classes=C, num_layers=layers)
    logits = model(torch.randn(T, N, D))
    assert logits.shape == (N, C)
    assert model.recurrent.batch_first is False
    assert model.recurrent.num_layers == layers and model.recurrent.hidden_size == H


@pytest.mark.parametrize("cls", CLASSIFIERS)
def test_classifier_reads_the_last_step_from_zero_states(cls):
    torch.manual_seed(0)
    model = cls(input_size=3, hidden_size=6, num_layers=2)
    x = torch.randn(9, 4, 3)
    zeros = torch.zeros(2, 4, 6)
    state = (zeros, zeros) if cls is LSTMClassifier else zeros
    outputs, _ = model.recurrent(x, state)
    expected = outputs[-1] @ model.head.weight.T + model.head.bias
    torch.testing.assert_close(model(x), expected, rtol=0, atol=0)


def test_forget_bias_sets_only_the_forget_gate():
    H = 10
    torch.manual_seed(3)
    default = LSTMClassifier(hidden_size=H, num_layers=2)
    torch.manual_seed(3)
    biased = LSTMClassifier(hidden_size=H, num_layers=2, forget_bias=3.0)
    for layer in range(2):
        b_default = getattr(default.recurrent, f"bias_ih_l{layer}") + getattr(default.recurrent, f"bias_hh_l{layer}")
        b_biased = getattr(biased.recurrent, f"bias_ih_l{layer}") + getattr(biased.recurrent, f"bias_hh_l{layer}")
        torch.testing.assert_close(b_biased[H:2 * H], torch.full((H,), 3.0))
        for gate in (slice(0, H), slice(2 * H, 4 * H)):  # i, then g and o: untouched
            torch.testing.assert_close(b_biased[gate], b_default[gate])
    torch.testing.assert_close(biased.recurrent.weight_hh_l0, default.recurrent.weight_hh_l0)


def test_classifier_rejects_bad_arguments():
    with pytest.raises(ValueError, match="forget_bias applies to the LSTM only, got it for GRU"):
        make_classifier("GRU", forget_bias=1.0)
    with pytest.raises(ValueError, match=r"cell must be one of \['GRU', 'LSTM', 'RNN'\], got 'TCN'"):
        make_classifier("TCN")
    with pytest.raises(ValueError, match="hidden_size must be an integer >= 1, got 0"):
        LSTMClassifier(hidden_size=0)
    with pytest.raises(ValueError, match=r"x must have shape \(T, N, D\) with D = 3, got \(5, 3\)"):
        LSTMClassifier()(torch.zeros(5, 3))


# --- devices ---------------------------------------------------------------------


def test_auto_device_follows_what_is_available(monkeypatch, capsys):
    monkeypatch.setattr(training, "_ANNOUNCED", set())
    device = choose_device("auto")
    if torch.cuda.is_available():
        assert device.type == "cuda"
    elif torch.backends.mps.is_available():
        assert device.type == "mps"
    else:
        assert device.type == "cpu"
    choose_device("auto")
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 1 and printed[0].startswith(f"Device: {device.type} (")


def test_model_and_data_live_on_the_chosen_device():
    device = choose_device("auto", announce=False)
    assert choose_device(device, announce=False) == device  # a chosen device passes through
    model = LSTMClassifier().to(device)
    x, y = training.as_tensors(np.zeros((4, 2, 3), dtype=np.float32), np.array([0, 2]), device)
    assert x.device.type == y.device.type == device.type
    assert all(p.device.type == device.type for p in model.parameters())
    assert model(x).device.type == device.type and y.dtype == torch.long


def test_an_unavailable_or_unknown_device_is_a_clear_error():
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu', 'cuda' or 'mps', got 'tpu'"):
        choose_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device 'cuda' was asked for but is not available here"):
            choose_device("cuda")


# --- training ------------------------------------------------------------------------


def _weather_tensors(seed, n=60):
    rng = np.random.default_rng(seed)
    x = np.eye(3, dtype=np.float32)[rng.integers(0, 3, size=(5, n))]
    return training.as_tensors(x, rng.integers(0, 3, size=n), "cpu")


def _train(seed, clip_norm=None):
    seed_everything(seed)
    model = RNNClassifier(hidden_size=4)
    return train_full_batch(model, _weather_tensors(1), _weather_tensors(2), epochs=12, lr=0.01,
                            clip_norm=clip_norm, eval_every=5, show_progress=False)


def test_training_is_deterministic_given_a_seed():
    first, again, other = _train(7), _train(7), _train(8)
    assert first == again
    assert first["train_loss"] != other["train_loss"]


def test_full_batch_history_has_one_entry_per_epoch():
    history = _train(0)
    assert len(history["train_loss"]) == len(history["grad_norm"]) == 12
    assert history["heldout_epoch"] == [5, 10, 12]
    assert len(history["heldout_loss"]) == len(history["heldout_accuracy"]) == 3
    assert all(0.0 <= a <= 1.0 for a in history["heldout_accuracy"])
    # an untrained 3-class model starts near the uniform prediction, ln 3
    assert abs(history["train_loss"][0] - math.log(3)) < 0.2


def test_first_loss_is_the_cross_entropy_before_any_step():
    seed_everything(5)
    model = LSTMClassifier(hidden_size=4)
    x, y = _weather_tensors(1)
    with torch.no_grad():
        expected = torch.nn.functional.cross_entropy(model(x), y).item()
    history = train_full_batch(model, (x, y), epochs=2, show_progress=False)
    assert history["train_loss"][0] == pytest.approx(expected, rel=1e-6)


def test_clipping_bounds_the_gradient_and_reports_it_unclipped():
    seed_everything(0)
    model = LSTMClassifier(hidden_size=4)
    x, y = _weather_tensors(1)
    model.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    unclipped = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters())).item()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # no move: the gradient stays to be read
    _, reported, (angle, changed) = training._step(model, optimizer, x, y, clipping=(unclipped / 10, None, True))
    clipped = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters())).item()
    assert float(reported) == pytest.approx(unclipped, rel=1e-5)
    assert clipped == pytest.approx(unclipped / 10, rel=1e-4)
    assert changed and angle < 1e-3  # norm clipping keeps the direction


def test_value_clipping_caps_every_entry_and_turns_the_gradient_by_less_than_90_degrees():
    seed_everything(0)
    model = LSTMClassifier(hidden_size=4)
    x, y = _weather_tensors(1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    _, reported, _ = training._step(model, optimizer, x, y, clipping=(None, None, False))
    unclipped = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    c = float(unclipped.abs().max()) / 3
    _, reported_clipped, (angle, changed) = training._step(model, optimizer, x, y, clipping=(None, c, True))
    received = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    assert torch.equal(received, unclipped.clamp(-c, c))
    assert float(reported_clipped) == pytest.approx(float(unclipped.norm()), rel=1e-5)  # the norm before clipping
    expected = math.degrees(math.acos(float(received.double() @ unclipped.double())
                                      / float(received.double().norm() * unclipped.double().norm())))
    assert changed and 0 < angle < 90 and angle == pytest.approx(expected, abs=1e-4)


def _plain_minibatch_loop(model, train, heldout, epochs, batch_size, lr, clip_norm, seed, patience):
    """Minibatch Adam with early stopping, written out: the oracle for train_minibatches."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    inputs, targets = train
    losses, best_loss, best_epoch = [], math.inf, 0
    for epoch in range(1, epochs + 1):
        for batch in torch.randperm(len(targets), generator=order).split(batch_size):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(inputs[:, batch]), targets[batch])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
            optimizer.step()
        losses.append(evaluate(model, *heldout)[0])
        if losses[-1] < best_loss:
            best_loss, best_epoch = losses[-1], epoch
        elif epoch - best_epoch >= patience:
            break
    return losses, best_epoch


def test_minibatch_training_with_early_stopping_is_the_plain_loop():
    train, heldout = _weather_tensors(3, n=40), _weather_tensors(4, n=40)
    settings = dict(epochs=30, batch_size=16, lr=0.05, clip_norm=1.0, seed=3)
    seed_everything(1)
    expected, best_epoch = _plain_minibatch_loop(RNNClassifier(hidden_size=8), train, heldout, patience=2,
                                                 **settings)
    seed_everything(1)
    model = RNNClassifier(hidden_size=8)
    history = training.train_minibatches(model, train, heldout, patience=2, restore_best=True,
                                         show_progress=False, **settings)
    assert history["heldout_loss"] == expected
    assert len(expected) < 30  # it did stop early
    assert history["heldout_epoch"] == list(range(1, len(expected) + 1))
    assert len(history["train_loss"]) == 3 * len(expected)  # ceil(40 / 16) steps per epoch
    assert history["best_epoch"] == best_epoch
    # restored: the model now has the weights of the best epoch
    assert evaluate(model, *heldout)[0] == pytest.approx(min(expected), abs=1e-7)


def test_stream_training_sees_a_fresh_batch_each_step():
    seed_everything(0)
    calls = []

    def next_batch():
        calls.append(1)
        return _weather_tensors(len(calls), n=8)

    history = train_on_stream(RNNClassifier(hidden_size=4), next_batch, _weather_tensors(99), steps=7,
                              eval_every=3, show_progress=False)
    assert len(calls) == 7 and len(history["train_loss"]) == 7
    assert history["heldout_step"] == [3, 6, 7]


@pytest.mark.parametrize("argument, value, expected", [
    ("epochs", 0, "an integer >= 1"), ("lr", -1.0, "a finite number > 0"), ("clip_norm", 0.0, "a finite number > 0"),
])
def test_training_rejects_bad_settings(argument, value, expected):
    with pytest.raises(ValueError, match=f"{argument} must be {expected}, got {value}"):
        train_full_batch(RNNClassifier(), _weather_tensors(0), **{argument: value, "show_progress": False})


# --- the published table ------------------------------------------------------------


def test_published_labels_disagree_with_their_scores_in_four_rows():
    rows = published_label_check()
    assert len(rows) == len(PUBLISHED_RESULTS) == 6
    # argmax by hand of the printed scores, classes 0 Sunny, 1 Rainy, 2 Cloudy
    assert [row["argmax_label"] for row in rows] == ["Cloudy", "Cloudy", "Rainy", "Rainy", "Cloudy", "Rainy"]
    assert sum(not row["agrees"] for row in rows) == 4
    for row in rows:
        assert sum(row["softmax"]) == pytest.approx(1.0)


# --- gradient ratio at initialisation: lstm_ref's backward against autograd ------


@pytest.mark.parametrize("cell, forget_bias", [("RNN", None), ("LSTM", None), ("LSTM", 3.0), ("GRU", None)])
def test_gradient_ratio_through_lstm_ref_matches_autograd(cell, forget_bias):
    from lstm_ref import data
    from lstm_labs.recall import gradient_ratios

    seed_everything(4)
    model = make_classifier(cell, forget_bias=forget_bias, hidden_size=5).double()
    length = 9
    ratios = gradient_ratios(model, length, num_sequences=6, rng=2)
    x, targets = data.delayed_recall(6, length - 1, rng=2, dtype=np.float64)
    x = torch.tensor(x, requires_grad=True)
    torch.nn.functional.cross_entropy(model(x), torch.tensor(targets)).backward()
    norms = x.grad.reshape(length, -1).norm(dim=1).numpy()
    expected = norms[::-1] / norms[-1]
    np.testing.assert_allclose(ratios, expected, rtol=1e-10)
    assert ratios[0] == 1.0


# --- the command line ---------------------------------------------------------------


def _run_cli(*arguments):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "lstm_labs", *arguments], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)


def _check_figures(folder, stems):
    for stem in stems:
        png = (folder / f"{stem}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n"), stem
        svg = (folder / f"{stem}.svg").read_text(encoding="utf-8")
        assert "<svg" in svg, stem


def test_weather_command_writes_json_and_figures(tmp_path):
    result = _run_cli("weather", "--scale", "tiny", "--device", "cpu", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "it/s" not in result.stderr  # no bar off a terminal
    results = json.loads((tmp_path / "weather.json").read_text(encoding="utf-8"))
    assert results["config"]["sizes"] == [200, 400] and results["config"]["epochs"] == 12
    assert results["provenance"]["device"] == "cpu"
    assert results["provenance"]["torch_version"] == torch.__version__
    assert results["provenance"]["wall_time_s"] > 0
    assert {(run["size"], run["model"]) for run in results["grid"]} == {
        (200, "LSTM"), (200, "RNN"), (400, "LSTM"), (400, "RNN")}
    run = results["grid"][0]
    assert len(run["history"]["train_loss"]) == 12 and run["seed"] == 42
    assert set(run["final"]) >= {"train_loss", "heldout_loss", "train_accuracy", "heldout_accuracy"}
    assert run["prediction"]["label"] in ("Sunny", "Rainy", "Cloudy")
    assert results["markov"]["entropy_rate"] < math.log(3)
    _check_figures(tmp_path, ["weather_loss_history", "weather_train_vs_heldout", "weather_markov"])


def test_recall_command_writes_json_and_figures(tmp_path):
    result = _run_cli("recall", "--scale", "tiny", "--lags", "3", "--models", "rnn", "lstm-bf3",
                      "--out", str(tmp_path), "--no-progress")
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "recall.json").read_text(encoding="utf-8"))
    assert [(run["model"], run["lag"]) for run in results["runs"]] == [("RNN", 3), ("LSTM b_f=3", 3)]
    assert len(results["runs"][0]["history"]["train_loss"]) == results["config"]["steps"] == 20
    curves = results["ratios"]["curves"]
    assert set(curves) == {"RNN", "LSTM b_f=3"}
    assert all(row[0] == 1.0 and len(row) == results["ratios"]["length"] for row in curves["RNN"])
    _check_figures(tmp_path, ["recall_accuracy", "recall_gradient_ratio"])


def test_a_bad_option_is_one_line_and_exit_status_2():
    result = _run_cli("weather", "--scale", "huge")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "argument --scale: invalid choice: 'huge'" in lines[0]


@pytest.mark.parametrize(
    "arguments, message",
    [
        ([], "the following arguments are required: {weather,recall,variants,initialisation,regularisation,seq2seq,scan}"),
        (["weather", "--epochs", "-3"], "argument --epochs: must be an integer >= 1, got '-3'"),
        (["weather", "--lr", "fast"], "argument --lr: must be a number > 0, got 'fast'"),
        (["recall", "--lags", "0"], "argument --lags: must be an integer >= 1, got '0'"),
        (["recall", "--models", "transformer"], "argument --models: invalid choice: 'transformer'"),
        (["recall", "--clip-norm", "-1"], "argument --clip-norm: must be a number > 0 or 'none', got '-1'"),
        (["weather", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_bad_options_get_a_clear_message(arguments, message, capsys):
    with pytest.raises(SystemExit) as stopped:
        cli.main(arguments)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_bad_value_found_by_the_lab_is_one_line_and_exit_status_2(capsys):
    # 600,000 training values do not fit in the 500,000-value stream
    assert cli.main(["weather", "--scale", "tiny", "--sizes", "600000", "--no-markov"]) == 2
    err = capsys.readouterr().err
    assert "error: sizes must be > look_back = 10" in err and len(err.strip().splitlines()) == 1


def test_help_explains_every_option(capsys):
    for command in ("weather", "recall", "seq2seq", "scan"):
        with pytest.raises(SystemExit) as stopped:
            cli.main([command, "--help"])
        assert stopped.value.code == 0
        text = capsys.readouterr().out
        parser = cli.build_parser()
        subparser = parser._subparsers._group_actions[0].choices[command]
        for action in subparser._actions:
            assert action.help, f"{command} {action.option_strings} has no help"
            for option in action.option_strings:
                assert option in text


def test_compact_results_keeps_finals_and_chosen_histories():
    from lstm_labs.weather import compact_results

    def run(seed):
        history = {"train_loss": [1.123456789], "grad_norm": [0.5], "heldout_epoch": [1],
                   "heldout_loss": [1.2], "heldout_accuracy": [0.3]}
        return {"model": "LSTM", "size": 100, "seed": seed, "history": history,
                "final": {"train_loss": 1.0000049}, "prediction": {"label": "Sunny"}}

    markov = {"entropy_rate": 0.9, "runs": [{"model": "RNN", "history": {"train_loss": [1.0]}, "final": {}}]}
    results = {"config": {"lr": 0.01}, "grid": [run(42), run(43)], "markov": markov}
    compact = compact_results(results, history_seeds=(42,), digits=5)
    first, second = compact["grid"]
    assert first["history"] == {"train_loss": [1.12346], "heldout_epoch": [1], "heldout_loss": [1.2],
                                "heldout_accuracy": [0.3]}
    assert "history" not in second and second["final"] == {"train_loss": 1.0}
    assert "history" not in compact["markov"]["runs"][0]
    assert results["grid"][1]["history"]["train_loss"] == [1.123456789]  # the input is left alone


def test_recall_compact_results_drops_histories_and_keeps_ratio_medians():
    from lstm_labs.recall import compact_results

    results = {"config": {}, "runs": [{"model": "RNN", "lag": 5, "seed": 0, "history": {"train_loss": [1.0]},
                                       "final": {"heldout_accuracy": 0.123456789}}],
               "ratios": {"length": 3, "seeds": [0, 1, 2],
                          "curves": {"RNN": [[1.0, 0.5, 0.1], [1.0, 0.25, 0.2], [1.0, 0.125, 0.3]]}}}
    compact = compact_results(results)
    assert compact["runs"] == [{"model": "RNN", "lag": 5, "seed": 0, "final": {"heldout_accuracy": 0.12346}}]
    assert compact["ratios"] == {"length": 3, "seeds": [0, 1, 2], "median": {"RNN": [1.0, 0.25, 0.2]}}


@pytest.mark.parametrize("name, scales", [("weather_full", "weather"), ("recall_full", "recall"),
                                          ("seq2seq_full", "seq2seq"), ("scan_full", "scan")])
def test_stored_full_runs_match_the_full_scale(name, scales):
    """The full-scale results the chapters read were made with today's full-scale settings."""
    from dataclasses import asdict

    from lstm_labs import recall, scan, seq2seq, stored_run, weather

    stored = stored_run(name)
    modules = {"weather": weather, "recall": recall, "seq2seq": seq2seq, "scan": scan}
    expected = asdict(modules[scales].SCALES["full"])
    config = stored["config"]
    assert config["scale"] == "full"
    for key, value in expected.items():
        assert config[key] == (list(value) if isinstance(value, tuple) else value), key
    assert stored["provenance"]["torch_version"].startswith(torch.__version__.split("+")[0])


def test_stored_run_names_the_runs_it_has():
    from lstm_labs import stored_run

    with pytest.raises(ValueError, match=r"name must be one of \[.*'recall_full'.*'weather_full'.*\], got 'weather'"):
        stored_run("weather")


def test_an_unwritable_out_folder_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert cli.main(["weather", "--scale", "tiny", "--out", str(blocker / "results")]) == 2
    err = capsys.readouterr().err
    assert f"error: cannot write to --out {blocker / 'results'}" in err and len(err.strip().splitlines()) == 1
