"""Train a character-level language model on the bundled Shakespeare, then let it write.

    python examples/language_model.py                      # an LSTM (the sequel's model)
    python examples/language_model.py --model transformer  # two causal transformer blocks
    python examples/language_model.py --quick              # a few seconds, for tests
    python examples/language_model.py --compile            # the step compiled (mg.compile)

The model reads the text one character at a time and learns to predict the next one
(softmax cross-entropy over the 58 characters). The LSTM walks through the text as the
sequel does: the corpus is cut into ``--batch-size`` parallel streams, each batch is the
next ``--seq-len`` characters of every stream, and the state is carried from one batch to
the next, detached (truncated backpropagation through time). The transformer sees
independent windows of ``--seq-len`` characters, with learned position embeddings.
Both train with Adam and gradient clipping, print the validation loss (the last tenth of
the text) in nats per character, write the loss curves to ``--out``, and end with a
sample generated from ``--prompt``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

# why: small matrices; a multi-threaded BLAS on a busy machine makes each step slower
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from train import progress_bar  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402


class CharLSTM(nn.Layer):
    """Embedding -> LSTM -> Affine: scores for the next character at every step."""

    def __init__(self, vocab: int, embed: int, hidden: int, dtype, rng) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed, weight_init=0.1, dtype=dtype, rng=rng)
        self.lstm = nn.LSTM(embed, hidden, dtype=dtype, rng=rng)
        self.affine = nn.Affine(hidden, vocab, weight_init="xavier", dtype=dtype, rng=rng)

    def forward(self, ids, state=None):
        hs, state = self.lstm(self.embedding(ids), state, return_state=True)
        return self.affine(hs), state


class Block(nn.Layer):
    """One pre-norm transformer block: x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, dtype, rng) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, dtype=dtype)
        self.attention = nn.MultiHeadAttention(dim, heads, causal=True, dtype=dtype, rng=rng)
        self.norm2 = nn.LayerNorm(dim, dtype=dtype)
        self.mlp = nn.Sequential(
            nn.Affine(dim, 4 * dim, weight_init="xavier", dtype=dtype, rng=rng),
            nn.GELU(),
            nn.Affine(4 * dim, dim, weight_init=0.02, dtype=dtype, rng=rng),
        )

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class CharTransformer(nn.Layer):
    """Token and position embeddings -> causal blocks -> LayerNorm -> Affine."""

    def __init__(self, vocab: int, dim: int, heads: int, blocks: int, context: int, dtype, rng):
        super().__init__()
        self.context = context
        self.tokens = nn.Embedding(vocab, dim, weight_init=0.1, dtype=dtype, rng=rng)
        self.positions = nn.Embedding(context, dim, weight_init=0.1, dtype=dtype, rng=rng)
        self.blocks = nn.Sequential(*[Block(dim, heads, dtype, rng) for _ in range(blocks)])
        self.norm = nn.LayerNorm(dim, dtype=dtype)
        self.affine = nn.Affine(dim, vocab, weight_init="xavier", dtype=dtype, rng=rng)

    def forward(self, ids, state=None):
        steps = ids.shape[1]
        x = self.tokens(ids) + self.positions(np.arange(steps))
        return self.affine(self.norm(self.blocks(x))), None  # why: no state to carry


def build(args: argparse.Namespace, vocab: int) -> nn.Layer:
    dtype, rng = np.dtype(args.dtype), np.random.default_rng(args.seed)
    if args.model == "lstm":
        return CharLSTM(vocab, args.embed, args.hidden, dtype, rng)
    return CharTransformer(vocab, args.dim, args.heads, args.blocks, args.seq_len, dtype, rng)


def streams(ids: np.ndarray, batch: int) -> np.ndarray:
    """The text cut into ``batch`` equally long rows, read side by side (the sequel's way)."""
    length = len(ids) // batch
    return ids[: batch * length].reshape(batch, length)


