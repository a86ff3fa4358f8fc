"""NumPy's ufuncs and functions on Tensors, the safety rule, and DLPack."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import interop
from minigrad.tensor import Tensor

rng = np.random.default_rng(14)


def _leaf(shape=(2, 3), low=-2.0, high=2.0, dtype=np.float64):
    return Tensor(rng.uniform(low, high, shape).astype(dtype), requires_grad=True)


def _same_recording(y_numpy, y_tensor, leaves):
    """Both results: Tensors from the same op class, equal values, equal gradients."""
    assert isinstance(y_numpy, Tensor), f"got {type(y_numpy).__name__}, not a Tensor"
    assert type(y_numpy.creator) is type(y_tensor.creator)
    assert y_numpy.dtype == y_tensor.dtype
    np.testing.assert_array_equal(y_numpy.data, y_tensor.data)
    gy = rng.uniform(-1, 1, y_tensor.shape)
    grads_numpy = mg.grad(y_numpy, leaves, grad_outputs=gy)
    grads_tensor = mg.grad(y_tensor, leaves, grad_outputs=gy)
    for g_numpy, g_tensor in zip(grads_numpy, grads_tensor, strict=True):
        np.testing.assert_array_equal(g_numpy.data, g_tensor.data)


# --- ufuncs: the same op as the Tensor operator or method ------------------------------------
UNARY = [
    (np.negative, lambda x: -x, (-2, 2)),
    (np.exp, lambda x: x.exp(), (-2, 2)),
    (np.log, lambda x: x.log(), (0.1, 3)),
    (np.sqrt, lambda x: x.sqrt(), (0.1, 3)),
    (np.absolute, lambda x: x.abs(), (0.1, 3)),
    (np.tanh, lambda x: x.tanh(), (-2, 2)),
    (np.sin, lambda x: x.sin(), (-2, 2)),
    (np.cos, lambda x: x.cos(), (-2, 2)),
    (np.log1p, lambda x: x.log1p(), (-0.5, 2)),
    (np.expm1, lambda x: x.expm1(), (-2, 2)),
    (np.square, lambda x: x.square(), (-2, 2)),
]
BINARY = [
    (np.add, lambda a, b: a + b),
    (np.subtract, lambda a, b: a - b),
    (np.multiply, lambda a, b: a * b),
    (np.divide, lambda a, b: a / b),
    (np.power, lambda a, b: a**b),
    (np.maximum, mg.maximum),
    (np.minimum, mg.minimum),
]


@pytest.mark.parametrize("ufunc, method, domain", UNARY, ids=lambda v: getattr(v, "__name__", ""))
def test_unary_ufunc_records_the_tensor_op(ufunc, method, domain):
    x = _leaf(low=domain[0], high=domain[1])
    _same_recording(ufunc(x), method(x), [x])


@pytest.mark.parametrize("ufunc, op", BINARY, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("placing", ["tensor-tensor", "array-tensor", "tensor-array"])
def test_binary_ufunc_records_the_tensor_op_with_either_operand_an_array(ufunc, op, placing):
    a, b = _leaf(low=0.5, high=2.0), _leaf((3,), low=0.5, high=2.0)
    if placing == "array-tensor":
        _same_recording(ufunc(a.data, b), op(a.data, b), [b])
    elif placing == "tensor-array":
        _same_recording(ufunc(a, b.data), op(a, b.data), [a])
    else:
        _same_recording(ufunc(a, b), op(a, b), [a, b])


def test_matmul_ufunc_and_array_at_operator_record_matmul():
    x, w = _leaf((4, 3)), _leaf((3, 2))
    _same_recording(np.matmul(x, w), x @ w, [x, w])
    _same_recording(x.data @ w, mg.matmul(x.data, w), [w])  # ndarray @ Tensor


def test_array_on_the_left_of_an_operator_gives_a_tensor_with_gradient():
    a, t = rng.uniform(-1, 1, (2, 3)), _leaf()
    for y in (a * t, a + t, a - t, a / t, a @ t.T, a**2 * t):
        assert isinstance(y, Tensor) and y.requires_grad
    y = (a * t).sum()
    y.backward()
    np.testing.assert_array_equal(t.grad, a)


def test_numpy_scalars_keep_float32_as_python_scalars_do():
    t = _leaf(dtype=np.float32)
    for y in (
        np.float64(2.0) * t,
        t * np.float64(2.0),
        np.float64(2.0) + t,
        np.multiply(t, np.float64(2.0)),
        np.int64(3) * t,
        np.power(t, 2.0),
        np.exp(t),
    ):
        assert y.dtype == np.float32, y
        (g,) = mg.grad(y.sum(), [t])
        assert g.dtype == np.float32
    np.testing.assert_array_equal((np.float64(2.0) * t).data, (2.0 * t).data)
    # arrays, 0-d ones included, promote as in NumPy
    assert (np.asarray(2.0) * t).dtype == np.float64
    assert (np.float32(2.0) * _leaf()).dtype == np.float64


def test_python_sum_of_tensors_is_a_tensor_with_gradients():
    ts = [_leaf() for _ in range(3)]
    total = sum(ts)
    assert isinstance(total, Tensor)
    total.sum().backward()
    for t in ts:
        np.testing.assert_array_equal(t.grad, np.ones(t.shape))
    start = np.float64(0.0)  # a NumPy scalar as the start dispatches through np.add
    assert isinstance(sum(ts, start), Tensor) and sum(ts, start).requires_grad


def test_ufunc_dtype_keyword_is_a_recorded_cast():
    t = _leaf()
    y = np.exp(t, dtype=np.float32)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, np.exp(t.data.astype(np.float32)))
    (g,) = mg.grad(y.sum(), [t])
    assert g.dtype == np.float64
    np.testing.assert_allclose(g.data, np.exp(t.data), rtol=1e-6)


def test_ufunc_methods_reduce_and_outer():
    t = _leaf((3, 4))
    _same_recording(np.add.reduce(t), t.sum(axis=0), [t])  # NumPy's default axis is 0
    _same_recording(np.add.reduce(t, axis=None, keepdims=True), t.sum(None, True), [t])
    _same_recording(np.maximum.reduce(t, axis=1), t.max(axis=1), [t])
    _same_recording(np.minimum.reduce(t, axis=1), t.min(axis=1), [t])
    a, b = _leaf((3,)), _leaf((2,))
    y = np.multiply.outer(a, b)
    np.testing.assert_array_equal(y.data, np.multiply.outer(a.data, b.data))
    y.sum().backward()
    np.testing.assert_allclose(a.grad, np.full(3, b.data.sum()))
    np.testing.assert_allclose(b.grad, np.full(2, a.data.sum()))


def test_second_derivatives_flow_through_numpy_calls():
    x = _leaf((5,))
    (g,) = mg.grad(np.sum(np.sin(x)), [x], create_graph=True)
    (gg,) = mg.grad(np.sum(g), [x])
    np.testing.assert_allclose(g.data, np.cos(x.data))
    np.testing.assert_allclose(gg.data, -np.sin(x.data))


def test_a_composite_of_numpy_calls_passes_gradcheck():
    def f(x, w):
        h = np.tanh(np.matmul(x, w))
        return np.mean(np.square(np.concatenate([h, np.exp(-x)], axis=1)))

    assert mg.gradcheck(f, rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, (2, 4)))


# --- functions ---------------------------------------------------------------------------------
FUNCTIONS = [
    ("sum", lambda x: np.sum(x, axis=0, keepdims=True), lambda x: x.sum(0, True)),
    ("mean", lambda x: np.mean(x, axis=(0, 1)), lambda x: x.mean((0, 1))),
    ("max", lambda x: np.max(x, axis=1), lambda x: x.max(1)),
    ("amax", lambda x: np.amax(x), lambda x: x.max()),
    ("min", lambda x: np.min(x, axis=-1, keepdims=True), lambda x: x.min(-1, True)),
    ("reshape", lambda x: np.reshape(x, (3, -1)), lambda x: x.reshape(3, -1)),
    ("transpose", lambda x: np.transpose(x, (1, 0)), lambda x: x.transpose(1, 0)),
    ("transpose_none", np.transpose, lambda x: x.T),
    ("clip", lambda x: np.clip(x, -0.5, 0.5), lambda x: x.clip(-0.5, 0.5)),
    ("clip_keywords", lambda x: np.clip(x, min=-0.5), lambda x: x.clip(-0.5, None)),
    ("ravel", np.ravel, lambda x: x.flatten()),
    ("dot", lambda x: np.dot(x, x.T), lambda x: x @ x.T),
    ("squeeze", lambda x: np.squeeze(x[None]), lambda x: x[None].reshape(x.shape)),
    ("expand_dims", lambda x: np.expand_dims(x, 1), lambda x: x.reshape(2, 1, 3)),
    ("broadcast_to", lambda x: np.broadcast_to(x, (4, 2, 3)), lambda x: x.broadcast_to((4, 2, 3))),
]


@pytest.mark.parametrize("name, with_numpy, with_tensor", FUNCTIONS, ids=lambda v: v)
def test_function_records_the_tensor_method(name, with_numpy, with_tensor):
    x = _leaf()
    _same_recording(with_numpy(x), with_tensor(x), [x])


def test_concatenate_stack_and_where_take_tensors_and_arrays():
    a, b = _leaf(), _leaf()
    c = rng.uniform(size=(2, 3))
    _same_recording(np.concatenate([a, c, b], axis=1), mg.concatenate([a, c, b], 1), [a, b])
    _same_recording(np.stack([a, b, c], axis=-1), mg.stack([a, b, c], -1), [a, b])
    cond = a.data > 0
    _same_recording(np.where(cond, a, b), mg.where(cond, a, b), [a, b])
    _same_recording(np.where(a > 0, a, 0.0), mg.where(a > 0, a, 0.0), [a])
    flat = np.concatenate([a, b], axis=None)
    np.testing.assert_array_equal(flat.data, np.concatenate([a.data, b.data], axis=None))
    assert flat.requires_grad


def test_where_with_only_a_condition_gives_the_positions():
    t = Tensor([[0.0, 2.0], [3.0, 0.0]], requires_grad=True)
    rows, cols = np.where(t)
    np.testing.assert_array_equal(rows, [0, 1])
    np.testing.assert_array_equal(cols, [1, 0])


def test_reduction_keywords_where_initial_and_dtype_are_honoured():
    t = _leaf((3, 4))
    mask = t.data > 0
    y = np.sum(t, where=mask)
    np.testing.assert_allclose(y.data, np.sum(t.data, where=mask))
    y.backward()
    np.testing.assert_array_equal(t.grad, mask.astype(float))
    t.grad = None
    column_mask = np.array([[True], [False], [True]]) | mask
    y = np.mean(t, axis=0, where=column_mask)
    np.testing.assert_allclose(y.data, np.mean(t.data, axis=0, where=column_mask))
    y.sum().backward()
    np.testing.assert_allclose(t.grad, column_mask / column_mask.sum(axis=0))
    np.testing.assert_allclose(np.sum(t, initial=5.0).data, np.sum(t.data, initial=5.0))
    np.testing.assert_allclose(np.max(t, initial=10.0).data, 10.0)
    np.testing.assert_allclose(np.min(t, axis=0, initial=0.0).data, t.data.min(0).clip(None, 0))
    y = np.sum(t, dtype=np.float32)
    assert y.dtype == np.float32
    (g,) = mg.grad(y, [t])
    assert g.dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32])
def test_mean_with_a_where_mask_keeps_numpys_dtype(dtype):
    x = Tensor(rng.uniform(-2, 2, (3, 4)).astype(dtype), requires_grad=dtype != np.int32)
    mask = np.array([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 0, 1]], dtype=bool)  # none empty
    for kwargs in ({"axis": 1}, {}, {"axis": 0, "keepdims": True}):
        y, want = np.mean(x, where=mask, **kwargs), np.mean(x.data, where=mask, **kwargs)
        assert y.dtype == want.dtype, kwargs
        np.testing.assert_allclose(y.data, want, rtol=1e-3 if dtype == np.float16 else 1e-6)


def test_clip_with_tensor_bounds_gives_them_gradients():
    def f(x, lo, hi):
        return (np.clip(x, lo, hi) * np.arange(1.0, 5.0)).sum()

    x = np.array([-2.0, 0.1, 0.2, 3.0])
    assert mg.gradcheck(f, x, np.full(4, -1.0), np.full(4, 1.0))


# --- the safety rule ---------------------------------------------------------------------------
def test_numpy_calls_without_gradient_raise_naming_the_call_and_the_way_out():
    t = _leaf()
    for call, name in [
        (lambda: np.sign(t), "np.sign"),
        (lambda: np.cumsum(t), "np.cumsum"),
        (lambda: np.sort(t), "np.sort"),
        (lambda: np.round(t), "np.round"),
        (lambda: np.prod(t), "np.prod"),
        (lambda: np.add.accumulate(t), "np.add.accumulate"),
        (lambda: np.linalg.norm(t), "np.linalg.norm"),
    ]:
        with pytest.raises(TypeError, match=name) as info:
            call()
        assert "requires grad" in str(info.value) and "t.data" in str(info.value)
    with pytest.raises(TypeError, match=r"np\.var.*x\.mean\(\)"):
        np.var(t)
    for ufunc, base in ((np.log2, 2), (np.log10, 10)):  # a ufunc gets its hint too
        with pytest.raises(TypeError, match=rf"x\.log\(\) / np\.log\({base}\) has a gradient"):
            ufunc(t)


def test_out_and_where_that_cannot_be_recorded_raise_and_write_nothing():
    t = _leaf()
    buffer = np.zeros((2, 3))
    for call, name in [
        (lambda: np.exp(t, out=buffer), r"np\.exp with out="),
        (lambda: np.add(buffer, t, out=buffer), r"np\.add with out="),
        (lambda: np.sum(t, axis=0, out=buffer[0]), r"np\.sum with out="),
        (lambda: np.copyto(buffer, t), r"np\.copyto writes"),
        (lambda: np.exp(t, where=t.data > 0), r"np\.exp with a where= mask"),
        (lambda: np.max(t, where=t.data > 0, initial=0.0), r"np\.max with a where= mask"),
        (lambda: np.reshape(t, (3, 2), order="F"), r"np\.reshape with order='F'"),
    ]:
        with pytest.raises(TypeError, match=name):
            call()
    np.testing.assert_array_equal(buffer, 0.0)
    # why: NumPy's full_like fills through np.copyto; the message names the call the user made
    with pytest.raises(TypeError, match=r"^np\.full_like \(through np\.copyto\) writes"):
        np.full_like(buffer, t)
    with pytest.raises(TypeError, match=r"arr = arr \+ t"):
        buffer += t
    np.testing.assert_array_equal(buffer, 0.0)
    before = t.data.copy()
    with pytest.raises(TypeError, match=r"np\.add\.at writes"):
        np.add.at(t, [0, 0], 1.0)
    np.testing.assert_array_equal(t.data, before)


def test_calls_whose_result_has_no_gradient_return_plain_numpy_values():
    t = _leaf()
    np.testing.assert_array_equal(np.sum(t, dtype=np.int64), np.sum(t.data, dtype=np.int64))
    t.data[0, 0] = np.nan
    assert np.argmax(t) == np.argmax(t.data) and not isinstance(np.argmax(t), Tensor)
    np.testing.assert_array_equal(np.argmin(t, axis=1), np.argmin(t.data, axis=1))
    np.testing.assert_array_equal(np.isfinite(t), np.isfinite(t.data))
    np.testing.assert_array_equal(np.isnan(t), np.isnan(t.data))
    assert np.allclose(t, t, equal_nan=True) is True
    np.testing.assert_array_equal(np.zeros((2, 3)) > t, np.zeros((2, 3)) > t.data)
    assert np.shape(t) == (2, 3) and np.ndim(t) == 2
    like = np.zeros_like(t)
    assert type(like) is np.ndarray and like.shape == (2, 3) and not like.any()
    assert np.full_like(t, 0.5).sum() == 3.0
    assert "nan" in np.array2string(t)


def test_a_list_of_tensors_is_seen_only_by_functions_that_take_a_sequence_of_arrays():
    a, b = _leaf((2,)), _leaf((2,))
    with pytest.raises(TypeError, match=r"np\.vstack has no gradient"):
        np.vstack([a, b])
    _same_recording(np.stack([a, b]), mg.stack([a, b]), [a, b])
    # NumPy converts a list given as one array through __array__ before any dispatch, as
    # np.asarray(t), which must give the values: a constant, as the guide says
    assert type(np.mean([a, b])) is np.float64
    np.testing.assert_array_equal(np.asarray(a), a.data)


def test_tensors_that_do_not_require_grad_get_numpy_results():
    x = rng.uniform(-1, 1, (2, 3))
    np.testing.assert_array_equal(np.sign(Tensor(x)), np.sign(x))
    np.testing.assert_array_equal(np.cumsum(Tensor(x), axis=1), np.cumsum(x, axis=1))
    t = _leaf()
    with mg.no_grad():
        np.testing.assert_array_equal(np.sort(t), np.sort(t.data))
    buffer = np.zeros((2, 3))
    assert np.exp(Tensor(x), out=buffer) is buffer
    np.testing.assert_array_equal(buffer, np.exp(x))
    constant = Tensor(np.zeros(3))
    np.add.at(constant, [0, 0, 2], 1.0)
    np.testing.assert_array_equal(constant.data, [2.0, 0.0, 1.0])
    assert isinstance(np.exp(Tensor(x)), Tensor)  # listed ufuncs still give Tensors


def test_asarray_and_array_still_give_the_values():
    t = _leaf()
    assert np.asarray(t) is t.data
    copy = np.array(t)
    assert type(copy) is np.ndarray and not np.shares_memory(copy, t.data)
    np.testing.assert_array_equal(copy, t.data)
    assert np.asarray(t, dtype=np.float32).dtype == np.float32


def test_another_array_type_gets_its_turn():
    class Other:
        def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
            return "other"

        def __array_function__(self, func, types, args, kwargs):
            return "other"

    t = _leaf()
    assert np.add(t, Other()) == "other"
    assert np.concatenate([t, Other()]) == "other"


def test_operators_go_straight_to_their_ops(monkeypatch):
    def fail(*args):
        raise AssertionError("a Tensor operator went through the NumPy dispatch")

    monkeypatch.setattr(interop, "array_ufunc", fail)
    monkeypatch.setattr(interop, "array_function", fail)
    t, u, w = _leaf(), _leaf(), _leaf((3, 2))
    for y in (t + u, t - u, t * u, t / u, t**2, t @ w, -t, 2.0 * t, t + 1, t.exp()):
        assert isinstance(y, Tensor)


def test_argmax_and_flatten():
    t = Tensor([[1.0, 9.0, 3.0], [8.0, 2.0, 4.0]], requires_grad=True)
    assert t.argmax() == 1 and type(t.argmax(axis=0)) is np.ndarray
    np.testing.assert_array_equal(t.argmax(axis=1), [1, 0])
    np.testing.assert_array_equal(t.argmax(axis=1, keepdims=True), [[1], [0]])
    assert t.flatten().shape == (6,) and t.flatten().requires_grad


# --- DLPack ------------------------------------------------------------------------------------
def test_numpy_from_dlpack_shares_the_tensor_memory():
    t = Tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    assert t.__dlpack_device__() == (1, 0)  # kDLCPU, device 0
    view = np.from_dlpack(t)
    assert view.dtype == np.float32 and view.shape == (2, 3)
    view[0, 1] = 42.0
    assert t.data[0, 1] == 42.0
    t.data[1, 2] = -1.0
    assert view[1, 2] == -1.0


def test_mg_from_dlpack_shares_the_memory_of_its_source():
    a = np.arange(4.0)
    t = mg.from_dlpack(a)
    assert isinstance(t, Tensor) and not t.requires_grad
    a[0] = 7.0
    assert t.data[0] == 7.0
    t.data[3] = 9.0
    assert a[3] == 9.0
    again = mg.from_dlpack(t)  # a Tensor has __dlpack__ too
    again.data[1] = 5.0
    assert a[1] == 5.0
    with pytest.raises(TypeError, match="__dlpack__"):
        mg.from_dlpack([1.0, 2.0])


def test_torch_shares_memory_both_ways():
    torch = pytest.importorskip("torch")
    t = Tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    x = torch.from_dlpack(t)
    assert x.dtype == torch.float32
    x[0, 0] = 3.0
    assert t.data[0, 0] == 3.0
    source = torch.zeros(4, dtype=torch.float64)
    u = mg.from_dlpack(source)
    source[2] = 5.0
    assert u.dtype == np.float64 and u.data[2] == 5.0
    with pytest.raises(BufferError, match="detach"):
        mg.from_dlpack(torch.zeros(2, requires_grad=True))


def test_torch_runs_a_model_with_weights_handed_over_by_dlpack_and_back():
    torch = pytest.importorskip("torch")
    model = mg.nn.Sequential(mg.nn.Affine(4, 3), mg.nn.Tanh(), mg.nn.Affine(3, 2))
    linears = [
        torch.nn.Linear(4, 3, dtype=torch.float64),
        torch.nn.Linear(3, 2, dtype=torch.float64),
    ]
    state = {k: torch.from_dlpack(v) for k, v in model.state_dict().items()}
    with torch.no_grad():
        for i, linear in enumerate(linears, start=1):
            linear.weight.copy_(state[f"affine{i}.W"].T)  # torch keeps (out, in)
            linear.bias.copy_(state[f"affine{i}.b"])
    x = rng.uniform(-1, 1, (5, 4))
    expected = linears[1](torch.tanh(linears[0](torch.from_numpy(x))))
    with mg.no_grad():
        got = model(x)
    np.testing.assert_allclose(got.data, expected.detach().numpy(), rtol=1e-12, atol=1e-12)
    # back: torch trains, minigrad loads its weights through DLPack
    with torch.no_grad():
        for linear in linears:
            linear.weight.mul_(2.0)
    back = {}
    for i, linear in enumerate(linears, start=1):
        back[f"affine{i}.W"] = mg.from_dlpack(linear.weight.detach().T.contiguous())
        back[f"affine{i}.b"] = mg.from_dlpack(linear.bias.detach())
    model.load_state_dict(back)
    np.testing.assert_allclose(model.state_dict()["affine2.W"], linears[1].weight.detach().T)
