"""Sequence layers: values against the formulas (NumPy, and PyTorch where installed),
gradients against numerical differentiation, bad input, and life inside a Graph."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg
from cases import gelu_reference, layer_norm_reference, lstm_reference, rnn_reference
from minigrad import nn
from minigrad.nn.sequence import layer_norm
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


def test_layer_norm_follows_numpy_promotion_as_the_other_layers():
    norm = _randomize(nn.LayerNorm(4))  # float64
    x = (3 * _rng(8).standard_normal((2, 3, 4))).astype(np.float32)
    y = norm(x)
    assert y.dtype == np.result_type(x, norm.gamma.data) == nn.Affine(4, 2)(x).dtype
    want = layer_norm_reference(x.astype(np.float64), norm.gamma.data, norm.beta.data)
    np.testing.assert_allclose(y.data, want, rtol=1e-12, atol=1e-12)


def test_layer_norm_rejects_an_eps_that_is_not_a_positive_number():
    with pytest.raises(TypeError, match=r"LayerNorm: eps must be a number > 0.*'a'"):
        nn.LayerNorm(4, eps="a")
    with pytest.raises(ValueError, match=r"eps.*nan"):
        nn.LayerNorm(4, eps=float("nan"))
    assert nn.LayerNorm(4, eps=np.float32(1e-3)).eps == pytest.approx(1e-3)
    with pytest.raises(TypeError, match=r"layer_norm: eps"):
        layer_norm(np.ones((1, 2)), np.ones(2), np.zeros(2), eps=None)
    with pytest.raises(ValueError, match=r"layer_norm: gamma and beta.*\(2,\) and \(3,\)"):
        layer_norm(np.ones((1, 2)), np.ones(2), np.zeros(3))


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


def test_embedding_checks_weight_init_as_the_other_layers():
    for bad in (float("nan"), -0.1, float("inf")):
        with pytest.raises(ValueError, match=r"weight_init.*>= 0"):
            nn.Embedding(4, 3, weight_init=bad)
    with pytest.raises(TypeError, match=r"Embedding: weight_init.*'he'"):
        nn.Embedding(4, 3, weight_init="he")
    with pytest.raises(TypeError, match="weight_init"):
        nn.Embedding(4, 3, weight_init=True)
    a = nn.Embedding(4, 3, weight_init=np.float32(0.1), rng=2)
    b = nn.Embedding(4, 3, weight_init=1.0, rng=2)
    np.testing.assert_allclose(a.W.data, float(np.float32(0.1)) * b.W.data, rtol=1e-15)


def test_whole_float_ids_and_labels_get_the_same_hint():
    with pytest.raises(TypeError, match=r"they look whole: pass ids\.astype\(np\.int64\)"):
        nn.Embedding(5, 2)(np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"they look whole: pass t\.astype\(np\.int64\)"):
        nn.SoftmaxWithLoss()(np.zeros((2, 3)), np.array([1.0, 2.0]))
    for values in (np.array([0.5]), np.array([np.inf])):  # not whole: no hint
        with pytest.raises(TypeError, match=r"integers, got dtype float64 of shape \(1,\)$"):
            nn.Embedding(5, 2)(values)


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


# --- RNN and LSTM --------------------------------------------------------------------------------
def rnn_steps(a, Wh, h):
    """The RNN recurrence as Tensor ops, one step at a time: an oracle for values and gradients."""
    hs = []
    for t in range(a.shape[1]):
        h = (a[:, t] + h @ Wh).tanh()
        hs.append(h)
    return mg.stack(hs, axis=1)


def lstm_steps(a, Wh, h, c):
    """The sequel's LSTM as Tensor ops, one step at a time; stack([hs, cs])."""
    H = Wh.shape[0]
    hs, cs = [], []
    for t in range(a.shape[1]):
        A = a[:, t] + h @ Wh
        f, g = A[:, :H].sigmoid(), A[:, H : 2 * H].tanh()
        i, o = A[:, 2 * H : 3 * H].sigmoid(), A[:, 3 * H :].sigmoid()
        c = f * c + g * i
        h = o * c.tanh()
        hs.append(h)
        cs.append(c)
    return mg.stack([mg.stack(hs, axis=1), mg.stack(cs, axis=1)])


