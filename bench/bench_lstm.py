"""Time lstm_ref's LSTM (forward + backward) against torch.nn.LSTM on the CPU.

    python bench/bench_lstm.py               # the full table (a minute or two)
    python bench/bench_lstm.py --quick       # a smoke run: small shapes, few repeats
    python bench/bench_lstm.py --threads 4   # BLAS and torch threads (default 1)
    python bench/bench_lstm.py --openblas-coretype native     # OpenBLAS's own kernel choice

Both sides do the same work on the same numbers: the forward over a (T, N, D)
sequence, then the backward from a gradient on every h_t, giving the gradients
of x, h0, c0 and the weights. Runs alternate between the two (and which goes
first) so that a busy machine slows both alike; the table shows the medians of
the wall times, their ratio, and the ratio of the medians of the CPU times
(which a busy machine disturbs less, as long as each side runs one thread).

NumPy's bundled OpenBLAS picks its kernels from the CPU it detects; on some
CPUs (AMD's Zen 4, as seen on the course's 2-core machines) it picks its AVX2
("Haswell"/"Zen") kernels although the CPU has AVX-512, while torch's oneDNN
uses AVX-512. A fair race gives both sides the same instructions, so by default
(`--openblas-coretype auto`) the script asks OpenBLAS for its AVX-512
("SkylakeX") kernels when the CPU has the AVX-512 extensions they need, and
prints the kernels used; `native` leaves OpenBLAS's own choice.

The thread count must be fixed before NumPy loads its BLAS, so this script sets
the BLAS environment variables first and imports NumPy and torch afterwards.
A timing is a measurement, not a test: it depends on the machine and on what
else runs on it.
"""

import argparse
import ctypes
import glob
import os
import sys
import time

SHAPES = {"A": (50, 32, 64, 64), "B": (100, 64, 256, 256)}  # (T, N, D, H)
QUICK_SHAPES = {"A": (50, 32, 64, 64), "B-small": (20, 16, 128, 128)}
# Targets for the ratio lstm_ref / torch (issue 4); None: no target set.
TARGETS = {("A", "float32"): 2.0, ("B", "float32"): 1.3, ("B", "float64"): 1.0}
BLAS_THREAD_VARIABLES = ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"]


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: smaller shapes, few repeats")
    parser.add_argument("--threads", type=int, default=1, help="threads for the BLAS and for torch (default 1)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per side (default 15, quick 3)")
    parser.add_argument(
        "--openblas-coretype", default="auto", metavar="NAME",
        help="OPENBLAS_CORETYPE: auto (SkylakeX where the CPU has AVX-512, the default), "
        "native (OpenBLAS's own choice), or a kernel name such as Haswell",
    )
    return parser.parse_args()


# The BLAS reads these when NumPy loads it, so they are set before the imports below.
ARGS = parse_arguments()
for variable in BLAS_THREAD_VARIABLES:
    os.environ[variable] = str(ARGS.threads)
# The AVX-512 extensions OpenBLAS's SkylakeX kernels use.
SKYLAKEX_FLAGS = {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"}


def cpu_flags():
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


if ARGS.openblas_coretype == "auto":
    if SKYLAKEX_FLAGS <= cpu_flags():
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
elif ARGS.openblas_coretype != "native":
    os.environ["OPENBLAS_CORETYPE"] = ARGS.openblas_coretype

import numpy as np  # noqa: E402  (after the thread settings)
import torch  # noqa: E402

# Run from a checkout without installing: the repository root holds lstm_ref and lstm_labs.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
from lstm_ref.lstm import lstm_backward, lstm_forward  # noqa: E402
from lstm_labs.convert import params_to_torch  # noqa: E402
from lstm_ref.params import init_lstm  # noqa: E402


def blas_name():
    """The BLAS NumPy was built against, from its build configuration."""
    try:
        return np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    except (KeyError, TypeError):
        return "unknown"


def openblas_core():
    """The kernel family NumPy's bundled OpenBLAS uses (e.g. "Haswell", "SkylakeX"), or None."""
    for path in glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "*openblas*")):
        library = ctypes.CDLL(path)
        for symbol in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename"):
            function = getattr(library, symbol, None)
            if function is not None:
                function.restype = ctypes.c_char_p
                return function().decode()
    return None


def make_case(T, N, D, H, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, N, D)).astype(dtype)
    h0 = rng.standard_normal((N, H)).astype(dtype)
    c0 = rng.standard_normal((N, H)).astype(dtype)
    dhs = rng.standard_normal((T, N, H)).astype(dtype)
    return x, h0, c0, init_lstm(D, H, seed=seed, forget_bias=1.0, dtype=dtype), dhs


