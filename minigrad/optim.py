"""Optimizers: turn each parameter's ``.grad`` into an in-place update of its ``.data``.

Every optimizer takes the parameters once, as a list or any iterable such as
``model.parameters()``, and then repeats three calls per mini-batch::

    opt.zero_grad()      # every .grad = None
    loss.backward()      # fills .grad
    opt.step()           # updates every .data in place

Rules shared by all of them (see `Optimizer`):

- A parameter whose ``.grad`` is None is left alone (its state does not move either).
- Updates are written into the parameter's own ``.data`` array, so other references
  to it stay valid, and keep its dtype: float32 stays float32. State buffers have the
  parameter's dtype and shape.
- A step whose gradients hold NaN or inf is skipped whole with a ``RuntimeWarning``
  (``check_finite=False`` turns the check off).
- ``state_dict()`` is a flat ``{name: ndarray}`` dict that ``np.savez`` and `minigrad.io.save`
  store as is; ``load_state_dict()`` resumes training exactly where it stopped.

>>> import numpy as np
>>> import minigrad as mg
>>> from minigrad.optim import SGD
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

__all__ = ["Optimizer", "SGD", "AdaGrad", "RMSprop", "Adam"]

_State = dict[str, Any]  # one parameter's state: buffer name -> ndarray (or int counter)


class Optimizer:
    """Base class: holds the parameters, checks the gradients, steps and (de)serialises.

    A subclass lists its hyper-parameters in ``_hyper_names``, converts and validates
    them in ``_checked``, builds one parameter's zeroed state in ``_new_state`` and writes
    the update in ``_update``. Everything else lives here.

    Args:
        params: the parameters (objects with ``.data``, a float ndarray, and ``.grad``),
            as a list or any iterable, e.g. ``model.parameters()``. Each may appear once.
        hyper: the hyper-parameters, by name (subclasses pass them).
        check_finite: skip a step whose gradients hold NaN or inf (see `step`).

    State buffers take each parameter's dtype and shape when the optimizer is made, so
    make it after converting a model with ``astype``.

    Attributes:
        params: the parameters, as a list in the order given.
        t: how many steps have updated the parameters (skipped steps do not count).
        check_finite: as above; may be changed at any time.
        Each hyper-parameter (``lr``, ...) is a plain attribute too: a learning-rate
        schedule sets ``opt.lr = ...`` between steps.
    """

    _hyper_names: tuple[str, ...] = ()

    def __init__(
        self, params: Iterable[Any], hyper: Mapping[str, Any], *, check_finite: bool = True
    ) -> None:
        cls = type(self).__name__
        self.params: list[Any] = _parameter_list(cls, params)
        try:
            hyper = self._checked(hyper)
        except ValueError as err:
            raise ValueError(f"{cls}(): {err}") from None
        for name in self._hyper_names:
            setattr(self, name, hyper[name])
        self.check_finite = bool(check_finite)
        self.t = 0
        self._state: list[_State] = [self._new_state(p.data, hyper) for p in self.params]
        # why: one preallocated work array per parameter, so a step allocates nothing
        self._scratch: list[np.ndarray] = [np.empty_like(p.data) for p in self.params]

    # --- what a subclass provides ----------------------------------------------------------
    def _checked(self, hyper: Mapping[str, Any]) -> dict[str, Any]:
        """The hyper-parameters as Python numbers; ValueError if one is out of range."""
        return dict(hyper)

    def _new_state(self, data: np.ndarray, hyper: Mapping[str, Any]) -> _State:
        """One parameter's state before its first step (all zeros)."""
        return {}

    def _update(self, data: np.ndarray, g: np.ndarray, state: _State, work: np.ndarray) -> None:
        """Update ``data`` in place from the gradient ``g``; ``work`` is free scratch space."""
        raise NotImplementedError(f"{type(self).__name__} must define _update()")

    # --- training --------------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Forget every parameter's gradient (sets ``.grad = None``)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient, in place.

        If ``check_finite`` is on and any gradient holds NaN or inf, nothing is
        updated (no parameter, no state, no step count) and a ``RuntimeWarning`` names
        the parameter positions. Skipping protects the optimizer state: one inf
        gradient would otherwise poison Adam's or RMSprop's averages for good.

        The check costs one sum of squares ``g.g`` per gradient (``np.vdot``, a BLAS
        call, cheaper than a plain SGD update), since NaN and inf always survive it.
        Only when that sum is not finite, or the gradient is not contiguous, is the
        gradient scanned element by element, which also tells a real NaN/inf from
        finite values whose squares overflowed.
        """
        params = self.params
        check_finite = self.check_finite
        bad = []
        for i, p in enumerate(params):
            g = p.grad
            if g is None:
                continue
            if g.shape != p.data.shape:
                raise ValueError(
                    f"parameter {i} has shape {p.data.shape} but its gradient has shape "
                    f"{g.shape}; nothing was updated. Gradients must match their parameter"
                )
            if check_finite and not _finite(g):
                bad.append(i)
        if bad:
            warnings.warn(
                f"{type(self).__name__}.step() skipped: {_which_gradients(bad)} NaN or inf, "
                "so nothing was updated; lower the learning rate, scale or clip the loss, "
                "or pass check_finite=False to update anyway",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        self.t += 1
        update = self._update
        for p, state, work in zip(params, self._state, self._scratch, strict=True):
            g = p.grad
            if g is not None:
                update(p.data, g, state, work)

    # --- saving and resuming ---------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything needed to resume, as a flat ``{name: ndarray}`` dict of copies.

        Keys: each hyper-parameter as a 0-d array (``"lr"``; Adam's ``"betas"`` has
        shape (2,)), the step count ``"t"``, and ``"state.<i>.<buffer>"`` for parameter
        position ``i`` (e.g. ``"state.0.velocity"``).

        >>> import minigrad as mg
        >>> opt = SGD([mg.Tensor([1.0, 2.0], requires_grad=True)], momentum=0.9)
        >>> sorted(opt.state_dict())
        ['lr', 'momentum', 'nesterov', 'state.0.velocity', 't', 'weight_decay']
        """
        out = {name: np.array(getattr(self, name)) for name in self._hyper_names}
        out["t"] = np.array(self.t, dtype=np.int64)
        for i, state in enumerate(self._state):
            for name, value in state.items():
                out[f"state.{i}.{name}"] = np.array(value)
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyper-parameters, step count and state saved by `state_dict`.

        Every entry is checked before anything changes: missing or unexpected keys,
        a buffer whose shape is not its parameter's, or an invalid hyper-parameter
        raise ValueError and leave the optimizer as it was. Buffers are copied and
        cast to their parameter's dtype. Afterwards the optimizer continues exactly
        as the one that saved the dict would have.
        """
        cls = type(self).__name__
        required = [*self._hyper_names, "t"]
        missing = [k for k in required if k not in state_dict]
        if missing:
            raise ValueError(
                f"{cls}.load_state_dict(): missing keys {missing}; pass a dict made by "
                f"{cls}.state_dict() (or mg.load() of a saved {cls})"
            )
        hyper = {k: _as_like(k, state_dict[k], getattr(self, k)) for k in self._hyper_names}
        try:
            hyper = self._checked(hyper)
        except ValueError as err:
            raise ValueError(f"{cls}.load_state_dict(): {err}") from None
        t = _as_count("t", state_dict["t"])

        states = [self._new_state(p.data, hyper) for p in self.params]
        expected = set(required)
        for i, state in enumerate(states):
            expected.update(f"state.{i}.{name}" for name in state)
        missing = sorted(expected.difference(state_dict), key=_natural)
        unexpected = sorted(set(state_dict).difference(expected), key=_natural)
        if missing or unexpected:
            problems = [
                f"{what} keys {_short(keys)}"
                for what, keys in (("missing", missing), ("unexpected", unexpected))
                if keys
            ]
            raise ValueError(
                f"{cls}.load_state_dict(): {' and '.join(problems)}; the dict must come from "
                f"{cls}.state_dict() of an optimizer over the same {_count(self.params)}"
            )
        for i, state in enumerate(states):
            for name, zero in state.items():
                key = f"state.{i}.{name}"
                if isinstance(zero, np.ndarray):
                    _copy_buffer(key, state_dict[key], zero)
                else:
                    state[name] = _as_count(key, state_dict[key])

        # why: all checks passed; commit everything at once
        for name, value in hyper.items():
            setattr(self, name, value)
        self.t = t
        self._state = states

    def __repr__(self) -> str:
        settings = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._hyper_names)
        return f"{type(self).__name__}({_count(self.params)}, {settings})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov momentum and L2 decay.

    PyTorch's update rule (``torch.optim.SGD`` with ``dampening=0``), per parameter p
    with gradient g and velocity b (zero before the first step)::

        g = g + weight_decay * p          (if weight_decay != 0)
        b = momentum * b + g              (if momentum != 0; the first step gives b = g)
        g = g + momentum * b              (if nesterov)
        g = b                             (otherwise, if momentum != 0)
        p = p - lr * g

    The velocity is saved as ``"state.<i>.velocity"`` (only when momentum != 0).

    >>> import minigrad as mg
    >>> w = mg.Tensor([1.0], requires_grad=True)
    >>> opt = SGD([w], lr=0.1, momentum=0.5)
    >>> for _ in range(2):
    ...     w.grad = np.array([1.0])
    ...     opt.step()
    >>> w.data  # 1 - 0.1 * 1 - 0.1 * (0.5 * 1 + 1)
    array([0.75])
    """

    _hyper_names = ("lr", "momentum", "nesterov", "weight_decay")
    lr: float
    momentum: float
    nesterov: bool
    weight_decay: float

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
        hyper = {"lr": lr, "momentum": momentum, "nesterov": nesterov, "weight_decay": weight_decay}
        super().__init__(params, hyper, check_finite=check_finite)

    def _checked(self, hyper: Mapping[str, Any]) -> dict[str, Any]:
        checked = {
            "lr": _non_negative("lr", hyper["lr"], 0.01),
            "momentum": _unit_interval("momentum", hyper["momentum"]),
            "nesterov": bool(hyper["nesterov"]),
            "weight_decay": _non_negative("weight_decay", hyper["weight_decay"], 0.0001),
        }
        if checked["nesterov"] and checked["momentum"] == 0.0:
            raise ValueError(
                "nesterov=True needs momentum > 0, got momentum=0.0; pass e.g. momentum=0.9 "
                "or nesterov=False"
            )
        return checked

    def _new_state(self, data: np.ndarray, hyper: Mapping[str, Any]) -> _State:
        return {"velocity": np.zeros_like(data)} if hyper["momentum"] else {}

    def _update(self, data: np.ndarray, g: np.ndarray, state: _State, work: np.ndarray) -> None:
        lr, momentum, weight_decay = self.lr, self.momentum, self.weight_decay
        if weight_decay:
            np.multiply(data, weight_decay, out=work)
            work += g
            g = work
        if momentum:
            velocity = state.get("velocity")
            if velocity is None:  # why: momentum may be switched on after construction
                velocity = state["velocity"] = np.zeros_like(data)
            velocity *= momentum
            velocity += g
            if self.nesterov:
                # why: p -= lr * (g + momentum * b) as two in-place steps; g may live in
                # `work`, and a single expression would allocate a temporary
                np.multiply(g, lr, out=work)
                data -= work
                np.multiply(velocity, lr * momentum, out=work)
                data -= work
                return
            g = velocity
        np.multiply(g, lr, out=work)
        data -= work


