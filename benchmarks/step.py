"""One training step of a small MLP: minigrad and PyTorch against the book's hand-written network.

A step is forward, softmax-with-loss, backward and an SGD update (lr 0.1) of the
network Affine-ReLU-...-Affine. Every system starts from the same weights (He
initialisation, the book's layout: ``W`` is (in, out)). Per scenario the script

1. checks that one step from those weights gives every system the reference's
   parameter gradients, within float rounding (exits 1 if one does not);
2. times the systems in one interleaved run: every round runs each system for the
   same number of steps, back to back, in a rotating order, after restoring the
   initial weights (untimed), so machine noise and the state of the weights hit all
   of them alike. It prints the median µs per step, the interquartile range and
   the ratio of medians to the reference;
3. measures peak memory of a training run, each system in a process of its own.

Systems: ``reference`` (benchmarks/reference.py, the book's layer classes),
``minigrad`` (its public API only), ``compiled`` (the same step under ``mg.compile``),
``torch`` (when importable; the idiomatic ``nn.Linear``/``F.cross_entropy``/``optim.SGD``
network), ``ideal`` (benchmarks/ideal.py: the step as straight-line NumPy with every buffer
preallocated and no checks, the fastest plan of NumPy calls) and ``floor`` (only the
matmuls that a step needs: no bias, no ReLU, no loss, no gradient of the data).

BLAS runs on one thread: the variables are set below, before NumPy is imported.
Run from the project root (see benchmarks/README.md for the full command):

    python benchmarks/step.py            # every scenario, memory runs included: 2-3 minutes
    python benchmarks/step.py --quick    # a few seconds: the checks and a rough timing
"""

from __future__ import annotations

import os

# why: a BLAS library reads these once, when it is loaded, so they must precede `import numpy`
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from ideal import IdealStep  # noqa: E402
from reference import BookNet  # noqa: E402

LR = 0.1
SEED = 0
FIRST_CALLS = 5  # fresh compiles whose first call (the trace) is timed
# "within float rounding": max |g - g_ref| <= RTOL * max |g_ref|, for each parameter array
RTOL = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-12}

Params = list[tuple[np.ndarray, np.ndarray]]  # (W, b) per Affine, the book's layout


@dataclass(frozen=True)
class Scenario:
    title: str  # as printed in the tables
    sizes: tuple[int, ...]  # input, hidden..., classes
    batch: int
    dtype: type


SCENARIOS = {
    "book-f64": Scenario("book: 784-50-10, batch 100, float64", (784, 50, 10), 100, np.float64),
    "book-f32": Scenario("book in float32", (784, 50, 10), 100, np.float32),
    "wide": Scenario(
        "wide: 784-1000-1000-10, batch 256, float32", (784, 1000, 1000, 10), 256, np.float32
    ),
    "deep-narrow": Scenario(
        "deep-narrow: 32-(32 x16)-10, batch 32, float32", (32,) + (32,) * 16 + (10,), 32, np.float32
    ),
    "tiny": Scenario("tiny: 2-8-2, batch 4, float64", (2, 8, 2), 4, np.float64),
}


