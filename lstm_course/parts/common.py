"""What every assignment's parts are made of: cases, probes, known mistakes, and a part's record.

A *part* is one graded function. The grader draws its *cases* from a seed: random
cases (one with T = N = 1), *probes* that zero every term but one so that a failure
says where to look, a *precision* case that float32 cannot resolve, and special
cases. It compares the student's outputs with the reference's and, when they
differ, first asks whether they equal a *known mistake* (the outputs of a classic
bug, computed from the same inputs): if so, the message names that mistake.
"""

from typing import Callable, NamedTuple

import numpy as np


class Case(NamedTuple):
    """One set of inputs for a graded function."""

    label: str  # how a message names it, e.g. "a random case (N=2, D=3, H=4)"
    kind: str  # "random", "probe" (all terms zeroed but one), "precision", "special"
    inputs: dict  # argument name -> array or plain number, in the function's order
    lesson: str = ""  # for a probe: what to look at when this probe fails
    passing: str = ""  # for a probe: what it means when this probe passes but a random case fails


class Mistake(NamedTuple):
    """A classic bug: what it computes, and what to tell a student whose outputs equal it."""

    lesson: str
    outputs: Callable  # (case) -> the buggy outputs (the graded ones), or None where undefined


class Part(NamedTuple):
    """How to grade one function of an assignment."""

    assignment: str
    name: str  # the function's name in the notebook, and the part's name
    cases: Callable  # (rng) -> list of Case
    call: dict  # how the kernel calls it (plain data, see lstm_course.client.call_case)
    reference: Callable  # (case) -> list of arrays: the graded outputs, then the forward's
    outputs: tuple  # the graded outputs with their shapes in the book's notation, e.g. ("h (N, H)",)
    hints: dict = {}  # output name -> what to check when that output alone is wrong
    combined: str = ""  # when every probe passes but a random case fails
    mistakes: tuple = ()  # known mistakes, most specific first
    diagnose: Callable = None  # (case, got, expected) -> extra lesson or ""
    compare: Callable = None  # (got, expected) -> problem text or None; default: rel_error

    @property
    def forward_outputs(self):
        """How many of the reference's outputs are the forward's (shipped to say when it is wrong)."""
        return len(self.call.get("forward_returns", ()))


def sizes(rng, T=None, N=None):
    """Random sizes for one case, with N, D and H distinct and D, H ≥ 2.

    Distinct sizes expose a transposed array by its shape, and H ≥ 2 a transposed
    square W_hh by its values; T and N can be forced (T = 1 and N = 1 are always tried).
    """
    N_drawn, D, H = (int(n) for n in rng.permutation(np.arange(2, 6))[:3])
    return {"T": int(rng.integers(2, 6)) if T is None else T,
            "N": N_drawn if N is None else N, "D": D, "H": H}


def size_label(sizes_, letters):
    return ", ".join(f"{letter}={sizes_[letter]}" for letter in letters)


def normal(rng, *shape, scale=1.0):
    return scale * rng.standard_normal(shape)


def zeroed(inputs, *names):
    """A copy of ``inputs`` with the named arrays set to zero."""
    return {name: (np.zeros_like(value) if name in names else _copy(value))
            for name, value in inputs.items()}


def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def recurrent_inputs(rng, sizes_, gates, sequence, cell):
    """x, the initial state(s) and W_ih, W_hh, b for an RNN (gates=1) or an LSTM (gates=4)."""
    T, N, D, H = sizes_["T"], sizes_["N"], sizes_["D"], sizes_["H"]
    inputs = {"x": normal(rng, T, N, D) if sequence else normal(rng, N, D)}
    inputs["h0" if sequence else "h_prev"] = normal(rng, N, H, scale=0.5)
    if cell:
        inputs["c0" if sequence else "c_prev"] = normal(rng, N, H)
    inputs["W_ih"] = normal(rng, gates * H, D, scale=0.5)
    inputs["W_hh"] = normal(rng, gates * H, H, scale=0.5)
    inputs["b"] = normal(rng, gates * H, scale=0.5)
    return inputs


