"""What a user changes between calls of a compiled function is what the next call uses.

Each test builds the same model twice, from the same weights, makes the same change to both
between calls, and runs one eagerly and one through ``mg.compile``: losses, gradients and
weights must agree on every call. A plan that kept the value it saw at the trace would be a
silent wrong answer.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


def twins(build):
    """Two models from one builder, with the first one's weights copied into the second."""
    a, b = build(), build()
    b.load_state_dict(a.state_dict())
    return a, b


def training_step(model, opt):
    def step(x, t):
        opt.zero_grad()
        loss = nn.SoftmaxWithLoss()(model(x), t)
        loss.backward()
        opt.step()
        return loss

    return step


def run_both(build, change, calls=4, lr=0.1, train=True):
    """Call the eager and the compiled step ``calls`` times, ``change(i, model)`` before each."""
    eager_model, compiled_model = twins(build)
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((5, 3)), rng.integers(0, 2, 5)) for _ in range(calls)]
    results = []
    for model, wrap in ((eager_model, lambda f: f), (compiled_model, mg.compile)):
        opt = mg.optim.SGD(model.parameters(), lr=lr)
        step = wrap(training_step(model, opt) if train else (lambda x, model=model: model(x)))
        seen = []
        for i, (x, t) in enumerate(batches):
            change(i, model)
            if train:
                out = step(x, t)
            else:
                with mg.no_grad():
                    out = step(x)
            grads = [None if p.grad is None else p.grad.copy() for p in model.parameters()]
            seen.append((out.numpy().copy(), grads, [p.numpy().copy() for p in model.parameters()]))
        results.append(seen)
    for i, (eager, compiled) in enumerate(zip(*results, strict=True)):
        np.testing.assert_allclose(compiled[0], eager[0], rtol=1e-12, err_msg=f"output, call {i}")
        for g_e, g_c in zip(eager[1], compiled[1], strict=True):
            assert (g_e is None) == (g_c is None), f"which .grad is None, call {i}"
            if g_e is not None:
                np.testing.assert_allclose(g_c, g_e, rtol=1e-12, err_msg=f".grad, call {i}")
        for w_e, w_c in zip(eager[2], compiled[2], strict=True):
            np.testing.assert_allclose(w_c, w_e, rtol=1e-12, err_msg=f"weights, call {i}")


def compiled_sum_step(model, opt):
    """A compiled training step on ``model(x).sum()``."""

    @mg.compile
    def step(x):
        opt.zero_grad()
        loss = model(x).sum()
        loss.backward()
        opt.step()
        return loss

    return step


def two_layers():
    return nn.Sequential(nn.Affine(3, 4, rng=0), nn.ReLU(), nn.Affine(4, 2, rng=1))


def frozen_first_layer():
    model = two_layers()
    model[0].W.requires_grad = False  # a fixed first layer, as when fine-tuning
    model[0].b.requires_grad = False
    return model


@pytest.mark.parametrize("how", ["load_state_dict", "in place", "assigned"])
def test_a_frozen_parameter_changed_between_calls_is_used(how):
    def change(i, model):
        if i != 2:
            return
        W = np.full((3, 4), 0.5)
        if how == "load_state_dict":
            state = model.state_dict()
            first = next(k for k in state if k.endswith("W"))  # the first Affine's weights
            model.load_state_dict({**state, first: W})
        elif how == "in place":
            model[0].W.data[...] = W
        else:
            model[0].W.data = W

    run_both(frozen_first_layer, change)


def test_a_frozen_parameter_changed_between_calls_is_used_by_a_forward_pass():
    def change(i, model):
        if i == 2:
            model[0].W.data[...] = 0.25

    run_both(frozen_first_layer, change, train=False)


def test_freezing_and_unfreezing_a_parameter_between_calls_traces_again():
    def change(i, model):
        if i == 1:
            model[0].W.requires_grad = False
        if i == 3:
            model[0].W.requires_grad = True

    run_both(two_layers, change, calls=5)


class Scaled(nn.Layer):
    """A layer holding settings that are neither parameters nor buffers."""

    def __init__(self):
        super().__init__()
        self.affine = nn.Affine(3, 2, rng=0)
        self.temperature = np.array(1.0)  # a 0-d array
        self.weights = np.ones(2)  # an array
        self.mask = mg.Tensor(np.ones(2))  # a constant tensor

    def forward(self, x):
        return self.affine(x) / self.temperature * self.weights * self.mask


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m.temperature.__setitem__(..., 4.0),
        lambda m: m.weights.__setitem__(..., [2.0, -1.0]),
        lambda m: m.mask.data.__setitem__(..., [0.0, 3.0]),
        lambda m: setattr(m.mask, "data", np.array([5.0, 1.0])),
    ],
    ids=["0-d array in place", "array in place", "tensor in place", "tensor's data assigned"],
)
def test_a_layers_own_arrays_and_tensors_changed_between_calls_are_used(edit):
    run_both(Scaled, lambda i, m: edit(m) if i == 2 else None)


