"""lstm_course.grading: every right answer passes on every seed; wrong ones fail with a message that points at the mistake.

The oracle of a verdict is lstm_ref (tested against PyTorch and central differences in
tests/ref). Here the question is whether the grader around it is fair and says the right
thing: the course's answers and tests/answers.py's (written differently: loops, other
formulas) pass 50 seeds of every part (bench/sweep_seeds.py runs 2,000); each classic
mistake fails on every seed tried, with the lesson that names it; and what crosses the
boundary is only plain data (no expected output goes in, nothing pickled comes back).
"""

import base64
import io
import json
import re

import numpy as np
import pytest

import answers
from lstm_course import client, generate, grading
from lstm_course.parts import ASSIGNMENTS, PARTS, part_of_cell

SEEDS = range(50)
MESSAGE_SEEDS = range(10)
COURSE = {assignment: generate.solution_namespace(assignment) for assignment in ASSIGNMENTS}


def forward_for(part, namespace):
    return namespace.get(part.call["forward"]) if "forward" in part.call else None


def answer_and_forward(name, source):
    """The function graded as ``name`` and the forward its test passes, from the course's or answers.py."""
    part = PARTS[name]
    if source == "course":
        namespace = COURSE[part.assignment]
        return namespace[name], forward_for(part, namespace)
    # a3's backward parts read the caches of the forward that a3 hands out, not answers.py's.
    given = COURSE[part.assignment] if part.assignment == "a3_lstm_backward" else vars(answers)
    return getattr(answers, name), forward_for(part, given)


# --- fairness: the seed sweep ---------------------------------------------------------------

@pytest.mark.parametrize("source", ["course", "answers"])
@pytest.mark.parametrize("name", sorted(PARTS))
def test_a_right_answer_passes_on_every_seed(name, source):
    function, forward = answer_and_forward(name, source)
    for seed in SEEDS:
        grading.check(name, function, forward=forward, seed=seed)


def test_every_test_cell_of_every_assignment_has_its_part():
    for assignment, names in ASSIGNMENTS.items():
        solutions = COURSE[assignment]
        for name in names:
            assert part_of_cell(f"test_{name}").assignment == assignment
            assert callable(solutions[name]), name


def same_cases(first, second):
    return len(first) == len(second) and all(
        case.inputs.keys() == other.inputs.keys()
        and all(np.shape(case.inputs[k]) == np.shape(other.inputs[k]) and np.array_equal(case.inputs[k], other.inputs[k])
                for k in case.inputs)
        for case, other in zip(first, second))


def test_the_same_seed_gives_the_same_cases_and_another_seed_others():
    for name in PARTS:
        first, again, other = (grading.part_cases(name, seed) for seed in (7, 7, 8))
        assert same_cases(first, again) and not same_cases(first, other), name


def test_a_students_seed_depends_on_the_secret_the_student_and_the_part():
    seed = grading.part_seed(b"secret", "a1_rnn_bptt", "alice", "rnn_forward")
    assert seed == grading.part_seed(b"secret", "a1_rnn_bptt", "alice", "rnn_forward")
    others = {grading.part_seed(b"other", "a1_rnn_bptt", "alice", "rnn_forward"),
              grading.part_seed(b"secret", "a1_rnn_bptt", "bob", "rnn_forward"),
              grading.part_seed(b"secret", "a1_rnn_bptt", "alice", "rnn_backward")}
    assert seed not in others and len(others) == 3 and 0 <= seed < 10**9


# --- messages that point at the mistake -------------------------------------------------------

def message_of(name, function, forward=None, seed=0):
    with pytest.raises(grading.GradingError) as failure:
        grading.check(name, function, forward=forward, seed=seed)
    return str(failure.value)


def rnn_step(x, h_prev, W_ih, W_hh, b, transpose=False, bias=1.0, squash=True):
    a = x @ W_ih.T + h_prev @ (W_hh if transpose else W_hh.T) + bias * b
    return (np.tanh(a) if squash else a), None


