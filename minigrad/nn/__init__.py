"""Layers, and networks built from them: ``Sequential`` chains and ``Graph`` DAGs."""

from minigrad.nn.attention import MultiHeadAttention
from minigrad.nn.conv import Conv2d, MaxPool2d
from minigrad.nn.graph import Graph, Input, Node
from minigrad.nn.layer import Layer, Parameter
from minigrad.nn.layers import (
    Add,
    Affine,
    Concat,
    Flatten,
    MSELoss,
    ReLU,
    Sigmoid,
    Softmax,
    SoftmaxWithLoss,
    Tanh,
)
from minigrad.nn.norm import BatchNorm, Dropout
from minigrad.nn.sequence import GELU, LSTM, RNN, Embedding, LayerNorm, clip_grad_norm
from minigrad.nn.sequential import Sequential

__all__ = [
    "Layer",
    "Parameter",
    "Sequential",
    "Affine",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "Softmax",
    "Flatten",
    "SoftmaxWithLoss",
    "MSELoss",
    "Add",
    "Concat",
    "Conv2d",
    "MaxPool2d",
    "Dropout",
    "BatchNorm",
    "Embedding",
    "LayerNorm",
    "GELU",
    "RNN",
    "LSTM",
    "MultiHeadAttention",
    "clip_grad_norm",
    "Input",
    "Node",
    "Graph",
]
