"""Optimizers: turn each parameter's ``.grad`` into an in-place update of its ``.data``.

Give one the parameters once (a list, ``model.parameters()``, or a Layer or
``model.named_parameters()``, whose names its messages then use), then per mini-batch
``opt.zero_grad()``, ``loss.backward()``, ``opt.step()``. A step leaves parameters without a
gradient alone, and is skipped whole, with a ``RuntimeWarning``, when a gradient holds
NaN or inf (``check_finite=False`` turns the check off).

>>> import numpy as np
>>> import minigrad as mg
>>> w = mg.Tensor(np.array([1.0, 2.0]), requires_grad=True)
>>> opt = SGD([w], lr=0.1)
>>> (w * w).sum().backward()
>>> opt.step()
>>> w.data
array([0.8, 1.6])
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from minigrad.ops import announce, effect, forget_grads
from minigrad.state_dict import Rule, count, like_array, validate_state_dict
from minigrad.tensor import mark_written

__all__ = ["Optimizer", "SGD", "AdaGrad", "RMSprop", "Adam"]


class Optimizer:
    """Base class: the parameters, their state, the gradient checks, saving and loading.

    A subclass passes its hyper-parameters once, as ``defaults`` (name -> value), names
    its per-parameter buffers in ``state_names`` and writes the rule in ``update_one``.
    Each hyper-parameter is an attribute (a schedule may set ``opt.lr`` between steps).
    ``state[i]`` holds parameter ``i``'s buffers, made by ``update_one`` the first time
    that parameter has a gradient; ``t`` counts the steps taken (not the skipped ones).
    """

    state_names: tuple[str, ...] = ()

    def __init__(
        self, params: Iterable[Any], defaults: Mapping[str, Any], *, check_finite: bool = True
    ) -> None:
        self.params, self.names = _parameter_list(type(self).__name__, params)
        try:
            self.defaults = self.validate(defaults)
        except ValueError as err:
            raise ValueError(f"{type(self).__name__}(): {err}") from None
        for name, value in self.defaults.items():
            setattr(self, name, value)
        self.check_finite = bool(check_finite)
        self.t = 0
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    def validate(self, hyper: Mapping[str, Any]) -> dict[str, Any]:
        """The hyper-parameters as Python values; ValueError naming one out of range."""
        return {name: _RULES.get(name, _as_given)(name, value) for name, value in hyper.items()}

    def update_one(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        """Update the array ``p`` in place from its gradient ``g`` and its ``state``."""
        raise NotImplementedError(f"{type(self).__name__} must define update_one()")

    def prepare_grads(self, grads: list[np.ndarray | None]) -> list[np.ndarray | None]:
        """The gradients the update uses (``grads[i]`` is ``params[i]``'s, or None).

        The place for gradient hooks such as clipping: override it, or assign a function
        to ``opt.prepare_grads``. It runs after the NaN/inf check, before any update.
        """
        return grads

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (sets ``.grad = None``)."""
        effect(forget_grads, self.params)

    def step(self) -> None:
        """Update every parameter that has a gradient, in place, or skip the whole step.

        With ``check_finite`` on, a gradient holding NaN or inf changes nothing (no
        parameter, no state, no ``t``) and a ``RuntimeWarning`` names the parameters: one
        inf would otherwise poison Adam's or RMSprop's averages for good.
        """
        announce(Optimizer.step, self)  # why: a compiled step (mg.compile) replays this call
        grads = [p.grad for p in self.params]
        bad = []
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            if g is not None and g.shape != p.data.shape:
                raise ValueError(
                    f"parameter {self._label(i)} has shape {p.data.shape} but its gradient has "
                    f"shape {g.shape}; nothing was updated. Gradients must match their parameter"
                )
            if g is not None and self.check_finite and not _finite(g):
                bad.append(self._label(i))
        if bad:
            listed = ", ".join(bad[:10]) + (", ..." if len(bad) > 10 else "")
            which = f"s of parameters {listed} hold" if bad[1:] else f" of parameter {listed} holds"
            warnings.warn(
                f"{type(self).__name__}.step() skipped: the gradient{which} NaN or inf, so "
                "nothing was updated; run the step under mg.detect_anomaly() to find the op, "
                "lower the learning rate, or pass check_finite=False to update anyway",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        self.t += 1
        for p, g, state in zip(self.params, self.prepare_grads(grads), self.state, strict=True):
            if g is not None:
                self.update_one(p.data, g, state)
        mark_written(*(p for p, g in zip(self.params, grads, strict=True) if g is not None))

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything needed to resume, as a flat ``{name: ndarray}`` dict of copies.

        ``"kind"`` (the class name), each hyper-parameter (Adam's ``"betas"`` has shape
        (2,)), the step count ``"t"`` and ``"state.<i>.<buffer>"`` for each parameter
        position ``i`` that has state:

        >>> import minigrad as mg
        >>> w = mg.Tensor([1.0, 2.0], requires_grad=True)
        >>> opt = SGD([w], momentum=0.9)
        >>> w.grad = np.ones(2)
        >>> opt.step()
        >>> sorted(opt.state_dict())
        ['kind', 'lr', 'momentum', 'nesterov', 'state.0.velocity', 't', 'weight_decay']
        """
        out = {"kind": np.array(type(self).__name__)}
        out.update((name, np.array(getattr(self, name))) for name in self.defaults)
        out["t"] = np.array(self.t, dtype=np.int64)
        for i, state in enumerate(self.state):
            out.update((f"state.{i}.{name}", np.array(value)) for name, value in state.items())
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what `state_dict` saved: all of it, or (on any problem) nothing.

        Missing or unexpected keys, a buffer not shaped like its parameter or a bad
        hyper-parameter raise one ValueError naming each. Buffers are copied and cast to
        their parameter's dtype.
        """
        cls = type(self).__name__
        state_dict = dict(state_dict)
        kind = str(np.asarray(state_dict.pop("kind", cls)))
        if kind not in {base.__name__ for base in type(self).__mro__}:  # why: subclasses load it
            raise ValueError(
                f"{cls}.load_state_dict(): this file holds {kind} state, not {cls}; load it "
                f"into a {kind} optimizer, or start this {cls} from its own state"
            )
        rules: dict[str, Rule] = {name: _RULES.get(name, _as_given) for name in self.defaults}
        rules["t"] = count
        for i, p in enumerate(self.params):
            if any(str(key).startswith(f"state.{i}.") for key in state_dict):
                like = like_array(p.data)
                rules.update(
                    (f"state.{i}.{b}", count if b == "step" else like) for b in self.state_names
                )
        hint = f"pass what {cls}.state_dict() gave for the same parameters"
        values = validate_state_dict(cls, state_dict, rules, hint)
        try:
            hyper = self.validate({name: values[name] for name in self.defaults})
        except ValueError as err:
            raise ValueError(f"{cls}.load_state_dict(): {err}") from None
        for name, value in hyper.items():
            setattr(self, name, value)
        self.t = values["t"]
        self.state = [{} for _ in self.params]
        for key, value in values.items():
            if key.startswith("state."):
                _, i, name = key.split(".")
                self.state[int(i)][name] = value

    def _label(self, i: int) -> str:
        return str(i) if self.names is None else repr(self.names[i])

    def __repr__(self) -> str:
        settings = "".join(f", {name}={getattr(self, name)!r}" for name in self.defaults)
        n = len(self.params)
        return f"{type(self).__name__}({n} parameter{'s' * (n != 1)}{settings})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 decay.

    PyTorch's rule (``torch.optim.SGD``, ``dampening=0``) for a parameter p with gradient
    g and velocity b (zero before the first step; saved as ``"state.<i>.velocity"``)::

        g = g + weight_decay * p          (if weight_decay != 0)
        b = momentum * b + g              (if momentum != 0; the first step gives b = g)
        g = g + momentum * b              (if nesterov), else g = b (if momentum != 0)
        p = p - lr * g

    >>> import minigrad as mg
    >>> w = mg.Tensor([1.0], requires_grad=True)
    >>> opt = SGD([w], lr=0.1, momentum=0.5)
    >>> for _ in range(2):
    ...     w.grad = np.array([1.0])
    ...     opt.step()
    >>> w.data  # 1 - 0.1 * 1 - 0.1 * (0.5 * 1 + 1)
    array([0.75])
    """

    state_names = ("velocity",)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        *,
        check_finite: bool = True,
    ) -> None:
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
        super().__init__(params, defaults, check_finite=check_finite)

    def validate(self, hyper: Mapping[str, Any]) -> dict[str, Any]:
        hyper = super().validate(hyper)
        if hyper["nesterov"] and hyper["momentum"] == 0.0:
            raise ValueError(
                "nesterov=True needs momentum > 0, got momentum=0.0; pass e.g. momentum=0.9 "
                "or nesterov=False"
            )
        return hyper

    def update_one(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            b = state["velocity"] = self.momentum * state.get("velocity", 0.0) + g
            g = g + self.momentum * b if self.nesterov else b
        p -= self.lr * g


class AdaGrad(Optimizer):
    """AdaGrad: each element's step shrinks with the sum of its squared gradients.

    For a parameter p with gradient g and accumulator h (zero before the first step;
    saved as ``"state.<i>.sum_sq"``)::

        h = h + g * g
        p = p - lr * g / (sqrt(h) + eps)

    ``eps`` is added outside the square root, as in PyTorch and the book; its default
    1e-7 is the book's (PyTorch's is 1e-10).

    >>> import minigrad as mg
    >>> w = mg.Tensor([1.0], requires_grad=True)
    >>> opt = AdaGrad([w], lr=0.5, eps=0.0)
    >>> w.grad = np.array([4.0])
    >>> opt.step()
    >>> w.data  # 1 - 0.5 * 4 / sqrt(16)
    array([0.5])
    """

    state_names = ("sum_sq",)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.01,
        eps: float = 1e-7,
        *,
        check_finite: bool = True,
    ) -> None:
        super().__init__(params, dict(lr=lr, eps=eps), check_finite=check_finite)

    def update_one(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        h = state["sum_sq"] = state.get("sum_sq", 0.0) + g * g
        p -= self.lr * g / (np.sqrt(h) + self.eps)


class RMSprop(Optimizer):
    """RMSprop: divide by a running root-mean-square of recent gradients.

    PyTorch's rule (``torch.optim.RMSprop`` without momentum or centering) for a
    parameter p with gradient g and running mean v (zero before the first step; saved
    as ``"state.<i>.mean_sq"``)::

        v = alpha * v + (1 - alpha) * g * g
        p = p - lr * g / (sqrt(v) + eps)

    >>> import minigrad as mg
    >>> w = mg.Tensor([1.0], requires_grad=True)
    >>> opt = RMSprop([w], lr=0.1, alpha=0.75, eps=0.0)
    >>> w.grad = np.array([2.0])
    >>> opt.step()
    >>> w.data  # v = 0.25 * 4 = 1, so 1 - 0.1 * 2 / 1
    array([0.8])
    """

    state_names = ("mean_sq",)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        *,
        check_finite: bool = True,
    ) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps), check_finite=check_finite)

    def update_one(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        v = state["mean_sq"] = self.alpha * state.get("mean_sq", 0.0) + (1 - self.alpha) * g * g
        p -= self.lr * g / (np.sqrt(v) + self.eps)


class Adam(Optimizer):
    """Adam: momentum on the gradient, scaled by a running RMS, both bias-corrected.

    PyTorch's rule (``torch.optim.Adam``, ``amsgrad=False``) for a parameter p with
    gradient g, moments m and v (zero before the first step) and its own step count t
    (the steps in which p had a gradient), saved as ``"state.<i>.m"``, ``.v``, ``.step``::

        g = g + weight_decay * p          (if weight_decay != 0; L2, not AdamW)
        t = t + 1
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        p = p - lr * m_hat / (sqrt(v_hat) + eps)

    >>> import minigrad as mg
    >>> w = mg.Tensor([1.0, -1.0], requires_grad=True)
    >>> opt = Adam([w], lr=0.1)
    >>> w.grad = np.array([3.0, -0.5])
    >>> opt.step()
    >>> w.data  # the first step moves every element by about lr * sign(g)
    array([ 0.9, -0.9])
    """

    state_names = ("m", "v", "step")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        check_finite: bool = True,
    ) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        super().__init__(params, defaults, check_finite=check_finite)

    def update_one(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        beta1, beta2 = self.betas
        if self.weight_decay:
            g = g + self.weight_decay * p
        t = state["step"] = state.get("step", 0) + 1
        m = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * g
        v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


# --- helpers ------------------------------------------------------------------------------
def _parameter_list(cls: str, params: Any) -> tuple[list[Any], list[str] | None]:
    """The parameters as a list, and their names if given; checked: float, each once."""
    if callable(getattr(params, "named_parameters", None)):
        params = params.named_parameters()
    elif hasattr(params, "data") or isinstance(params, np.ndarray):
        raise TypeError(
            f"{cls}() takes an iterable of parameters, got a single {type(params).__name__}; "
            f"wrap it in a list: {cls}([p])"
        )
    try:
        params = list(params)
    except TypeError:
        raise TypeError(
            f"{cls}() takes an iterable of parameters, got {type(params).__name__}; "
            "pass e.g. model.parameters()"
        ) from None
    if not params:
        raise ValueError(
            f"{cls}() got an empty parameter list; pass the parameters to train, e.g. "
            "model.parameters() of a model that has some"
        )
    names = None
    if all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in params):
        names, params = [name for name, _ in params], [p for _, p in params]
    first_seen: dict[int, int] = {}
    for i, p in enumerate(params):
        label = str(i) if names is None else repr(names[i])
        data = getattr(p, "data", None)
        if not isinstance(data, np.ndarray):
            raise TypeError(
                f"{cls}(): parameter {label} is a {type(p).__name__}, not a tensor with a "
                ".data array; pass Tensors or nn.Parameters, or (name, parameter) pairs"
            )
        if data.dtype.kind != "f":
            raise TypeError(
                f"{cls}(): parameter {label} has dtype {data.dtype}, but only float tensors "
                "can be trained; convert it, e.g. with astype(np.float32)"
            )
        if (j := first_seen.setdefault(id(p), i)) != i:
            raise ValueError(
                f"{cls}(): parameters {j} and {i} are the same tensor; each parameter may "
                "appear once (it would be updated twice per step); remove the repeat"
            )
    return params, names


def _finite(g: np.ndarray) -> bool:
    """True if every element of ``g`` is finite, usually at the cost of one BLAS call."""
    # why: NaN/inf survive g.g (BLAS, cheaper than isfinite); an overflow gets the exact check
    if g.flags.forc and math.isfinite(np.vdot(flat := g.ravel(order="K"), flat)):
        return True
    return bool(np.isfinite(g).all())


_EXAMPLES = {"lr": 0.01, "eps": 1e-8, "weight_decay": 1e-4, "momentum": 0.9, "alpha": 0.99}


def _number(name: str, value: Any, upper: float = math.inf) -> float:
    """``value`` as a float in [0, upper), the range of every hyper-parameter here."""
    if np.ndim(value) != 0 or np.asarray(value).dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not 0.0 <= float(value) < upper:
        wanted = "be a finite number >= 0" if upper == math.inf else "lie in [0, 1)"
        example = f"{name}={_EXAMPLES[name]}" if name in _EXAMPLES else "betas=(0.9, 0.999)"
        raise ValueError(f"{name} must {wanted}, got {float(value)}; pass e.g. {example}")
    return float(value)


def _fraction(name: str, value: Any) -> float:
    return _number(name, value, upper=1.0)


def _pair(name: str, value: Any) -> tuple[float, float]:
    if np.shape(value) != (2,):
        raise ValueError(f"{name} must be a pair of numbers like (0.9, 0.999), got {value!r}")
    return (_fraction(f"{name}[0]", value[0]), _fraction(f"{name}[1]", value[1]))


def _flag(name: str, value: Any) -> bool:
    if np.ndim(value) != 0 or np.asarray(value).dtype.kind not in "biu":
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _as_given(name: str, value: Any) -> Any:
    return value


# why: one rule per hyper-parameter name, shared by every optimizer and by load_state_dict
_RULES: dict[str, Rule] = {
    **dict.fromkeys(("lr", "eps", "weight_decay"), _number),
    **dict.fromkeys(("momentum", "alpha"), _fraction),
    "betas": _pair,
    "nesterov": _flag,
}