def test_an_array_of_a_config_object_the_function_names_is_read_every_call():
    model = nn.Affine(3, 2, rng=0)
    config = types.SimpleNamespace(scale=np.array(1.0))
    f = mg.compile(lambda x: model(x) * config.scale)
    x = np.ones((1, 3))
    with mg.no_grad():
        first = f(x).numpy().copy()
        config.scale[...] = 10.0
        np.testing.assert_allclose(f(x).numpy(), 10 * first)


def test_names_of_the_function_bound_to_new_objects_between_calls_are_used():
    model = nn.Affine(3, 2, rng=0)
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    scale = np.array(1.0)

    def step(x):  # model, opt and scale are closure cells of this test
        opt.zero_grad()
        loss = (model(x) * scale).sum()
        loss.backward()
        opt.step()
        return loss

    f = mg.compile(step)
    x = np.ones((2, 3))
    f(x), f(x)  # the trace, then the plan
    old = model
    old_weights = old.W.numpy().copy()
    model = nn.Affine(3, 2, rng=5)
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    scale = np.array(3.0)
    before = model.W.numpy().copy()
    loss = f(x)
    expected = (nn.Affine(3, 2, rng=5)(x) * 3.0).sum()
    np.testing.assert_allclose(loss.numpy(), expected.numpy(), rtol=1e-12)
    assert opt.t == 1 and not np.array_equal(model.W.numpy(), before)  # the new ones trained
    np.testing.assert_array_equal(old.W.numpy(), old_weights)  # the old model was left alone


GLOBAL_SCALE = np.array(1.0)


def test_a_global_name_bound_to_a_new_array_between_calls_is_used():
    global GLOBAL_SCALE
    w = mg.Tensor(np.ones(2))
    f = mg.compile(lambda x: (x * w * GLOBAL_SCALE).sum())
    assert float(f(np.ones(2)).data) == 2.0
    GLOBAL_SCALE = np.array(5.0)
    try:
        assert float(f(np.ones(2)).data) == 10.0
    finally:
        GLOBAL_SCALE = np.array(1.0)


@pytest.mark.parametrize("setting", ["lr", "momentum"])
def test_setting_an_optimizer_inside_the_function_is_an_error_naming_the_line(setting):
    model = nn.Affine(3, 2, rng=0)
    opt = mg.optim.SGD(model.parameters(), lr=0.1)

    @mg.compile
    def step(x, value):
        setattr(opt, setting, value)  # even to the value it has: a plan would not repeat it
        opt.zero_grad()
        loss = model(x).sum()
        loss.backward()
        opt.step()
        return loss

    with pytest.raises(RuntimeError, match=rf"sets SGD\.{setting} at .*test_compile_changes"):
        step(np.ones((2, 3)), 0.1 if setting == "lr" else 0.0)
    opt.lr = 0.5  # outside, between calls: fine, and used
    assert opt.lr == 0.5


def test_an_optimizer_subclass_may_keep_its_own_count_in_step():
    class Counting(mg.optim.SGD):
        def step(self):
            self.calls = getattr(self, "calls", 0) + 1  # repeated: the plan calls step()
            super().step()

    model = nn.Affine(3, 2, rng=0)
    opt = Counting(model.parameters(), lr=0.1, momentum=0.9)

    step = compiled_sum_step(model, opt)

    for _ in range(3):
        step(np.ones((2, 3)))
    assert opt.calls == 3 and opt.t == 3


@pytest.mark.parametrize(
    "edit",
    [
        lambda p: p.grad.__imul__(0.5),
        lambda p: np.clip(p.grad, -0.1, 0.1, out=p.grad),
        lambda p: np.clip(p.data, -0.1, 0.1, out=p.data),
        lambda p: p.data.__setitem__(..., 0.0),
    ],
    ids=["grad *= 0.5", "clip the grad", "clip the weights", "data[...] = 0"],
)
def test_an_in_place_numpy_change_of_data_or_grad_inside_is_an_error(edit):
    model = nn.Affine(3, 2, rng=0)
    weights = model.W.numpy().copy()

    @mg.compile
    def step(x):
        model.zero_grad()
        model(x).sum().backward()
        edit(model.W)  # a plan could not repeat it
        return None

    with pytest.raises(
        RuntimeError, match=r"read-only array at .*test_compile_changes.*\.grad are read-only"
    ):
        step(np.ones((2, 3)))
    np.testing.assert_array_equal(model.W.numpy(), weights)  # nothing was changed


