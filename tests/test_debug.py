"""mg.detect_anomaly(): the first NaN or inf names the op, forward or backward, and the line."""

import contextlib
import gc
import sys
import threading

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad import debug, tensor

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's, on purpose


def here() -> int:
    """The line of the caller: the test's own line, to find in the message."""
    return sys._getframe(1).f_lineno


def message(fn) -> str:
    """The error's message, its line breaks and indents as single spaces."""
    with pytest.raises(FloatingPointError) as info:
        fn()
    return " ".join(str(info.value).split())


# --- forward --------------------------------------------------------------------------------
def test_forward_failure_names_the_op_the_line_and_its_text():
    x = mg.Tensor([1.0, 0.0, 2.0], requires_grad=True)

    def run():
        with mg.detect_anomaly():
            y = x * 2
            return y.log() + 1  # the Log

    line = here() - 2
    text = message(run)
    assert text.startswith("forward of Log produced -inf in 1 of 3 values")
    assert f"test_debug.py:{line} (" in text
    assert "return y.log() + 1 # the Log" in text
    assert "input 0: shape (3,) float64, min 0, max 4, no NaN or inf" in text
    assert "log_softmax" in text  # the hint for Log


def test_off_by_default_and_outside_nothing_is_checked_or_recorded():
    assert tensor.observer is None
    gc.collect()  # why: records of earlier tests' dead ops must not leave during the count
    before = len(debug._sites)
    x = mg.Tensor([0.0, 1.0], requires_grad=True)
    y = x.log()  # -inf, silently, as NumPy
    y.sum().backward()
    assert np.isneginf(y.data[0]) and np.isinf(x.grad[0])
    assert len(debug._sites) == before


def test_inside_every_recorded_op_has_its_site_and_finite_runs_are_unchanged():
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(8, 4)), rng.integers(0, 3, size=8)
    grads = []
    for checked in (False, True):
        model = mg.nn.Sequential(mg.nn.Affine(4, 5, rng=1), mg.nn.ReLU(), mg.nn.Affine(5, 3, rng=2))
        with mg.detect_anomaly() if checked else contextlib.nullcontext():
            loss = mg.nn.SoftmaxWithLoss()(model(x), t)
            if checked:
                assert id(loss.creator) in debug._sites
            loss.backward()
        grads.append([p.grad for p in model.parameters()])
    for plain, checked in zip(*grads, strict=True):
        np.testing.assert_array_equal(plain, checked)


def test_a_record_goes_with_its_graph():
    x = mg.Tensor(np.ones(3), requires_grad=True)
    with mg.detect_anomaly():
        y = ((x * 2).exp() + 1).sum()
    nodes = tensor.toposort([y], tensor._graph_parents)
    keys = [id(t.creator) for t in nodes if t.creator is not None]
    assert len(keys) == 4 and all(k in debug._sites for k in keys)
    del y, nodes
    gc.collect()
    assert not any(k in debug._sites for k in keys)


def test_an_input_that_already_holds_nan_is_blamed_not_the_op():
    data = np.array([[1.0, np.nan], [3.0, 4.0]])
    w = mg.Tensor(np.ones((2, 2)), requires_grad=True)

    def run():
        with mg.detect_anomaly():
            return mg.Tensor(data) @ w

    text = message(run)
    assert text.startswith("forward of MatMul got input 0 already holding 1 NaN")
    assert "the op did not make it" in text
    assert "leaf tensor" in text
    assert "input 0: shape (2, 2) float64, min 1, max 4, 1 NaN" in text
    assert "why:" not in text  # no hint blaming matmul


def test_nan_input_from_an_op_run_outside_is_named():
    x = mg.Tensor([-1.0], requires_grad=True)
    y = x.sqrt()  # NaN, outside the context

    def run():
        with mg.detect_anomaly():
            return y * 2

    assert "made by Sqrt outside detect_anomaly()" in message(run)


def test_under_no_grad_results_are_still_checked():
    x = mg.Tensor([0.0])

    def run():
        with mg.detect_anomaly(), mg.no_grad():
            return 1 / x

    assert message(run).startswith("forward of Div produced inf in 1 of 1 values")


def test_overflow_of_finite_inputs_says_the_values_grew():
    x = mg.Tensor(np.array([1e200, 1.0]), requires_grad=True)

    def run():
        with mg.detect_anomaly():
            return x * x

    text = message(run)
    assert text.startswith("forward of Mul produced inf in 1 of 2 values")
    assert "min 1, max 1e+200" in text
    assert "overflowed" in text and "learning rate" in text