def cancelling(inputs, sequence):
    """Inputs whose pre-activations cancel to about ±1e-3 (N = 1): float32 cannot resolve them."""
    x = inputs["x"][0] if sequence else inputs["x"]
    h = inputs["h0" if sequence else "h_prev"]
    total = x @ inputs["W_ih"].T + h @ inputs["W_hh"].T
    rows = total.shape[1]
    # About ±1e-3, never near 0 (where even float64 keeps no relative precision).
    small = 1e-3 * (1 + np.arange(rows) / rows) * np.where(np.arange(rows) % 2, -1.0, 1.0)
    changed = dict(inputs)
    changed["b"] = small - total[0]
    if "c_prev" in inputs or "c0" in inputs:
        changed["c0" if sequence else "c_prev"] = np.zeros_like(h)
    return changed


def random_cases(rng, build, letters, sequence):
    """Three random cases: T = N = 1, then two with random sizes."""
    cases = []
    for forced in ({"T": 1, "N": 1}, {}, {}):
        sizes_ = sizes(rng, **forced)
        if not sequence:
            sizes_["T"] = 1
        shown = [letter for letter in letters if sequence or letter != "T"]
        cases.append(Case(f"a random case ({size_label(sizes_, shown)})", "random", build(rng, sizes_)))
    return cases


def step_upstream(rng, forward_cases, names):
    """A step backward's cases: the forward's (but the precision case) with random (N, H) gradients.

    The forward's probes do not isolate a backward's terms, so they become special cases.
    """
    cases = []
    for case in forward_cases:
        if case.kind == "precision":
            continue
        inputs = dict(case.inputs)
        for name in names:
            inputs[name] = normal(rng, *inputs["h_prev"].shape)
        cases.append(case._replace(inputs=inputs, kind="random" if case.kind == "random" else "special"))
    return cases


def cell_sequence_upstream(rng, forward_cases, dcT_hint):
    """A cell-state sequence backward's cases (LSTM, peephole LSTM): sequence_upstream's, then a
    case with a gradient dcT on the last cell state and a probe with dcT alone (dhs = 0)."""
    cases = sequence_upstream(rng, forward_cases)
    with_dcT = dict(cases[1].inputs)
    with_dcT["dcT"] = normal(rng, *with_dcT["h0"].shape)
    return cases + [
        Case("a case with a gradient dcT on the last cell state", "special", with_dcT),
        Case("a probe with only dcT (dhs = 0)", "probe", dict(with_dcT, dhs=np.zeros_like(with_dcT["dhs"])),
             dcT_hint),
    ]


def sequence_upstream(rng, forward_cases):
    """A sequence backward's cases: the forward's (but the precision case) with a random dhs (T, N, H)."""
    cases = []
    for case in forward_cases:
        if case.kind == "precision":
            continue
        inputs = dict(case.inputs)
        T, N = inputs["x"].shape[:2]
        inputs["dhs"] = normal(rng, T, N, inputs["W_hh"].shape[1])
        cases.append(case._replace(inputs=inputs))
    return cases


def sequence_probes(rng, build, state_names):
    """A zero initial state, and a single time step: where a sequence function usually goes wrong."""
    sizes_ = sizes(rng)
    base = build(rng, sizes_)
    return [
        Case(f"a probe with a zero initial state ({size_label(sizes_, 'TNDH')})", "probe",
             zeroed(base, *state_names),
             passing="you are right when the initial state is zero: look at how the initial state "
                     "enters (the first step starts from it, and its gradient is what step 1 sends "
                     "back)"),
        Case(f"a probe with a single time step (T=1, N={sizes_['N']})", "probe",
             {k: (v[:1].copy() if k in ("x", "dhs") else _copy(v)) for k, v in base.items()},
             "look at a single step first: it must equal your step function's result",
             passing="one time step is right, several are not: look at how step t+1 uses what "
                     "step t produced (or, backwards, what step t+1 sends back to step t)"),
    ]


def shifted(case, got, expected):
    """A lesson when the student's states are the reference's shifted by one step."""
    if got[0].shape != expected[0].shape or got[0].shape[0] < 2:
        return ""
    if np.allclose(got[0][1:], expected[0][:-1], rtol=1e-9, atol=1e-12):
        return ("your states are shifted by one step: hs[t] must hold h_{t+1}, the state after "
                "reading x[t] (hs holds h_1 .. h_T, not h_0 .. h_{T−1}).")
    return ""


def away_from_zero(rng, shape, low=0.5, high=1.5):
    return rng.uniform(low, high, size=shape) * rng.choice([-1.0, 1.0], size=shape)
