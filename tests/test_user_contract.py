"""Tensors, parameters and graphs touched the way users touch them (API.md sections 1-3).

Each test goes through the user's door (``np.asarray``, ``float``, attribute assignment,
``Input(())``), not through ``.data``, because those doors are where bugs hid.
"""

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.tensor import Op

# --- 0-d values are arrays ------------------------------------------------------------------


def test_a_scalar_result_is_a_0d_array_and_np_asarray_takes_it():
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    assert type(loss.data) is np.ndarray and loss.data.shape == ()
    assert np.asarray(loss) == 5.0
    assert type(np.exp(loss.data)) is not np.ndarray  # NumPy itself would give a scalar...
    assert type(loss.exp().data) is np.ndarray  # ...minigrad keeps an array


def test_the_grad_of_a_0d_leaf_is_an_array_also_after_accumulating():
    x = mg.Tensor(3.0, requires_grad=True)
    y = x * x
    y.backward(retain_graph=True)
    assert type(x.grad) is np.ndarray and x.grad.shape == ()
    y.backward()
    assert type(x.grad) is np.ndarray and float(x.grad) == 12.0


def test_an_op_reading_its_output_without_keeping_it_is_told_what_to_add():
    class Square(Op):
        def forward(self, x):
            return x * x

        def backward(self, gy):
            return gy * 2 * self.output() ** 0.5  # forgot keeps_output = True

    y = Square.apply(mg.Tensor([3.0], requires_grad=True))
    with pytest.raises(AttributeError, match="keeps_output = True"):
        y.backward(np.ones(1))


def test_asarray_with_another_dtype_and_copy_false_refuses_as_numpy_does():
    t = mg.Tensor([1.0, 2.0])
    assert np.asarray(t, np.float32).dtype == np.float32
    assert np.asarray(t, copy=False) is t.data
    with pytest.raises(ValueError, match="needs a copy"):
        np.asarray(t, np.float32, copy=False)


def test_a_saved_name_ending_in_npy_loads_its_own_values(tmp_path):
    mg.save({"a": np.ones(2), "a.npy": np.zeros(2)}, tmp_path / "s.npz")
    loaded = mg.load(tmp_path / "s.npz")
    np.testing.assert_array_equal(loaded["a"], np.ones(2))
    np.testing.assert_array_equal(loaded["a.npy"], np.zeros(2))


# --- a graph whose inputs changed after the forward pass --------------------------------------


def test_backward_after_an_in_place_change_of_an_input_is_refused():
    w = mg.Tensor([1.0, 2.0], requires_grad=True)
    y = (w * w).sum()
    with mg.no_grad():
        w -= 1
    with pytest.raises(RuntimeError, match="changed in place after Mul used it"):
        y.backward()


def test_backward_after_an_optimizer_step_or_an_assignment_is_refused():
    layer = nn.Affine(2, 2, rng=0)
    opt = mg.optim.SGD(layer.parameters(), lr=0.1)
    loss = layer(np.ones((1, 2))).sum()
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match="optimizer step"):
        loss.backward()
    loss = layer(np.ones((1, 2))).sum()
    layer.W = np.zeros((2, 2))
    with pytest.raises(RuntimeError, match="changed in place"):
        loss.backward()
    loss = layer(np.ones((1, 2))).sum()
    layer.load_state_dict(layer.state_dict())
    with pytest.raises(RuntimeError, match="changed in place"):
        loss.backward()


def test_the_usual_training_loop_is_not_refused():
    layer = nn.Affine(2, 2, rng=0)
    opt = mg.optim.Adam(layer.parameters())
    for _ in range(3):
        opt.zero_grad()
        loss = (layer(np.ones((1, 2))) ** 2).sum()
        loss.backward()
        opt.step()
    assert layer.W.grad is not None


# --- Python numbers ---------------------------------------------------------------------------


def test_float_int_and_format_take_a_scalar_tensor():
    loss = mg.Tensor([0.25, 1.0], requires_grad=True).sum()
    assert float(loss) == 1.25 and isinstance(float(loss), float)
    assert int(mg.Tensor(7)) == 7
    assert f"{loss:.3f}" == "1.250"
    assert f"{loss}" == str(loss) == repr(loss)
    assert format(loss, ">8.2f") == "    1.25"


