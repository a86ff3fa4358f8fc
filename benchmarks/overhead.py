"""Per-op overhead: minigrad forward+backward per op, divided by the bare NumPy forward call.

One interleaved run: every round times NumPy and minigrad back to back, so machine noise
hits both; the medians of many rounds are compared. Run from the project root:

    python benchmarks/overhead.py            # about 20 s
    python benchmarks/overhead.py --quick    # a few seconds
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # why: before NumPy loads; one BLAS thread
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402

CHAIN = 50  # ops per timed chain, so the timer's and backward()'s own costs are amortised

# name -> (minigrad step, NumPy step); each step maps y to the next y and keeps values bounded
OPS = {
    "add": (lambda y, c: y + c, lambda y, c: y + c),
    "mul": (lambda y, c: y * c, lambda y, c: y * c),
    "tanh": (lambda y, c: y.tanh(), lambda y, c: np.tanh(y)),
    "sigmoid": (lambda y, c: y.sigmoid(), lambda y, c: 1 / (1 + np.exp(-y))),
    "relu": (lambda y, c: y.relu(), lambda y, c: np.maximum(y, 0)),
    "matmul": (lambda y, c: y @ c, lambda y, c: y @ c),
}


def time_numpy(step, a, c) -> float:
    kept = []  # why: minigrad must keep every intermediate for backward; so does the baseline
    start = time.perf_counter()
    y = a
    for _ in range(CHAIN):
        y = step(y, c)
        kept.append(y)
    return (time.perf_counter() - start) / CHAIN


def time_minigrad(step, a, c) -> float:
    x = mg.Tensor(a, requires_grad=True)
    ct = mg.Tensor(c)
    start = time.perf_counter()
    y = x
    for _ in range(CHAIN):
        y = step(y, ct)
    y.backward(np.ones(y.shape, dtype=y.dtype))
    return (time.perf_counter() - start) / CHAIN


def constant_for(name: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if name == "matmul":  # why: an orthogonal matrix keeps a long chain of products bounded
        q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        return q
    if name == "mul":
        return 1 + rng.uniform(-0.01, 0.01, (n, n))
    return rng.uniform(-0.01, 0.01, (n, n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds, for a smoke test")
    args = parser.parse_args()
    rounds = 5 if args.quick else 41
    rng = np.random.default_rng(0)
    print(f"{'op':<22}{'shape':>10}{'numpy µs':>10}{'minigrad µs':>13}{'ratio':>8}")
    results = {}
    for n in (4, 256):
        a = rng.standard_normal((n, n))
        for name, (mg_fn, np_fn) in OPS.items():
            c = constant_for(name, n, rng)
            np_times, mg_times = [], []
            for _ in range(rounds):
                np_times.append(time_numpy(np_fn, a, c))
                mg_times.append(time_minigrad(mg_fn, a, c))
            t_np, t_mg = statistics.median(np_times), statistics.median(mg_times)
            results[(name, n)] = t_mg / t_np
            print(
                f"{name:<22}{f'{n}x{n}':>10}{t_np * 1e6:>10.2f}{t_mg * 1e6:>13.2f}"
                f"{t_mg / t_np:>8.2f}"
            )
    print(
        f"ratio = minigrad forward+backward per op / NumPy forward per op; chains of {CHAIN} "
        f"ops, median of {rounds} interleaved rounds, 1 BLAS thread"
    )


if __name__ == "__main__":
    main()
