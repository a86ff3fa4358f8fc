"""Optimizers: turn each parameter's ``.grad`` into an in-place update of its ``.data``.

Give one the parameters (a list, a Layer or ``model.named_parameters()``, whose names its
messages then use), then per mini-batch ``opt.zero_grad()``, ``loss.backward()``,
``opt.step()``. Parameters without a gradient are left alone.

>>> import minigrad as mg
>>> w = mg.Tensor([1.0, 2.0], requires_grad=True)
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

from minigrad.checks import number_in, parameter_list
from minigrad.ops import announce, effect, forget_grads
from minigrad.state_dict import Rule, count, like_array, validate_state_dict
from minigrad.tensor import mark_written

__all__ = ["Optimizer", "SGD", "AdaGrad", "RMSprop", "Adam"]

Params = Iterable[Any]
Grads = list[np.ndarray | None]


class Optimizer:
    """The parameters, their state, the NaN/inf check, the gradient hook, saving and loading.

    A direct subclass's constructor starts with ``super().__init__(params, locals())``, so its
    signature is the one list of its hyper-parameters; each becomes an attribute (a schedule
    may set ``opt.lr``), checked by name. (A subclass of ``SGD`` or ``Adam`` passes its
    parent's hyper-parameters by keyword instead: ``super().__init__(params, lr=lr)``.) Its
    ``update_one`` fills ``state[i]`` (the buffers named in ``state_names``) when parameter
    ``i`` first has a gradient; ``t`` counts steps.
    """

    state_names: tuple[str, ...] = ()

    def __init__(
        self, params: Params, defaults: Mapping[str, Any], *, check_finite: bool = True
    ) -> None:
        self.params, self.names = parameter_list(params, type(self).__name__)
        self.check_finite = bool(defaults.get("check_finite", check_finite))
        own = ("self", "params", "check_finite", "__class__")
        hyper = {n: v for n, v in defaults.items() if n not in own and v is not params}
        if bad := [n for n, v in hyper.items() if isinstance(v, Mapping)]:
            raise TypeError(
                f"{type(self).__name__}(): hyper-parameter {bad[0]!r} got a dict; only a direct "
                "subclass of Optimizer hands over locals(); a subclass of "
                f"{type(self).__mro__[1].__name__} passes its hyper-parameters by keyword: "
                "super().__init__(params, lr=lr, ...)"
            )
        self.defaults = self._set_hyper(f"{type(self).__name__}()", hyper)
        self.t, self.state = 0, [{} for _ in self.params]

    def validate(self, hyper: dict[str, Any]) -> dict[str, Any]:
        """The hyper-parameters, each checked by its name; a subclass adds joint checks."""
        return {name: _check(name, value) for name, value in hyper.items()}

    def update_one(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        """Update the array ``p`` in place from its gradient ``g`` and its ``state``."""
        raise NotImplementedError(f"{type(self).__name__} must define update_one()")

    def prepare_grads(self, grads: Grads) -> Grads:
        """The gradient hook: the gradients the update uses (``grads[i]`` is ``params[i]``'s).

        Assign a function to ``opt.prepare_grads`` (or override it) to clip or rescale what
        the update sees. It runs after the NaN/inf check, only when the step is taken, and
        leaves ``p.grad`` alone (``nn.clip_grad_norm`` before ``step()`` clips ``p.grad``):

        >>> import minigrad as mg
        >>> w = mg.Tensor([0.0, 0.0], requires_grad=True)
        >>> opt = SGD([w], lr=0.1)
        >>> opt.prepare_grads = lambda grads: [g if g is None else g.clip(-1, 1) for g in grads]
        >>> w.grad = np.array([5.0, -0.5])
        >>> opt.step()
        >>> w.data
        array([-0.1 ,  0.05])
        """
        return grads

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (sets ``.grad = None``)."""
        effect(forget_grads, self.params)

    def step(self) -> None:
        """Update every parameter that has a gradient, in place, or skip the whole step.

        A gradient holding NaN or inf (one would poison Adam's averages for good) changes
        nothing, not even ``t``, and a ``RuntimeWarning`` names it, unless ``check_finite``
        is off.
        """
        announce(Optimizer.step, self)  # why: a compiled step (mg.compile) replays this call
        grads = [p.grad for p in self.params]
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            if g is not None and g.shape != p.data.shape:
                raise ValueError(
                    f"parameter {self._label(i)} has shape {p.data.shape} but its gradient has "
                    f"shape {g.shape}; nothing was updated. Gradients must match their parameter"
                )
        if bad := [self._label(i) for i, g in enumerate(grads) if not self._finite(g)]:
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
        """Everything needed to resume, as a flat dict of array copies: ``"kind"`` (the class
        name), each hyper-parameter, the step count ``"t"`` and ``"state.<i>.<buffer>"``:

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
        """Restore what ``state_dict()`` gave (here or in a base class): all of it, or nothing.

        Every missing or unexpected key, buffer not shaped like its parameter and bad
        hyper-parameter is named in one ValueError. Buffers are cast to their parameter's dtype.
        """
        cls, state_dict = type(self).__name__, dict(state_dict)
        kind = str(np.asarray(state_dict.pop("kind", cls)))
        if kind not in {base.__name__ for base in type(self).__mro__}:
            raise ValueError(
                f"{cls}.load_state_dict(): this file holds {kind} state, not {cls}; load it "
                f"into a {kind} optimizer, or start this {cls} from its own state"
            )
        rules: dict[str, Rule] = {**dict.fromkeys(self.defaults, _check), "t": count}
        for i, p in enumerate(self.params):
            if any(str(key).startswith(f"state.{i}.") for key in state_dict):
                like = like_array(p.data)
                rules.update(
                    (f"state.{i}.{b}", count if b == "step" else like) for b in self.state_names
                )
        hint = f"pass what {cls}.state_dict() gave for the same parameters"
        values = validate_state_dict(cls, state_dict, rules, hint)
        self._set_hyper(f"{cls}.load_state_dict()", {name: values[name] for name in self.defaults})
        self.t, self.state = values["t"], [{} for _ in self.params]
        for key, value in values.items():
            if key.startswith("state."):
                _, i, name = key.split(".")
                self.state[int(i)][name] = value

    def _set_hyper(self, where: str, hyper: dict[str, Any]) -> dict[str, Any]:
        try:
            hyper = self.validate(hyper)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        for name, value in hyper.items():
            setattr(self, name, value)
        return hyper

    def _finite(self, g: np.ndarray | None) -> bool:
        if g is None or not self.check_finite:
            return True
        # why: NaN/inf survive g.g (BLAS, cheaper than isfinite); an overflow gets the exact check
        if g.flags.forc and math.isfinite(np.vdot(flat := g.ravel(order="K"), flat)):
            return True
        return bool(np.isfinite(g).all())

    def _label(self, i: int) -> str:
        return str(i) if self.names is None else repr(self.names[i])

    def __repr__(self) -> str:
        defaults = getattr(self, "defaults", {})  # why: an error while constructing names it
        settings = "".join(f", {name}={getattr(self, name)!r}" for name in defaults)
        n = len(self.params)
        return f"{type(self).__name__}({n} parameter{'s' * (n != 1)}{settings})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 decay.

    ``torch.optim.SGD``'s rule (``dampening=0``), with velocity b (``"state.<i>.velocity"``)::

        g = g + weight_decay * p          (if weight_decay != 0)
        b = momentum * b + g              (if momentum != 0; b starts at zero)
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
        params: Params,
        lr: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        *,
        check_finite: bool = True,
    ) -> None:
        super().__init__(params, locals())

    def validate(self, hyper: dict[str, Any]) -> dict[str, Any]:
        hyper = super().validate(hyper)
        if hyper["nesterov"] and not hyper["momentum"]:
            raise ValueError("nesterov=True needs momentum > 0; pass e.g. momentum=0.9")
        return hyper

    def update_one(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            (b,) = _buffers(p, state, "velocity")
            b *= self.momentum
            b += g
            g = g + self.momentum * b if self.nesterov else b
        p -= self.lr * g


class AdaGrad(Optimizer):
    """AdaGrad: each element's step shrinks with the sum of its squared gradients.

    With accumulator h (``"state.<i>.sum_sq"``) and the book's ``eps`` (PyTorch's is 1e-10)::

        h = h + g * g                     (h starts at zero)
        p = p - lr * g / (sqrt(h) + eps)

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
        self, params: Params, lr: float = 0.01, eps: float = 1e-7, *, check_finite: bool = True
    ) -> None:
        super().__init__(params, locals())

    def update_one(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        (h,) = _buffers(p, state, "sum_sq")
        h += g * g
        p -= self.lr * g / (np.sqrt(h) + self.eps)


class RMSprop(Optimizer):
    """RMSprop: divide by a running root-mean-square of recent gradients.

    ``torch.optim.RMSprop``'s rule (no momentum, not centred), with v ``"state.<i>.mean_sq"``::

        v = alpha * v + (1 - alpha) * g * g       (v starts at zero)
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
        params: Params,
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        *,
        check_finite: bool = True,
    ) -> None:
        super().__init__(params, locals())

    def update_one(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        (v,) = _buffers(p, state, "mean_sq")
        v *= self.alpha
        v += (1 - self.alpha) * g * g
        p -= self.lr * g / (np.sqrt(v) + self.eps)


class Adam(Optimizer):
    """Adam: momentum on the gradient, scaled by a running RMS, both bias-corrected.

    ``torch.optim.Adam``'s rule (``amsgrad=False``) with moments m, v (starting at zero) and
    the parameter's own step count t, saved as ``"state.<i>.m"``, ``.v`` and ``.step``::

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
        params: Params,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        check_finite: bool = True,
    ) -> None:
        super().__init__(params, locals())

    def update_one(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        beta1, beta2 = self.betas
        if self.weight_decay:
            g = g + self.weight_decay * p
        m, v = _buffers(p, state, "m", "v")
        t = state["step"] = state.get("step", 0) + 1
        m *= beta1
        m += (1 - beta1) * g
        v *= beta2
        v += (1 - beta2) * g * g
        bias1, bias2 = 1 - beta1**t, 1 - beta2**t  # m_hat = m / bias1, v_hat = v / bias2
        # why: no m_hat, v_hat arrays: fewer big temporaries alive at once, so malloc keeps pages
        p -= self.lr * (m / bias1) / (np.sqrt(v / bias2) + self.eps)


def _buffers(p: np.ndarray, state: dict[str, Any], *names: str) -> list[np.ndarray]:
    """The arrays ``state[name]``, made as zeros shaped like ``p`` the first time."""
    for name in names:
        if name not in state:
            state[name] = np.zeros_like(p)
    return [state[name] for name in names]


# why: a name means the same in every optimizer, so each has one upper bound and one example
_RANGES = {"lr": math.inf, "eps": math.inf, "weight_decay": math.inf, "momentum": 1.0, "alpha": 1.0}
_EXAMPLES = {"lr": 0.01, "eps": 1e-8, "weight_decay": 1e-4, "momentum": 0.9, "alpha": 0.99}


def _check(name: str, value: Any) -> Any:
    """``value`` as hyper-parameter ``name`` (a float, ``betas`` a pair, ``nesterov`` a bool),
    or a ValueError saying what to pass; a name not known here (a subclass's) is kept as is."""
    if name == "betas":
        if np.shape(value) != (2,):
            raise ValueError(f"betas must be a pair of numbers like (0.9, 0.999), got {value!r}")
        return tuple(
            number_in(b, f"betas[{i}]", 1.0, "betas=(0.9, 0.999)") for i, b in enumerate(value)
        )
    if name == "nesterov":
        if np.ndim(value) != 0 or np.asarray(value).dtype.kind not in "biu":
            raise ValueError(f"nesterov must be True or False, got {value!r}")
        return bool(value)
    if name not in _RANGES:  # a subclass's own: a number comes back from a file as 0-d array
        return value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value
    return number_in(value, name, _RANGES[name], f"{name}={_EXAMPLES[name]}")