def lstm_step(x, h_prev, c_prev, W_ih, W_hh, b, order="ifgo", tanh_c=True, bias=1.0):
    H = h_prev.shape[1]
    a = x @ W_ih.T + h_prev @ W_hh.T + bias * b
    blocks = dict(zip(order, (a[:, k * H:(k + 1) * H] for k in range(4))))
    i, f, o = (answers.sigmoid(blocks[gate]) for gate in "ifo")
    c = f * c_prev + i * np.tanh(blocks["g"])
    return (o * np.tanh(c) if tanh_c else o * c), c, None


RNN_MISTAKES = {
    "a missing bias": (lambda *a: rnn_step(*a, bias=0.0), "look at b"),
    "W_hh untransposed": (lambda *a: rnn_step(*a, transpose=True), "W_hh is used untransposed"),
    "a doubled bias": (lambda *a: rnn_step(*a, bias=2.0), "the bias b is added twice"),
    "no tanh": (lambda *a: rnn_step(*a, squash=False), "apply tanh"),
}
LSTM_MISTAKES = {
    "h = o * c": (lambda *a: lstm_step(*a, tanh_c=False), "h_t = o ⊙ tanh(c_t)"),
    "gate order i, f, o, g": (lambda *a: lstm_step(*a, order="ifog"), "PyTorch's order i, f, g, o"),
    "a doubled bias": (lambda *a: lstm_step(*a, bias=2.0), "add b once"),
}


@pytest.mark.parametrize("seed", MESSAGE_SEEDS)
@pytest.mark.parametrize("mistake", RNN_MISTAKES)
def test_a_classic_rnn_mistake_is_named_on_every_seed(mistake, seed):
    function, lesson = RNN_MISTAKES[mistake]
    assert lesson in message_of("rnn_step_forward", function, seed=seed)


@pytest.mark.parametrize("seed", MESSAGE_SEEDS)
@pytest.mark.parametrize("mistake", LSTM_MISTAKES)
def test_a_classic_lstm_mistake_is_named_on_every_seed(mistake, seed):
    function, lesson = LSTM_MISTAKES[mistake]
    assert lesson in message_of("lstm_step_forward", function, seed=seed)


@pytest.mark.parametrize("seed", MESSAGE_SEEDS)
def test_a_transposed_output_is_named_by_its_shape_on_every_seed(seed):
    def transposed(x, h_prev, W_ih, W_hh, b):
        return np.tanh(x @ W_ih.T + h_prev @ W_hh.T + b).T, None
    message = message_of("rnn_step_forward", transposed, seed=seed)
    assert "h has shape" in message and "expected (N, H)" in message


def test_float32_inside_is_named():
    def in_float32(x, h_prev, W_ih, W_hh, b):
        single = [a.astype(np.float32) for a in (x, h_prev, W_ih, W_hh, b)]
        return np.tanh(single[0] @ single[2].T + single[1] @ single[3].T + single[4]).astype(np.float64), None
    assert grading.FLOAT32_LESSON in message_of("rnn_step_forward", in_float32)


def test_a_float32_result_is_named():
    def returns_float32(x, h_prev, W_ih, W_hh, b):
        return np.tanh(x @ W_ih.T + h_prev @ W_hh.T + b).astype(np.float32), None
    assert "h is float32 but the inputs were float64" in message_of("rnn_step_forward", returns_float32)


def test_changing_an_input_in_place_is_named():
    def overwrites(x, h_prev, W_ih, W_hh, b):
        np.tanh(x @ W_ih.T + h_prev @ W_hh.T + b, out=h_prev)
        return h_prev.copy(), None
    assert "changed its input h_prev in place" in message_of("rnn_step_forward", overwrites)