def test_float_of_several_values_fails_as_in_numpy():
    with pytest.raises(TypeError):
        float(mg.Tensor([1.0, 2.0]))


def test_abs_is_the_recorded_op_with_its_gradient():
    x = mg.Tensor([-2.0, 3.0], requires_grad=True)
    y = abs(x)
    assert isinstance(y, mg.Tensor) and y.creator is not None
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [-1.0, 1.0])


# --- what a Tensor holds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", [None, ["a"], object(), [1j], np.array(["x"]), np.array([1, None], dtype=object)]
)
def test_a_tensor_refuses_what_is_not_real_numbers(data):
    with pytest.raises(TypeError, match="real numbers"):
        mg.Tensor(data)


def test_bool_and_integer_tensors_are_kept_but_cannot_require_grad():
    assert mg.Tensor([True]).dtype == bool and mg.Tensor([1]).dtype.kind == "i"
    with pytest.raises(TypeError, match="floating-point"):
        mg.Tensor([1, 2], requires_grad=True)


def test_a_parameter_says_it_is_one():
    assert repr(nn.Parameter(np.zeros(2))) == "Parameter([0. 0.])"


# --- in-place operators -----------------------------------------------------------------------


def test_in_place_arithmetic_on_a_leaf_that_requires_grad_is_refused_with_the_way_out():
    x = mg.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        x += 1
    np.testing.assert_array_equal(x.data, [1.0, 2.0])  # nothing changed


def test_in_place_arithmetic_under_no_grad_updates_the_same_leaf():
    x = mg.Tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    data = x.data
    same = x
    with mg.no_grad():
        x -= np.array([0.5, 0.5])  # float64 values, cast into the float32 array
        x *= 2
        x /= 4
        x += 1
    assert x is same and x.data is data and x.dtype == np.float32
    np.testing.assert_allclose(x.data, [1.25, 1.75])
    with mg.no_grad(), pytest.raises(ValueError, match=r"change the shape \(2,\)"):
        x += np.ones((3, 2))  # the shape cannot change in place


def test_power_and_matmul_in_place_keep_a_parameter_too():
    layer = nn.Affine(2, 2, rng=0)
    w, before = layer.W, layer.W.data.copy()
    with pytest.raises(RuntimeError, match="no_grad"):
        layer.W **= 2
    with pytest.raises(RuntimeError, match="no_grad"):
        layer.W @= np.eye(2)
    np.testing.assert_array_equal(layer.W.data, before)
    with mg.no_grad():
        layer.W **= 2
        layer.W @= 2 * np.eye(2)
    assert layer.W is w and "W" in dict(layer.named_parameters())
    np.testing.assert_allclose(layer.W.data, 2 * before**2)


def test_in_place_arithmetic_on_a_graph_value_rebinds_the_name_and_keeps_the_gradient():
    w = mg.Tensor([1.0, 2.0], requires_grad=True)
    h = w * 3
    h += 1  # a new node: the graph stays right
    h.sum().backward()
    np.testing.assert_array_equal(w.grad, [3.0, 3.0])


# --- assigning to a parameter slot ------------------------------------------------------------


def test_assigning_an_array_to_a_parameter_keeps_the_parameter_and_its_optimizer():
    layer = nn.Affine(4, 3, rng=0)
    w = layer.W
    opt = mg.optim.SGD(layer.parameters(), lr=0.5)
    layer.W = np.full((4, 3), 0.5)
    assert layer.W is w and isinstance(layer.W, nn.Parameter)
    assert [name for name, _ in layer.named_parameters()] == ["W", "b"]
    layer(np.ones((1, 4))).sum().backward()
    opt.step()  # made before the assignment, it still trains W
    np.testing.assert_allclose(layer.W.data, 0.5 - 0.5 * np.ones((4, 3)))


