"""nn.Graph: the same numbers as a Sequential, sharing, branches, several inputs and
outputs, nesting, naming, the summary, and every error found when a graph is built."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functional as F
import minigrad.nn as nn
from minigrad.testing import arrays, assert_layer_grads_match

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def _chain(x, *layers):
    for layer in layers:
        x = layer(x)
    return x


def _grads(net):
    return {name: p.grad.copy() for name, p in net.named_parameters()}


# --- the same numbers as hand-written code ---------------------------------------------------
@settings(deadline=None)
@given(x=arrays((3, 4)), seed=st.integers(0, 2**32 - 1))
def test_graph_and_sequential_give_identical_outputs_and_gradients(x, seed):
    rng = np.random.default_rng(seed)
    layers = [nn.Affine(4, 5, rng=rng), nn.Tanh(), nn.Affine(5, 2, rng=rng), nn.Sigmoid()]
    seq = nn.Sequential(*layers)
    inp = nn.Input((4,))
    graph = nn.Graph(inp, _chain(inp, *layers))
    assert [n for n, _ in graph.named_parameters()] == [n for n, _ in seq.named_parameters()]

    seq.zero_grad()
    y_seq = seq(x)
    y_seq.sum().backward()
    expected = _grads(seq)
    graph.zero_grad()
    y_graph = graph(x)
    y_graph.sum().backward()
    np.testing.assert_array_equal(y_graph.data, y_seq.data)
    for name, g in _grads(graph).items():
        np.testing.assert_array_equal(g, expected[name])


@settings(deadline=None)
@given(x=arrays((2, 3)), seed=st.integers(0, 2**32 - 1))
def test_graph_grads_match_numerical(x, seed):
    rng = np.random.default_rng(seed)
    inp = nn.Input((3,))
    h = nn.Tanh()(nn.Affine(3, 4, rng=rng)(inp))
    out = nn.Concat()(nn.Affine(4, 2, rng=rng)(h), nn.Sigmoid()(h))
    assert_layer_grads_match(nn.Graph(inp, out), x)


def test_a_shared_layer_receives_the_summed_gradient():
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    shared = nn.Affine(3, 3, rng=0)
    inp = nn.Input((3,))
    net = nn.Graph(inp, shared(nn.Tanh()(shared(inp))))
    assert [n for n, _ in net.named_parameters()] == ["affine1.W", "affine1.b"]
    net(x).sum().backward()

    first, second = nn.Affine(3, 3), nn.Affine(3, 3)  # the same weights, as two layers
    for copy in (first, second):
        copy.load_state_dict(shared.state_dict())
    inp = nn.Input((3,))
    twins = nn.Graph(inp, second(nn.Tanh()(first(inp))))
    twins(x).sum().backward()
    np.testing.assert_allclose(shared.W.grad, first.W.grad + second.W.grad, rtol=1e-12)
    np.testing.assert_allclose(shared.b.grad, first.b.grad + second.b.grad, rtol=1e-12)
    assert_layer_grads_match(net, x)


def test_a_skip_connection_backpropagates_into_both_branches():
    x = np.linspace(-1, 1, 8).reshape(2, 4)
    inp = nn.Input((4,))
    h = nn.Affine(4, 4, rng=0)(inp)
    branch = nn.Affine(4, 4, rng=1)
    out = nn.Add()(h, branch(nn.Tanh()(h)))
    net = nn.Graph(inp, out)
    assert_layer_grads_match(net, x)

    xt = mg.Tensor(x, requires_grad=True)
    net(xt).sum().backward()
    with_branch = xt.grad.copy()
    assert np.any(branch.W.grad) and np.any(branch.b.grad)
    branch.W.data[...] = 0  # the skip alone: dL/dx = sum of W over outputs
    xt.grad = None
    net(xt).sum().backward()
    np.testing.assert_allclose(xt.grad, np.tile(net.affine1.W.data.sum(axis=1), (2, 1)))
    assert not np.allclose(with_branch, xt.grad)


# --- several inputs and outputs ----------------------------------------------------------------
def _book_net(hidden=50, inputs=784, classes=10):
    x = nn.Input((inputs,), name="x")
    t = nn.Input((), dtype=np.int64, name="t")
    scores = nn.Affine(hidden, classes, rng=1)(nn.ReLU()(nn.Affine(inputs, hidden, rng=0)(x)))
    loss = nn.SoftmaxWithLoss()(scores, t)
    return x, t, scores, loss


def test_data_and_labels_flow_into_the_loss_and_several_outputs_come_back():
    x, t, scores, loss = _book_net(hidden=5, inputs=6, classes=3)
    net = nn.Graph([x, t], [scores, loss])
    data = np.linspace(-1, 1, 12).reshape(2, 6)
    labels = np.array([2, 0])
    y, value = net(data, labels)
    assert y.shape == (2, 3) and value.shape == ()
    assert float(value.data) == pytest.approx(float(F.softmax_cross_entropy(y, labels).data))
    assert loss.shape == () and not loss.batched and scores.shape_text == "(None, 3)"
    value.backward()
    assert all(p.grad is not None for p in net.parameters())
    (only,) = nn.Graph([x, t], [loss])(data, labels)  # a list of outputs gives a tuple
    assert float(only.data) == float(value.data)


def test_one_hot_rows_work_as_an_input_too():
    x = nn.Input((3,))
    t = nn.Input((3,))
    net = nn.Graph([x, t], nn.SoftmaxWithLoss()(nn.Affine(3, 3, rng=0)(x), t))
    value = net(np.ones((2, 3)), np.eye(3)[[0, 2]])
    assert value.shape == () and np.isfinite(value.data)


def test_a_layer_with_several_outputs_feeds_its_nodes_and_drops_unused_ones():
    class Split(nn.Layer):
        def forward(self, x):
            return x[:, :2], x[:, 2:], x * 2

    x = nn.Input((5,))
    first, second, _unused = Split()(x)
    assert (first.shape, second.shape) == ((2,), (3,))
    net = nn.Graph(x, [nn.Tanh()(second), first])
    assert [n.name for n in net.nodes] == ["input1", "split1[1]", "tanh1", "split1[0]"]
    a, b = net(np.arange(10.0).reshape(2, 5))
    np.testing.assert_allclose(a.data, np.tanh([[2.0, 3, 4], [7, 8, 9]]))
    np.testing.assert_array_equal(b.data, [[0.0, 1], [5, 6]])


def _seq2seq():
    src, tgt = nn.Input((6, 4), name="src"), nn.Input((5, 4), name="tgt")
    encoder, decoder = nn.LSTM(4, 3, rng=0), nn.LSTM(4, 3, rng=1)
    _, state = encoder(src, return_state=True)
    ys, (h, c) = decoder(tgt, state, return_state=True)
    return nn.Graph([src, tgt], [ys, c], name="seq2seq"), encoder, decoder


def test_an_lstm_state_on_nodes_is_a_pair_of_batched_nodes():
    x = nn.Input((6, 4))
    hs, state = nn.LSTM(4, 3, rng=0)(x, return_state=True)
    h, c = state
    assert [hs.shape_text, h.shape_text, c.shape_text] == ["(None, 6, 3)", "(None, 3)", "(None, 3)"]
    net = nn.Graph(x, [c, hs])
    assert [n.name for n in net.nodes] == ["input1", "lstm1[1][1]", "lstm1[0]"]


def test_an_encoders_state_starts_a_decoder_in_a_graph_as_it_does_eagerly():
    net, encoder, decoder = _seq2seq()
    rng = np.random.default_rng(0)
    src, tgt = rng.normal(size=(2, 6, 4)), rng.normal(size=(2, 5, 4))
    ys, c = net(src, tgt)
    _, state = encoder(src, return_state=True)
    eager_ys, (_, eager_c) = decoder(tgt, state, return_state=True)
    np.testing.assert_array_equal(np.asarray(ys), np.asarray(eager_ys))
    np.testing.assert_array_equal(np.asarray(c), np.asarray(eager_c))
    (ys.sum() + c.sum()).backward()
    graph_grads = [p.grad.copy() for p in net.parameters()]
    net.zero_grad()
    (eager_ys.sum() + eager_c.sum()).backward()
    for got, p in zip(graph_grads, net.parameters(), strict=True):
        np.testing.assert_allclose(got, p.grad, rtol=1e-12)
    assert np.abs(encoder.Wx.grad).sum() > 0  # the decoder's loss reaches the encoder


def test_summary_and_to_dot_show_the_items_of_a_nested_output():
    net, _, _ = _seq2seq()
    text = net.summary()
    assert "lstm1[1][0]  LSTM" in text and "tgt, lstm1[1][0], lstm1[1][1]" in text
    assert "total parameters: 192" in text
    assert '"lstm1[1][1]\\nLSTM\\n(None, 3)"' in net.to_dot()


def test_a_layer_output_a_graph_cannot_represent_is_refused_naming_where():
    class Odd(nn.Layer):
        def __init__(self, extra):
            super().__init__()
            self.extra = extra

        def forward(self, x):
            return x, (x, self.extra(x))

    x = nn.Input((2,))
    with pytest.raises(TypeError, match=r"returned dict at \[1\]\[1\].*nested\) tuple"):
        Odd(lambda x: {"a": x})(x)
    with pytest.raises(TypeError, match=r"returned NoneType at \[1\]\[1\]"):
        Odd(lambda x: None)(x)
    with pytest.raises(TypeError, match=r"returned ndarray of dtype <U1 at \[1\]\[1\]"):
        Odd(lambda x: np.array(["a"]))(x)


def test_a_layer_called_on_a_tuple_of_nodes_alone_builds_a_node():
    class PairSum(nn.Layer):
        def forward(self, pair):
            a, b = pair
            return a + b

    x, y = nn.Input((2,)), nn.Input((2,))
    net = nn.Graph([x, y], PairSum()((x, y)))
    np.testing.assert_array_equal(np.asarray(net(np.ones((3, 2)), np.full((3, 2), 2.0))), 3.0)


def test_nodes_go_in_positionally_and_a_tuple_argument_holds_only_nodes():
    x, h = nn.Input((5, 4)), nn.Input((3,))
    with pytest.raises(TypeError, match=r"by keyword \(state=\.\.\.\).*layer\(x, state\)"):
        nn.LSTM(4, 3)(x, state=(h, h))
    with pytest.raises(TypeError, match=r"argument 1\).*tuple of nodes"):
        nn.LSTM(4, 3)(x, (h, np.zeros((2, 3))))


# --- nesting and naming ----------------------------------------------------------------------
def test_graphs_nest_in_graphs_and_sequentials():
    x = nn.Input((3,))
    block = nn.Graph(x, nn.ReLU()(nn.Affine(3, 3, rng=0)(x)), name="block")
    outer_in = nn.Input((3,))
    outer = nn.Graph(outer_in, nn.Affine(3, 1, rng=1)(block(block(outer_in))))
    assert [n for n, _ in outer.named_parameters()] == [
        "block.affine1.W",
        "block.affine1.b",
        "affine1.W",
        "affine1.b",
    ]
    data = np.linspace(-1, 1, 6).reshape(2, 3)
    expected = outer.affine1(block(block(data)))
    np.testing.assert_array_equal(outer(data).data, expected.data)
    seq = nn.Sequential(block, nn.Affine(3, 1))
    assert seq(data).shape == (2, 1)
    assert [n for n, _ in seq.named_layers()][1:3] == ["graph1", "graph1.affine1"]
    assert_layer_grads_match(outer, data)
    seq_in = nn.Input((3,))
    around = nn.Graph(seq_in, nn.Tanh()(seq(seq_in)))
    assert [n for n, _ in around.named_parameters()][-2:] == [
        "sequential1.affine1.W",
        "sequential1.affine1.b",
    ]
    np.testing.assert_allclose(around(data).data, np.tanh(seq(data).data))


def test_a_graph_with_several_outputs_nests_as_a_layer_with_several_outputs():
    x = nn.Input((4,))
    h = nn.Affine(4, 2, rng=0)(x)
    pair = nn.Graph(x, [h, nn.ReLU()(h)], name="pair")
    y = nn.Input((4,))
    a, b = pair(y)
    net = nn.Graph(y, nn.Add()(a, b))
    data = np.linspace(-2, 2, 8).reshape(2, 4)
    direct = pair(data)
    np.testing.assert_allclose(net(data).data, (direct[0] + direct[1]).data)
    assert [n.name for n in net.nodes] == ["input1", "pair[0]", "pair[1]", "add1"]


def test_names_come_from_kinds_or_from_the_user_and_are_registered_once():
    x = nn.Input((2,), name="pixels")
    act = nn.ReLU()
    named = nn.Affine(2, 2, rng=0)
    named.name = "encoder"
    h = act(nn.Affine(2, 2, rng=1)(act(named(x))))
    net = nn.Graph(x, h)
    assert [n.name for n in net.nodes] == ["pixels", "encoder", "relu1", "affine1", "relu1#2"]
    assert list(net._members) == ["encoder", "relu1", "affine1"]
    assert net.encoder is named and net.relu1 is act


def test_nodes_come_in_a_deterministic_topological_order():
    def build():
        x = nn.Input((3,))
        left = nn.Tanh()(x)
        right = nn.Sigmoid()(x)
        return nn.Graph(x, nn.Concat()(left, nn.Add()(right, left)))

    first, second = build(), build()
    names = [n.name for n in first.nodes]
    assert names == [n.name for n in second.nodes]
    position = {n.name: i for i, n in enumerate(first.nodes)}
    for node in first.nodes:
        assert all(position[a.name] < position[node.name] for a in node.inputs)


def test_an_inner_node_can_be_the_input_of_another_graph():
    x = nn.Input((3,))
    code = nn.Affine(3, 2, rng=0)(x)
    decoded = nn.Affine(2, 3, rng=1)(code)
    whole = nn.Graph(x, decoded)
    decoder = nn.Graph(code, decoded)
    assert [n for n, _ in decoder.named_parameters()] == ["affine1.W", "affine1.b"]
    data = np.ones((2, 3))
    np.testing.assert_allclose(decoder(whole.affine1(data)).data, whole(data).data)


def test_building_leaves_modes_and_state_alone():
    class Probe(nn.Layer):
        def __init__(self):
            super().__init__()
            self.register_buffer("calls", np.zeros(()))
            self.modes = []

        def forward(self, x):
            self.modes.append(self.training)
            self.calls = self.calls + 1
            return x

    probe = Probe()
    x = nn.Input((2,))
    net = nn.Graph(x, probe(x))
    # built with two dummy batch sizes, both in eval mode, state restored
    assert probe.modes == [False, False] and probe.training and float(probe.calls) == 0
    net(np.ones((1, 2)))
    assert probe.modes == [False, False, True] and float(probe.calls) == 1
    assert net.eval() is net and not probe.training


def test_building_leaves_batchnorm_statistics_and_dropout_alone():
    bn, drop = nn.BatchNorm(4), nn.Dropout(0.5, rng=0)
    before = bn.state_dict()
    x = nn.Input((4,))
    net = nn.Graph(x, drop(bn(x)))
    for name, value in bn.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    assert bn.training and drop.training
    twin = nn.Sequential(nn.BatchNorm(4), nn.Dropout(0.5, rng=0))
    data = np.linspace(-1, 1, 12).reshape(3, 4)
    np.testing.assert_array_equal(net(data).data, twin(data).data)  # the same first mask


def test_state_dict_round_trip_through_a_graph():
    x, t, _, loss = _book_net(hidden=4, inputs=3, classes=2)
    net = nn.Graph([x, t], loss)
    state = net.state_dict()
    assert list(state) == ["affine1.W", "affine1.b", "affine2.W", "affine2.b"]
    x2, t2, _, loss2 = _book_net(hidden=4, inputs=3, classes=2)
    other = nn.Graph([x2, t2], loss2)
    for p in other.parameters():
        p.data[...] = 0
    other.load_state_dict(state)
    data, labels = np.ones((2, 3)), np.array([0, 1])
    assert float(other(data, labels).data) == float(net(data, labels).data)


# --- the summary -----------------------------------------------------------------------------
def test_summary_counts_the_books_784_50_10_net():
    x, t, scores, loss = _book_net()
    text = nn.Graph([x, t], [scores, loss], name="two_layer_net").summary()
    rows = {line.split()[0]: line for line in text.splitlines()}
    assert rows["affine1"].endswith(" 39,250") and "(None, 50)" in rows["affine1"]
    assert rows["affine2"].endswith(" 510") and "(None, 10)" in rows["affine2"]
    assert rows["relu1"].endswith(" 0") and rows["x"].endswith(" 0")
    assert text.splitlines()[0] == "Graph 'two_layer_net'"
    assert text.splitlines()[-1] == "total parameters: 39,760"
    for header in ["node", "layer", "output shape", "params"]:
        assert header in text.splitlines()[1]


def test_summary_counts_a_shared_layer_once():
    shared = nn.Affine(4, 4)
    x = nn.Input((4,))
    text = nn.Graph(x, shared(shared(x))).summary()
    assert "affine1#2" in text and "shared: affine1" in text
    assert text.count(" 20\n") == 1 and text.endswith("total parameters: 20")


def test_to_dot_of_a_graph_lists_every_node():
    x, t, scores, loss = _book_net(hidden=3, inputs=2, classes=2)
    dot = nn.Graph([x, t], loss).to_dot()
    for name in ["x", "t", "affine1", "relu1", "affine2", "softmaxwithloss1"]:
        assert f'"{name}\\n' in dot


# --- errors when a graph is built, and when it runs ------------------------------------------
def test_a_shape_that_does_not_fit_names_node_layer_and_shapes():
    x = nn.Input((5,), name="features")
    h = nn.ReLU()(x)
    with pytest.raises(ValueError) as info:
        nn.Affine(3, 4)(h)
    message = str(info.value)
    for text in ["node 'affine'", "Affine(in_features=3", "'relu' (None, 5)", "has 3 features"]:
        assert text in message, f"{text!r} not in {message}"


def test_a_wrong_label_input_is_caught_when_the_graph_is_built():
    x = nn.Input((3,), name="x")
    t = nn.Input((), dtype=np.float64, name="t")  # declared float, not integer labels
    with pytest.raises(ValueError, match=r"node 'softmaxwithloss'.*'t' \(None,\)[\s\S]*integers"):
        nn.SoftmaxWithLoss()(x, t)


# --- the build check's stand-ins never reject a network that works on real data ----------
def _loss_reference(scores, labels):
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(labels)), labels].mean()


def test_a_loss_on_two_undeclared_inputs_builds_and_runs_on_floats_and_labels():
    x, t = nn.Input((3,), name="x"), nn.Input((), name="t")
    net = nn.Graph([x, t], nn.SoftmaxWithLoss()(x, t))
    scores, labels = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]]), np.array([2, 1])
    assert float(net(scores, labels)) == pytest.approx(_loss_reference(scores, labels))
    with pytest.raises(TypeError, match=r"'t'\) needs integer data"):
        net(scores, np.array([2.0, 1.0]))


def test_a_nested_graph_of_data_and_labels_takes_the_data_its_inner_graph_takes():
    xi, ti = nn.Input((4,)), nn.Input(())
    inner = nn.Graph([xi, ti], nn.SoftmaxWithLoss()(nn.Affine(4, 3, rng=0)(xi), ti), name="inner")
    x, t = nn.Input((4,)), nn.Input(())
    outer = nn.Graph([x, t], inner(x, t))
    data, labels = np.random.default_rng(0).normal(size=(2, 4)), np.array([0, 2])
    scores = data @ inner.affine1.W.data + inner.affine1.b.data
    assert float(outer(data, labels)) == pytest.approx(_loss_reference(scores, labels))
    assert float(outer(data, labels)) == float(inner(data, labels))


class _Scaled(nn.Layer):
    """Looks up integer ``ids`` (N, 5) and scales them by a float per sample."""

    def __init__(self, integers=(0,)):
        super().__init__()
        self.integers = integers

    def forward(self, ids, scale):
        for i, a in enumerate((ids, scale)):
            if (np.asarray(a).dtype.kind == "i") != (i in self.integers):
                raise TypeError(f"argument {i} has dtype {np.asarray(a).dtype}")
        return mg.Tensor(np.asarray(ids) * 1.0) * np.asarray(scale)[:, None]


def test_only_the_inputs_a_layer_needs_as_integers_get_integer_stand_ins():
    ids, scale = nn.Input((5,), name="ids"), nn.Input((), name="scale")
    net = nn.Graph([ids, scale], _Scaled()(ids, scale))  # scale, tried first, stays float
    y = net(np.arange(10).reshape(2, 5), np.array([0.5, 2.0]))
    np.testing.assert_allclose(np.asarray(y), np.arange(10).reshape(2, 5) * [[0.5], [2.0]])
    with pytest.raises(TypeError, match=r"'ids'\) needs integer data"):
        net(np.ones((2, 5)), np.array([0.5, 2.0]))


def test_two_inputs_get_integer_stand_ins_together_when_one_alone_does_not_fit():
    ids, scale = nn.Input((5,), name="ids"), nn.Input((), name="scale")
    net = nn.Graph([ids, scale], _Scaled(integers=(0, 1))(ids, scale))
    y = net(np.arange(10).reshape(2, 5), np.array([1, 3]))
    np.testing.assert_allclose(np.asarray(y), np.arange(10).reshape(2, 5) * [[1], [3]])


def test_a_build_error_says_its_values_are_the_checks_stand_ins_not_the_data():
    x, t = nn.Input((3,), name="x"), nn.Input((5,), name="t")
    with pytest.raises(ValueError) as info:
        nn.SoftmaxWithLoss()(x, t)
    message = str(info.value)
    for text in ["stand-ins, not your data", "'x' (None, 3), 't' (None, 5)", "dtype=np.int64"]:
        assert text in message, f"{text!r} not in {message}"
    net = nn.Graph([x, t], nn.Add()(nn.Affine(3, 5, rng=0)(x), t))  # the failure left floats
    assert net(np.ones((2, 3)), np.full((2, 5), 0.5)).shape == (2, 5)


def test_an_output_that_does_not_depend_on_the_inputs_is_rejected():
    x, other = nn.Input((2,), name="x"), nn.Input((2,), name="other")
    y = nn.Add()(nn.ReLU()(x), other)
    with pytest.raises(ValueError, match=r"output 'add' depends on .*'other'.*add it to inputs"):
        nn.Graph(x, y)


def test_an_unused_input_is_rejected():
    x, spare = nn.Input((2,), name="x"), nn.Input((2,), name="spare")
    with pytest.raises(ValueError, match=r"input 1 .*'spare'.* not used by any output"):
        nn.Graph([x, spare], nn.ReLU()(x))


def test_a_cycle_is_rejected():
    x = nn.Input((2,))
    a = nn.ReLU()(x)
    b = nn.Tanh()(a)
    a._call.inputs = (b,)  # only reachable by editing a node's inputs afterwards
    with pytest.raises(ValueError, match="cycle"):
        nn.Graph(x, b)


def test_graph_arguments_must_be_nodes():
    x = nn.Input((2,))
    with pytest.raises(TypeError, match="argument 1"):
        nn.Add()(x, np.ones((1, 2)))
    with pytest.raises(TypeError, match="outputs must be a node"):
        nn.Graph(x, [])
    with pytest.raises(ValueError, match="twice"):
        nn.Graph([x, x], nn.Add()(x, x))


def test_layer_names_must_be_usable_and_unique():
    x = nn.Input((2,))
    a, b = nn.ReLU(), nn.Tanh()
    a.name = b.name = "act"
    with pytest.raises(ValueError, match="'act'.*used by two layers"):
        nn.Graph(x, b(a(x)))
    a.name = "summary"
    with pytest.raises(ValueError, match="'summary'.*not usable"):
        nn.Graph(x, a(x))


def test_running_with_wrong_inputs_says_which_and_what_was_expected():
    x, t, _, loss = _book_net(hidden=3, inputs=4, classes=2)
    net = nn.Graph([x, t], loss, name="net")
    with pytest.raises(TypeError, match=r"takes 2 input\(s\) \['x', 't'\], got 1"):
        net(np.ones((2, 4)))
    with pytest.raises(
        ValueError, match=r"input 0 \('x'\) has shape \(2, 5\), expected \(None, 4\)"
    ):
        net(np.ones((2, 5)), np.array([0, 1]))
    with pytest.raises(ValueError, match="labels must lie in") as info:
        net(np.ones((2, 4)), np.array([0, 7]))
    assert "node 'softmaxwithloss1'" in "".join(getattr(info.value, "__notes__", []))


def test_input_rejects_a_bad_shape():
    with pytest.raises(ValueError, match="without the batch axis"):
        nn.Input((-1, 3))


def test_an_unbatched_output_of_size_two_is_not_mistaken_for_the_batch_axis():
    class FeatureMean(nn.Layer):
        def forward(self, x):
            return x.mean(axis=0)

    x = nn.Input((2,))
    assert FeatureMean()(x).shape_text == "(2,)"


# --- a Graph runs the layers it holds now ----------------------------------------------------
def test_a_layer_replaced_after_building_takes_effect():
    x = nn.Input((4,))
    net = nn.Graph(x, _chain(x, nn.Affine(4, 5, rng=0), nn.ReLU(), nn.Affine(5, 2, rng=1)))
    data = np.random.default_rng(0).standard_normal((3, 4))
    net(data)  # run once before the replacement
    net.relu1 = nn.Tanh()
    h = np.tanh(data @ net.affine1.W.data + net.affine1.b.data)
    np.testing.assert_allclose(net(data).data, h @ net.affine2.W.data + net.affine2.b.data)


# --- the house line budget ----------------------------------------------------------------------
def test_graph_py_stays_within_the_house_line_budget():
    from pathlib import Path

    from test_size import BUDGET, code_lines

    import minigrad.nn.graph

    n = code_lines(Path(minigrad.nn.graph.__file__))
    assert n <= BUDGET, f"minigrad/nn/graph.py has {n} code lines; the budget is {BUDGET}"
