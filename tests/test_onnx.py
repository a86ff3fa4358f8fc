"""mg.onnx: export checked by onnx.checker and onnxruntime; load checked against onnxruntime
on files written with onnx.helper, and against PyTorch on files torch.onnx.export wrote."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import minigrad as mg
from minigrad import nn

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BATCH = 5  # the example inputs' batch size; the files are run at 1, 5 and 7


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_file(path, *inputs):
    sess = session(path)
    feed = {arg.name: x for arg, x in zip(sess.get_inputs(), inputs, strict=True)}
    return sess.run(None, feed)


def close(got, want, rtol):
    """The largest difference, relative to the largest value of ``want``, is below rtol."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = max(float(np.abs(want).max()), 1e-30)
    worst = float(np.abs(got - want).max()) / scale
    assert worst <= rtol, f"relative difference {worst:.3g} > {rtol:g}"


def values(y):
    return [np.asarray(v) for v in (y if isinstance(y, tuple) else (y,))]


# --- models to export ----------------------------------------------------------------------
def mlp():
    rng = np.random.default_rng(0)
    return nn.Sequential(
        nn.Affine(6, 8, rng=rng),
        nn.ReLU(),
        nn.Affine(8, 8, rng=rng),
        nn.Sigmoid(),
        nn.Affine(8, 5, rng=rng),
        nn.Tanh(),
        nn.Dropout(0.5),
        nn.Affine(5, 3, rng=rng),
        nn.Softmax(),
    ), [(6,)]


def convnet():
    """Conv2d with stride and pad, 4-D and 2-D BatchNorm, padded strided pooling, two outputs."""
    rng = np.random.default_rng(1)
    x = nn.Input((2, 9, 9), name="image")
    h = nn.Conv2d(2, 4, 3, stride=2, pad=1, rng=rng)(x)
    h = nn.BatchNorm(4, momentum=0.8)(h)
    h = nn.ReLU()(h)
    h = nn.MaxPool2d(3, stride=2, pad=1)(h)
    h = nn.Conv2d(4, 3, (2, 1), rng=rng)(h)
    h = nn.Flatten()(h)
    h = nn.Affine(int(np.prod(h.shape)), 6, rng=rng)(h)
    h = nn.Dropout(0.3)(nn.BatchNorm(6)(h))
    scores = nn.Affine(6, 4, rng=rng)(nn.ReLU()(h))
    net = nn.Graph(x, [scores, nn.Softmax()(scores)], name="convnet")
    for _ in range(3):  # why: running statistics away from their 0 and 1
        net(rng.standard_normal((8, 2, 9, 9)) * 2 + 1)
    return net, [(2, 9, 9)]


def branches():
    """Two inputs, Add of three, Concat, a nested Sequential, a shared layer, N-D Affine."""
    rng = np.random.default_rng(2)
    a, b = nn.Input((3, 4), name="a"), nn.Input((3, 4), name="b")
    shared = nn.Affine(4, 4, rng=rng)
    block = nn.Sequential(nn.Affine(4, 4, rng=rng), nn.Tanh())
    total = nn.Add()(shared(a), shared(b), block(a))
    joined = nn.Concat(axis=2)(total, b)
    out = nn.Softmax(axis=1)(nn.Affine(8, 2, rng=rng)(joined))
    return nn.Graph([a, b], [out, total], name="branches"), [(3, 4), (3, 4)]


MODELS = {"mlp": mlp, "convnet": convnet, "branches": branches}


@pytest.mark.parametrize("name", MODELS)
def test_onnxruntime_computes_what_minigrad_does_at_other_batch_sizes(name, tmp_path):
    net, shapes = MODELS[name]()
    net.astype(np.float32)
    rng = np.random.default_rng(3)
    examples = [rng.standard_normal((BATCH, *s)).astype(np.float32) for s in shapes]
    path = tmp_path / f"{name}.onnx"
    mg.onnx.export(net, path, *examples)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    net.eval()
    for n in (1, BATCH, 7):
        xs = [rng.standard_normal((n, *s)).astype(np.float32) for s in shapes]
        got = run_file(path, *xs)
        want = values(net(*xs))
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert g.dtype == np.float32
            close(g, w, 1e-5)


def sequence_model():
    """Token ids -> Embedding -> LayerNorm -> Affine over (N, T, D) -> GELU -> Affine -> Softmax."""
    rng = np.random.default_rng(12)
    ids = nn.Input((6,), dtype=np.int64, name="ids")
    h = nn.LayerNorm(8, eps=1e-4)(nn.Embedding(11, 8, weight_init=1.0, rng=rng)(ids))
    h = nn.GELU()(nn.Affine(8, 8, rng=rng)(h))
    net = nn.Graph(ids, nn.Softmax()(nn.Affine(8, 4, rng=rng)(h)), name="tokens")
    net.layernorm1.gamma.data[...] = rng.uniform(0.5, 1.5, 8)  # why: not the identity's 1, 0
    net.layernorm1.beta.data[...] = rng.standard_normal(8)
    return net