# --- layers and compositions: the user's line and minigrad's -------------------------------
def test_in_a_layer_both_the_callers_line_and_minigrads_line_are_given():
    model = mg.nn.Sequential(mg.nn.Affine(3, 2, rng=0), mg.nn.Tanh())
    model[0].W.data[:] = 1e300

    def run():
        with mg.detect_anomaly():
            return model(np.full((1, 3), 1e10))

    line = here() - 2
    text = message(run)
    assert text.startswith("forward of Affine produced inf")
    assert f"test_debug.py:{line} (" in text and "return model(np.full((1, 3), 1e10))" in text
    assert "inside minigrad: Sequential.forward > Affine.forward > affine" in text
    assert "at minigrad/functional.py:" in text


def test_in_a_function_of_minigrad_the_ops_own_line_is_given():
    x = mg.Tensor([[1.0, np.inf]], requires_grad=True)

    def run():
        with mg.detect_anomaly():
            return F.softmax(x)

    text = message(run)
    # x.max is the first op that gets the inf: blamed on the input, inside softmax
    assert text.startswith("forward of Max got input 0 already holding 1 +inf")
    assert "inside minigrad: softmax" in text and "x.max(axis=axis, keepdims=True)" in text


# --- backward -------------------------------------------------------------------------------
def test_backward_failure_points_at_the_forward_line_not_the_backward_call():
    x = mg.Tensor([0.0, 4.0], requires_grad=True)

    def run():
        with mg.detect_anomaly():
            y = x.sqrt()
            z = y * 3
            z.sum().backward()

    line = here() - 4
    text = message(run)
    assert text.startswith("backward of Sqrt produced inf in 1 of 2 values")
    assert f"the forward op was recorded at tests/test_debug.py:{line} (" in text
    assert "y = x.sqrt()" in text and "backward()" not in text
    assert "gradient flowing in: shape (2,) float64, min 3, max 3, no NaN or inf" in text
    assert "1 / (2 sqrt(x))" in text


def test_a_gradient_made_by_array_code_is_checked_too():
    x = mg.Tensor(np.ones((2, 3)), requires_grad=True)
    w = mg.Tensor(np.full((3, 4), 10.0), requires_grad=True)
    b = mg.Tensor(np.zeros(4), requires_grad=True)

    def run():  # Affine's first-order backward works on arrays, no op records it
        with mg.detect_anomaly():
            F.affine(x, w, b).backward(np.full((2, 4), 1e308))

    text = message(run)
    assert text.startswith("backward of Affine produced inf in 6 of 6 values in the gradient")
    assert "of its input 0" in text


def test_a_nan_seed_is_named_as_the_seed():
    x = mg.Tensor([1.0, 2.0], requires_grad=True)

    def run():
        with mg.detect_anomaly():
            (x * x).backward(np.array([1.0, np.nan]))

    text = message(run)
    assert text.startswith("backward of Mul got a gradient already holding 1 NaN")
    assert "it is the seed" in text


def test_summed_gradients_are_checked_as_part_of_the_backward_that_made_them():
    x = mg.Tensor(np.array([1e-300]), requires_grad=True)

    def run():  # each Mul's gradient for x is 1e308; their sum is inf
        with mg.detect_anomaly():
            ((x * 1e308).sum() + (x * 1e308).sum()).backward()

    text = message(run)
    assert text.startswith("backward of Mul produced inf in 1 of 1 values when adding its")
    assert "forward of" not in text


def test_a_broadcast_gradient_summed_back_is_checked():
    x = mg.Tensor(np.array([1e-300]), requires_grad=True)
    w = np.array([1e308, 1e308])

    def run():
        with mg.detect_anomaly():
            (x * w).sum().backward()

    text = message(run)
    assert text.startswith("backward of Mul produced inf in 1 of 1 values when summing")


def test_a_gradient_converted_to_the_inputs_dtype_is_checked():
    x = mg.Tensor(np.array([1.0], dtype=np.float32), requires_grad=True)

    def run():  # float32 * float64 is float64; the gradient goes back to float32: overflow
        with mg.detect_anomaly():
            (x * np.array([1e300])).sum().backward()

    assert "when converting its gradient to the input's dtype, float32" in message(run)


def test_seeds_of_an_output_listed_twice_that_overflow_are_named():
    x = mg.Tensor([1.0], requires_grad=True)

    def run():
        with mg.detect_anomaly():
            y = x * 2
            mg.grad([y, y], [x], grad_outputs=[np.array([1e308]), np.array([1e308])])

    text = message(run)
    assert text.startswith("backward: the seeds of an output listed twice add up to inf")
    assert "the sum overflowed" in text