def make_problem(s: Scenario) -> tuple[Params, np.ndarray, np.ndarray]:
    """He-initialised weights with zero biases (the book's start), one batch and its labels."""
    rng = np.random.default_rng(SEED)
    params = []
    for n_in, n_out in zip(s.sizes[:-1], s.sizes[1:], strict=True):
        W = (rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(s.dtype)
        params.append((W, np.zeros(n_out, dtype=s.dtype)))
    x = rng.standard_normal((s.batch, s.sizes[0])).astype(s.dtype)
    t = rng.integers(0, s.sizes[-1], s.batch).astype(np.int64)
    return params, x, t


# --- the systems: each has load(params), step() and grads() -> Params in the book's layout ----
class Reference:
    """The book's hand-written network (benchmarks/reference.py)."""

    def __init__(self, params: Params, x: np.ndarray, t: np.ndarray) -> None:
        self.net = BookNet(params)
        self.x, self.t = x, t

    def load(self, params: Params) -> None:
        for affine, (W, b) in zip(self.net.affines, params, strict=True):
            np.copyto(affine.W, W)
            np.copyto(affine.b, b)

    def step(self) -> None:
        self.net.step(self.x, self.t, LR)

    def grads(self) -> Params:
        return [(a.dW, a.db) for a in self.net.affines]


class Minigrad:
    """minigrad through its public API: Sequential of Affine and ReLU, SoftmaxWithLoss, SGD."""

    def __init__(self, params: Params, x: np.ndarray, t: np.ndarray) -> None:
        import minigrad as mg

        layers = []
        for i, (W, _) in enumerate(params):
            if i:
                layers.append(mg.nn.ReLU())
            layers.append(mg.nn.Affine(W.shape[0], W.shape[1], dtype=W.dtype))
        self.model = mg.nn.Sequential(*layers)
        self.loss_layer = mg.nn.SoftmaxWithLoss()
        self.optimizer = mg.optim.SGD(self.model.parameters(), lr=LR)
        self.affines = [layer for layer in self.model if isinstance(layer, mg.nn.Affine)]
        self.x, self.t = x, t
        self.load(params)

    def load(self, params: Params) -> None:
        names = [name for name, _ in self.model.named_parameters()]
        values = [v for pair in params for v in pair]
        self.model.load_state_dict(dict(zip(names, values, strict=True)))

    def step(self) -> None:
        self.optimizer.zero_grad()
        loss = self.loss_layer(self.model(self.x), self.t)
        loss.backward()
        self.optimizer.step()

    def grads(self) -> Params:
        return [(a.W.grad, a.b.grad) for a in self.affines]


class Compiled(Minigrad):
    """The same minigrad step compiled with ``mg.compile``: traced once when built (the
    weights are then restored), so every timed or checked step runs the plan."""

    def __init__(self, params: Params, x: np.ndarray, t: np.ndarray) -> None:
        import minigrad as mg

        super().__init__(params, x, t)
        model, loss_layer, optimizer = self.model, self.loss_layer, self.optimizer

        def step(x: np.ndarray, t: np.ndarray) -> Any:
            optimizer.zero_grad()
            loss = loss_layer(model(x), t)
            loss.backward()
            optimizer.step()
            return loss

        # why: one first call is a single sample, which a garbage collection or a busy
        # neighbour can double; each fresh mg.compile traces anew, so take the median of five
        firsts = []
        for _ in range(FIRST_CALLS):
            self.compiled = mg.compile(step)
            start = time.perf_counter()
            self.compiled(x, t)
            firsts.append(time.perf_counter() - start)
            self.load(params)
        self.first_call = float(np.median(firsts))

    def step(self) -> None:
        self.compiled(self.x, self.t)


class Torch:
    """PyTorch on the CPU, one thread: nn.Sequential of nn.Linear and nn.ReLU, F.cross_entropy."""

    def __init__(self, params: Params, x: np.ndarray, t: np.ndarray) -> None:
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(1)
        dtype = torch.float64 if x.dtype == np.float64 else torch.float32
        layers: list[Any] = []
        for i, (W, _) in enumerate(params):
            if i:
                layers.append(torch.nn.ReLU())
            layers.append(torch.nn.Linear(W.shape[0], W.shape[1], dtype=dtype))
        self.torch = torch
        self.cross_entropy = F.cross_entropy
        self.model = torch.nn.Sequential(*layers)
        self.linears = [m for m in self.model if isinstance(m, torch.nn.Linear)]
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LR)
        self.x, self.t = torch.from_numpy(x), torch.from_numpy(t)
        self.load(params)

    def load(self, params: Params) -> None:
        with self.torch.no_grad():
            for linear, (W, b) in zip(self.linears, params, strict=True):
                # why: nn.Linear keeps weight as (out, in), the transpose of the book's W
                linear.weight.copy_(self.torch.from_numpy(W.T))
                linear.bias.copy_(self.torch.from_numpy(b))

    def step(self) -> None:
        self.optimizer.zero_grad()
        loss = self.cross_entropy(self.model(self.x), self.t)
        loss.backward()
        self.optimizer.step()

    def grads(self) -> Params:
        return [(m.weight.grad.numpy().T, m.bias.grad.numpy()) for m in self.linears]


