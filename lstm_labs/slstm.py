"""The sLSTM in PyTorch: the twin of ``lstm_ref.slstm``, a layer, a classifier, a recall comparison.

:func:`slstm_step` computes, with torch operations, exactly what
``lstm_ref.slstm.slstm_step_forward`` computes, with the same parameters
(``W`` (4H, D), per-head ``R`` (4H, d), ``b`` (4H,), gate order i, f, z, o) and
the same stabiliser, so autograd through it checks the NumPy backward:

    a = W x_t + R h_{t−1} + b = [ĩ; f̃; z̃; õ]
    m_t = max(log f + m_{t−1}, ĩ)   (ĩ where n_{t−1} = 0),   log f = f̃ or log σ(f̃)
    c_t = f' c_{t−1} + i' tanh(z̃),   n_t = f' n_{t−1} + i',   h_t = σ(õ) c_t / n_t
    with i' = exp(ĩ − m_t), f' = exp(log f + m_{t−1} − m_t).

:class:`SLSTMLayer` runs it over a sequence (time-major, zero initial states by
default); :class:`SLSTMClassifier` adds a linear read-out of h_T, like the
labs' ``SequenceClassifier``, so ``train_on_stream`` and ``evaluate`` take it
as they are. :func:`run_slstm_recall` trains it beside the LSTM on delayed
recall, on the same batches, the way ``lstm_labs.recall.run_recall`` does.
"""

import functools
import math
import time

import numpy as np
import torch
from torch import nn

from lstm_labs.models import make_classifier
from lstm_labs.recall import train_on_recall
from lstm_labs.results import provenance
from lstm_labs.training import choose_device
from lstm_ref._checks import check_int
from lstm_ref.slstm import FORGET_GATES, SLSTMParams

CHANCE = 1 / 3


def recurrent_term(h, R):
    """R h_{t−1} for a batch: h (N, H) and the per-head R (4H, d) give (N, 4H), gate-major."""
    N, H = h.shape
    d = R.shape[1]
    K = H // d
    return torch.einsum("gkjl,nkl->ngkj", R.reshape(4, K, d, d), h.reshape(N, K, d)).reshape(N, 4 * H)


def slstm_step(x, h_prev, c_prev, n_prev, m_prev, W, R, b, forget_gate="sigmoid"):
    """One stabilised sLSTM step in torch; returns (h, c, n, m), each (N, H).

    ``x`` is (N, D), the states (N, H), ``W`` (4H, D), ``R`` (4H, d), ``b`` (4H,).
    The twin of ``lstm_ref.slstm.slstm_step_forward``.
    """
    return _step_from_input_term(x @ W.T + b, h_prev, c_prev, n_prev, m_prev, R, forget_gate)


def _step_from_input_term(input_term, h_prev, c_prev, n_prev, m_prev, R, forget_gate):
    """The step with W x_t + b given: a sequence computes that for every t at once."""
    a = input_term + recurrent_term(h_prev, R)
    i_pre, f_pre, z_pre, o_pre = a.chunk(4, dim=-1)
    log_f = f_pre if forget_gate == "exp" else nn.functional.logsigmoid(f_pre)
    m = torch.where(n_prev == 0, i_pre, torch.maximum(log_f + m_prev, i_pre))
    i = torch.exp(i_pre - m)
    f = torch.exp(log_f + m_prev - m)
    c = f * c_prev + i * torch.tanh(z_pre)
    n = f * n_prev + i
    h = torch.sigmoid(o_pre) * c / n
    return h, c, n, m


def slstm_sequence(x, state, W, R, b, forget_gate="sigmoid"):
    """The stabilised sLSTM over ``x`` (T, N, D) from ``state`` = (h0, c0, n0, m0).

    Returns ``hs`` (T, N, H) and the last state (h_T, c_T, n_T, m_T).
    """
    input_terms = x @ W.T + b  # W x_t + b for every t in one product
    hs = []
    for input_term in input_terms:
        state = _step_from_input_term(input_term, *state, R, forget_gate)
        hs.append(state[0])
    return torch.stack(hs), state