class _Unrolled(nn.Layer):
    """A recurrent layer with its state as inputs and everything it returns as one Tensor."""

    def __init__(self, layer: nn.Layer) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x, *state):
        if isinstance(self.layer, nn.LSTM):
            hs, (h, c) = self.layer(x, tuple(state), return_state=True)
            last = [h, c]
        else:
            hs, h = self.layer(x, state[0], return_state=True)
            last = [h]
        n = x.shape[0]
        return mg.concatenate([hs.reshape(n, -1), *last], axis=1)


def _recurrent(kind: str, d: int, h: int, seed: int = 0) -> nn.Layer:
    layer = nn.LSTM(d, h, rng=seed) if kind == "lstm" else nn.RNN(d, h, rng=seed)
    layer.b.data = 0.5 * _rng(seed + 1).standard_normal(layer.b.shape)
    return layer


def _reference(kind, layer, x, h0, c0=None):
    a = x @ layer.Wx.data + layer.b.data
    if kind == "lstm":
        H = layer.hidden_size
        return lstm_reference(a, layer.Wh.data, h0, c0)[..., 4 * H : 5 * H]
    return rnn_reference(a, layer.Wh.data, h0)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_recurrent_layers_match_the_numpy_formulas_with_and_without_state(kind):
    layer = _recurrent(kind, 3, 5)
    rng = _rng(2)
    x = rng.standard_normal((4, 6, 3))
    h0, c0 = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    state = (h0, c0) if kind == "lstm" else h0
    hs, last = layer(x, state, return_state=True)
    want = _reference(kind, layer, x, h0, c0)
    np.testing.assert_allclose(hs.data, want, rtol=1e-10, atol=1e-14)
    h_last = last[0] if kind == "lstm" else last
    np.testing.assert_allclose(h_last.data, want[:, -1], rtol=1e-10, atol=1e-14)
    zeros = np.zeros((4, 5))
    np.testing.assert_allclose(
        layer(x).data, _reference(kind, layer, x, zeros, zeros), rtol=1e-10, atol=1e-14
    )


