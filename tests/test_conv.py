"""Conv2d and MaxPool2d: forward against slow reference loops, gradients against numerical
differentiation (first and second order), initialisation and error messages.

The op-table rows (tests/cases.py) cover F.conv2d, F.max_pool2d, F.im2col and F.col2im
under random shapes and settings; here the layers are checked on fixed combinations.
"""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
import minigrad.functional as F
from cases import conv2d_reference, max_pool2d_reference
from minigrad.nn.conv import Conv2d, MaxPool2d
from minigrad.tensor import Tensor
from minigrad.testing import assert_layer_grads_match

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

# (in_channels, out_channels, kernel_size, stride, pad, image (H, W))
CONV_SETTINGS = [
    (1, 2, 3, 1, 0, (5, 5)),
    (2, 3, 3, 2, 1, (5, 6)),
    (2, 1, (2, 3), (1, 2), (0, 1), (4, 5)),
    (1, 2, 1, 3, 0, (6, 4)),
    (2, 2, (3, 1), 1, (1, 0), (3, 3)),
    (1, 1, 5, 1, 2, (3, 4)),
]
# (kernel_size, stride, pad, image (H, W))
POOL_SETTINGS = [
    (2, None, 0, (4, 4)),
    (2, None, 0, (5, 5)),
    (3, 2, 1, (5, 6)),
    ((2, 3), (1, 2), (1, 1), (4, 5)),
    (1, 2, 0, (5, 3)),
    ((3, 2), None, (1, 0), (6, 5)),
]


def _ids(settings):
    return [f"{s}" for s in settings]


# --- Conv2d ---------------------------------------------------------------------------------
@pytest.mark.parametrize("c, fn, kernel, stride, pad, size", CONV_SETTINGS, ids=_ids(CONV_SETTINGS))
def test_conv2d_forward_matches_reference_loop(c, fn, kernel, stride, pad, size):
    rng = np.random.default_rng(1)
    conv = Conv2d(c, fn, kernel, stride=stride, pad=pad, rng=rng)
    conv.b.data = rng.standard_normal(fn)
    x = rng.standard_normal((2, c) + size)
    y = conv(x)
    expected = conv2d_reference(x, conv.W.data, conv.b.data, stride, pad)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("c, fn, kernel, stride, pad, size", CONV_SETTINGS, ids=_ids(CONV_SETTINGS))
def test_conv2d_input_and_parameter_grads_match_numerical(c, fn, kernel, stride, pad, size):
    rng = np.random.default_rng(2)
    conv = Conv2d(c, fn, kernel, stride=stride, pad=pad, rng=rng)
    conv.b.data = rng.standard_normal(fn)
    assert_layer_grads_match(conv, rng.standard_normal((2, c) + size))


@pytest.mark.parametrize("c, fn, kernel, stride, pad, size", CONV_SETTINGS, ids=_ids(CONV_SETTINGS))
def test_second_derivatives_through_conv2d_match_numerical(c, fn, kernel, stride, pad, size):
    """Differentiate g = dL/dx . vx + dL/dW . vW (built with create_graph) once more."""
    rng = np.random.default_rng(3)
    conv = Conv2d(c, fn, kernel, stride=stride, pad=pad, rng=rng)
    x = rng.standard_normal((1, c) + size)
    W0 = conv.W.data.copy()
    y_shape = conv(x).shape
    gy, vx, vW = (rng.uniform(-1, 1, s) for s in (y_shape, x.shape, W0.shape))

    def g(x_leaf):
        y = conv(x_leaf)
        loss = (y * y * gy).sum()  # why: squared, so d2L/dx2 is not zero
        gx, gW = mg.grad(loss, [x_leaf, conv.W], create_graph=True)
        return (gx * vx).sum() + (gW * vW).sum()

    x_leaf = Tensor(x.copy(), requires_grad=True)
    conv.zero_grad()
    g(x_leaf).backward()

    def g_at(x_t, W_t):
        conv.W.data = W_t.data
        with mg.enable_grad():
            return g(Tensor(x_t.data, requires_grad=True))

    num_x, num_W = mg.numerical_grad(g_at, x, W0)
    conv.W.data = W0
    np.testing.assert_allclose(x_leaf.grad, num_x, atol=1e-4, rtol=1e-3)
    np.testing.assert_allclose(conv.W.grad, num_W, atol=1e-4, rtol=1e-3)


