"""lstm_labs.seq2seq: the reversal task, the encoder-decoder, its attention and its masking.

Oracles: a plain Python reversal of every sequence, the additive score and the
softmax written out position by position, the invariance that masking promises
(changing what sits in the padding changes nothing), and a batch small enough
for a model to learn by heart.
"""

import json
import math

import numpy as np
import pytest
import torch

from lstm_labs import seq2seq
from lstm_labs.seq2seq import BOS, EOS, FIRST_SYMBOL, IGNORE, PAD, Seq2Seq
from lstm_labs.training import train_on_stream

from test_labs import _check_figures, _run_cli


def _model(attention=True, recurrent_encoder=True, num_symbols=4, seed=0):
    torch.manual_seed(seed)
    return Seq2Seq(FIRST_SYMBOL + num_symbols, embedding_size=5, hidden_size=7, attention=attention,
                   attention_size=6, recurrent_encoder=recurrent_encoder).double()


def _batch(num_sequences=6, min_length=1, max_length=5, seed=0, heldout=False):
    return seq2seq.reversal_batch(num_sequences, min_length, max_length, num_symbols=4, rng=seed, heldout=heldout)


# --- the task ---------------------------------------------------------------------


def test_target_is_the_source_reversed_then_the_end_token():
    source, lengths, target = _batch(num_sequences=50, min_length=1, max_length=6)
    assert source.shape == (6, 50) and lengths.shape == (50,) and target.shape == (7, 50)
    assert lengths.min() >= 1 and lengths.max() <= 6
    for n in range(50):
        symbols = [int(token) for token in source[:, n] if token != PAD]
        assert len(symbols) == lengths[n] and all(FIRST_SYMBOL <= s < FIRST_SYMBOL + 4 for s in symbols)
        assert list(source[len(symbols):, n]) == [PAD] * (6 - len(symbols))
        expected = symbols[::-1] + [EOS] + [PAD] * (6 - len(symbols))
        assert list(target[:, n]) == expected


def test_training_and_heldout_sequences_come_from_disjoint_parts():
    train = _batch(num_sequences=400, max_length=6, seed=1)
    heldout = _batch(num_sequences=400, max_length=6, seed=2, heldout=True)
    as_text = lambda batch: {tuple(batch[0][: batch[1][n], n]) for n in range(batch[0].shape[1])}
    assert not as_text(train) & as_text(heldout)
    # The held-out part is about a fifth of the sequences: of fresh draws, about 1 in 5 fall in it.
    rng = np.random.default_rng(3)
    symbols, lengths = rng.integers(0, 4, size=(6, 5000)), rng.integers(1, 7, size=5000)
    assert 0.17 < seq2seq.is_heldout(symbols, lengths).mean() < 0.23


def test_teacher_forcing_shifts_the_target_and_ignores_padding():
    arrays = _batch()
    (source, lengths, decoder_input), loss_target = seq2seq.teacher_forcing(*arrays)
    target = torch.as_tensor(arrays[2])
    assert torch.equal(decoder_input[0], torch.full_like(target[0], BOS))
    assert torch.equal(decoder_input[1:], target[:-1])
    assert loss_target.shape == (target.shape[1], target.shape[0])
    assert torch.equal(loss_target == IGNORE, (target == PAD).T)
    assert torch.equal(loss_target[target.T != PAD], target.T[target.T != PAD])


def test_the_task_rejects_bad_sizes():
    with pytest.raises(ValueError, match="max_length must be an integer >= 4, got 3"):
        seq2seq.reversal_batch(2, 4, 3)
    with pytest.raises(ValueError, match="num_symbols must be an integer >= 2"):
        seq2seq.reversal_batch(2, 1, 3, num_symbols=1)


# --- the model --------------------------------------------------------------------


@pytest.mark.parametrize("attention", [False, True])
def test_shapes_of_training_logits_and_greedy_decoding(attention):
    model = _model(attention)
    (source, lengths, decoder_input), _ = seq2seq.teacher_forcing(*_batch())
    logits = model((source, lengths, decoder_input))
    assert logits.shape == (6, FIRST_SYMBOL + 4, 6)  # (N, V, T): cross_entropy's layout
    tokens, weights = model.greedy(source, lengths, steps=6)
    assert tokens.shape == (6, 6)
    assert (weights is None) == (not attention)
    if attention:
        assert weights.shape == (6, 5, 6)  # (steps, S, N)


def test_additive_attention_is_the_written_out_score_and_softmax():
    torch.manual_seed(1)
    attention = seq2seq.AdditiveAttention(3, 4, 5).double()
    query, states = torch.randn(2, 3, dtype=torch.float64), torch.randn(4, 2, 4, dtype=torch.float64)
    lengths = [4, 2]
    mask = torch.arange(4)[:, None] < torch.tensor(lengths)[None, :]
    context, weights = attention(query, attention.keys(states), states, mask)
    W_q, W_k, b_k, v = (attention.query.weight.detach(), attention.key.weight.detach(),
                        attention.key.bias.detach(), attention.score.weight[0].detach())
    for n, length in enumerate(lengths):
        scores = [float(v @ torch.tanh(W_q @ query[n] + W_k @ states[s, n] + b_k)) for s in range(length)]
        expected = np.exp(np.array(scores) - max(scores))
        expected /= expected.sum()
        np.testing.assert_allclose(weights[:length, n].detach().numpy(), expected, rtol=1e-12)
        assert torch.all(weights[length:, n] == 0)
        expected_context = sum(expected[s] * states[s, n] for s in range(length))
        np.testing.assert_allclose(context[n].detach().numpy(), expected_context.detach().numpy(), rtol=1e-12)


