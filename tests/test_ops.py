"""Every property, for every row of the op table in cases.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from cases import CASES, NOT_OPS
from minigrad import functional as F
from minigrad import ops
from minigrad.tensor import Op, Tensor
from minigrad.testing import assert_grads_match

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")
by_name = pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)


def _call(case, xs, kwargs, dtype=np.float64, requires_grad=True):
    ts = [
        Tensor(
            np.array(x, dtype=dtype) if x.dtype.kind == "f" else x,
            requires_grad=requires_grad and x.dtype.kind == "f",
        )
        for x in xs
    ]
    kwargs = {
        k: v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
        for k, v in kwargs.items()
    }
    return ts, case.fn(*ts, **kwargs)


@by_name
@settings(deadline=None)
@given(data=st.data())
def test_forward_matches_numpy(case, data):
    xs, kwargs = data.draw(case.draw())
    _, y = _call(case, xs, kwargs)
    np.testing.assert_allclose(y.data, case.ref(*xs, **kwargs), rtol=1e-12, atol=1e-12)


@by_name
@settings(deadline=None)
@given(data=st.data())
def test_backprop_matches_numerical(case, data):
    xs, kwargs = data.draw(case.draw())
    assert_grads_match(lambda *ts: case.fn(*ts, **kwargs), *xs)


@by_name
@settings(deadline=None)
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64]))
def test_grads_keep_shape_and_dtype(case, data, dtype):
    xs, kwargs = data.draw(case.draw())
    ts, y = _call(case, xs, kwargs, dtype=dtype)
    if case.name != "astype":
        assert y.dtype == dtype, f"{case.name} turned {np.dtype(dtype)} into {y.dtype}"
    y.backward(np.ones(y.shape, dtype=dtype))
    for t in ts:
        if t.requires_grad and t.grad is not None:
            assert t.grad.shape == t.shape
            assert t.grad.dtype == t.dtype


@by_name
@settings(deadline=None)
@given(data=st.data())
def test_inputs_and_upstream_are_not_mutated(case, data):
    xs, kwargs = data.draw(case.draw())
    originals = [x.copy() for x in xs]
    ts, y = _call(case, xs, kwargs)
    gy = np.linspace(-1, 1, y.size).reshape(y.shape)
    gy_copy = gy.copy()
    y.backward(gy)
    for t, x in zip(ts, originals, strict=True):
        np.testing.assert_array_equal(t.data, x)
    np.testing.assert_array_equal(gy, gy_copy)


@by_name
@settings(deadline=None)
@given(data=st.data())
def test_zero_upstream_gives_zero_grads(case, data):
    xs, kwargs = data.draw(case.draw())
    ts, y = _call(case, xs, kwargs)
    y.backward(np.zeros(y.shape))
    for t in ts:
        if t.grad is not None:
            assert not np.any(t.grad), f"{case.name}: zero upstream gave {t.grad}"


@pytest.mark.parametrize("case", [c for c in CASES if c.second_order], ids=lambda c: c.name)
@settings(deadline=None)
@given(data=st.data())
def test_second_derivatives_match_numerical(case, data):
    xs, kwargs = data.draw(case.draw())
    rng = np.random.default_rng(7)
    y_shape = case.fn(*[Tensor(x) for x in xs], **kwargs).shape
    gy = rng.uniform(-1, 1, y_shape)
    ws = [rng.uniform(-1, 1, np.shape(x)) for x in xs]

    def first_grads_contracted(*ts):
        # numerical_grad calls this with plain constants under no_grad: make them leaves
        ts = [
            t if t.requires_grad or t.dtype.kind != "f" else Tensor(t.data, requires_grad=True)
            for t in ts
        ]
        with mg.enable_grad():
            y = case.fn(*ts, **kwargs)
            wanted = [i for i, t in enumerate(ts) if t.requires_grad]
            gs = mg.grad(y, [ts[i] for i in wanted], grad_outputs=gy, create_graph=True)
            total = Tensor(0.0)
            for i, g in zip(wanted, gs, strict=True):
                total = total + (g * ws[i]).sum()
        return total

    assert_grads_match(first_grads_contracted, *xs, atol=1e-4, rtol=1e-3)


def _all_ops():
    """Every Op class minigrad defines, wherever it lives (ops.py, the sequence layers)."""
    found, pending = set(), [Op]
    while pending:
        for cls in pending.pop().__subclasses__():
            pending.append(cls)
            private = cls.__name__.startswith("_")  # e.g. the compiler's freed-graph marker
            if cls.__module__.startswith("minigrad.") and cls is not ops.Binary and not private:
                found.add(cls)
    return found


@settings(max_examples=1, deadline=None)
@given(data=st.data())
def test_every_op_has_a_row(data):
    """Run each case forward, backward and double-backward; every Op class must be hit."""
    used = set()
    original = Op.apply.__func__

    def spy(cls, *args, **kwargs):
        used.add(cls)
        return original(cls, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Op, "apply", classmethod(spy))
        for case in CASES:
            _run_to_second_order(case, *data.draw(case.draw()))
    missing = _all_ops() - used
    names = sorted(c.__name__ for c in missing)
    assert not missing, f"ops without a row in tests/cases.py: {names}"


def _run_to_second_order(case, xs, kwargs):
    ts, y = _call(case, xs, kwargs)
    wanted = [t for t in ts if t.requires_grad]
    if y.requires_grad:
        mg.grad(y, wanted, grad_outputs=np.ones(y.shape), create_graph=True)


def test_every_tensor_method_has_a_row():
    public = {n for n in dir(Tensor) if not n.startswith("_")} - NOT_OPS
    missing = public - {c.name for c in CASES}
    assert not missing, f"Tensor methods without a row in tests/cases.py: {sorted(missing)}"
    operators = {
        "add",
        "radd",
        "sub",
        "rsub",
        "mul",
        "rmul",
        "truediv",
        "rtruediv",
        "neg",
        "pow",
        "rpow",
        "matmul",
        "rmatmul",
        "getitem",
    }
    assert operators <= {c.name for c in CASES}
    for fn in ("concatenate", "stack", "where", "maximum", "minimum"):
        assert fn in {c.name for c in CASES}


@pytest.mark.parametrize("targets", ["labels", "rows"])
def test_cross_entropy_first_order_and_recorded_backward_agree(targets):
    # why: the loss keeps a second, array-only backward for speed (first order): the same
    # numbers as the recorded one that create_graph uses
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4)) * 5
    t = rng.integers(0, 4, 6) if targets == "labels" else rng.dirichlet(np.ones(4), 6)
    for soft in [False, True] if targets == "rows" else [False]:
        scores = mg.Tensor(x, requires_grad=True)
        target = mg.Tensor(t, requires_grad=soft)
        loss = F.softmax_cross_entropy(scores, target)
        fast = mg.grad(loss, [scores, target] if soft else [scores], retain_graph=True)
        recorded = mg.grad(loss, [scores, target] if soft else [scores], create_graph=True)
        for a, b in zip(fast, recorded, strict=True):
            np.testing.assert_allclose(a.data, b.data, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("op", ["affine", "relu"])
def test_affine_and_relu_first_order_and_recorded_backward_agree(op):
    # why: both keep an array-only first-order backward for eager speed
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    ts = [mg.Tensor(a, requires_grad=True) for a in ((x, w, b) if op == "affine" else (x,))]
    y = F.affine(*ts) if op == "affine" else ts[0].relu()
    seed = rng.standard_normal(y.shape)
    fast = mg.grad(y, ts, grad_outputs=seed, retain_graph=True)
    recorded = mg.grad(y, ts, grad_outputs=mg.Tensor(seed), create_graph=True)
    for a, r in zip(fast, recorded, strict=True):
        np.testing.assert_allclose(a.data, r.data, rtol=1e-12, atol=1e-15)
