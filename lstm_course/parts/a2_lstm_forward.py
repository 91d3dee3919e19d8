"""Assignment 2, the LSTM forward pass: cases, references and lessons of its six parts."""

import numpy as np

from lstm_course.parts.common import (
    Case, Mistake, Part, normal, random_cases, recurrent_inputs, sequence_probes, shifted, sizes,
    size_label, cancelling, zeroed,
)
from lstm_ref.activations import sigmoid
from lstm_ref.lstm import lstm_forward, lstm_step_forward

ASSIGNMENT = "a2_lstm_forward"
STEP_ARGS = ["x", "h_prev", "c_prev", "W_ih", "W_hh", "b"]
SEQUENCE_ARGS = ["x", "h0", "c0", "W_ih", "W_hh", "b"]
GATE_ORDER = ("the gates are stacked in PyTorch's order i, f, g, o: rows 0..H of W_ih, W_hh and b "
              "are the input gate, H..2H the forget gate, 2H..3H the candidate g (tanh), 3H..4H "
              "the output gate")

# Part 1: a sigmoid that never overflows ----------------------------------------------------------

EXTREMES = np.array([-1e308, -1e4, -1000.0, -745.0, -740.0, -710.0, -100.0, -40.0, -1.0, -1e-12,
                     0.0, 1e-12, 1.0, 40.0, 100.0, 710.0, 1000.0, 1e4, 1e308])


def _sigmoid_cases(rng):
    shape = tuple(int(n) for n in rng.integers(1, 5, size=int(rng.integers(1, 4))))
    return [
        Case(f"a random array of shape {shape}", "random", {"z": normal(rng, *shape, scale=3)}),
        Case("a single number in an array of shape (1,)", "random", {"z": normal(rng, 1)}),
        Case("very negative and very positive inputs (±1e308, ±1000, ±745, …, 0)", "special",
             {"z": EXTREMES.copy()}),
        Case("a (2, N) array with extreme rows", "special", {"z": np.stack([EXTREMES, -EXTREMES[::-1]])}),
    ]


# Parts 2 and 3: one step, and the sequence ---------------------------------------------------------

def _step_inputs(rng, sizes_):
    return recurrent_inputs(rng, sizes_, 4, sequence=False, cell=True)


def _sequence_inputs(rng, sizes_):
    return recurrent_inputs(rng, sizes_, 4, sequence=True, cell=True)


def _gate_rows(H, gate):
    return slice("ifgo".index(gate) * H, ("ifgo".index(gate) + 1) * H)


def _only_bias(inputs, gates, keep_cell):
    """x = 0, h = 0, b zero except the named gates' blocks; c kept if asked, else 0."""
    H = inputs["W_hh"].shape[1]
    states = [k for k in inputs if k in ("h_prev", "h0")]
    cells = [k for k in inputs if k in ("c_prev", "c0")]
    changed = zeroed(inputs, "x", *states, *([] if keep_cell else cells))
    b = np.zeros_like(inputs["b"])
    for gate in gates:
        b[_gate_rows(H, gate)] = inputs["b"][_gate_rows(H, gate)] + 1.0
    changed["b"] = b
    return changed


def lstm_probes(base, sequence, shown):
    state, cell = ("h0", "c0") if sequence else ("h_prev", "c_prev")
    return [
        Case(f"a probe of the forget path (x = 0, h = 0, only the forget block of b non-zero, "
             f"c_{{t−1}} ≠ 0; {shown})", "probe", _only_bias(base, "f", keep_cell=True),
             f"look at c_t = f ⊙ c_{{t−1}} + i ⊙ g and at the forget gate f = σ(…): {GATE_ORDER}"),
        Case(f"a probe of the input path (x = 0, h = 0, c = 0, only the i and g blocks of b "
             f"non-zero; {shown})", "probe", _only_bias(base, "ig", keep_cell=False),
             f"look at i ⊙ g, with i = σ(…) and g = tanh(…): {GATE_ORDER}"),
        Case(f"a probe of the output gate (x = 0, h = 0, c = 0, only the g and o blocks of b "
             f"non-zero; {shown})", "probe", _only_bias(base, "go", keep_cell=False),
             f"look at h_t = o ⊙ tanh(c_t), with o = σ(…): {GATE_ORDER}"),
        Case(f"a probe with only the input term (h = 0, c = 0, b = 0; {shown})", "probe",
             zeroed(base, state, cell, "b"),
             "look at the input term x_t W_ihᵀ (x @ W_ih.T, an (N, D) @ (D, 4H) product)"),
        Case(f"a probe with only the recurrent term (x = 0, c = 0, b = 0; {shown})", "probe",
             zeroed(base, "x", cell, "b"),
             "look at the recurrent term h_{t−1} W_hhᵀ (h_prev @ W_hh.T, W_hh used transposed)"),
    ]


