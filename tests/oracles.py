"""The PyTorch oracles of the tests: the book's equations in torch operations, differentiated by autograd.

Each step below is written from the equations with torch operations,
independently of lstm_ref; :func:`torch_sequence` runs a step over a sequence,
and :func:`torch_forward_and_gradients` gives autograd's gradients of a loss
L = Σ outputs ⊙ upstream. Everything runs in float64, built explicitly (no
global default dtype). The rnn, lstm, gru and diagnostics tests share them,
with the shapes and the tolerance below.
"""

import torch

# (T, N, D, H): every size 1 once, and a few general shapes.
SHAPES = [(1, 1, 1, 1), (1, 3, 2, 4), (4, 1, 3, 2), (3, 2, 1, 5), (5, 3, 4, 1), (6, 4, 5, 3)]

# Both sides are exact computations in float64 that differ only in the order of
# their roundings, so they agree to a few units of 1e-16 per element.
TORCH_TOLERANCE = 1e-10


def torch_rnn_step(x, h_prev, W_ih, W_hh, b):
    """h_t = tanh(W_ih x_t + W_hh h_{t−1} + b)."""
    return torch.tanh(x @ W_ih.T + h_prev @ W_hh.T + b)


def torch_lstm_step(x, h_prev, c_prev, W_ih, W_hh, b):
    """The LSTM step, gates in the order i, f, g, o; returns (h_t, c_t)."""
    a_i, a_f, a_g, a_o = (x @ W_ih.T + h_prev @ W_hh.T + b).chunk(4, dim=-1)
    c = torch.sigmoid(a_f) * c_prev + torch.sigmoid(a_i) * torch.tanh(a_g)
    return torch.sigmoid(a_o) * torch.tanh(c), c


def torch_peephole_step(x, h_prev, c_prev, W_ih, W_hh, b, p):
    """The peephole LSTM step (Gers & Schmidhuber 2000): i and f see c_{t−1}, o sees c_t; returns (h_t, c_t)."""
    a_i, a_f, a_g, a_o = (x @ W_ih.T + h_prev @ W_hh.T + b).chunk(4, dim=-1)
    p_i, p_f, p_o = p.chunk(3)
    i = torch.sigmoid(a_i + p_i * c_prev)
    f = torch.sigmoid(a_f + p_f * c_prev)
    c = f * c_prev + i * torch.tanh(a_g)
    o = torch.sigmoid(a_o + p_o * c)
    return o * torch.tanh(c), c


def torch_gru_step(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    """The GRU step in PyTorch's form, gates r, z, n."""
    i_r, i_z, i_n = (x @ W_ih.T + b_ih).chunk(3, dim=-1)
    h_r, h_z, h_n = (h_prev @ W_hh.T + b_hh).chunk(3, dim=-1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h_prev


def torch_sequence(step, x, states, *params):
    """Run ``step(x_t, *states, *params)`` for t = 1..T from ``states``; stack each state over time.

    A step returns its new state, one tensor (h_t) or a tuple (h_t, c_t).
    Returns hs (T, N, H), or a tuple (hs, cs) for a step with two states.
    """
    outputs = []
    for x_t in x:
        new = step(x_t, *states, *params)
        states = new if isinstance(new, tuple) else (new,)
        outputs.append(states)
    stacked = tuple(torch.stack(sequence) for sequence in zip(*outputs))
    return stacked if len(stacked) > 1 else stacked[0]


def torch_forward_and_gradients(function, inputs, upstream):
    """Outputs of a torch function on float64 copies of the inputs, and autograd's gradients
    of L = Σ_k Σ output_k ⊙ upstream_k for every input.

    ``function`` returns one tensor or a tuple of them; ``upstream`` is one
    array, or a list with one array per output (None: that output is not in the loss).
    Returns the outputs as arrays (one, or a list) and the gradients, in the order of ``inputs``.
    """
    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in inputs]
    outputs = function(*tensors)
    single = not isinstance(outputs, tuple)
    outputs, upstream = ((outputs,), [upstream]) if single else (outputs, upstream)
    loss = sum(
        (output * torch.tensor(weights, dtype=torch.float64)).sum()
        for output, weights in zip(outputs, upstream, strict=True)
        if weights is not None
    )
    gradients = torch.autograd.grad(loss, tensors)
    values = [output.detach().numpy() for output in outputs]
    return (values[0] if single else values), [g.numpy() for g in gradients]


def torch_rnn_sequence(x, h0, W_ih, W_hh, b):
    """hs (T, N, H) of the tanh RNN."""
    return torch_sequence(torch_rnn_step, x, (h0,), W_ih, W_hh, b)


def torch_lstm_sequence(x, h0, c0, W_ih, W_hh, b):
    """(hs, cs), each (T, N, H), of the LSTM."""
    return torch_sequence(torch_lstm_step, x, (h0, c0), W_ih, W_hh, b)


def torch_peephole_sequence(x, h0, c0, W_ih, W_hh, b, p):
    """(hs, cs), each (T, N, H), of the peephole LSTM."""
    return torch_sequence(torch_peephole_step, x, (h0, c0), W_ih, W_hh, b, p)


def torch_gru_sequence(x, h0, W_ih, W_hh, b_ih, b_hh):
    """hs (T, N, H) of the GRU."""
    return torch_sequence(torch_gru_step, x, (h0,), W_ih, W_hh, b_ih, b_hh)