def batches(args: argparse.Namespace, train: np.ndarray, rng: np.random.Generator):
    """Yield (inputs, targets, fresh) for every step: (N, T) ids, targets one step ahead;
    ``fresh`` says the carried state must be dropped (a new pass over the streams)."""
    rows = streams(train, args.batch_size)
    chunks = (rows.shape[1] - 1) // args.seq_len  # per pass, each with its targets
    for step in range(args.steps):
        if args.model == "lstm":  # the next chunk of every stream
            start = (step % chunks) * args.seq_len
            yield (
                rows[:, start : start + args.seq_len],
                rows[:, start + 1 : start + args.seq_len + 1],
                start == 0,
            )
        else:  # independent random windows
            begins = rng.integers(0, len(train) - args.seq_len, args.batch_size)
            chunk = train[begins[:, None] + np.arange(args.seq_len + 1)]
            yield chunk[:, :-1], chunk[:, 1:], True


def mean_loss(model: nn.Layer, ids: np.ndarray, args: argparse.Namespace) -> float:
    """Cross-entropy per character on ``ids``, in windows of --seq-len, recording nothing."""
    loss_layer = nn.SoftmaxWithLoss()
    steps = args.seq_len
    count = (len(ids) - 1) // steps
    x = ids[: count * steps].reshape(count, steps)
    t = ids[1 : count * steps + 1].reshape(count, steps)
    with mg.no_grad():
        scores, _ = model(x)
        return loss_layer(scores.reshape(-1, scores.shape[-1]), t.reshape(-1)).item()


def generate(model: nn.Layer, vocab: str, prompt: str, length: int, args) -> str:
    """Sample ``length`` characters after ``prompt``, each from softmax(scores / temperature)."""
    rng = np.random.default_rng(args.seed)
    index = {c: i for i, c in enumerate(vocab)}
    ids = [index[c] for c in prompt if c in index] or [index["\n"]]
    out = []
    with mg.no_grad():
        state, feed = None, ids
        for _ in range(length):
            if args.model == "lstm":  # carry the state: feed only what is new
                scores, state = model(np.array([feed]), state)
            else:  # the last --seq-len characters, as in training
                scores, _ = model(np.array([ids[-args.seq_len :]]))
            z = scores.numpy()[0, -1].astype(np.float64) / args.temperature
            p = np.exp(z - z.max())
            choice = int(rng.choice(len(vocab), p=p / p.sum()))
            ids.append(choice)
            out.append(vocab[choice])
            feed = [choice]
    return prompt + "".join(out)