class Floor:
    """Only the matmuls of a step: x @ W forward, h.T @ g and g @ W.T backward, no dx of the data.

    A lower bound for an op-by-op framework, not a network: no bias, ReLU, loss or update.
    """

    def __init__(self, params: Params, x: np.ndarray, t: np.ndarray) -> None:
        self.Ws = [W.copy() for W, _ in params]
        self.x = x
        self.g = np.full((x.shape[0], params[-1][0].shape[1]), 1.0 / x.shape[0], dtype=x.dtype)

    def load(self, params: Params) -> None:
        for W_own, (W, _) in zip(self.Ws, params, strict=True):
            np.copyto(W_own, W)

    def step(self) -> None:
        hs = [self.x]
        for W in self.Ws:
            hs.append(hs[-1] @ W)
        g = self.g
        for i in range(len(self.Ws) - 1, -1, -1):
            self.dW = hs[i].T @ g
            if i:
                g = g @ self.Ws[i].T

    def grads(self) -> Params:
        raise NotImplementedError("the floor computes no real gradients")


SYSTEMS: dict[str, type] = {
    "reference": Reference,
    "minigrad": Minigrad,
    "compiled": Compiled,
    "torch": Torch,
    "ideal": IdealStep,
    "floor": Floor,
}
CHECKED = (
    "minigrad",
    "compiled",
    "torch",
    "ideal",
)  # the systems whose gradients must match the reference's
NUMPY_BASED = ("reference", "minigrad", "compiled")  # whose arrays tracemalloc sees


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


# --- 1. gradient agreement ------------------------------------------------------------------
def check_gradients(name: str, s: Scenario, systems: list[str]) -> dict[str, tuple[bool, float]]:
    """One step from the initial weights; the worst scaled error of each system's gradients."""
    params, x, t = make_problem(s)
    ref = Reference(params, x, t)
    ref.step()
    rtol = RTOL[np.dtype(s.dtype)]
    results = {}
    for system in systems:
        if system not in CHECKED:
            continue
        other = SYSTEMS[system](params, x, t)
        other.step()
        worst = 0.0
        ok = True
        for (dW, db), (gW, gb) in zip(ref.grads(), other.grads(), strict=True):
            for g_ref, g in ((dW, gW), (db, gb)):
                if g is None or g.shape != g_ref.shape or g.dtype != g_ref.dtype:
                    ok = False
                    worst = float("inf")
                    continue
                scale = float(np.max(np.abs(g_ref))) or 1.0
                worst = max(worst, float(np.max(np.abs(g - g_ref))) / scale)
        ok = ok and worst <= rtol
        verdict = "agrees" if ok else "DISAGREES"
        print(
            f"grad-check {name} {system}: {verdict} (worst max|g - g_ref| / max|g_ref| = "
            f"{worst:.1e}, limit {rtol:.0e}, {s.dtype.__name__})"
        )
        results[system] = (ok, worst)
    return results


# --- 2. timing --------------------------------------------------------------------------------
def time_scenario(
    s: Scenario, systems: list[str], rounds: int, sample_seconds: float, warmup: int
) -> tuple[dict[str, np.ndarray], int]:
    """Seconds per step of each system, one sample per round; and the steps per sample."""
    params, x, t = make_problem(s)
    nets = {name: SYSTEMS[name](params, x, t) for name in systems}
    for net in nets.values():
        for _ in range(warmup):
            net.step()
    ref = nets["reference"]
    start = time.perf_counter()
    for _ in range(warmup):
        ref.step()
    per_step = (time.perf_counter() - start) / max(warmup, 1)
    inner = max(1, round(sample_seconds / per_step))
    times: dict[str, list[float]] = {name: [] for name in systems}
    for r in range(rounds):
        k = r % len(systems)
        for name in systems[k:] + systems[:k]:  # why: a rotating order, so none always goes first
            net = nets[name]
            net.load(params)  # why: every sample starts from the same weights, untimed
            step = net.step
            start = time.perf_counter()
            for _ in range(inner):
                step()
            times[name].append((time.perf_counter() - start) / inner)
    if "compiled" in nets and "minigrad" in nets:
        first = nets["compiled"].first_call
        eager = float(np.median(times["minigrad"]))
        print(
            f"mg.compile's first call (the trace, median of {FIRST_CALLS}): {first * 1e6:.0f} µs = "
            f"{first / eager:.1f} eager steps"
        )
    return {name: np.array(v) for name, v in times.items()}, inner


