"""Assignment 1, the plain RNN and BPTT: cases, references and lessons of its six parts."""

import numpy as np

from lstm_course.parts.common import (
    Case, Mistake, Part, normal, random_cases, recurrent_inputs, sequence_probes, sequence_upstream,
    shifted, sizes, size_label, step_upstream, cancelling, zeroed,
)
from lstm_ref.diagnostics import hidden_gradients, step_norms
from lstm_ref.rnn import rnn_backward, rnn_forward, rnn_step_backward, rnn_step_forward

ASSIGNMENT = "a1_rnn_bptt"
STEP_ARGS = ["x", "h_prev", "W_ih", "W_hh", "b"]
SEQUENCE_ARGS = ["x", "h0", "W_ih", "W_hh", "b"]


def _step_inputs(rng, sizes_):
    return recurrent_inputs(rng, sizes_, 1, sequence=False, cell=False)


def _sequence_inputs(rng, sizes_):
    return recurrent_inputs(rng, sizes_, 1, sequence=True, cell=False)


def step_cases(rng):
    cases = random_cases(rng, _step_inputs, "NDH", sequence=False)
    sizes_ = sizes(rng)
    base = _step_inputs(rng, sizes_)
    shown = size_label(sizes_, "NDH")
    cases += [
        Case(f"a probe with only the input term (h_{{t−1}} = 0, b = 0; {shown})", "probe",
             zeroed(base, "h_prev", "b"),
             "look at the input term x_t W_ihᵀ: in code x @ W_ih.T, an (N, D) @ (D, H) product"),
        Case(f"a probe with only the recurrent term (x_t = 0, b = 0; {shown})", "probe",
             zeroed(base, "x", "b"),
             "look at the recurrent term h_{t−1} W_hhᵀ: in code h_prev @ W_hh.T (W_hh is used "
             "transposed, and with h_prev, not h)"),
        Case(f"a probe with only the bias (x_t = 0, h_{{t−1}} = 0; {shown})", "probe",
             zeroed(base, "x", "h_prev"),
             "look at b: it is added once to every row of the pre-activation, before tanh"),
        Case("a precision case (N = 1, pre-activations that nearly cancel)", "precision",
             cancelling(_step_inputs(rng, sizes(rng, N=1)), sequence=False)),
    ]
    return cases


def _step_mistake(change):
    """The outputs of one RNN step computed with a classic mistake switched on."""
    def outputs(case):
        x, h_prev, W_ih, W_hh, b = (case.inputs[k] for k in STEP_ARGS)
        if change == "W_hh untransposed":
            return [np.tanh(x @ W_ih.T + h_prev @ W_hh + b)]
        if change == "bias twice":
            return [np.tanh(x @ W_ih.T + h_prev @ W_hh.T + 2 * b)]
        if change == "no tanh":
            return [x @ W_ih.T + h_prev @ W_hh.T + b]
        raise ValueError(change)
    return outputs


STEP_MISTAKES = (
    Mistake("your h equals h_prev @ W_hh + …: W_hh is used untransposed. The recurrent term is "
            "h_{t−1} W_hhᵀ, in code h_prev @ W_hh.T", _step_mistake("W_hh untransposed")),
    Mistake("your h equals tanh(… + 2b): the bias b is added twice. PyTorch has two biases, "
            "b_ih and b_hh; lstm_ref's b is already their sum, so add b once",
            _step_mistake("bias twice")),
    Mistake("your h is the pre-activation itself: apply tanh, h_t = tanh(x_t W_ihᵀ + h_{t−1} W_hhᵀ + b)",
            _step_mistake("no tanh")),
)


def sequence_cases(rng):
    cases = random_cases(rng, _sequence_inputs, "TNDH", sequence=True)
    cases += sequence_probes(rng, _sequence_inputs, ["h0"])
    cases.append(Case("a precision case (T = N = 1, pre-activations that nearly cancel)", "precision",
                      cancelling(_sequence_inputs(rng, sizes(rng, T=1, N=1)), sequence=True)))
    return cases


def sequence_backward_cases(rng):
    cases = sequence_upstream(rng, sequence_cases(rng))
    last_only = dict(cases[1].inputs)
    last_only["dhs"] = np.zeros_like(last_only["dhs"])
    last_only["dhs"][-1] = normal(rng, *last_only["dhs"].shape[1:])
    cases.append(Case("a probe with a loss on h_T only (dhs zero before the last step)", "probe",
                      last_only, "look at the gradient that flows back from step t+1 into h_t",
                      passing="you are right when the loss reads h_T only: the loss reads every "
                              "h_t, so add dhs[t] to the gradient of h_t at every step t"))
    return cases


def _step_reference(case):
    h, _ = rnn_step_forward(*(case.inputs[k] for k in STEP_ARGS))
    return [h]


def _step_backward_reference(case):
    h, cache = rnn_step_forward(*(case.inputs[k] for k in STEP_ARGS))
    return [*rnn_step_backward(case.inputs["dh"], cache), h]


def _sequence_reference(case):
    hs, _ = rnn_forward(*(case.inputs[k] for k in SEQUENCE_ARGS))
    return [hs]


def _sequence_backward_reference(case):
    hs, cache = rnn_forward(*(case.inputs[k] for k in SEQUENCE_ARGS))
    return [*rnn_backward(case.inputs["dhs"], cache), hs]


# Part 5: gradient norms along the sequence --------------------------------------------------------