def test_conv2d_matches_a_hand_computed_example():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    conv = Conv2d(1, 1, 2, stride=2, pad=1)
    conv.W.data[...] = [[[[1.0, 0.0], [0.0, -1.0]]]]
    conv.b.data[...] = 0.5
    # padded rows/columns of zeros; each output is top-left minus bottom-right, plus 0.5
    expected = [
        [0 - 0, 0 - 2, 0 - 0],
        [0 - 8, 5 - 10, 7 - 0],
        [0 - 0, 13 - 0, 15 - 0],
    ]
    np.testing.assert_array_equal(conv(x).data[0, 0], np.array(expected) + 0.5)


def test_conv2d_he_init_and_seeded_rng():
    conv = Conv2d(3, 200, (5, 4), rng=0)
    fan_in = 3 * 5 * 4
    assert conv.W.shape == (200, 3, 5, 4) and conv.b.shape == (200,)
    assert abs(conv.W.data.std() / np.sqrt(2 / fan_in) - 1) < 0.03
    assert abs(conv.W.data.mean()) < 0.01
    assert not conv.b.data.any()
    assert np.array_equal(conv.W.data, Conv2d(3, 200, (5, 4), rng=0).W.data)
    assert not np.array_equal(conv.W.data, Conv2d(3, 200, (5, 4), rng=1).W.data)
    xavier = Conv2d(3, 200, (5, 4), weight_init="xavier", rng=0)
    np.testing.assert_allclose(xavier.W.data, conv.W.data / np.sqrt(2))
    assert abs(Conv2d(1, 500, 3, weight_init=0.01, rng=0).W.data.std() / 0.01 - 1) < 0.05
    np.random.seed(4)
    first = Conv2d(1, 2, 3).W.data
    np.random.seed(4)
    assert np.array_equal(first, Conv2d(1, 2, 3).W.data)


def test_conv2d_keeps_float32():
    conv = Conv2d(1, 2, 3, dtype=np.float32, rng=0)
    x = Tensor(np.ones((2, 1, 5, 5), dtype=np.float32), requires_grad=True)
    y = conv(x)
    y.sum().backward()
    assert y.dtype == np.float32
    assert x.grad.dtype == conv.W.grad.dtype == conv.b.grad.dtype == np.float32


def test_conv2d_names_parameters_as_the_book():
    conv = Conv2d(1, 30, 5, rng=0)
    assert [name for name, _ in conv.named_parameters()] == ["W", "b"]
    assert sorted(conv.state_dict()) == ["W", "b"]
    assert "kernel_size=(5, 5)" in repr(conv)


# --- MaxPool2d ------------------------------------------------------------------------------
def _untied(shape, rng):
    """Distinct values (a shuffled grid): no window holds a tie."""
    return rng.permutation(np.arange(np.prod(shape)) / 8.0 - 4.0).reshape(shape)


@pytest.mark.parametrize("kernel, stride, pad, size", POOL_SETTINGS, ids=_ids(POOL_SETTINGS))
def test_max_pool2d_forward_matches_reference_loop(kernel, stride, pad, size):
    x = _untied((2, 2) + size, np.random.default_rng(5))
    y = MaxPool2d(kernel, stride=stride, pad=pad)(x)
    expected = max_pool2d_reference(x, kernel, stride, pad)
    assert y.shape == expected.shape
    np.testing.assert_array_equal(y.data, expected)


@pytest.mark.parametrize("kernel, stride, pad, size", POOL_SETTINGS, ids=_ids(POOL_SETTINGS))
def test_max_pool2d_grads_match_numerical(kernel, stride, pad, size):
    x = _untied((2, 2) + size, np.random.default_rng(6))
    assert_layer_grads_match(MaxPool2d(kernel, stride=stride, pad=pad), x)