class AdaGrad(Optimizer):
    """AdaGrad: each element's step shrinks with the sum of its squared gradients.

    Per parameter p with gradient g and accumulator h (zero before the first step)::

        h = h + g * g
        p = p - lr * g / (sqrt(h) + eps)

    ``eps`` is added outside the square root, as in PyTorch and the book; its default
    1e-7 is the book's (PyTorch's is 1e-10). The accumulator is saved as
    ``"state.<i>.sum_sq"``.

    >>> import minigrad as mg
    >>> w = mg.Tensor([1.0], requires_grad=True)
    >>> opt = AdaGrad([w], lr=0.5, eps=0.0)
    >>> w.grad = np.array([4.0])
    >>> opt.step()
    >>> w.data  # 1 - 0.5 * 4 / sqrt(16)
    array([0.5])
    """

    _hyper_names = ("lr", "eps")
    lr: float
    eps: float

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.01,
        eps: float = 1e-7,
        *,
        check_finite: bool = True,
    ) -> None:
        super().__init__(params, {"lr": lr, "eps": eps}, check_finite=check_finite)

    def _checked(self, hyper: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "lr": _non_negative("lr", hyper["lr"], 0.01),
            "eps": _non_negative("eps", hyper["eps"], 1e-8),
        }

    def _new_state(self, data: np.ndarray, hyper: Mapping[str, Any]) -> _State:
        return {"sum_sq": np.zeros_like(data)}

    def _update(self, data: np.ndarray, g: np.ndarray, state: _State, work: np.ndarray) -> None:
        sum_sq = state["sum_sq"]
        np.multiply(g, g, out=work)
        sum_sq += work
        _rms_step(data, g, sum_sq, work, self.lr, self.eps)


