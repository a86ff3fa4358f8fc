"""The "ideal" of the step benchmark: one SGD step as straight-line NumPy, written for speed.

This is the best a plan of NumPy calls can do for the benchmark's network, and none of the
safety a framework owes its users: every intermediate array is allocated once and reused
(``out=``), no gradient for the input data, the loss gradient scaled in place, one flat
array for all the gradients so that ``lr * grad`` is one multiply, and no checks at all
(labels out of range index silently, NaN gradients update the weights). It is generated
once per network, as source text, so that it runs with no loop and no Python-level branching.

It answers one question on the machine at hand: how far below the hand-written network
can *any* straight-line NumPy step go? A compiled step that is close to it has no
NumPy-level work left to remove.

>>> rng = np.random.default_rng(0)
>>> params = [(rng.standard_normal((3, 4)), np.zeros(4)),
...           (rng.standard_normal((4, 2)), np.zeros(2))]
>>> net = IdealStep(params, rng.standard_normal((5, 3)), np.array([0, 1, 1, 0, 1]))
>>> net.step()
>>> [g.shape for pair in net.grads() for g in pair]
[(3, 4), (4,), (4, 2), (2,)]
"""

from __future__ import annotations

import math

import numpy as np

LR = 0.1


class IdealStep:
    """Affine-ReLU-...-Affine, softmax cross-entropy and plain SGD, as generated NumPy source.

    ``params`` is a list of ``(W, b)`` per Affine (copied); ``x`` and ``t`` the batch and its
    integer labels, bound for every step.
    """

    def __init__(self, params: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray, t: np.ndarray):
        dtype = x.dtype
        n = x.shape[0]
        self.x, self.t = x, t
        self.params = [(W.copy(), b.copy()) for W, b in params]
        shapes = [s for W, b in params for s in (W.shape, b.shape)]
        sizes = [math.prod(s) for s in shapes]
        ends = np.cumsum(sizes).tolist()
        self.flat = np.empty(ends[-1], dtype=dtype)
        self.scaled = np.empty_like(self.flat)
        grads = [
            self.flat[e - k : e].reshape(s) for e, k, s in zip(ends, sizes, shapes, strict=True)
        ]
        steps = [
            self.scaled[e - k : e].reshape(s) for e, k, s in zip(ends, sizes, shapes, strict=True)
        ]
        self.grad_views = list(zip(grads[::2], grads[1::2], strict=True))
        c = params[-1][0].shape[1]
        ns: dict = {
            "np": np,
            "x": x,
            "t": t,
            "zero": np.zeros((), dtype),
            "lr": np.asarray(LR, dtype),
            "one_over_n": np.asarray(1 / n, dtype),
            "mean_weights": np.full(n, 1 / n, dtype),
            "ones": np.ones(n, dtype),
            "row_starts": np.arange(n) * c,
            "labelled": np.empty(n, np.intp),
            "picked": np.empty(n, dtype),
            "row_max": np.empty((n, 1), dtype),
            "row_sums": np.empty((n, 1), dtype),
            "log_sums": np.empty((n, 1), dtype),
            "flat": self.flat,
            "scaled": self.scaled,
        }
        lines = ["def step():"]
        L = len(params)
        for i, (W, b) in enumerate(self.params, start=1):
            ns[f"W{i}"], ns[f"b{i}"] = W, b
            ns[f"dW{i}"], ns[f"db{i}"] = grads[2 * i - 2], grads[2 * i - 1]
            ns[f"sW{i}"], ns[f"sb{i}"] = steps[2 * i - 2], steps[2 * i - 1]
            ns[f"h{i}"] = np.empty((n, W.shape[1]), dtype)  # the layer's output, ReLU in place
            if i < L:
                ns[f"g{i}"] = np.empty((n, W.shape[1]), dtype)
                ns[f"mask{i}"] = np.empty((n, W.shape[1]), bool)
            h_in = "x" if i == 1 else f"h{i - 1}"
            lines += [f"    np.dot({h_in}, W{i}, out=h{i})", f"    np.add(h{i}, b{i}, out=h{i})"]
            if i < L:
                lines.append(f"    np.maximum(h{i}, zero, out=h{i})")
        out = f"h{L}"
        lines += [
            "    np.add(row_starts, t, out=labelled)",
            f"    np.maximum.reduce({out}, axis=1, keepdims=True, out=row_max)",
            f"    np.subtract({out}, row_max, out={out})",
            f"    {out}.take(labelled, out=picked)",
            f"    np.exp({out}, out={out})",
            f"    np.add.reduce({out}, axis=1, keepdims=True, out=row_sums)",
            "    np.log(row_sums, out=log_sums)",
            "    loss = np.vdot(mean_weights, log_sums) - np.vdot(mean_weights, picked)",
            f"    np.divide({out}, row_sums, out={out})",
            f"    np.multiply({out}, one_over_n, out={out})",
            f"    {out}.ravel()[labelled] -= one_over_n",
        ]
        for i in range(L, 0, -1):
            g = out if i == L else f"g{i}"
            h_in = "x" if i == 1 else f"h{i - 1}"
            if i > 1:
                lines.append(f"    np.dot({g}, W{i}.T, out=g{i - 1})")
            lines += [f"    np.dot({h_in}.T, {g}, out=dW{i})", f"    np.dot(ones, {g}, out=db{i})"]
            if i > 1:
                lines += [
                    f"    np.greater(h{i - 1}, zero, out=mask{i - 1})",
                    f"    np.multiply(g{i - 1}, mask{i - 1}, out=g{i - 1})",
                ]
        lines.append("    np.multiply(flat, lr, out=scaled)")
        for i in range(1, L + 1):
            lines += [
                f"    np.subtract(W{i}, sW{i}, out=W{i})",
                f"    np.subtract(b{i}, sb{i}, out=b{i})",
            ]
        lines.append("    return loss")
        self.source = "\n".join(lines) + "\n"
        exec(compile(self.source, "<ideal step>", "exec"), ns)
        self.step_fn = ns["step"]

    def load(self, params: list[tuple[np.ndarray, np.ndarray]]) -> None:
        for (W_own, b_own), (W, b) in zip(self.params, params, strict=True):
            np.copyto(W_own, W)
            np.copyto(b_own, b)

    def step(self) -> None:
        self.step_fn()

    def grads(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return self.grad_views