def test_embedding_layernorm_and_gelu_export_and_run_in_onnxruntime(tmp_path):
    net = sequence_model().astype(np.float32)
    rng = np.random.default_rng(13)
    model = mg.onnx.export(net, tmp_path / "s.onnx", rng.integers(0, 11, (BATCH, 6)))
    ops = [node.op_type for node in model.graph.node]
    assert ops[:2] == ["Gather", "LayerNormalization"] and "Gelu" in ops
    assert model.opset_import[0].version == 20  # the opset with Gelu
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.INT64
    for n in (1, BATCH, 7):
        ids = rng.integers(0, 11, (n, 6))
        (got,) = run_file(tmp_path / "s.onnx", ids)
        close(got, net(ids).numpy(), 1e-5)
    again = mg.onnx.load(tmp_path / "s.onnx")
    assert kinds(again) == ["Embedding", "LayerNorm", "Affine", "GELU", "Affine", "Softmax"]
    assert again.layernorm1.eps == 1e-4
    ids = rng.integers(0, 11, (3, 6))
    close(again(ids).numpy(), net(ids).numpy(), 1e-6)


def test_a_model_without_gelu_keeps_opset_17(tmp_path):
    net, _ = mlp()
    model = mg.onnx.export(net, tmp_path / "m.onnx", np.zeros((1, 6)))
    assert model.opset_import[0].version == 17


def test_a_float64_model_is_written_in_float64(tmp_path):
    net, _ = mlp()
    x = np.random.default_rng(4).standard_normal((7, 6))
    mg.onnx.export(net, tmp_path / "net.onnx", x[:2])
    model = onnx.load(tmp_path / "net.onnx")
    assert {t.data_type for t in model.graph.initializer} == {TensorProto.DOUBLE}
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.DOUBLE
    (got,) = run_file(tmp_path / "net.onnx", x)
    assert got.dtype == np.float64
    close(got, net.eval()(x).numpy(), 1e-12)


def test_dtype_option_writes_a_float64_model_as_float32(tmp_path):
    net, _ = mlp()
    mg.onnx.export(net, tmp_path / "net.onnx", np.zeros((2, 6)), dtype=np.float32)
    model = onnx.load(tmp_path / "net.onnx")
    assert {t.data_type for t in model.graph.initializer} == {TensorProto.FLOAT}
    assert net.affine1.W.dtype == np.float64  # the model itself is not converted
    x = np.random.default_rng(5).standard_normal((3, 6))
    (got,) = run_file(tmp_path / "net.onnx", x.astype(np.float32))
    close(got, net.eval()(x).numpy(), 1e-5)


def test_inputs_and_outputs_keep_their_names_and_a_symbolic_batch_axis(tmp_path):
    net, shapes = branches()
    mg.onnx.export(net, tmp_path / "b.onnx", np.zeros((2, 3, 4)), np.zeros((2, 3, 4)))
    graph = onnx.load(tmp_path / "b.onnx").graph
    assert [v.name for v in graph.input] == ["a", "b"]
    assert [v.name for v in graph.output] == [y.name for y in net.outputs]
    for value in [*graph.input, *graph.output]:
        assert value.type.tensor_type.shape.dim[0].dim_param == "N"
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim[1:]] == [3, 4]
    assert [d.dim_value for d in graph.output[0].type.tensor_type.shape.dim[1:]] == [3, 2]
    # the shared Affine is one pair of initializers, under its state_dict name
    names = [t.name for t in graph.initializer]
    assert len(names) == len(set(names)) == len(net.state_dict())
    assert set(names) == set(net.state_dict())


def test_a_sequential_has_input_and_output(tmp_path):
    net, _ = mlp()
    model = mg.onnx.export(net, tmp_path / "m.onnx", np.zeros((2, 6)))
    assert [v.name for v in model.graph.input] == ["input"]
    assert [v.name for v in model.graph.output] == ["output"]
    ops = [node.op_type for node in model.graph.node]
    assert ops == ["Gemm", "Relu", "Gemm", "Sigmoid", "Gemm", "Tanh", "Identity", "Gemm"] + [
        "Softmax"
    ]


def test_export_restores_each_layers_mode_and_leaves_the_statistics(tmp_path):
    net, _ = convnet()
    net.train()
    net.dropout1.eval()  # a mixed state comes back as it was
    before = net.state_dict()
    mg.onnx.export(net, tmp_path / "c.onnx", np.ones((2, 2, 9, 9)))
    assert net.training and net.batchnorm1.training and not net.dropout1.training
    after = net.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)


