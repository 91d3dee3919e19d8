"""Assignment 6, the peephole LSTM: each classic mistake is named, on every seed tried.

The buggy answers are written here from the mistakes' descriptions, independently of
lstm_course.parts.a6_peephole's own versions; the right answers' seed sweep is in
test_grading.py.
"""

import numpy as np
import pytest

import answers
from lstm_course import generate, grading

SEEDS = range(5)
COURSE = generate.solution_namespace("a6_peephole")


def message_of(name, function, forward=None, seed=0):
    with pytest.raises(grading.GradingError) as failure:
        grading.check(name, function, forward=forward, seed=seed)
    return str(failure.value)


def buggy_step(x, h_prev, c_prev, W_ih, W_hh, b, p, change):
    H = h_prev.shape[1]
    a_i, a_f, a_g, a_o = np.split(x @ W_ih.T + h_prev @ W_hh.T + b, 4, axis=1)
    p_i, p_f, p_o = np.split(p, 3)
    if change == "swapped":
        p_i, p_f = p_f, p_i
    if change == "none":
        p_i = p_f = p_o = np.zeros(H)
    i, f = answers.sigmoid(a_i + p_i * c_prev), answers.sigmoid(a_f + p_f * c_prev)
    c = f * c_prev + i * np.tanh(a_g)
    o = answers.sigmoid(a_o + p_o * (c_prev if change == "old c" else c))
    return o * np.tanh(c), c, None


FORWARD_MISTAKES = {
    "old c": "the output gate's peephole reads the new cell state",
    "none": "your h and c equal the plain LSTM's",
    "swapped": "your h and c equal those of p_i and p_f swapped",
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("change", FORWARD_MISTAKES)
def test_a_classic_forward_mistake_is_named(change, seed):
    message = message_of("peephole_step_forward", lambda *a: buggy_step(*a, change=change), seed=seed)
    assert FORWARD_MISTAKES[change] in message


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_a_classic_mistake_in_the_sequence_is_named(seed):
    def forward(x, h, c, W_ih, W_hh, b, p):
        hs, cs = [], []
        for x_t in x:
            h, c, _ = buggy_step(x_t, h, c, W_ih, W_hh, b, p, change="old c")
            hs.append(h)
            cs.append(c)
        return np.stack(hs), np.stack(cs), None

    assert FORWARD_MISTAKES["old c"] in message_of("peephole_forward", forward, seed=seed)


def buggy_backward(dh, dc, cache, change):
    """The course's cache: (x, h_prev, c_prev, W_ih, W_hh, p, i, f, g, o, c, tanh_c)."""
    x, h_prev, c_prev, W_ih, W_hh, p, i, f, g, o, c, tanh_c = cache
    p_i, p_f, p_o = np.split(p, 3)
    da_o = dh * tanh_c * o * (1 - o)
    dc_t = dc + dh * o * (1 - tanh_c**2)
    if change != "dc_t without p_o":
        dc_t = dc_t + da_o * p_o
    da_i, da_f, da_g = dc_t * g * i * (1 - i), dc_t * c_prev * f * (1 - f), dc_t * i * (1 - g**2)
    da = np.hstack([da_i, da_f, da_g, da_o])
    dc_prev = dc_t * f if change == "LSTM dc_prev" else dc_t * f + da_i * p_i + da_f * p_f
    dp = np.concatenate([(da_i * c_prev).sum(0), (da_f * c_prev).sum(0),
                         (da_o * (c_prev if change == "dp_o from c_prev" else c)).sum(0)])
    return da @ W_ih, da @ W_hh, dc_prev, da.T @ x, da.T @ h_prev, da.sum(0), dp


BACKWARD_MISTAKES = {
    "dc_t without p_o": "without the output gate's peephole in dc_t",
    "LSTM dc_prev": "your dc_prev equals dc_t ⊙ f, the LSTM's",
    "dp_o from c_prev": "so dp_o = Σ_n da_o ⊙ c_t",
}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("change", BACKWARD_MISTAKES)
def test_a_classic_backward_mistake_is_named(change, seed):
    message = message_of("peephole_step_backward", lambda dh, dc, cache: buggy_backward(dh, dc, cache, change),
                         forward=COURSE["peephole_step_forward"], seed=seed)
    assert BACKWARD_MISTAKES[change] in message


def test_a_bptt_that_drops_dcT_is_pointed_at_it():
    def ignores_dcT(dhs, cache, dcT=None):
        return COURSE["peephole_backward"](dhs, cache)

    message = message_of("peephole_backward", ignores_dcT, forward=COURSE["peephole_forward"])
    assert "dcT" in message