def test_after_a_backward_pass_a_bad_forward_is_a_forward_failure():
    x = mg.Tensor([0.0], requires_grad=True)
    with mg.detect_anomaly():
        (x * 2).sum().backward(retain_graph=True)
        with pytest.raises(FloatingPointError, match="^backward of Sqrt"):
            x.sqrt().sum().backward()  # a pass that ends in an error
        assert message(lambda: x.log()).startswith("forward of Log produced -inf")


class _GradInside(mg.tensor.Op):
    """y = x; its backward runs a backward pass of its own, then divides by zero."""

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        z = mg.Tensor(self.inputs[0].data, requires_grad=True)
        mg.grad((z * z).sum(), [z])
        return gy / mg.Tensor(np.zeros(gy.shape))


def test_a_backward_pass_inside_an_ops_backward_leaves_the_blame_on_that_op():
    x = mg.Tensor([1.0], requires_grad=True)

    def run():
        with mg.detect_anomaly():
            _GradInside.apply(x).sum().backward()

    text = message(run)
    assert text.startswith("backward of _GradInside produced inf in 1 of 1 values in the Div")


def test_forward_outside_backward_inside_says_the_line_is_unknown():
    x = mg.Tensor([0.0], requires_grad=True)
    y = x.sqrt().sum()

    def run():
        with mg.detect_anomaly():
            y.backward()

    text = message(run)
    assert text.startswith("backward of Sqrt produced inf")
    assert "outside detect_anomaly(), so its line is unknown" in text


def test_create_graph_second_derivative_names_the_op_recorded_by_the_first_backward():
    x = mg.Tensor(0.0, requires_grad=True)

    def run():
        with mg.detect_anomaly():
            (g,) = mg.grad(x**1.5, [x], create_graph=True)  # 1.5 x^0.5: 0, finite
            assert float(g.data) == 0.0
            mg.grad(g, [x])  # 0.75 x^-0.5: inf

    line = here() - 4
    text = message(run)
    assert text.startswith("backward of Pow produced inf")
    assert f"test_debug.py:{line} (" in text  # the mg.grad(..., create_graph=True) line
    assert "inside minigrad: Pow.backward" in text and "minigrad/ops.py:" in text


def test_max_pooling_pads_with_minus_inf_without_a_false_alarm():
    x = np.random.default_rng(0).normal(size=(1, 1, 3, 3))
    with mg.detect_anomaly():
        y = mg.nn.MaxPool2d(2, pad=1)(mg.Tensor(x, requires_grad=True))
        y.sum().backward()
    assert np.isfinite(y.data).all()


# --- the mode: restored, nested, chained, as a decorator --------------------------------------
def test_the_previous_mode_is_restored_after_an_exception():
    x = mg.Tensor([0.0], requires_grad=True)
    with pytest.raises(FloatingPointError), mg.detect_anomaly():
        x.sqrt().sum().backward()
    assert tensor.observer is None
    assert mg.is_grad_enabled()
    x.sqrt().sum().backward()  # unchecked again


def test_nested_in_itself_the_outer_context_still_checks_after_the_inner_one():
    x = mg.Tensor([0.0], requires_grad=True)
    with mg.detect_anomaly():
        outer = tensor.observer
        with mg.detect_anomaly():
            assert tensor.observer is outer
        assert tensor.observer is outer
        with pytest.raises(FloatingPointError):
            x.log()
    assert tensor.observer is None


class Tracer:
    """A stand-in for mg.compile's tracer: counts what the engine tells it."""

    def __init__(self):
        self.forwards, self.backwards = [], []

    def forward(self, op, inputs, out):
        self.forwards.append(type(op).__name__)

    def backward(self, op, gy, gxs):
        self.backwards.append(type(op).__name__)


def test_another_observer_is_chained_inside_and_restored_after():
    tracer = Tracer()
    tensor.observer = tracer
    try:
        x = mg.Tensor([1.0, 2.0], requires_grad=True)
        with mg.detect_anomaly():
            (x.exp() * 2).sum().backward()
            assert tensor.observer is not tracer
        assert tensor.observer is tracer
        assert tracer.forwards[:3] == ["Exp", "Mul", "Sum"]
        assert tracer.backwards == ["Sum", "Mul", "Exp"]
        with pytest.raises(FloatingPointError), mg.detect_anomaly():
            x.log() - mg.Tensor([np.inf, 0.0])
        assert tensor.observer is tracer
    finally:
        tensor.observer = None


