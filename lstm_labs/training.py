"""Device choice, seeding, and the two training loops of the labs.

``train_full_batch`` is the published procedure: the whole training set is one
batch, one Adam step per epoch. ``train_on_stream`` draws a fresh batch for
every step (the delayed-recall task), so nothing can be memorised.

Both keep the data on the chosen device, show a progress bar only where someone
watches it (a terminal, or a notebook open in Jupyter or Colab; never in the built
book), and return plain Python lists so that results go straight into JSON.
"""

import math
import random
import sys

import numpy as np
import torch
from tqdm import tqdm

# Devices whose choice was already printed: "printed once" per process and device.
_ANNOUNCED = set()


def choose_device(requested="auto", announce=True):
    """The ``torch.device`` to run on, and (once per process) a line saying why.

    ``"auto"`` takes CUDA if PyTorch sees a CUDA GPU, else Apple's MPS if present,
    else the CPU. ``"cpu"``, ``"cuda"`` and ``"mps"`` (or a ``torch.device``) ask for
    one device, and raise ``ValueError`` if it is not available here.
    """
    if isinstance(requested, torch.device):
        requested = requested.type  # a device chosen earlier: check it, do not announce it again
    cuda = torch.cuda.is_available()
    mps = hasattr(torch.backends, "mps") and torch.backends.mps.is_available()
    if requested == "auto":
        if cuda:
            name, reason = "cuda", f"a CUDA GPU is available ({torch.cuda.get_device_name(0)})"
        elif mps:
            name, reason = "mps", "no CUDA GPU; Apple's MPS backend is available"
        else:
            name, reason = "cpu", "no CUDA or MPS device found; everything runs on the CPU, only slower"
    elif requested in ("cpu", "cuda", "mps"):
        available = {"cpu": True, "cuda": cuda, "mps": mps}[requested]
        if not available:
            raise ValueError(f"device {requested!r} was asked for but is not available here; use 'auto' or 'cpu'")
        name, reason = requested, "asked for"
    else:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'mps', got {requested!r}")
    if announce and name not in _ANNOUNCED:
        _ANNOUNCED.add(name)
        print(f"Device: {name} ({reason})")
    return torch.device(name)


