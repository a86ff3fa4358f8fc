"""The ONNX op types ``mg.onnx.load`` reads, one converter each: ``CONVERTERS[op_type]``.

A converter reads one ONNX node through the loader (its attributes, its symbolic inputs,
its constant inputs) and calls the minigrad layer that computes it: ``Gemm`` an
``Affine``, ``Conv`` a ``Conv2d``, and so on; where no layer fits, one of the small layers
of ``minigrad.onnx._layers``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from minigrad import nn
from minigrad.nn.graph import Node
from minigrad.onnx import _layers

if TYPE_CHECKING:
    from minigrad.onnx._load import Loader


def _ints(values: Any, count: int, what: str, default: int) -> tuple[int, ...]:
    values = [default] * count if values is None else [int(v) for v in values]
    if len(values) != count:
        raise ValueError(f"{what}={values} is not supported: minigrad needs {count} values (2-D)")
    return tuple(values)


# --- converters: one function per op type --------------------------------------------------
def _gemm(loader: Loader, node: Any) -> None:
    a = loader.attributes(node, alpha=1.0, beta=1.0, transA=0, transB=0)
    if a["transA"]:
        raise ValueError(
            "transA=1 is not supported: it would turn the batch axis into features; "
            "minigrad's Affine takes (N, in_features)"
        )
    x, b = loader.symbolic(node, 0), loader.constant(node, 1)
    if b.ndim != 2 or len(x.shape) != 1:
        raise ValueError(
            f"Gemm needs a 2-D weight and (N, features) inputs, got weight {b.shape} and "
            f"input {x.shape_text}"
        )
    w = np.ascontiguousarray(b.T if a["transB"] else b) * a["alpha"]
    out = w.shape[1]
    c = loader.constant(node, 2) if loader.given(node, 2) else np.zeros(out, w.dtype)
    try:
        bias = np.broadcast_to(np.asarray(c), (1, out)).reshape(out) * a["beta"]
    except ValueError:
        raise ValueError(
            f"the bias C of shape {np.shape(c)} is not one value per output ({out},); minigrad "
            f"supports a bias that is the same for every row"
        ) from None
    loader.affine(node, x, w, bias.astype(w.dtype))


def _matmul(loader: Loader, node: Any) -> None:
    loader.attributes(node)
    if not loader.is_constant(node, 1):
        a, b = loader.symbolic(node, 0), loader.symbolic(node, 1)
        loader.call(node, _layers.MatMul(), a, b)
        return
    x, w = loader.symbolic(node, 0), loader.constant(node, 1)
    if w.ndim != 2:
        raise ValueError(f"a constant right operand must be a 2-D weight, got shape {w.shape}")
    layer = loader.affine(node, x, w, np.zeros(w.shape[1], w.dtype))
    loader.bias_free[node.output[0]] = layer


def _add(loader: Loader, node: Any) -> None:
    loader.attributes(node)
    constant = [loader.is_constant(node, i) for i in (0, 1)]
    if not any(constant):
        loader.call(node, nn.Add(), loader.symbolic(node, 0), loader.symbolic(node, 1))
        return
    if all(constant):
        raise ValueError("both operands are constants; fold them before loading")
    i = constant.index(False)
    x, c = loader.symbolic(node, i), loader.constant(node, 1 - i)
    name = node.input[i]
    affine = loader.bias_free.get(name)
    if affine is not None and loader.readers[name] == 1 and _is_bias(c, affine.out_features):
        # why: MatMul then Add of a vector is how an Affine on (N, ..., in) is written
        affine.b.data[...] = c.reshape(-1)
        del loader.bias_free[name]
        loader.values[node.output[0]] = x
        return
    trainable = node.input[1 - i] in loader.weights
    loader.call(node, _layers.AddConstant(c, trainable=trainable), x)


def _mul(loader: Loader, node: Any) -> None:
    loader.attributes(node)
    constant = [loader.is_constant(node, i) for i in (0, 1)]
    if not any(constant):
        a, b = loader.symbolic(node, 0), loader.symbolic(node, 1)
        if a.shape != b.shape:
            raise ValueError(f"the operands' shapes {a.shape_text} and {b.shape_text} differ")
        loader.call(node, _layers.Multiply(), a, b)
        return
    if all(constant):
        raise ValueError("both operands are constants; fold them before loading")
    i = constant.index(False)
    trainable = node.input[1 - i] in loader.weights
    layer = _layers.MulConstant(loader.constant(node, 1 - i), trainable=trainable)
    loader.call(node, layer, loader.symbolic(node, i))


def _is_bias(c: np.ndarray, features: int) -> bool:
    """True if ``c`` adds one value per output feature (shape (features,), (1, features)...)."""
    return c.ndim >= 1 and c.shape[-1] == features and c.size == features


def _conv(loader: Loader, node: Any) -> None:
    a = loader.attributes(
        node,
        auto_pad="NOTSET",
        dilations=None,
        group=1,
        kernel_shape=None,
        pads=None,
        strides=None,
    )
    x, w = loader.symbolic(node, 0), loader.constant(node, 1)
    if w.ndim != 4:
        raise ValueError(
            f"only 2-D convolutions (a 4-D weight) are supported, got a weight of shape {w.shape}"
        )
    if a["group"] != 1:
        raise ValueError(f"group={a['group']} is not supported: minigrad's Conv2d has group=1")
    if _ints(a["dilations"], 2, "dilations", 1) != (1, 1):
        raise ValueError(f"dilations={a['dilations']} are not supported: only dilations 1")
    kernel = w.shape[2:]
    if a["kernel_shape"] is not None and tuple(a["kernel_shape"]) != kernel:
        raise ValueError(f"kernel_shape={a['kernel_shape']} does not match the weight {w.shape}")
    b = loader.constant(node, 2) if loader.given(node, 2) else np.zeros(w.shape[0], w.dtype)
    stride = _ints(a["strides"], 2, "strides", 1)
    layer = nn.Conv2d(
        w.shape[1],
        w.shape[0],
        kernel,
        stride=stride,
        pad=loader.pads(node, a),
        weight_init=0.0,
        dtype=w.dtype,
    )
    layer.W.data[...] = w
    layer.b.data[...] = b
    loader.call(node, layer, x)


def _max_pool(loader: Loader, node: Any) -> None:
    a = loader.attributes(
        node,
        auto_pad="NOTSET",
        ceil_mode=0,
        dilations=None,
        kernel_shape=None,
        pads=None,
        storage_order=0,
        strides=None,
    )
    if a["ceil_mode"]:
        raise ValueError("ceil_mode=1 is not supported: minigrad's output size rounds down")
    if _ints(a["dilations"], 2, "dilations", 1) != (1, 1):
        raise ValueError(f"dilations={a['dilations']} are not supported: only dilations 1")
    if a["kernel_shape"] is None:
        raise ValueError("kernel_shape is missing")
    kernel = _ints(a["kernel_shape"], 2, "kernel_shape", 1)
    stride = _ints(a["strides"], 2, "strides", 1)  # why: ONNX's default stride is 1, not kernel
    layer = nn.MaxPool2d(kernel, stride=stride, pad=loader.pads(node, a))
    loader.call(node, layer, loader.symbolic(node, 0))


def _batch_norm(loader: Loader, node: Any) -> None:
    a = loader.attributes(node, epsilon=1e-5, momentum=0.9, training_mode=0, spatial=1)
    if a["training_mode"] or a["spatial"] != 1:
        raise ValueError(
            f"training_mode={a['training_mode']}, spatial={a['spatial']} is not supported: "
            f"minigrad loads inference models (training_mode=0, spatial=1)"
        )
    x = loader.symbolic(node, 0)
    gamma, beta, mean, var = (loader.constant(node, i) for i in (1, 2, 3, 4))
    # why: ONNX's momentum weighs the old running value, as minigrad's does (PyTorch's is
    # the other weight: torch.onnx writes 1 - torch's momentum)
    momentum, eps = _decimal(a["momentum"]), _decimal(a["epsilon"])
    layer = nn.BatchNorm(len(gamma), momentum=momentum, eps=eps, dtype=gamma.dtype)
    layer.gamma.data[...] = gamma
    layer.beta.data[...] = beta
    layer.running_mean = mean.astype(gamma.dtype)
    layer.running_var = var.astype(gamma.dtype)
    loader.call(node, layer, x)


def _decimal(value: float) -> float:
    """A float attribute (ONNX keeps float32) as the shortest decimal it stands for: 1e-3."""
    return float(str(np.float32(value)))


def _activation(kind: type[nn.Layer]) -> Callable[[Loader, Any], None]:
    def convert(loader: Loader, node: Any) -> None:
        loader.attributes(node)
        loader.call(node, kind(), loader.symbolic(node, 0))

    return convert


def _rank(x: Node) -> int:
    return len(x.shape) + x.batched


def _axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ValueError(f"axis={axis} is outside a rank-{rank} input")
    return axis % rank


def _softmax(loader: Loader, node: Any) -> None:
    # why: before opset 13 Softmax ran over the input flattened to 2-D from `axis` (default 1)
    a = loader.attributes(node, axis=-1 if loader.opset >= 13 else 1)
    x = loader.symbolic(node, 0)
    axis = _axis(a["axis"], _rank(x))
    if loader.opset < 13 and axis != _rank(x) - 1:
        raise ValueError(
            f"Softmax of opset {loader.opset} over axes {axis}.. of a rank-{_rank(x)} input is "
            f"not supported (only over the last axis); export the model at opset 13 or later"
        )
    loader.call(node, nn.Softmax(axis=axis), x)


def _flatten(loader: Loader, node: Any) -> None:
    a = loader.attributes(node, axis=1)
    x = loader.symbolic(node, 0)
    rank = _rank(x)
    axis = a["axis"] + rank if a["axis"] < 0 else a["axis"]
    if not 0 <= axis <= rank:
        raise ValueError(f"axis={a['axis']} is outside [-{rank}, {rank}] for a rank-{rank} input")
    layer = nn.Flatten() if axis == 1 else _layers.FlattenFrom(axis)
    loader.call(node, layer, x)


def _reshape(loader: Loader, node: Any) -> None:
    a = loader.attributes(node, allowzero=0)
    x = loader.symbolic(node, 0)
    shape = [int(n) for n in loader.constant(node, 1).reshape(-1)]
    if a["allowzero"] and 0 in shape:
        raise ValueError(f"allowzero=1 with a 0 in shape {shape} is not supported")
    if x.batched and (not shape or shape[0] not in (0, -1)):
        raise ValueError(
            f"shape {shape} fixes the batch axis; minigrad keeps it free: the file should "
            f"reshape to [0, ...] or [-1, ...] (export with a dynamic batch axis)"
        )
    loader.call(node, _layers.Reshape(shape), x)


def _concat(loader: Loader, node: Any) -> None:
    a = loader.attributes(node, axis=None)
    if a["axis"] is None:
        raise ValueError("the attribute axis is missing")
    xs = [loader.symbolic(node, i) for i in range(len(node.input))]
    loader.call(node, nn.Concat(axis=a["axis"]), *xs)


def _dropout(loader: Loader, node: Any) -> None:
    # why: opset 12 moved the ratio from an attribute to an input
    a = loader.attributes(node, ratio=0.5, seed=None, is_test=0)
    ratio = loader.constant(node, 1) if loader.given(node, 1) else a["ratio"]
    if loader.given(node, 2) and bool(loader.constant(node, 2)):
        raise ValueError("training_mode=True is not supported: minigrad loads inference models")
    layer = nn.Dropout(_decimal(float(ratio)))  # why: the identity in eval, dropout in train()
    loader.call(node, layer, loader.symbolic(node, 0))


def _identity(loader: Loader, node: Any) -> None:
    loader.attributes(node)
    name, out = node.input[0], node.output[0]
    if name in loader.consts:
        loader.consts[out] = loader.consts[name]
        if name in loader.weights:
            loader.weights.add(out)
    else:
        loader.values[out] = loader.symbolic(node, 0)


def _constant(loader: Loader, node: Any) -> None:
    a = loader.attributes(
        node, value=None, value_float=None, value_floats=None, value_int=None, value_ints=None
    )
    given = {k: v for k, v in a.items() if v is not None}
    if len(given) != 1:
        raise ValueError(f"a Constant needs exactly one value attribute, got {sorted(given)}")
    ((kind, value),) = given.items()
    if kind == "value":
        array = loader.onnx.numpy_helper.to_array(value)
    else:
        array = np.asarray(value, dtype=np.float32 if "float" in kind else np.int64)
    loader.consts[node.output[0]] = array


def _gather(loader: Loader, node: Any) -> None:
    a = loader.attributes(node, axis=0)
    if loader.is_constant(node, 0):  # why: rows of a weight table picked by ids: an embedding
        table, ids = loader.constant(node, 0), loader.symbolic(node, 1)
        if table.ndim != 2 or a["axis"] != 0 or ids.dtype.kind not in "iu":
            raise ValueError(
                f"a constant table is supported as an embedding: a 2-D table, axis=0 and "
                f"integer ids; got table {table.shape}, axis={a['axis']}, ids of {ids.dtype}"
            )
        layer = nn.Embedding(table.shape[0], table.shape[1], weight_init=0.0, dtype=table.dtype)
        layer.W.data[...] = table
        loader.call(node, layer, ids)
        return
    x, indices = loader.symbolic(node, 0), loader.constant(node, 1)
    axis = _axis(a["axis"], _rank(x))
    loader.call(node, _layers.Gather(indices, axis=axis), x)


def _layer_norm(loader: Loader, node: Any) -> None:
    a = loader.attributes(node, axis=-1, epsilon=1e-5, stash_type=1)
    x = loader.symbolic(node, 0)
    if _axis(a["axis"], _rank(x)) != _rank(x) - 1:
        raise ValueError(
            f"axis={a['axis']} is not supported: minigrad's LayerNorm normalises over the last "
            f"axis only (axis=-1)"
        )
    gamma = loader.constant(node, 1)
    beta = loader.constant(node, 2) if loader.given(node, 2) else np.zeros_like(gamma)
    if gamma.ndim != 1 or beta.shape != gamma.shape:
        raise ValueError(f"Scale {gamma.shape} and B {beta.shape} must both be (features,)")
    layer = nn.LayerNorm(len(gamma), eps=_decimal(a["epsilon"]), dtype=gamma.dtype)
    layer.gamma.data[...] = gamma
    layer.beta.data[...] = beta
    loader.call(node, layer, x)


def _gelu(loader: Loader, node: Any) -> None:
    a = loader.attributes(node, approximate="none")
    if a["approximate"] != "tanh":
        raise ValueError(
            f"approximate={a['approximate']!r} is not supported: minigrad's GELU is the tanh "
            f"approximation (approximate='tanh'; in PyTorch nn.GELU(approximate='tanh'))"
        )
    loader.call(node, nn.GELU(), loader.symbolic(node, 0))


CONVERTERS: dict[str, Callable[[Loader, Any], None]] = {
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Add": _add,
    "Mul": _mul,
    "Conv": _conv,
    "MaxPool": _max_pool,
    "BatchNormalization": _batch_norm,
    "Relu": _activation(nn.ReLU),
    "Sigmoid": _activation(nn.Sigmoid),
    "Tanh": _activation(nn.Tanh),
    "Softmax": _softmax,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Concat": _concat,
    "Identity": _identity,
    "Dropout": _dropout,
    "Constant": _constant,
    "Gather": _gather,
    "LayerNormalization": _layer_norm,
    "Gelu": _gelu,
}
