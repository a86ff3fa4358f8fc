"""Whole networks as one DAG: symbolic inputs, layers called on them, and ``Graph``.

Calling a layer on symbolic nodes does not compute anything: it records the call
and returns a new node that knows its output shape (found by running the layer once
on a small dummy batch, so a shape that does not fit fails at that very line).
``Graph(inputs, outputs)`` then sorts the recorded calls with the engine's
``toposort``, names and registers the layers, and keeps a flat execution plan, so
calling it on real arrays is one loop over ``(layer name, input slots, output slot)``.

>>> from minigrad import nn
>>> x = nn.Input((4,), name="x")
>>> h = nn.ReLU()(nn.Affine(4, 3, rng=0)(x))
>>> net = nn.Graph(x, nn.Affine(3, 2, rng=1)(h))
>>> [node.name for node in net.nodes]
['x', 'affine1', 'relu1', 'affine2']
>>> net(np.ones((5, 4))).shape
(5, 2)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from minigrad.nn.layer import Layer, Symbolic
from minigrad.nn.shape_inference import BATCH, OTHER_BATCH, follows_batch, infer
from minigrad.tensor import Tensor, toposort


class _Call:
    """One call of a layer on nodes; its output nodes share it.

    ``args`` are the positional arguments as given (nodes, or tuples of them such as an
    LSTM's state); ``inputs`` are their nodes in order, flat."""

    __slots__ = ("layer", "args", "inputs", "kwargs", "outputs")

    def __init__(self, layer: Layer, args: tuple, kwargs: dict[str, Any]) -> None:
        self.layer = layer
        self.args = args
        self.inputs = tuple(_leaves(args))
        self.kwargs = kwargs
        self.outputs: tuple | None = None  # the (nested) nodes of a layer with several outputs


def _leaves(value: Any) -> Iterator[Any]:
    """The items of a nested tuple or list, depth first (a non-sequence is its own leaf)."""
    if isinstance(value, tuple | list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


class Node(Symbolic):
    """A value of a network being built: an ``Input``, or the output of a layer call.

    ``shape`` leaves out the batch axis when ``batched`` (the usual case; a loss is an
    unbatched scalar with shape ``()``). ``name`` is the one you gave, or the one the
    first ``Graph`` holding the node gives it (``affine1``; ``affine1#2`` for a
    shared layer's second call; ``[i]`` marks output i of a layer with several, and
    ``[1][0]`` the first item of its second output, a tuple such as an LSTM's state).
    ``index`` is that position: None, an int, or a tuple of ints for a nested output.
    """

    __slots__ = ("_call", "index", "shape", "dtype", "batched", "name")

    def __init__(
        self,
        call: _Call | None,
        index: int | None,
        shape: tuple[int, ...],
        dtype: np.dtype,
        batched: bool,
        name: str | None = None,
    ) -> None:
        self._call = call
        self.index = index
        self.shape = shape
        self.dtype = dtype
        self.batched = batched
        self.name = name

    @property
    def layer(self) -> Layer | None:
        """The layer whose call made this node (None for an input)."""
        return None if self._call is None else self._call.layer

    @property
    def inputs(self) -> tuple[Node, ...]:
        """The nodes the layer was called on."""
        return () if self._call is None else self._call.inputs

    @property
    def shape_text(self) -> str:
        """The shape with the batch axis shown as None: ``(None, 50)``."""
        dims = ("None",) * self.batched + tuple(str(n) for n in self.shape)
        return f"({', '.join(dims)}{',' if len(dims) == 1 else ''})"

    def _label(self) -> str:
        if self.name is not None:
            return self.name
        return "input" if self._call is None else _layer_label(self._call.layer)

    def __repr__(self) -> str:
        kind = "input" if self._call is None else type(self._call.layer).__name__
        name = f"{self.name!r}, " if self.name is not None else ""
        dtype = "dtype from the data" if self.dtype is None else self.dtype
        return f"Node({name}{kind}, {self.shape_text}, {dtype})"

    def _call_layer(self, layer: Layer, args: tuple, kwargs: dict) -> Node | tuple:
        for i, a in enumerate(args):
            bad = next((leaf for leaf in _leaves(a) if not isinstance(leaf, Node)), None)
            if bad is not None:
                raise TypeError(
                    f"{type(layer).__name__} was called on symbolic nodes and a "
                    f"{type(bad).__name__} (in argument {i}); in a graph every positional "
                    f"argument must be a node or a tuple of nodes (make a constant an nn.Input, "
                    f"or pass settings by keyword)"
                )
        for key, value in kwargs.items():
            if any(isinstance(leaf, Node) for leaf in _leaves(value)):
                raise TypeError(
                    f"{type(layer).__name__} got a node by keyword ({key}=...); in a graph pass "
                    f"nodes positionally, e.g. layer(x, state), and settings by keyword"
                )
        call = _Call(layer, tuple(args), dict(kwargs))
        leaves = call.inputs
        shapes = ", ".join(f"{a._label()!r} {a.shape_text}" for a in leaves)
        title = f"cannot build node {_layer_label(layer)!r}: {layer!r} does not fit its input(s)"
        title = f"{title} {shapes}"
        free = list({id(a): a for a in leaves if isinstance(a, Input) and a.dtype is None}.values())
        outputs = infer(layer, call.args, call.kwargs, free, title)
        others = None
        if any(a.batched for a in leaves):  # why: a second size tells a batch axis from an
            others = infer(layer, call.args, call.kwargs, free, title, OTHER_BATCH)  # axis of 2
        nodes = _output_nodes(call, (), outputs, others, layer)
        if isinstance(nodes, tuple):
            call.outputs = nodes
        return nodes


class Input(Node):
    """A symbolic input of a network: ``shape`` leaves out the batch axis.

    ``dtype`` declares what the data will be (``np.int64`` for token ids); None leaves it
    to the data. Labels are ``Input(())``: one value per sample. The build check runs each
    layer on stand-in data — floats, or integers (label 0) for the fewest undeclared inputs
    a layer refuses floats for — so a network that works on real data always builds.
    Calling the graph checks every input's per-sample shape (and integer or float kind
    where it is declared or where a layer needed integers) and names the input that does
    not fit.

    >>> Input((28, 28), name="image")
    Input((28, 28), name='image')
    >>> Input((), dtype=np.int64).shape_text
    '(None,)'
    """

    __slots__ = ("stand_in",)

    def __init__(
        self, shape: int | Sequence[int], dtype: DTypeLike | None = None, name: str | None = None
    ) -> None:
        shape = (shape,) if isinstance(shape, int | np.integer) else tuple(shape)
        if not all(isinstance(n, int | np.integer) and n >= 0 for n in shape):
            raise ValueError(
                f"Input shape must be non-negative ints without the batch axis, got {shape}; "
                f"e.g. Input((784,)) for flat images"
            )
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Input name must be a str, got {type(name).__name__}")
        dtype = None if dtype is None else np.dtype(dtype)
        if dtype is not None and dtype.kind not in "biuf":
            raise TypeError(f"Input dtype must be a real number type, got {dtype}")
        super().__init__(None, None, tuple(int(n) for n in shape), dtype, True, name)
        self.stand_in = np.dtype(np.float64) if dtype is None else dtype

    def __repr__(self) -> str:
        dtype = "" if self.dtype is None else f", dtype={self.dtype}"
        name = f", name={self.name!r}" if self.name is not None else ""
        return f"Input({self.shape}{dtype}{name})"


def _check_input(x: Node, i: int, value: Any, graph: str) -> None:
    """Refuse data whose per-sample shape, or integer/float kind, does not fit input ``x``."""
    shape = np.shape(value)
    if (shape[1:] != x.shape or not shape) if x.batched else shape != x.shape:
        raise ValueError(
            f"{graph}: input {i} ({x.name!r}) has shape {shape}, expected "
            f"{x.shape_text} (None is the batch axis); pass data of that shape"
        )
    if not isinstance(x, Input):
        return
    dtype = getattr(value, "dtype", None)
    dtype = np.asarray(value).dtype if dtype is None else dtype
    wants_int = x.stand_in.kind in "iub"
    if (dtype.kind in "iub") != wants_int and (x.dtype is not None or wants_int):
        kind = "integer" if wants_int else "float"
        raise TypeError(
            f"{graph}: input {i} ({x.name!r}) needs {kind} data"
            f"{'' if x.dtype is None else f' (declared {x.dtype})'}, got dtype "
            f"{dtype}; convert it, e.g. .astype(np.{'int64' if wants_int else 'float64'})"
        )


def _output_nodes(call: _Call, path: tuple[int, ...], y: Any, other: Any, layer: Layer) -> Any:
    """The node (or nested tuple of nodes) for output ``y`` of the run on a batch of 2;
    ``other`` is the same output of the run on a batch of 3 (None when nothing is batched)."""
    if isinstance(y, tuple | list):
        same = isinstance(other, tuple | list) and len(other) == len(y)
        return tuple(
            _output_nodes(call, (*path, i), item, other[i] if same else None, layer)
            for i, item in enumerate(y)
        )
    where = "".join(f"[{i}]" for i in path)
    if not isinstance(y, Tensor | np.ndarray | np.generic | bool | int | float):
        raise TypeError(
            f"{layer!r} returned {type(y).__name__}{f' at {where}' if where else ''}; a layer "
            f"in a graph must return a Tensor or array, or a (nested) tuple of them"
        )
    data = y.data if isinstance(y, Tensor) else np.asarray(y)
    if data.dtype.kind not in "biuf":
        raise TypeError(
            f"{layer!r} returned {type(y).__name__} of dtype {data.dtype}"
            f"{f' at {where}' if where else ''}; a layer in a graph must return real numbers"
        )
    # why: an axis of the first batch's size that follows the second size is the batch axis
    batched = other is not None and follows_batch(other)
    batched = batched and data.ndim >= 1 and data.shape[0] == BATCH
    shape = data.shape[1:] if batched else data.shape
    index = None if not path else path[0] if len(path) == 1 else path
    return Node(call, index, shape, data.dtype, batched)


def _layer_label(layer: Layer) -> str:
    """A layer's own ``name`` if it has one, else its kind: ``affine``."""
    name = getattr(layer, "name", None)
    return name if isinstance(name, str) else type(layer).__name__.lower()


def _node_list(nodes: Any, what: str) -> tuple[list[Node], bool]:
    single = isinstance(nodes, Node)
    items = [nodes] if single else list(nodes) if isinstance(nodes, Sequence) else None
    if not items or not all(isinstance(n, Node) for n in items):
        raise TypeError(
            f"Graph {what} must be a node or a non-empty list of nodes (from nn.Input or a "
            f"layer called on nodes), got {nodes!r}"
        )
    return items, single


class Graph(Layer):
    """A network as one DAG of layer calls; a ``Layer`` itself.

    ``inputs`` and ``outputs`` are a node or a list of nodes. Calling the graph takes
    one array or Tensor per input, positionally, and returns one result per output
    (a tuple for a list of outputs). Its layers become members named by kind and
    number in topological order, as in ``Sequential`` (``affine1``, ``relu1``), or by
    their own ``name`` attribute when they have one (a nested ``Graph``'s ``name``,
    or one you set); a layer called twice is one member and shares its parameters.

    Assigning another layer to a member name (``net.relu1 = nn.Tanh()``) runs it in that
    layer's place.

    Raises ``ValueError`` when an output depends on an ``Input`` that is not among
    ``inputs``, when an input is never used, or on a cycle.

    >>> from minigrad import nn
    >>> x, t = nn.Input((4,), name="x"), nn.Input((), dtype=np.int64, name="t")
    >>> scores = nn.Affine(4, 3, rng=0)(x)
    >>> net = nn.Graph([x, t], [scores, nn.SoftmaxWithLoss()(scores, t)])
    >>> y, loss = net(np.ones((2, 4)), np.array([0, 2]))
    >>> y.shape, loss.shape
    ((2, 3), ())
    >>> [name for name, _ in net.named_parameters()]
    ['affine1.W', 'affine1.b']
    """

    def __init__(
        self, inputs: Node | Sequence[Node], outputs: Node | Sequence[Node], name: str | None = None
    ) -> None:
        super().__init__()
        ins, _ = _node_list(inputs, "inputs")
        outs, single = _node_list(outputs, "outputs")
        self.name = name
        input_ids = {id(x) for x in ins}
        if len(input_ids) != len(ins):
            raise ValueError(f"Graph inputs list a node twice: {ins}; list each input once")
        order = _sort(outs, input_ids)
        reached = {id(node) for node in order}
        for node in order:
            if node._call is None and id(node) not in input_ids:
                raise ValueError(
                    f"output {_owner(outs, node, input_ids)!r} depends on {node!r}, which is not "
                    f"among the graph's inputs {ins}; add it to inputs"
                )
        for i, x in enumerate(ins):
            if id(x) not in reached:
                raise ValueError(
                    f"input {i} {x!r} is not used by any output; remove it from inputs or "
                    f"connect it to an output"
                )
        self.inputs = ins
        self.outputs = outs
        self.nodes = order
        members = self._register(order, input_ids)
        _name_nodes(order, ins, input_ids, members)
        self._plan(order, ins, input_ids, outs, single, members)

    # --- building ---------------------------------------------------------------------------
    def _register(self, order: list[Node], input_ids: set[int]) -> dict[int, str]:
        """Make every layer a member, in order of first use; returns id(layer) -> name."""
        layers: dict[int, Layer] = {}
        for node in order:
            if id(node) not in input_ids:
                layers.setdefault(id(node.layer), node.layer)
        names: dict[int, str] = {}
        for key, layer in layers.items():
            name = getattr(layer, "name", None)
            if not isinstance(name, str):
                continue
            if not name.isidentifier() or hasattr(self, name) or name in names.values():
                why = "is used by two layers" if name in names.values() else "is not usable"
                raise ValueError(
                    f"layer name {name!r} of {layer!r} {why}: a member name must be a Python "
                    f"identifier, unique in the graph, and not an attribute of Graph; rename it"
                )
            names[key] = name
        counts: dict[str, int] = {}
        taken = set(names.values())
        for key, layer in layers.items():
            if key in names:
                continue
            kind = type(layer).__name__.lower()
            while True:
                counts[kind] = counts.get(kind, 0) + 1
                name = f"{kind}{counts[kind]}"
                if name not in taken:
                    break
            names[key] = name
            taken.add(name)
        for key, layer in layers.items():
            setattr(self, names[key], layer)
        return names

    def _plan(
        self,
        order: list[Node],
        ins: list[Node],
        input_ids: set[int],
        outs: list[Node],
        single: bool,
        members: dict[int, str],
    ) -> None:
        """The execution plan: (layer's member name, input slots, output slot(s), kwargs) per
        call; the layer is looked up by name when the graph runs, so a replaced one is used."""
        slots = {id(x): i for i, x in enumerate(ins)}
        for node in order:
            slots.setdefault(id(node), len(slots))
        trash = len(slots)  # why: unused outputs of a multi-output layer land here
        plan = []
        step_nodes = []  # why: only to name the node in an error message
        done: set[int] = set()
        for node in order:
            call = node._call
            if id(node) in input_ids or id(call) in done:
                continue
            done.add(id(call))
            step_nodes.append(node)
            # why: an argument or output that is a tuple of nodes is a tuple of slots
            in_slots = _slots(call.args, slots, trash)
            out = slots[id(node)] if call.outputs is None else _slots(call.outputs, slots, trash)
            plan.append((members[id(call.layer)], in_slots, out, call.kwargs))
        object.__setattr__(self, "_steps", plan)
        object.__setattr__(self, "_step_nodes", step_nodes)
        object.__setattr__(self, "_size", trash + 1)
        object.__setattr__(self, "_out", tuple(slots[id(y)] for y in outs))
        object.__setattr__(self, "_single", single)

    # --- running ----------------------------------------------------------------------------
    def forward(self, *args: Any) -> Any:
        if len(args) != len(self.inputs):
            names = [x.name for x in self.inputs]
            raise TypeError(
                f"{self._title()} takes {len(self.inputs)} input(s) {names}, got {len(args)}; "
                f"pass one array or Tensor per input, in that order"
            )
        for i, (x, a) in enumerate(zip(self.inputs, args, strict=True)):
            _check_input(x, i, a, self._title())
        values: list[Any] = [None] * self._size
        values[: len(args)] = args
        step = None
        layers = self.__dict__
        try:
            for step in self._steps:
                name, in_slots, out, kwargs = step
                args = [values[i] if type(i) is int else _gather(values, i) for i in in_slots]
                y = layers[name](*args, **kwargs)
                if type(out) is int:
                    values[out] = y
                else:
                    _scatter(values, out, y)
        except Exception as err:
            self._explain(err, step)
            raise
        if self._single:
            return values[self._out[0]]
        return tuple(values[i] for i in self._out)

    def _explain(self, err: Exception, step: tuple | None) -> None:
        """Add to a failure inside the plan a note naming the node."""
        if step is None:
            return
        node = self._step_nodes[self._steps.index(step)]
        if hasattr(err, "add_note"):
            err.add_note(f"(in {self._title()}, node {node.name!r}, layer {node.layer!r})")

    def _title(self) -> str:
        return f"Graph {self.name!r}" if self.name is not None else "Graph"

    # --- looking at it ----------------------------------------------------------------------
    def summary(self) -> str:
        """A table of the nodes in order: layer, inputs, output shape, parameter count.

        A shared layer's (or parameter's) count appears once, at its first node.

        >>> from minigrad import nn
        >>> x = nn.Input((3,), name="x")
        >>> print(nn.Graph(x, nn.ReLU()(nn.Affine(3, 2)(x)), name="tiny").summary())
        Graph 'tiny'
        node     layer   inputs   output shape  params
        ----------------------------------------------
        x        Input            (None, 3)          0
        affine1  Affine  x        (None, 2)          8
        relu1    ReLU    affine1  (None, 2)          0
        ----------------------------------------------
        total parameters: 8
        """
        member = {id(layer): name for name, layer in self._members.items()}
        input_ids = {id(x) for x in self.inputs}
        rows = [("node", "layer", "inputs", "output shape", "params")]
        counted: set[int] = set()
        first_call: dict[int, _Call] = {}
        for node in self.nodes:
            if id(node) in input_ids:
                rows.append((node.name, "Input", "", node.shape_text, "0"))
                continue
            layer = node.layer
            kind = type(layer).__name__
            if first_call.setdefault(id(layer), node._call) is not node._call:
                kind = f"{kind} (shared: {member[id(layer)]})"
            count = 0
            for p in layer.parameters():
                if id(p) not in counted:
                    counted.add(id(p))
                    count += p.size
            parents = ", ".join(a.name for a in node.inputs)
            rows.append((node.name, kind, parents, node.shape_text, f"{count:,}"))
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        total = sum(p.size for p in self.parameters())
        rule = "-" * (sum(widths) + 8)

        def line(row: tuple[str, ...]) -> str:
            cells = [c.ljust(w) for c, w in zip(row[:4], widths, strict=False)]
            return "  ".join([*cells, row[4].rjust(widths[4])])

        body = [line(row) for row in rows]
        return "\n".join(
            [self._title(), body[0], rule, *body[1:], rule, f"total parameters: {total:,}"]
        )

    def to_dot(self) -> str:
        """Graphviz DOT text of the nodes and their connections (see ``minigrad.viz``)."""
        from minigrad.viz import to_dot

        return to_dot(self)

    def extra_repr(self) -> str:
        return f"name={self.name!r}" if self.name is not None else ""


def _slots(nodes: tuple, slots: dict[int, int], trash: int) -> tuple:
    """The (nested) tuple of value slots of (nested) nodes; a node no output needs gets
    ``trash``."""
    return tuple(
        slots.get(id(n), trash) if isinstance(n, Node) else _slots(n, slots, trash) for n in nodes
    )


def _gather(values: list, spec: tuple) -> tuple:
    return tuple(values[i] if type(i) is int else _gather(values, i) for i in spec)


def _scatter(values: list, spec: tuple, y: Any) -> None:
    for slot, value in zip(spec, y, strict=True):
        if type(slot) is int:
            values[slot] = value
        else:
            _scatter(values, slot, value)


def _sort(outs: list[Node], input_ids: set[int]) -> list[Node]:
    def parents(node: Node) -> tuple[Node, ...]:
        return () if id(node) in input_ids else node.inputs

    try:
        return toposort(outs, parents)
    except ValueError as err:
        raise ValueError(
            f"Graph: {err}; a node cannot depend on itself, so build the network by calling "
            f"layers on nodes only (do not change a node's inputs afterwards)"
        ) from None


def _owner(outs: list[Node], node: Node, input_ids: set[int]) -> str:
    """The label of the first output that reaches ``node``."""
    for y in outs:
        if any(n is node for n in _sort([y], input_ids)):
            return y._label()
    return "?"


def _name_nodes(
    order: list[Node], ins: list[Node], input_ids: set[int], members: dict[int, str]
) -> None:
    """Give every unnamed node a name: inputs by position, others by their layer's name."""
    for i, x in enumerate(ins):
        if x.name is None:
            x.name = f"input{i + 1}"
    calls: dict[int, int] = {}  # id(layer) -> calls seen so far
    numbered: dict[int, int] = {}  # id(call) -> its number among the layer's calls
    for node in order:
        if id(node) in input_ids:
            continue
        call = node._call
        key = id(call.layer)
        if id(call) not in numbered:
            calls[key] = calls.get(key, 0) + 1
            numbered[id(call)] = calls[key]
        if node.name is None:
            n = numbered[id(call)]
            base = members[key] if n == 1 else f"{members[key]}#{n}"
            path = (node.index,) if isinstance(node.index, int) else node.index or ()
            node.name = base + "".join(f"[{i}]" for i in path)