def seed_everything(seed):
    """Seed Python's, NumPy's and PyTorch's generators; return a NumPy Generator.

    The returned ``np.random.Generator`` is what the labs draw their data from; the
    global seeds make any other use of ``random``/``np.random``/``torch`` repeatable.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device as well
    return np.random.default_rng(seed)


def _notebook_kernel():
    """The IPython kernel this code runs in, or None outside a notebook."""
    ipython = sys.modules.get("IPython")
    return getattr(ipython.get_ipython(), "kernel", None) if ipython else None


def _someone_watches():
    """Whether a person sees this process's output as it runs.

    True on a terminal, and in a notebook kernel whose current request allows input:
    Jupyter's and Colab's front ends send ``allow_stdin`` with every cell they run, a
    program that executes a notebook unattended (nbclient, which builds the book)
    does not.
    """
    if sys.stderr.isatty():
        return True
    kernel = _notebook_kernel()
    if kernel is None or not hasattr(kernel, "get_parent"):  # get_parent: ipykernel 6 and later
        return False
    return bool(kernel.get_parent().get("content", {}).get("allow_stdin"))


def prints_run_lines(show_progress):
    """Whether a lab prints a line as each of its runs ends.

    Unless ``show_progress`` is False; by default (None) not in a notebook, where the
    progress bar shows the runs go by and the book's pages would keep the lines.
    """
    if show_progress is None:
        return _notebook_kernel() is None
    return bool(show_progress)


def progress_bar(total, description, show=None):
    """A progress bar over ``total`` steps, removed when it closes; ``show=None``: if someone watches.

    In a notebook it is tqdm's notebook bar (a widget), on a terminal a line of text.
    The book's build executes notebooks unattended, so no bar ends up in the HTML.
    """
    if show is None:
        show = _someone_watches()
    if not show:
        return tqdm(total=total, disable=True)
    # Imported here: in a kernel without ipywidgets tqdm.auto warns as it is imported.
    from tqdm.auto import tqdm as notebook_or_terminal_tqdm
    return notebook_or_terminal_tqdm(total=total, desc=description, leave=False, dynamic_ncols=True)


def steps_with_progress(steps, description, show=None):
    """The steps ``1, 2, ..., steps``, counted by a ``progress_bar`` as a loop runs over them."""
    with progress_bar(steps, description, show) as bar:
        for step in range(1, steps + 1):
            yield step
            bar.update(1)


def as_tensors(inputs, targets, device):
    """NumPy one-hot inputs ``(T, N, D)`` and class targets ``(N,)`` as tensors on ``device``."""
    return (torch.as_tensor(inputs, dtype=torch.float32, device=device),
            torch.as_tensor(targets, dtype=torch.long, device=device))


@torch.no_grad()
def evaluate(model, inputs, targets):
    """Mean cross-entropy (nats) and accuracy of ``model`` on ``(inputs, targets)``."""
    was_training = model.training
    model.eval()
    logits = model(inputs)
    loss = torch.nn.functional.cross_entropy(logits, targets)
    accuracy = (logits.argmax(dim=-1) == targets).float().mean()
    model.train(was_training)
    return float(loss), float(accuracy)


def _step(model, optimizer, inputs, targets, clip_norm):
    """One Adam step on one batch; returns the loss before the step and the gradient norm.

    The gradient norm is the 2-norm over all parameters, measured before clipping.
    """
    optimizer.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(inputs), targets)
    loss.backward()
    max_norm = math.inf if clip_norm is None else clip_norm
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    return loss.detach(), grad_norm.detach()


def _check_positive(value, name, allow_none=False):
    if allow_none and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}")


def _train(model, next_batch, heldout, steps, lr, clip_norm, eval_every, show_progress,
           description, unit):
    """The loop both trainers share: Adam on ``next_batch()`` for ``steps`` steps.

    Held-out loss and accuracy are measured every ``eval_every`` steps and after the
    last, and recorded under ``heldout_<unit>`` (the step or epoch numbers),
    ``heldout_loss`` and ``heldout_accuracy``.
    """
    _check_positive(steps, unit + "s")
    _check_positive(lr, "lr")
    _check_positive(clip_norm, "clip_norm", allow_none=True)
    _check_positive(eval_every, "eval_every")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses, norms = [], []
    history = {f"heldout_{unit}": [], "heldout_loss": [], "heldout_accuracy": []}
    model.train()
    with progress_bar(steps, description, show_progress) as bar:
        for step in range(1, steps + 1):
            loss, norm = _step(model, optimizer, *next_batch(), clip_norm)
            losses.append(loss)
            norms.append(norm)
            if heldout is not None and (step % eval_every == 0 or step == steps):
                heldout_loss, heldout_accuracy = evaluate(model, *heldout)
                history[f"heldout_{unit}"].append(step)
                history["heldout_loss"].append(heldout_loss)
                history["heldout_accuracy"].append(heldout_accuracy)
            if not bar.disable:
                bar.set_postfix(loss=f"{float(loss):.4f}", refresh=False)
                bar.update(1)
    # One transfer at the end: no per-step device synchronisation on a GPU.
    history["train_loss"] = torch.stack(losses).cpu().tolist()
    history["grad_norm"] = torch.stack(norms).cpu().tolist()
    return history


def train_full_batch(model, train, heldout=None, epochs=400, lr=0.01, clip_norm=None,
                     eval_every=1, show_progress=None, description="training"):
    """Train ``model`` with Adam on the whole training set as one batch per epoch.

    ``train`` and ``heldout`` are ``(inputs (T, N, D), targets (N,))`` tensor pairs on
    the model's device. Returns a dict of lists:

    - ``train_loss[e]``: the cross-entropy of epoch ``e``'s batch, before its step
      (what the published code printed);
    - ``grad_norm[e]``: the gradient's 2-norm at that step, before any clipping;
    - ``heldout_epoch``, ``heldout_loss``, ``heldout_accuracy``: measured after the
      steps of epochs ``eval_every, 2 eval_every, ...`` and after the last epoch.
    """
    return _train(model, lambda: train, heldout, epochs, lr, clip_norm, eval_every,
                  show_progress, description, unit="epoch")


def train_on_stream(model, next_batch, heldout, steps=1000, lr=0.01, clip_norm=None,
                    eval_every=100, show_progress=None, description="training"):
    """Train ``model`` with Adam on a fresh batch ``next_batch()`` at every step.

    ``next_batch()`` returns an ``(inputs, targets)`` tensor pair on the model's
    device; ``heldout`` is a fixed pair never trained on. Returns a dict of lists:
    ``train_loss[s]`` and ``grad_norm[s]`` for every step, and ``heldout_step``,
    ``heldout_loss``, ``heldout_accuracy`` every ``eval_every`` steps and at the end.
    """
    return _train(model, next_batch, heldout, steps, lr, clip_norm, eval_every,
                  show_progress, description, unit="step")