class RMSprop(Optimizer):
    """RMSprop: divide by a running root-mean-square of recent gradients.

    PyTorch's update rule (``torch.optim.RMSprop`` without momentum or centering), per
    parameter p with gradient g and running mean v (zero before the first step)::

        v = alpha * v + (1 - alpha) * g * g
        p = p - lr * g / (sqrt(v) + eps)

    ``eps`` is added outside the square root. The running mean is saved as
    ``"state.<i>.mean_sq"``.

    >>> import minigrad as mg
    >>> w = mg.Tensor([1.0], requires_grad=True)
    >>> opt = RMSprop([w], lr=0.1, alpha=0.75, eps=0.0)
    >>> w.grad = np.array([2.0])
    >>> opt.step()
    >>> w.data  # v = 0.25 * 4 = 1, so 1 - 0.1 * 2 / 1
    array([0.8])
    """

    _hyper_names = ("lr", "alpha", "eps")
    lr: float
    alpha: float
    eps: float

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        *,
        check_finite: bool = True,
    ) -> None:
        hyper = {"lr": lr, "alpha": alpha, "eps": eps}
        super().__init__(params, hyper, check_finite=check_finite)

    def _checked(self, hyper: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "lr": _non_negative("lr", hyper["lr"], 0.01),
            "alpha": _unit_interval("alpha", hyper["alpha"]),
            "eps": _non_negative("eps", hyper["eps"], 1e-8),
        }

    def _new_state(self, data: np.ndarray, hyper: Mapping[str, Any]) -> _State:
        return {"mean_sq": np.zeros_like(data)}

    def _update(self, data: np.ndarray, g: np.ndarray, state: _State, work: np.ndarray) -> None:
        mean_sq = state["mean_sq"]
        mean_sq *= self.alpha
        np.multiply(g, g, out=work)
        work *= 1.0 - self.alpha
        mean_sq += work
        _rms_step(data, g, mean_sq, work, self.lr, self.eps)


