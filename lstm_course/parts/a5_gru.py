"""Assignment 5, the GRU: cases, references and lessons of its four parts."""

import numpy as np

from lstm_course.parts.a2_lstm_forward import compare_exact
from lstm_course.parts.common import (
    Case, Mistake, Part, normal, random_cases, sequence_probes, shifted, sizes, size_label,
    step_upstream, zeroed,
)
from lstm_ref.activations import sigmoid
from lstm_ref.gru import gru_forward, gru_step_backward, gru_step_forward

ASSIGNMENT = "a5_gru"
STEP_ARGS = ["x", "h_prev", "W_ih", "W_hh", "b_ih", "b_hh"]
SEQUENCE_ARGS = ["x", "h0", "W_ih", "W_hh", "b_ih", "b_hh"]
ORDER = ("The blocks are stacked in PyTorch's order r, z, n: rows 0..H of W_ih, W_hh, b_ih and "
         "b_hh are the reset gate, H..2H the update gate, 2H..3H the new content")


def _inputs(rng, sizes_, sequence):
    """x, the initial state and W_ih, W_hh, b_ih, b_hh for a GRU (blocks r, z, n)."""
    T, N, D, H = sizes_["T"], sizes_["N"], sizes_["D"], sizes_["H"]
    inputs = {"x": normal(rng, T, N, D) if sequence else normal(rng, N, D)}
    inputs["h0" if sequence else "h_prev"] = normal(rng, N, H, scale=0.5)
    inputs["W_ih"] = normal(rng, 3 * H, D, scale=0.5)
    inputs["W_hh"] = normal(rng, 3 * H, H, scale=0.5)
    inputs["b_ih"] = normal(rng, 3 * H, scale=0.5)
    inputs["b_hh"] = normal(rng, 3 * H, scale=0.5)
    return inputs


def _rows(H, gate):
    return slice("rzn".index(gate) * H, ("rzn".index(gate) + 1) * H)


def _only_biases(inputs, input_side, recurrent_side, zero_W_hh=False):
    """x = 0 (and W_hh = 0 if asked); b_ih and b_hh zero except the named gates' blocks."""
    H = inputs["W_hh"].shape[1]
    changed = zeroed(inputs, "x", *(["W_hh"] if zero_W_hh else []))
    for name, gates in (("b_ih", input_side), ("b_hh", recurrent_side)):
        bias = np.zeros_like(inputs[name])
        for gate in gates:
            bias[_rows(H, gate)] = inputs[name][_rows(H, gate)] + 1.0
        changed[name] = bias
    return changed


def _probes(base, sequence, shown):
    state = "h0" if sequence else "h_prev"
    return [
        Case(f"a probe of the update gate (x = 0, W_hh = 0, only the z blocks of the biases "
             f"non-zero, h_{{t−1}} ≠ 0; {shown})", "probe", _only_biases(base, "z", "z", zero_W_hh=True),
             "look at h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}: z is the share of the old state that is "
             "kept (here n = 0, so h_t = z ⊙ h_{t−1}); z ⊙ n + (1 − z) ⊙ h_{t−1} swaps the two. " + ORDER),
        Case(f"a probe of b_hn (x = 0, h_{{t−1}} = 0, only the r block of b_ih and the n block of "
             f"b_hh non-zero; {shown})", "probe", _only_biases(zeroed(base, state), "r", "n"),
             "look at b_hn, the n block of b_hh: it sits inside the reset product, "
             "n = tanh(W_xn x + b_xn + r ⊙ (W_hn h_{t−1} + b_hn)), so here n = tanh(r ⊙ b_hn). "
             "Adding all of b_hh to the pre-activations, like the LSTM's b, is wrong in the n block"),
        Case(f"a probe with only the input term (h_{{t−1}} = 0, b_ih = b_hh = 0; {shown})", "probe",
             zeroed(base, state, "b_ih", "b_hh"),
             "look at the input term x_t W_ihᵀ (x @ W_ih.T, an (N, D) @ (D, 3H) product) and at "
             "h_t = (1 − z) ⊙ n when h_{t−1} = 0. " + ORDER),
        Case(f"a probe with only the recurrent term (x = 0, b_ih = b_hh = 0; {shown})", "probe",
             zeroed(base, "x", "b_ih", "b_hh"),
             "look at the recurrent term h_{t−1} W_hhᵀ: its r and z blocks go into the gates, and "
             "its n block is multiplied by r after the product, r ⊙ (h_{t−1} W_hnᵀ + b_hn), "
             "not (r ⊙ h_{t−1}) W_hnᵀ"),
    ]


