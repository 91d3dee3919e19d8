"""Assignment 6, the peephole LSTM: cases, references and lessons of its four graded parts."""

import numpy as np

from lstm_course.parts.common import (
    Case, Mistake, Part, cancelling, cell_sequence_upstream, normal, random_cases, recurrent_inputs,
    sequence_probes, shifted, size_label, sizes, step_upstream, zeroed,
)
from lstm_ref.activations import sigmoid
from lstm_ref.peephole import peephole_backward, peephole_forward, peephole_step_backward, peephole_step_forward

ASSIGNMENT = "a6_peephole"
STEP_ARGS = ["x", "h_prev", "c_prev", "W_ih", "W_hh", "b", "p"]
SEQUENCE_ARGS = ["x", "h0", "c0", "W_ih", "W_hh", "b", "p"]
ORDER = ("W_ih, W_hh and b are stacked in PyTorch's order i, f, g, o, and p in the order of its gates, "
         "p = [p_i; p_f; p_o]: rows 0..H, H..2H and 2H..3H")


def _inputs(rng, sizes_, sequence):
    """The LSTM's inputs and peephole weights p (3H,)."""
    inputs = recurrent_inputs(rng, sizes_, 4, sequence=sequence, cell=True)
    inputs["p"] = normal(rng, 3 * sizes_["H"])
    return inputs


def _only_peephole(inputs, gate):
    """x = 0, h = 0, W_hh = 0, p zero but the named gate's block; c_{t−1} ≠ 0; b zero but the g block
    (so the candidate, and through it c_t, is not zero)."""
    H = inputs["W_hh"].shape[1]
    changed = zeroed(inputs, "x", "h_prev", "W_hh")
    k = "ifo".index(gate)
    p = np.zeros_like(inputs["p"])
    p[k * H:(k + 1) * H] = inputs["p"][k * H:(k + 1) * H] + np.sign(inputs["p"][k * H:(k + 1) * H])
    b = np.zeros_like(inputs["b"])
    b[2 * H:3 * H] = inputs["b"][2 * H:3 * H] + 1.0
    changed["p"], changed["b"] = p, b
    return changed


def _probes(base, shown):
    return [
        Case(f"a probe with the peepholes off (p = 0: the plain LSTM; {shown})", "probe", zeroed(base, "p"),
             "with p = 0 the step is the LSTM of assignment 2: look at the gates, the cell update and "
             "h_t = o ⊙ tanh(c_t) first. " + ORDER,
             passing="you are right when p = 0: look at where the peepholes enter, "
                     "p_i ⊙ c_{t−1} and p_f ⊙ c_{t−1} inside i and f, p_o ⊙ c_t inside o"),
        Case(f"a probe of the forget gate's peephole (x = 0, h = 0, W_hh = 0, only p_f non-zero; {shown})",
             "probe", _only_peephole(base, "f"),
             "look at the forget gate: f = σ(a_f + p_f ⊙ c_{t−1}), with p_f the middle block of p. " + ORDER),
        Case(f"a probe of the input gate's peephole (x = 0, h = 0, W_hh = 0, only p_i non-zero; {shown})",
             "probe", _only_peephole(base, "i"),
             "look at the input gate: i = σ(a_i + p_i ⊙ c_{t−1}), with p_i the first block of p"),
        Case(f"a probe of the output gate's peephole (x = 0, h = 0, W_hh = 0, only p_o non-zero; {shown})",
             "probe", _only_peephole(base, "o"),
             "look at the output gate: o = σ(a_o + p_o ⊙ c_t) reads the *new* cell state c_t, so it is "
             "computed after the cell update"),
    ]


def step_cases(rng):
    cases = random_cases(rng, lambda r, s: _inputs(r, s, False), "NDH", sequence=False)
    sizes_ = sizes(rng)
    cases += _probes(_inputs(rng, sizes_, False), shown=size_label(sizes_, "NDH"))
    cases.append(Case("a precision case (N = 1, pre-activations that nearly cancel)", "precision",
                      cancelling(_inputs(rng, sizes(rng, N=1), False), sequence=False)))
    return cases


def sequence_cases(rng):
    cases = random_cases(rng, lambda r, s: _inputs(r, s, True), "TNDH", sequence=True)
    cases += sequence_probes(rng, lambda r, s: _inputs(r, s, True), ["h0", "c0"])
    cases.append(Case("a precision case (T = N = 1, pre-activations that nearly cancel)", "precision",
                      cancelling(_inputs(rng, sizes(rng, T=1, N=1), True), sequence=True)))
    return cases


# The classic mistakes of the forward step ------------------------------------------------------------

