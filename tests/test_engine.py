"""The engine: recording, topological backward, accumulation, freeing, higher derivatives."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import Tensor
from minigrad.tensor import toposort


def leaf(values, dtype=np.float64):
    return Tensor(np.array(values, dtype=dtype), requires_grad=True)


def test_grad_accumulates_over_two_backwards():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3 + 2, 3 + 4])


def test_diamond_sums_both_paths_and_runs_each_backward_once(monkeypatch):
    calls = []
    original = mg.ops.Exp.backward

    def counting(self, gy):
        calls.append(1)
        return original(self, gy)

    monkeypatch.setattr(mg.ops.Exp, "backward", counting)
    x = leaf(0.5)
    e = x.exp()
    y = e * 2 + e * 3  # two consumers of e
    y.backward()
    assert len(calls) == 1, "Exp's backward must run once, after both consumers contributed"
    np.testing.assert_allclose(x.grad, 5 * np.exp(0.5))


def test_a_tensor_used_several_times():
    x = leaf(3.0)
    y = x * x * x + x
    y.backward()
    np.testing.assert_allclose(x.grad, 3 * 9 + 1)


def test_repeated_integer_indices_accumulate():
    x = leaf([1.0, 2.0, 3.0])
    x[np.array([0, 0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])


def test_broadcast_operand_gets_gradient_of_its_own_shape():
    b = leaf([1.0, 2.0, 3.0])
    x = leaf(np.ones((4, 3)))
    (x + b).sum().backward()
    assert b.grad.shape == (3,)
    np.testing.assert_array_equal(b.grad, [4.0, 4.0, 4.0])


def test_deep_chain_of_100000_ops_has_no_recursion_error():
    x = leaf(1.0)
    y = x
    for _ in range(100_000):
        y = y + 1e-6
    y.backward()
    assert x.grad == 1.0


def test_second_backward_through_freed_graph_raises():
    x = leaf(2.0)
    y = x.exp() * x
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf(2.0)
    y = x.exp() * x
    y.backward(retain_graph=True)
    first = x.grad.copy()
    y.backward()
    np.testing.assert_allclose(x.grad, 2 * first)


def test_backward_frees_saved_buffers():
    x = leaf(np.ones(3))
    y = (x * 2).exp().sum()
    op = y.creator
    y.backward()
    assert op.inputs is None


def test_non_scalar_backward_needs_grad():
    x = leaf(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"shape \(2, 3\) needs grad=") as err:
        (x * 2).backward()
    assert "np.ones((2, 3))" in str(err.value)


def test_backward_grad_of_wrong_shape_is_an_error():
    x = leaf(np.ones((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        (x * 2).backward(np.ones(3))


def test_backward_on_a_constant_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor(1.0).backward()


def test_grad_does_not_alias_user_arrays():
    x = leaf(np.ones(3))
    gy = np.full(3, 2.0)
    (x + 0).backward(gy)
    gy[:] = 100
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


def test_two_leaves_fed_the_same_gradient_do_not_share_it():
    a, b = leaf(np.ones(2)), leaf(np.ones(2))
    (a + b).sum().backward()
    a.grad *= 5
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_no_grad_records_nothing_as_context_and_decorator():
    x = leaf(1.0)
    with mg.no_grad():
        y = x * 2
    assert not y.requires_grad and y.creator is None

    @mg.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    assert (x * 2).requires_grad, "grad mode is back on after the block"


def test_no_grad_restores_mode_after_an_exception():
    with pytest.raises(ZeroDivisionError), mg.no_grad():
        raise ZeroDivisionError
    assert mg.is_grad_enabled()


def test_detach_cuts_the_graph():
    x = leaf(2.0)
    y = x.detach() * x
    y.backward()
    np.testing.assert_allclose(x.grad, 2.0)


def test_integer_data_cannot_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        Tensor(np.arange(3), requires_grad=True)
    with pytest.raises(TypeError):
        Tensor([True, False], requires_grad=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_with_python_scalars(dtype):
    x = leaf([1.0, 2.0], dtype=dtype)
    y = (2 * x + 1.5 - x / 3.0) ** 2 * 0.5
    y = y.exp().log().sqrt().tanh().sigmoid().relu().clip(0.0, 1.0).mean()
    assert y.dtype == dtype
    y.backward()
    assert x.grad.dtype == dtype


def test_float_arrays_keep_their_dtype_and_ints_are_kept():
    assert Tensor(np.ones(2, np.float32)).dtype == np.float32
    assert Tensor([1, 2]).dtype.kind == "i"


def test_incompatible_shapes_name_the_op_and_both_shapes():
    a, b = Tensor(np.ones((2, 3))), Tensor(np.ones((4,)))
    with pytest.raises(ValueError, match=r"add.*\(2, 3\).*\(4,\)"):
        a + b
    with pytest.raises(ValueError, match=r"mul.*\(2, 3\).*\(4,\)"):
        a * b
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3\).*\(4,\)"):
        a @ b


def test_numpy_array_on_the_left_defers_to_the_tensor():
    x = leaf([1.0, 2.0])
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, Tensor)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_array_protocol_and_accessors():
    t = Tensor([[1.0, 2.0], [3.0, 4.0]])
    assert np.asarray(t) is t.data
    assert t.shape == (2, 2) and t.ndim == 2 and t.size == 4 and len(t) == 2
    assert t.T.numpy()[0, 1] == 3.0
    assert Tensor([5.0]).item() == 5.0


# --- higher derivatives ---------------------------------------------------------------------
def test_newton_method_on_a_quartic_converges_to_one():
    x = leaf(2.0)
    for _ in range(10):
        y = x**4 - 2 * x**2
        (dy,) = mg.grad(y, [x], create_graph=True)
        (d2y,) = mg.grad(dy, [x])
        x = leaf(x.data - dy.data / d2y.data)
    np.testing.assert_allclose(x.data, 1.0, rtol=1e-10)


def test_tanh_derivatives_up_to_third_order_match_closed_forms():
    values = np.linspace(-2, 2, 7)
    x = leaf(values)
    (d1,) = mg.grad(x.tanh().sum(), [x], create_graph=True)
    (d2,) = mg.grad(d1.sum(), [x], create_graph=True)
    (d3,) = mg.grad(d2.sum(), [x])
    t = np.tanh(values)
    np.testing.assert_allclose(d1.data, 1 - t**2, rtol=1e-12)
    np.testing.assert_allclose(d2.data, -2 * t * (1 - t**2), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(d3.data, -2 * (1 - t**2) * (1 - 3 * t**2), rtol=1e-10, atol=1e-14)


def test_hessian_vector_product_matches_finite_differences_of_gradients():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 4))
    x0, v = rng.standard_normal(4), rng.standard_normal(4)

    def f(x):
        return ((x @ a).tanh() * x).sum() + (x**3).sum()

    def gradient(values):
        x = leaf(values)
        (g,) = mg.grad(f(x), [x])
        return g.data

    x = leaf(x0)
    (g,) = mg.grad(f(x), [x], create_graph=True)
    (hv,) = mg.grad((g * v).sum(), [x])
    eps = 1e-6
    expected = (gradient(x0 + eps * v) - gradient(x0 - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv.data, expected, rtol=1e-6, atol=1e-8)


def test_create_graph_gradient_can_be_backpropagated_into_grad():
    x = leaf(3.0)
    (dx,) = mg.grad(x**3, [x], create_graph=True)
    dx.backward()
    np.testing.assert_allclose(x.grad, 18.0)


def test_grad_leaves_dot_grad_untouched_and_frees_by_default():
    x = leaf(2.0)
    y = x * x
    (g,) = mg.grad(y, [x])
    assert x.grad is None and g.data == 4.0
    with pytest.raises(RuntimeError, match="freed"):
        y.backward()


def test_grad_of_an_unconnected_input_is_zero():
    x, z = leaf(1.0), leaf(np.ones(3))
    gx, gz = mg.grad(x * 2, [x, z])
    assert gx.data == 2.0
    np.testing.assert_array_equal(gz.data, np.zeros(3))


def test_grad_answers_every_position_of_an_input_listed_twice():
    a = mg.Tensor(np.ones(2), requires_grad=True)
    b = mg.Tensor(np.full(2, 2.0), requires_grad=True)
    ga, gb, ga_again = mg.grad((a * b).sum(), [a, b, a])
    np.testing.assert_array_equal(ga.data, [2.0, 2.0])
    np.testing.assert_array_equal(ga_again.data, [2.0, 2.0])
    np.testing.assert_array_equal(gb.data, [1.0, 1.0])


def test_tensor_grad_outputs_take_the_dtype_of_their_output():
    w = mg.Tensor(np.ones((2, 1)), requires_grad=True)
    b = mg.Tensor(np.zeros(1), requires_grad=True)
    y = mg.functional.affine(np.ones((3, 2)), w, b)
    gw, gb = mg.grad(y, [w, b], grad_outputs=mg.Tensor(np.ones((3, 1), dtype=bool)))
    assert gw.dtype == gb.dtype == np.float64
    np.testing.assert_array_equal(gb.data, [3.0])  # a count, not a logical or
    np.testing.assert_array_equal(gw.data, [[3.0], [3.0]])


def test_grad_with_respect_to_an_intermediate():
    x = leaf(2.0)
    h = x * 3
    (gh,) = mg.grad(h * h, [h])
    assert gh.data == 12.0


def test_without_create_graph_backward_records_nothing():
    x = leaf(np.ones(3))
    (g,) = mg.grad((x.exp() * x).sum(), [x])
    assert not g.requires_grad and g.creator is None


# --- the topological sort --------------------------------------------------------------------
def test_toposort_is_deterministic_and_puts_parents_first():
    graph = {"d": ["b", "c"], "b": ["a"], "c": ["a"], "a": []}
    order = toposort(["d"], lambda n: graph[n])
    assert order == ["a", "b", "c", "d"]
    assert order == toposort(["d"], lambda n: graph[n])


def test_toposort_detects_a_cycle():
    graph = {"a": ["b"], "b": ["a"]}
    with pytest.raises(ValueError, match="cycle"):
        toposort(["a"], lambda n: graph[n])


def test_transpose_with_negative_axes_backpropagates_the_inverse_permutation():
    x = leaf(np.arange(24.0).reshape(2, 3, 4))
    weights = np.random.default_rng(0).standard_normal((4, 2, 3))
    (x.transpose(-1, 0, 1) * weights).sum().backward()
    np.testing.assert_array_equal(x.grad, weights.transpose(1, 2, 0))


def test_a_backward_of_the_wrong_shape_is_an_error_not_a_wrong_gradient():
    class Broken(mg.tensor.Op):
        def forward(self, x):
            return x.sum(axis=0)

        def backward(self, gy):
            return gy.reshape(1, -1).broadcast_to((5, 3))  # wrong: the input is (2, 3)

    x = leaf(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match=r"Broken backward returned .* \(5, 3\) .* \(2, 3\)"):
        Broken.apply(x).sum().backward()


def test_comparisons_are_elementwise_arrays():
    t = Tensor([1.0, 2.0])
    np.testing.assert_array_equal(t == 1.0, [True, False])
    np.testing.assert_array_equal(t != 1.0, [False, True])
    np.testing.assert_array_equal(np.array([1.0, 2.0]) == t, [True, True])
    np.testing.assert_array_equal(t < 2.0, [True, False])


def test_gradcheck_works_on_functions_that_call_grad_themselves():
    def gradient_norm(x):
        (g,) = mg.grad((x**3).sum(), [x], create_graph=True)
        return (g * g).sum()

    assert mg.gradcheck(gradient_norm, np.array([1.0, -2.0]))


def test_grad_checks_the_shape_of_tensor_grad_outputs_and_takes_a_list():
    x = leaf([1.0, 2.0])
    with pytest.raises(ValueError, match=r"grad_outputs has shape \(3,\)"):
        mg.grad(x * 2, [x], grad_outputs=Tensor(np.ones(3)))
    (g,) = mg.grad(x * 2, [x], grad_outputs=[np.array([1.0, 3.0])])
    np.testing.assert_array_equal(g.data, [2.0, 6.0])


def test_mean_rejects_an_axis_out_of_range():
    with pytest.raises(ValueError, match=r"axis 5 is out of range for shape \(3,\)"):
        Tensor(np.ones(3)).mean(axis=5)


def test_batched_matmul_error_names_the_batch_axes():
    with pytest.raises(ValueError, match=r"batch axes \(2,\) and \(3,\)"):
        Tensor(np.ones((2, 2, 3))) @ Tensor(np.ones((3, 3, 2)))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: mg.maximum(np.ones((2, 3)), np.ones(4)), r"maximum: .*\(2, 3\) and \(4,\)"),
        (lambda: mg.concatenate([Tensor(1.0), Tensor(2.0)]), "0-d tensors; use stack"),
        (lambda: mg.concatenate([np.ones(2)], axis=3), "axis 3 is out of range"),
        (lambda: mg.nn.BatchNorm(3)(np.ones((1, 3))), "more than one value per feature"),
        (lambda: mg.nn.SoftmaxWithLoss()(np.ones((0, 3)), np.zeros(0, int)), "empty batch"),
    ],
    ids=["maximum-shapes", "concat-0d", "concat-axis", "batchnorm-one-row", "empty-loss"],
)
def test_degenerate_inputs_are_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_truth_value_follows_numpy():
    assert not Tensor(0.0) and Tensor([2.0])
    with pytest.raises(ValueError, match="ambiguous"):
        bool(Tensor([1.0, 2.0]))


class _PassWatcher:
    """An observer that watches backward passes: it keeps what the engine tells it."""

    def __init__(self):
        self.told = []

    def forward(self, op, inputs, out):
        pass

    def backward_pass(self, running):
        self.told.append(("pass", running))

    def before_backward(self, op, gy):
        self.told.append(("before", type(op).__name__))

    def backward(self, op, gy, gxs):
        self.told.append(("after", type(op).__name__))


def test_an_observer_is_told_each_backward_and_where_the_pass_starts_and_ends():
    from minigrad import tensor

    x = leaf([1.0, 2.0])
    watcher = tensor.observer = _PassWatcher()
    try:
        (x * 3).sum().backward()
        y = (x * 3).sum()
        with mg.no_grad():
            x += 1.0  # why: makes the backward below fail, after its pass has started
        with pytest.raises(RuntimeError, match="changed in place"):
            y.backward()
    finally:
        tensor.observer = None
    one_pass = [("before", "Sum"), ("after", "Sum"), ("before", "Mul"), ("after", "Mul")]
    # the second pass fails on Mul's input, after Mul's backward: its end is told all the same
    assert watcher.told == [("pass", True), *one_pass, ("pass", False)] * 2
