"""Many small models trained at once: M independent members as one batch of matrix products.

A comparison of variants, initialisations or regularisers over several seeds
trains dozens of tiny recurrent networks. One at a time, each step of each
network is a handful of small products whose cost is mostly Python and
PyTorch's overhead. Stacked, the M members' weights carry a leading member axis
(``W_hh`` of shape (M, 4H, H)), every product is one batched product
(``torch.bmm``), and one step of the loop advances all M networks.

The members stay independent: the loss is the *sum* of the members' losses, so
member m's gradient is the gradient of its own loss; Adam's update is
elementwise; and the gradient norm is clipped *per member*
(:func:`clip_per_member_`). Training M members together therefore gives what
training each alone would, up to rounding (tests/labs check it against
``nn.LSTM``).

Shapes: member axis first. A classifier's inputs are (M, T, N, D) and its
logits (M, N, C) with targets (M, N); a next-token model's logits are
(M, T, N, C) with targets (M, T, N).
"""

import math

import torch
import torch.nn.functional as F

from lstm_ref._checks import check_int, check_number
from lstm_labs.training import progress_bar


def uniform_(tensor, bound, generator):
    """Fill ``tensor`` with U(−bound, bound) draws from ``generator``, in place; return it."""
    with torch.no_grad():
        return tensor.uniform_(-bound, bound, generator=generator)


def draw_lstm_members_(seeds, W_ih, W_hh, b, W_out, b_out):
    """Draw each member's LSTM and read-out from its seed, in place, as PyTorch distributes them.

    Member m's ``W_ih[m]``, ``W_hh[m]``, ``W_out[m]`` and ``b_out[m]`` ~ U(−1/√H, 1/√H),
    and ``b[m]`` the sum of two such draws (PyTorch's b_ih + b_hh), from
    ``torch.Generator().manual_seed(seeds[m])`` in that order. Returns the generators,
    so that a model can draw more of its own parameters from them afterwards.
    """
    H = W_hh.shape[2]
    bound = 1 / math.sqrt(H)
    generators = []
    for m, seed in enumerate(seeds):
        generator = torch.Generator().manual_seed(seed)
        for tensor in (W_ih[m], W_hh[m]):
            uniform_(tensor, bound, generator)
        with torch.no_grad():
            b_ih, b_hh = torch.empty(2, 4 * H).uniform_(-bound, bound, generator=generator)
            b[m] = b_ih + b_hh
        for tensor in (W_out[m], b_out[m]):
            uniform_(tensor, bound, generator)
        generators.append(generator)
    return generators


def member_losses(logits, targets):
    """The mean cross-entropy of each member, shape (M,): logits (M, ..., C), targets (M, ...)."""
    per_item = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
    return per_item.reshape(targets.shape).flatten(1).mean(dim=1)


def member_accuracies(logits, targets):
    """The share of items whose largest logit is the target, per member, shape (M,)."""
    return (logits.argmax(dim=-1) == targets).flatten(1).float().mean(dim=1)


def clip_per_member_(parameters, max_norm):
    """Rescale each member's gradient to a 2-norm of at most ``max_norm``; return the norms before, (M,).

    Every parameter has the member axis first, so member m's gradient is the
    slices ``[m]`` of all of them; its norm is taken over those slices only, as
    ``torch.nn.utils.clip_grad_norm_`` would take it for member m trained alone.
    """
    grads = [parameter.grad for parameter in parameters if parameter.grad is not None]
    norms = torch.sqrt(sum(grad.flatten(1).pow(2).sum(dim=1) for grad in grads))
    if max_norm is not None:
        # clip_grad_norm_'s rule: scale by max_norm / (norm + 1e-6) where that is below 1.
        scale = torch.clamp(max_norm / (norms + 1e-6), max=1.0)
        for grad in grads:
            grad.mul_(scale.reshape(-1, *([1] * (grad.dim() - 1))))
    return norms


@torch.no_grad()
def evaluate_members(model, inputs, targets):
    """Each member's mean cross-entropy and accuracy on ``(inputs, targets)``: two (M,) tensors."""
    was_training = model.training
    model.eval()
    logits = model(inputs)
    model.train(was_training)
    return member_losses(logits, targets), member_accuracies(logits, targets)


def train_members(model, next_batch, steps, heldout=None, lr=0.01, clip_norm=1.0, eval_every=50,
                  show_progress=None, description="training"):
    """Train every member of ``model`` with Adam, each on its own loss, for ``steps`` steps.

    ``next_batch()`` returns ``(inputs, targets)`` with the member axis first;
    ``heldout`` is a fixed pair of the same kind (None: no evaluation). Each
    member's gradient norm is clipped to ``clip_norm`` (None: not clipped).

    Returns a dict of lists, each entry a list over members: ``train_loss[s][m]``
    and ``grad_norm[s][m]`` for every step (before its update and before
    clipping), and ``heldout_step``, ``heldout_loss[e][m]``,
    ``heldout_accuracy[e][m]`` every ``eval_every`` steps and after the last.
    """
    steps = check_int("steps", steps, minimum=1)
    eval_every = check_int("eval_every", eval_every, minimum=1)
    lr = check_number("lr", lr, above=0)
    if clip_norm is not None:
        clip_norm = check_number("clip_norm", clip_norm, above=0)
    parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=lr)
    losses, norms = [], []
    history = {"heldout_step": [], "heldout_loss": [], "heldout_accuracy": []}
    model.train()
    with progress_bar(steps, description, show_progress) as bar:
        for step in range(1, steps + 1):
            inputs, targets = next_batch()
            optimizer.zero_grad(set_to_none=True)
            loss = member_losses(model(inputs), targets)
            loss.sum().backward()  # the sum: member m's gradient is that of its own loss
            norms.append(clip_per_member_(parameters, clip_norm))
            optimizer.step()
            losses.append(loss.detach())
            bar.update(1)
            if heldout is not None and (step % eval_every == 0 or step == steps):
                heldout_loss, heldout_accuracy = evaluate_members(model, *heldout)
                history["heldout_step"].append(step)
                history["heldout_loss"].append(heldout_loss.tolist())
                history["heldout_accuracy"].append(heldout_accuracy.tolist())
    history["train_loss"] = torch.stack(losses).tolist()
    history["grad_norm"] = torch.stack(norms).tolist()
    if any(not math.isfinite(value) for row in history["train_loss"] for value in row):
        history["diverged"] = [any(not math.isfinite(row[m]) for row in history["train_loss"])
                               for m in range(len(history["train_loss"][0]))]
    return history
