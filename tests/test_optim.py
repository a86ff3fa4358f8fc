"""minigrad.optim: every optimizer against its formula, PyTorch's trajectories and its own state."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.nn import Layer, Parameter
from minigrad.optim import SGD, AdaGrad, Adam, Optimizer, RMSprop

REFERENCE = Path(__file__).parent / "data" / "optim_reference.npz"

# (optimizer class, keyword arguments): every combination the formulas branch on
CONFIGS = [
    (SGD, {"lr": 0.1}),
    (SGD, {"lr": 0.0}),
    (SGD, {"lr": 0.1, "weight_decay": 0.05}),
    (SGD, {"lr": 0.05, "momentum": 0.9}),
    (SGD, {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.05}),
    (SGD, {"lr": 0.05, "momentum": 0.7, "nesterov": True}),
    (SGD, {"lr": 0.05, "momentum": 0.7, "nesterov": True, "weight_decay": 0.1}),
    (AdaGrad, {}),
    (AdaGrad, {"lr": 0.3, "eps": 1e-3}),
    (RMSprop, {}),
    (RMSprop, {"lr": 0.02, "alpha": 0.5, "eps": 1e-4}),
    (Adam, {}),
    (Adam, {"lr": 0.01, "weight_decay": 0.1}),
    (Adam, {"lr": 0.2, "betas": (0.5, 0.9), "eps": 1e-3}),
    (Adam, {"lr": 0.05, "betas": (0.0, 0.5)}),
]


def config_id(config: tuple[type, dict]) -> str:
    cls, kwargs = config
    return cls.__name__ + "".join(f"-{k}={v}" for k, v in kwargs.items())


SHAPES = [(3, 4), (5,), ()]
STEPS = 7


def make_problem(seed: int = 0) -> tuple[list[np.ndarray], list[list[np.ndarray | None]]]:
    """Starting values and a gradient sequence; parameter 1 has no gradient at steps 2-3."""
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(shape) for shape in SHAPES]
    grads = [[rng.standard_normal(shape) for shape in SHAPES] for _ in range(STEPS)]
    for step in (2, 3):
        grads[step][1] = None
    return init, grads


def run(config, init, grads, dtype=np.float64):
    """Run minigrad's optimizer over the gradient sequence; return the final values."""
    cls, kwargs = config
    params = [mg.Tensor(x.astype(dtype), requires_grad=True) for x in init]
    opt = cls(params, **kwargs)
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = None if g is None else g.astype(dtype)
        opt.step()
    return params, opt


# --- independent NumPy implementations of the documented formulas --------------------------
def reference(config, init, grads):
    """The docstring formulas, written plainly in float64 (new arrays, no in-place tricks)."""
    cls, kwargs = config
    params = [x.astype(np.float64) for x in init]
    state = [{} for _ in params]
    for step_grads in grads:
        for i, g in enumerate(step_grads):
            if g is not None:
                params[i] = REFERENCE_STEPS[cls](params[i], g.astype(np.float64), state[i], kwargs)
    return params


def sgd_step(p, g, s, kw):
    lr, momentum = kw.get("lr", 0.01), kw.get("momentum", 0.0)
    g = g + kw.get("weight_decay", 0.0) * p
    if momentum:
        s["b"] = g if "b" not in s else momentum * s["b"] + g
        g = g + momentum * s["b"] if kw.get("nesterov") else s["b"]
    return p - lr * g


def adagrad_step(p, g, s, kw):
    s["h"] = s.get("h", 0.0) + g * g
    return p - kw.get("lr", 0.01) * g / (np.sqrt(s["h"]) + kw.get("eps", 1e-7))


def rmsprop_step(p, g, s, kw):
    alpha = kw.get("alpha", 0.99)
    s["v"] = alpha * s.get("v", 0.0) + (1 - alpha) * g * g
    return p - kw.get("lr", 0.01) * g / (np.sqrt(s["v"]) + kw.get("eps", 1e-8))