def test_max_pool2d_padding_never_wins():
    x = -np.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # all negative: zero padding would win
    y = MaxPool2d(3, stride=1, pad=1)(x).data[0, 0]
    np.testing.assert_array_equal(y, [[-1, -1, -2], [-1, -1, -2], [-4, -4, -5]])


def test_max_pool2d_gradient_goes_to_the_maximum():
    x = Tensor(np.array([[[[1.0, 4.0], [3.0, 2.0]]]]), requires_grad=True)
    MaxPool2d(2)(x).sum().backward()
    np.testing.assert_array_equal(x.grad, [[[[0.0, 1.0], [0.0, 0.0]]]])


def test_max_pool2d_stride_defaults_to_kernel_and_has_no_parameters():
    pool = MaxPool2d((2, 3))
    assert pool.stride == (2, 3)
    assert pool.parameters() == []
    assert pool(np.zeros((1, 1, 6, 6))).shape == (1, 1, 3, 2)


# --- errors ---------------------------------------------------------------------------------
def test_kernel_larger_than_padded_input_is_a_clear_error():
    with pytest.raises(
        ValueError, match=r"kernel \(5, 5\) is larger than the padded input \(4, 4\)"
    ):
        Conv2d(1, 1, 5, pad=1)(np.zeros((1, 1, 2, 2)))
    with pytest.raises(ValueError, match=r"max_pool2d: the kernel \(3, 3\).*\(2, 2\)"):
        MaxPool2d(3)(np.zeros((1, 1, 2, 2)))


def test_wrong_channel_count_is_a_clear_error():
    with pytest.raises(
        ValueError,
        match=r"\(2, 1, 8, 8\) has 1 channels on axis 1, but W .* needs 3 \(in_channels\)",
    ):
        Conv2d(3, 4, 3)(np.zeros((2, 1, 8, 8)))
    with pytest.raises(
        ValueError, match=r"x of shape \(2, 1, 8, 8\) has 1 channels.*\(4, 3, 3, 3\)"
    ):
        F.conv2d(np.zeros((2, 1, 8, 8)), np.zeros((4, 3, 3, 3)))


def test_non_4d_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"4-D input \(N, C, H, W\), got shape \(8, 8\)"):
        Conv2d(1, 1, 3)(np.zeros((8, 8)))
    with pytest.raises(ValueError, match=r"max_pool2d needs a 4-D input.*\(1, 8, 8\)"):
        MaxPool2d(2)(np.zeros((1, 8, 8)))


@pytest.mark.parametrize("bad", [0, (1, 2, 3), 2.5, (2, -1), "3"])
def test_bad_sizes_are_a_clear_error(bad):
    with pytest.raises(ValueError, match="kernel_size must be an int >= 1 or a"):
        Conv2d(1, 1, bad)
    with pytest.raises(ValueError, match="kernel_size must be an int >= 1 or a"):
        MaxPool2d(bad)


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="stride must be an int >= 1"):
        Conv2d(1, 1, 3, stride=0)
    with pytest.raises(ValueError, match="pad must be an int >= 0"):
        F.conv2d(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3)), pad=-1)
    with pytest.raises(ValueError, match=r"pad \(2, 2\) is more than half the kernel \(3, 3\)"):
        MaxPool2d(3, pad=2)
    with pytest.raises(ValueError, match=r"b must have shape \(2,\)"):
        F.conv2d(np.zeros((1, 1, 4, 4)), np.zeros((2, 1, 3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="in_channels must be a positive int"):
        Conv2d(0, 1, 3)
    with pytest.raises(ValueError, match=r"col2im: columns of shape \(4, 3\) do not fit"):
        F.col2im(np.zeros((4, 3)), (1, 1, 3, 3), 2)


def test_im2col_and_col2im_are_adjoint():
    """<im2col(x), c> == <x, col2im(c)>: the pair is a linear map and its transpose."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 2, 6, 5))
    cols = F.im2col(x, (3, 2), stride=(2, 1), pad=(1, 1))
    c = rng.standard_normal(cols.shape)
    back = F.col2im(c, x.shape, (3, 2), stride=(2, 1), pad=(1, 1))
    assert back.shape == x.shape
    np.testing.assert_allclose((cols.data * c).sum(), (x * back.data).sum(), rtol=1e-12)
