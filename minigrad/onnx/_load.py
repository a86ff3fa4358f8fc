"""``load``: an ONNX file to an ``nn.Graph`` of minigrad layers with trainable weights.

The nodes are read in the file's order (ONNX keeps them topologically sorted). Each one
becomes a call of a minigrad layer on the symbolic nodes made so far: ``Gemm`` and
``MatMul`` (followed by the ``Add`` of its bias) an ``Affine``, ``Conv`` a ``Conv2d``,
and so on; where no layer fits, one of the small layers of ``minigrad.onnx._layers``.
Initializers that feed a layer become its ``Parameter``s (BatchNorm's statistics its
buffers); ``Identity`` and ``Constant`` only pass values along.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import numpy as np

from minigrad import nn
from minigrad.nn.graph import Node
from minigrad.onnx._converters import CONVERTERS
from minigrad.onnx._require import require_onnx


def load(path: str | os.PathLike | Any) -> nn.Graph:
    """The ``nn.Graph`` that computes what the ONNX model in ``path`` computes.

    ``path`` is a file (or an ``onnx.ModelProto``). The first axis of every input is the
    batch axis, whatever size the file gives it; the other axes must have fixed sizes.
    The graph comes in eval mode, computing what the file does; call ``train()`` before
    fine-tuning (BatchNorm then normalises with the batch's statistics). Weights become
    ``Parameter``s of the layers (``affine1.W``...), so the graph trains, and
    ``summary()`` and ``state_dict()`` work as for a graph built by hand. Raises
    ``ValueError`` naming the node and its op type for an op or an attribute value
    that minigrad does not support.

    >>> import numpy as np, tempfile, os
    >>> from minigrad import nn
    >>> import minigrad.onnx
    >>> x = nn.Input((3,), name="x")
    >>> net = nn.Graph(x, nn.Sigmoid()(nn.Affine(3, 2, rng=0)(x)))
    >>> path = os.path.join(tempfile.mkdtemp(), "net.onnx")
    >>> _ = minigrad.onnx.export(net, path, np.ones((4, 3)))
    >>> again = load(path)
    >>> [type(node.layer).__name__ for node in again.nodes[1:]]
    ['Affine', 'Sigmoid']
    >>> bool(np.allclose(again(np.ones((2, 3))).numpy(), net(np.ones((2, 3))).numpy()))
    True
    """
    onnx = require_onnx("load")
    model = path if isinstance(path, onnx.ModelProto) else onnx.load(os.fspath(path))
    return Loader(onnx, model).build()


class Loader:
    """The state of one translation: what every ONNX value name stands for so far."""

    def __init__(self, onnx: Any, model: Any) -> None:
        self.onnx = onnx
        self.graph = model.graph
        versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
        self.opset = versions[0] if versions else onnx.defs.onnx_opset_version()
        if self.graph.sparse_initializer:
            raise ValueError(
                "this ONNX model has sparse initializers, which minigrad.onnx.load does not "
                "read; convert them to dense initializers first"
            )
        to_array = onnx.numpy_helper.to_array
        self.consts: dict[str, np.ndarray] = {t.name: to_array(t) for t in self.graph.initializer}
        self.weights = set(self.consts)  # why: initializers are learned; Constant nodes are not
        self.values: dict[str, Node] = {}
        self.readers = Counter(name for node in self.graph.node for name in node.input)
        self.readers.update(value.name for value in self.graph.output)
        self.bias_free: dict[str, nn.Affine] = {}  # MatMul outputs whose Add may be the bias

    def build(self) -> nn.Graph:
        inputs = [self.input(value) for value in self.graph.input if value.name not in self.consts]
        for node in self.graph.node:
            translate = CONVERTERS.get(node.op_type)
            label = f"ONNX node {self.label(node)!r} (op {node.op_type})"
            if node.domain not in ("", "ai.onnx") or translate is None:
                raise ValueError(
                    f"{label} is not supported by minigrad.onnx.load (domain "
                    f"{node.domain or 'ai.onnx'!r}); the supported ops are "
                    f"{', '.join(sorted(CONVERTERS))}"
                )
            try:
                translate(self, node)
            except (ValueError, TypeError) as err:
                kind = TypeError if isinstance(err, TypeError) else ValueError
                raise kind(f"{label}: {err}") from err
        outputs = []
        for value in self.graph.output:
            if value.name not in self.values:
                raise ValueError(
                    f"ONNX output {value.name!r} is a constant or is never computed; minigrad "
                    f"graphs compute every output from their inputs"
                )
            node = self.values[value.name]
            if node.name is None:
                node.name = value.name
            outputs.append(node)
        if not inputs:
            raise ValueError("this ONNX model has no inputs (every input is an initializer)")
        name = self.graph.name or None
        graph = nn.Graph(inputs, outputs[0] if len(outputs) == 1 else outputs, name=name)
        return graph.eval()  # why: compute what the file computes; train() to fine-tune

    def input(self, value: Any) -> nn.Input:
        """The ``nn.Input`` for one graph input: axis 0 is the batch axis."""
        kind = value.type.WhichOneof("value")
        tensor = value.type.tensor_type
        if kind != "tensor_type" or not tensor.HasField("shape"):
            raise ValueError(
                f"ONNX input {value.name!r} is not a tensor of known rank ({kind}); minigrad "
                f"needs the shape of every input"
            )
        dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in tensor.shape.dim]
        if not dims or not all(isinstance(d, int) for d in dims[1:]):
            raise ValueError(
                f"ONNX input {value.name!r} has shape {dims}; minigrad needs a batch axis first "
                f"and fixed sizes after it"
            )
        dtype = self.onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)
        node = nn.Input(tuple(dims[1:]), dtype=dtype, name=value.name)
        self.values[value.name] = node
        return node

    # --- what the converters use -------------------------------------------------------------
    @staticmethod
    def label(node: Any) -> str:
        return node.name or (node.output[0] if node.output else node.op_type)

    def attributes(self, node: Any, **defaults: Any) -> dict[str, Any]:
        """The node's attributes over ``defaults``; one that is not among them is an error."""
        found = dict(defaults)
        for attribute in node.attribute:
            if attribute.name not in defaults:
                raise ValueError(
                    f"attribute {attribute.name!r} is not supported (supported: "
                    f"{sorted(defaults) or 'none'})"
                )
            value = self.onnx.helper.get_attribute_value(attribute)
            found[attribute.name] = value.decode() if isinstance(value, bytes) else value
        return found

    def given(self, node: Any, i: int) -> bool:
        """True if the node has an ``i``-th input (ONNX marks a missing one with '')."""
        return len(node.input) > i and node.input[i] != ""

    def symbolic(self, node: Any, i: int) -> Node:
        """Input ``i`` of ``node`` as a graph node (a value computed from the inputs)."""
        name = node.input[i]
        if name in self.values:
            return self.values[name]
        if name in self.consts:
            raise ValueError(
                f"input {i} ({name!r}) is a constant; minigrad supports this op with a "
                f"computed value there"
            )
        raise ValueError(f"input {i} ({name!r}) is not computed before this node")

    def constant(self, node: Any, i: int) -> np.ndarray:
        """Input ``i`` of ``node`` as a constant array (an initializer or a Constant)."""
        name = node.input[i]
        if name in self.consts:
            return self.consts[name]
        raise ValueError(
            f"input {i} ({name!r}) must be a constant (an initializer) for minigrad to take it "
            f"as a weight, but it is computed from the inputs"
        )

    def is_constant(self, node: Any, i: int) -> bool:
        return node.input[i] in self.consts

    def call(self, node: Any, layer: nn.Layer, *args: Node) -> None:
        """Call ``layer`` on ``args`` and make the result node ``node``'s (first) output."""
        for extra in node.output[1:]:
            if extra and self.readers[extra]:
                raise ValueError(
                    f"its output {extra!r} is used, but minigrad computes only the first "
                    f"output of this op"
                )
        self.values[node.output[0]] = layer(*args)

    def pads(self, node: Any, attributes: dict[str, Any]) -> tuple[int, int]:
        """The (height, width) padding, which must be the same at both ends."""
        auto_pad = attributes["auto_pad"]
        if auto_pad not in ("NOTSET", "VALID"):
            raise ValueError(f"auto_pad={auto_pad!r} is not supported; export with explicit pads")
        pads = list(attributes["pads"] or [0, 0, 0, 0])
        if auto_pad == "VALID":
            pads = [0, 0, 0, 0]
        if len(pads) != 4 or pads[:2] != pads[2:]:
            raise ValueError(
                f"pads={pads} is not supported: minigrad pads 2-D images by the same amount at "
                f"both ends of each axis, pads=[ph, pw, ph, pw]"
            )
        return pads[0], pads[1]

    def affine(self, node: Any, x: Node, w: np.ndarray, b: np.ndarray) -> nn.Affine:
        """An ``Affine`` holding ``w (in, out)`` and ``b (out,)``, called on ``x``."""
        layer = nn.Affine(w.shape[0], w.shape[1], weight_init=0.0, dtype=w.dtype)
        layer.W.data[...] = w
        layer.b.data[...] = b
        self.call(node, layer, x)
        return layer