def gradient_norms_reference(x, h0, W_ih, W_hh, b):
    """‖dL/dh_{T−k}‖ for k = 0..T, with L = Σ h_T, from the book's diagnostics.

    ``hidden_gradients`` gives dL/dh_t for t = 1..T (k = 0 is ‖ones‖), step 1's backward
    sends dL/dh_0 on, and ``step_norms`` takes each step's norm over the batch and the features.
    """
    hs, cache = rnn_forward(x, h0, W_ih, W_hh, b)
    dhs = np.zeros_like(hs)
    dhs[-1] = 1.0
    later = hidden_gradients(dhs, cache)  # t = 1..T
    dh0 = rnn_step_backward(later[0], cache.steps[0])[1]
    return step_norms(np.concatenate([dh0[None], later]))[::-1]


def _norm_cases(rng):
    return random_cases(rng, _sequence_inputs, "TNDH", sequence=True)


def _growth_cases(rng):
    cases = []
    for _ in range(3):
        K = int(rng.integers(3, 12))
        rate = float(rng.uniform(0.5, 1.5))
        norms = (rate ** np.arange(K)) * np.exp(normal(rng, K, scale=0.05)) * rng.uniform(0.5, 3)
        cases.append(Case(f"norms of {K} steps (decay ≈ {rate:.2f} per step)", "random", {"norms": norms}))
    return cases


def _growth_reference(case):
    norms = case.inputs["norms"]
    slope = np.polyfit(np.arange(len(norms)), np.log(norms), 1)[0]
    return [np.asarray(np.exp(slope))]


PARTS = (
    Part(ASSIGNMENT, "rnn_step_forward", step_cases,
         {"kind": "call", "args": STEP_ARGS, "returns": ["h", "cache"]},
         _step_reference, ("h (N, H)",), mistakes=STEP_MISTAKES,
         combined="each term alone is right but not their sum: all three terms, x_t W_ihᵀ + "
                  "h_{t−1} W_hhᵀ + b, go inside one tanh"),
    Part(ASSIGNMENT, "rnn_step_backward", lambda rng: step_upstream(rng, step_cases(rng), ["dh"]),
         {"kind": "backward", "forward": "rnn_step_forward", "forward_args": STEP_ARGS,
          "forward_returns": ["h"], "upstream": ["dh"],
          "returns": ["dx", "dh_prev", "dW_ih", "dW_hh", "db"]},
         _step_backward_reference, ("dx (N, D)", "dh_prev (N, H)", "dW_ih (H, D)", "dW_hh (H, H)", "db (H,)"),
         hints={"dx": "dx = da W_ih, with da = dh ⊙ (1 − h_t²)", "dh_prev": "dh_prev = da W_hh",
                "dW_ih": "dW_ih = daᵀ x_t (summed over the batch)",
                "dW_hh": "dW_hh = daᵀ h_{t−1}: the previous state, not the new one",
                "db": "db = Σ_n da (a sum over the batch, axis 0)"},
         combined="look at da = dh ⊙ (1 − h_t²) first: it feeds every gradient (tanh' is 1 − tanh², "
                  "evaluated at the output h_t, which your cache must hold)"),
    Part(ASSIGNMENT, "rnn_forward", sequence_cases,
         {"kind": "call", "args": SEQUENCE_ARGS, "returns": ["hs", "cache"]},
         _sequence_reference, ("hs (T, N, H)",), diagnose=shifted,
         combined="each step must start from the state the previous step produced"),
    Part(ASSIGNMENT, "rnn_backward", sequence_backward_cases,
         {"kind": "backward", "forward": "rnn_forward", "forward_args": SEQUENCE_ARGS,
          "forward_returns": ["hs"], "upstream": ["dhs"],
          "returns": ["dx", "dh0", "dW_ih", "dW_hh", "db"]},
         _sequence_backward_reference,
         ("dx (T, N, D)", "dh0 (N, H)", "dW_ih (H, D)", "dW_hh (H, H)", "db (H,)"),
         hints={"dh0": "dh0 is what step 1 sends back: da_1 W_hh",
                "dW_hh": "dW_hh = Σ_t da_tᵀ h_{t−1}, with h_0 for t = 1",
                "dx": "dx_t = da_t W_ih at every t", "dW_ih": "dW_ih = Σ_t da_tᵀ x_t",
                "db": "db = Σ_t Σ_n da_t"},
         combined="going backwards, each step's dL/dh_t is dhs[t] plus what step t+1 sends back; "
                  "da_t = that sum ⊙ (1 − h_t²)"),
    Part(ASSIGNMENT, "gradient_norms", _norm_cases,
         {"kind": "call", "args": SEQUENCE_ARGS, "returns": ["norms"]},
         lambda case: [gradient_norms_reference(*(case.inputs[k] for k in SEQUENCE_ARGS))],
         ("norms (T+1,)",),
         combined="norms[k] is ‖dL/dh_{T−k}‖ with L = Σ h_T: norms[0] = ‖ones‖ = √(N·H), and "
                  "norms[T] is the gradient at the initial state h_0"),
    Part(ASSIGNMENT, "estimate_growth_factor", _growth_cases,
         {"kind": "call", "args": ["norms"], "returns": ["factor"]},
         _growth_reference, ("factor ()",),
         combined="fit a straight line to log(norms[k]) against k by least squares "
                  "(np.polyfit(k, np.log(norms), 1)); the factor per step is e^slope"),
)