def test_the_file_uses_the_running_statistics_not_the_batch(tmp_path):
    net, _ = convnet()
    net.astype(np.float32)
    x = np.random.default_rng(6).standard_normal((4, 2, 9, 9)).astype(np.float32)
    mg.onnx.export(net.train(), tmp_path / "c.onnx", x)
    got = run_file(tmp_path / "c.onnx", x)
    close(got[0], net.eval()(x)[0].numpy(), 1e-5)
    trained = net.train()(x)[0].numpy()  # batch statistics give other scores
    assert np.abs(got[0] - trained).max() > 1e-3


class Scale(nn.Layer):
    def forward(self, x):
        return x * 2.0


class NoisyAffine(nn.Affine):
    def forward(self, x):
        return super().forward(x) + 1.0


class PlainAffine(nn.Affine):
    """A subclass that only renames: it computes what Affine does, so it exports."""


def test_a_layer_with_its_own_forward_is_an_error_naming_it_and_the_node(tmp_path):
    x = nn.Input((3,), name="x")
    net = nn.Graph(x, Scale()(nn.Affine(3, 3, rng=0)(x)))
    with pytest.raises(ValueError, match=r"node 'scale1' \(Scale\(\)\).*forward of its own"):
        mg.onnx.export(net, tmp_path / "s.onnx", np.zeros((2, 3)))
    seq = nn.Sequential(NoisyAffine(3, 2, rng=0))
    with pytest.raises(ValueError, match="node 'noisyaffine1'.*NoisyAffine has a forward"):
        mg.onnx.export(seq, tmp_path / "n.onnx", np.zeros((2, 3)))
    assert not (tmp_path / "s.onnx").exists()
    ok = nn.Sequential(PlainAffine(3, 2, rng=0))
    model = mg.onnx.export(ok, tmp_path / "p.onnx", np.zeros((2, 3)))
    assert [node.op_type for node in model.graph.node] == ["Gemm"]


def test_a_training_graph_exports_once_it_ends_at_the_scores(tmp_path):
    x, t = nn.Input((4,), name="x"), nn.Input((), dtype=np.int64, name="t")
    scores = nn.Affine(4, 3, rng=0)(x)
    training = nn.Graph([x, t], nn.SoftmaxWithLoss()(scores, t))
    with pytest.raises(ValueError, match="training loss.*ends at the scores"):
        mg.onnx.export(training, tmp_path / "t.onnx", np.zeros((2, 4)), np.zeros(2, np.int64))
    inference = nn.Graph(x, scores)
    mg.onnx.export(inference, tmp_path / "i.onnx", np.zeros((2, 4)))
    data = np.random.default_rng(7).standard_normal((3, 4))
    (got,) = run_file(tmp_path / "i.onnx", data)
    close(got, inference(data).numpy(), 1e-12)


def test_bad_arguments_are_clear_errors(tmp_path):
    net, _ = mlp()
    with pytest.raises(TypeError, match="one example input per model input"):
        mg.onnx.export(net, tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="Sequential or nn.Graph"):
        mg.onnx.export(nn.Affine(2, 2), tmp_path / "m.onnx", np.zeros((1, 2)))
    with pytest.raises(ValueError, match="0-d"):
        mg.onnx.export(net, tmp_path / "m.onnx", np.float64(1.0))
    mixed = nn.Sequential(nn.Affine(2, 2), nn.Affine(2, 2, dtype=np.float32))
    with pytest.raises(TypeError, match="mix dtypes"):
        mg.onnx.export(mixed, tmp_path / "m.onnx", np.zeros((1, 2)))