def test_lstm_final_cell_state_matches_the_formula():
    layer = _recurrent("lstm", 2, 3)
    x = _rng(3).standard_normal((2, 4, 2))
    _, (h, c) = layer(x, return_state=True)
    a = x @ layer.Wx.data + layer.b.data
    cs = lstm_reference(a, layer.Wh.data, np.zeros((2, 3)), np.zeros((2, 3)))[..., 15:18]
    np.testing.assert_allclose(c.data, cs[:, -1], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
@settings(deadline=None, max_examples=10)
@given(data=st.data())
def test_recurrent_gradients_reach_inputs_weights_and_the_initial_state(kind, data):
    n, steps, d, h = (data.draw(st.integers(1, 3)) for _ in range(4))
    x = data.draw(arrays((n, steps, d), min_value=-2, max_value=2))
    states = [
        data.draw(arrays((n, h), min_value=-1, max_value=1)) for _ in range(1 + (kind == "lstm"))
    ]
    assert_layer_grads_match(_Unrolled(_recurrent(kind, d, h)), x, *states)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_recurrent_second_derivatives(kind):
    layer = _recurrent(kind, 2, 2)
    rng = _rng(4)
    x = rng.standard_normal((2, 3, 2))
    states = [rng.standard_normal((2, 2)) for _ in range(1 + (kind == "lstm"))]
    unrolled = _Unrolled(layer)
    gy = rng.standard_normal((2, 3 * 2 + 2 * len(states)))

    def input_gradient(x, *state):
        (gx,) = mg.grad((unrolled(x, *state) * gy).sum(), [x], create_graph=True)
        return gx

    assert_grads_match(input_gradient, x, *states, atol=1e-4)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_recurrent_primitive_equals_the_step_by_step_composition(kind):
    layer = _recurrent(kind, 3, 4)
    rng = _rng(5)
    x = Tensor(rng.standard_normal((2, 5, 3)), requires_grad=True)
    h0 = Tensor(rng.standard_normal((2, 4)), requires_grad=True)
    c0 = Tensor(rng.standard_normal((2, 4)), requires_grad=True)
    a = x @ layer.Wx + layer.b
    if kind == "lstm":
        hs = layer(x, (h0, c0))
        composed = lstm_steps(a, layer.Wh, h0, c0)[0]
    else:
        hs = layer(x, h0)
        composed = rnn_steps(a, layer.Wh, h0)
    np.testing.assert_allclose(hs.data, composed.data, rtol=1e-12, atol=1e-14)
    gy = rng.standard_normal(hs.shape)
    inputs = [x, h0, layer.Wx, layer.Wh, layer.b] + ([c0] if kind == "lstm" else [])
    for g, want in zip(mg.grad(hs, inputs, gy), mg.grad(composed, inputs, gy), strict=True):
        np.testing.assert_allclose(g.data, want.data, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_recurrent_layers_keep_float32(kind):
    layer = _recurrent(kind, 3, 4).astype(np.float32)
    x = Tensor(_rng(6).standard_normal((2, 5, 3)).astype(np.float32), requires_grad=True)
    hs = layer(x)
    assert hs.dtype == np.float32
    hs.sum().backward()
    assert x.grad.dtype == np.float32 and layer.Wh.grad.dtype == np.float32


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_recurrent_layers_in_float32_are_accurate_for_small_inputs(kind):
    # why: tanh(x) written as 2 sigmoid(2x) - 1 loses every digit of a small x in float32
    layer = _recurrent(kind, 3, 4).astype(np.float32)
    layer.b.data = np.zeros_like(layer.b.data)
    x = (1e-4 * _rng(7).standard_normal((2, 5, 3))).astype(np.float32)
    hs, last = layer(x, return_state=True)
    wide = {name: p.data.astype(np.float64) for name, p in layer.named_parameters()}
    a = x.astype(np.float64) @ wide["Wx"] + wide["b"]
    zeros = np.zeros((2, 4))
    if kind == "lstm":
        y = lstm_reference(a, wide["Wh"], zeros, zeros)
        want, c_want = y[..., 16:20], y[:, -1, 20:24]
        np.testing.assert_allclose(last[1].data, c_want, rtol=1e-5, atol=1e-5 * abs(c_want).max())
    else:
        want = rnn_reference(a, wide["Wh"], zeros)
    np.testing.assert_allclose(hs.data, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


def test_truncated_backprop_carries_the_state_over_chunks():
    layer = _recurrent("lstm", 2, 3)
    x = _rng(7).standard_normal((2, 8, 2))
    whole = layer(x).data
    first, (h, c) = layer(x[:, :5], return_state=True)
    second = layer(x[:, 5:], (h.detach(), c.detach()))
    np.testing.assert_allclose(np.concatenate([first.data, second.data], axis=1), whole, rtol=1e-12)
    second.sum().backward()
    assert layer.Wh.grad is not None  # the second chunk trains; the detached state does not


def test_lstm_matches_torch_with_gates_reordered():
    torch = pytest.importorskip("torch")
    d, h = 3, 4
    layer = _recurrent("lstm", d, h)
    rng = _rng(8)
    x, h0, c0 = (
        rng.standard_normal((2, 5, d)),
        rng.standard_normal((2, h)),
        rng.standard_normal((2, h)),
    )
    ref = torch.nn.LSTM(d, h, batch_first=True, dtype=torch.float64)
    # ours: columns f, g, i, o of Wx (D, 4H); torch: rows i, f, g, o of weight_ih (4H, D)
    order = np.concatenate([np.arange(k * h, (k + 1) * h) for k in (2, 0, 1, 3)])
    with torch.no_grad():
        ref.weight_ih_l0.copy_(torch.from_numpy(layer.Wx.data[:, order].T))
        ref.weight_hh_l0.copy_(torch.from_numpy(layer.Wh.data[:, order].T))
        ref.bias_ih_l0.copy_(torch.from_numpy(layer.b.data[order]))
        ref.bias_hh_l0.zero_()
    xt, h0t, c0t = (torch.from_numpy(v).requires_grad_() for v in (x, h0, c0))
    hs_t, (hT_t, cT_t) = ref(xt, (h0t[None], c0t[None]))
    gy = rng.standard_normal(hs_t.shape)
    (hs_t * torch.from_numpy(gy)).sum().add(cT_t.sum()).backward()
    xm, h0m, c0m = (Tensor(v, requires_grad=True) for v in (x, h0, c0))
    hs, (hT, cT) = layer(xm, (h0m, c0m), return_state=True)
    ((hs * gy).sum() + cT.sum()).backward()
    close = dict(rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hs.data, hs_t.detach().numpy(), **close)
    np.testing.assert_allclose(hT.data, hT_t[0].detach().numpy(), **close)
    np.testing.assert_allclose(cT.data, cT_t[0].detach().numpy(), **close)
    for mine, theirs in ((xm, xt), (h0m, h0t), (c0m, c0t)):
        np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), **close)
    np.testing.assert_allclose(layer.Wx.grad[:, order], ref.weight_ih_l0.grad.numpy().T, **close)
    np.testing.assert_allclose(layer.Wh.grad[:, order], ref.weight_hh_l0.grad.numpy().T, **close)
    np.testing.assert_allclose(layer.b.grad[order], ref.bias_ih_l0.grad.numpy(), **close)


def test_rnn_matches_torch():
    torch = pytest.importorskip("torch")
    layer = _recurrent("rnn", 3, 4)
    rng = _rng(9)
    x, h0 = rng.standard_normal((2, 6, 3)), rng.standard_normal((2, 4))
    ref = torch.nn.RNN(3, 4, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(torch.from_numpy(layer.Wx.data.T))
        ref.weight_hh_l0.copy_(torch.from_numpy(layer.Wh.data.T))
        ref.bias_ih_l0.copy_(torch.from_numpy(layer.b.data))
        ref.bias_hh_l0.zero_()
    xt, h0t = torch.from_numpy(x).requires_grad_(), torch.from_numpy(h0).requires_grad_()
    hs_t, _ = ref(xt, h0t[None])
    gy = rng.standard_normal(hs_t.shape)
    hs_t.backward(torch.from_numpy(gy))
    xm, h0m = Tensor(x, requires_grad=True), Tensor(h0, requires_grad=True)
    hs = layer(xm, h0m)
    hs.backward(gy)
    close = dict(rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hs.data, hs_t.detach().numpy(), **close)
    np.testing.assert_allclose(xm.grad, xt.grad.numpy(), **close)
    np.testing.assert_allclose(h0m.grad, h0t.grad.numpy(), **close)
    np.testing.assert_allclose(layer.Wx.grad, ref.weight_ih_l0.grad.numpy().T, **close)
    np.testing.assert_allclose(layer.Wh.grad, ref.weight_hh_l0.grad.numpy().T, **close)


@pytest.mark.parametrize("cls", [nn.RNN, nn.LSTM])
def test_recurrent_layers_reject_bad_sequences_and_states(cls):
    layer = cls(3, 4)
    name = rf"{cls.__name__}\(3, 4\)"
    with pytest.raises(ValueError, match=rf"{name}.*\(N, T, 3\).*\(2, 5, 2\)"):
        layer(np.ones((2, 5, 2)))
    with pytest.raises(ValueError, match=rf"{name}.*\(2, 3\)"):
        layer(np.ones((2, 3)))
    good = np.ones((2, 5, 3))
    bad = np.ones((3, 4))
    with pytest.raises(ValueError, match=rf"{name}.*h0.*\(3, 4\).*expected \(2, 4\)"):
        layer(good, (bad, np.ones((2, 4))) if cls is nn.LSTM else bad)
    if cls is nn.LSTM:
        with pytest.raises(ValueError, match=rf"{name}.*c0.*\(2, 5\)"):
            layer(good, (np.ones((2, 4)), np.ones((2, 5))))
        with pytest.raises(TypeError, match=r"pair \(h0, c0\)"):
            layer(good, np.ones((2, 4)))


def test_recurrent_layers_in_a_graph():
    x = nn.Input((7, 3), name="x")
    hs = nn.LSTM(3, 5, rng=0)(x)
    hs = nn.RNN(5, 4, rng=1)(hs)
    net = nn.Graph(x, nn.Affine(4, 2, rng=2)(hs))
    assert net(np.ones((6, 7, 3))).shape == (6, 7, 2)
    text = net.summary()
    assert "lstm1" in text and "rnn1" in text and "(None, 7, 5)" in text, text
    assert f"{3 * 20 + 5 * 20 + 20:,}" in text
    assert "lstm1" in net.to_dot()
    assert {"lstm1.Wx", "lstm1.Wh", "lstm1.b", "rnn1.Wx"} <= set(net.state_dict())
    other = nn.Graph(x, nn.Affine(4, 2)(nn.RNN(5, 4)(nn.LSTM(3, 5)(x))))
    other.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(other(np.ones((2, 7, 3))).data, net(np.ones((2, 7, 3))).data)


# --- MultiHeadAttention ------------------------------------------------------------------------
def attention_reference(x, p, heads, causal):
    """The formula in plain NumPy, one head at a time."""
    n, steps, dim = x.shape
    d = dim // heads
    q, k, v = (x @ p[f"W{s}"] + p[f"b{s}"] for s in "qkv")
    outs = []
    for h in range(heads):
        cols = slice(h * d, (h + 1) * d)
        scores = q[..., cols] @ k[..., cols].transpose(0, 2, 1) / np.sqrt(d)
        if causal:
            scores = np.where(np.tri(steps, dtype=bool), scores, -np.inf)
        w = np.exp(scores - scores.max(axis=-1, keepdims=True))
        w /= w.sum(axis=-1, keepdims=True)
        outs.append(w @ v[..., cols])
    return np.concatenate(outs, axis=-1) @ p["Wo"] + p["bo"]


def _attention(dim=6, heads=2, causal=True, seed=0):
    return _randomize(nn.MultiHeadAttention(dim, heads, causal=causal, rng=seed), seed, scale=0.6)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("heads", [1, 2, 3])
def test_attention_matches_the_formula(causal, heads):
    layer = _attention(6, heads, causal)
    x = _rng(1).standard_normal((2, 5, 6))
    want = attention_reference(x, {k: v.data for k, v in layer.named_parameters()}, heads, causal)
    np.testing.assert_allclose(layer(x).data, want, rtol=1e-10, atol=1e-12)


def test_causal_attention_never_looks_at_the_future():
    layer = _attention()
    x = _rng(2).standard_normal((1, 6, 6))
    y, weights = layer(x, return_weights=True)
    assert np.all(np.triu(weights.data[0, 0], k=1) == 0)
    np.testing.assert_allclose(weights.data.sum(axis=-1), 1, rtol=1e-12)
    changed = x.copy()
    changed[:, 4:] += 10  # the future of steps 0..3
    np.testing.assert_allclose(layer(changed).data[:, :4], y.data[:, :4], rtol=1e-12)
    assert not np.allclose(layer(changed).data[:, 4:], y.data[:, 4:])


@pytest.mark.parametrize("causal", [False, True])
@settings(deadline=None, max_examples=10)
@given(data=st.data())
def test_attention_gradients(causal, data):
    heads = data.draw(st.sampled_from([1, 2]))
    n, steps = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 4))
    x = data.draw(arrays((n, steps, 4), min_value=-2, max_value=2))
    assert_layer_grads_match(_attention(4, heads, causal), x)


