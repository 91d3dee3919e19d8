"""lstm_labs.regularisation: each regulariser against a loop written here from its definition.

Oracles: ``torch.nn.LSTM`` for the plain member; ``torch.nn.functional.layer_norm``
for the layer-normalised one; for the random regularisers, a plain loop over the
steps that draws the same random numbers from an identically seeded generator,
in the order the model draws them (documented in its forward).
"""

import pytest
import torch
import torch.nn.functional as F

from lstm_labs.regularisation import RegularisedLSTM, run_regularisation
from lstm_labs.variants import LSTMVariants
from test_variants import torch_lstm_of

T, N, V, H = 4, 3, 5, 6


def inputs(M, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return F.one_hot(torch.randint(0, V, (M, T, N), generator=generator), V).double()


def weights(model, m):
    return model.W_ih[m], model.W_hh[m], model.b[m], model.W_out[m], model.b_out[m]


def reference(x, W_ih, W_hh, b, W_out, b_out, x_mask=None, recurrent_mask=None, out_mask=None, zoneout=None,
              norm=None):
    """One member's logits (T, N, V) from the equations; masks and zoneout draws given, or none."""
    h = c = torch.zeros(x.shape[1], W_hh.shape[1], dtype=x.dtype)
    outputs = []
    for t, x_t in enumerate(x):
        x_t = x_t if x_mask is None else x_t * x_mask[t]
        h_read = h if recurrent_mask is None else h * recurrent_mask
        if norm is None:
            a = x_t @ W_ih.T + h_read @ W_hh.T + b
        else:
            a = norm(x_t @ W_ih.T) + norm(h_read @ W_hh.T) + b
        a_i, a_f, a_g, a_o = a.chunk(4, dim=-1)
        c_new = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
        h_new = torch.sigmoid(a_o) * torch.tanh(c_new if norm is None else norm(c_new))
        if zoneout is not None:
            keep_h, keep_c = zoneout[t]
            h_new, c_new = torch.where(keep_h, h, h_new), torch.where(keep_c, c, c_new)
        h, c = h_new, c_new
        outputs.append(h if out_mask is None else h * out_mask[t])
    return torch.stack(outputs) @ W_out.T + b_out


def test_a_member_without_regulariser_is_nn_lstm_and_the_variants_lstm():
    model = RegularisedLSTM(["none", "dropout"], [0.0, 0.5], [3, 3], V, H).double()
    variants = LSTMVariants(["LSTM"], [3], V, H, V, per_step=True).double()
    x = inputs(1).expand(2, T, N, V)  # both members read the same windows
    for ours, theirs in zip(weights(model, 0), weights(variants, 0)):
        assert torch.equal(ours, theirs)  # the same draws from the same seed
    layer, head = torch_lstm_of(model, 0)
    logits = model(x)  # training mode: member 0 has nothing to drop
    torch.testing.assert_close(logits[0], head(layer(x[0])[0]), rtol=1e-12, atol=1e-12)
    model.eval()  # in evaluation, dropout is the identity
    torch.testing.assert_close(model(x)[1], logits[0], rtol=1e-12, atol=1e-12)


def keep_masks(generator, shape, rate):
    return (torch.rand(shape, generator=generator) < 1 - rate).double() / (1 - rate)


@pytest.mark.parametrize("name", ["dropout", "variational"])
def test_dropout_masks_are_fresh_at_every_step_or_the_same_for_the_sequence(name):
    rate = 0.4
    model = RegularisedLSTM([name], [rate], [1], V, H).double()
    model.generator = torch.Generator().manual_seed(9)
    x = inputs(1)
    logits = model(x)[0]
    generator = torch.Generator().manual_seed(9)
    if name == "dropout":  # drawn in the order of the forward: x (M, T, N, V), then h (M, T, N, H)
        x_mask = keep_masks(generator, (1, T, N, V), rate)[0]
        out_mask = keep_masks(generator, (1, T, N, H), rate)[0]
        expected = reference(x[0], *weights(model, 0), x_mask=x_mask, out_mask=out_mask)
    else:  # one mask per sequence: x (M, 1, N, V), h_{t−1} (M, N, H), h to the read-out (M, 1, N, H)
        x_mask = keep_masks(generator, (1, 1, N, V), rate)[0].expand(T, N, V)
        recurrent_mask = keep_masks(generator, (1, N, H), rate)[0]
        out_mask = keep_masks(generator, (1, 1, N, H), rate)[0].expand(T, N, H)
        expected = reference(x[0], *weights(model, 0), x_mask=x_mask, recurrent_mask=recurrent_mask,
                             out_mask=out_mask)
    torch.testing.assert_close(logits, expected, rtol=1e-12, atol=1e-12)


def test_zoneout_keeps_units_in_training_and_takes_the_expectation_in_evaluation():
    rate = 0.3
    model = RegularisedLSTM(["zoneout"], [rate], [2], V, H).double()
    model.generator = torch.Generator().manual_seed(4)
    x = inputs(1)
    generator = torch.Generator().manual_seed(4)
    draws = [(torch.rand(1, N, H, generator=generator)[0] < rate, torch.rand(1, N, H, generator=generator)[0] < rate)
             for _ in range(T)]
    assert any(keep.any() for pair in draws for keep in pair)
    torch.testing.assert_close(model(x)[0], reference(x[0], *weights(model, 0), zoneout=draws), rtol=1e-12,
                               atol=1e-12)
    model.eval()
    W_ih, W_hh, b, W_out, b_out = weights(model, 0)
    h = c = torch.zeros(N, H, dtype=torch.float64)
    outputs = []
    for x_t in x[0]:
        a_i, a_f, a_g, a_o = (x_t @ W_ih.T + h @ W_hh.T + b).chunk(4, dim=-1)
        c_new = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
        h_new = torch.sigmoid(a_o) * torch.tanh(c_new)
        h, c = rate * h + (1 - rate) * h_new, rate * c + (1 - rate) * c_new
        outputs.append(h)
    torch.testing.assert_close(model(x)[0], torch.stack(outputs) @ W_out.T + b_out, rtol=1e-12, atol=1e-12)


def test_weight_drop_uses_one_mask_of_w_hh_for_the_whole_batch():
    rate = 0.5
    model = RegularisedLSTM(["weight-drop"], [rate], [5], V, H).double()
    model.generator = torch.Generator().manual_seed(1)
    x = inputs(1)
    mask = keep_masks(torch.Generator().manual_seed(1), (1, 4 * H, H), rate)[0]
    W_ih, W_hh, b, W_out, b_out = weights(model, 0)
    torch.testing.assert_close(model(x)[0], reference(x[0], W_ih, W_hh * mask, b, W_out, b_out), rtol=1e-12,
                               atol=1e-12)


def test_layer_norm_follows_ba_et_al():
    model = RegularisedLSTM(["layer norm"], [0.0], [6], V, H).double()
    with torch.no_grad():  # gains and biases away from 1 and 0, the same for the three norms so one oracle serves
        for name in ("input_gain", "recurrent_gain"):
            getattr(model, name).fill_(1.5)
        for name in ("input_bias", "recurrent_bias"):
            getattr(model, name).fill_(0.2)
        model.cell_gain.fill_(1.5)
        model.cell_bias.fill_(0.2)
    x = inputs(1)

    def norm(a):
        return F.layer_norm(a, a.shape[-1:], torch.full(a.shape[-1:], 1.5, dtype=a.dtype),
                            torch.full(a.shape[-1:], 0.2, dtype=a.dtype), eps=1e-5)

    torch.testing.assert_close(model(x)[0], reference(x[0], *weights(model, 0), norm=norm), rtol=1e-10, atol=1e-10)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="regularisers must be a non-empty list of names among"):
        RegularisedLSTM(["dropconnect"], [0.1], [0], V, H)
    with pytest.raises(ValueError, match=r"every rate must be in \[0, 1\), got 1.0"):
        RegularisedLSTM(["dropout"], [1.0], [0], V, H)
    with pytest.raises(ValueError, match="either all 'layer norm' members or none"):
        RegularisedLSTM(["layer norm", "none"], [0.0, 0.0], [0, 0], V, H)
    with pytest.raises(ValueError, match="rates and seeds must have one entry per member, 2, got 1 and 2"):
        RegularisedLSTM(["none", "dropout"], [0.0], [0, 1], V, H)


def test_the_tiny_run_reports_both_losses_and_both_floors():
    results = run_regularisation("tiny", device="cpu", show_progress=False)
    config = results["config"]
    assert 0 < config["train_floor"] and 0 < config["heldout_floor"]
    assert {run["regulariser"] for run in results["runs"]} == {"none", "dropout", "variational", "zoneout",
                                                               "weight-drop", "layer norm"}
    for run in results["runs"]:
        assert set(run["final"]) == {"train_loss", "heldout_loss", "best_heldout_loss"}
        assert run["final"]["best_heldout_loss"] <= run["final"]["heldout_loss"]
