"""Layers, and networks built from them: ``Sequential`` chains and ``Graph`` DAGs."""

from minigrad.nn.layer import Layer, Parameter, Sequential

__all__ = ["Layer", "Parameter", "Sequential"]