def test_attention_matches_torch_multihead_attention():
    torch = pytest.importorskip("torch")
    layer = _attention(6, 3, causal=True)
    x = _rng(3).standard_normal((2, 5, 6))
    ref = torch.nn.MultiheadAttention(6, 3, batch_first=True, dtype=torch.float64)
    p = {k: v.data for k, v in layer.named_parameters()}
    with torch.no_grad():  # torch keeps W^T, queries, keys and values stacked
        ref.in_proj_weight.copy_(torch.from_numpy(np.concatenate([p["Wq"], p["Wk"], p["Wv"]], 1).T))
        ref.in_proj_bias.copy_(torch.from_numpy(np.concatenate([p["bq"], p["bk"], p["bv"]])))
        ref.out_proj.weight.copy_(torch.from_numpy(p["Wo"].T))
        ref.out_proj.bias.copy_(torch.from_numpy(p["bo"]))
    xt = torch.from_numpy(x).requires_grad_()
    mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    yt, wt = ref(xt, xt, xt, attn_mask=mask, average_attn_weights=False)
    gy = _rng(4).standard_normal(yt.shape)
    yt.backward(torch.from_numpy(gy))
    xm = Tensor(x, requires_grad=True)
    y, w = layer(xm, return_weights=True)
    y.backward(gy)
    close = dict(rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(y.data, yt.detach().numpy(), **close)
    np.testing.assert_allclose(w.data, wt.detach().numpy(), **close)
    np.testing.assert_allclose(xm.grad, xt.grad.numpy(), **close)
    np.testing.assert_allclose(layer.Wo.grad, ref.out_proj.weight.grad.numpy().T, **close)
    in_grad = ref.in_proj_weight.grad.numpy().T
    np.testing.assert_allclose(layer.Wq.grad, in_grad[:, :6], **close)
    np.testing.assert_allclose(layer.Wv.grad, in_grad[:, 12:], **close)


def test_attention_rejects_heads_that_do_not_divide_dim_and_wrong_features():
    with pytest.raises(ValueError, match=r"heads=4 does not divide dim=6.*\[1, 2, 3, 6\]"):
        nn.MultiHeadAttention(6, 4)
    layer = nn.MultiHeadAttention(6, 2)
    with pytest.raises(ValueError, match=r"MultiHeadAttention\(dim=6, heads=2\).*\(2, 5, 4\)"):
        layer(np.ones((2, 5, 4)))
    with pytest.raises(ValueError, match=r"\(N, T, 6\).*\(5, 6\)"):
        layer(np.ones((5, 6)))
    with pytest.raises(ValueError, match=r"\(N, T, 6\) with T >= 1.*\(2, 0, 6\)"):
        layer(np.ones((2, 0, 6)))


def test_attention_in_a_graph_keeps_float32():
    x = nn.Input((4, 6), dtype=np.float32)
    layer = nn.MultiHeadAttention(6, 2, causal=True, dtype=np.float32, rng=0)
    net = nn.Graph(x, nn.LayerNorm(6, dtype=np.float32)(layer(x)))
    y = net(np.ones((3, 4, 6), dtype=np.float32))
    assert y.dtype == np.float32 and y.shape == (3, 4, 6)
    assert "multiheadattention1" in net.summary()
    assert sorted(layer.state_dict()) == sorted(f"{w}{s}" for w in "Wb" for s in "qkvo")


# --- clip_grad_norm ------------------------------------------------------------------------------
def test_clip_grad_norm_scales_every_gradient_by_one_factor():
    rng = _rng(5)
    ps = [nn.Parameter(rng.standard_normal(s)) for s in ((3, 4), (4,), (2,))]
    for p in ps[:2]:
        p.grad = rng.standard_normal(p.shape) * 5
    before = [p.grad.copy() for p in ps[:2]]
    norm = np.sqrt(sum((g**2).sum() for g in before))
    assert nn.clip_grad_norm(ps, 1.0) == pytest.approx(norm, rel=1e-12)
    assert ps[2].grad is None  # no gradient: skipped
    for p, g in zip(ps, before, strict=False):
        np.testing.assert_allclose(p.grad, g * (1.0 / (norm + 1e-6)), rtol=1e-12)
    assert np.sqrt(sum((p.grad**2).sum() for p in ps[:2])) <= 1.0


def test_clip_grad_norm_leaves_small_gradients_alone_and_takes_a_layer():
    layer = nn.Affine(2, 2, rng=0)
    layer(np.ones((1, 2))).sum().backward()
    before = layer.W.grad.copy()
    norm = nn.clip_grad_norm(layer, 100.0)
    assert norm == pytest.approx(np.sqrt((before**2).sum() + 2), rel=1e-12)
    np.testing.assert_array_equal(layer.W.grad, before)
    with pytest.raises(ValueError, match="max_norm"):
        nn.clip_grad_norm(layer, 0)


def test_clip_grad_norm_takes_what_the_optimizers_take_and_numpy_numbers():
    def model():
        layer = nn.Affine(3, 2, rng=0)
        layer(np.ones((4, 3))).sum().backward()
        return layer

    want = model()
    norm = nn.clip_grad_norm(want, 0.5)
    for parameters in (lambda m: m.named_parameters(), lambda m: m.parameters()):
        got = model()
        assert nn.clip_grad_norm(parameters(got), np.float32(0.5)) == pytest.approx(norm)
        for (name, p), q in zip(got.named_parameters(), want.parameters(), strict=True):
            np.testing.assert_allclose(p.grad, q.grad, rtol=1e-7, err_msg=name)
    assert nn.clip_grad_norm(model(), np.int64(100)) == pytest.approx(norm)
    with pytest.raises(ValueError, match="max_norm"):
        nn.clip_grad_norm(model(), np.float64("nan"))
    with pytest.raises(TypeError, match=r"single Parameter.*clip_grad_norm\(\[p\]\)"):
        nn.clip_grad_norm(model().W, 1.0)
    twice = model()
    with pytest.raises(ValueError, match="parameters 0 and 2 are the same tensor; pass it once"):
        nn.clip_grad_norm([twice.W, twice.b, twice.W], 1.0)  # it would count W twice


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = _rng(6)
    grads = [rng.standard_normal(s) * 3 for s in ((5, 3), (3,), (7,))]
    ps = [nn.Parameter(np.zeros_like(g)) for g in grads]
    ts = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, t, g in zip(ps, ts, grads, strict=True):
        p.grad, t.grad = g.copy(), torch.from_numpy(g.copy())
    ours = nn.clip_grad_norm(ps, 2.5)
    theirs = torch.nn.utils.clip_grad_norm_(ts, 2.5)
    assert ours == pytest.approx(float(theirs), rel=1e-12)
    for p, t in zip(ps, ts, strict=True):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)