def test_an_exception_names_the_line_of_the_students_code():
    def wrong_orientation(x, h_prev, W_ih, W_hh, b):
        a = x @ W_ih + h_prev @ W_hh.T + b
        return np.tanh(a), None
    message = message_of("rnn_step_forward", wrong_orientation)
    assert "raised ValueError" in message and "a = x @ W_ih + h_prev @ W_hh.T + b" in message


def test_an_unanswered_part_raises_not_implemented_error():
    def stub(x, h_prev, W_ih, W_hh, b):
        raise NotImplementedError()
    with pytest.raises(NotImplementedError):
        grading.check("rnn_step_forward", stub)


def test_a_sigmoid_that_warns_is_named():
    message = message_of("sigmoid", lambda z: np.where(z >= 0, 1 / (1 + np.exp(-z)), np.exp(z) / (1 + np.exp(z))))
    assert "gave a warning" in message and "e^(−|z|)" in message


def test_states_shifted_by_one_step_are_named():
    def shifted(x, h0, W_ih, W_hh, b):
        h, hs = h0, []
        for x_t in x:
            hs.append(h)
            h = np.tanh(x_t @ W_ih.T + h @ W_hh.T + b)
        return np.stack(hs), None
    assert "shifted by one step" in message_of("rnn_forward", shifted)


def test_bptt_that_forgets_the_loss_before_the_last_step_is_pointed_at_dhs():
    def last_only(dhs, caches):
        dh, grads = dhs[-1], [None] * len(caches)
        total = 0
        for t in reversed(range(len(caches))):
            grads[t], dh, *rest = answers.rnn_step_backward(dh, caches[t])
            total = rest if total == 0 else [a + b for a, b in zip(total, rest)]
        return (np.stack(grads), dh, *total)
    message = message_of("rnn_backward", last_only, forward=answers.rnn_forward)
    assert "add dhs[t] to the gradient of h_t at every step t" in message


def test_a_wrong_forward_is_named_when_its_backward_is_graded():
    def wrong_forward(x, h_prev, W_ih, W_hh, b):
        h = np.tanh(x @ W_ih.T + h_prev @ W_hh.T)  # no bias
        return h, (x, h_prev, W_ih, W_hh, h)
    message = message_of("rnn_step_backward", answers.rnn_step_backward, forward=wrong_forward)
    assert "your rnn_step_forward is wrong on these cases too" in message


def gru_step(x, h_prev, W_ih, W_hh, b_ih, b_hh, change=""):
    """A GRU step written gate by gate with einsum, with at most one classic mistake switched on."""
    (W_r, W_z, W_n), (U_r, U_z, U_n) = np.split(W_ih, 3), np.split(W_hh, 3)
    (b_r, b_z, b_n), (c_r, c_z, c_n) = np.split(b_ih, 3), np.split(b_hh, 3)
    r = answers.sigmoid(np.einsum("nd,hd->nh", x, W_r) + b_r + np.einsum("nk,hk->nh", h_prev, U_r) + c_r)
    z = answers.sigmoid(np.einsum("nd,hd->nh", x, W_z) + b_z + np.einsum("nk,hk->nh", h_prev, U_z) + c_z)
    from_input = np.einsum("nd,hd->nh", x, W_n) + b_n
    if change == "b_hn outside":
        n = np.tanh(from_input + c_n + r * np.einsum("nk,hk->nh", h_prev, U_n))
    elif change == "reset before":
        n = np.tanh(from_input + np.einsum("nk,hk->nh", r * h_prev, U_n) + c_n)
    else:
        n = np.tanh(from_input + r * (np.einsum("nk,hk->nh", h_prev, U_n) + c_n))
    kept = 1 - z if change == "update swapped" else z
    return kept * h_prev + (1 - kept) * n, None


@pytest.mark.parametrize("seed", MESSAGE_SEEDS[:5])
@pytest.mark.parametrize("change, lesson", [
    ("b_hn outside", "b_hn sits inside it"), ("reset before", "PyTorch multiplies after it"),
    ("update swapped", "z is the share of the old state that is kept")])