def test_without_onnx_the_module_imports_and_calling_says_what_to_install():
    code = (
        "import sys; sys.modules['onnx'] = None\n"
        "import minigrad as mg, minigrad.onnx\n"
        "for call in (lambda: mg.onnx.load('x.onnx'), lambda: mg.onnx.export(None, 'x')):\n"
        "    try:\n"
        "        call()\n"
        "    except ImportError as err:\n"
        "        print(err)\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2
    assert all('pip install "minigrad-autograd[onnx]"' in line for line in lines)


# --- load: files written with onnx.helper, checked against onnxruntime --------------------
def make_model(nodes, inputs, outputs, weights=(), opset=17, check=True):
    """An ONNX model of ``nodes``; ``inputs``/``outputs`` are (name, shape) with a symbolic
    first axis ``N`` added (unless the shape starts with a name of its own; None is an unknown
    size); ``weights`` are (name, array) initializers."""

    def info(name, shape):
        dims = list(shape) if shape and isinstance(shape[0], str) else ["N", *shape]
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)

    graph = helper.make_graph(
        nodes,
        "made_with_helper",
        [info(*i) for i in inputs],
        [info(*o) for o in outputs],
        initializer=[numpy_helper.from_array(np.asarray(a), name) for name, a in weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8 if opset < 19 else 9
    if check:
        onnx.checker.check_model(model, full_check=True)
    return model


def weights(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def load_and_compare(model, tmp_path, *shapes, rtol=1e-5):
    """Load the model and check it computes what onnxruntime does, at batch 1 and 6."""
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    net = mg.onnx.load(path)
    rng = np.random.default_rng(8)
    for n in (1, 6):
        xs = [rng.standard_normal((n, *s)).astype(np.float32) for s in shapes]
        want = run_file(path, *xs)
        got = values(net(*xs))
        for g, w in zip(got, want, strict=True):
            assert g.dtype == np.float32
            close(g, w, rtol)
    return net


def kinds(net):
    return [type(node.layer).__name__ for node in net.nodes[1:]]


def test_gemm_with_alpha_beta_and_transposed_weight_is_an_affine(tmp_path):
    w, c = weights((3, 4), (1, 3))
    node = helper.make_node(
        "Gemm", ["x", "w", "c"], ["y"], name="fc", alpha=0.5, beta=2.0, transB=1
    )
    model = make_model([node], [("x", [4])], [("y", [3])], [("w", w), ("c", c)])
    net = load_and_compare(model, tmp_path, (4,))
    assert kinds(net) == ["Affine"]
    np.testing.assert_array_equal(net.affine1.W.data, 0.5 * w.T)
    assert isinstance(net.affine1.W, nn.Parameter) and net.affine1.W.data.flags.c_contiguous


def test_gemm_without_a_bias_is_an_affine_with_a_zero_bias(tmp_path):
    (w,) = weights((4, 3))
    node = helper.make_node("Gemm", ["x", "w"], ["y"], name="fc")
    net = load_and_compare(
        make_model([node], [("x", [4])], [("y", [3])], [("w", w)]), tmp_path, (4,)
    )
    np.testing.assert_array_equal(net.affine1.b.data, np.zeros(3, np.float32))
    assert isinstance(net.affine1.b, nn.Parameter)


def test_matmul_then_add_of_a_vector_is_one_affine_on_sequences(tmp_path):
    w, b = weights((4, 5), (5,))
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
        helper.make_node("Add", ["b", "h"], ["y"], name="bias"),
    ]
    model = make_model(nodes, [("x", [3, 4])], [("y", [3, 5])], [("w", w), ("b", b)])
    net = load_and_compare(model, tmp_path, (3, 4))
    assert kinds(net) == ["Affine"]
    assert sorted(net.state_dict()) == ["affine1.W", "affine1.b"]


def test_a_convnet_file_loads_as_the_same_layers(tmp_path):
    cw, cb, g, be, m, v, fw, fb = weights((4, 2, 3, 3), (4,), (4,), (4,), (4,), (4,), (36, 3), (3,))
    v = np.abs(v) + 0.5
    nodes = [
        helper.make_node(
            "Conv",
            ["x", "cw", "cb"],
            ["c"],
            name="conv",
            strides=[2, 2],
            pads=[1, 1, 1, 1],
            kernel_shape=[3, 3],
        ),
        helper.make_node(
            "BatchNormalization",
            ["c", "g", "be", "m", "v"],
            ["n"],
            name="bn",
            epsilon=1e-3,
            momentum=0.7,
        ),
        helper.make_node("Relu", ["n"], ["r"], name="relu"),
        helper.make_node(
            "MaxPool",
            ["r"],
            ["p"],
            name="pool",
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
        ),
        helper.make_node("Flatten", ["p"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["s"], name="fc"),
        helper.make_node("Softmax", ["s"], ["y"], name="softmax", axis=1),
    ]
    params = [("cw", cw), ("cb", cb), ("g", g), ("be", be), ("m", m), ("v", v)]
    model = make_model(nodes, [("x", [2, 6, 6])], [("y", [3])], params + [("fw", fw), ("fb", fb)])
    net = load_and_compare(model, tmp_path, (2, 6, 6))
    assert kinds(net) == ["Conv2d", "BatchNorm", "ReLU", "MaxPool2d", "Flatten", "Affine"] + [
        "Softmax"
    ]
    assert net.conv2d1.stride == (2, 2) and net.conv2d1.pad == (1, 1)
    # ONNX's default stride is 1 (minigrad's would be the kernel size)
    assert net.maxpool2d1.stride == (1, 1) and net.maxpool2d1.pad == (1, 1)
    assert net.batchnorm1.eps == 1e-3 and net.batchnorm1.momentum == pytest.approx(0.7)
    np.testing.assert_array_equal(net.batchnorm1.running_var, v)
    assert "batchnorm1.running_mean" in net.state_dict()
    assert "conv2d1" in net.summary() and "Conv2d" in net.summary()


def test_the_other_ops_load_and_compute_what_onnxruntime_does(tmp_path):
    w, k = weights((6, 6), (6,))
    shape = np.array([0, 3, 4], dtype=np.int64)
    one = helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])
    nodes = [
        helper.make_node("Sigmoid", ["x"], ["s"], name="sigmoid"),
        helper.make_node("Tanh", ["x"], ["t"], name="tanh"),
        helper.make_node("Add", ["s", "t"], ["a"], name="add"),
        helper.make_node("Constant", [], ["c1"], name="const", value=one),
        helper.make_node("Add", ["a", "c1"], ["a1"], name="add_const"),
        helper.make_node("Add", ["a1", "k"], ["a2"], name="add_weight"),
        helper.make_node("Identity", ["a2"], ["i"], name="identity"),
        helper.make_node("MatMul", ["i", "w"], ["m"], name="matmul"),
        helper.make_node("Concat", ["m", "i"], ["cat"], name="concat", axis=1),
        helper.make_node("Reshape", ["cat", "shape"], ["r"], name="reshape"),
        helper.make_node("MatMul", ["r", "r3"], ["mm"], name="matmul2"),
        helper.make_node("Flatten", ["mm"], ["f"], name="flatten", axis=2),
        helper.make_node("Gather", ["r", "idx"], ["g"], name="gather", axis=2),
        helper.make_node("Softmax", ["g"], ["y"], name="softmax", axis=1),
    ]
    r3 = helper.make_node("Reshape", ["cat", "shape3"], ["r3"], name="reshape3")
    nodes.insert(10, r3)
    params = [
        ("w", w),
        ("k", k),
        ("shape", shape),
        ("shape3", np.array([-1, 4, 3], dtype=np.int64)),
        ("idx", np.array([2, 0], dtype=np.int64)),
    ]
    model = make_model(nodes, [("x", [6])], [("y", [3, 2]), ("f", ("M", 3))], params)
    net = load_and_compare(model, tmp_path, (6,))
    assert "AddConstant" in kinds(net) and "Reshape" in kinds(net) and "Gather" in kinds(net)
    assert [v.name for v in net.outputs] == ["y", "f"]
    # the initializer added is learned, the Constant node's value is not
    params = dict(net.named_parameters())
    assert "addconstant2.value" in params and "addconstant1.value" not in params
    assert "addconstant1.value" in net.state_dict()


def test_embedding_layernorm_and_gelu_files_load(tmp_path):
    table, gamma, beta, w = weights((9, 4), (4,), (4,), (4, 2), seed=14)
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["e"], name="embed"),
        helper.make_node("LayerNormalization", ["e", "gamma", "beta"], ["n"], epsilon=1e-3),
        helper.make_node("Gelu", ["n"], ["g"], name="gelu", approximate="tanh"),
        helper.make_node("MatMul", ["g", "w"], ["y"], name="head"),
    ]
    params = [("table", table), ("gamma", gamma), ("beta", beta), ("w", w)]
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 2])
    initializers = [numpy_helper.from_array(a, name) for name, a in params]
    graph = helper.make_graph(nodes, "tokens", [ids], [y], initializer=initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, tmp_path / "t.onnx")
    net = mg.onnx.load(tmp_path / "t.onnx")
    assert kinds(net) == ["Embedding", "LayerNorm", "GELU", "Affine"]
    np.testing.assert_array_equal(net.embedding1.W.data, table)
    for n in (1, 6):
        x = np.random.default_rng(n).integers(0, 9, (n, 3))
        (want,) = run_file(tmp_path / "t.onnx", x)
        close(net(x).numpy(), want, 1e-5)