def train(args: argparse.Namespace) -> dict:
    ids, vocab = mg.data.load_text(as_ids=True)
    cut = int(0.9 * len(ids))
    train_ids, valid_ids = ids[:cut], ids[cut:]
    model = build(args, len(vocab))
    params = model.parameters()
    optimizer = mg.optim.Adam(params, lr=args.lr)
    loss_layer = nn.SoftmaxWithLoss()
    rng = np.random.default_rng(args.seed)
    history: dict[str, list[float]] = {"loss": [], "valid_step": [], "valid": []}
    eval_every = max(args.steps // 10, 1)
    bar = progress_bar(args.steps, args.no_progress)

    def train_step(x, t, h, c):
        """One step on (N, T) ids and their N*T targets; (h, c) the carried state, or None."""
        scores, state = model(x, None if h is None else (h, c))
        loss = loss_layer(scores.reshape(-1, len(vocab)), t)
        optimizer.zero_grad()
        loss.backward()
        nn.clip_grad_norm(params, args.clip)
        optimizer.step()
        if state is None:
            return loss, None, None
        # why: the next chunk starts here, but backprop stops here
        return loss, state[0].detach(), state[1].detach()

    if args.compile:  # traced once per state (none, carried), then run as straight-line NumPy
        train_step = mg.compile(train_step)
    h = c = None
    start = time.perf_counter()
    for step, (x, t, fresh) in enumerate(batches(args, train_ids, rng), start=1):
        if fresh:
            h = c = None
        # why: flattened here, since reshaping a slice copies it, which no plan could repeat
        loss, h, c = train_step(x, t.reshape(-1), h, c)
        history["loss"].append(loss.item())
        if step % eval_every == 0 or step == args.steps:
            history["valid_step"].append(step)
            history["valid"].append(mean_loss(model, valid_ids, args))
            bar.set_postfix(loss=f"{history['loss'][-1]:.3f}", valid=f"{history['valid'][-1]:.3f}")
        bar.update(1)
    seconds = time.perf_counter() - start
    bar.close()
    sample = generate(model, vocab, args.prompt, args.sample_length, args)
    report(args, model, history, seconds, len(vocab))
    plot(history, Path(args.out) / f"loss_{args.model}.png", args)
    print(f"\n--- sample (temperature {args.temperature}) ---\n{sample}\n---")
    return history


def report(args, model: nn.Layer, history: dict, seconds: float, vocab: int) -> None:
    size = sum(p.size for p in model.parameters())
    print(
        f"\n{args.model}: {size:,} parameters, {args.steps} steps of batch {args.batch_size} x "
        f"{args.seq_len} characters, Adam lr {args.lr}, {args.dtype}"
        + (", compiled" if args.compile else "")
    )
    print(f"{'step':>6} {'train loss':>11} {'valid loss':>11}")
    for step, valid in zip(history["valid_step"], history["valid"], strict=True):
        train_loss = np.mean(history["loss"][max(step - 20, 0) : step])
        print(f"{step:>6} {train_loss:>11.4f} {valid:>11.4f}")
    print(f"uniform guess {np.log(vocab):.4f} (nats per character)")
    print(f"final validation loss {history['valid'][-1]:.4f}")
    print(f"{seconds / args.steps * 1e3:.1f} ms per step, {seconds:.1f} s of training")


def plot(history: dict, path: Path, args: argparse.Namespace) -> None:
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[examples]'): no plot written")
        return
    losses = np.asarray(history["loss"])
    window = min(50, len(losses))
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(np.arange(1, len(losses) + 1), losses, color="C0", alpha=0.3, label="train (batch)")
    label = f"train ({window}-step mean)"
    ax.plot(np.arange(window, len(losses) + 1), smooth, color="C0", label=label)
    ax.plot(history["valid_step"], history["valid"], "o-", color="C1", label="validation")
    ax.set(xlabel="step", ylabel="cross-entropy (nats per character)")
    ax.set_title(f"character-level {args.model} on Coriolanus")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"plot: {path}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="lstm", choices=["lstm", "transformer"])
    p.add_argument("--steps", type=int, default=None, help="default 600 (40 with --quick)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=32, help="characters per training sequence")
    p.add_argument("--embed", type=int, default=32, help="LSTM: embedding size")
    p.add_argument("--hidden", type=int, default=128, help="LSTM: hidden size")
    p.add_argument("--dim", type=int, default=64, help="transformer: features per position")
    p.add_argument("--heads", type=int, default=4, help="transformer: attention heads")
    p.add_argument("--blocks", type=int, default=2, help="transformer: blocks")
    p.add_argument("--lr", type=float, default=None, help="Adam's rate (default per model)")
    p.add_argument("--clip", type=float, default=1.0, help="gradient norm limit")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--prompt", default="MARCIUS:\n", help="the sample starts with this")
    p.add_argument("--sample-length", type=int, default=None, help="default 300 (80 quick)")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/language_model", help="folder for the plot")
    p.add_argument("--quick", action="store_true", help="a run of a few seconds, for tests")
    p.add_argument("--compile", action="store_true", help="compile the training step (mg.compile)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = p.parse_args(argv)
    if args.steps is None:
        args.steps = 40 if args.quick else 600
    if args.sample_length is None:
        args.sample_length = 80 if args.quick else 300
    if args.lr is None:
        args.lr = 0.005 if args.model == "lstm" else 0.002
    return args


if __name__ == "__main__":
    train(parse_args())