class Adam(Optimizer):
    """Adam: momentum on the gradient, scaled by a running RMS, both bias-corrected.

    PyTorch's update rule (``torch.optim.Adam``, ``amsgrad=False``), per parameter p
    with gradient g, moments m and v (zero before the first step) and its own step
    count t (counting only the steps in which p had a gradient)::

        g = g + weight_decay * p          (if weight_decay != 0; L2, not AdamW)
        t = t + 1
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        p = p - lr * m_hat / (sqrt(v_hat) + eps)

    ``eps`` is added after the bias correction, outside the square root. The state is
    saved as ``"state.<i>.m"``, ``"state.<i>.v"`` and ``"state.<i>.step"``.

    >>> import minigrad as mg
    >>> w = mg.Tensor([1.0, -1.0], requires_grad=True)
    >>> opt = Adam([w], lr=0.1)
    >>> w.grad = np.array([3.0, -0.5])
    >>> opt.step()
    >>> w.data  # the first step moves every element by about lr * sign(g)
    array([ 0.9, -0.9])
    """

    _hyper_names = ("lr", "betas", "eps", "weight_decay")
    lr: float
    betas: tuple[float, float]
    eps: float
    weight_decay: float

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
        hyper = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, hyper, check_finite=check_finite)

    def _checked(self, hyper: Mapping[str, Any]) -> dict[str, Any]:
        betas = hyper["betas"]
        if np.shape(betas) != (2,):
            raise ValueError(f"betas must be a pair of numbers like (0.9, 0.999), got {betas!r}")
        return {
            "lr": _non_negative("lr", hyper["lr"], 0.01),
            "betas": (_unit_interval("betas[0]", betas[0]), _unit_interval("betas[1]", betas[1])),
            "eps": _non_negative("eps", hyper["eps"], 1e-8),
            "weight_decay": _non_negative("weight_decay", hyper["weight_decay"], 0.0001),
        }

    def _new_state(self, data: np.ndarray, hyper: Mapping[str, Any]) -> _State:
        return {"m": np.zeros_like(data), "v": np.zeros_like(data), "step": 0}

    def _update(self, data: np.ndarray, g: np.ndarray, state: _State, work: np.ndarray) -> None:
        beta1, beta2 = self.betas
        if self.weight_decay:
            np.multiply(data, self.weight_decay, out=work)
            work += g
            g = work
        t = state["step"] = state["step"] + 1
        m, v = state["m"], state["v"]
        # why: m = beta1*m + (1-beta1)*g written as (1-beta1) * (m * beta1/(1-beta1) + g)
        # needs no second work array when g already lives in `work`; every step is a
        # product or the one sum of the formula itself, so no accuracy is lost
        m *= beta1 / (1.0 - beta1)
        m += g
        m *= 1.0 - beta1
        v *= beta2
        np.multiply(g, g, out=work)
        work *= 1.0 - beta2
        v += work
        # p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps), PyTorch's arrangement
        np.sqrt(v, out=work)
        work /= math.sqrt(1.0 - beta2**t)
        work += self.eps
        np.divide(m, work, out=work)
        work *= self.lr / (1.0 - beta1**t)
        data -= work