class SLSTMLayer(nn.Module):
    """An sLSTM layer: parameters ``W`` (4H, D), ``R`` (4H, H / num_heads), ``b`` (4H,).

    Initialised as ``nn.LSTM`` initialises, every entry from U(−1/√H, 1/√H);
    ``forget_bias``, if given, sets the forget gate's block b[H:2H].
    ``forward(x, state=None)`` takes x (T, N, D), time-major, starts from zero
    states unless given ``state`` = (h0, c0, n0, m0), and returns ``hs``
    (T, N, H) and the last state.
    """

    def __init__(self, input_size, hidden_size, num_heads=1, forget_gate="sigmoid", forget_bias=None,
                 dtype=None):
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_heads", num_heads)):
            check_int(name, value, minimum=1)
        if hidden_size % num_heads:
            raise ValueError(f"num_heads must divide hidden_size = {hidden_size}, got {num_heads}")
        if forget_gate not in FORGET_GATES:
            raise ValueError(f"forget_gate must be 'exp' or 'sigmoid', got {forget_gate!r}")
        self.input_size, self.hidden_size, self.num_heads = input_size, hidden_size, num_heads
        self.forget_gate = forget_gate
        H, d = hidden_size, hidden_size // num_heads
        self.W = nn.Parameter(torch.empty(4 * H, input_size, dtype=dtype))
        self.R = nn.Parameter(torch.empty(4 * H, d, dtype=dtype))
        self.b = nn.Parameter(torch.empty(4 * H, dtype=dtype))
        bound = 1 / math.sqrt(H)
        with torch.no_grad():
            for parameter in (self.W, self.R, self.b):
                parameter.uniform_(-bound, bound)
            if forget_bias is not None:
                self.b[H : 2 * H] = forget_bias

    def forward(self, x, state=None):
        if state is None:
            zeros = x.new_zeros(x.shape[1], self.hidden_size)
            state = (zeros, zeros, zeros, zeros)
        return slstm_sequence(x, state, self.W, self.R, self.b, self.forget_gate)


def slstm_layer_from_params(params, forget_gate="sigmoid", dtype=None):
    """An :class:`SLSTMLayer` holding copies of NumPy ``SLSTMParams(W, R, b)`` (dtype: theirs, or ``dtype``)."""
    W, R, b = (torch.as_tensor(np.asarray(array)) for array in params)
    dtype = W.dtype if dtype is None else dtype
    H, D = W.shape[0] // 4, W.shape[1]
    if R.shape[0] != 4 * H or b.shape != (4 * H,) or H % R.shape[1]:
        raise ValueError(f"params must be W (4H, D), R (4H, d) with d dividing H, b (4H,); "
                         f"got {tuple(W.shape)}, {tuple(R.shape)}, {tuple(b.shape)}")
    with torch.random.fork_rng(devices=[]):  # the initial draws are overwritten: keep them out of the stream
        layer = SLSTMLayer(D, H, num_heads=H // R.shape[1], forget_gate=forget_gate, dtype=dtype)
    with torch.no_grad():
        for parameter, array in zip((layer.W, layer.R, layer.b), (W, R, b)):
            parameter.copy_(array)
    return layer


def params_from_slstm_layer(layer):
    """The parameters of an :class:`SLSTMLayer` as NumPy ``SLSTMParams(W, R, b)`` (copies)."""
    return SLSTMParams(*(p.detach().cpu().numpy().copy() for p in (layer.W, layer.R, layer.b)))


class SLSTMClassifier(nn.Module):
    """An :class:`SLSTMLayer` and a linear read-out of its last hidden state.

        x: (T, N, D)  ->  h_1 .. h_T: (T, N, H)  ->  logits = h_T W_outᵀ + b_out: (N, C)

    The same interface as the labs' ``SequenceClassifier`` (``recurrent``,
    ``head``, ``forward(x)``), for ``train_on_stream`` and ``evaluate``.
    """

    def __init__(self, input_size=3, hidden_size=10, num_classes=3, num_heads=1, forget_gate="sigmoid",
                 forget_bias=None):
        super().__init__()
        check_int("num_classes", num_classes, minimum=1)
        self.cell = "sLSTM"
        self.recurrent = SLSTMLayer(input_size, hidden_size, num_heads, forget_gate, forget_bias)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, x):
        """``x`` of shape (T, N, D), time-major, gives logits of shape (N, C)."""
        if x.dim() != 3 or x.shape[-1] != self.recurrent.input_size:
            raise ValueError(
                f"x must have shape (T, N, D) with D = {self.recurrent.input_size}, got {tuple(x.shape)}"
            )
        hs, _ = self.recurrent(x)
        return self.head(hs[-1])