def test_assigning_a_tensor_expression_copies_its_values_into_the_parameter():
    layer = nn.Affine(2, 2, rng=0)
    before = layer.W.data.copy()
    w = layer.W
    layer.W = layer.W - 0.1
    assert layer.W is w and layer.W.creator is None and layer.W.requires_grad
    np.testing.assert_allclose(layer.W.data, before - 0.1)


def test_the_manual_update_idiom_under_no_grad_keeps_the_parameter(tmp_path):
    layer = nn.Affine(2, 2, rng=0)
    layer(np.ones((1, 2))).sum().backward()
    w, expected = layer.W, layer.W.data - 0.1 * layer.W.grad
    with mg.no_grad():
        layer.W -= 0.1 * layer.W.grad
    assert layer.W is w
    np.testing.assert_allclose(layer.W.data, expected)
    mg.save(layer, tmp_path / "m.npz")
    np.testing.assert_allclose(mg.load(tmp_path / "m.npz")["W"], expected)  # still saved


def test_the_manual_update_idiom_outside_no_grad_is_refused_and_loses_nothing():
    layer = nn.Affine(2, 2, rng=0)
    layer(np.ones((1, 2))).sum().backward()
    before = layer.W.data.copy()
    with pytest.raises(RuntimeError, match="no_grad"):
        layer.W -= 0.1 * layer.W.grad
    assert isinstance(layer.W, nn.Parameter) and "W" in dict(layer.named_parameters())
    np.testing.assert_array_equal(layer.W.data, before)


def test_assigning_the_wrong_shape_or_kind_to_a_parameter_is_a_clear_error():
    layer = nn.Affine(4, 3, rng=0)
    before = layer.W.data.copy()
    with pytest.raises(ValueError, match=r"shape \(5, 3\).*Affine.W.*\(4, 3\).*nn.Parameter"):
        layer.W = np.zeros((5, 3))
    with pytest.raises(TypeError, match="Affine.W"):
        layer.W = "zeros"
    with pytest.raises(TypeError, match="complex128"):
        layer.W = np.zeros((4, 3), dtype=complex)
    np.testing.assert_array_equal(layer.W.data, before)


def test_a_new_parameter_replaces_the_old_one_with_another_shape():
    layer = nn.Affine(4, 3, rng=0)
    layer.W = nn.Parameter(np.zeros((4, 3)))
    assert dict(layer.named_parameters())["W"] is layer.W


