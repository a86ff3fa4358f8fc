"""``export``: a Sequential or Graph, as it runs in eval mode, to an ONNX file.

The exporter walks the network the way it runs: it calls every layer on the example
inputs (in eval mode, under ``no_grad``), so it knows each value's shape, and writes the
ONNX nodes that compute the same thing. A nested ``Sequential`` or ``Graph`` is inlined;
its values are named ``outer/inner``. Weights become initializers under their
``state_dict`` names (``affine1.W``), a shared layer's once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from minigrad import nn
from minigrad.nn.layer import Layer
from minigrad.onnx._require import require_onnx
from minigrad.tensor import Tensor, no_grad

OPSET = 17  # the opset that added LayerNormalization
GELU_OPSET = 20  # the opset that added Gelu: only a model with a GELU needs it
BATCH = "N"  # the symbolic batch axis of every input and output


def export(
    model: nn.Sequential | nn.Graph,
    path: str | os.PathLike,
    *example_inputs: ArrayLike | Tensor,
    dtype: DTypeLike | None = None,
) -> Any:
    """Write ``model`` to the ONNX file ``path``, as it computes in ``eval()`` mode.

    ``example_inputs``: one array per model input (any batch size; axis 0 becomes the
    symbolic batch axis ``N``). The file holds the model's float dtype, or ``dtype``
    (``np.float32`` for most runtimes: onnxruntime's CPU build has no float64 ``Conv``).
    A Graph's inputs and outputs keep their node names; a Sequential's are ``input``
    and ``output``. The model's training mode is restored afterwards. Returns the
    ``onnx.ModelProto`` that was written, already accepted by ``onnx.checker``.

    Raises ``ValueError`` naming the node and the layer for a layer that has no ONNX
    form (a layer with its own ``forward``, a loss).

    >>> import numpy as np, tempfile, os
    >>> from minigrad import nn
    >>> net = nn.Sequential(nn.Affine(4, 3, rng=0), nn.ReLU(), nn.Affine(3, 2, rng=1))
    >>> path = os.path.join(tempfile.mkdtemp(), "net.onnx")
    >>> model = export(net, path, np.zeros((5, 4)), dtype=np.float32)
    >>> [node.op_type for node in model.graph.node]
    ['Gemm', 'Relu', 'Gemm']
    """
    onnx = require_onnx("export")
    if not isinstance(model, nn.Sequential | nn.Graph):
        raise TypeError(
            f"export takes an nn.Sequential or nn.Graph, got {type(model).__name__}; wrap a "
            f"single layer as nn.Sequential(layer)"
        )
    expected = len(model.inputs) if isinstance(model, nn.Graph) else 1
    if len(example_inputs) != expected:
        raise TypeError(
            f"export needs one example input per model input ({expected}), got "
            f"{len(example_inputs)}; pass e.g. export(model, path, x_batch)"
        )
    dtype = _float_dtype(model, dtype)
    examples = [_example(x, i, dtype) for i, x in enumerate(example_inputs)]
    modes = [(layer, layer.training) for _, layer in model.named_layers()]
    model.eval()
    try:
        with no_grad():
            builder = _Builder(onnx, model, dtype)
            graph = builder.build(model, examples)
    finally:
        for layer, mode in modes:
            object.__setattr__(layer, "training", mode)
    opsets = [onnx.helper.make_opsetid("", builder.opset)]
    proto = onnx.helper.make_model(
        graph,
        opset_imports=opsets,
        producer_name="minigrad",
        doc_string=f"exported from minigrad: {type(model).__name__}",
    )
    # why: the oldest IR version that carries the opset, so older runtimes read the file
    proto.ir_version = onnx.helper.find_min_ir_version_for(opsets)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, os.fspath(path))
    return proto


def _float_dtype(model: Layer, dtype: DTypeLike | None) -> np.dtype:
    """The float dtype the file holds: ``dtype``, else the one of every float weight."""
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"export: dtype must be a float dtype such as np.float32, got {dtype}")
        return dtype
    kinds = {p.dtype for p in model.parameters()}
    kinds |= {np.asarray(b).dtype for _, b in model.named_buffers()}
    kinds = {k for k in kinds if k.kind == "f"}
    if len(kinds) > 1:
        raise TypeError(
            f"export: the model's weights mix dtypes {sorted(map(str, kinds))}; pass dtype= "
            f"(e.g. np.float32) or convert with model.astype(...) first"
        )
    return kinds.pop() if kinds else np.dtype(np.float32)


def _example(x: ArrayLike | Tensor, i: int, dtype: np.dtype) -> np.ndarray:
    """Example input ``i`` as an array of the dtype the file declares for it."""
    data = np.asarray(x.data if isinstance(x, Tensor) else x)
    if data.ndim == 0:
        raise ValueError(
            f"export: example input {i} is a 0-d value; pass a batch, shape (N, ...) "
            f"(axis 0 becomes the symbolic batch axis)"
        )
    if data.dtype.kind == "f":
        return data.astype(dtype)
    if data.dtype.kind in "iu":
        # why: ONNX Gather takes int32 or int64 indices; other integers travel as int64
        return data if data.dtype in (np.int32, np.int64) else data.astype(np.int64)
    raise TypeError(
        f"export: example input {i} has dtype {data.dtype}; pass float data, or integer ids "
        f"for an Embedding"
    )


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


class _Builder:
    """Collects the nodes and initializers of one ONNX graph while walking the network."""

    def __init__(self, onnx: Any, model: Layer, dtype: np.dtype) -> None:
        self.onnx = onnx
        self.dtype = dtype
        self.opset = OPSET
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.used: set[str] = set()
        self.weight_names: dict[int, str] = {}  # id(parameter or buffer array) -> name
        self.prefixes = {}  # id(layer) -> its dotted name in the model, for weight names
        for prefix, layer in model.named_layers():
            self.prefixes.setdefault(id(layer), prefix)

    # --- names, weights and nodes ------------------------------------------------------------
    def unique(self, name: str) -> str:
        """``name``, or ``name_2``, ``name_3``... if it is taken."""
        candidate, n = name, 1
        while candidate in self.used:
            n += 1
            candidate = f"{name}_{n}"
        self.used.add(candidate)
        return candidate

    def weight(self, layer: Layer, attribute: str) -> str:
        """The initializer holding ``layer.<attribute>`` (one per array, however shared)."""
        value = getattr(layer, attribute)
        key = id(value)
        if key not in self.weight_names:
            prefix = self.prefixes.get(id(layer), "")
            name = self.unique(f"{prefix}.{attribute}" if prefix else attribute)
            array = np.asarray(value.data if isinstance(value, Tensor) else value)
            if array.dtype.kind == "f":
                array = array.astype(self.dtype)
            self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
            self.weight_names[key] = name
        return self.weight_names[key]

    def node(self, op_type: str, inputs: list[str], output: str, **attributes: Any) -> str:
        """Append one node computing ``output``; the node is named after its output."""
        self.nodes.append(
            self.onnx.helper.make_node(op_type, inputs, [output], name=output, **attributes)
        )
        return output

    # --- the whole graph ---------------------------------------------------------------------
    def build(self, model: nn.Sequential | nn.Graph, examples: list[np.ndarray]) -> Any:
        helper = self.onnx.helper
        if isinstance(model, nn.Graph):
            in_names = [x.name for x in model.inputs]
            out_names = [y.name for y in model.outputs]
            batched_out = [y.batched for y in model.outputs]
        else:
            in_names, out_names, batched_out = ["input"], ["output"], [True]
        for name in in_names:
            if name in self.used:
                raise ValueError(f"export: two inputs are named {name!r}; give each its own name")
            self.used.add(name)
        # why: ONNX names each output once; a node listed twice (or an input) gets name_2
        out_names = [self.unique(name) for name in out_names]
        outputs = self.layer(model, "", in_names, examples, out_names, {}, top=True)
        inputs = [
            helper.make_tensor_value_info(name, _elem_type(self.onnx, x.dtype), _dims(x, True))
            for name, x in zip(in_names, examples, strict=True)
        ]
        results = []
        for name, y, batched in zip(out_names, outputs, batched_out, strict=True):
            kind = y.dtype if y.dtype.kind != "f" else self.dtype
            results.append(
                helper.make_tensor_value_info(name, _elem_type(self.onnx, kind), _dims(y, batched))
            )
        title = getattr(model, "name", None) or type(model).__name__.lower()
        return helper.make_graph(self.nodes, title, inputs, results, initializer=self.initializers)

    # --- one layer call ----------------------------------------------------------------------
    def layer(
        self,
        layer: Layer,
        label: str,
        ins: list[str],
        xs: list[np.ndarray],
        outs: list[str],
        kwargs: dict[str, Any],
        top: bool = False,
    ) -> list[np.ndarray]:
        """Write the nodes of one call of ``layer`` (named ``label``), reading the values
        ``ins`` (whose example values are ``xs``) and writing the values ``outs``; returns
        the example values of the outputs."""
        where = "the model" if top else f"node {label!r}"
        if kwargs:
            raise ValueError(
                f"cannot export {where} ({layer!r}): it was called with keyword arguments "
                f"{sorted(kwargs)}, which an ONNX node cannot take"
            )
        kind = _exportable_kind(layer, where)
        if kind is nn.Graph:
            return self.graph(layer, label, ins, xs, outs)
        if kind is nn.Sequential:
            return self.sequential(layer, label, ins, xs, outs)
        try:
            y = layer(*[Tensor(x) for x in xs])
        except Exception as err:
            if hasattr(err, "add_note"):  # why: Python 3.11+; the message alone on 3.10
                err.add_note(f"(while exporting {where}, layer {layer!r})")
            raise
        (out,) = outs
        TRANSLATIONS[kind](self, layer, ins, xs, out)
        return [np.asarray(y.data)]

    def sequential(
        self, seq: nn.Sequential, label: str, ins: list[str], xs: list, outs: list[str]
    ) -> list[np.ndarray]:
        names = {id(layer): name for name, layer in seq._members.items()}
        (name,), (x,) = ins, xs
        if not seq.layers:
            self.node("Identity", [name], outs[0])
            return [x]
        for i, layer in enumerate(seq.layers):
            inner = _join(label, names[id(layer)])
            last = i == len(seq.layers) - 1
            target = outs[0] if last else self.unique(inner)
            (x,) = self.layer(layer, inner, [name], [x], [target], {})
            name = target
        return [x]

    def graph(
        self, graph: nn.Graph, label: str, ins: list[str], xs: list, outs: list[str]
    ) -> list[np.ndarray]:
        names = {id(x): name for x, name in zip(graph.inputs, ins, strict=True)}
        values = {id(x): v for x, v in zip(graph.inputs, xs, strict=True)}
        wanted: dict[int, str] = {}  # id(output node) -> the name its value must have
        for node, name in zip(graph.outputs, outs, strict=True):
            if id(node) not in names:
                wanted.setdefault(id(node), name)
        done: set[int] = set()
        for node in graph.nodes:
            call = node._call
            if id(node) in names or id(call) in done:
                continue
            done.add(id(call))
            siblings = call.outputs or (node,)  # why: a nested Graph may have several outputs
            targets = [wanted.get(id(n)) or self.unique(_join(label, n.name)) for n in siblings]
            ys = self.layer(
                call.layer,
                _join(label, node.name),
                [names[id(a)] for a in call.inputs],
                [values[id(a)] for a in call.inputs],
                targets,
                call.kwargs,
            )
            for sibling, target, y in zip(siblings, targets, ys, strict=True):
                names[id(sibling)], values[id(sibling)] = target, y
        for node, name in zip(graph.outputs, outs, strict=True):
            if names[id(node)] != name:  # why: an input, or a node listed twice, as an output
                self.node("Identity", [names[id(node)]], name)
        return [values[id(node)] for node in graph.outputs]


def _exportable_kind(layer: Layer, where: str) -> type:
    """The known layer class whose computation ``layer`` is, or a ValueError."""
    for kind in type(layer).__mro__:
        if kind in TRANSLATIONS or kind in (nn.Sequential, nn.Graph):
            if type(layer).forward is kind.forward and type(layer).__call__ is Layer.__call__:
                return kind
            break
        if kind in LOSSES:
            raise ValueError(
                f"cannot export {where} ({layer!r}): {kind.__name__} is a training loss, which "
                f"an inference file leaves out; export the graph that ends at the scores, "
                f"e.g. nn.Graph(x, scores) built from the same nodes"
            )
    known = ", ".join(sorted(k.__name__ for k in TRANSLATIONS))
    raise ValueError(
        f"cannot export {where} ({layer!r}): {type(layer).__name__} has a forward of its own, "
        f"which has no ONNX translation; build it from the layers that export ({known}, "
        f"Sequential, Graph)"
    )


def _elem_type(onnx: Any, dtype: np.dtype) -> int:
    return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def _dims(x: np.ndarray, batched: bool) -> list[int | str]:
    return [BATCH, *x.shape[1:]] if batched and x.ndim >= 1 else list(x.shape)


# --- translations: one function per layer class -------------------------------------------
Translation = Callable[[_Builder, Any, list[str], list[np.ndarray], str], None]


def _affine(b: _Builder, layer: nn.Affine, ins: list[str], xs: list, out: str) -> None:
    w, bias = b.weight(layer, "W"), b.weight(layer, "b")
    if xs[0].ndim == 2:
        b.node("Gemm", [ins[0], w, bias], out)
    else:  # why: Gemm is 2-D only; MatMul broadcasts over the leading axes
        b.node("Add", [b.node("MatMul", [ins[0], w], b.unique(f"{out}/MatMul")), bias], out)


def _elementwise(op_type: str) -> Translation:
    def translate(b: _Builder, layer: Layer, ins: list[str], xs: list, out: str) -> None:
        b.node(op_type, ins, out)

    return translate


def _softmax(b: _Builder, layer: nn.Softmax, ins: list[str], xs: list, out: str) -> None:
    b.node("Softmax", ins, out, axis=layer.axis)  # why: from opset 13 it is over one axis


def _flatten(b: _Builder, layer: nn.Flatten, ins: list[str], xs: list, out: str) -> None:
    b.node("Flatten", ins, out, axis=1)


def _conv2d(b: _Builder, layer: nn.Conv2d, ins: list[str], xs: list, out: str) -> None:
    (ph, pw), (sh, sw) = layer.pad, layer.stride
    b.node(
        "Conv",
        [ins[0], b.weight(layer, "W"), b.weight(layer, "b")],
        out,
        kernel_shape=list(layer.kernel_size),
        strides=[sh, sw],
        pads=[ph, pw, ph, pw],  # why: ONNX lists every axis's start, then every end
    )


def _max_pool2d(b: _Builder, layer: nn.MaxPool2d, ins: list[str], xs: list, out: str) -> None:
    (ph, pw), (sh, sw) = layer.pad, layer.stride
    # why: ONNX's pooling never picks padding either, so minigrad's -inf padding agrees
    b.node(
        "MaxPool",
        ins,
        out,
        kernel_shape=list(layer.kernel_size),
        strides=[sh, sw],
        pads=[ph, pw, ph, pw],
    )


def _batch_norm(b: _Builder, layer: nn.BatchNorm, ins: list[str], xs: list, out: str) -> None:
    weights = [b.weight(layer, name) for name in ("gamma", "beta", "running_mean", "running_var")]
    # why: ONNX's momentum is the weight of the old running value, minigrad's convention too
    # (PyTorch's momentum is the other weight, 1 - this one)
    b.node(
        "BatchNormalization", [ins[0], *weights], out, epsilon=layer.eps, momentum=layer.momentum
    )


def _layer_norm(b: _Builder, layer: nn.LayerNorm, ins: list[str], xs: list, out: str) -> None:
    weights = [b.weight(layer, "gamma"), b.weight(layer, "beta")]
    b.node("LayerNormalization", [ins[0], *weights], out, axis=-1, epsilon=layer.eps)


def _gelu(b: _Builder, layer: nn.GELU, ins: list[str], xs: list, out: str) -> None:
    b.opset = max(b.opset, GELU_OPSET)
    b.node("Gelu", ins, out, approximate="tanh")


def _embedding(b: _Builder, layer: nn.Embedding, ins: list[str], xs: list, out: str) -> None:
    b.node("Gather", [b.weight(layer, "W"), ins[0]], out, axis=0)


def _identity(b: _Builder, layer: Layer, ins: list[str], xs: list, out: str) -> None:
    b.node("Identity", ins, out)


def _add(b: _Builder, layer: nn.Add, ins: list[str], xs: list, out: str) -> None:
    if len(ins) == 1:
        b.node("Identity", ins, out)
        return
    total = ins[0]
    for i, name in enumerate(ins[1:], start=2):
        last = i == len(ins)
        total = b.node("Add", [total, name], out if last else b.unique(f"{out}/Add{i - 1}"))


def _concat(b: _Builder, layer: nn.Concat, ins: list[str], xs: list, out: str) -> None:
    b.node("Concat", ins, out, axis=layer.axis)


TRANSLATIONS: dict[type, Translation] = {
    nn.Affine: _affine,
    nn.ReLU: _elementwise("Relu"),
    nn.Sigmoid: _elementwise("Sigmoid"),
    nn.Tanh: _elementwise("Tanh"),
    nn.Softmax: _softmax,
    nn.Flatten: _flatten,
    nn.Conv2d: _conv2d,
    nn.MaxPool2d: _max_pool2d,
    nn.BatchNorm: _batch_norm,
    nn.Dropout: _identity,  # why: dropout is the identity in eval mode
    nn.Add: _add,
    nn.Concat: _concat,
    nn.LayerNorm: _layer_norm,
    nn.GELU: _gelu,
    nn.Embedding: _embedding,
}
LOSSES = (nn.SoftmaxWithLoss, nn.MSELoss)
