"""One training step of the language-model example's LSTM and transformer: minigrad and PyTorch.

A step is what ``examples/language_model.py`` runs (with ``--compile`` for the compiled
row): zero the gradients, forward a batch of character ids, softmax cross-entropy over every
position, backward, clip the gradient norm to 1, Adam. Both systems build the same networks
at the same sizes (the example's defaults: batch 32 x 32 characters, 58 characters; LSTM
embedding 32, hidden 128; transformer 64 features, 4 heads, 2 blocks), in float32
(``--dtype float64`` for the other), on one thread.

The systems are timed in one interleaved run: every round runs each system for the same
number of steps, back to back, in alternating order, so machine noise hits both alike. It
prints the median µs per step, the interquartile range and the ratio to torch, for minigrad
eagerly and for the step compiled with ``mg.compile`` (``compiled``).

    python benchmarks/sequence.py                 # both models, about a minute
    python benchmarks/sequence.py --quick         # a few seconds (no torch needed)
    python benchmarks/sequence.py --profile lstm  # where minigrad's step spends its time
"""

from __future__ import annotations

import os

# why: a BLAS library reads these once, when it is loaded, so they must precede `import numpy`
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

import language_model  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402

VOCAB = 58


def minigrad_step(model_name: str, args: argparse.Namespace, compiled: bool = False):
    """A function running one training step of the example's model in minigrad (with
    ``compiled``, the step compiled with ``mg.compile``, as ``--compile`` does there)."""
    model = language_model.build(args, VOCAB)
    params = model.parameters()
    optimizer = mg.optim.Adam(params, lr=args.lr)
    loss_layer = nn.SoftmaxWithLoss()
    x, t = _batch(args)
    t = t.reshape(-1)  # why: outside the step, as the example does (a copy no plan repeats)

    def train_step(x, t):
        scores, _ = model(x)
        loss = loss_layer(scores.reshape(-1, VOCAB), t)
        optimizer.zero_grad()
        loss.backward()
        nn.clip_grad_norm(params, 1.0)
        optimizer.step()

    if compiled:
        train_step = mg.compile(train_step)
    return lambda: train_step(x, t)


def torch_step(model_name: str, args: argparse.Namespace):
    """The same step in idiomatic PyTorch (``nn.LSTM``, ``nn.MultiheadAttention``)."""
    import torch  # noqa: PLC0415

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    F = torch.nn.functional

    class LSTMModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(VOCAB, args.embed)
            self.lstm = torch.nn.LSTM(args.embed, args.hidden, batch_first=True)
            self.affine = torch.nn.Linear(args.hidden, VOCAB)

        def forward(self, ids):
            return self.affine(self.lstm(self.embedding(ids))[0])

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            d = args.dim
            self.norm1, self.norm2 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
            self.attention = torch.nn.MultiheadAttention(d, args.heads, batch_first=True)
            self.mlp = torch.nn.Sequential(
                torch.nn.Linear(d, 4 * d),
                torch.nn.GELU(approximate="tanh"),
                torch.nn.Linear(4 * d, d),
            )

        def forward(self, x, mask):
            h = self.norm1(x)
            x = x + self.attention(h, h, h, attn_mask=mask, need_weights=False)[0]
            return x + self.mlp(self.norm2(x))

    class TransformerModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tokens = torch.nn.Embedding(VOCAB, args.dim)
            self.positions = torch.nn.Embedding(args.seq_len, args.dim)
            self.blocks = torch.nn.ModuleList(Block() for _ in range(args.blocks))
            self.norm = torch.nn.LayerNorm(args.dim)
            self.affine = torch.nn.Linear(args.dim, VOCAB)
            steps = args.seq_len
            self.register_buffer("mask", torch.triu(torch.ones(steps, steps, dtype=bool), 1))

        def forward(self, ids):
            x = self.tokens(ids) + self.positions(torch.arange(ids.shape[1]))
            for block in self.blocks:
                x = block(x, self.mask)
            return self.affine(self.norm(x))

    model = LSTMModel() if model_name == "lstm" else TransformerModel()
    model.to(getattr(torch, args.dtype))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    x, t = (torch.from_numpy(a) for a in _batch(args))

    def step() -> None:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x).reshape(-1, VOCAB), t.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    return step


def _batch(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    ids, _ = mg.data.load_text(as_ids=True)
    rng = np.random.default_rng(args.seed)
    begins = rng.integers(0, len(ids) - args.seq_len - 1, args.batch_size)
    window = ids[begins[:, None] + np.arange(args.seq_len + 1)]
    return window[:, :-1], window[:, 1:]


def interleaved(steps: dict, rounds: int, per_round: int) -> dict[str, np.ndarray]:
    """µs per step of every system, one sample per round; the order alternates by round."""
    names = list(steps)
    for name in names:  # warm-up: first calls allocate and fill caches
        for _ in range(2):
            steps[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            start = time.perf_counter()
            for _ in range(per_round):
                steps[name]()
            samples[name].append((time.perf_counter() - start) / per_round * 1e6)
    return {name: np.array(v) for name, v in samples.items()}


def profile(model_name: str, args: argparse.Namespace, steps: int = 20) -> None:
    import cProfile  # noqa: PLC0415
    import pstats  # noqa: PLC0415

    step = minigrad_step(model_name, args)
    step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        step()
    profiler.disable()
    print(f"cProfile of {steps} minigrad steps of the {model_name} (times for all {steps}):")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(14)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="lstm,transformer")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--steps-per-round", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="two rounds of one step, no torch")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--profile", choices=["lstm", "transformer"], default=None)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    cli = p.parse_args()
    if cli.profile:
        profile(cli.profile, _example_args(cli.profile, cli.dtype))
        return
    rounds, per_round = (2, 1) if cli.quick else (cli.rounds, cli.steps_per_round)
    use_torch = not (cli.quick or cli.no_torch)
    if use_torch:
        try:
            import torch  # noqa: F401, PLC0415
        except ImportError:
            print("PyTorch is not installed: timing minigrad alone")
            use_torch = False
    print(f"one training step, {cli.dtype}, 1 thread; {rounds} rounds of {per_round} steps")
    print(f"{'model':<12} {'system':<9} {'median µs':>10} {'IQR µs':>15} {'ratio':>6}")
    for model_name in cli.models.split(","):
        args = _example_args(model_name, cli.dtype)
        steps = {
            "minigrad": minigrad_step(model_name, args),
            "compiled": minigrad_step(model_name, args, compiled=True),
        }
        if use_torch:
            steps["torch"] = torch_step(model_name, args)
        samples = interleaved(steps, rounds, per_round)
        base = np.median(samples["torch"]) if use_torch else None
        for name, values in samples.items():
            q1, med, q3 = np.percentile(values, [25, 50, 75])
            ratio = f"{med / base:6.2f}" if base else "     -"
            print(f"{model_name:<12} {name:<9} {med:>10.0f} {q1:>7.0f}-{q3:<7.0f} {ratio}")
    print("ratio = median µs per step of the system / median torch µs per step")


def _example_args(model_name: str, dtype: str) -> argparse.Namespace:
    """The example's default options for ``model_name`` (its sizes and rate), in ``dtype``."""
    return language_model.parse_args(["--model", model_name, "--dtype", dtype])


if __name__ == "__main__":
    main()
