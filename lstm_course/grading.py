"""The verdict on a graded part: cases from a seed, the reference's outputs, and a message that teaches.

Every graded part is decided here, by trusted code, from plain arrays::

    cases = part_cases("rnn_forward", seed)              # what the student's function is given
    results = ...                                        # what it gave back: arrays, or an error
    message = verdict("rnn_forward", cases, results)     # None if right, else what is wrong and where

The results come either from the student's own process (:func:`check`, the visible
test, a self-test with nothing at stake) or from a sandboxed kernel (the hidden test,
run by the nbgrader plugins through :mod:`lstm_course.sandbox`): the kernel receives the
inputs, never the expected outputs, and sends back ``.npz`` arrays that are checked
here for type, dtype, shape and finiteness.

An answer passes when every output has the right dtype and shape and a relative
error of at most 1e-7 against the reference (float64). A correct answer written in
another way passes on every seed; a float32 computation fails the precision case.

Seeds. A hidden test's cases depend on a course secret, the assignment, the student
and the part (:func:`part_seed`): a regrade gives the same cases, a student cannot
know them before grading, and the message names the seed, which the visible check
replays: ``check("rnn_forward", rnn_forward, seed=…)``.
"""

import base64
import binascii
import hashlib
import hmac
import io
import json
import zipfile

import numpy as np

from lstm_course.client import CallError, call_case, encode_arrays
from lstm_course.parts import PARTS
from lstm_ref.gradcheck import rel_error

TOLERANCE = 1e-7
MATCHES_MISTAKE = 1e-6  # outputs this close to a known mistake's are that mistake
REPLY_BYTES = 64 << 20  # the most array data the grader reads back from a kernel for one part

FLOAT32_LESSON = (
    "Your values are right to about 7 digits but not to 16: somewhere the computation runs in "
    "float32 (np.float32, astype, a float32 array you created, or torch's default dtype). "
    "Keep every array in the dtype of the inputs, float64 here.")


class GradingError(AssertionError):
    """A graded function is wrong; the message says how and where to look."""


# --- cases and seeds ---------------------------------------------------------------------------

def part_cases(name, seed):
    """The cases of part ``name`` drawn from ``seed`` (the same list for the same seed)."""
    return PARTS[name].cases(np.random.default_rng(seed))


def part_seed(secret, assignment, student, part):
    """The seed of one student's hidden test of one part: HMAC-SHA256 of the three names, 9 digits."""
    message = f"{assignment}\n{student}\n{part}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % 1_000_000_000


def split_inputs(inputs):
    """A case's inputs as (arrays, plain values): what travels as .npz and what as JSON."""
    arrays = {k: v for k, v in inputs.items() if isinstance(v, np.ndarray)}
    scalars = {k: v for k, v in inputs.items() if not isinstance(v, np.ndarray)}
    return arrays, scalars


def call_spec(part):
    """What the kernel needs to call the part's function: plain data only."""
    return dict(part.call, function=part.name)


# --- results -----------------------------------------------------------------------------------

class Result:
    """What the student's function gave on one case: outputs (arrays), an error message, or no answer."""

    def __init__(self, status, outputs=None, message=""):
        self.status, self.outputs, self.message = status, outputs, message

    @classmethod
    def ok(cls, outputs):
        return cls("ok", outputs=outputs)


def call_locally(part, function, forward, case, time_limit=None):
    """The result of the student's function on one case, called in this process (the visible check)."""
    arrays, scalars = split_inputs(case.inputs)
    functions = {"function": function, "forward": forward}
    try:
        return Result.ok(call_case(dict(call_spec(part), scalars=scalars), functions, arrays, time_limit))
    except NotImplementedError:
        return Result("not answered")
    except CallError as error:
        return Result("error", message=str(error))


def kernel_request(name, cases):
    """The code a kernel runs to call the student's function on ``cases`` (inputs only)."""
    part = PARTS[name]
    arrays, scalars = {}, []
    for index, case in enumerate(cases):
        case_arrays, case_scalars = split_inputs(case.inputs)
        arrays.update({f"case{index}/{key}": value for key, value in case_arrays.items()})
        scalars.append(case_scalars)
    spec = json.dumps(dict(call_spec(part), cases=scalars))
    roles = f'"function": {part.name}'
    if "forward" in part.call:
        roles += f', "forward": {part.call["forward"]}'
    return (f"__import__('lstm_course.client', fromlist=['serve']).serve(\n"
            f"    {spec!r}, {encode_arrays(arrays)!r}, lambda: {{{roles}}})")