def one_node(
    op_type, inputs=("x",), weights=(), check=True, shape=(2, 6, 6), rank=4, opset=17, **kw
):
    """A model of one node named ``the_node`` on an input ``x`` (N, 2, 6, 6) by default."""
    node = helper.make_node(op_type, list(inputs), ["y"], name="the_node", **kw)
    y = ("y", [None] * (rank - 1))
    return make_model([node], [("x", list(shape))], [y], weights, opset=opset, check=check)


UNSUPPORTED = {
    "group": (
        dict(op_type="Conv", inputs=("x", "w"), group=2),
        [("w", np.ones((4, 1, 3, 3), np.float32))],
        r"'the_node' \(op Conv\).*group=2",
    ),
    "dilations": (
        dict(op_type="Conv", inputs=("x", "w"), dilations=[2, 2]),
        [("w", np.ones((4, 2, 3, 3), np.float32))],
        r"'the_node' \(op Conv\).*dilations",
    ),
    "asymmetric pads": (
        dict(op_type="Conv", inputs=("x", "w"), pads=[1, 1, 0, 0]),
        [("w", np.ones((4, 2, 3, 3), np.float32))],
        r"'the_node' \(op Conv\).*pads=\[1, 1, 0, 0\]",
    ),
    "auto_pad": (
        dict(op_type="Conv", inputs=("x", "w"), auto_pad="SAME_UPPER"),
        [("w", np.ones((4, 2, 3, 3), np.float32))],
        r"'the_node' \(op Conv\).*auto_pad='SAME_UPPER'",
    ),
    "1-d conv": (
        dict(op_type="Conv", inputs=("x", "w"), shape=(2, 6), rank=3),
        [("w", np.ones((4, 2, 3), np.float32))],
        r"'the_node' \(op Conv\).*only 2-D convolutions",
    ),
    "ceil_mode": (
        dict(op_type="MaxPool", kernel_shape=[2, 2], ceil_mode=1),
        [],
        r"'the_node' \(op MaxPool\).*ceil_mode=1",
    ),
    "op": (dict(op_type="Erf"), [], r"'the_node' \(op Erf\) is not supported"),
    "fixed batch": (
        dict(op_type="Reshape", inputs=("x", "s"), rank=2),
        [("s", np.array([1, 72], dtype=np.int64))],
        r"'the_node' \(op Reshape\).*fixes the batch axis",
    ),
    "training_mode": (
        dict(
            op_type="BatchNormalization",
            inputs=("x", "g", "g", "g", "g"),
            training_mode=1,
            check=False,
        ),
        [("g", np.ones(2, np.float32))],
        r"'the_node' \(op BatchNormalization\).*training_mode=1",
    ),
    "transA": (
        dict(op_type="Gemm", inputs=("x", "w"), transA=1, check=False, rank=2),
        [("w", np.ones((2, 2), np.float32))],
        r"'the_node' \(op Gemm\).*transA=1",
    ),
    "computed weight": (
        dict(op_type="Conv", inputs=("x", "x")),
        [],
        r"'the_node' \(op Conv\).*input 1 \('x'\) must be a constant",
    ),
    "erf gelu": (
        dict(op_type="Gelu", approximate="none", opset=20),
        [],
        r"'the_node' \(op Gelu\).*approximate='none' is not supported",
    ),
    "layernorm axis": (
        dict(op_type="LayerNormalization", inputs=("x", "g"), axis=1),
        [("g", np.ones((2, 6, 6), np.float32))],
        r"'the_node' \(op LayerNormalization\).*last axis only",
    ),
    "attribute": (
        dict(op_type="Relu", alpha=1.0, check=False),
        [],
        r"'the_node' \(op Relu\).*attribute 'alpha' is not supported",
    ),
}