def step_cases(rng):
    cases = random_cases(rng, _step_inputs, "NDH", sequence=False)
    sizes_ = sizes(rng)
    cases += lstm_probes(_step_inputs(rng, sizes_), sequence=False, shown=size_label(sizes_, "NDH"))
    cases.append(Case("a precision case (N = 1, pre-activations that nearly cancel)", "precision",
                      cancelling(_step_inputs(rng, sizes(rng, N=1)), sequence=False)))
    return cases


def sequence_cases(rng):
    cases = random_cases(rng, _sequence_inputs, "TNDH", sequence=True)
    cases += sequence_probes(rng, _sequence_inputs, ["h0", "c0"])
    cases.append(Case("a precision case (T = N = 1, pre-activations that nearly cancel)", "precision",
                      cancelling(_sequence_inputs(rng, sizes(rng, T=1, N=1)), sequence=True)))
    return cases


def _buggy_step(x, h_prev, c_prev, W_ih, W_hh, b, change):
    """One LSTM step with a classic mistake switched on: (h, c)."""
    H = h_prev.shape[1]
    a = x @ W_ih.T + h_prev @ W_hh.T + (2 * b if change == "bias twice" else b)
    blocks = [a[:, k * H:(k + 1) * H] for k in range(4)]
    if change == "order i, f, o, g":
        a_i, a_f, a_o, a_g = blocks
    else:
        a_i, a_f, a_g, a_o = blocks
    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o)
    g = sigmoid(a_g) if change == "sigmoid candidate" else np.tanh(a_g)
    c = f * c_prev + (g if change == "no input gate" else i * g)
    h = o * c if change == "no tanh of c" else o * np.tanh(c)
    return h, c


def _step_mistake(change):
    return lambda case: list(_buggy_step(*(case.inputs[k] for k in STEP_ARGS), change))


def _sequence_mistake(change):
    def outputs(case):
        x, h, c, W_ih, W_hh, b = (case.inputs[k] for k in SEQUENCE_ARGS)
        hs, cs = [], []
        for x_t in x:
            h, c = _buggy_step(x_t, h, c, W_ih, W_hh, b, change)
            hs.append(h)
            cs.append(c)
        return [np.stack(hs), np.stack(cs)]
    return outputs


# The classic mistakes of one step, most specific first, each with what to tell the student.
LESSONS = [
    ("no tanh of c", "your h equals o ⊙ c_t: the cell state is squashed before the output gate "
                     "reads it, h_t = o ⊙ tanh(c_t)"),
    ("order i, f, o, g", "your h and c equal those of the gate order i, f, o, g: " + GATE_ORDER),
    ("bias twice", "your h and c equal those computed with b added twice: PyTorch has two biases, "
                   "b_ih and b_hh, and lstm_ref's b is already their sum, so add b once"),
    ("sigmoid candidate", "your h and c equal those of a candidate g = σ(…): the candidate is "
                          "squashed by tanh, so that it can be negative"),
    ("no input gate", "your c equals f ⊙ c_{t−1} + g: the input gate must scale the candidate, "
                      "c_t = f ⊙ c_{t−1} + i ⊙ g"),
]
STEP_MISTAKES = tuple(Mistake(lesson, _step_mistake(change)) for change, lesson in LESSONS)
SEQUENCE_MISTAKES = tuple(Mistake(lesson, _sequence_mistake(change)) for change, lesson in LESSONS)


# Parts 4 and 5: the parameter count and the concatenated form ----------------------------------

