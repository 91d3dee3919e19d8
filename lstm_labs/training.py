"""Device choice, seeding, and the training loop of the labs.

``train_full_batch`` is the published procedure: the whole training set is one
batch, one Adam step per epoch. ``train_on_stream`` draws a fresh batch for
every step (the delayed-recall task), so nothing can be memorised.
``train_minibatches`` passes over a training set in shuffled minibatches, with
early stopping if asked. All three run the same loop.

They keep the data on the chosen device, show a progress bar only where someone
watches it (a terminal, or a notebook open in Jupyter or Colab; never in the built
book), and return plain Python lists so that results go straight into JSON.
"""

import copy
import math
import random
import sys

import numpy as np
import torch
from tqdm import tqdm

from lstm_ref._checks import check_int, check_number

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
    check_int("seed", seed, minimum=0)
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


def _flat_gradient(parameters):
    """All the gradients of ``parameters`` as one vector."""
    return torch.cat([parameter.grad.reshape(-1) for parameter in parameters if parameter.grad is not None])


def angle_degrees(a, b):
    """The angle between vectors a and b in degrees, from their unit vectors (accurate near 0)."""
    a, b = a.double() / a.double().norm(), b.double() / b.double().norm()
    return math.degrees(2 * math.atan2(float((a - b).norm()), float((a + b).norm())))


def _step(model, optimizer, inputs, targets, clipping):
    """One optimiser step on one batch; returns the loss before the step, the gradient norm and what clipping did.

    The gradient norm is the 2-norm over all parameters, measured before clipping.
    ``clipping`` is ``(clip_norm, clip_value, watch)``: rescale the gradient to
    norm at most ``clip_norm``, or clip every entry to [−clip_value, clip_value]
    (None: neither); with ``watch``, also the angle between the gradient the
    optimiser receives and the unclipped one, and whether clipping changed it.
    """
    clip_norm, clip_value, watch = clipping
    optimizer.zero_grad(set_to_none=True)
    loss = torch.nn.functional.cross_entropy(model(inputs), targets)
    loss.backward()
    parameters = list(model.parameters())
    unclipped = _flat_gradient(parameters) if watch else None
    if clip_value is None:
        grad_norm = torch.nn.utils.clip_grad_norm_(parameters, math.inf if clip_norm is None else clip_norm)
    else:
        grad_norm = torch.nn.utils.get_total_norm([p.grad for p in parameters if p.grad is not None])
        torch.nn.utils.clip_grad_value_(parameters, clip_value)
    watched = None
    if watch:
        received = _flat_gradient(parameters)
        watched = (angle_degrees(received, unclipped), not torch.equal(received, unclipped))
    optimizer.step()
    return loss.detach(), grad_norm.detach(), watched