def test_assigning_to_a_buffer_keeps_an_array_of_its_shape():
    bn = nn.BatchNorm(3)
    bn.running_mean = mg.Tensor([1.0, 2.0, 3.0])
    assert type(bn.running_mean) is np.ndarray
    assert bn.state_dict()["running_mean"].tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match=r"buffer BatchNorm.running_var .*shape \(3,\)"):
        bn.running_var = np.ones(5)
    np.testing.assert_array_equal(bn.running_var, np.ones(3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_assigning_to_a_buffer_casts_to_its_dtype_as_a_parameter_does(dtype):
    bn = nn.BatchNorm(2, dtype=dtype)
    bn.running_mean = np.zeros(2)  # float64 values
    bn.running_var = [1, 4]  # integers from a list
    bn.gamma = np.ones(2)
    assert bn.running_mean.dtype == bn.running_var.dtype == bn.gamma.dtype == dtype
    x = np.array([[0.0, 0.0], [1.0, 3.0]], dtype=dtype)
    bn(x)  # a training step updates the statistics in their dtype
    assert bn.running_var.dtype == dtype
    momentum = bn.momentum
    expected = momentum * np.array([1.0, 4.0]) + (1 - momentum) * x.var(axis=0)
    np.testing.assert_allclose(bn.running_var, expected, rtol=1e-6)
    assert bn.state_dict()["running_var"].dtype == dtype


class _Counts(nn.Layer):
    def __init__(self):
        super().__init__()
        self.register_buffer("counts", np.zeros(3))

    def forward(self, x):
        return x


def test_registering_a_buffer_again_gives_it_a_new_shape_and_dtype():
    layer = _Counts()
    with pytest.raises(ValueError, match=r"counts.*register_buffer\('counts'"):
        layer.counts = np.zeros(5)
    layer.register_buffer("counts", np.arange(5))
    assert layer.counts.dtype == np.int64 and layer.state_dict()["counts"].tolist() == [
        0,
        1,
        2,
        3,
        4,
    ]
    layer.counts = np.ones(5, dtype=np.int64)  # later assignments keep the new shape
    assert layer.state_dict()["counts"].tolist() == [1, 1, 1, 1, 1]
    layer.load_state_dict({"counts": np.full(5, 7)})
    assert layer.counts.tolist() == [7] * 5


def test_registering_a_buffer_over_a_parameter_replaces_it():
    layer = nn.Affine(2, 2, rng=0)
    layer.register_buffer("W", np.zeros(3))
    assert [name for name, _ in layer.named_parameters()] == ["b"]
    assert sorted(layer.state_dict()) == ["W", "b"] and layer.W.shape == (3,)
    with pytest.raises(TypeError, match="real numbers"):
        layer.register_buffer("names", np.array(["a"]))


# --- graphs: labels declared the obvious way ------------------------------------------------


def _classifier(t):
    x = nn.Input((4,), name="x")
    scores = nn.Affine(4, 3, rng=0)(x)
    return nn.Graph([x, t], nn.SoftmaxWithLoss()(scores, t))


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.int64, np.uint64, ">i8"])
def test_a_label_input_declared_as_one_value_per_sample_builds_and_trains(dtype):
    net = _classifier(nn.Input((), name="t"))
    opt = mg.optim.SGD(net.parameters(), lr=0.5)
    x, t = np.random.default_rng(0).normal(size=(6, 4)), np.array([0, 1, 2, 0, 1, 2], dtype=dtype)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = net(x, t)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[2] < losses[0]
    expected = nn.SoftmaxWithLoss()(nn.Affine(4, 3, rng=0)(x), t.astype(np.int64))
    assert _classifier(nn.Input((), name="t"))(x, t).item() == pytest.approx(float(expected))


def test_a_graph_declared_for_labels_refuses_one_hot_rows_naming_the_input():
    net = _classifier(nn.Input((), name="t"))
    with pytest.raises(ValueError, match=r"input 1 \('t'\) has shape \(2, 3\).*\(None,\)"):
        net(np.ones((2, 4)), np.eye(3)[[0, 2]])
    with pytest.raises(TypeError, match=r"'t'\) needs integer data"):
        net(np.ones((2, 4)), np.array([0.0, 2.0]))


def test_a_graph_declared_for_target_rows_refuses_labels_naming_the_input():
    net = _classifier(nn.Input((3,), name="t"))
    with pytest.raises(ValueError, match=r"input 1 \('t'\) has shape \(2,\).*\(None, 3\)"):
        net(np.ones((2, 4)), np.array([0, 1]))
    assert float(net(np.ones((2, 4)), np.eye(3)[[0, 1]])) > 0


def test_a_declared_dtype_is_checked_against_the_data():
    x = nn.Input((4,), dtype=np.float32, name="x")
    net = nn.Graph(x, nn.Affine(4, 2, dtype=np.float32)(x))
    with pytest.raises(TypeError, match=r"'x'\) needs float data \(declared float32\)"):
        net(np.ones((2, 4), dtype=np.int64))
    assert net(np.ones((2, 4), dtype=np.float32)).dtype == np.float32


def test_a_wrong_input_shape_is_still_a_build_error_that_names_the_layer():
    x = nn.Input((4,), name="x")
    with pytest.raises(ValueError, match="cannot build node 'affine'"):
        nn.Affine(3, 2)(x)


# --- Sequential.summary -----------------------------------------------------------------------


def test_sequential_summary_lists_layers_shapes_and_parameters():
    net = nn.Sequential(nn.Affine(4, 3), nn.ReLU(), nn.Affine(3, 2))
    text = net.summary()
    assert "affine2  Affine" in text and "(None, 2)" in text and "total parameters: 23" in text
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())
    assert "(None, 32)" in conv.summary((1, 6, 6))
    with pytest.raises(ValueError, match="input_shape"):
        conv.summary()
