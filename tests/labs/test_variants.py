"""lstm_labs.variants and lstm_labs.members: each variant against its equations, batching against training alone.

Oracles: ``torch.nn.LSTM`` and ``nn.Linear`` for the LSTM member; lstm_ref.peephole
for the peephole member; for every variant, a step written here from Greff et
al.'s definitions with plain torch operations; and, for the training, one
``nn.LSTM`` trained alone with ``torch.optim.Adam`` and ``clip_grad_norm_``.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lstm_ref import peephole
from lstm_labs.members import clip_per_member_, member_accuracies, member_losses, train_members
from lstm_labs.variants import VARIANTS, LSTMVariants

T, N, D, H, C = 5, 3, 4, 6, 3


def variant_logits(name, x, W_ih, W_hh, b, p, R, W_out, b_out, per_step=False):
    """One member's logits, from the definitions: the LSTM with the one change of ``name``."""
    h = c = torch.zeros(x.shape[1], W_hh.shape[1], dtype=x.dtype)
    gates_prev = torch.zeros(x.shape[1], 3 * W_hh.shape[1], dtype=x.dtype)
    p_i, p_f, p_o = p.chunk(3) if name == "PH" else (0.0, 0.0, 0.0)
    hs = []
    for x_t in x:
        a_i, a_f, a_g, a_o = (x_t @ W_ih.T + h @ W_hh.T + b).chunk(4, dim=-1)
        if name == "FGR":
            r_i, r_f, r_o = (gates_prev @ R.T).chunk(3, dim=-1)
            a_i, a_f, a_o = a_i + r_i, a_f + r_f, a_o + r_o
        i = torch.ones_like(a_i) if name == "NIG" else torch.sigmoid(a_i + p_i * c)
        f = torch.ones_like(a_f) if name == "NFG" else torch.sigmoid(a_f + p_f * c)
        if name == "CIFG":
            f = 1 - i
        g = a_g if name == "NIAF" else torch.tanh(a_g)
        c = f * c + i * g
        o = torch.ones_like(a_o) if name == "NOG" else torch.sigmoid(a_o + p_o * c)
        h = o * (c if name == "NOAF" else torch.tanh(c))
        gates_prev = torch.cat([i, f, o], dim=-1)
        hs.append(h)
    read = torch.stack(hs) if per_step else h
    return read @ W_out.T + b_out


def torch_lstm_of(model, m):
    """nn.LSTM and nn.Linear (float64) holding member m's weights: b as b_ih, b_hh zero."""
    layer = torch.nn.LSTM(model.W_ih.shape[2], model.W_hh.shape[2], dtype=torch.float64)
    head = torch.nn.Linear(model.W_out.shape[2], model.W_out.shape[1], dtype=torch.float64)
    with torch.no_grad():
        layer.weight_ih_l0.copy_(model.W_ih[m])
        layer.weight_hh_l0.copy_(model.W_hh[m])
        layer.bias_ih_l0.copy_(model.b[m])
        layer.bias_hh_l0.zero_()
        head.weight.copy_(model.W_out[m])
        head.bias.copy_(model.b_out[m])
    return layer, head


def member_weights(model, m):
    return [getattr(model, name)[m] for name in ("W_ih", "W_hh", "b", "p", "R", "W_out", "b_out")]