def run_lstm_ref(x, h0, c0, params, dhs):
    _, _, cache = lstm_forward(x, h0, c0, *params)
    lstm_backward(dhs, cache)
    return cache


def make_torch_run(x, h0, c0, params, dhs):
    """A closure that runs nn.LSTM forward + backward with gradients for x, h0, c0 and the weights."""
    layer = params_to_torch(params)
    inputs = [torch.from_numpy(a.copy()).requires_grad_(True) for a in (x, h0[None], c0[None])]
    upstream = torch.from_numpy(dhs)

    def run():
        for tensor in [*inputs, *layer.parameters()]:
            tensor.grad = None
        hs, _ = layer(inputs[0], (inputs[1], inputs[2]))
        hs.backward(upstream)

    return run


def median_times(run_ours, run_torch, repeats, warmup=2):
    """Median wall and CPU times (s) of both, interleaved, alternating which runs first.

    Returns ((ours_wall, ours_cpu), (torch_wall, torch_cpu)).
    """
    for _ in range(warmup):
        run_ours()
        run_torch()
    times = {run_ours: [], run_torch: []}
    for repeat in range(repeats):
        order = [run_ours, run_torch] if repeat % 2 == 0 else [run_torch, run_ours]
        for run in order:
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            times[run].append((time.perf_counter() - wall, time.process_time() - cpu))
    return [tuple(np.median(np.array(times[run]), axis=0)) for run in (run_ours, run_torch)]


def cache_floats(cache, borrowed):
    """Numbers held by the arrays of the cache, each array counted once, apart from the caller's.

    ``borrowed`` are the caller's arrays (x, h0, c0 and the weights); a view of one
    of them (x_t of x) is theirs too.
    """
    owned = {}
    for step in cache.steps:
        for array in step:
            base = array if array.base is None else array.base
            if not any(base is theirs for theirs in borrowed):
                owned[id(base)] = base.size
    return sum(owned.values())


def main():
    shapes = QUICK_SHAPES if ARGS.quick else SHAPES
    repeats = ARGS.repeats or (3 if ARGS.quick else 15)
    torch.set_num_threads(ARGS.threads)
    core = openblas_core()
    print(f"NumPy {np.__version__} ({blas_name()}, kernels: {core or 'unknown'}), torch {torch.__version__}")
    print(
        f"threads: BLAS {ARGS.threads} (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS = "
        f"{os.environ['OPENBLAS_NUM_THREADS']}), torch.get_num_threads() = {torch.get_num_threads()}; "
        f"{os.cpu_count()} CPUs seen"
    )
    if core in ("Haswell", "Zen") and SKYLAKEX_FLAGS <= cpu_flags():
        print("note: OpenBLAS runs its AVX2 kernels on a CPU with AVX-512, where torch uses AVX-512")
    print(f"forward + backward, medians of {repeats} interleaved runs; ratio = lstm_ref / torch")
    print()
    header = (
        f"{'shape':<8}{'T, N, D, H':<20}{'dtype':<9}{'lstm_ref ms':>12}{'torch ms':>10}"
        f"{'ratio':>7}{'cpu ratio':>11}{'target':>8}  cache"
    )
    print(header)
    print("-" * (len(header) + 18))
    for label, (T, N, D, H) in shapes.items():
        for dtype in (np.float32, np.float64):
            case = make_case(T, N, D, H, dtype)
            (ours, ours_cpu), (theirs, theirs_cpu) = median_times(
                lambda: run_lstm_ref(*case), make_torch_run(*case), repeats
            )
            cache = run_lstm_ref(*case)
            x, h0, c0, params, _ = case
            target = TARGETS.get((label, np.dtype(dtype).name))
            target_text = f"≤{target:.1f}" if target else "-"
            print(
                f"{label:<8}{str((T, N, D, H)):<20}{np.dtype(dtype).name:<9}"
                f"{1e3 * ours:>12.1f}{1e3 * theirs:>10.1f}{ours / theirs:>7.2f}{ours_cpu / theirs_cpu:>11.2f}"
                f"{target_text:>8}  {cache_floats(cache, [x, h0, c0, *params]) / (T * N * H):.1f}·T·N·H floats"
            )
    print()
    print("cache: the floats lstm_forward's cache holds beyond the caller's arrays (i, f, g, o, c, tanh c, h).")


if __name__ == "__main__":
    main()