def _train(model, next_batch, heldout, steps, settings, show_progress, description, unit, steps_per_unit=1):
    """The loop every trainer shares: an optimiser on ``next_batch()`` for ``steps`` steps.

    ``settings`` holds lr, clip_norm, clip_value, eval_every, optimizer,
    patience, restore_best and watch_clipping (see :func:`train_on_stream`).
    Held-out loss and accuracy are measured every ``eval_every`` steps and after the
    last, and recorded under ``heldout_<unit>`` (the step or epoch numbers: the
    step divided by ``steps_per_unit``), ``heldout_loss`` and ``heldout_accuracy``.
    """
    check_number("lr", settings["lr"], above=0)
    for name in ("clip_norm", "clip_value"):
        if settings[name] is not None:
            check_number(name, settings[name], above=0)
    if settings["clip_norm"] is not None and settings["clip_value"] is not None:
        raise ValueError("clip_norm and clip_value cannot both be set: choose one way to clip")
    check_int("eval_every", settings["eval_every"], minimum=1)
    patience = settings["patience"]
    if patience is not None:
        check_int("patience", patience, minimum=1)
    if heldout is None and (patience is not None or settings["restore_best"]):
        raise ValueError("patience and restore_best need a held-out set")
    optimizer = settings["optimizer"](model.parameters(), lr=settings["lr"])
    clipping = (settings["clip_norm"], settings["clip_value"], settings["watch_clipping"])
    losses, norms, watched = [], [], []
    history = {f"heldout_{unit}": [], "heldout_loss": [], "heldout_accuracy": []}
    best_loss, best_evaluation, best_weights = math.inf, 0, None
    model.train()
    with progress_bar(steps, description, show_progress) as bar:
        for step in range(1, steps + 1):
            loss, norm, step_watched = _step(model, optimizer, *next_batch(), clipping)
            losses.append(loss)
            norms.append(norm)
            watched.append(step_watched)
            if not bar.disable:
                bar.set_postfix(loss=f"{float(loss):.4f}", refresh=False)
                bar.update(1)
            if heldout is None or (step % settings["eval_every"] and step != steps):
                continue
            heldout_loss, heldout_accuracy = evaluate(model, *heldout)
            history[f"heldout_{unit}"].append(step // steps_per_unit)
            history["heldout_loss"].append(heldout_loss)
            history["heldout_accuracy"].append(heldout_accuracy)
            if heldout_loss < best_loss:
                best_loss, best_evaluation = heldout_loss, len(history["heldout_loss"])
                history[f"best_{unit}"] = step // steps_per_unit
                if settings["restore_best"]:
                    # A copy: the optimiser goes on changing the model's own tensors.
                    best_weights = copy.deepcopy(model.state_dict())
            elif patience is not None and len(history["heldout_loss"]) - best_evaluation >= patience:
                break  # `patience` evaluations in a row without a lower held-out loss
    if best_weights is not None:
        model.load_state_dict(best_weights)
    # One transfer at the end: no per-step device synchronisation on a GPU.
    history["train_loss"] = torch.stack(losses).cpu().tolist()
    history["grad_norm"] = torch.stack(norms).cpu().tolist()
    if settings["watch_clipping"]:
        history["angle"] = [angle for angle, _ in watched]
        history["clipped"] = [clipped for _, clipped in watched]
    return history


def _settings(lr, clip_norm, eval_every, optimizer=torch.optim.Adam, clip_value=None, patience=None,
              restore_best=False, watch_clipping=False):
    return dict(lr=lr, clip_norm=clip_norm, eval_every=eval_every, optimizer=optimizer, clip_value=clip_value,
                patience=patience, restore_best=restore_best, watch_clipping=watch_clipping)


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
    check_int("epochs", epochs, minimum=1)
    return _train(model, lambda: train, heldout, epochs, _settings(lr, clip_norm, eval_every),
                  show_progress, description, unit="epoch")


def train_on_stream(model, next_batch, heldout, steps=1000, lr=0.01, clip_norm=None,
                    eval_every=100, show_progress=None, description="training", **options):
    """Train ``model`` with Adam (or ``optimizer``) on a fresh batch ``next_batch()`` at every step.

    ``next_batch()`` returns an ``(inputs, targets)`` tensor pair on the model's
    device; ``heldout`` is a fixed pair never trained on. Returns a dict of lists:
    ``train_loss[s]`` and ``grad_norm[s]`` for every step, and ``heldout_step``,
    ``heldout_loss``, ``heldout_accuracy`` every ``eval_every`` steps and at the end.

    ``options``, keyword only:

    - ``optimizer``: ``optimizer(parameters, lr=lr)`` makes it (default ``torch.optim.Adam``);
    - ``clip_value``: clip every gradient entry to [−clip_value, clip_value]
      instead of clipping the norm (``clip_norm``);
    - ``watch_clipping``: record at every step ``angle``, the angle in degrees
      between the gradient the optimiser receives and the unclipped one, and
      ``clipped``, whether clipping changed it;
    - ``patience``: stop after this many evaluations without a lower held-out
      loss; ``restore_best``: load the weights of the evaluation with the lowest
      held-out loss at the end. ``best_step`` is that evaluation's step.
    """
    check_int("steps", steps, minimum=1)
    return _train(model, next_batch, heldout, steps, _settings(lr, clip_norm, eval_every, **options),
                  show_progress, description, unit="step")


def train_minibatches(model, train, heldout, epochs=40, batch_size=32, lr=0.01, clip_norm=None, seed=0,
                      show_progress=None, description="training", **options):
    """Train ``model`` with Adam on shuffled minibatches of ``train``, ``epochs`` passes over it.

    Every epoch draws a new order of the N training sequences (from a generator
    seeded with ``seed``, so a run repeats) and takes one step per batch of
    ``batch_size`` of them; the held-out loss and accuracy are measured after
    every epoch. Returns a dict of lists: ``train_loss`` and ``grad_norm`` for
    every step (batch), and ``heldout_epoch``, ``heldout_loss`` and
    ``heldout_accuracy``. ``options`` are those of :func:`train_on_stream`; with
    ``patience`` (in epochs) and ``restore_best`` this is early stopping, and
    ``best_epoch`` is the epoch with the lowest held-out loss.
    """
    inputs, targets = train
    check_int("epochs", epochs, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    order = torch.Generator().manual_seed(seed)
    batches = []

    def next_batch():
        if not batches:  # a new epoch: a new order
            batches.extend(torch.randperm(len(targets), generator=order).split(batch_size))
        batch = batches.pop(0)
        return inputs[:, batch], targets[batch]

    steps_per_epoch = math.ceil(len(targets) / batch_size)
    settings = _settings(lr, clip_norm, steps_per_epoch, **options)
    return _train(model, next_batch, heldout, epochs * steps_per_epoch, settings, show_progress, description,
                  unit="epoch", steps_per_unit=steps_per_epoch)