def adam_step(p, g, s, kw):
    beta1, beta2 = kw.get("betas", (0.9, 0.999))
    g = g + kw.get("weight_decay", 0.0) * p
    s["t"] = s.get("t", 0) + 1
    s["m"] = beta1 * s.get("m", 0.0) + (1 - beta1) * g
    s["v"] = beta2 * s.get("v", 0.0) + (1 - beta2) * g**2
    m_hat = s["m"] / (1 - beta1 ** s["t"])
    v_hat = s["v"] / (1 - beta2 ** s["t"])
    return p - kw.get("lr", 0.001) * m_hat / (np.sqrt(v_hat) + kw.get("eps", 1e-8))


REFERENCE_STEPS = {SGD: sgd_step, AdaGrad: adagrad_step, RMSprop: rmsprop_step, Adam: adam_step}


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_float64_matches_the_documented_formula(config):
    init, grads = make_problem()
    params, _ = run(config, init, grads)
    for p, expected in zip(params, reference(config, init, grads), strict=True):
        assert p.dtype == np.float64
        np.testing.assert_allclose(p.data, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_float32_stays_float32_and_matches_the_formula(config):
    init, grads = make_problem(seed=1)
    init = [x.astype(np.float32) for x in init]
    grads = [[None if g is None else g.astype(np.float32) for g in gs] for gs in grads]
    params, opt = run(config, init, grads, dtype=np.float32)
    for p, expected in zip(params, reference(config, init, grads), strict=True):
        assert p.data.dtype == np.float32
        np.testing.assert_allclose(p.data, expected, rtol=1e-5, atol=1e-5)
    for key, value in opt.state_dict().items():
        if key.startswith("state.") and not key.endswith(".step"):
            assert value.dtype == np.float32, key


def test_hyper_parameters_given_as_numpy_float64_do_not_upcast():
    p = mg.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    opt = Adam([p], lr=np.float64(0.1), betas=np.array([0.9, 0.99]), eps=np.float64(1e-6))
    assert type(opt.lr) is float and type(opt.betas[0]) is float
    p.grad = np.ones(3, dtype=np.float32)
    opt.step()
    assert p.data.dtype == np.float32


# --- PyTorch's trajectories (tests/data/make_optim_reference.py) -----------------------------
def torch_cases():
    with np.load(REFERENCE, allow_pickle=False) as data:
        return json.loads(str(data["cases"]))


@pytest.mark.parametrize("case", torch_cases(), ids=lambda case: case[0])
def test_trajectory_matches_pytorch(case):
    name, cls_name, kwargs = case
    with np.load(REFERENCE, allow_pickle=False) as data:
        reference_data = dict(data)
    count = len([k for k in reference_data if k.startswith("init.")])
    has_grad = reference_data["has_grad"]
    params = [
        mg.Tensor(reference_data[f"init.{j}"].copy(), requires_grad=True) for j in range(count)
    ]
    opt = getattr(optim, cls_name)(params, **kwargs)
    for step in range(has_grad.shape[0]):
        for j, p in enumerate(params):
            p.grad = reference_data[f"grads.{j}"][step].copy() if has_grad[step, j] else None
        opt.step()
        for j, p in enumerate(params):
            expected = reference_data[f"{name}.{j}"][step + 1]
            np.testing.assert_allclose(p.data, expected, rtol=1e-12, atol=0, err_msg=f"step {step}")


# --- the step itself ------------------------------------------------------------------------
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_updates_write_into_the_same_array(config):
    cls, kwargs = config
    p = mg.Tensor(np.ones((2, 2)), requires_grad=True)
    data = p.data
    opt = cls([p], **kwargs)
    for _ in range(2):
        p.grad = np.full((2, 2), 0.5)
        opt.step()
    assert p.data is data
    assert opt.t == 2


def test_parameter_without_grad_is_left_alone_and_its_state_does_not_move():
    a = mg.Tensor([1.0, 2.0], requires_grad=True)
    b = mg.Tensor([3.0], requires_grad=True)
    opt = SGD([a, b], lr=0.1, momentum=0.9)
    a.grad = np.array([1.0, 1.0])
    opt.step()
    assert b.data.tolist() == [3.0]
    assert "state.1.velocity" not in opt.state_dict() and opt.state[1] == {}
    np.testing.assert_allclose(a.data, [0.9, 1.9])
    # b's velocity starts at zero on its first gradient: b = 0.9 * 0 + g
    a.grad, b.grad = None, np.array([2.0])
    opt.step()
    assert opt.state_dict()["state.1.velocity"].tolist() == [2.0]
    np.testing.assert_allclose(b.data, [3.0 - 0.1 * 2.0])


def test_adam_counts_steps_per_parameter():
    a = mg.Tensor([1.0], requires_grad=True)
    b = mg.Tensor([1.0], requires_grad=True)
    opt = Adam([a, b], lr=0.1)
    a.grad = np.array([1.0])
    opt.step()
    b.grad = np.array([1.0])
    opt.step()
    state = opt.state_dict()
    assert (int(state["state.0.step"]), int(state["state.1.step"]), int(state["t"])) == (2, 1, 2)
    # b's first step is bias-corrected as a first step: it moves by about lr
    np.testing.assert_allclose(b.data, [0.9], rtol=1e-6)


def test_zero_grad_sets_every_grad_to_none():
    params = [mg.Tensor([1.0], requires_grad=True) for _ in range(3)]
    for p in params:
        p.grad = np.ones(1)
    SGD(params).zero_grad()
    assert all(p.grad is None for p in params)


def test_gradient_of_the_wrong_shape_is_an_error_and_changes_nothing():
    a = mg.Tensor([1.0, 2.0], requires_grad=True)
    b = mg.Tensor([1.0, 2.0], requires_grad=True)
    opt = SGD([a, b], lr=0.1)
    a.grad = np.ones(2)
    b.grad = np.ones(1)
    with pytest.raises(ValueError, match=r"parameter 1 has shape \(2,\) but its gradient"):
        opt.step()
    assert a.data.tolist() == [1.0, 2.0] and opt.t == 0


def test_training_loop_reaches_the_minimum():
    target = np.array([[1.0, -2.0], [0.5, 3.0]])
    w = mg.Tensor(np.zeros((2, 2)), requires_grad=True)
    opt = Adam([w], lr=0.1)
    for _ in range(300):
        opt.zero_grad()
        ((w - target) ** 2).sum().backward()
        opt.step()
    np.testing.assert_allclose(w.data, target, atol=1e-3)


def test_trains_a_layer_through_its_parameters_generator():
    class Line(Layer):
        def __init__(self) -> None:
            super().__init__()
            self.w = Parameter(np.zeros(1, dtype=np.float32))
            self.b = Parameter(np.zeros(1, dtype=np.float32))

        def forward(self, x):
            return x * self.w + self.b

    x = np.linspace(-1, 1, 20, dtype=np.float32)
    y = 3 * x - 1
    model = Line()
    opt = SGD((p for _, p in model.named_parameters()), lr=0.2, momentum=0.5)
    for _ in range(200):
        opt.zero_grad()
        ((model(mg.Tensor(x)) - y) ** 2).mean().backward()
        opt.step()
    np.testing.assert_allclose([model.w.data[0], model.b.data[0]], [3.0, -1.0], atol=1e-4)
    assert model.w.data.dtype == np.float32


# --- non-finite gradients -------------------------------------------------------------------
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_non_finite_gradient_skips_the_whole_step(config, bad):
    cls, kwargs = config
    a = mg.Tensor(np.ones(3), requires_grad=True)
    b = mg.Tensor(np.ones(4), requires_grad=True)
    opt = cls([a, b], **kwargs)
    a.grad, b.grad = np.ones(3), np.ones(4)
    opt.step()
    before = opt.state_dict()
    values = a.data.copy(), b.data.copy()
    b.grad = np.array([1.0, bad, 1.0, 1.0])
    with pytest.warns(RuntimeWarning, match="gradient of parameter 1 holds NaN or inf"):
        opt.step()
    assert np.array_equal(a.data, values[0]) and np.array_equal(b.data, values[1])
    after = opt.state_dict()
    assert after.keys() == before.keys()
    assert all(np.array_equal(after[k], before[k]) for k in before)


def test_warning_names_every_non_finite_parameter():
    params = [mg.Tensor(np.ones(2), requires_grad=True) for _ in range(3)]
    opt = SGD(params)
    params[0].grad = np.array([np.nan, 0.0])
    params[1].grad = np.ones(2)
    params[2].grad = np.array([0.0, np.inf])
    with pytest.warns(RuntimeWarning, match="gradients of parameters 0, 2 hold NaN or inf"):
        opt.step()


@pytest.mark.parametrize(
    "layout",
    [
        lambda a: a,
        lambda a: a.T,  # Fortran order
        lambda a: a[:, 1::2],  # strided, not contiguous
        lambda a: a[1, 1],  # 0-d
    ],
    ids=["C", "F", "strided", "0-d"],
)
def test_nan_is_found_in_every_memory_layout(layout):
    g = np.ones((4, 4))
    g[1, 1] = np.nan
    g = np.asarray(layout(g))
    p = mg.Tensor(np.zeros(g.shape), requires_grad=True)
    opt = SGD([p])
    p.grad = g
    with pytest.warns(RuntimeWarning, match="parameter 0 holds NaN or inf"):
        opt.step()
    assert opt.t == 0 and not p.data.any()


def test_check_finite_false_updates_anyway():
    p = mg.Tensor(np.ones(2), requires_grad=True)
    opt = SGD([p], lr=0.1, check_finite=False)
    p.grad = np.array([np.nan, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
    assert np.isnan(p.data[0]) and p.data[1] == pytest.approx(0.9)


def test_finite_gradient_whose_sum_overflows_is_not_skipped():
    big = np.finfo(np.float32).max / 2
    p = mg.Tensor(np.zeros(4, dtype=np.float32), requires_grad=True)
    opt = SGD([p], lr=1e-30)
    p.grad = np.full(4, big, dtype=np.float32)  # the float32 sum overflows to inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
    assert np.all(p.data < 0) and opt.t == 1


# --- construction errors --------------------------------------------------------------------
def test_parameters_may_come_from_a_generator():
    params = [mg.Tensor([1.0], requires_grad=True) for _ in range(2)]
    opt = SGD(p for p in params)
    assert len(opt.params) == 2
    assert all(x is y for x, y in zip(opt.params, params, strict=True))


def test_empty_parameter_list_is_an_error():
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam(iter([]))


def test_repeated_parameter_is_an_error_naming_both_positions():
    a, b = mg.Tensor([1.0], requires_grad=True), mg.Tensor([2.0], requires_grad=True)
    with pytest.raises(ValueError, match="parameters 0 and 2 are the same tensor"):
        SGD([a, b, a])


def test_integer_parameter_is_a_type_error():
    with pytest.raises(TypeError, match="parameter 1 has dtype int64"):
        SGD([mg.Tensor([1.0], requires_grad=True), mg.Tensor(np.array([1], dtype=np.int64))])


@pytest.mark.parametrize(
    "params, message",
    [
        (mg.Tensor([1.0, 2.0], requires_grad=True), "wrap it in a list"),
        (3, "takes an iterable of parameters"),
        ([np.ones(2)], "parameter 0 is a ndarray"),
        ([("w", np.ones(1))], "parameter 'w' is a ndarray"),
    ],
)
def test_things_that_are_not_parameters_are_type_errors(params, message):
    with pytest.raises(TypeError, match=message):
        SGD(params)


@pytest.mark.parametrize(
    "cls, kwargs, message",
    [
        (SGD, {"lr": -0.1}, "lr must be a finite number >= 0, got -0.1; pass e.g. lr=0.01"),
        (SGD, {"lr": float("nan")}, "lr must be"),
        (SGD, {"momentum": 1.0}, r"momentum must lie in \[0, 1\)"),
        (SGD, {"momentum": -0.5}, "momentum must lie"),
        (SGD, {"nesterov": True}, "nesterov=True needs momentum > 0"),
        (SGD, {"weight_decay": -1.0}, "weight_decay must be"),
        (SGD, {"lr": "fast"}, "lr must be a number"),
        (AdaGrad, {"lr": -1.0}, "lr must be"),
        (AdaGrad, {"eps": -1e-7}, "eps must be"),
        (RMSprop, {"alpha": 1.0}, "alpha must lie"),
        (RMSprop, {"eps": float("inf")}, "eps must be"),
        (Adam, {"betas": (1.0, 0.999)}, r"betas\[0\] must lie"),
        (Adam, {"betas": (0.9, -0.1)}, r"betas\[1\] must lie"),
        (Adam, {"betas": (0.9,)}, "betas must be a pair"),
        (Adam, {"lr": -0.001}, "lr must be"),
        (Adam, {"weight_decay": -0.1}, "weight_decay must be"),
    ],
)
def test_invalid_hyper_parameters_are_value_errors(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls([mg.Tensor([1.0], requires_grad=True)], **kwargs)


def test_repr_shows_the_settings():
    opt = SGD([mg.Tensor([1.0], requires_grad=True)], lr=0.5, momentum=0.9)
    assert repr(opt) == "SGD(1 parameter, lr=0.5, momentum=0.9, nesterov=False, weight_decay=0.0)"


def test_optimizer_base_needs_an_update_rule():
    opt = Optimizer([mg.Tensor([1.0], requires_grad=True)], {})
    opt.params[0].grad = np.ones(1)
    with pytest.raises(NotImplementedError):
        opt.step()


# --- state_dict / load_state_dict -----------------------------------------------------------
def train(opt, params, grads):
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = None if g is None else g.copy()
        opt.step()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("config", CONFIGS, ids=config_id)
def test_resuming_from_state_dict_continues_exactly(config, dtype):
    cls, kwargs = config
    init, grads = make_problem(seed=2)
    grads = [[None if g is None else g.astype(dtype) for g in gs] for gs in grads]
    first, then = grads[:3], grads[3:]

    params = [mg.Tensor(x.astype(dtype), requires_grad=True) for x in init]
    opt = cls(params, **kwargs)
    train(opt, params, first)
    saved_state = opt.state_dict()
    saved_values = [p.data.copy() for p in params]
    train(opt, params, then)

    resumed = [mg.Tensor(x, requires_grad=True) for x in saved_values]
    # a different lr on purpose: load_state_dict must restore the saved one
    fresh = cls(resumed, **{**kwargs, "lr": 0.123})
    fresh.load_state_dict(saved_state)
    train(fresh, resumed, then)

    for p, q in zip(params, resumed, strict=True):
        assert q.data.dtype == dtype
        np.testing.assert_array_equal(p.data, q.data)
    assert fresh.t == opt.t
    final, final_fresh = opt.state_dict(), fresh.state_dict()
    assert final.keys() == final_fresh.keys()
    for key in final:
        np.testing.assert_array_equal(final[key], final_fresh[key], err_msg=key)


def test_state_dict_is_a_copy():
    p = mg.Tensor([1.0], requires_grad=True)
    opt = Adam([p])
    p.grad = np.ones(1)
    opt.step()
    saved = opt.state_dict()
    m = saved["state.0.m"].copy()
    opt.step()
    np.testing.assert_array_equal(saved["state.0.m"], m)


def test_state_dict_layout():
    params = [mg.Tensor(np.ones((2, 3)), requires_grad=True), mg.Tensor([1.0], requires_grad=True)]
    opt = Adam(params)
    assert sorted(opt.state_dict()) == ["betas", "eps", "kind", "lr", "t", "weight_decay"]
    for p in params:
        p.grad = np.ones_like(p.data)
    opt.step()
    state = opt.state_dict()
    assert str(state["kind"]) == "Adam"
    assert sorted(state) == [
        "betas",
        "eps",
        "kind",
        "lr",
        "state.0.m",
        "state.0.step",
        "state.0.v",
        "state.1.m",
        "state.1.step",
        "state.1.v",
        "t",
        "weight_decay",
    ]
    assert state["betas"].shape == (2,) and state["lr"].shape == () and state["t"].shape == ()
    assert state["state.0.m"].shape == (2, 3)
    assert all(isinstance(v, np.ndarray) and not v.dtype.hasobject for v in state.values())


def test_load_state_dict_casts_to_the_parameter_dtype():
    p64 = mg.Tensor(np.ones(3), requires_grad=True)
    opt64 = RMSprop([p64])
    p64.grad = np.full(3, 0.3)
    opt64.step()
    p32 = mg.Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    opt32 = RMSprop([p32])
    opt32.load_state_dict(opt64.state_dict())
    buffer = opt32.state_dict()["state.0.mean_sq"]
    assert buffer.dtype == np.float32
    np.testing.assert_allclose(buffer, 0.01 * 0.09, rtol=1e-6)


def momentum_sgd():
    params = [mg.Tensor(np.ones((2, 2)), requires_grad=True), mg.Tensor([1.0], requires_grad=True)]
    opt = SGD(params, lr=0.1, momentum=0.9)
    for p in params:
        p.grad = np.ones_like(p.data)
    opt.step()
    return opt


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.pop("lr"), "missing key 'lr'"),
        (lambda d: d.update({"state.2.velocity": np.ones(1)}), "unexpected key 'state.2.velocity'"),
        (lambda d: d.update({"state.0.m": np.ones((2, 2))}), "unexpected key 'state.0.m'"),
        (lambda d: d.update({"betas": np.ones(2)}), "unexpected key 'betas'"),
        (
            lambda d: d.update({"state.0.velocity": np.ones(4)}),
            r"'state.0.velocity': expected shape \(2, 2\), got \(4,\)",
        ),
        (lambda d: d.update({"lr": np.array(-1.0)}), "lr must be a finite number"),
        (lambda d: d.update({"lr": np.ones(2)}), "lr must be a number"),
        (lambda d: d.update({"nesterov": np.array(True), "momentum": np.array(0.0)}), "nesterov"),
        (lambda d: d.update({"nesterov": np.array("yes")}), "nesterov must be True or False"),
        (lambda d: d.update({"t": np.array(1.5)}), "'t': expected a count"),
        (lambda d: d.update({"kind": np.ones(1)}), r"holds \[1.\] state, not SGD"),
        (lambda d: d.update({"state.0.velocity": np.array(["a"] * 4).reshape(2, 2)}), "dtype <U1"),
    ],
)
def test_bad_state_dict_is_rejected_and_changes_nothing(change, message):
    opt = momentum_sgd()
    before = opt.state_dict()
    bad = opt.state_dict()
    change(bad)
    with pytest.raises(ValueError, match=message):
        opt.load_state_dict(bad)
    after = opt.state_dict()
    assert after.keys() == before.keys()
    assert all(np.array_equal(after[k], before[k]) for k in before)
    assert opt.lr == 0.1 and opt.momentum == 0.9


def test_state_dict_of_another_optimizer_is_rejected_by_its_kind(tmp_path):
    p = mg.Tensor([1.0], requires_grad=True)
    mg.save(Adam([p]), tmp_path / "adam.npz")
    sgd = SGD([p], lr=0.5)
    with pytest.raises(ValueError, match="this file holds Adam state, not SGD"):
        sgd.load_state_dict(mg.load(tmp_path / "adam.npz"))
    assert sgd.lr == 0.5


def test_a_subclass_loads_the_state_of_its_base_class_but_not_the_reverse():
    class ClippedSGD(SGD):
        pass

    p = mg.Tensor([1.0], requires_grad=True)
    base = SGD([p], lr=0.3, momentum=0.5)
    p.grad = np.ones(1)
    base.step()
    sub = ClippedSGD([p])
    sub.load_state_dict(base.state_dict())
    assert sub.lr == 0.3 and sub.state[0]["velocity"].tolist() == [1.0]
    with pytest.raises(ValueError, match="this file holds ClippedSGD state, not SGD"):
        SGD([p]).load_state_dict(sub.state_dict())


def test_every_bad_key_is_named_in_one_error():
    opt = momentum_sgd()
    bad = opt.state_dict()
    del bad["lr"], bad["t"]
    bad["state.0.velocity"] = np.ones(3)
    bad["extra"] = np.ones(1)
    with pytest.raises(ValueError) as info:
        opt.load_state_dict(bad)
    message = str(info.value)
    for text in [
        "missing key 'lr'",
        "missing key 't'",
        "'state.0.velocity'",
        "unexpected key 'extra'",
    ]:
        assert text in message


def test_a_parameter_state_must_be_complete():
    params = [mg.Tensor([1.0], requires_grad=True), mg.Tensor([2.0], requires_grad=True)]
    opt = Adam(params)
    for p in params:
        p.grad = np.ones(1)
    opt.step()
    bad = opt.state_dict()
    del bad["state.1.m"]
    with pytest.raises(ValueError, match="missing key 'state.1.m'"):
        opt.load_state_dict(bad)
    assert opt.state[1]["step"] == 1


def test_state_saved_after_momentum_was_switched_off_loads_back():
    opt = momentum_sgd()
    opt.momentum = 0.0
    again = SGD(opt.params, lr=0.3, momentum=0.5)
    again.load_state_dict(opt.state_dict())
    assert again.momentum == 0.0 and again.lr == 0.1
    np.testing.assert_array_equal(again.state[0]["velocity"], opt.state[0]["velocity"])


def test_load_state_dict_may_switch_momentum_on():
    p = mg.Tensor([1.0], requires_grad=True)
    plain = SGD([p], lr=0.1)
    with_momentum = SGD([mg.Tensor([1.0], requires_grad=True)], lr=0.2, momentum=0.5)
    plain.load_state_dict(with_momentum.state_dict())
    assert (plain.lr, plain.momentum) == (0.2, 0.5)
    p.grad = np.ones(1)
    plain.step()
    p.grad = np.ones(1)
    plain.step()
    np.testing.assert_allclose(p.data, [1.0 - 0.2 - 0.2 * 1.5])


# --- names, and the place for gradient hooks -----------------------------------------------
def two_layer_net():
    from minigrad import nn

    return nn.Sequential(nn.Affine(2, 3, rng=0), nn.ReLU(), nn.Affine(3, 1, rng=1))


@pytest.mark.parametrize("given", ["layer", "named_parameters"])
def test_warning_names_the_parameters_and_points_at_detect_anomaly(given):
    net = two_layer_net()
    opt = SGD(net if given == "layer" else net.named_parameters(), lr=0.1)
    assert opt.params == net.parameters() and opt.names[0] == "affine1.W"
    for p in net.parameters():
        p.grad = np.zeros_like(p.data)
    net.affine2.b.grad = np.array([np.inf])
    with pytest.warns(RuntimeWarning) as caught:
        opt.step()
    message = str(caught[0].message)
    assert "gradient of parameter 'affine2.b' holds NaN or inf" in message
    assert "run the step under mg.detect_anomaly() to find the op" in message


def test_warning_names_parameters_by_position_without_names():
    net = two_layer_net()
    opt = SGD(net.parameters(), lr=0.1)
    net.affine1.b.grad = np.array([np.nan, 0.0, 0.0])
    with pytest.warns(RuntimeWarning, match="mg.detect_anomaly()") as caught:
        opt.step()
    assert "gradient of parameter 1 holds" in str(caught[0].message)


def test_gradient_of_the_wrong_shape_is_named():
    net = two_layer_net()
    opt = Adam(net)
    net.affine1.W.grad = np.ones(3)
    with pytest.raises(ValueError, match=r"parameter 'affine1.W' has shape \(2, 3\)"):
        opt.step()


def test_prepare_grads_changes_the_gradients_the_update_uses():
    a, b = mg.Tensor([0.0], requires_grad=True), mg.Tensor([0.0, 0.0], requires_grad=True)
    opt = SGD([a, b], lr=1.0)
    seen = []

    def clip_to_norm_one(grads):
        seen.append([None if g is None else g.copy() for g in grads])
        norm = np.sqrt(sum(float((g * g).sum()) for g in grads if g is not None))
        return [None if g is None else g / max(norm, 1.0) for g in grads]

    opt.prepare_grads = clip_to_norm_one
    a.grad, b.grad = np.array([3.0]), np.array([0.0, 4.0])
    opt.step()
    np.testing.assert_allclose(a.data, [-0.6])
    np.testing.assert_allclose(b.data, [0.0, -0.8])
    assert a.grad.tolist() == [3.0]  # the gradients themselves are left as they were
    b.grad = np.array([np.nan, 0.0])
    with pytest.warns(RuntimeWarning):
        opt.step()
    assert len(seen) == 1  # a skipped step never reaches the hook


def test_mixed_names_and_tensors_are_refused():
    w = mg.Tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match="parameter 1 is a tuple"):
        SGD([w, ("b", mg.Tensor([2.0], requires_grad=True))])