def _buggy_step(x, h_prev, c_prev, W_ih, W_hh, b, p, change):
    """One peephole step with a classic mistake switched on: (h, c)."""
    H = h_prev.shape[1]
    a = x @ W_ih.T + h_prev @ W_hh.T + b
    a_i, a_f, a_g, a_o = (a[:, k * H:(k + 1) * H] for k in range(4))
    p_i, p_f, p_o = (p[k * H:(k + 1) * H] for k in range(3))
    if change == "no peepholes":
        p_i = p_f = p_o = np.zeros(H)
    if change == "p_i and p_f swapped":
        p_i, p_f = p_f, p_i
    i, f, g = sigmoid(a_i + p_i * c_prev), sigmoid(a_f + p_f * c_prev), np.tanh(a_g)
    c = f * c_prev + i * g
    o = sigmoid(a_o + p_o * (c_prev if change == "o sees c_prev" else c))
    return o * np.tanh(c), c


def _step_mistake(change):
    return lambda case: list(_buggy_step(*(case.inputs[k] for k in STEP_ARGS), change))


def _sequence_mistake(change):
    def outputs(case):
        x, h, c, W_ih, W_hh, b, p = (case.inputs[k] for k in SEQUENCE_ARGS)
        hs, cs = [], []
        for x_t in x:
            h, c = _buggy_step(x_t, h, c, W_ih, W_hh, b, p, change)
            hs.append(h)
            cs.append(c)
        return [np.stack(hs), np.stack(cs)]
    return outputs


LESSONS = [
    ("o sees c_prev", "your h equals that of an output gate reading c_{t−1}: the output gate's peephole "
                      "reads the new cell state, o = σ(a_o + p_o ⊙ c_t), so compute c_t first"),
    ("no peepholes", "your h and c equal the plain LSTM's: add p_i ⊙ c_{t−1} to the input gate's and "
                     "p_f ⊙ c_{t−1} to the forget gate's pre-activation, and p_o ⊙ c_t to the output gate's"),
    ("p_i and p_f swapped", "your h and c equal those of p_i and p_f swapped: " + ORDER),
]


# The backward step ------------------------------------------------------------------------------------

def _step_backward_cases(rng):
    cases = step_upstream(rng, step_cases(rng), ["dh", "dc"])
    base = dict(cases[1].inputs)
    cases += [
        Case("a probe with dL/dh_t = 0 (the gradient arrives through c_t only)", "probe",
             dict(base, dh=np.zeros_like(base["dh"])),
             "look at the cell path: with dh = 0, dc_t = dc, and it reaches c_{t−1} three ways, "
             "dc_prev = dc_t ⊙ f + da_i ⊙ p_i + da_f ⊙ p_f"),
        Case("a probe with dL/dc_t = 0 (the gradient arrives through h_t only)", "probe",
             dict(base, dc=np.zeros_like(base["dc"])),
             "look at the output gate first: da_o = dh ⊙ tanh(c_t) ⊙ o(1 − o), then "
             "dc_t = dh ⊙ o ⊙ (1 − tanh²(c_t)) + da_o ⊙ p_o"),
    ]
    return cases


def _step_backward_reference(case):
    h, c, cache = peephole_step_forward(*(case.inputs[k] for k in STEP_ARGS))
    return [*peephole_step_backward(case.inputs["dh"], case.inputs["dc"], cache), h, c]


def _buggy_step_backward(case, change):
    """The gradients of one step with a classic mistake of the backward switched on."""
    _, _, cache = peephole_step_forward(*(case.inputs[k] for k in STEP_ARGS))
    dh, dc = case.inputs["dh"], case.inputs["dc"]
    H = dh.shape[1]
    p_i, p_f, p_o = (cache.p[k * H:(k + 1) * H] for k in range(3))
    i, f, g, o, c, tanh_c, c_prev = cache.i, cache.f, cache.g, cache.o, cache.c, cache.tanh_c, cache.c_prev
    da_o = dh * tanh_c * o * (1 - o)
    dc_t = dc + dh * o * (1 - tanh_c**2) + (0 if change == "no output peephole in dc_t" else da_o * p_o)
    da_i, da_f, da_g = dc_t * g * i * (1 - i), dc_t * c_prev * f * (1 - f), dc_t * i * (1 - g**2)
    da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)
    dc_prev = dc_t * f + (0 if change == "dc_prev through f only" else da_i * p_i + da_f * p_f)
    dp_o = da_o * (c_prev if change == "dp_o with c_prev" else c)
    dp = np.concatenate([da_i * c_prev, da_f * c_prev, dp_o], axis=1).sum(axis=0)
    return [da @ cache.W_ih, da @ cache.W_hh, dc_prev, da.T @ cache.x, da.T @ cache.h_prev, da.sum(axis=0), dp]


BACKWARD_LESSONS = [
    ("no output peephole in dc_t", "your gradients equal those without the output gate's peephole in dc_t: "
                                   "c_t also reaches the loss through o, dc_t = dc + dh ⊙ o ⊙ (1 − tanh²(c_t)) "
                                   "+ da_o ⊙ p_o"),
    ("dc_prev through f only", "your dc_prev equals dc_t ⊙ f, the LSTM's: here c_{t−1} also enters i and f, "
                               "dc_prev = dc_t ⊙ f + da_i ⊙ p_i + da_f ⊙ p_f"),
    ("dp_o with c_prev", "your dp equals the one with c_{t−1} in the output gate's block: o reads c_t, "
                         "so dp_o = Σ_n da_o ⊙ c_t"),
]


