"""Dropout and BatchNorm: training and eval behaviour, statistics, gradients, state."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from minigrad.nn.norm import BatchNorm, Dropout
from minigrad.tensor import Tensor
from minigrad.testing import assert_grads_match, assert_layer_grads_match

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


# --- Dropout --------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_keeps_units_scaled_by_one_over_keep_rate(p):
    x = np.random.default_rng(0).uniform(1, 2, (50, 40))
    y = Dropout(p, rng=1)(x).data
    kept = y != 0
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-12)
    assert 0 < kept.sum() < x.size


@pytest.mark.parametrize("p", [0.1, 0.5, 0.75])
def test_dropout_keep_rate_and_mean_are_as_expected(p):
    n = 200_000
    y = Dropout(p, rng=2)(np.ones(n)).data
    rate = (y != 0).mean()
    sigma = np.sqrt(p * (1 - p) / n)
    assert abs(rate - (1 - p)) < 5 * sigma, f"keep rate {rate}, expected {1 - p}"
    assert abs(y.mean() - 1) < 5 * sigma / (1 - p), "inverted dropout must keep the mean"


def test_dropout_is_the_identity_in_eval_and_for_p_zero():
    x = np.random.default_rng(3).standard_normal((4, 5))
    drop = Dropout(0.5, rng=0).eval()
    xt = Tensor(x, requires_grad=True)
    y = drop(xt)
    np.testing.assert_array_equal(y.data, x)
    y.sum().backward()
    np.testing.assert_array_equal(xt.grad, np.ones_like(x))
    np.testing.assert_array_equal(Dropout(0.0, rng=0)(x).data, x)
    assert not np.array_equal(drop.train()(x).data, x), "back in training it drops again"


def test_dropout_gradient_is_the_mask():
    x = Tensor(np.ones((6, 7)), requires_grad=True)
    y = Dropout(0.4, rng=4)(x)
    y.backward(np.ones(y.shape))
    np.testing.assert_array_equal(x.grad, y.data)  # x is ones: y is the scaled mask


def test_dropout_masks_are_reproducible_from_a_seed():
    x = np.ones((8, 8))
    a, b = Dropout(0.5, rng=7), Dropout(0.5, rng=7)
    first = [a(x).data for _ in range(3)]
    second = [b(x).data for _ in range(3)]
    for u, v in zip(first, second, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(first[0], first[1]), "each call draws a new mask"
    shared = np.random.default_rng(7)
    np.testing.assert_array_equal(Dropout(0.5, rng=shared)(x).data, first[0])
    np.random.seed(11)
    c = Dropout(0.5)(x).data
    np.random.seed(11)
    np.testing.assert_array_equal(Dropout(0.5)(x).data, c)


def test_dropout_keeps_float32():
    x = Tensor(np.ones((3, 4), dtype=np.float32), requires_grad=True)
    y = Dropout(0.5, rng=0)(x)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == np.float32


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5, "0.5", True])
def test_dropout_rejects_p_outside_zero_one(p):
    with pytest.raises(ValueError, match=r"outside \[0, 1\)"):
        Dropout(p)
    if isinstance(p, float):
        with pytest.raises(ValueError, match=r"outside \[0, 1\)"):
            F.dropout(np.ones(3), p)


# --- BatchNorm ------------------------------------------------------------------------------
def _batch(shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(3.0, 2.0, shape) * rng.uniform(
        0.5, 4.0, (1, shape[1]) + (1,) * (len(shape) - 2)
    )


@pytest.mark.parametrize("shape, axes", [((32, 5), (0,)), ((4, 3, 5, 6), (0, 2, 3))])
def test_batchnorm_normalises_each_feature_in_training(shape, axes):
    x = _batch(shape)
    y = BatchNorm(shape[1])(x).data
    np.testing.assert_allclose(y.mean(axis=axes), 0, atol=1e-10)
    np.testing.assert_allclose(y.var(axis=axes), 1, atol=1e-4)  # var / (var + eps)


def test_batchnorm_applies_gamma_and_beta():
    bn = BatchNorm(3)
    bn.gamma.data[...] = [1.0, 2.0, 3.0]
    bn.beta.data[...] = [0.0, -1.0, 5.0]
    y = bn(_batch((20, 3))).data
    np.testing.assert_allclose(y.mean(axis=0), [0.0, -1.0, 5.0], atol=1e-10)
    np.testing.assert_allclose(y.std(axis=0), [1.0, 2.0, 3.0], rtol=1e-4)


@pytest.mark.parametrize("shape, axes", [((16, 4), (0,)), ((3, 2, 4, 5), (0, 2, 3))])
def test_batchnorm_running_statistics_follow_the_books_formula(shape, axes):
    bn = BatchNorm(shape[1], momentum=0.8)
    mean, var = np.zeros(shape[1]), np.ones(shape[1])
    for seed in range(3):
        x = _batch(shape, seed)
        bn(x)
        mean = 0.8 * mean + 0.2 * x.mean(axis=axes)
        var = 0.8 * var + 0.2 * x.var(axis=axes)  # biased (ddof=0), as the book
        np.testing.assert_allclose(bn.running_mean, mean, rtol=1e-12)
        np.testing.assert_allclose(bn.running_var, var, rtol=1e-12)


@pytest.mark.parametrize("shape", [(8, 3), (2, 3, 4, 4)])
def test_batchnorm_eval_uses_running_statistics_and_leaves_them(shape):
    bn = BatchNorm(3)
    bn.running_mean = np.array([1.0, -2.0, 0.5])
    bn.running_var = np.array([4.0, 0.25, 9.0])
    bn.gamma.data[...] = [2.0, 1.0, -1.0]
    bn.beta.data[...] = [0.0, 3.0, 1.0]
    bn.eval()
    x = _batch(shape)
    view = (1, 3) + (1,) * (len(shape) - 2)

    def book(v):
        return v.reshape(view)

    expected = (x - book(bn.running_mean)) / np.sqrt(book(bn.running_var) + bn.eps)
    expected = expected * book(bn.gamma.data) + book(bn.beta.data)
    np.testing.assert_allclose(bn(x).data, expected, rtol=1e-12)
    np.testing.assert_array_equal(bn.running_mean, [1.0, -2.0, 0.5])
    np.testing.assert_array_equal(bn.running_var, [4.0, 0.25, 9.0])


def test_batchnorm_momentum_zero_keeps_only_the_last_batch():
    bn = BatchNorm(2, momentum=0.0)
    x = _batch((10, 2))
    bn(x)
    np.testing.assert_allclose(bn.running_mean, x.mean(axis=0))
    np.testing.assert_allclose(bn.running_var, x.var(axis=0))


@pytest.mark.parametrize("shape", [(5, 3), (2, 2, 3, 3)])
def test_batchnorm_grads_match_numerical_in_training(shape):
    bn = BatchNorm(shape[1])
    rng = np.random.default_rng(8)
    bn.gamma.data[...] = rng.uniform(0.5, 2, shape[1])
    bn.beta.data[...] = rng.uniform(-1, 1, shape[1])
    assert_layer_grads_match(bn, _batch(shape, 9))


@pytest.mark.parametrize("shape", [(5, 3), (2, 2, 3, 3)])
def test_batchnorm_grads_match_numerical_in_eval(shape):
    bn = BatchNorm(shape[1])
    bn(_batch(shape, 10))
    assert_layer_grads_match(bn.eval(), _batch(shape, 11))


def test_batchnorm_second_derivatives_match_numerical():
    x = _batch((4, 2), 12)
    gy = np.random.default_rng(13).uniform(-1, 1, x.shape)
    v = np.random.default_rng(14).uniform(-1, 1, x.shape)

    def grad_dot_v(x_t):
        x_t = x_t if x_t.requires_grad else Tensor(x_t.data, requires_grad=True)
        with mg.enable_grad():
            y = F.batch_norm(x_t, np.ones(2), np.zeros(2))
            (gx,) = mg.grad((y * gy).sum(), [x_t], create_graph=True)
            return (gx * v).sum()

    assert_grads_match(grad_dot_v, x, atol=1e-4)


def test_batchnorm_running_statistics_are_buffers_in_state_dict():
    bn = BatchNorm(3)
    bn(_batch((10, 3)))
    assert [name for name, _ in bn.named_parameters()] == ["gamma", "beta"]
    state = bn.state_dict()
    assert sorted(state) == ["beta", "gamma", "running_mean", "running_var"]
    np.testing.assert_array_equal(state["running_mean"], bn.running_mean)
    state["running_mean"][0] = 99.0  # a copy: the layer is untouched
    assert bn.running_mean[0] != 99.0

    fresh = BatchNorm(3)
    fresh.load_state_dict(bn.state_dict())
    np.testing.assert_array_equal(fresh.running_mean, bn.running_mean)
    np.testing.assert_array_equal(fresh.running_var, bn.running_var)
    x = _batch((4, 3), 5)
    np.testing.assert_array_equal(fresh.eval()(x).data, bn.eval()(x).data)


def test_batchnorm_training_does_not_move_a_held_buffer():
    bn = BatchNorm(2)
    held = bn.running_mean
    bn(_batch((6, 2)))
    np.testing.assert_array_equal(held, [0.0, 0.0])
    assert not np.array_equal(bn.running_mean, held)


def test_batchnorm_astype_converts_parameters_and_buffers():
    bn = BatchNorm(2).astype(np.float32)
    assert bn.gamma.dtype == bn.running_mean.dtype == bn.running_var.dtype == np.float32
    x = Tensor(_batch((6, 2)).astype(np.float32), requires_grad=True)
    y = bn(x)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == np.float32
    assert bn.running_mean.dtype == np.float32


def test_batchnorm_wrong_feature_count_is_a_clear_error():
    with pytest.raises(ValueError, match=r"BatchNorm\(3\) needs \(N, 3\).*got shape \(4, 5\)"):
        BatchNorm(3)(np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 4\)"):
        BatchNorm(3)(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="num_features must be a positive int"):
        BatchNorm(0)
    with pytest.raises(ValueError, match=r"momentum = 1.5 is outside \[0, 1\]"):
        BatchNorm(2, momentum=1.5)
    with pytest.raises(ValueError, match="needs running_mean and running_var"):
        F.batch_norm(np.zeros((2, 2)), np.ones(2), np.zeros(2), training=False)