def test_attention_weights_sum_to_one_over_the_real_positions_only():
    model = _model()
    source, lengths, _ = (torch.as_tensor(a) for a in _batch(num_sequences=20, max_length=7, seed=4))
    _, weights = model.greedy(source, lengths, steps=8)
    real = torch.arange(7)[None, :, None] < lengths[None, None, :]
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(8, 20, dtype=torch.float64), rtol=0, atol=1e-12)
    assert torch.all(weights[~real.expand_as(weights)] == 0)


@pytest.mark.parametrize("attention", [False, True])
def test_what_sits_in_the_padding_changes_nothing(attention):
    """Masking: the encoder is packed and attention skips padding, so padding's content is never read."""
    model = _model(attention)
    arrays = _batch(num_sequences=8, max_length=6, seed=5)
    (source, lengths, decoder_input), _ = seq2seq.teacher_forcing(*arrays)
    padding = torch.arange(6)[:, None] >= lengths[None, :]
    assert padding.any()
    scrambled = source.masked_scatter(padding, torch.randint(FIRST_SYMBOL, FIRST_SYMBOL + 4, source.shape))
    longer = torch.cat([scrambled, torch.full((3, 8), FIRST_SYMBOL)])  # three more steps of padding
    reference = model((source, lengths, decoder_input))
    torch.testing.assert_close(model((longer, lengths, decoder_input)), reference, rtol=0, atol=1e-12)


def test_without_encoder_recurrence_attention_cannot_see_the_order():
    """The order-blind model gives a sequence and any permutation of it the same outputs."""
    model = _model(recurrent_encoder=False)
    source = torch.tensor([[3, 4, 5, 6, 4]]).T
    permuted = torch.tensor([[6, 4, 4, 3, 5]]).T
    lengths = torch.tensor([5])
    decoder_input = torch.tensor([[BOS, 6, 4, 5, 4, 3]]).T
    torch.testing.assert_close(model((permuted, lengths, decoder_input)), model((source, lengths, decoder_input)),
                               rtol=0, atol=1e-12)
    recurrent = _model()  # the control: the LSTM encoder does see the order
    assert not torch.allclose(recurrent((permuted, lengths, decoder_input)), recurrent((source, lengths, decoder_input)))


@pytest.mark.parametrize("attention", [False, True])
def test_a_tiny_batch_is_learnt_by_heart(attention):
    arrays = _batch(num_sequences=8, max_length=4, seed=6)
    batch = seq2seq.teacher_forcing(*arrays)
    model = _model(attention).float()
    history = train_on_stream(model, lambda: batch, None, steps=120, lr=0.03)
    assert history["train_loss"][-1] < 0.05 * history["train_loss"][0]
    source, lengths, _ = batch[0]
    accuracy = seq2seq.reversal_accuracy(model, source, lengths, torch.as_tensor(arrays[2]))
    assert accuracy["exact"] == 1.0 and accuracy["per_token"] == 1.0


def test_accuracy_counts_exact_sequences_and_tokens():
    """reversal_accuracy on a model whose greedy output is fixed by hand."""
    target = torch.tensor([[4, 3], [EOS, 5], [PAD, EOS]])  # sequences "A" -> ... of lengths 1 and 2
    lengths = torch.tensor([1, 2])

    class Fixed(torch.nn.Module):
        def greedy(self, source, lengths, steps):
            return torch.tensor([[4, 3], [EOS, 6], [EOS, EOS]]), None

    accuracy = seq2seq.reversal_accuracy(Fixed(), torch.zeros(2, 2, dtype=torch.long), lengths, target)
    assert accuracy["exact"] == 0.5  # the first is right, the second has one wrong token
    assert accuracy["per_token"] == 4 / 5
    assert accuracy["lengths"] == [1, 2]
    assert accuracy["exact_by_length"] == [1.0, 0.0]
    assert accuracy["per_token_by_length"] == pytest.approx([1.0, 2 / 3])


def test_the_model_rejects_bad_arguments():
    with pytest.raises(ValueError, match="hidden_size must be an integer >= 1, got 0"):
        Seq2Seq(7, hidden_size=0)
    with pytest.raises(ValueError, match="needs the recurrent encoder"):
        Seq2Seq(7, attention=False, recurrent_encoder=False)
    with pytest.raises(ValueError, match=r"source must have shape \(S, N\) and lengths \(N,\), got \(3, 2\) and \(3,\)"):
        _model().encode(torch.zeros(3, 2, dtype=torch.long), torch.ones(3, dtype=torch.long))
    with pytest.raises(ValueError, match="model must be one of"):
        seq2seq.make_model("transformer", seq2seq.SCALES["tiny"])