# The backward of a sequence ----------------------------------------------------------------------------

def _backward_cases(rng):
    return cell_sequence_upstream(rng, sequence_cases(rng),
                                  "look at dcT: it is the dc of the last step (None means zero)")


def _backward_reference(case):
    hs, cs, cache = peephole_forward(*(case.inputs[k] for k in SEQUENCE_ARGS))
    return [*peephole_backward(case.inputs["dhs"], cache, case.inputs.get("dcT")), hs, cs]


GRADIENTS = ("dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db", "dp")
STEP_HINTS = {
    "dx": "dx = da W_ih, with da = [da_i, da_f, da_g, da_o]",
    "dh_prev": "dh_prev = da W_hh",
    "dc_prev": "dc_prev = dc_t ⊙ f + da_i ⊙ p_i + da_f ⊙ p_f",
    "dW_ih": "dW_ih = daᵀ x_t", "dW_hh": "dW_hh = daᵀ h_{t−1}", "db": "db = Σ_n da",
    "dp": "dp = Σ_n [da_i ⊙ c_{t−1}, da_f ⊙ c_{t−1}, da_o ⊙ c_t]",
}

PARTS = (
    Part(ASSIGNMENT, "peephole_step_forward", step_cases,
         {"kind": "call", "args": STEP_ARGS, "returns": ["h", "c", "cache"]},
         lambda case: list(peephole_step_forward(*(case.inputs[k] for k in STEP_ARGS))[:2]),
         ("h (N, H)", "c (N, H)"),
         mistakes=tuple(Mistake(lesson, _step_mistake(change)) for change, lesson in LESSONS),
         combined="each peephole alone is right but not the whole step: i and f read c_{t−1}, then "
                  "c_t = f ⊙ c_{t−1} + i ⊙ g, then o reads c_t, then h_t = o ⊙ tanh(c_t)"),
    Part(ASSIGNMENT, "peephole_forward", sequence_cases,
         {"kind": "call", "args": SEQUENCE_ARGS, "returns": ["hs", "cs", "cache"]},
         lambda case: list(peephole_forward(*(case.inputs[k] for k in SEQUENCE_ARGS))[:2]),
         ("hs (T, N, H)", "cs (T, N, H)"), diagnose=shifted,
         mistakes=tuple(Mistake(lesson, _sequence_mistake(change)) for change, lesson in LESSONS),
         combined="each step must start from the h and c that the previous step produced"),
    Part(ASSIGNMENT, "peephole_step_backward", _step_backward_cases,
         {"kind": "backward", "forward": "peephole_step_forward", "forward_args": STEP_ARGS,
          "forward_returns": ["h", "c"], "upstream": ["dh", "dc"], "returns": list(GRADIENTS)},
         _step_backward_reference,
         ("dx (N, D)", "dh_prev (N, H)", "dc_prev (N, H)", "dW_ih (4H, D)", "dW_hh (4H, H)", "db (4H,)",
          "dp (3H,)"),
         hints=STEP_HINTS,
         mistakes=tuple(Mistake(lesson, lambda case, change=change: _buggy_step_backward(case, change))
                        for change, lesson in BACKWARD_LESSONS),
         combined="go in the order the forward computed, backwards: da_o first (o read c_t), then "
                  "dc_t = dc + dh ⊙ o ⊙ (1 − tanh²(c_t)) + da_o ⊙ p_o, then da_i, da_f, da_g as for the "
                  "LSTM, stacked i, f, g, o"),
    Part(ASSIGNMENT, "peephole_backward", _backward_cases,
         {"kind": "backward", "forward": "peephole_forward", "forward_args": SEQUENCE_ARGS,
          "forward_returns": ["hs", "cs"], "upstream": ["dhs"], "keyword": ["dcT"],
          "returns": ["dx", "dh0", "dc0", "dW_ih", "dW_hh", "db", "dp"]},
         _backward_reference,
         ("dx (T, N, D)", "dh0 (N, H)", "dc0 (N, H)", "dW_ih (4H, D)", "dW_hh (4H, H)", "db (4H,)", "dp (3H,)"),
         hints={"dc0": "dc0 is the dc_prev that step 1 sends back, peephole terms included",
                "dp": "dp sums every step's dp, like dW_ih and db",
                "dh0": "dh0 = da_1 W_hh", "dW_hh": "dW_hh = Σ_t da_tᵀ h_{t−1}, with h_0 for t = 1"},
         combined="going backwards, carry both dh and dc from step t+1 into step t: dh_t gets dhs[t] "
                  "added, dc_t is what step t+1 sent back as its dc_prev"),
)