@pytest.mark.parametrize("case", UNSUPPORTED)
def test_unsupported_ops_and_attributes_are_errors_naming_the_op_and_the_node(case):
    settings, params, message = UNSUPPORTED[case]
    model = one_node(weights=params, **settings)
    with pytest.raises(ValueError, match=message):
        mg.onnx.load(model)


def two_gemm_model():
    """A 4-8-3 ReLU network as torch.onnx.export writes it (Gemm with transB), and w1."""
    w1, b1, w2, b2 = weights((8, 4), (8,), (3, 8), (3,), seed=9)
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["scores"], transB=1),
    ]
    params = [("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2)]
    return make_model(nodes, [("x", [4])], [("scores", [3])], params), w1


def test_a_loaded_model_fine_tunes(tmp_path):
    model, w1 = two_gemm_model()
    net = mg.onnx.load(model).train()
    assert all(isinstance(p, nn.Parameter) for p in net.parameters())
    rng = np.random.default_rng(10)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    t = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    loss_layer = nn.SoftmaxWithLoss()
    opt = mg.optim.Adam(net.parameters(), lr=0.01)
    losses = []
    for _ in range(30):
        loss = loss_layer(net(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    assert not np.array_equal(net.affine1.W.data, w1.T)


def test_a_loaded_model_trains_under_mg_compile_as_it_does_eagerly():
    model, _ = two_gemm_model()
    nets = [mg.onnx.load(model).train() for _ in range(2)]
    loss_layer = nn.SoftmaxWithLoss()
    opts = [mg.optim.SGD(net.parameters(), lr=0.1, momentum=0.9) for net in nets]

    def step_of(net, opt):
        def step(x, t):
            opt.zero_grad()
            loss = loss_layer(net(x), t)
            loss.backward()
            opt.step()
            return loss

        return step

    eager, compiled = step_of(nets[0], opts[0]), mg.compile(step_of(nets[1], opts[1]))
    rng = np.random.default_rng(12)
    for _ in range(4):
        x = rng.standard_normal((16, 4)).astype(np.float32)
        t = rng.integers(0, 3, 16)
        close(compiled(x, t).numpy(), eager(x, t).numpy(), 1e-5)
    for a, b in zip(nets[0].parameters(), nets[1].parameters(), strict=True):
        close(b.data, a.data, 1e-5)
    assert "np." in compiled.source


def test_minigrad_to_onnx_to_minigrad_keeps_values_and_state_dict_names(tmp_path):
    net, _ = convnet()
    net.astype(np.float32)
    x = np.random.default_rng(11).standard_normal((3, 2, 9, 9)).astype(np.float32)
    mg.onnx.export(net, tmp_path / "c.onnx", x)
    again = mg.onnx.load(tmp_path / "c.onnx")
    for got, want in zip(again(x), net.eval()(x), strict=True):
        close(got.numpy(), want.numpy(), 1e-6)
    assert set(again.state_dict()) == set(net.state_dict())
    again.load_state_dict(net.state_dict())
    assert [y.name for y in again.outputs] == [y.name for y in net.outputs]


# --- PyTorch as the outside oracle ----------------------------------------------------------
def torch_export(module, example, path, dynamic=True, opset=20, **options):
    torch = pytest.importorskip("torch")
    names = {"input_names": ["x"], "output_names": ["y"], "opset_version": opset, **options}
    if dynamic:
        names["dynamic_axes"] = {"x": {0: "batch"}, "y": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # why: the TorchScript exporter warns it is legacy
        with torch.no_grad():
            torch.onnx.export(module, (example,), str(path), dynamo=False, **names)


def test_torch_exported_convnet_loads_and_matches_torch(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 3, stride=1, padding=1),
        torch.nn.ReLU(),
        torch.nn.BatchNorm2d(6, momentum=0.2),  # after the ReLU, so torch does not fold it
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(6 * 4 * 4, 16),
        torch.nn.BatchNorm1d(16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 10),
        torch.nn.Softmax(dim=1),
    )
    module.train()
    for _ in range(3):
        module(torch.randn(16, 1, 8, 8) * 2 + 1)
    module.eval()
    torch_export(module, torch.randn(2, 1, 8, 8), tmp_path / "t.onnx")
    net = mg.onnx.load(tmp_path / "t.onnx")
    assert kinds(net) == [
        "Conv2d",
        "ReLU",
        "BatchNorm",
        "MaxPool2d",
        "Flatten",
        "Affine",
        "BatchNorm",
        "ReLU",
        "Affine",
        "Softmax",
    ]
    assert net.batchnorm1.momentum == pytest.approx(0.8)  # torch's 0.2, the other convention
    for n in (1, 5):
        x = torch.randn(n, 1, 8, 8)
        with torch.no_grad():
            want = module(x).numpy()
        close(net(x.numpy()).numpy(), want, 1e-5)


@pytest.mark.parametrize("opset", [17, 20])
def test_torch_exported_sequence_model_loads_and_matches_torch(opset, tmp_path):
    """Before opset 20 torch writes GELU as Mul, Add and Tanh: those load as small layers."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(2)
    module = torch.nn.Sequential(
        torch.nn.Embedding(11, 8),
        torch.nn.LayerNorm(8),
        torch.nn.Linear(8, 8),
        torch.nn.GELU(approximate="tanh"),
        torch.nn.Linear(8, 3),
    ).eval()
    with torch.no_grad():
        module[1].weight.uniform_(0.5, 1.5)
        module[1].bias.normal_()
    torch_export(module, torch.randint(0, 11, (2, 5)), tmp_path / "t.onnx", opset=opset)
    net = mg.onnx.load(tmp_path / "t.onnx")
    assert kinds(net)[:3] == ["Embedding", "LayerNorm", "Affine"]
    assert ("GELU" in kinds(net)) == (opset >= 20)
    ids = torch.randint(0, 11, (4, 5))
    with torch.no_grad():
        close(net(ids.numpy()).numpy(), module(ids).numpy(), 1e-5)


def test_torch_file_with_a_fixed_batch_of_one_runs_at_any_batch(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    module = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    # the old layout, with every initializer listed among the graph's inputs too
    path = tmp_path / "t.onnx"
    old_layout = {"opset": 11, "keep_initializers_as_inputs": True}
    torch_export(module.eval(), torch.randn(1, 5), path, dynamic=False, **old_layout)
    assert len(onnx.load(path).graph.input) > 1
    net = mg.onnx.load(path)
    assert [x.name for x in net.inputs] == ["x"]
    x = torch.randn(9, 5)
    with torch.no_grad():
        close(net(x.numpy()).numpy(), module(x).numpy(), 1e-5)


# --- the example ----------------------------------------------------------------------------
def figure(text, label):
    match = re.search(rf"^{label}\s+([-+0-9.eE]+)", text, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{text}"
    return float(match.group(1))


def test_example_runs_both_ways_and_the_predictions_agree(tmp_path):
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "onnx_roundtrip.py"), "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    out = done.stdout
    assert figure(out, "predictions agree") == 1.0
    assert figure(out, "largest relative score difference") <= 1e-5
    assert figure(out, "test accuracy minigrad") == figure(out, "test accuracy onnxruntime")
    assert figure(out, "test accuracy minigrad") > 0.5
    assert figure(out, "as loaded, largest relative difference from onnxruntime") <= 1e-5
    assert figure(out, "fine-tuning loss last epoch") < figure(out, "fine-tuning loss first epoch")
    before = figure(out, "test accuracy before fine-tuning")
    assert figure(out, "test accuracy after fine-tuning") > before + 0.3
    assert re.search(r"onnxruntime differs by ([0-9.e+-]+)", out)
    assert float(re.search(r"onnxruntime differs by ([0-9.e+-]+)", out).group(1)) <= 1e-5
    files = {"simple_convnet.onnx", "foreign_mlp.onnx", "foreign_mlp_tuned.onnx"}
    assert files <= {p.name for p in tmp_path.iterdir()}
    onnx.checker.check_model(onnx.load(tmp_path / "simple_convnet.onnx"))


def test_nested_graph_with_two_outputs_and_an_output_listed_twice(tmp_path):
    rng = np.random.default_rng(15)
    inner_x = nn.Input((4,), name="u")
    hidden = nn.Tanh()(nn.Affine(4, 4, rng=rng)(inner_x))
    inner = nn.Graph(inner_x, [hidden, nn.Sigmoid()(hidden)], name="block")
    x = nn.Input((4,), name="x")
    first, second = inner(x)
    out = nn.Concat()(first, second)
    net = nn.Graph(x, [out, out, first, x], name="outer").astype(np.float32)
    model = mg.onnx.export(net, tmp_path / "n.onnx", np.ones((2, 4)))
    names = [v.name for v in model.graph.output]
    assert names[0] == "concat1" and names[3] != "x" and len(set(names)) == 4
    data = rng.standard_normal((3, 4)).astype(np.float32)
    for got, want in zip(run_file(tmp_path / "n.onnx", data), net(data), strict=True):
        close(got, np.asarray(want), 1e-6)


def test_a_dropout_node_loads_as_dropout_the_identity_until_train(tmp_path):
    ratio = numpy_helper.from_array(np.array(0.25, np.float32), "ratio")
    nodes = [
        helper.make_node("Constant", [], ["ratio"], name="r", value=ratio),
        helper.make_node("Dropout", ["x", "ratio"], ["y"], name="drop"),
    ]
    model = make_model(nodes, [("x", [50])], [("y", [50])])
    net = load_and_compare(model, tmp_path, (50,))
    assert kinds(net) == ["Dropout"] and net.dropout1.p == 0.25
    x = np.ones((4, 50), np.float32)
    kept = net.train()(x).numpy()
    assert set(np.unique(kept)) == {0.0, np.float32(1 / 0.75)}


@st.composite
def window(draw, size):
    """A (kernel, stride, pad) triple, each a (height, width) pair, that fits ``size``."""
    kernel = tuple(draw(st.integers(1, min(3, s))) for s in size)
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pad = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    return kernel, stride, pad


@given(data=st.data())
@settings(deadline=None)
def test_any_conv_and_pool_geometry_exports_and_loads_exactly(data, tmp_path_factory):
    size = (data.draw(st.integers(3, 9), "H"), data.draw(st.integers(3, 9), "W"))
    kernel, stride, pad = data.draw(window(size), "conv")
    conv = nn.Conv2d(2, 3, kernel, stride=stride, pad=pad, dtype=np.float32, rng=0)
    parts = zip(size, kernel, stride, pad, strict=True)
    after = [(n + 2 * p - k) // step + 1 for n, k, step, p in parts]
    pool_kernel, pool_stride, pool_pad = data.draw(window(after), "pool")
    net = nn.Sequential(conv, nn.MaxPool2d(pool_kernel, stride=pool_stride, pad=pool_pad))
    x = np.random.default_rng(16).standard_normal((2, 2, *size)).astype(np.float32)
    path = tmp_path_factory.mktemp("geometry") / "g.onnx"
    mg.onnx.export(net, path, x)
    (got,) = run_file(path, x)
    want = net(x).numpy()
    close(got, want, 1e-5)
    again = mg.onnx.load(path)
    assert again.conv2d1.stride == stride and again.conv2d1.pad == pad
    assert again.maxpool2d1.kernel_size == pool_kernel and again.maxpool2d1.pad == pool_pad
    np.testing.assert_array_equal(again(x).numpy(), want)
