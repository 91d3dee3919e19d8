"""LSTM variants after Greff et al. (2017), "LSTM: A Search Space Odyssey", as one batched model.

Greff et al. changed one thing at a time in an LSTM and measured what it cost.
The book's LSTM is PyTorch's, which has no peephole connections; every variant
here is that LSTM with one change (in Greff et al.'s study every variant kept
the peepholes of their "vanilla" LSTM, so our baseline is their "NP"):

=========  ==============================  =====================================
name       Greff et al.                    the change, in the book's notation
=========  ==============================  =====================================
LSTM       NP (no peepholes)               none: ``torch.nn.LSTM``
PH         V (vanilla, with peepholes)     i, f see p ⊙ c_{t−1}; o sees p_o ⊙ c_t
NIG        no input gate                   i = 1
NFG        no forget gate                  f = 1
NOG        no output gate                  o = 1
NIAF       no input activation function    g = a_g (no tanh)
NOAF       no output activation function   h_t = o ⊙ c_t (no tanh)
CIFG       coupled input and forget gate   f = 1 − i
FGR        full gate recurrence            a_i, a_f, a_o += R [i; f; o]_{t−1}
=========  ==============================  =====================================

:class:`LSTMVariants` holds M members, each one of these variants, with the
member axis first (``lstm_labs.members``): one forward runs all of them. A
member of variant LSTM computes exactly what ``torch.nn.LSTM`` with its
weights computes, and a PH member what ``lstm_ref.peephole`` computes.
"""

import math

import torch
from torch import nn

from lstm_ref._checks import check_int
from lstm_labs.members import draw_lstm_members_, uniform_

# name -> (Greff et al.'s label, what changes). The order is that of every table and figure.
VARIANTS = {
    "LSTM": ("NP", "none: PyTorch's LSTM, no peepholes"),
    "PH": ("V", "peepholes: i, f see p ⊙ c_{t−1}, o sees p_o ⊙ c_t"),
    "NIG": ("NIG", "no input gate, i = 1"),
    "NFG": ("NFG", "no forget gate, f = 1"),
    "NOG": ("NOG", "no output gate, o = 1"),
    "NIAF": ("NIAF", "no input activation, g = a_g"),
    "NOAF": ("NOAF", "no output activation, h = o ⊙ c"),
    "CIFG": ("CIFG", "coupled gates, f = 1 − i"),
    "FGR": ("FGR", "full gate recurrence, a_i, a_f, a_o += R [i; f; o]_{t−1}"),
}

# The switches of the step, one per change; a variant turns on at most one.
_SWITCHES = ("peephole", "no_input_gate", "no_forget_gate", "no_output_gate", "no_input_activation",
             "no_output_activation", "coupled", "gate_recurrence")
_SWITCH_OF = {"PH": "peephole", "NIG": "no_input_gate", "NFG": "no_forget_gate", "NOG": "no_output_gate",
              "NIAF": "no_input_activation", "NOAF": "no_output_activation", "CIFG": "coupled",
              "FGR": "gate_recurrence"}




