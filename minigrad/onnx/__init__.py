"""ONNX: export a minigrad network to a ``.onnx`` file, and load one made elsewhere.

``export(model, path, *example_inputs)`` writes a ``Sequential`` or ``Graph`` as it runs
in eval mode, with a symbolic batch axis; ``load(path)`` builds an ``nn.Graph`` whose
weights are trainable ``Parameter``s. Both need the optional ``onnx`` package
(``pip install "minigrad-autograd[onnx]"``, which also brings onnxruntime to run the
files); importing this module does not.

>>> import minigrad as mg
>>> callable(mg.onnx.export), callable(mg.onnx.load)
(True, True)
"""

from minigrad.onnx._export import export
from minigrad.onnx._load import load

__all__ = ["export", "load"]