def _cancelling(inputs, sequence):
    """N = 1, h_{t−1} = 0 and biases that make every pre-activation about ±1e-3: float32 cannot resolve them."""
    x = inputs["x"][0] if sequence else inputs["x"]
    H = inputs["W_hh"].shape[1]
    changed = zeroed(inputs, "h0" if sequence else "h_prev")
    small = 1e-3 * (1 + np.arange(3 * H) / (3 * H)) * np.where(np.arange(3 * H) % 2, -1.0, 1.0)
    # With h_{t−1} = 0: a_r, a_z = x W_ihᵀ + b_ih + b_hh (blocks r, z), a_n = x W_xnᵀ + b_xn + r ⊙ b_hn.
    from_x = x @ inputs["W_ih"].T
    b_hh = inputs["b_hh"]
    b_ih = small - from_x[0] - b_hh
    r = sigmoid(from_x[0, :H] + b_ih[:H] + b_hh[:H])
    b_ih[2 * H:] = small[2 * H:] - from_x[0, 2 * H:] - r * b_hh[2 * H:]
    changed["b_ih"] = b_ih
    return changed


def step_cases(rng):
    cases = random_cases(rng, lambda r, s: _inputs(r, s, False), "NDH", sequence=False)
    sizes_ = sizes(rng)
    cases += _probes(_inputs(rng, sizes_, False), sequence=False, shown=size_label(sizes_, "NDH"))
    cases.append(Case("a precision case (N = 1, pre-activations that nearly cancel)", "precision",
                      _cancelling(_inputs(rng, sizes(rng, N=1), False), sequence=False)))
    return cases


def sequence_cases(rng):
    cases = random_cases(rng, lambda r, s: _inputs(r, s, True), "TNDH", sequence=True)
    cases += sequence_probes(rng, lambda r, s: _inputs(r, s, True), ["h0"])
    cases.append(Case("a precision case (T = N = 1, pre-activations that nearly cancel)", "precision",
                      _cancelling(_inputs(rng, sizes(rng, T=1, N=1), True), sequence=True)))
    return cases


def _reset_open(inputs):
    """The reset gate fully open: its weights zero and its input bias 40, so r = σ(40) = 1 exactly."""
    H = inputs["W_hh"].shape[1]
    changed = {name: value.copy() for name, value in inputs.items()}
    rows = _rows(H, "r")
    changed["W_ih"][rows] = 0.0
    changed["W_hh"][rows] = 0.0
    changed["b_ih"][rows] = 40.0
    changed["b_hh"][rows] = 0.0
    return changed


def _step_backward_cases(rng):
    cases = step_upstream(rng, step_cases(rng), ["dh"])
    cases.append(Case(
        "a probe with the reset gate fully open (r = 1 exactly)", "probe", _reset_open(cases[1].inputs),
        "look at the update gate and the new content first: da_n = dh ⊙ (1 − z) ⊙ (1 − n²), "
        "da_z = dh ⊙ (h_{t−1} − n) ⊙ z(1 − z), and the direct path dh ⊙ z in dh_prev",
        passing="you are right when r = 1: look at what r changes. The n block of the recurrent "
                "side gets da_n ⊙ r (in dW_hh, db_hh and dh_prev), and "
                "da_r = da_n ⊙ (W_hn h_{t−1} + b_hn) ⊙ r(1 − r)"))
    return cases


def _buggy_step(x, h_prev, W_ih, W_hh, b_ih, b_hh, change):
    """One GRU step with a classic mistake switched on."""
    H = h_prev.shape[1]
    from_input, from_hidden = x @ W_ih.T + b_ih, h_prev @ W_hh.T + b_hh
    r = sigmoid(from_input[:, :H] + from_hidden[:, :H])
    z = sigmoid(from_input[:, H:2 * H] + from_hidden[:, H:2 * H])
    if change == "b_hn outside":
        a_n = from_input[:, 2 * H:] + b_hh[2 * H:] + r * (h_prev @ W_hh[2 * H:].T)
    elif change == "reset before":
        a_n = from_input[:, 2 * H:] + (r * h_prev) @ W_hh[2 * H:].T + b_hh[2 * H:]
    else:
        a_n = from_input[:, 2 * H:] + r * from_hidden[:, 2 * H:]
    n = np.tanh(a_n)
    return z * n + (1 - z) * h_prev if change == "update swapped" else (1 - z) * n + z * h_prev


def _step_mistake(change):
    return lambda case: [_buggy_step(*(case.inputs[k] for k in STEP_ARGS), change)]


def _sequence_mistake(change):
    def outputs(case):
        x, h, W_ih, W_hh, b_ih, b_hh = (case.inputs[k] for k in SEQUENCE_ARGS)
        hs = []
        for x_t in x:
            h = _buggy_step(x_t, h, W_ih, W_hh, b_ih, b_hh, change)
            hs.append(h)
        return [np.stack(hs)]
    return outputs