def test_a_classic_gru_mistake_is_named(change, lesson, seed):
    assert lesson in message_of("gru_step_forward", lambda *a: gru_step(*a, change=change), seed=seed)


def test_a_checker_that_ignores_the_second_output_is_told_so():
    def first_output_only(forward, backward, inputs, seed=0, eps=1e-6):
        names = list(inputs)
        values = [np.array(inputs[n], dtype=float) for n in names]
        outputs = forward(*values)
        rng = np.random.default_rng(seed)
        upstream = [rng.standard_normal(np.shape(o)) for o in outputs[:-1]]
        analytic = backward(*upstream, outputs[-1])
        errors = {}
        for k, name in enumerate(names):
            def loss(v, k=k):
                changed = values[:k] + [v] + values[k + 1:]
                return forward(*changed)[0]
            errors[name] = answers.rel_error(analytic[k], answers.numerical_gradient(loss, values[k], upstream[0]))
        return errors
    assert "the loss weights every output by its own upstream gradient" in message_of(
        "check_gradients", first_output_only)


# --- what crosses the boundary ------------------------------------------------------------

def test_the_request_into_the_kernel_holds_the_inputs_and_nothing_else():
    for name in ("rnn_step_backward", "lstm_backward", "WeatherClassifier", "train_full_batch"):
        cases = grading.part_cases(name, 3)
        request = grading.kernel_request(name, cases)
        (encoded,) = re.findall(r"'([A-Za-z0-9+/=]{40,})'", request)  # serve('<spec>', '<arrays>', …)
        sent = client.decode_arrays(encoded)
        expected = {f"case{i}/{k}": v for i, c in enumerate(cases) for k, v in c.inputs.items()
                    if isinstance(v, np.ndarray)}
        assert sent.keys() == expected.keys(), name
        assert all(np.array_equal(sent[k], expected[k]) for k in sent), name


def reply(results, arrays):
    return {"results": results, "arrays": client.encode_arrays(arrays)}


def test_a_reply_with_a_pickled_object_is_refused():
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    npz = io.BytesIO()
    import zipfile
    with zipfile.ZipFile(npz, "w") as archive:
        archive.writestr("case0/0.npy", buffer.getvalue())
    forged = {"results": [{"status": "ok", "outputs": 1}], "arrays": base64.b64encode(npz.getvalue()).decode()}
    with pytest.raises(ValueError):
        grading.parse_reply(forged, [None])


@pytest.mark.parametrize("forged", [
    None, [], {"results": [], "arrays": ""}, {"results": [{"status": "ok", "outputs": 1}], "arrays": "not base64!"},
    reply([{"status": "ok", "outputs": 1}], {}), reply([{"status": "won"}], {}),
    reply([{"status": "ok", "outputs": 1}], {"case0/0": np.array(["text"])}),
])
def test_a_malformed_reply_is_refused(forged):
    with pytest.raises(ValueError):
        grading.parse_reply(forged, [None])


def test_a_well_formed_reply_is_read_back_exactly():
    arrays = {"case0/0": np.arange(6.0).reshape(2, 3), "case1/0": np.ones(2)}
    results = grading.parse_reply(reply([{"status": "ok", "outputs": 1}, {"status": "error", "message": "boom"}],
                                        arrays), [None, None])
    assert results[0].status == "ok" and np.array_equal(results[0].outputs[0], arrays["case0/0"])
    assert results[1].status == "error" and results[1].message == "boom"
    json.dumps([r.status for r in results])


def test_a_compressed_reply_is_refused_before_it_is_unpacked():
    import zipfile
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        buffer = io.BytesIO()
        np.save(buffer, np.zeros(1000))
        archive.writestr("case0/0.npy", buffer.getvalue())
    forged = {"results": [{"status": "ok", "outputs": 1}], "arrays": base64.b64encode(npz.getvalue()).decode()}
    with pytest.raises(ValueError, match="compressed"):
        grading.parse_reply(forged, [None])