# --- helpers ------------------------------------------------------------------------------
def _rms_step(
    data: np.ndarray, g: np.ndarray, squares: np.ndarray, work: np.ndarray, lr: float, eps: float
) -> None:
    """p -= lr * g / (sqrt(squares) + eps), in place, through the scratch array ``work``."""
    np.sqrt(squares, out=work)
    work += eps
    np.divide(g, work, out=work)
    work *= lr
    data -= work


def _parameter_list(cls: str, params: Iterable[Any]) -> list[Any]:
    """Materialise ``params`` and check it: non-empty, float arrays, no repeats."""
    if hasattr(params, "data") or isinstance(params, np.ndarray):
        raise TypeError(
            f"{cls}() takes an iterable of parameters, got a single "
            f"{type(params).__name__}; wrap it in a list: {cls}([p])"
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
    first_seen: dict[int, int] = {}
    for i, p in enumerate(params):
        data = getattr(p, "data", None)
        if not isinstance(data, np.ndarray):
            hint = " (use parameters(), not named_parameters())" if isinstance(p, tuple) else ""
            raise TypeError(
                f"{cls}(): parameter {i} is a {type(p).__name__}, not a tensor with a "
                f".data array{hint}; pass Tensors or nn.Parameters"
            )
        if data.dtype.kind != "f":
            raise TypeError(
                f"{cls}(): parameter {i} has dtype {data.dtype}, but only float tensors can "
                "be trained; convert it, e.g. with astype(np.float32)"
            )
        j = first_seen.setdefault(id(p), i)
        if j != i:
            raise ValueError(
                f"{cls}(): parameters {j} and {i} are the same tensor; each parameter may "
                "appear once (it would be updated twice per step); remove the repeat"
            )
    return params


def _finite(g: np.ndarray) -> bool:
    """True if every element of ``g`` is finite, usually at the cost of one BLAS call."""
    # why: NaN and inf survive a sum of squares, so a finite g.g proves a finite g; BLAS
    # computes it faster than np.sum or np.isfinite(g).all(), and without warnings. A
    # non-finite result may be an overflow of finite values, settled by the exact check.
    # A gradient that is not contiguous would be copied by vdot, so it goes straight there.
    if g.flags.forc and math.isfinite(np.vdot(flat := g.ravel(order="K"), flat)):
        return True
    return bool(np.isfinite(g).all())


def _which_gradients(indices: list[int]) -> str:
    if len(indices) == 1:
        return f"the gradient of parameter {indices[0]} holds"
    listed = ", ".join(map(str, indices[:10])) + (", ..." if len(indices) > 10 else "")
    return f"the gradients of parameters {listed} hold"


def _number(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def _non_negative(name: str, value: Any, example: float) -> float:
    number = _number(name, value)
    if not (0.0 <= number < math.inf):
        raise ValueError(
            f"{name} must be a finite number >= 0, got {value!r}; pass e.g. {name}={example}"
        )
    return number


def _unit_interval(name: str, value: Any) -> float:
    number = _number(name, value)
    if not (0.0 <= number < 1.0):
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}; pass e.g. 0.9 or 0.99")
    return number


def _count(params: list[Any]) -> str:
    return f"{len(params)} parameter" + ("" if len(params) == 1 else "s")


def _as_like(key: str, value: Any, current: Any) -> Any:
    """Convert a saved hyper-parameter to the Python type of its current value."""
    array = np.asarray(value)
    expected_shape = np.shape(current) if isinstance(current, tuple) else ()
    if array.shape != expected_shape or array.dtype.kind not in "biuf":
        raise ValueError(
            f"load_state_dict(): {key!r} must be a number array of shape {expected_shape}, got "
            f"dtype {array.dtype} and shape {array.shape}; pass a dict made by state_dict()"
        )
    if isinstance(current, bool):
        return bool(array)
    if isinstance(current, tuple):
        return tuple(float(x) for x in array)
    return float(array)


def _as_count(key: str, value: Any) -> int:
    array = np.asarray(value)
    if array.shape != () or array.dtype.kind not in "iu" or array < 0:
        raise ValueError(
            f"load_state_dict(): {key!r} must be a count (a 0-d integer array >= 0), got "
            f"{array!r}; pass a dict made by state_dict()"
        )
    return int(array)


def _copy_buffer(key: str, value: Any, out: np.ndarray) -> None:
    array = np.asarray(value)
    if array.shape != out.shape or array.dtype.kind not in "biuf":
        raise ValueError(
            f"load_state_dict(): {key!r} must be a number array of its parameter's shape "
            f"{out.shape}, got dtype {array.dtype} and shape {array.shape}; was the dict "
            "saved for a different model?"
        )
    np.copyto(out, array, casting="unsafe")


def _natural(key: Any) -> tuple[tuple[int, int | str], ...]:
    """Sort ``state.10.m`` after ``state.2.m`` (numbers before words within a part)."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in str(key).split("."))


def _short(keys: list[str]) -> str:
    return repr(keys) if len(keys) <= 8 else repr(keys[:8])[:-1] + f", ... ({len(keys)} in all)]"