LESSONS = [
    ("update swapped", "your h equals z ⊙ n + (1 − z) ⊙ h_{t−1}: z is the share of the old state "
                       "that is kept, h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}"),
    ("b_hn outside", "your h equals that of b_hn added outside the reset product: b_hn sits inside it, "
                     "n = tanh(W_xn x + b_xn + r ⊙ (W_hn h_{t−1} + b_hn))"),
    ("reset before", "your h equals that of the reset gate applied before the product, "
                     "(r ⊙ h_{t−1}) W_hnᵀ (Cho et al.'s form): PyTorch multiplies after it, "
                     "r ⊙ (h_{t−1} W_hnᵀ + b_hn)"),
]


def _free_count_cases(rng):
    return [Case(f"D={D}, H={H}", "random", {"D": D, "H": H})
            for D, H in [(3, 10), (1, 1)] + [tuple(int(n) for n in rng.integers(1, 200, 2))]]


def _step_backward_reference(case):
    h, cache = gru_step_forward(*(case.inputs[k] for k in STEP_ARGS))
    return [*gru_step_backward(case.inputs["dh"], cache), h]


PARTS = (
    Part(ASSIGNMENT, "gru_step_forward", step_cases,
         {"kind": "call", "args": STEP_ARGS, "returns": ["h", "cache"]},
         lambda case: [gru_step_forward(*(case.inputs[k] for k in STEP_ARGS))[0]], ("h (N, H)",),
         mistakes=tuple(Mistake(lesson, _step_mistake(change)) for change, lesson in LESSONS),
         combined="each term alone is right but not their sum: r and z are σ of the r and z blocks "
                  "of x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh, and n = tanh(x_t W_xnᵀ + b_xn + "
                  "r ⊙ (h_{t−1} W_hnᵀ + b_hn))"),
    Part(ASSIGNMENT, "gru_forward", sequence_cases,
         {"kind": "call", "args": SEQUENCE_ARGS, "returns": ["hs", "cache"]},
         lambda case: [gru_forward(*(case.inputs[k] for k in SEQUENCE_ARGS))[0]], ("hs (T, N, H)",),
         diagnose=shifted,
         mistakes=tuple(Mistake(lesson, _sequence_mistake(change)) for change, lesson in LESSONS),
         combined="each step must start from the state the previous step produced"),
    Part(ASSIGNMENT, "gru_step_backward", _step_backward_cases,
         {"kind": "backward", "forward": "gru_step_forward", "forward_args": STEP_ARGS,
          "forward_returns": ["h"], "upstream": ["dh"],
          "returns": ["dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh"]},
         _step_backward_reference,
         ("dx (N, D)", "dh_prev (N, H)", "dW_ih (3H, D)", "dW_hh (3H, H)", "db_ih (3H,)", "db_hh (3H,)"),
         hints={"dx": "dx = [da_r, da_z, da_n] W_ih",
                "dh_prev": "dh_prev = dh ⊙ z + [da_r, da_z, da_n ⊙ r] W_hh: the direct path, then the product",
                "dW_ih": "dW_ih = [da_r, da_z, da_n]ᵀ x_t (summed over the batch)",
                "dW_hh": "dW_hh = [da_r, da_z, da_n ⊙ r]ᵀ h_{t−1}: in the n block the reset gate stands between",
                "db_ih": "db_ih = Σ_n [da_r, da_z, da_n]",
                "db_hh": "db_hh = Σ_n [da_r, da_z, da_n ⊙ r]: it differs from db_ih in the n block"},
         combined="look at the gate gradients first: da_n = dh ⊙ (1 − z) ⊙ (1 − n²), "
                  "da_z = dh ⊙ (h_{t−1} − n) ⊙ z(1 − z), da_r = da_n ⊙ (W_hn h_{t−1} + b_hn) ⊙ r(1 − r), "
                  "stacked in the order r, z, n; the recurrent side gets da_n ⊙ r in the n block"),
    Part(ASSIGNMENT, "gru_free_parameter_count", _free_count_cases,
         {"kind": "call", "args": ["D", "H"], "returns": ["count"]},
         lambda case: [np.asarray(3 * case.inputs["H"] * (case.inputs["D"] + case.inputs["H"] + 1)
                                  + case.inputs["H"])],
         ("count ()",), compare=compare_exact,
         combined="count W_ih (3H × D) and W_hh (3H × H), then the biases: in the r and z blocks "
                  "only the sums b_xr + b_hr and b_xz + b_hz act (H numbers each), in the n block "
                  "b_xn and b_hn act separately (b_hn is scaled by r)"),
)