def _count_cases(rng):
    return [Case(f"D={D}, H={H}", "random", {"D": D, "H": H})
            for D, H in [(3, 10), (1, 1)] + [tuple(int(n) for n in rng.integers(1, 200, 2))]]


def compare_exact(got, expected):
    if got[0].shape != expected[0].shape or not np.array_equal(got[0], expected[0]):
        return f"got {got[0].tolist()}, expected {expected[0].tolist()}"
    return None


def _concat_cases(rng):
    cases = random_cases(rng, _step_inputs, "NDH", sequence=False)
    return [case._replace(inputs={"W_ih": case.inputs["W_ih"], "W_hh": case.inputs["W_hh"]})
            for case in cases]


def _concat_step_cases(rng):
    cases = []
    for case in step_cases(rng):
        inputs = dict(case.inputs)
        W_ih, W_hh, b = inputs.pop("W_ih"), inputs.pop("W_hh"), inputs.pop("b")
        inputs["W"] = np.concatenate([W_hh, W_ih], axis=1)
        inputs["b"] = b
        cases.append(case._replace(inputs=inputs))
    return cases


def _concat_step_reference(case):
    x, h_prev, c_prev, W, b = (case.inputs[k] for k in ["x", "h_prev", "c_prev", "W", "b"])
    H = h_prev.shape[1]
    h, c, _ = lstm_step_forward(x, h_prev, c_prev, W[:, H:], W[:, :H], b)
    return [h, c]


PARTS = (
    Part(ASSIGNMENT, "sigmoid", _sigmoid_cases,
         {"kind": "call", "args": ["z"], "returns": ["s"], "no_overflow": True},
         lambda case: [sigmoid(case.inputs["z"])], ("σ(z) (same shape as z)",)),
    Part(ASSIGNMENT, "lstm_step_forward", step_cases,
         {"kind": "call", "args": STEP_ARGS, "returns": ["h", "c", "cache"]},
         lambda case: list(lstm_step_forward(*(case.inputs[k] for k in STEP_ARGS))[:2]),
         ("h (N, H)", "c (N, H)"), mistakes=STEP_MISTAKES,
         combined="each term alone is right but not their sum: the four gates' pre-activations are "
                  "x_t W_ihᵀ + h_{t−1} W_hhᵀ + b, split into four blocks of H columns"),
    Part(ASSIGNMENT, "lstm_forward", sequence_cases,
         {"kind": "call", "args": SEQUENCE_ARGS, "returns": ["hs", "cs", "cache"]},
         lambda case: list(lstm_forward(*(case.inputs[k] for k in SEQUENCE_ARGS))[:2]),
         ("hs (T, N, H)", "cs (T, N, H)"), diagnose=shifted,
         mistakes=SEQUENCE_MISTAKES,
         combined="each step must start from the h and c that the previous step produced"),
    Part(ASSIGNMENT, "lstm_parameter_count", _count_cases,
         {"kind": "call", "args": ["D", "H"], "returns": ["count"]},
         lambda case: [np.asarray(4 * (case.inputs["H"] * case.inputs["D"] + case.inputs["H"] ** 2
                                       + case.inputs["H"]))],
         ("count ()",), compare=compare_exact,
         combined="count W_ih (4H × D), W_hh (4H × H) and b (4H): 4(HD + H² + H)"),
    Part(ASSIGNMENT, "concat_weights", _concat_cases,
         {"kind": "call", "args": ["W_ih", "W_hh"], "returns": ["W"]},
         lambda case: [np.concatenate([case.inputs["W_hh"], case.inputs["W_ih"]], axis=1)],
         ("W (4H, H + D)",),
         combined="W · [h_{t−1}, x_t] = W_hh h_{t−1} + W_ih x_t: the W_hh columns come first"),
    Part(ASSIGNMENT, "lstm_step_forward_concat", _concat_step_cases,
         {"kind": "call", "args": ["x", "h_prev", "c_prev", "W", "b"], "returns": ["h", "c"]},
         _concat_step_reference, ("h (N, H)", "c (N, H)"),
         combined="the pre-activations are np.concatenate([h_prev, x], axis=1) @ W.T + b"),
)