class LSTMVariants(nn.Module):
    """M one-layer LSTM variants with a linear read-out, trained as one batch.

    Member m has the parameters ``W_ih[m]`` (4H, D), ``W_hh[m]`` (4H, H), ``b[m]``
    (4H,), gates in PyTorch's order i, f, g, o; peephole weights ``p[m]`` (3H,)
    = [p_i; p_f; p_o]; gate-recurrence weights ``R[m]`` (3H, 3H) from
    [i; f; o]_{t−1} to [a_i; a_f; a_o]; and a read-out ``W_out[m]`` (C, H),
    ``b_out[m]`` (C,). Every member holds all of them; a variant that does not
    use one gets no gradient for it, so Adam leaves it alone.

    Parameters
    ----------
    variants : sequence of names of ``VARIANTS``, one per member.
    seeds : sequence of ints, one per member: the initial weights of member m are
        drawn from ``seeds[m]``, the same draws for every variant, so members that
        share a seed start from the same W_ih, W_hh and b.
    input_size, hidden_size, num_classes : D, H and C.
    per_step : read out every h_t (a next-token model, logits (M, T, N, C)) or
        only h_T (a classifier, logits (M, N, C)).

    Initialisation is PyTorch's: weights ~ U(−1/√H, 1/√H), b the sum of two such
    draws, the read-out as ``nn.Linear(H, C)``; p and R ~ U(−1/√H, 1/√H).
    """

    def __init__(self, variants, seeds, input_size, hidden_size, num_classes, per_step=False):
        super().__init__()
        variants, seeds = list(variants), [check_int("every seed", seed) for seed in seeds]
        unknown = [name for name in variants if name not in VARIANTS]
        if unknown or not variants:
            raise ValueError(f"variants must be a non-empty list of names among {list(VARIANTS)}, got {variants}")
        if len(seeds) != len(variants):
            raise ValueError(f"seeds must have one entry per member, {len(variants)}, got {len(seeds)}")
        D, H, C = (check_int(name, value, minimum=1) for name, value in
                   (("input_size", input_size), ("hidden_size", hidden_size), ("num_classes", num_classes)))
        self.variants, self.seeds, self.per_step = variants, seeds, per_step
        M = len(variants)
        self.W_ih = nn.Parameter(torch.empty(M, 4 * H, D))
        self.W_hh = nn.Parameter(torch.empty(M, 4 * H, H))
        self.b = nn.Parameter(torch.empty(M, 4 * H))
        self.p = nn.Parameter(torch.empty(M, 3 * H))
        self.R = nn.Parameter(torch.empty(M, 3 * H, 3 * H))
        self.W_out = nn.Parameter(torch.empty(M, C, H))
        self.b_out = nn.Parameter(torch.empty(M, C))
        for switch in _SWITCHES:
            on = [_SWITCH_OF.get(name) == switch for name in variants]
            self.register_buffer(switch, torch.tensor(on).reshape(M, 1, 1))
        self.switched_on = {_SWITCH_OF[name] for name in variants if name in _SWITCH_OF}
        self.reset_parameters()

    def reset_parameters(self):
        """Draw member m's parameters from its seed, as PyTorch's defaults are distributed: the LSTM and
        the read-out first (``lstm_labs.members.draw_lstm_members_``), then p and R."""
        bound = 1 / math.sqrt(self.W_hh.shape[2])
        generators = draw_lstm_members_(self.seeds, self.W_ih, self.W_hh, self.b, self.W_out, self.b_out)
        for m, generator in enumerate(generators):
            for tensor in (self.p[m], self.R[m]):
                uniform_(tensor, bound, generator)

    def forward(self, x):
        """x (M, T, N, D) gives logits (M, N, C), or (M, T, N, C) with ``per_step``."""
        M, T, N, D = x.shape
        if M != len(self.variants) or D != self.W_ih.shape[2]:
            raise ValueError(f"x must have shape (M, T, N, D) = ({len(self.variants)}, T, N, {self.W_ih.shape[2]}), "
                             f"got {tuple(x.shape)}")
        H = self.W_hh.shape[2]
        # W_ih x_t + b for every step at once, then one (M, N, 4H) tensor per step: unbinding once
        # keeps the backward from building a (T, M, N, 4H) gradient for every step it indexes.
        x_projections = (torch.einsum("mtnd,mgd->tmng", x, self.W_ih) + self.b[None, :, None, :]).unbind(0)
        p_i, p_f, p_o = (self.p * self.peephole.reshape(M, 1)).unsqueeze(1).chunk(3, dim=-1)  # (M, 1, H)
        W_hh_T = self.W_hh.transpose(1, 2)
        R_T = (self.R * self.gate_recurrence).transpose(1, 2)
        h = c = x.new_zeros(M, N, H)
        gates_prev = x.new_zeros(M, N, 3 * H)
        hs = []
        for t in range(T):
            a_i, a_f, a_g, a_o = (x_projections[t] + torch.bmm(h, W_hh_T)).chunk(4, dim=-1)
            if "gate_recurrence" in self.switched_on:
                r_i, r_f, r_o = torch.bmm(gates_prev, R_T).chunk(3, dim=-1)
                a_i, a_f, a_o = a_i + r_i, a_f + r_f, a_o + r_o
            if "peephole" in self.switched_on:
                a_i, a_f = a_i + p_i * c, a_f + p_f * c
            i = self._switch("no_input_gate", 1.0, torch.sigmoid(a_i))
            f = self._switch("no_forget_gate", 1.0, torch.sigmoid(a_f))
            f = self._switch("coupled", 1 - i, f)
            g = self._switch("no_input_activation", a_g, torch.tanh(a_g))
            c = f * c + i * g
            if "peephole" in self.switched_on:
                a_o = a_o + p_o * c  # the output gate sees the new c_t
            o = self._switch("no_output_gate", 1.0, torch.sigmoid(a_o))
            h = o * self._switch("no_output_activation", c, torch.tanh(c))
            if "gate_recurrence" in self.switched_on:
                gates_prev = torch.cat([i, f, o], dim=-1)
            hs.append(h)
        if self.per_step:
            return torch.einsum("mtnh,mch->mtnc", torch.stack(hs, dim=1), self.W_out) + self.b_out[:, None, None]
        return torch.bmm(h, self.W_out.transpose(1, 2)) + self.b_out[:, None]

    def _switch(self, switch, when_on, when_off):
        """``when_on`` for the members whose variant turns ``switch`` on, ``when_off`` for the others."""
        if switch not in self.switched_on:
            return when_off
        return torch.where(getattr(self, switch), when_on, when_off)
