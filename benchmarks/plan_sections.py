"""Where a compiled step's time goes: each section of the plan timed on its own.

Builds the compiled step of ``step.py`` for each scenario, then runs a copy of its plan with
a clock read before every comment line of ``compiled.source`` (a comment names the layer or
op the next statements come from), and groups the sections as docs/performance.md does:
zero_grad, forward, loss, backward (with storing each .grad), the SGD update, the result.
The reference (the book's network) runs interleaved with it, from the same weights.

    python benchmarks/plan_sections.py                 # every scenario but wide
    python benchmarks/plan_sections.py --scenarios tiny --rounds 100
"""

from __future__ import annotations

import os

# why: a BLAS library reads these once, when it is loaded, so they must precede `import numpy`
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
from step import SCENARIOS, Compiled, Reference, make_problem  # noqa: E402

GROUPS = ("zero_grad", "forward", "loss", "backward", "update", "result")


def group_of(header: str) -> str:
    if header.startswith("zero_grad"):
        return "zero_grad"
    if header.startswith(("backward of loss", "backward of", "gradient of")):
        return "backward"
    if "step()" in header:
        return "update"
    if header.startswith("the result"):
        return "result"
    if "SoftmaxWithLoss" in header or header.startswith("loss"):
        return "loss"
    return "forward"


def clocked(compiled: Compiled) -> tuple[object, list[str]]:
    """The plan again, with ``_t.append(clock())`` before each commented section."""
    plan = compiled.compiled._last
    lines, headers = [], []
    for line in plan.source.splitlines():
        stripped = line.strip()
        if line.startswith("    # ") and not line.startswith("     "):
            headers.append(stripped[2:])
            lines.append("    _t.append(_clock())")
        elif stripped.startswith("return"):
            lines.append("    _t.append(_clock())")
        lines.append(line)
    ns = dict(plan.function.__globals__)
    ns.update(_clock=time.perf_counter, _t=None)
    exec("\n".join(lines).replace("def ", "def _clocked_", 1), ns)  # noqa: S102
    name = next(k for k in ns if k.startswith("_clocked_"))
    return (ns, name), headers


def measure(name: str, rounds: int, steps: int) -> dict[str, float]:
    params, x, t = make_problem(SCENARIOS[name])
    reference, compiled = Reference(params, x, t), Compiled(params, x, t)
    (ns, fname), headers = clocked(compiled)
    fn = ns[fname]
    best = dict.fromkeys(GROUPS, np.inf)
    best_total, best_ref = np.inf, np.inf
    for _ in range(rounds):
        reference.load(params)
        start = time.perf_counter()
        for _ in range(steps):
            reference.step()
        best_ref = min(best_ref, (time.perf_counter() - start) / steps)
        compiled.load(params)
        sums = dict.fromkeys(GROUPS, 0.0)
        start = time.perf_counter()
        for _ in range(steps):
            marks: list[float] = []
            ns["_t"] = marks
            fn(x, t)
            for header, a, b in zip(headers, marks, marks[1:], strict=False):
                sums[group_of(header)] += b - a
        total = (time.perf_counter() - start) / steps
        best_total = min(best_total, total)
        for g in GROUPS:
            best[g] = min(best[g], sums[g] / steps)
    return {**best, "total": best_total, "reference": best_ref}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="tiny,deep-narrow,book-f32,book-f64")
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # why: deep-narrow at lr 0.1 may overflow: same in both
    steps = {"tiny": 200, "deep-narrow": 30, "book-f32": 10, "book-f64": 10, "wide": 1}
    rows = {n: measure(n, args.rounds, steps[n]) for n in args.scenarios.split(",")}
    print("| section of the plan (µs, best round) | " + " | ".join(rows) + " |")
    print("|---|" + "---:|" * len(rows))
    for g in GROUPS:
        print(f"| {g} | " + " | ".join(f"{r[g] * 1e6:.1f}" for r in rows.values()) + " |")
    totals = " | ".join(
        f"{r['total'] * 1e6:.1f} ({r['reference'] * 1e6:.1f})" for r in rows.values()
    )
    print(f"| total (reference) | {totals} |")


if __name__ == "__main__":
    main()
