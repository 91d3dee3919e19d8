"""Assignment 3, the LSTM backward pass: cases, references and lessons of its four parts.

The backward parts run on the caches of the LSTM forward that the assignment hands out
as code in its set-up cell; the reference computes the same gradients with lstm_ref.
"""

import numpy as np

from lstm_course.client import PAIRS, PAIR_INPUTS, cube, exp_of_product
from lstm_course.parts.a2_lstm_forward import SEQUENCE_ARGS, STEP_ARGS, sequence_cases, step_cases
from lstm_course.parts.common import Case, Part, away_from_zero, cell_sequence_upstream, step_upstream
from lstm_ref.gradcheck import numerical_gradient
from lstm_ref.lstm import lstm_backward, lstm_forward, lstm_step_backward, lstm_step_forward

ASSIGNMENT = "a3_lstm_backward"

# Part 1: central differences ----------------------------------------------------------------------


def _numerical_cases(rng):
    shape = tuple(int(n) for n in rng.integers(1, 4, size=2))
    N, D, M = (int(n) for n in rng.integers(1, 4, size=3))
    return [
        Case(f"f(x) = x³ on x of shape {shape}", "random",
             {"f": "cube", "x": away_from_zero(rng, shape), "df": away_from_zero(rng, shape)}),
        Case(f"f(x) = exp(x A) with x of shape ({N}, {D}), A of shape ({D}, {M})", "random",
             {"f": "exp", "A": rng.uniform(0.1, 0.5, size=(D, M)), "x": rng.uniform(-1, 1, size=(N, D)),
              "df": rng.uniform(0.5, 1.5, size=(N, M))}),
        Case("f(x) = x³ on a single number (x of shape (1,))", "special",
             {"f": "cube", "x": away_from_zero(rng, (1,)), "df": np.ones(1)}),
    ]


def _numerical_reference(case):
    f = cube if case.inputs["f"] == "cube" else exp_of_product(case.inputs["A"])
    return [numerical_gradient(f, case.inputs["x"], case.inputs["df"])]


# Parts 2 and 3: one step backward, and BPTT --------------------------------------------------------

def _step_backward_cases(rng):
    cases = step_upstream(rng, step_cases(rng), ["dh", "dc"])
    base = dict(cases[1].inputs)
    cases += [
        Case("a probe with dL/dh_t = 0 (the gradient arrives through c_t only)", "probe",
             dict(base, dh=np.zeros_like(base["dh"])),
             "look at the cell path: dc_prev = (dc + dh ⊙ o ⊙ (1 − tanh²(c_t))) ⊙ f"),
        Case("a probe with dL/dc_t = 0 (the gradient arrives through h_t only)", "probe",
             dict(base, dc=np.zeros_like(base["dc"])),
             "look at the output path: dh reaches c_t through dh ⊙ o ⊙ (1 − tanh²(c_t)), and o "
             "through dh ⊙ tanh(c_t)"),
    ]
    return cases


def _backward_cases(rng):
    return cell_sequence_upstream(rng, sequence_cases(rng),
                                  "look at dcT: it is added to the gradient of c_T at the last step (None means zero)")


def _step_backward_reference(case):
    h, c, cache = lstm_step_forward(*(case.inputs[k] for k in STEP_ARGS))
    return [*lstm_step_backward(case.inputs["dh"], case.inputs["dc"], cache), h, c]


def _backward_reference(case):
    hs, cs, cache = lstm_forward(*(case.inputs[k] for k in SEQUENCE_ARGS))
    return [*lstm_backward(case.inputs["dhs"], cache, case.inputs.get("dcT")), hs, cs]


GATE_LESSON = (
    "look at the gate gradients first, with dc_t = dc + dh ⊙ o ⊙ (1 − tanh²(c_t)): "
    "di = dc_t ⊙ g ⊙ i(1 − i), df = dc_t ⊙ c_{t−1} ⊙ f(1 − f), dg = dc_t ⊙ i ⊙ (1 − g²), "
    "do = dh ⊙ tanh(c_t) ⊙ o(1 − o), stacked in the order i, f, g, o")

# Part 4: a gradient checker ----------------------------------------------------------------------

# Each pair differentiates a small elementwise layer a = x ⊙ W + b, y = sin(a) (and a second
# output a²/2). Inputs keep |a| < 1.2, so no gradient element is near zero but by the student's
# own random upstream; a right gradient's error is then about 1e-9, a wrong one's about 1/3.
RIGHT_BELOW, WRONG_ABOVE = 1e-2, 1e-1