# --- the experiment and its command ------------------------------------------------


def test_every_model_of_a_seed_sees_the_same_data_and_the_summary_reads_it():
    results = seq2seq.run_seq2seq("tiny", models=list(seq2seq.MODELS), device="cpu", show_progress=False)
    runs = results["runs"]
    assert [run["model"] for run in runs] == list(seq2seq.MODELS)
    assert all(len(run["train_loss"]) == 10 for run in runs)
    # The same first batch: at initialisation every model's loss is near ln V (uniform over the tokens).
    assert all(abs(run["train_loss"][0] - math.log(FIRST_SYMBOL + 4)) < 0.3 for run in runs)
    parameters = {run["model"]: run["parameters"] for run in runs}
    assert parameters["no attention, 2H"] > parameters["attention"] > parameters["no attention"]
    summary = seq2seq.accuracy_summary(runs, "per_token")
    assert list(summary) == list(seq2seq.MODELS)
    mean, low, high, values = summary["attention"]
    assert values == [runs[1]["per_token"]] and low == high == mean
    compact = seq2seq.compact_results(results)
    assert "train_loss" not in compact["runs"][0] and "train_loss" in results["runs"][0]
    assert compact["runs"][0]["final_train_loss"] == round(float(np.mean(runs[0]["train_loss"][-50:])), 4)
    table = seq2seq.summary_table(runs).splitlines()
    assert len(table) == 2 + len(seq2seq.MODELS) and table[2].startswith("| no attention | ")
    exact = runs[0]["exact"]
    assert f"{exact:.3f} ({exact:.3f}–{exact:.3f})" in table[2]


def test_seq2seq_command_writes_json_and_figures(tmp_path):
    result = _run_cli("seq2seq", "--scale", "tiny", "--device", "cpu", "--out", str(tmp_path), "--no-progress")
    assert result.returncode == 0, result.stderr
    results = json.loads((tmp_path / "seq2seq.json").read_text(encoding="utf-8"))
    assert [run["model"] for run in results["runs"]] == ["no attention", "attention"]
    assert results["config"]["scale"] == "tiny" and results["provenance"]["device"] == "cpu"
    assert "Held-out exact-sequence accuracy" in result.stdout
    _check_figures(tmp_path, ["seq2seq_accuracy_by_length"])


def test_attention_heat_map_draws_one_panel_per_example():
    import matplotlib

    matplotlib.use("Agg")
    model = _model()
    source, lengths, _ = (torch.as_tensor(a) for a in _batch(seed=7))
    tokens, weights = model.greedy(source, lengths, steps=6)
    figure = seq2seq.plot_attention(weights, source, lengths, tokens, examples=[0, 2])
    panels = [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]
    assert len(panels) == 2 and panels[0].get_position().y0 > panels[1].get_position().y0  # stacked
    assert [tick.get_text() for tick in panels[0].get_xticklabels()] == seq2seq.symbol_text(
        source[: lengths[0], 0])


def test_mirror_alignment_scores_attention_against_the_reversal():
    lengths = torch.tensor([3])
    perfect = torch.zeros(4, 3, 1)
    for step, position in enumerate([2, 1, 0]):
        perfect[step, position, 0] = 1.0
    perfect[3, :, 0] = 1 / 3  # the end-token step, left out
    assert seq2seq.mirror_alignment(perfect, lengths) == {"argmax_share": 1.0, "mirror_weight": 1.0,
                                                          "near_mirror_weight": 1.0, "left_weight": 0.0,
                                                          "right_weight": 0.0}
    shifted = torch.zeros(4, 3, 1)
    for step, position in enumerate([1, 0, 0]):  # one position early each time (the last is right)
        shifted[step, position, 0] = 1.0
    scores = seq2seq.mirror_alignment(shifted, lengths)
    assert scores["argmax_share"] == pytest.approx(1 / 3) and scores["mirror_weight"] == pytest.approx(1 / 3)
    assert scores["near_mirror_weight"] == 1.0
    assert scores["left_weight"] == pytest.approx(2 / 3) and scores["right_weight"] == 0.0


def test_accuracy_by_position_reads_one_length():
    target = torch.tensor([[4, 3, 5], [EOS, 5, 6], [PAD, EOS, EOS]])
    lengths = torch.tensor([1, 2, 2])

    class Fixed(torch.nn.Module):
        def greedy(self, source, lengths, steps):
            assert len(lengths) == 2 and steps == 2
            return torch.tensor([[3, 5], [6, 6]]), None

    source = torch.zeros(2, 3, dtype=torch.long)
    assert seq2seq.accuracy_by_position(Fixed(), source, lengths, target, 2) == [1.0, 0.5]
    with pytest.raises(ValueError, match=r"no sequence of length 5 among lengths \[1, 2\]"):
        seq2seq.accuracy_by_position(Fixed(), source, lengths, target, 5)
