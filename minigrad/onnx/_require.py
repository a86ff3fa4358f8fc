"""The one place that imports the optional ``onnx`` package."""

from __future__ import annotations

from types import ModuleType

INSTALL = 'pip install "minigrad-autograd[onnx]"'


def require_onnx(what: str) -> ModuleType:
    """The ``onnx`` module, or an ImportError that says how to install it."""
    try:
        import onnx  # noqa: PLC0415  (optional: imported only when used)
        import onnx.checker  # noqa: PLC0415, F401
        import onnx.helper  # noqa: PLC0415, F401
        import onnx.numpy_helper  # noqa: PLC0415, F401
    except ImportError as err:
        raise ImportError(
            f"minigrad.onnx.{what} needs the onnx package, which is not installed; "
            f"{INSTALL} (it also installs onnxruntime, to run the files)"
        ) from err
    return onnx