def _checker_cases(rng):
    cases = []
    for pair in PAIRS:
        N, D = (int(n) for n in rng.integers(1, 4, size=2))
        x = rng.uniform(0.5, 1.0, size=(N, D)) * rng.choice([-1.0, 1.0], size=(N, D))
        W = rng.uniform(0.5, 1.0, size=(N, D))
        b = rng.uniform(-0.2, 0.2, size=(N, D))
        cases.append(Case(f"a backward with {pair} (x, W, b of shape ({N}, {D}))", "random",
                          {"pair": pair, "x": x, "W": W, "b": b}))
    return cases


def _checker_reference(case):
    wrong = PAIRS[case.inputs["pair"]][2]
    return [np.array([1.0 if name == wrong else 0.0 for name in PAIR_INPUTS])]


def _compare_checker(got, expected):
    if got[0].shape != expected[0].shape:
        return f"check_gradients returned {got[0].size} errors for {len(PAIR_INPUTS)} inputs"
    for name, error, wrong in zip(PAIR_INPUTS, got[0], expected[0]):
        if wrong and not error > WRONG_ABOVE:
            return (f"the error you report for {name} is {error:.1e}, but this backward's {name} "
                    f"gradient is wrong (twice the right one): a check must expose it (expect an "
                    f"error near 1/3)")
        if not wrong and not error < RIGHT_BELOW:
            return (f"the error you report for {name} is {error:.1e}, but this backward's {name} "
                    f"gradient is right: with central differences (eps = 1e-6) in float64 a right "
                    f"gradient agrees to about 1e-8. Check that each analytic gradient is compared "
                    f"with the numerical gradient of the same input, and that the loss weights every "
                    f"output by its own upstream gradient")
    return None


PARTS = (
    Part(ASSIGNMENT, "numerical_gradient", _numerical_cases,
         {"kind": "numerical"}, _numerical_reference, ("dx (shape of x)",),
         combined="use central differences: (L(x + eps e_k) − L(x − eps e_k)) / (2 eps), with "
                  "L = Σ f(x) ⊙ df, for every element k, and put x back exactly as it was"),
    Part(ASSIGNMENT, "lstm_step_backward", _step_backward_cases,
         {"kind": "backward", "forward": "lstm_step_forward", "forward_args": STEP_ARGS,
          "forward_returns": ["h", "c"], "upstream": ["dh", "dc"],
          "returns": ["dx", "dh_prev", "dc_prev", "dW_ih", "dW_hh", "db"]},
         _step_backward_reference,
         ("dx (N, D)", "dh_prev (N, H)", "dc_prev (N, H)", "dW_ih (4H, D)", "dW_hh (4H, H)", "db (4H,)"),
         hints={"dx": "dx = da W_ih, with da the gradient of the stacked pre-activations [di, df, dg, do]",
                "dh_prev": "dh_prev = da W_hh", "dc_prev": "dc_prev = (dc + dh ⊙ o ⊙ (1 − tanh²(c_t))) ⊙ f",
                "dW_ih": "dW_ih = daᵀ x_t", "dW_hh": "dW_hh = daᵀ h_{t−1}", "db": "db = Σ_n da"},
         combined=GATE_LESSON),
    Part(ASSIGNMENT, "lstm_backward", _backward_cases,
         {"kind": "backward", "forward": "lstm_forward", "forward_args": SEQUENCE_ARGS,
          "forward_returns": ["hs", "cs"], "upstream": ["dhs"], "keyword": ["dcT"],
          "returns": ["dx", "dh0", "dc0", "dW_ih", "dW_hh", "db"]},
         _backward_reference,
         ("dx (T, N, D)", "dh0 (N, H)", "dc0 (N, H)", "dW_ih (4H, D)", "dW_hh (4H, H)", "db (4H,)"),
         hints={"dc0": "dc0 is what step 1 sends back through the cell: (dc_1 + …) ⊙ f_1",
                "dh0": "dh0 = da_1 W_hh", "dW_hh": "dW_hh = Σ_t da_tᵀ h_{t−1}, with h_0 for t = 1"},
         combined="going backwards, carry both dh and dc from step t+1 into step t: dh_t gets "
                  "dhs[t] added, dc_t gets what step t+1 sends through f_{t+1}"),
    Part(ASSIGNMENT, "check_gradients", _checker_cases, {"kind": "checker"},
         _checker_reference, ("errors",), compare=_compare_checker),
)
