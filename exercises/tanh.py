# Generated from solutions/tanh.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""Tanh activation: t(x) = tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x)), element-wise.

Your task: write `Tanh.backward`. Given dout = dL/dt, return dx = dL/dx.
"""
import numpy as np


class Tanh:
    """Element-wise hyperbolic tangent. Works on arrays of any shape.

    Attributes:
    - out: tanh(x) of the most recent forward, same shape as x (cached for backward)
    """

    def __init__(self):
        self.out = None  # cached by forward for backward: same shape as x

    def forward(self, x):
        """Inputs: x, any shape. Returns: tanh(x), same shape, in [-1, 1]; finite for any x."""
        out = np.tanh(x)
        self.out = out  # cached for backward: tanh(x), same shape as x
        return out

    def backward(self, dout):
        """Inputs: dout, same shape as x. Returns: dx, same shape as x."""
        # TODO: return dx, same shape as x, from the cached output t = tanh(x)
        raise NotImplementedError('TODO: return dx, same shape as x, from the cached output t = tanh(x)')