def slstm_label(forget_gate):
    """The label of an sLSTM run in tables and legends: "sLSTM (f = σ)" or "sLSTM (f = exp)"."""
    return f"sLSTM (f = {'σ' if forget_gate == 'sigmoid' else 'exp'})"


def run_slstm_recall(lags=(5, 20), seeds=(0,), steps=300, batch=128, hidden_size=16, num_heads=1,
                     forget_gates=("sigmoid", "exp"), lr=0.01, clip_norm=1.0, heldout_sequences=1000,
                     eval_every=50, device="auto", show_progress=None, keep_models=False):
    """Train the LSTM and the sLSTM on delayed recall, on the same batches; measure held-out accuracy.

    For each (seed, lag), the LSTM (``nn.LSTM``) and one sLSTM per entry of
    ``forget_gates`` each start from ``seed`` (every parameter from
    U(−1/√H, 1/√H)), see the same ``steps`` batches of ``batch`` fresh
    sequences (Adam, learning rate ``lr``, gradients clipped to norm
    ``clip_norm``) and are evaluated on the same ``heldout_sequences`` sequences,
    never trained on, drawn with the seeds that ``run_recall`` uses.

    Returns a dict: ``config``, ``runs`` (one per seed, lag and model, with its
    label, parameter count, training ``history`` and ``final`` held-out loss and
    accuracy) and ``provenance``; with ``keep_models``, also ``models``, mapping
    ``(label, lag, seed)`` to the trained model (not JSON).
    """
    for lag in lags:
        check_int("every lag", lag, minimum=1)
    for forget_gate in forget_gates:
        if forget_gate not in FORGET_GATES:
            raise ValueError(f"forget_gates must hold 'exp' or 'sigmoid', got {forget_gate!r}")
    started = time.perf_counter()
    device = choose_device(device)
    builders = {"LSTM": lambda: make_classifier("LSTM", hidden_size=hidden_size)}
    for forget_gate in forget_gates:
        builders[slstm_label(forget_gate)] = functools.partial(
            SLSTMClassifier, hidden_size=hidden_size, num_heads=num_heads, forget_gate=forget_gate)
    models = {}
    runs = train_on_recall(builders, lags, seeds, steps, batch, lr, clip_norm, heldout_sequences, eval_every,
                           device, show_progress, models=models if keep_models else None)
    config = {"lags": list(lags), "seeds": list(seeds), "models": list(builders), "steps": steps,
              "batch": batch, "hidden_size": hidden_size, "num_heads": num_heads, "lr": lr,
              "clip_norm": clip_norm, "heldout_sequences": heldout_sequences, "optimizer": "Adam",
              "loss": "cross-entropy", "chance_accuracy": CHANCE}
    results = {"lab": "slstm_recall", "config": config, "runs": runs, "provenance": provenance(device, started)}
    if keep_models:
        results["models"] = models
    return results
