"""Sweep seeds: does every correct answer pass every graded part on every seed, and is every
classic mistake named on every seed?

    python bench/sweep_seeds.py                  # 2,000 seeds of every part, and of every mistake
    python bench/sweep_seeds.py --seeds 300 lstm_backward check_gradients

For each part, the course's own answer (the solution cells of its assignment) and the
answer of tests/course/answers.py (written differently: loops, other formulas) are
graded on seeds 0, 1, …, through the same verdict as a hidden test. A correct answer
must pass on every seed. Then each classic mistake of tests/course/test_grading.py and
test_a6_peephole.py (a missing bias, an untransposed W_hh, h = o ⊙ c, the output gate's
peephole on the old c, …) is graded on the same seeds, and its message must name it.
The tables count failures (target 0) and show the first.
`make test` runs 50 seeds of the answers and 10 of the mistakes.
"""

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "course")]


def sweep(name, seeds):
    """(part, seconds, {source: [failing seeds]}, first failure message)."""
    import torch

    from lstm_course import grading
    from test_grading import answer_and_forward

    torch.set_num_threads(1)
    started, failures, first = time.perf_counter(), {}, ""
    for source in ("course", "answers"):
        function, forward = answer_and_forward(name, source)
        failures[source] = []
        for seed in range(seeds):
            try:
                grading.check(name, function, forward=forward, seed=seed)
            except (AssertionError, NotImplementedError) as error:
                failures[source].append(seed)
                first = first or f"{source}, seed {seed}: {error}"
    return name, time.perf_counter() - started, failures, first


def sweep_mistakes(seeds):
    """{mistake: [seeds whose message does not name it]} over the message tests of test_grading
    and test_a6_peephole."""
    import test_a6_peephole as a6
    import test_grading as t
    cases = [(f"rnn_step_forward: {m}", t.test_a_classic_rnn_mistake_is_named_on_every_seed, m)
             for m in t.RNN_MISTAKES]
    cases += [(f"lstm_step_forward: {m}", t.test_a_classic_lstm_mistake_is_named_on_every_seed, m)
              for m in t.LSTM_MISTAKES]
    cases += [("rnn_step_forward: a transposed output", lambda _, seed: t.test_a_transposed_output_is_named_by_its_shape_on_every_seed(seed), None)]
    cases += [(f"peephole_step_forward: {m}", a6.test_a_classic_forward_mistake_is_named, m)
              for m in a6.FORWARD_MISTAKES]
    cases += [(f"peephole_step_backward: {m}", a6.test_a_classic_backward_mistake_is_named, m)
              for m in a6.BACKWARD_MISTAKES]
    missed = {}
    for label, test, mistake in cases:
        missed[label] = []
        for seed in range(seeds):
            try:
                test(mistake, seed)
            except AssertionError:
                missed[label].append(seed)
    return missed


def main():
    from lstm_course.parts import PARTS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help=f"default: all {len(PARTS)}")
    parser.add_argument("--seeds", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    args = parser.parse_args()
    names = args.parts or sorted(PARTS)
    print(f"{args.seeds} seeds per part, the course's answer and answers.py's (load average "
          f"{os.getloadavg()[0]:.1f})\n")
    print("| part | failures (course) | failures (answers.py) | seconds |")
    print("|---|---|---|---|")
    total, messages = 0, []
    with ProcessPoolExecutor(args.workers) as pool:
        for name, seconds, failures, first in pool.map(sweep, names, [args.seeds] * len(names)):
            total += sum(len(seeds) for seeds in failures.values())
            print(f"| {name} | {len(failures['course'])} | {len(failures['answers'])} | {seconds:.0f} |", flush=True)
            if first:
                messages.append(f"{name}: {first}")
    print(f"\n{total} failures in {len(names) * 2 * args.seeds} gradings of correct answers")
    for message in messages:
        print("\n" + message)
    print("\n| mistake | seeds whose message does not name it |")
    print("|---|---|")
    missed = sweep_mistakes(args.seeds)
    for label, seeds in missed.items():
        print(f"| {label} | {len(seeds)}{' (first: ' + str(seeds[0]) + ')' if seeds else ''} |")
    total += sum(len(seeds) for seeds in missed.values())
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
