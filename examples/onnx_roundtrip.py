"""ONNX both ways: a convnet trained in minigrad runs in onnxruntime, and a model file
made elsewhere is fine-tuned in minigrad.

1. The book's SimpleConvNet is trained on the bundled digits, exported with
   ``mg.onnx.export``, and run by onnxruntime on the test images: both predictions are
   printed side by side, with how often they agree and how far the scores differ.
2. A two-layer network is written as an ONNX file the way ``torch.onnx.export`` writes a
   ``Linear -> ReLU -> Linear`` stack (``Gemm`` with ``transB=1``, weights named
   ``fc1.weight``), with onnx's helper API: no PyTorch and no network needed. The file is
   loaded with ``mg.onnx.load``, fine-tuned on the digits, and exported again.

    python examples/onnx_roundtrip.py            # 10 epochs of training (about 5 s)
    python examples/onnx_roundtrip.py --quick    # a few seconds, for tests

Needs the ``onnx`` extra: ``pip install "minigrad-autograd[onnx]"``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # why: small matrices, see train.py

import numpy as np  # noqa: E402
from simple_convnet import simple_convnet  # noqa: E402
from train import accuracy, load  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402


def fit(net: nn.Graph, x: np.ndarray, t: np.ndarray, epochs: int, lr: float, seed: int) -> list:
    """Adam on mini-batches of 100; returns the mean loss of every epoch."""
    loss_layer = nn.SoftmaxWithLoss()
    optimizer = mg.optim.Adam(net.parameters(), lr=lr)
    loader = mg.data.DataLoader((x, t), 100, shuffle=True, seed=seed)
    net.train()
    losses = []
    for _ in range(epochs):
        total = 0.0
        for xb, tb in loader:
            loss = loss_layer(net(xb), tb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(tb)
        losses.append(total / len(x))
    net.eval()
    return losses


def run_onnx(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime  # noqa: PLC0415  (the onnx extra)

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (scores,) = session.run(None, {session.get_inputs()[0].name: x})
    return scores


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


def minigrad_to_onnxruntime(data, out: Path, epochs: int, seed: int) -> None:
    (x, t), (x_test, t_test) = data
    net = simple_convnet(x.shape[1:], dtype=np.float32, rng=seed)
    losses = fit(net, x, t, epochs, lr=0.001, seed=seed)
    print(f"SimpleConvNet, {epochs} epochs of Adam: loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    path = out / "simple_convnet.onnx"
    # why: float32, which onnxruntime's CPU convolution needs (it has no float64 Conv)
    mg.onnx.export(net, path, x_test[:4])
    print(f"exported: {path} ({path.stat().st_size:,} bytes)")

    with mg.no_grad():
        ours = net(x_test).numpy()
    theirs = run_onnx(path, x_test)  # the whole test set at once: another batch size
    print(f"\n{'image':>5} {'label':>5} {'minigrad':>8} {'onnxruntime':>11}")
    for i in range(10):
        print(f"{i:>5} {t_test[i]:>5} {ours[i].argmax():>8} {theirs[i].argmax():>11}")
    agree = float(np.mean(ours.argmax(axis=1) == theirs.argmax(axis=1)))
    print(f"predictions agree {agree:.4f} (of {len(x_test)} test images)")
    print(f"largest relative score difference {relative_difference(theirs, ours):.2e}")
    print(f"test accuracy minigrad {np.mean(ours.argmax(axis=1) == t_test):.4f}")
    print(f"test accuracy onnxruntime {np.mean(theirs.argmax(axis=1) == t_test):.4f}")


def write_foreign_model(path: Path, features: int, hidden: int, classes: int, seed: int) -> None:
    """The ONNX file of Linear(features, hidden) -> ReLU -> Linear(hidden, classes) as
    torch.onnx.export lays it out, with PyTorch's default initialisation."""
    from onnx import TensorProto, helper, numpy_helper  # noqa: PLC0415  (the onnx extra)

    rng = np.random.default_rng(seed)

    def linear(name: str, fan_in: int, fan_out: int) -> list:
        bound = 1 / np.sqrt(fan_in)  # why: PyTorch draws Linear's weights from U(-1/sqrt(in), ..)
        w = rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32)  # (out, in)
        b = rng.uniform(-bound, bound, fan_out).astype(np.float32)
        return [
            numpy_helper.from_array(w, f"{name}.weight"),
            numpy_helper.from_array(b, f"{name}.bias"),
        ]

    nodes = [
        helper.make_node(
            "Flatten", ["image"], ["/flatten/Flatten_output_0"], name="/flatten/Flatten"
        ),
        helper.make_node(
            "Gemm",
            ["/flatten/Flatten_output_0", "fc1.weight", "fc1.bias"],
            ["/fc1/Gemm_output_0"],
            name="/fc1/Gemm",
            transB=1,
        ),
        helper.make_node(
            "Relu", ["/fc1/Gemm_output_0"], ["/relu/Relu_output_0"], name="/relu/Relu"
        ),
        helper.make_node(
            "Gemm",
            ["/relu/Relu_output_0", "fc2.weight", "fc2.bias"],
            ["scores"],
            name="/fc2/Gemm",
            transB=1,
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "main_graph",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 8, 8])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", classes])],
        initializer=linear("fc1", features, hidden) + linear("fc2", hidden, classes),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    import onnx  # noqa: PLC0415

    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def onnx_file_to_minigrad(data, out: Path, epochs: int, seed: int) -> None:
    (x, t), (x_test, t_test) = data
    path = out / "foreign_mlp.onnx"
    write_foreign_model(path, int(np.prod(x.shape[1:])), 50, 10, seed)
    net = mg.onnx.load(path)
    print(f"\nloaded {path.name}:\n{net.summary()}")
    before = accuracy(net, x_test, t_test)
    net.eval()
    same = relative_difference(net(x_test).numpy(), run_onnx(path, x_test))
    print(f"as loaded, largest relative difference from onnxruntime {same:.2e}")
    losses = fit(net, x, t, epochs, lr=0.005, seed=seed)
    after = accuracy(net, x_test, t_test)
    print(f"fine-tuning loss first epoch {losses[0]:.4f}")
    print(f"fine-tuning loss last epoch {losses[-1]:.4f}")
    print(f"test accuracy before fine-tuning {before:.4f}")
    print(f"test accuracy after fine-tuning {after:.4f}")
    net.eval()  # why: accuracy() leaves the net in training mode
    tuned = out / "foreign_mlp_tuned.onnx"
    mg.onnx.export(net, tuned, x_test[:4])
    with mg.no_grad():
        again = relative_difference(run_onnx(tuned, x_test), net(x_test).numpy())
    print(f"fine-tuned model exported again: {tuned.name}, onnxruntime differs by {again:.2e}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds, for tests")
    parser.add_argument("--epochs", type=int, default=None, help="default 10 (2 with --quick)")
    parser.add_argument("--out", default=None, help="folder for the .onnx files (default: temp)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    epochs = args.epochs or (2 if args.quick else 10)
    data = load("digits", None, np.float32)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(args.out or scratch)
        out.mkdir(parents=True, exist_ok=True)
        minigrad_to_onnxruntime(data, out, epochs, args.seed)
        onnx_file_to_minigrad(data, out, epochs, args.seed)


if __name__ == "__main__":
    main()
