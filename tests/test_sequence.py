"""Sequence layers: values against the formulas (NumPy, and PyTorch where installed),
gradients against numerical differentiation, bad input, and life inside a Graph."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn
from minigrad.tensor import Tensor
from minigrad.testing import arrays, assert_grads_match, assert_layer_grads_match

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _randomize(layer: nn.Layer, seed: int = 0, scale: float = 0.5) -> nn.Layer:
    """Every parameter drawn afresh, so ones and zeros (gamma, beta, b) hide no mistake."""
    rng = _rng(seed)
    for p in layer.parameters():
        p.data = scale * rng.standard_normal(p.shape).astype(p.dtype)
    return layer


# --- the formulas, in plain NumPy --------------------------------------------------------------
def layer_norm_reference(x, gamma, beta, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def gelu_reference(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


# --- Affine over the last axis -----------------------------------------------------------------
def test_affine_on_a_sequence_applies_to_every_step():
    layer = nn.Affine(3, 2, rng=0)
    _randomize(layer)
    x = _rng(1).standard_normal((4, 5, 3))
    y = layer(x)
    assert y.shape == (4, 5, 2)
    np.testing.assert_allclose(y.data, x @ layer.W.data + layer.b.data, rtol=1e-12)
    one = layer(x[:, 2]).data  # the 2-D path
    np.testing.assert_allclose(y.data[:, 2], one, rtol=1e-12)


@settings(deadline=None)
@given(
    x=arrays(st.sampled_from([(3,), (2, 3), (2, 4, 3), (1, 2, 2, 3)]), min_value=-2, max_value=2)
)
def test_affine_gradients_on_any_leading_axes(x):
    assert_layer_grads_match(_randomize(nn.Affine(3, 2, rng=0)), x)


def test_affine_relu_fusion_on_a_sequence_equals_the_two_layers():
    a = _randomize(nn.Affine(3, 4, rng=0))
    x = _rng(2).standard_normal((2, 5, 3))
    fused = nn.Sequential(a, nn.ReLU())(x).data
    np.testing.assert_allclose(fused, np.maximum(x @ a.W.data + a.b.data, 0), rtol=1e-12)


def test_affine_names_the_feature_size_on_a_wrong_sequence():
    with pytest.raises(ValueError, match=r"Affine\(3, 2\).*last axis.*3.*\(4, 5, 2\)"):
        nn.Affine(3, 2)(np.ones((4, 5, 2)))


# --- LayerNorm ---------------------------------------------------------------------------------
def test_layer_norm_matches_the_formula():
    norm = _randomize(nn.LayerNorm(6))
    x = 3 * _rng(1).standard_normal((4, 5, 6)) + 2
    want = layer_norm_reference(x, norm.gamma.data, norm.beta.data)
    np.testing.assert_allclose(norm(x).data, want, rtol=1e-10, atol=1e-12)


def test_layer_norm_starts_as_a_pure_normalisation():
    x = _rng(3).standard_normal((7, 10)) * 5 + 1
    y = nn.LayerNorm(10)(x).data
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=-1), 1, rtol=1e-4)  # 1 / (1 + eps / var)


@settings(deadline=None)
@given(x=arrays(st.sampled_from([(1, 3), (2, 4), (2, 3, 4)]), min_value=-3, max_value=3))
def test_layer_norm_gradients(x):
    # why: spread the features so the variance is not tiny (1/sqrt(var) is steep near 0)
    x = x + np.arange(x.shape[-1])
    assert_layer_grads_match(_randomize(nn.LayerNorm(x.shape[-1])), x)


def test_layer_norm_keeps_float32_and_checks_its_size():
    norm = nn.LayerNorm(4, dtype=np.float32)
    assert norm(np.ones((2, 4), dtype=np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match=r"LayerNorm\(4\).*4 features.*\(2, 3\)"):
        norm(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="eps"):
        nn.LayerNorm(4, eps=0)


def test_layer_norm_matches_torch():
    torch = pytest.importorskip("torch")
    norm = _randomize(nn.LayerNorm(8))
    x = _rng(4).standard_normal((3, 5, 8))
    ref = torch.nn.LayerNorm(8, eps=1e-5, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.copy_(torch.from_numpy(norm.gamma.data))
        ref.bias.copy_(torch.from_numpy(norm.beta.data))
    xt = torch.from_numpy(x).requires_grad_()
    gy = _rng(5).standard_normal((3, 5, 8))
    ref(xt).backward(torch.from_numpy(gy))
    xm = Tensor(x, requires_grad=True)
    y = norm(xm)
    y.backward(gy)
    np.testing.assert_allclose(y.data, ref(xt).detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xm.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(norm.gamma.grad, ref.weight.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(norm.beta.grad, ref.bias.grad.numpy(), rtol=1e-9)


# --- GELU --------------------------------------------------------------------------------------
def test_gelu_matches_the_formula():
    x = np.linspace(-6, 6, 101)
    np.testing.assert_allclose(nn.GELU()(x).data, gelu_reference(x), rtol=1e-12, atol=1e-15)


@settings(deadline=None)
@given(x=arrays(min_value=-5, max_value=5))
def test_gelu_first_and_second_derivatives(x):
    assert_grads_match(lambda t: nn.GELU()(t), x)
    # the second derivative: differentiate the recorded gradient again
    assert_grads_match(lambda t: mg.grad(nn.GELU()(t).sum(), [t], create_graph=True)[0], x)


def test_gelu_keeps_float32():
    assert nn.GELU()(np.ones(3, dtype=np.float32)).dtype == np.float32


def test_gelu_matches_torch_tanh_approximation():
    torch = pytest.importorskip("torch")
    x = np.linspace(-8, 8, 257)
    xt = torch.from_numpy(x).requires_grad_()
    ref = torch.nn.functional.gelu(xt, approximate="tanh")
    ref.sum().backward()
    xm = Tensor(x, requires_grad=True)
    y = nn.GELU()(xm)
    y.sum().backward()
    np.testing.assert_allclose(y.data, ref.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(xm.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-14)


# --- Embedding ---------------------------------------------------------------------------------
def test_embedding_looks_up_rows_for_ids_of_any_shape():
    emb = nn.Embedding(7, 3, rng=0)
    ids = np.array([[0, 6, 2], [2, 2, 5]])
    y = emb(ids)
    assert y.shape == (2, 3, 3)
    np.testing.assert_array_equal(y.data, emb.W.data[ids])
    assert emb(np.array(4)).shape == (3,)
    assert emb(Tensor(np.array([1, 2], dtype=np.uint8))).shape == (2, 3)


def test_embedding_repeated_ids_accumulate_their_gradients():
    emb = nn.Embedding(5, 2, rng=0)
    ids = np.array([[1, 3, 1], [1, 0, 3]])
    gy = _rng(1).standard_normal((2, 3, 2))
    emb(ids).backward(gy)
    want = np.zeros((5, 2))
    np.add.at(want, ids, gy)
    np.testing.assert_allclose(emb.W.grad, want, rtol=1e-12)
    np.testing.assert_array_equal(emb.W.grad[[2, 4]], 0)


@settings(deadline=None)
@given(ids=st.lists(st.integers(0, 3), min_size=1, max_size=6))
def test_embedding_gradients(ids):
    assert_layer_grads_match(nn.Embedding(4, 3, weight_init=1.0, rng=0), np.array(ids))


def test_embedding_rejects_ids_out_of_range_naming_the_layer_and_range():
    emb = nn.Embedding(5, 2)
    with pytest.raises(ValueError, match=r"Embedding\(5, 2\).*\[0, 5\).*\[5, -1\]"):
        emb(np.array([0, 5, 2, -1]))


def test_embedding_rejects_non_integer_ids():
    emb = nn.Embedding(5, 2)
    with pytest.raises(TypeError, match=r"Embedding\(5, 2\).*integers.*float64.*astype"):
        emb(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="integers"):
        emb(np.array([0.5]))
    with pytest.raises(TypeError, match="integers"):
        emb(np.array([True]))


def test_embedding_keeps_its_dtype_and_is_reproducible():
    a = nn.Embedding(4, 3, dtype=np.float32, rng=1)
    assert a(np.array([0])).dtype == np.float32
    np.testing.assert_array_equal(a.W.data, nn.Embedding(4, 3, dtype=np.float32, rng=1).W.data)


# --- in a Graph: build, summary, DOT, state ------------------------------------------------------
def _token_graph() -> nn.Graph:
    ids = nn.Input((5,), dtype=np.int64, name="ids")
    h = nn.Embedding(11, 8, rng=0)(ids)
    h = nn.LayerNorm(8)(h)
    h = nn.GELU()(nn.Affine(8, 6, rng=1)(h))
    return nn.Graph(ids, nn.Affine(6, 11, rng=2)(h), name="tokens")


def test_token_layers_build_and_run_in_a_graph():
    net = _token_graph()
    ids = _rng(0).integers(0, 11, (3, 5))
    assert net(ids).shape == (3, 5, 11)
    text = net.summary()
    for row in ("embedding1", "layernorm1", "gelu1", "(None, 5, 8)", "(None, 5, 11)"):
        assert row in text, text
    assert "total parameters: " + f"{11 * 8 + 16 + 8 * 6 + 6 + 6 * 11 + 11:,}" in text
    dot = net.to_dot()
    assert dot.startswith("digraph") and "embedding1" in dot and "gelu1" in dot


def test_token_graph_trains_and_round_trips_its_state(tmp_path):
    net = _token_graph()
    ids = _rng(1).integers(0, 11, (4, 5))
    loss_layer = nn.SoftmaxWithLoss()
    opt = mg.optim.Adam(net.parameters(), lr=0.01)
    losses = []
    for _ in range(30):
        loss = loss_layer(net(ids).reshape(-1, 11), ids.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    mg.save(net, tmp_path / "net.npz")
    other = _token_graph()
    other.load_state_dict(mg.load(tmp_path / "net.npz"))
    np.testing.assert_array_equal(other(ids).data, net(ids).data)
    assert set(net.state_dict()) >= {"embedding1.W", "layernorm1.gamma", "layernorm1.beta"}
