"""The labs of chapters 11 to 13: the ablation, initialisation and regularisation runs and their commands.

Oracles: lstm_ref.params for the initial weights, the JSON and PNG/SVG formats, and
the full-scale settings for the runs kept beside the chapters. The models themselves
are tested in test_variants.py and test_regularisation.py.
"""

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch

from lstm_labs import ablation, initialisation, regularisation, stored_run
from lstm_ref import params
from test_labs import _check_figures, _run_cli


def test_variants_command_writes_json_and_figures(tmp_path):
    result = _run_cli("variants", "--scale", "tiny", "--variants", "LSTM", "NFG", "--out", str(tmp_path),
                      "--no-progress")
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "variants.json").read_text(encoding="utf-8"))
    assert {(run["task"], run["variant"]) for run in results["runs"]} == {
        (task, variant) for task in ("recall", "language") for variant in ("LSTM", "NFG")}
    language = [run for run in results["runs"] if run["task"] == "language"][0]["final"]
    assert language["excess_loss"] == pytest.approx(language["heldout_loss"] - language["floor"])
    compact = json.loads((tmp_path / "variants_compact.json").read_text(encoding="utf-8"))
    assert all("curve" not in run for run in compact["runs"])
    _check_figures(tmp_path, ["variants"])
    assert "| NFG | NFG |" in result.stdout


def test_initialisation_command_writes_json_and_figures(tmp_path):
    result = _run_cli("initialisation", "--scale", "tiny", "--initialisations", "uniform", "chrono",
                      "--out", str(tmp_path), "--no-progress")
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "initialisation.json").read_text(encoding="utf-8"))
    assert [run["initialisation"] for run in results["runs"]] == ["uniform", "chrono"]
    for cell in ("RNN", "LSTM"):
        for rows in results["ratios"][cell].values():
            assert all(row[0] == 1.0 and len(row) == results["config"]["lag"] + 1 for row in rows)
    _check_figures(tmp_path, ["initialisation_learning", "initialisation_ratios_rnn", "initialisation_ratios_lstm"])


def test_regularisation_command_writes_json_and_figures(tmp_path):
    result = _run_cli("regularisation", "--scale", "tiny", "--regularisers", "none", "zoneout",
                      "--out", str(tmp_path), "--no-progress")
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "regularisation.json").read_text(encoding="utf-8"))
    assert [run["regulariser"] for run in results["runs"]] == ["none", "zoneout"]
    assert results["runs"][1]["rate"] == 0.15
    _check_figures(tmp_path, ["regularisation"])


def test_initialisations_differ_only_in_the_recurrent_weights_and_the_gate_biases():
    results = initialisation.run_initialisation("tiny", device="cpu", show_progress=False)
    assert {run["initialisation"] for run in results["runs"]} == set(initialisation.INITIALISATIONS)
    D, H, T_max = 3, 5, 21
    uniform = initialisation.lstm_parameters("uniform", D, H, seed=3, T_max=T_max)
    for label in initialisation.INITIALISATIONS:
        W_ih, W_hh, b = initialisation.lstm_parameters(label, D, H, seed=3, T_max=T_max)
        np.testing.assert_array_equal(W_ih, uniform.W_ih)
        np.testing.assert_array_equal(b[2 * H:], uniform.b[2 * H:])  # the candidate's and output gate's
    chrono = initialisation.lstm_parameters("chrono", D, H, seed=3, T_max=T_max)
    np.testing.assert_array_equal(chrono.b[:H], -chrono.b[H:2 * H])
    np.testing.assert_array_equal(initialisation.lstm_parameters("identity", D, H, 3, T_max).W_hh,
                                  np.tile(np.eye(H), (4, 1)))
    np.testing.assert_array_equal(params.init_lstm(D, H, seed=3, forget_bias=1.0).b,
                                  initialisation.lstm_parameters("b_f = 1", D, H, 3, T_max).b)


def test_ratio_curves_start_at_one_and_the_identity_rnn_loses_only_through_tanh():
    curves = initialisation.ratio_curves("RNN", ["uniform", "identity"], hidden_size=8, length=12, seeds=(0, 1))
    for rows in curves.values():
        assert rows.shape == (2, 12) and np.all(rows[:, 0] == 1.0)
    # With W_hh = I the step's Jacobian is diag(1 − h_t²), entries in (0, 1]: the ratio never grows.
    assert np.all(np.diff(curves["identity"], axis=1) <= 1e-12)
    assert np.all(curves["identity"][:, 5] > curves["uniform"][:, 5])


def test_ablation_rows_report_diverged_runs():
    runs = [{"task": "recall", "variant": "LSTM", "seed": s, "final": {"heldout_accuracy": value}}
            for s, value in enumerate([0.5, None, 1.0])]
    header, rows = ablation.ablation_rows(runs)
    assert header == ["variant", "Greff et al.", "recall: held-out accuracy"]
    assert rows == [["LSTM", "NP", "0.750 (0.500–1.000), 1 diverged"]]


@pytest.mark.parametrize("name, module", [("variants_full", ablation), ("initialisation_full", initialisation),
                                          ("regularisation_full", regularisation)])
def test_stored_full_runs_match_the_full_scale(name, module):
    """The full-scale results kept beside chapters 11 to 13 were made with today's full-scale settings."""
    stored = stored_run(name)
    config = stored["config"]
    assert config["scale"] == "full"
    for key, value in asdict(module.SCALES["full"]).items():
        if key == "rates":
            assert config[key] == dict(value)
        else:
            assert config[key] == (list(value) if isinstance(value, tuple) else value), key
    assert stored["provenance"]["torch_version"].startswith(torch.__version__.split("+")[0])
    assert all("curve" not in run for run in stored["runs"])