# --- subclasses written by users -----------------------------------------------------------------
class _Sign(Optimizer):
    """A direct subclass as the docs show it, with a differently named parameter argument."""

    state_names = ()

    def __init__(self, parameters, lr=0.1, scale=2):
        super().__init__(parameters, locals())

    def update_one(self, p, g, state):
        p -= self.lr * self.scale * np.sign(g)


def test_a_direct_subclass_keeps_its_own_hyper_parameters_through_a_file():
    w = mg.Tensor([1.0, -1.0], requires_grad=True)
    opt = _Sign(mg.nn.Affine(2, 2, rng=0).parameters())
    assert repr(opt) == "_Sign(2 parameters, lr=0.1, scale=2)"  # the list is no setting
    saved = _Sign([w], scale=5).state_dict()
    loaded = _Sign([w])
    loaded.load_state_dict(saved)
    assert loaded.scale == 5 and type(loaded.scale) is int  # a number again, not a 0-d array
    w.grad = np.array([0.5, -0.5])
    loaded.step()
    np.testing.assert_allclose(w.data, [0.5, -0.5])  # 1 - 0.1 * 5 * sign(0.5), and its mirror


def test_a_subclass_of_sgd_that_hands_over_locals_is_told_to_pass_keywords():
    class MySGD(SGD):
        def __init__(self, params, lr=0.1, extra=1):
            super().__init__(params, locals())

    with pytest.raises(TypeError, match=r"MySGD\(\).*'lr' got a dict.*by keyword"):
        MySGD([mg.Tensor([1.0], requires_grad=True)])

    class KeywordSGD(SGD):
        def __init__(self, params, lr=0.1, extra=1):
            super().__init__(params, lr=lr)
            self.extra = extra

    assert repr(KeywordSGD([mg.Tensor([1.0], requires_grad=True)])).startswith("KeywordSGD(1 ")
