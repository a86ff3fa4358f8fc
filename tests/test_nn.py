"""Layers: gradients against numerical differentiation, registration, modes, state, losses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.nn as nn
from minigrad.testing import arrays, assert_layer_grads_match, shapes

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")
sizes = st.integers(1, 4)


# --- every layer's input and parameter gradients ---------------------------------------------
@settings(deadline=None)
@given(data=st.data(), n=sizes, fan_in=sizes, fan_out=sizes)
def test_affine_grads_match_numerical(data, n, fan_in, fan_out):
    layer = nn.Affine(fan_in, fan_out, rng=data.draw(st.integers(0, 2**32 - 1)))
    layer.b.data[...] = data.draw(arrays((fan_out,)))
    assert_layer_grads_match(layer, data.draw(arrays((n, fan_in))))


@pytest.mark.parametrize(
    "layer, avoid",
    [(nn.ReLU(), [0.0]), (nn.Sigmoid(), []), (nn.Tanh(), []), (nn.Flatten(), [])],
    ids=["relu", "sigmoid", "tanh", "flatten"],
)
@settings(deadline=None)
@given(data=st.data())
def test_elementwise_layer_grads_match_numerical(layer, avoid, data):
    x = data.draw(arrays(shapes(min_dims=1), min_value=-4, max_value=4, avoid=avoid))
    assert_layer_grads_match(layer, x)


@settings(deadline=None)
@given(data=st.data(), shape=shapes(min_dims=1, max_dims=3))
def test_softmax_grads_match_numerical(data, shape):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    assert_layer_grads_match(nn.Softmax(axis=axis), data.draw(arrays(shape)))


@settings(deadline=None)
@given(data=st.data(), n=sizes, c=st.integers(2, 5))
def test_softmax_with_loss_grads_match_numerical_for_labels(data, n, c):
    scores = data.draw(arrays((n, c)))
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    assert_layer_grads_match(nn.SoftmaxWithLoss(), scores, labels)


@settings(deadline=None)
@given(data=st.data(), n=sizes, c=st.integers(2, 5))
def test_softmax_with_loss_grads_match_numerical_for_rows(data, n, c):
    scores = data.draw(arrays((n, c)))
    weights = data.draw(arrays((n, c), min_value=0.1, max_value=1.0))
    rows = weights / weights.sum(axis=1, keepdims=True)
    assert_layer_grads_match(nn.SoftmaxWithLoss(), scores, rows)


@settings(deadline=None)
@given(data=st.data(), shape=shapes(min_dims=1))
def test_mse_loss_grads_match_numerical(data, shape):
    assert_layer_grads_match(nn.MSELoss(), data.draw(arrays(shape)), data.draw(arrays(shape)))


@settings(deadline=None)
@given(data=st.data(), shape=shapes(), count=sizes)
def test_add_grads_match_numerical(data, shape, count):
    xs = [data.draw(arrays(shape)) for _ in range(count)]
    assert_layer_grads_match(nn.Add(), *xs)


@settings(deadline=None)
@given(data=st.data(), n=sizes, widths=st.lists(sizes, min_size=1, max_size=3))
def test_concat_grads_match_numerical(data, n, widths):
    xs = [data.draw(arrays((n, w, 2))) for w in widths]
    assert_layer_grads_match(nn.Concat(axis=1), *xs)
    y = nn.Concat(axis=1)(*xs)
    np.testing.assert_array_equal(y.data, np.concatenate(xs, axis=1))


def test_layers_take_arrays_and_tensors_alike():
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    for layer in [nn.Affine(3, 2, rng=0), nn.ReLU(), nn.Sigmoid(), nn.Tanh(), nn.Softmax()]:
        np.testing.assert_array_equal(layer(x).data, layer(mg.Tensor(x)).data)


# --- registration, names, sharing ------------------------------------------------------------
def test_sequential_names_layers_by_kind_and_number_in_order():
    net = nn.Sequential(nn.Affine(4, 3), nn.ReLU(), nn.Affine(3, 2), nn.Sigmoid())
    assert [name for name, _ in net.named_layers()][1:] == [
        "affine1",
        "relu1",
        "affine2",
        "sigmoid1",
    ]
    assert [name for name, _ in net.named_parameters()] == [
        "affine1.W",
        "affine1.b",
        "affine2.W",
        "affine2.b",
    ]


def test_custom_layer_registers_members_in_assignment_order():
    class Block(nn.Layer):
        def __init__(self):
            super().__init__()
            self.second = nn.Affine(2, 2)
            self.first = nn.Affine(2, 2)
            self.act = nn.Tanh()

        def forward(self, x):
            return self.act(self.first(self.second(x)))

    outer = nn.Sequential(Block(), nn.Affine(2, 1))
    assert [name for name, _ in outer.named_parameters()] == [
        "block1.second.W",
        "block1.second.b",
        "block1.first.W",
        "block1.first.b",
        "affine1.W",
        "affine1.b",
    ]


def test_a_layer_used_twice_shares_its_parameters_and_counts_once():
    shared = nn.Affine(3, 3, rng=0)
    net = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(net.parameters()) == 2
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    w, b = shared.W.data, shared.b.data
    np.testing.assert_allclose(net(x).data, np.maximum(x @ w + b, 0) @ w + b)


# --- modes, dtype, state ---------------------------------------------------------------------
def test_train_and_eval_set_every_layer_and_layers_start_in_training():
    net = nn.Sequential(nn.Affine(2, 2), nn.Sequential(nn.ReLU(), nn.Affine(2, 1)))
    assert all(layer.training for _, layer in net.named_layers())
    assert net.eval() is net
    assert not any(layer.training for _, layer in net.named_layers())
    net.train()
    assert all(layer.training for _, layer in net.named_layers())


def test_astype_converts_a_whole_network():
    net = nn.Sequential(nn.Affine(3, 4), nn.ReLU(), nn.Affine(4, 2))
    assert net.astype(np.float32) is net
    assert all(p.dtype == np.float32 for p in net.parameters())
    y = net(np.ones((2, 3), dtype=np.float32))
    assert y.dtype == np.float32
    y.sum().backward()
    assert all(p.grad.dtype == np.float32 for p in net.parameters())


def test_affine_dtype_sets_its_parameters():
    layer = nn.Affine(3, 2, dtype=np.float32)
    assert layer.W.dtype == layer.b.dtype == np.float32
    with pytest.raises(TypeError, match="float dtype"):
        nn.Affine(3, 2, dtype=np.int64)


def test_state_dict_round_trip_copies_values():
    source = nn.Sequential(nn.Affine(3, 4, rng=1), nn.ReLU(), nn.Affine(4, 2, rng=2))
    target = nn.Sequential(nn.Affine(3, 4, rng=3), nn.ReLU(), nn.Affine(4, 2, rng=4))
    state = source.state_dict()
    assert list(state) == ["affine1.W", "affine1.b", "affine2.W", "affine2.b"]
    target.load_state_dict(state)
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    np.testing.assert_array_equal(target(x).data, source(x).data)
    state["affine1.W"][...] = 0  # a copy: changing it leaves both nets alone
    assert np.any(source[0].W.data) and np.any(target[0].W.data)


def test_load_state_dict_names_every_bad_key_and_changes_nothing():
    net = nn.Sequential(nn.Affine(3, 4, rng=1), nn.Affine(4, 2, rng=2))
    before = {name: p.data.copy() for name, p in net.named_parameters()}
    state = net.state_dict()
    state["affine1.W"] = np.zeros((3, 4))  # valid: must not be applied either
    state["affine1.b"] = np.zeros(5)
    del state["affine2.W"]
    state["affine3.W"] = np.zeros((2, 2))
    with pytest.raises(ValueError) as info:
        net.load_state_dict(state)
    message = str(info.value)
    for text in ["'affine1.b'", "(4,)", "(5,)", "missing key 'affine2.W'", "'affine3.W'"]:
        assert text in message
    for name, p in net.named_parameters():
        np.testing.assert_array_equal(p.data, before[name])


# --- SoftmaxWithLoss: exact, never negative, clear about its labels --------------------------
def test_softmax_with_loss_is_exact_where_the_book_clips():
    loss = nn.SoftmaxWithLoss()(np.array([[1000.0, 0.0]]), np.array([1]))
    assert float(loss.data) == 1000.0


@pytest.mark.parametrize("t", [np.array([1, 1]), np.array([[0.0, 1.0], [0.0, 1.0]])])
def test_softmax_with_loss_stays_finite_at_huge_logits(t):
    scores = mg.Tensor(np.array([[1e4, -1e4], [1e4, -1e4]]), requires_grad=True)
    loss = nn.SoftmaxWithLoss()(scores, t)
    loss.backward()
    assert np.isfinite(loss.data) and float(loss.data) == pytest.approx(2e4)
    assert np.all(np.isfinite(scores.grad))
    np.testing.assert_allclose(scores.grad, [[0.5, -0.5], [0.5, -0.5]])


@settings(deadline=None)
@given(data=st.data(), n=sizes, c=st.integers(1, 5))
def test_softmax_with_loss_is_never_negative(data, n, c):
    scores = data.draw(arrays((n, c), min_value=-1e4, max_value=1e4))
    labels = np.array(data.draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    loss = float(nn.SoftmaxWithLoss()(scores, labels).data)
    assert np.isfinite(loss) and loss >= 0


def test_softmax_with_loss_labels_and_one_hot_rows_agree():
    scores = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, 0.0]])
    labels = np.array([2, 0])
    rows = np.eye(3)[labels]
    by_label = nn.SoftmaxWithLoss()(scores, labels)
    by_row = nn.SoftmaxWithLoss()(scores, rows)
    assert float(by_label.data) == pytest.approx(float(by_row.data), rel=1e-12)
    assert float(nn.SoftmaxWithLoss()(scores, rows.astype(np.int64)).data) == pytest.approx(
        float(by_label.data)
    )


@pytest.mark.parametrize(
    "t, error, words",
    [
        (np.array([0, 1]), ValueError, ["2 labels", "3 rows", "(3,)"]),
        (np.array([0, 3, -1]), ValueError, ["[0, 3)", "[3, -1]", "[1, 2]"]),
        (np.array([0.0, 1.5, 2.0]), TypeError, ["integers", "float64", "1.5"]),
        (np.array([0.0, 1.0, 2.0]), TypeError, ["astype(np.int64)"]),
        (np.zeros((3, 2)), ValueError, ["(3, 2)", "(3, 3)"]),
        (np.zeros((3, 3, 1)), ValueError, ["(3, 3, 1)", "labels (3,)", "rows (3, 3)"]),
        (np.array([[1.0, 0, 0], [0, 1, 0], [-1, 0, 2]]), ValueError, ["non-negative", "-1"]),
    ],
    ids=["length", "range", "fractions", "whole-floats", "rows-shape", "ndim", "negative-rows"],
)
def test_softmax_with_loss_rejects_bad_targets_clearly(t, error, words):
    with pytest.raises(error) as info:
        nn.SoftmaxWithLoss()(np.zeros((3, 3)), t)
    for word in words:
        assert word in str(info.value), f"{word!r} not in {info.value}"


@pytest.mark.parametrize("dtype", ["i1", "u1", "i4", "u4", "u8", ">i8", "<i2"])
def test_softmax_with_loss_takes_labels_of_any_integer_dtype_and_byte_order(dtype):
    scores = np.array([[0.0, 1.0, 2.0], [2.0, 0.0, 1.0]])
    ref, x = mg.Tensor(scores, requires_grad=True), mg.Tensor(scores, requires_grad=True)
    expected = nn.SoftmaxWithLoss()(ref, np.array([2, 1]))
    loss = nn.SoftmaxWithLoss()(x, np.array([2, 1], dtype=dtype))
    assert loss.data == expected.data
    loss.backward()
    expected.backward()
    np.testing.assert_array_equal(x.grad, ref.grad)
    bad = np.array([2, 3], dtype=dtype)
    with pytest.raises(ValueError, match=r"got \[3\] at positions \[1\]"):
        nn.SoftmaxWithLoss()(mg.Tensor(scores), bad)


@pytest.mark.parametrize("shape", [(4, 10), (64, 10), (64, 32), (64, 33), (31, 2), (40, 200)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_with_loss_matches_numpy_on_every_path(shape, dtype):
    """Few classes and many rows take a different row-maximum path; both must agree."""
    rng = np.random.default_rng(sum(shape))
    scores = (rng.standard_normal(shape) * 5).astype(dtype)
    t = rng.integers(0, shape[1], shape[0])
    x = mg.Tensor(scores, requires_grad=True)
    loss = nn.SoftmaxWithLoss()(x, t)
    loss.backward()
    z = scores.astype(np.float64)
    logp = z - z.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    rows = np.arange(shape[0])
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(loss.data, -logp[rows, t].mean(), rtol=tol)
    expected = np.exp(logp)
    expected[rows, t] -= 1
    np.testing.assert_allclose(x.grad, expected / shape[0], rtol=tol, atol=tol / shape[0])


@pytest.mark.parametrize("layout", ["C", "F", "transposed"])
def test_softmax_with_loss_gradient_does_not_depend_on_the_memory_layout(layout):
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((4, 3))
    arranged = {
        "C": scores,
        "F": np.asfortranarray(scores),
        "transposed": np.ascontiguousarray(scores.T).T,
    }[layout]
    t = np.array([0, 2, 1, 2])
    x = mg.Tensor(arranged, requires_grad=True)
    nn.SoftmaxWithLoss()(x, t).backward()
    p = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    p[np.arange(4), t] -= 1
    np.testing.assert_allclose(x.grad, p / 4, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "t",
    [np.array([0, 1]), np.array([0, 3]), np.array([0.0, 1.0, 2.0]), np.zeros((3, 3, 1))],
    ids=["length", "range", "floats", "ndim"],
)
def test_cross_entropy_targets_get_one_message_through_every_door(t):
    scores = np.zeros((3, 3))
    messages = []
    for loss in (nn.SoftmaxWithLoss(), mg.functional.softmax_cross_entropy):
        with pytest.raises((TypeError, ValueError)) as info:
            loss(scores, t)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_softmax_with_loss_takes_integer_target_rows_in_a_compiled_step():
    layer = nn.SoftmaxWithLoss()
    step = mg.compile(lambda x, t: layer(x, t))
    scores = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 0.0]])
    for labels in ([0, 1], [2, 0]):
        rows = np.eye(3, dtype=np.int64)[labels]
        expected = layer(scores, np.array(labels))
        assert float(step(scores, rows).data) == pytest.approx(float(expected.data), rel=1e-12)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.uint64])
@pytest.mark.parametrize("bad", [3, -1])
def test_a_compiled_step_checks_the_labels_of_every_batch_with_the_eager_message(dtype, bad):
    layer = nn.SoftmaxWithLoss()
    step = mg.compile(lambda x, t: layer(x, t))
    scores = np.zeros((4, 3))
    good = np.array([0, 2, 1, 2], dtype=dtype)
    assert float(step(scores, good).data) == pytest.approx(np.log(3))
    labels = np.array([0, 2, bad, 1]).astype(dtype)  # -1 wraps around in unsigned dtypes
    with pytest.raises(ValueError) as eager:
        layer(scores, labels)
    with pytest.raises(ValueError) as compiled:
        step(scores, labels)
    assert str(compiled.value) == str(eager.value)
    assert float(step(scores, good[::-1].copy()).data) == pytest.approx(np.log(3))


def test_a_compiled_softmax_with_loss_checks_the_sign_of_every_batch_of_rows():
    layer = nn.SoftmaxWithLoss()
    step = mg.compile(lambda x, t: layer(x, t))
    step(np.zeros((2, 2)), np.eye(2))
    with pytest.raises(ValueError, match=r"non-negative, got \[-1, -1\]"):
        step(np.zeros((2, 2)), -np.eye(2))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_target_rows_holding_nan_or_inf_are_an_error_not_a_nan_loss(bad):
    rows = np.array([[0.0, 1.0], [bad, 0.0]])
    for loss in (nn.SoftmaxWithLoss(), mg.functional.softmax_cross_entropy):
        with pytest.raises(ValueError, match="target rows hold NaN or inf"):
            loss(np.zeros((2, 2)), rows)


def test_softmax_with_loss_needs_two_dimensional_scores():
    with pytest.raises(ValueError, match=r"\(N, C\).*\(1, C\)"):
        nn.SoftmaxWithLoss()(np.zeros(3), np.array([0]))


def test_mse_loss_is_the_mean_square_and_rejects_shape_mismatch():
    y, t = np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]])
    assert float(nn.MSELoss()(y, t).data) == pytest.approx(2.5)
    with pytest.raises(ValueError, match=r"\(2, 1\).*\(2,\)"):
        nn.MSELoss()(y, t.reshape(-1))


def test_add_and_concat_reject_mismatched_inputs():
    with pytest.raises(ValueError, match=r"one shape.*\(2, 3\), \(2, 4\)"):
        nn.Add()(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="axis 1"):
        nn.Concat(axis=1)(np.zeros((2, 3)), np.zeros((3, 3)))


# --- Affine: reproducible, well-scaled initialisation ----------------------------------------
def test_affine_init_is_reproducible_from_a_seed_or_a_generator():
    np.testing.assert_array_equal(nn.Affine(5, 3, rng=7).W.data, nn.Affine(5, 3, rng=7).W.data)
    assert not np.array_equal(nn.Affine(5, 3, rng=7).W.data, nn.Affine(5, 3, rng=8).W.data)
    pairs = []
    for _ in range(2):
        rng = np.random.default_rng(0)
        pairs.append((nn.Affine(5, 3, rng=rng).W.data, nn.Affine(5, 3, rng=rng).W.data))
    np.testing.assert_array_equal(pairs[0][0], pairs[1][0])
    np.testing.assert_array_equal(pairs[0][1], pairs[1][1])
    assert not np.array_equal(pairs[0][0], pairs[0][1])
    np.random.seed(3)
    first = nn.Affine(5, 3).W.data
    np.random.seed(3)
    np.testing.assert_array_equal(first, nn.Affine(5, 3).W.data)
    assert not np.any(nn.Affine(5, 3, rng=0).b.data)


@pytest.mark.parametrize(
    "weight_init, std", [("he", np.sqrt(2 / 400)), ("xavier", np.sqrt(1 / 400)), (0.01, 0.01)]
)
def test_affine_init_has_the_stated_standard_deviation(weight_init, std):
    w = nn.Affine(400, 300, weight_init=weight_init, rng=0).W.data
    # 120,000 draws: the sample std is within 0.3% of the truth with overwhelming odds
    assert w.std() == pytest.approx(std, rel=0.01)
    assert abs(w.mean()) < 5 * std / np.sqrt(w.size)


@pytest.mark.parametrize(
    "weight_init, error", [("glorot", ValueError), (-0.1, ValueError), (None, TypeError)]
)
def test_affine_rejects_unknown_weight_init(weight_init, error):
    with pytest.raises(error, match="weight_init"):
        nn.Affine(3, 2, weight_init=weight_init)


def test_affine_names_the_expected_feature_count():
    with pytest.raises(ValueError, match=r"last axis has 3 features, got shape \(2, 4\)"):
        nn.Affine(3, 2)(np.zeros((2, 4)))


def test_every_layer_has_a_useful_repr():
    assert repr(nn.Affine(3, 2, weight_init="xavier", rng=0)) == (
        "Affine(in_features=3, out_features=2, weight_init='xavier', dtype=float64)"
    )
    assert repr(nn.Softmax(axis=1)) == "Softmax(axis=1)"
    assert repr(nn.Concat(axis=2)) == "Concat(axis=2)"
    assert repr(nn.ReLU()) == "ReLU()"
    assert "(affine1): Affine(in_features=3" in repr(nn.Sequential(nn.Affine(3, 2)))


def test_parameters_and_sub_layers_interleave_in_assignment_order():
    class Net(nn.Layer):
        def __init__(self):
            super().__init__()
            self.affine1 = nn.Affine(2, 2, rng=0)
            self.scale = nn.Parameter(np.ones(1))
            self.block = nn.Sequential(nn.Affine(2, 2, rng=1))
            self.shift = nn.Parameter(np.zeros(1))

    net = Net()
    expected = ["affine1.W", "affine1.b", "scale", "block.affine1.W", "block.affine1.b", "shift"]
    assert [name for name, _ in net.named_parameters()] == expected
    net.scale = nn.Parameter(np.full(1, 2.0))  # reassigned: keeps its place
    assert [name for name, _ in net.named_parameters()] == expected
    assert list(net.state_dict()) == expected


def test_momentum_switched_on_after_construction_works():
    w = nn.Parameter(np.ones(2))
    opt = mg.optim.SGD([w], lr=0.1)
    opt.momentum = 0.9
    w.grad = np.ones(2)
    opt.step()
    opt.step()
    np.testing.assert_allclose(w.data, 1 - 0.1 * 1 - 0.1 * 1.9)


# --- a Sequential runs the layers it holds now ------------------------------------------------
def test_a_layer_replaced_after_building_takes_effect():
    net = nn.Sequential(nn.Affine(2, 3, rng=0), nn.ReLU(), nn.Affine(3, 2, rng=1))
    x = np.random.default_rng(0).standard_normal((4, 2))
    net(x)  # built and run once before the replacement
    net.relu1 = nn.Tanh()
    h = np.tanh(x @ net.affine1.W.data + net.affine1.b.data)
    np.testing.assert_allclose(net(x).data, h @ net.affine2.W.data + net.affine2.b.data)
    assert isinstance(net[1], nn.Tanh) and len(net) == 3


def test_a_layer_with_its_own_call_is_called():
    calls = []

    class Counted(nn.ReLU):
        def __call__(self, *args, **kwargs):
            calls.append(1)
            return super().__call__(*args, **kwargs)

    net = nn.Sequential(nn.Affine(2, 3, rng=0), Counted())
    net(np.ones((1, 2)))
    assert calls == [1]


# --- registration through containers and del ----------------------------------------------
class _Blocks(nn.Layer):
    def __init__(self, hold):
        super().__init__()
        self.blocks = hold([nn.Affine(2, 2, rng=i) for i in range(3)])

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return x


@pytest.mark.parametrize("hold", [list, tuple, lambda xs: dict(enumerate(xs)), lambda xs: [xs]])
def test_layers_held_in_a_container_are_refused_naming_sequential(hold):
    with pytest.raises(TypeError, match=r"_Blocks.blocks: a \w+ holding a layer.*nn.Sequential"):
        _Blocks(hold)


def test_a_parameter_held_in_a_container_is_refused():
    layer = nn.Affine(2, 2, rng=0)
    with pytest.raises(TypeError, match=r"Affine.extra.*parameter \(Parameter at extra\['w'\]\)"):
        layer.extra = {"w": nn.Parameter(np.zeros(2))}
    assert not hasattr(layer, "extra") and len(layer.parameters()) == 2


def test_a_container_of_members_the_layer_already_owns_is_allowed():
    net = nn.Sequential(nn.Affine(2, 3, rng=0), nn.ReLU())
    net.decayed = [net.affine1.W]  # e.g. the parameters to give weight decay
    net.settings = (3, 3)
    assert net.decayed[0] is net.affine1.W and len(net.parameters()) == 2


def test_del_removes_a_parameter_from_parameters_and_state_dict():
    layer = nn.Affine(2, 2, rng=0)
    del layer.b
    assert [name for name, _ in layer.named_parameters()] == ["W"]
    assert list(layer.state_dict()) == ["W"]
    layer.b = nn.Parameter(np.ones(2))  # registered again, last in the order
    assert [name for name, _ in layer.named_parameters()] == ["W", "b"]


def test_del_of_a_buffer_keeps_state_dict_load_and_astype_working():
    bn = nn.BatchNorm(2)
    del bn.running_mean
    state = bn.state_dict()
    assert sorted(state) == ["beta", "gamma", "running_var"]
    bn.load_state_dict(state)
    assert bn.astype(np.float32).running_var.dtype == np.float32
    bn.running_mean = np.ones(3)  # no longer a buffer: a plain attribute of any shape
    assert "running_mean" not in bn.state_dict()


def test_del_of_a_layer_in_a_sequential_takes_it_out_of_the_chain():
    net = nn.Sequential(nn.Affine(2, 3, rng=0), nn.ReLU(), nn.Affine(3, 2, rng=1))
    x = np.array([[1.0, -2.0]])
    del net.relu1
    assert len(net) == 2 and "relu1" not in dict(net.named_layers())
    expected = nn.Affine(3, 2, rng=1)(nn.Affine(2, 3, rng=0)(x))
    np.testing.assert_allclose(np.asarray(net(x)), np.asarray(expected))
    with pytest.raises(AttributeError):
        del net.relu1
