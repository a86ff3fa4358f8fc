"""minigrad.testing and minigrad.gradcheck: the reports a user reads when gradients disagree."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.gradcheck import GradcheckError
from minigrad.tensor import Op
from minigrad.testing import assert_grads_match, assert_layer_grads_match


class ScaleWithWrongGradient(Op):
    """y = x * k, with dy/dk off by a factor of 2 on purpose."""

    def forward(self, x: np.ndarray, k: np.ndarray) -> np.ndarray:
        return x * k

    def backward(self, gy):
        x, k = self.inputs
        return gy * k, (gy * x * 2.0).sum(axis=0)


class Scale(nn.Layer):
    def __init__(self, how: str) -> None:
        super().__init__()
        self.k = nn.Parameter(np.array([2.0, -1.0]))
        self.how = how

    def forward(self, x):
        if self.how == "detached":
            return x * self.k.data  # the bug under test: .data cuts k out of the graph
        if self.how == "wrong":
            return ScaleWithWrongGradient.apply(x, self.k)
        return x * self.k


def test_a_parameter_without_gradient_is_reported_as_not_connected():
    with pytest.raises(AssertionError) as info:
        assert_layer_grads_match(Scale("detached"), np.ones((3, 2)))
    message = str(info.value)
    assert message.startswith("parameter 'k': `.grad` is None: not connected to the output?")
    assert "backprop 0" not in message


def test_a_wrong_parameter_gradient_names_the_parameter_and_index():
    with pytest.raises(GradcheckError, match=r"^parameter 'k' at index \(\d,\): backprop -?\d"):
        assert_layer_grads_match(Scale("wrong"), np.ones((3, 2)))


def test_a_correct_layer_passes():
    assert_layer_grads_match(Scale("right"), np.linspace(-1, 1, 6).reshape(3, 2))


def test_assert_grads_match_reports_the_input_like_gradcheck():
    with pytest.raises(AssertionError, match=r"^input 1 at index \(\d,\): backprop"):
        assert_grads_match(
            lambda x, k: ScaleWithWrongGradient.apply(x, k), np.ones((3, 2)), np.ones(2)
        )


def test_gradcheck_names_an_input_that_got_no_gradient():
    with pytest.raises(GradcheckError, match=r"^input 1: `.grad` is None: not connected"):
        mg.gradcheck(lambda x, y: (x * y.data).sum() + (x * y.data).sum(), np.ones(2), np.ones(2))


def test_an_unused_input_with_zero_gradient_still_passes():
    assert mg.gradcheck(lambda x, y: (x * x).sum(), np.ones(2), np.ones(2))


def test_import_without_hypothesis_says_what_to_install():
    script = (
        "import sys\n"
        "sys.modules['hypothesis'] = None  # as if Hypothesis were not installed\n"
        "import minigrad.testing\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: minigrad.testing needs Hypothesis")
    assert 'pip install "minigrad-autograd[testing]"' in last