def parse_reply(reply, cases):
    """The kernel's reply as a list of Result, one per case; ValueError if it is not what was asked.

    The reply is untrusted data: a JSON object with a status per case and base64 ``.npz``
    arrays, loaded without pickle; anything else is rejected.
    """
    if not isinstance(reply, dict) or not isinstance(reply.get("results"), list) \
            or not isinstance(reply.get("arrays"), str) or len(reply["results"]) != len(cases):
        raise ValueError("the reply does not hold one result per case")
    try:
        archive = io.BytesIO(base64.b64decode(reply["arrays"], validate=True))
        members = zipfile.ZipFile(archive).infolist()
        # np.savez stores its arrays uncompressed: a compressed member could unpack into gigabytes.
        if any(m.compress_type != zipfile.ZIP_STORED for m in members) or \
                sum(m.file_size for m in members) > REPLY_BYTES:
            raise ValueError("compressed or larger than the grader reads")
        with np.load(archive, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (ValueError, OSError, binascii.Error, zipfile.BadZipFile) as error:
        raise ValueError(f"the reply's arrays are not a plain .npz: {error}") from None
    results = []
    for index, item in enumerate(reply["results"]):
        status = item.get("status") if isinstance(item, dict) else None
        if status == "ok" and isinstance(item.get("outputs"), int) and 0 <= item["outputs"] <= 16:
            outputs = [arrays.get(f"case{index}/{position}") for position in range(item["outputs"])]
            if any(a is None or a.dtype.kind not in "fiu" for a in outputs):
                raise ValueError(f"case {index}: outputs missing or not numbers")
            results.append(Result.ok(outputs))
        elif status == "error" and isinstance(item.get("message"), str):
            results.append(Result("error", message=item["message"][:2000]))
        elif status == "not answered":
            results.append(Result("not answered"))
        else:
            raise ValueError(f"case {index}: an unknown result")
    return results


# --- the verdict -------------------------------------------------------------------------------

class Problem:
    """What is wrong with one output on one case."""

    def __init__(self, kind, text, output="", error=float("inf")):
        self.kind, self.text, self.output, self.error = kind, text, output, error


def _name(output):
    return output.split(" ")[0]


def _rel_error(a, b):
    a = np.asarray(a, dtype=np.float64)
    return float("inf") if not np.all(np.isfinite(a)) else rel_error(a, np.asarray(b, dtype=np.float64))


def compare(part, got, expected):
    """The problems of the student's outputs against the expected ones (a list, empty if right)."""
    if part.compare is not None:
        problem = part.compare(got, expected)
        return [Problem("other", problem)] if problem else []
    problems = []
    for output, mine, want in zip(part.outputs, got, expected):
        label, shape = _name(output), output[len(_name(output)) + 1:]
        want = np.asarray(want)
        if mine.shape != want.shape:
            problems.append(Problem("shape", f"{label} has shape {mine.shape}, expected {shape} = {want.shape}", label))
        elif want.dtype == np.float64 and mine.dtype != np.float64:
            problems.append(Problem("dtype", f"{label} is {mine.dtype} but the inputs were float64: keep "
                                             f"float64 (no astype(np.float32), no float32 arrays)", label))
        else:
            error = _rel_error(mine, want)
            if not error <= TOLERANCE:
                problems.append(Problem("value", f"{label} is wrong: relative error {error:.1e} "
                                                 f"(at most {TOLERANCE:.0e} allowed)", label, error))
    return problems


def verdict(name, cases, results, seed=None):
    """None if the part is right on every case, else the message of its failure (a str).

    A part that raised NotImplementedError on its first case is reported as not answered.
    """
    part = PARTS[name]
    if results and results[0].status == "not answered":
        return f"{name} is not answered yet: it raises NotImplementedError."
    graded = len(part.outputs)
    failures, forward_wrong = [], False
    for case, result in zip(cases, results):
        if result.status != "ok":
            failures.append((case, [Problem("error", result.message or f"{name} gave no answer")], ""))
            break
        expected = part.reference(case)
        if len(result.outputs) != len(expected):
            failures.append((case, [Problem("other", f"{name} returned {len(result.outputs)} outputs, "
                                                     f"expected {len(expected)}")], ""))
            continue
        problems = compare(part, result.outputs[:graded], expected[:graded])
        if problems:
            extra = part.diagnose(case, result.outputs, expected) if part.diagnose else ""
            failures.append((case, problems, extra))
        if graded < len(expected) and compare(part._replace(outputs=tuple(part.call["forward_returns"]),
                                                            compare=None),
                                              result.outputs[graded:], expected[graded:]):
            forward_wrong = True
    if not failures:
        return None
    return _explain(part, cases, results, failures, forward_wrong, seed)


def _replay(part, seed):
    forward = f", forward={part.call['forward']}" if "forward" in part.call else ""
    return f"check({part.name!r}, {part.name}{forward}, seed={seed})"


def _explain(part, cases, results, failures, forward_wrong, seed):
    """The message of a failed part: the first failure, then where to look, then how to replay it."""
    main = [f for f in failures if f[0].kind != "probe"] or failures
    case, problems, _ = main[0]
    lines = [f"{part.name} is wrong on {case.label}:"]
    lines += [f"  - {problem.text}" for problem in problems]
    if len(problems) < len(part.outputs):  # some outputs right: say what to check in the others
        lines += [f"    check: {part.hints[p.output]}" for p in problems if p.output in part.hints]
    lines += _where_to_look(part, cases, results, failures, problems)
    if forward_wrong:
        forward = part.call["forward"]
        lines.append(f"Note: your {forward} is wrong on these cases too, and the backward uses its "
                     f"cache: make {forward} pass first.")
    if seed is not None:
        lines.append(f"(these cases come from seed {seed}: {_replay(part, seed)} replays them)")
    return "\n".join(lines)


def _matching_mistake(part, cases, results, failures):
    """The lesson of the known mistake whose outputs equal the student's on every failed case, or None."""
    failed = [(case, result) for case, result in zip(cases, results)
              if result.status == "ok" and any(case is f[0] for f in failures)]
    for mistake in part.mistakes:
        matched = True
        for case, result in failed:
            try:
                buggy = mistake.outputs(case)
            except (ValueError, IndexError):  # this mistake cannot be made with these shapes
                matched = False
                break
            got = result.outputs[:len(buggy)]
            if len(got) < len(buggy) or any(g.shape != np.shape(b) or not _rel_error(g, b) <= MATCHES_MISTAKE
                                             for g, b in zip(got, buggy)):
                matched = False
                break
        if failed and matched:
            return mistake.lesson
    return None


def _where_to_look(part, cases, results, failures, main_problems):
    """Lessons: a known mistake, the spec's diagnosis, float32, the failing probes, the passing ones."""
    if any(problem.kind in ("shape", "dtype", "error") for problem in main_problems):
        return []  # the problem itself says what to fix
    mistake = _matching_mistake(part, cases, results, failures)
    if mistake:
        return [f"Look here: {mistake}."]
    extras = [extra for _, _, extra in failures if extra]
    if extras:
        return [f"Look here: {extras[0]}"]
    value_errors = [p.error for case, problems, _ in failures if case.kind != "precision"
                    for p in problems if p.kind == "value"]
    if any(case.kind == "precision" for case, _, _ in failures) and max(value_errors, default=0) < 1e-4:
        return [FLOAT32_LESSON]
    lessons = [f"With {case.label} your answer is wrong too: {case.lesson}."
               for case, _, _ in failures if case.kind == "probe" and case.lesson]
    if lessons:
        return lessons[:1]
    failed = {id(case) for case, _, _ in failures}
    random_failed = any(case.kind in ("random", "special") for case, _, _ in failures)
    passing = [f"Look here: {case.passing}." for case in cases
               if case.kind == "probe" and case.passing and id(case) not in failed]
    if random_failed and passing:
        return passing[:2]
    some_right = len(main_problems) < len(part.outputs)
    if part.combined and not (part.hints and some_right):  # per-output hints said it already
        return [f"Hint: {part.combined}."]
    return []


# --- the visible check ---------------------------------------------------------------------------

def check(name, function, forward=None, seed=0):
    """The visible test of a part, in the student's own process: silent if right, else GradingError.

    The same cases (for the same seed) and the same messages as the hidden test; an
    unanswered part raises NotImplementedError, as the notebook's stub does.
    """
    if name not in PARTS:
        raise ValueError(f"no graded part is called {name!r}; the parts are {sorted(PARTS)}")
    part = PARTS[name]
    cases = part_cases(name, seed)
    results = []
    for case in cases:
        result = call_locally(part, function, forward, case, time_limit=20)
        results.append(result)
        if result.status != "ok":
            break
    if results[0].status == "not answered":
        raise NotImplementedError(f"{name} is not answered yet")
    message = verdict(name, cases, results, seed=seed)
    if message:
        raise GradingError(message)