def test_reading_data_and_grad_inside_still_works():
    model = nn.Affine(3, 2, rng=0)

    @mg.compile
    def step(x):
        model.zero_grad()
        loss = model(x).sum()
        loss.backward()
        assert model.W.grad.shape == model.W.data.shape == (3, 2)  # reading is fine
        return loss, mg.Tensor(model.W.data) * 2.0

    for k in range(3):
        model.W.data[...] = k  # outside, between calls
        loss, doubled = step(np.ones((2, 3)))
        np.testing.assert_array_equal(doubled.numpy(), np.full((3, 2), 2.0 * k))


@pytest.mark.parametrize("value", [-0.0, np.float64(-0.0), float("nan")])
def test_a_number_argument_gets_a_plan_of_its_own_to_the_sign_of_zero(value):
    w = mg.Tensor(np.array([1.0, 2.0]))
    f = mg.compile(lambda x, c: x * w / c)
    with np.errstate(divide="ignore", invalid="ignore"):
        f(np.ones(2), 0.0)  # the plan for +0.0: +inf
        got, expected = f(np.ones(2), value).numpy(), np.ones(2) * w.numpy() / value
    np.testing.assert_array_equal(got, expected)


def test_a_longdouble_argument_keeps_its_precision_in_the_plan_key():
    a = np.longdouble(1)
    b = a + 4 * np.finfo(np.longdouble).eps
    if b == a or float(a) != float(b):
        pytest.skip("long double is no wider than double here")
    w = mg.Tensor(np.ones(1, dtype=np.longdouble))
    f = mg.compile(lambda x, c: w * x * c)
    f(np.ones(1, dtype=np.longdouble), a)
    assert f(np.ones(1, dtype=np.longdouble), b).numpy()[0] == b


COUNT = 2.0


def test_a_global_number_rebound_between_calls_traces_again():
    global COUNT
    w = mg.Tensor(np.ones(2))
    f = mg.compile(lambda x: (x * w * COUNT).sum())
    assert float(f(np.ones(2)).data) == 4.0
    COUNT = 3.0
    try:
        assert float(f(np.ones(2)).data) == 6.0
    finally:
        COUNT = 2.0


DRAWN_AGAIN = r"draws at random with NumPy.*would repeat the numbers"


def test_a_draw_of_its_own_from_the_generator_of_a_dropout_is_an_error():
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Affine(3, 4, rng=1), nn.Dropout(0.5, rng=rng))

    @mg.compile
    def f(x):
        return model(x).sum() * rng.standard_normal()  # a number drawn besides the masks

    with pytest.raises(RuntimeError, match=DRAWN_AGAIN):
        with mg.no_grad():
            f(np.ones((2, 3)))


def test_a_draw_from_a_generator_on_a_config_object_is_an_error():
    config = types.SimpleNamespace(rng=np.random.default_rng(0))
    w = mg.Tensor(np.ones(2))

    @mg.compile
    def f(x):
        return (x * w).sum() * config.rng.random()

    with pytest.raises(RuntimeError, match=DRAWN_AGAIN):
        f(np.ones(2))


def test_an_optimizer_method_may_set_its_attributes_through_a_helper():
    def keep(opt):
        opt.lr = opt.lr  # set by the optimizer's own step, which the plan calls again

    class Kept(mg.optim.SGD):
        def step(self):
            keep(self)
            super().step()

    model = nn.Affine(3, 2, rng=0)
    opt = Kept(model.parameters(), lr=0.1, momentum=0.5)

    step = compiled_sum_step(model, opt)

    for _ in range(2):
        step(np.ones((2, 3)))
    assert opt.t == 2


def test_another_thread_is_not_refused_while_a_function_is_traced():
    import threading

    model = nn.Affine(3, 2, rng=0)
    other = nn.Affine(3, 2, rng=1)
    other_opt = mg.optim.SGD(other.parameters(), lr=0.1)
    inside, done = threading.Event(), threading.Event()
    errors = []

    @mg.compile
    def f(x):
        inside.set()
        done.wait(10)  # the other thread works while this one is being traced
        return model(x).sum()

    def work():
        inside.wait(10)
        try:
            other_opt.lr = 0.01  # not the traced function's: fine
            other.W.data *= 0.5
            float(other(np.ones((1, 3))).sum())
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)
        finally:
            done.set()

    thread = threading.Thread(target=work)
    thread.start()
    with mg.no_grad():
        f(np.ones((1, 3)))
    thread.join()
    assert errors == [] and other_opt.lr == 0.01