@pytest.mark.parametrize("per_step", [False, True])
def test_every_member_computes_its_variant(per_step):
    names = list(VARIANTS)
    model = LSTMVariants(names, range(len(names)), D, H, C, per_step=per_step).double()
    with torch.no_grad():
        model.b.mul_(3.0)  # gates away from 1/2, so a missing gate shows
    x = torch.randn(len(names), T, N, D, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    logits = model(x)
    assert logits.shape == ((len(names), N, C) if not per_step else (len(names), T, N, C))
    for m, name in enumerate(names):
        expected = variant_logits(name, x[m], *member_weights(model, m), per_step=per_step)
        torch.testing.assert_close(logits[m], expected, rtol=1e-12, atol=1e-12, msg=name)
    # and the variants differ from each other: each change is a change
    finals = logits if not per_step else logits[:, -1]
    for m in range(1, len(names)):
        assert (finals[m] - variant_logits("LSTM", x[m], *member_weights(model, m))).abs().max() > 1e-6, names[m]


def test_an_lstm_member_is_torch_nn_lstm():
    model = LSTMVariants(["LSTM", "LSTM"], [3, 4], D, H, C).double()
    layer, head = torch_lstm_of(model, 1)
    x = torch.randn(2, T, N, D, dtype=torch.float64)
    torch.testing.assert_close(model(x)[1], head(layer(x[1])[0][-1]), rtol=1e-12, atol=1e-12)


def test_a_peephole_member_is_lstm_ref_peephole():
    model = LSTMVariants(["PH"], [5], D, H, C).double()
    x = torch.randn(1, T, N, D, dtype=torch.float64)
    W_ih, W_hh, b, p, _, W_out, b_out = (w.detach().numpy() for w in member_weights(model, 0))
    hs, _, _ = peephole.peephole_forward(x[0].numpy(), np.zeros((N, H)), np.zeros((N, H)), W_ih, W_hh, b, p)
    np.testing.assert_allclose(model(x)[0].detach().numpy(), hs[-1] @ W_out.T + b_out, rtol=1e-12, atol=1e-12)


def test_members_of_one_seed_start_from_the_same_weights():
    model = LSTMVariants(["LSTM", "NFG", "LSTM"], [7, 7, 8], D, H, C)
    for name in ("W_ih", "W_hh", "b", "W_out"):
        weights = getattr(model, name)
        assert torch.equal(weights[0], weights[1]) and not torch.equal(weights[0], weights[2]), name
    bound = 1 / np.sqrt(H)
    assert model.W_hh.abs().max() <= bound and model.b.abs().max() <= 2 * bound


def test_losses_and_accuracies_are_each_members_own():
    logits = torch.randn(3, 7, 5, C)
    targets = torch.randint(0, C, (3, 7, 5))
    for m in range(3):
        expected = F.cross_entropy(logits[m].reshape(-1, C), targets[m].reshape(-1))
        torch.testing.assert_close(member_losses(logits, targets)[m], expected)
        accuracy = (logits[m].argmax(-1) == targets[m]).float().mean()
        torch.testing.assert_close(member_accuracies(logits, targets)[m], accuracy)


def test_clipping_is_per_member():
    big, small = torch.nn.Parameter(torch.zeros(2, 3)), torch.nn.Parameter(torch.zeros(2, 4))
    big.grad = torch.tensor([[3.0, 0.0, 0.0], [0.3, 0.0, 0.0]])
    small.grad = torch.tensor([[4.0, 0.0, 0.0, 0.0], [0.4, 0.0, 0.0, 0.0]])
    norms = clip_per_member_([big, small], max_norm=1.0)
    torch.testing.assert_close(norms, torch.tensor([5.0, 0.5]))
    # member 0 (norm 5) is scaled to norm 1; member 1 (norm 0.5) is left alone
    torch.testing.assert_close(big.grad[0, 0], torch.tensor(3.0 / (5.0 + 1e-6)))
    torch.testing.assert_close(small.grad[1, 0], torch.tensor(0.4))


def test_training_members_together_is_training_each_alone():
    """Two members trained together against nn.LSTM + nn.Linear trained alone with Adam and clip_grad_norm_."""
    model = LSTMVariants(["LSTM", "LSTM"], [0, 1], D, H, C).double()
    rng = np.random.default_rng(0)
    batches = [(torch.tensor(rng.standard_normal((2, T, N, D))), torch.tensor(rng.integers(0, C, (2, N))))
               for _ in range(6)]
    layers = [torch_lstm_of(model, m) for m in range(2)]
    batch_iterator = iter(batches)
    # clip_norm 0.05 is small enough that the clipping acts at every step
    history = train_members(model, lambda: next(batch_iterator), steps=6, lr=0.01, clip_norm=0.05)
    assert min(min(norms) for norms in history["grad_norm"]) > 0.05
    for m, (layer, head) in enumerate(layers):
        # b_hh would be a second copy of the bias: it stays zero, and b_ih plays the part of b
        parameters = [layer.weight_ih_l0, layer.weight_hh_l0, layer.bias_ih_l0, head.weight, head.bias]
        optimizer = torch.optim.Adam(parameters, lr=0.01)
        for step, (x, targets) in enumerate(batches):
            optimizer.zero_grad()
            loss = F.cross_entropy(head(layer(x[m])[0][-1]), targets[m])
            loss.backward()
            torch.testing.assert_close(torch.tensor(history["train_loss"][step][m], dtype=torch.float64),
                                       loss.detach(), rtol=1e-12, atol=1e-12)
            torch.nn.utils.clip_grad_norm_(parameters, 0.05)
            optimizer.step()
        for ours, theirs in zip([model.W_ih[m], model.W_hh[m], model.b[m], model.W_out[m], model.b_out[m]],
                                parameters):
            torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-12)


def test_unused_weights_stay_where_they_started():
    model = LSTMVariants(["LSTM", "NIG"], [0, 0], D, H, C)
    before = {name: tensor.detach().clone() for name, tensor in model.named_parameters()}
    x, targets = torch.randn(2, T, N, D), torch.randint(0, C, (2, N))
    train_members(model, lambda: (x, targets), steps=3)
    assert torch.equal(model.p, before["p"]) and torch.equal(model.R, before["R"])  # no PH or FGR member
    assert torch.equal(model.W_ih[1, :H], before["W_ih"][1, :H])  # NIG: the input gate's rows are unused
    assert not torch.equal(model.W_ih[0, :H], before["W_ih"][0, :H])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"variants must be a non-empty list of names among .*'XYZ'"):
        LSTMVariants(["LSTM", "XYZ"], [0, 1], D, H, C)
    with pytest.raises(ValueError, match="seeds must have one entry per member, 2, got 1"):
        LSTMVariants(["LSTM", "PH"], [0], D, H, C)
    model = LSTMVariants(["LSTM"], [0], D, H, C)
    with pytest.raises(ValueError, match=r"x must have shape \(M, T, N, D\) = \(1, T, N, 4\), got \(2, 5, 3, 4\)"):
        model(torch.zeros(2, T, N, D))
