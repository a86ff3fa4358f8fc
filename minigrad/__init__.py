"""minigrad: a small, fast, readable autograd framework on NumPy.

>>> import minigrad as mg
>>> x = mg.Tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
array([2., 4., 6.])
"""

from minigrad import data, nn, onnx, optim, viz
from minigrad.compile import compile
from minigrad.debug import detect_anomaly
from minigrad.functional import concatenate, matmul, maximum, minimum, stack, where
from minigrad.gradcheck import GradcheckError, gradcheck, numerical_grad
from minigrad.interop import from_dlpack
from minigrad.io import load, save
from minigrad.tensor import Tensor, enable_grad, grad, is_grad_enabled, no_grad

__all__ = [
    "Tensor",
    "compile",
    "grad",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "concatenate",
    "stack",
    "where",
    "maximum",
    "minimum",
    "matmul",
    "from_dlpack",
    "numerical_grad",
    "gradcheck",
    "GradcheckError",
    "detect_anomaly",
    "save",
    "load",
    "data",
    "optim",
    "nn",
    "viz",
    "onnx",
]
__version__ = "0.1.0"