# --- 3. memory, each system in a process of its own -----------------------------------------
def _rss_bytes() -> int:
    """The resident set size now (Linux: /proc/self/statm; elsewhere the peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return _peak_rss_bytes()


def _reset_peak_rss() -> None:
    """Make the high-water mark start again from the resident size now (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass  # why: then the peak counts from the start of the process, an upper bound


def _peak_rss_bytes() -> int:
    """The resident set's high-water mark: VmHWM, which (unlike ru_maxrss) exec resets."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib if sys.platform == "darwin" else kib * 1024  # why: macOS reports bytes


def memory_child(system: str, scenario: str, steps: int, mode: str) -> dict[str, Any]:
    """Train ``steps`` steps and report memory above the built model and its batch.

    mode "tracemalloc": the peak and the current size of the traced allocations, which
    include NumPy's array buffers (NumPy reports them to tracemalloc) and Python objects.
    A full collection after every step empties CPython's free lists: small objects
    (tuples, floats, ...) kept for reuse are still traced, and without it they fill up
    over the first few hundred steps (to about 0.2 MiB) and would read as growth.
    ``gc.freeze()`` first keeps that collection to the objects a step made.
    mode "rss": the growth of the resident set, its high-water mark (reset before the
    first step) minus the resident size then; coarse (whole pages, memory the allocator
    keeps after a free) but it sees every allocator, PyTorch's included.
    """
    s = SCENARIOS[scenario]
    params, x, t = make_problem(s)
    net = SYSTEMS[system](params, x, t)
    checkpoints = sorted({1, min(10, steps), steps})
    traced = mode == "tracemalloc"
    after = {}
    gc.collect()
    if traced:
        gc.freeze()
        tracemalloc.start()
    else:
        _reset_peak_rss()
    base = tracemalloc.get_traced_memory()[0] if traced else _rss_bytes()
    for i in range(1, steps + 1):
        net.step()
        if traced:
            gc.collect()
        if i in checkpoints:
            after[i] = (tracemalloc.get_traced_memory()[0] if traced else _rss_bytes()) - base
    if traced:
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
    else:
        # why: the kernel updates the high-water mark lazily; a sampled size can exceed it
        peak = max(_peak_rss_bytes() - base, *after.values())
    finite = all(np.isfinite(W).all() for W, _ in _current_params(net))
    return {"peak": peak, "after": after, "finite": bool(finite)}


def _current_params(net: Any) -> Params:
    if isinstance(net, Reference):
        return [(a.W, a.b) for a in net.net.affines]
    if isinstance(net, Minigrad):
        return [(a.W.data, a.b.data) for a in net.affines]
    return [(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in net.linears]


def measure_memory(system: str, scenario: str, steps: int, mode: str) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--memory-child",
        system,
        scenario,
        str(steps),
        mode,
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory run {command[3:]} failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["after"] = {int(k): v for k, v in result["after"].items()}
    return result


def _kib(n: float) -> str:
    return f"{n / 1024:,.0f}"


# --- where minigrad's time goes ----------------------------------------------------------------
def profile_minigrad(scenario: str, steps: int) -> None:
    """cProfile ``steps`` minigrad steps; print the functions by own time, in µs per step.

    cProfile adds a few tenths of a µs to every Python call, so these figures are
    larger than the timed ones; compare them with each other, not with the table.
    """
    import cProfile
    import pstats

    params, x, t = make_problem(SCENARIOS[scenario])
    net = Minigrad(params, x, t)
    for _ in range(20):
        net.step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        net.step()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    print(f"## cProfile of minigrad, {scenario}: {steps} steps, {total / steps * 1e6:.1f} µs/step")
    print(f"{'own µs/step':>12}{'cum µs/step':>12}{'calls/step':>11}{'µs/call':>9}  function")
    rows = sorted(stats.stats.items(), key=lambda item: -item[1][2])
    for (path, line, func), (_, calls, own, cumulative, _) in rows[:40]:
        where = f"{Path(path).name}:{line}({func})" if line else func
        print(
            f"{own / steps * 1e6:>12.2f}{cumulative / steps * 1e6:>12.2f}{calls / steps:>11.1f}"
            f"{own / calls * 1e6:>9.2f}  {where}"
        )


# --- the machine ------------------------------------------------------------------------------
def describe_machine() -> list[str]:
    lines = [f"python {platform.python_version()}, numpy {np.__version__}"]
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            first = f.read().split("\n\n")[0]  # the first processor's block
        pairs = (line.partition(":") for line in first.splitlines())
        info = {key.strip(): value.strip() for key, _, value in pairs}
        cpu = f"{info['model name']} (family {info['cpu family']}, model {info['model']})"
    except (OSError, KeyError):
        pass
    lines.append(f"cpu: {cpu}, {os.cpu_count()} logical cores")
    try:
        from threadpoolctl import threadpool_info

        for pool in threadpool_info():
            kernel = f", kernel {pool['architecture']}" if pool.get("architecture") else ""
            lines.append(
                f"{pool.get('user_api')}: {pool.get('internal_api')} {pool.get('version') or ''}"
                f"{kernel}, {pool.get('num_threads')} thread(s) ({Path(pool['filepath']).name})"
            )
    except ImportError:
        blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
        lines.append(
            f"blas: {blas.get('name')} {blas.get('version')} (threadpoolctl not installed: "
            f"kernel and threads unknown)"
        )
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            lines.append(
                f"note: {var}={os.environ[var]} is set; it pins OpenBLAS's kernel (see "
                f"benchmarks/README.md to run without it)"
            )
    if torch_available():
        import torch

        lines.append(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    lines.append(f"minigrad: {minigrad_version()}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    lines.append(f"load average (1 min) before the run: {load:.2f}")
    if load > 1.0:
        lines.append(
            "note: the machine is busy; other processes slow interpreter-bound code more than "
            "BLAS, so ratios for the small scenarios come out too high: rerun when it is idle"
        )
    return lines


def minigrad_version() -> str:
    """Where minigrad is imported from and, in a git checkout, its commit (+ local edits)."""
    import minigrad

    where = Path(minigrad.__file__).resolve().parent
    try:

        def git(*args: str) -> str:
            return subprocess.run(
                ["git", "-C", str(where), *args], capture_output=True, text=True, check=True
            ).stdout.strip()

        commit = git("rev-parse", "--short", "HEAD")
        edited = git("status", "--porcelain", "--", ".")
    except (OSError, subprocess.CalledProcessError):
        return f"{where} (not a git checkout)"
    return f"{where} at commit {commit}" + (" with uncommitted changes" if edited else "")


# --- main -------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds: checks, rough times")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated names")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per scenario")
    parser.add_argument("--memory-steps", type=int, help="steps of each memory run")
    parser.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    parser.add_argument(
        "--profile", metavar="SCENARIO", help="cProfile minigrad's step in SCENARIO, then stop"
    )
    parser.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.memory_child:
        system, scenario, steps, mode = args.memory_child
        print(json.dumps(memory_child(system, scenario, int(steps), mode)))
        return 0
    if args.profile:
        profile_minigrad(args.profile, steps=args.rounds or 2000)
        return 0

    names = [n for n in args.scenarios.split(",") if n]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {list(SCENARIOS)}")
    rounds = args.rounds or (5 if args.quick else 200)
    sample_seconds = 0.0005 if args.quick else 0.005
    warmup = 2 if args.quick else 20
    memory_steps = args.memory_steps or (20 if args.quick else 1000)
    memory_scenarios = names[:1] if args.quick else names
    systems = ["reference", "minigrad", "compiled"]
    if not args.no_torch and torch_available():
        systems.append("torch")
    systems += ["ideal", "floor"]

    print("# minigrad step benchmark")
    for line in describe_machine():
        print(line)
    print(f"systems: {', '.join(systems)}; lr {LR}; 1 BLAS thread\n")

    failures = []
    medians: dict[str, dict[str, float]] = {}
    for name in names:
        s = SCENARIOS[name]
        print(f"## {name}: {s.title}")
        for system, (ok, _) in check_gradients(name, s, systems).items():
            if not ok:
                failures.append(f"{name} {system}")
        times, inner = time_scenario(s, systems, rounds, sample_seconds, warmup)
        print(f"{rounds} interleaved rounds x {inner} step(s) per system per round")
        print(f"  {'system':<10}{'median µs':>12}{'IQR µs':>10}{'ratio':>8}")
        ref_median = float(np.median(times["reference"]))
        medians[name] = {}
        for system in systems:
            v = times[system]
            median = float(np.median(v))
            q1, q3 = np.percentile(v, [25, 75])
            medians[name][system] = median
            print(
                f"  {system:<10}{median * 1e6:>12.1f}{(q3 - q1) * 1e6:>10.1f}"
                f"{median / ref_median:>8.2f}"
            )
        print()

    memory_rows = []
    if memory_steps > 0:
        print(f"## peak memory of a {memory_steps}-step training run, one process per system")
        print(
            "above the built model and its batch; tracemalloc: NumPy buffers and Python "
            "objects (not PyTorch's); rss: growth of the resident set (every allocator, coarse)"
        )
        mid = min(10, memory_steps)
        print(
            f"  {'scenario':<12}{'system':<10}{'mode':<12}{'peak KiB':>9}"
            f"{f'after {mid}':>11}{f'after {memory_steps}':>12}  flat"
        )
        for name in memory_scenarios:
            for system in [s for s in systems if s not in ("floor", "ideal")]:
                modes = ["tracemalloc", "rss"] if system in NUMPY_BASED else ["rss"]
                for mode in modes:
                    r = measure_memory(system, name, memory_steps, mode)
                    early, late = r["after"][mid], r["after"][memory_steps]
                    # why: rss moves by pages and by what the allocator keeps; a leak of the
                    # graph's buffers would grow by about a peak per step, far past either slack
                    slack = 64 * 1024 if mode == "tracemalloc" else max(2**20, r["peak"] // 4)
                    flat = abs(late - early) <= slack
                    memory_rows.append((name, system, mode, r["peak"], flat))
                    print(
                        f"  {name:<12}{system:<10}{mode:<12}{_kib(r['peak']):>9}"
                        f"{_kib(early):>11}{_kib(late):>12}  {'yes' if flat else 'NO'}"
                        f"{'' if r['finite'] else '  (weights went non-finite)'}"
                    )
        print()

    print("## ratio of median step time to the book's hand-written NumPy network (1 BLAS thread)")
    columns = [s for s in ("floor", "ideal", "minigrad", "compiled", "torch") if s in systems]
    labels = {
        "floor": "floor (its matmuls alone)",
        "ideal": "ideal NumPy step (no checks)",
        "minigrad": "minigrad",
        "compiled": "minigrad, mg.compile",
        "torch": "torch (CPU)",
    }
    print("| scenario | reference µs | " + " | ".join(labels[c] for c in columns) + " |")
    print("|---|---:|" + "---:|" * len(columns))
    for name in names:
        m = medians[name]
        cells = " | ".join(f"{m[c] / m['reference']:.2f}" for c in columns)
        print(f"| {SCENARIOS[name].title} | {m['reference'] * 1e6:.1f} | {cells} |")
    if memory_rows:
        print("\n## peak memory (tracemalloc, KiB above the model) and minigrad / reference")
        print("| scenario | reference | minigrad | minigrad / reference |")
        print("|---|---:|---:|---:|")
        peaks = {(n, sy): p for n, sy, mode, p, _ in memory_rows if mode == "tracemalloc"}
        for name in memory_scenarios:
            ref, mgr = peaks[(name, "reference")], peaks[(name, "minigrad")]
            print(f"| {SCENARIOS[name].title} | {_kib(ref)} | {_kib(mgr)} | {mgr / ref:.2f} |")
        not_flat = [f"{n} {sy} ({mode})" for n, sy, mode, _, flat in memory_rows if not flat]
        verdict = "yes" if not not_flat else "NO: " + ", ".join(not_flat)
        print(f"\nmemory flat over the run: {verdict}")

    print()
    if failures:
        print(f"gradient agreement: FAILED for {', '.join(failures)}")
        return 1
    print(f"gradient agreement: every scenario agrees ({', '.join(names)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
