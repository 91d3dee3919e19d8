"""a5_gru's grading: the usual GRU mistakes fail with a message that names them.

The oracle of every verdict is lstm_ref.gru (in the grader's fresh interpreter,
itself tested against torch.nn.GRU and autograd in test_gru.py). Each wrong answer
below differs from a right one in exactly one of the places the chapter warns
about, so the test is that the grade fails *and* that its message points there.
Right answers written differently pass in test_integrity.py.
"""

import numpy as np
import pytest

import answers
from lstm_course import grading


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def gru_step(x, h_prev, W_ih, W_hh, b_ih, b_hh, fold_b_hn=False, swap_update=False,
             reset_before=False):
    """A GRU step with at most one of the classic mistakes switched on."""
    H = h_prev.shape[1]
    from_input = x @ W_ih.T + b_ih
    from_hidden = h_prev @ W_hh.T + b_hh
    r = sigmoid(from_input[:, :H] + from_hidden[:, :H])
    z = sigmoid(from_input[:, H:2 * H] + from_hidden[:, H:2 * H])
    if fold_b_hn:  # b_hn outside the reset product, as if the two biases were one
        a_n = from_input[:, 2 * H:] + b_hh[2 * H:] + r * (h_prev @ W_hh[2 * H:].T)
    elif reset_before:  # Cho et al.'s order: r applied to h before the product
        a_n = from_input[:, 2 * H:] + (r * h_prev) @ W_hh[2 * H:].T + b_hh[2 * H:]
    else:
        a_n = from_input[:, 2 * H:] + r * from_hidden[:, 2 * H:]
    n = np.tanh(a_n)
    h = z * n + (1 - z) * h_prev if swap_update else (1 - z) * n + z * h_prev
    return h, None


def failure(name, function, forward=None):
    with pytest.raises(grading.GradingError) as raised:
        grading.grade(name, function, forward=forward)
    return str(raised.value)


def test_the_reference_step_passes_when_written_out():
    grading.grade("gru_step_forward", gru_step)


def test_folding_b_hn_into_the_input_bias_is_named():
    message = failure("gru_step_forward", lambda *a: gru_step(*a, fold_b_hn=True))
    assert "probe of b_hn" in message and "inside the reset product" in message


def test_a_swapped_update_gate_is_named():
    message = failure("gru_step_forward", lambda *a: gru_step(*a, swap_update=True))
    assert "probe of the update gate" in message
    assert "z is the share of the old state that is kept" in message


def test_the_reset_gate_before_the_product_is_named():
    message = failure("gru_step_forward", lambda *a: gru_step(*a, reset_before=True))
    assert "multiplied by r after the product" in message


def in_float32(*arrays):
    h, _ = gru_step(*(a.astype(np.float32) for a in arrays))
    return h.astype(np.float64), None


def test_a_float32_step_is_named():
    assert grading.FLOAT32_LESSON in failure("gru_step_forward", in_float32)


@pytest.mark.parametrize("seed", range(5))
def test_the_precision_case_alone_exposes_float32(seed):
    from lstm_ref.gru import gru_step_forward
    case = next(c for c in grading._cases("gru_step_forward", seed) if c.kind == "precision")
    expected, _ = gru_step_forward(*case.inputs.values())
    assert grading._rel_error(in_float32(*case.inputs.values())[0], expected) > 10 * grading.TOLERANCE


def test_changing_a_bias_in_place_fails():
    def scales_its_bias(x, h_prev, W_ih, W_hh, b_ih, b_hh):
        b_hh *= 1.0 + 1e-3
        return gru_step(x, h_prev, W_ih, W_hh, b_ih, b_hh)
    assert "changed its input b_hh in place" in failure("gru_step_forward", scales_its_bias)


def test_the_hidden_cases_include_a_single_sequence_and_the_probes():
    for name in ("gru_step_forward", "gru_forward", "gru_step_backward"):
        cases = grading._cases(name, seed=123)
        assert cases[0].kind == "random" and cases[0].inputs["x"].shape[-2] == 1, name
        assert any(case.kind == "probe" for case in cases), name
        assert all(value.dtype == np.float64 for case in cases for value in case.inputs.values()), name


def test_the_reset_probe_opens_the_reset_gate_exactly():
    probe = next(case for case in grading._cases("gru_step_backward", seed=5)
                 if "reset gate fully open" in case.label)
    from lstm_ref.gru import gru_step_forward
    _, cache = gru_step_forward(*(probe.inputs[k] for k in ("x", "h_prev", "W_ih", "W_hh", "b_ih", "b_hh")))
    assert np.all(cache.r == 1.0)


def backward_with(missing_reset=False, same_biases=False, no_direct_path=False):
    """answers.gru_step_backward with at most one mistake switched on."""
    def backward(dh, cache):
        r, z, n, hn, x, h_prev = (cache[k] for k in ("r", "z", "n", "hn", "x", "h_prev"))
        da_n = dh * (1 - z) * (1 - n**2)
        da_z = dh * (h_prev - n) * z * (1 - z)
        da_r = da_n * hn * r * (1 - r)
        input_side = np.concatenate([da_r, da_z, da_n], axis=1)
        recurrent_side = input_side if missing_reset else np.concatenate([da_r, da_z, da_n * r], axis=1)
        dh_prev = recurrent_side @ cache["W_hh"] + (0.0 if no_direct_path else dh * z)
        db_hh = (input_side if same_biases else recurrent_side).sum(axis=0)
        return (input_side @ cache["W_ih"], dh_prev, input_side.T @ x, recurrent_side.T @ h_prev,
                input_side.sum(axis=0), db_hh)
    return backward


def test_the_right_backward_written_here_passes():
    grading.grade("gru_step_backward", backward_with(), forward=answers.gru_step_forward)


@pytest.mark.parametrize("mistake", ["missing_reset", "same_biases"])
def test_a_backward_right_only_when_r_is_one_is_pointed_at_the_reset_gate(mistake):
    message = failure("gru_step_backward", backward_with(**{mistake: True}), forward=answers.gru_step_forward)
    assert "you are right when r = 1" in message and "da_n ⊙ r" in message


def test_a_missing_direct_path_is_named():
    message = failure("gru_step_backward", backward_with(no_direct_path=True), forward=answers.gru_step_forward)
    assert "dh_prev is wrong" in message and "dh ⊙ z" in message


def test_counting_every_stored_number_is_not_the_free_count():
    message = failure("gru_free_parameter_count", lambda D, H: 3 * H * (D + H + 2))
    assert "only the sums b_xr + b_hr and b_xz + b_hz act" in message
