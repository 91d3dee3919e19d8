"""What the rnn, lstm and gru tests share: shapes, tolerance, and autograd as the oracle.

The PyTorch side of each test is written from the book's equations with torch
operations, independently of lstm_ref; autograd differentiates it, in float64
built explicitly (no global default dtype).
"""

import torch

# (T, N, D, H): every size 1 once, and a few general shapes.
SHAPES = [(1, 1, 1, 1), (1, 3, 2, 4), (4, 1, 3, 2), (3, 2, 1, 5), (5, 3, 4, 1), (6, 4, 5, 3)]

# Both sides are exact computations in float64 that differ only in the order of
# their roundings, so they agree to a few units of 1e-16 per element.
TORCH_TOLERANCE = 1e-10


def torch_forward_and_gradients(function, inputs, upstream):
    """Outputs of a one-output torch function on float64 copies of the inputs, and
    autograd's gradients of L = Σ output ⊙ upstream for every input."""
    tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in inputs]
    output = function(*tensors)
    loss = (output * torch.tensor(upstream, dtype=torch.float64)).sum()
    gradients = torch.autograd.grad(loss, tensors)
    return output.detach().numpy(), [g.numpy() for g in gradients]