# --- the bundled text, the example and the benchmark ---------------------------------------------
ROOT = Path(__file__).resolve().parent.parent


def test_load_text_gives_the_text_or_its_ids_and_vocabulary():
    text = mg.data.load_text()
    assert text.startswith("First Citizen:\n") and text.endswith("Hath overta'en mine act.\n")
    ids, vocab = mg.data.load_text(as_ids=True)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert list(vocab) == sorted(set(text))
    assert "".join(vocab[i] for i in ids) == text
    licence = (ROOT / "minigrad" / "data" / "SHAKESPEARE_LICENSE.txt").read_text()
    assert "Public domain" in licence and f"{len(text):,} characters" in licence


@pytest.mark.parametrize("model", ["lstm", "transformer"])
def test_language_model_example_learns_and_writes_a_sample(model, tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "language_model.py"), "--quick"]
        + ["--model", model, "--out", str(tmp_path), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    valid = float(re.search(r"^final validation loss ([0-9.]+)", out, re.MULTILINE).group(1))
    assert valid < np.log(58) - 0.5, out  # clearly better than a uniform guess
    sample = out.split("--- sample (temperature 0.8) ---\n", 1)[1].split("\n---", 1)[0]
    assert sample.startswith("MARCIUS:\n") and len(sample) == len("MARCIUS:\n") + 80, out
    assert (tmp_path / f"loss_{model}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("model", ["lstm", "transformer"])
def test_language_model_example_compiled_trains_as_eagerly(model, tmp_path):
    losses = []
    for flags in ([], ["--compile"]):
        done = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "language_model.py"), "--quick"]
            + ["--model", model, "--out", str(tmp_path), "--no-progress", *flags],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        found = re.search(r"^final validation loss ([0-9.]+)", done.stdout, re.MULTILINE)
        losses.append(float(found.group(1)))
    assert "compiled" in done.stdout
    assert abs(losses[1] - losses[0]) <= 1e-3, losses  # the same training, float32 sums


def test_sequence_benchmark_quick_runs():
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "sequence.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for model in ("lstm", "transformer"):
        for system in ("minigrad", "compiled"):
            found = re.search(rf"^{model}\s+{system}\s+\d+", done.stdout, re.MULTILINE)
            assert found, done.stdout


def test_a_compiled_step_checks_embedding_ids_on_every_call():
    emb = nn.Embedding(10, 4, rng=0)
    opt = mg.optim.SGD(emb.parameters(), lr=0.1)

    @mg.compile
    def step(ids):
        opt.zero_grad()
        loss = (emb(ids) ** 2).sum()
        loss.backward()
        opt.step()
        return loss

    step(np.array([1, 2, 3]))
    step(np.array([4, 4, 9]))  # the plan runs from here on
    before = emb.W.data.copy()
    for bad in (np.array([-1, 2, 3]), np.array([1, 2, 10])):
        with pytest.raises(ValueError, match=r"ids must lie in \[0, 10\)"):
            step(bad)
    np.testing.assert_array_equal(emb.W.data, before)  # a refused call changes nothing