def test_an_observer_below_that_watches_backward_passes_is_told_of_them_too():
    told = []

    class PassTracer(Tracer):
        def backward_pass(self, running):
            told.append(running)

        def before_backward(self, op, gy):
            told.append(type(op).__name__)

    tensor.observer = PassTracer()
    try:
        x = mg.Tensor([1.0, 2.0], requires_grad=True)
        with mg.detect_anomaly():
            (x * 2).sum().backward()
    finally:
        tensor.observer = None
    assert told == [True, "Sum", "Mul", False]


def test_an_observer_set_inside_and_restored_leaves_the_check_on():
    x = mg.Tensor([0.0], requires_grad=True)
    with mg.detect_anomaly():
        watcher = tensor.observer
        tensor.observer = Tracer()  # what mg.compile does while it traces...
        x * 2
        tensor.observer = watcher  # ...and undoes after
        with pytest.raises(FloatingPointError):
            x.log()


def test_as_a_decorator_also_in_recursion():
    @mg.detect_anomaly()
    def depth(n, x):
        assert tensor.observer is not None
        return x.log() if n == 0 else depth(n - 1, x)

    assert float(depth(3, mg.Tensor(1.0)).data) == 0.0
    assert tensor.observer is None
    with pytest.raises(FloatingPointError, match="forward of Log"):
        depth(2, mg.Tensor(0.0))
    assert tensor.observer is None


def test_another_thread_sees_the_mode_as_with_no_grad():
    # a module global, like grad mode: documented, so tested for what it is
    seen = []
    with mg.detect_anomaly():
        thread = threading.Thread(target=lambda: seen.append(tensor.observer is not None))
        thread.start()
        thread.join()
    assert seen == [True]


# --- mg.where: the NaN of the branch not taken -------------------------------------------------
def where_sqrt(x):
    return mg.where(x.data > 0, x.sqrt(), 0.0)


def double_where_sqrt(x):
    safe = mg.where(x.data > 0, x, 1.0)  # why: sqrt never sees 0, so its gradient is finite
    return mg.where(x.data > 0, safe.sqrt(), 0.0)


def test_where_gives_the_branch_not_taken_an_exact_zero_gradient():
    a = mg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = mg.Tensor([4.0, 5.0, 6.0], requires_grad=True)
    cond = np.array([True, False, True])
    mg.where(cond, a, b).backward(np.array([np.inf, 7.0, 8.0]))
    # the formula: da = gy where cond, else 0; db = gy where not cond, else 0
    np.testing.assert_array_equal(a.grad, [np.inf, 0.0, 8.0])
    np.testing.assert_array_equal(b.grad, [0.0, 7.0, 0.0])


def test_where_of_sqrt_at_zero_has_a_nan_gradient_and_double_where_does_not():
    x = mg.Tensor([0.0, 4.0], requires_grad=True)
    (g,) = mg.grad(where_sqrt(x).sum(), [x])
    # the chain rule: 0 (where's gradient, branch not taken) times 1 / (2 sqrt(0)) = inf
    assert np.isnan(g.data[0]) and g.data[1] == 0.25
    (g,) = mg.grad(double_where_sqrt(x).sum(), [x])
    np.testing.assert_array_equal(g.data, [0.0, 0.25])


def test_detect_anomaly_blames_sqrt_backward_for_the_where_trap():
    x = mg.Tensor([0.0, 4.0], requires_grad=True)

    def run():
        with mg.detect_anomaly():
            y = mg.where(x.data > 0, x.sqrt(), 0.0)
            y.sum().backward()

    text = message(run)
    assert text.startswith("backward of Sqrt produced NaN in 1 of 2 values in the Div it")
    assert "y = mg.where(x.data > 0, x.sqrt(), 0.0)" in text
    assert "double where" in text
    with mg.detect_anomaly():
        double_where_sqrt(x).sum().backward()  # no error


def test_where_trap_matches_torch():
    torch = pytest.importorskip("torch")
    for fn, torch_fn in (
        (where_sqrt, lambda t: torch.where(t > 0, t.sqrt(), 0.0)),
        (
            double_where_sqrt,
            lambda t: torch.where(t > 0, torch.where(t > 0, t, 1.0).sqrt(), 0.0),
        ),
    ):
        x = mg.Tensor([0.0, 4.0, 9.0], requires_grad=True)
        fn(x).sum().backward()
        t = torch.tensor([0.0, 4.0, 9.0], dtype=torch.float64, requires_grad=True)
        torch_fn(t).sum().backward()
        np.testing.assert_array_equal(x.grad, t.grad.numpy())
