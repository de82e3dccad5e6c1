# Generated from solutions/sigmoid.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""Sigmoid activation: s(x) = 1 / (1 + exp(-x)), element-wise.

Your task: write `Sigmoid.backward`. Given dout = dL/ds, return dx = dL/dx.
"""
import numpy as np


class Sigmoid:
    """Element-wise logistic sigmoid. Works on arrays of any shape."""

    def __init__(self):
        self.out = None  # cached by forward for backward: same shape as x

    def forward(self, x):
        """Inputs: x, any shape. Returns: s(x), same shape; finite for any x."""
        z = np.exp(-np.abs(x))  # in (0, 1]: never overflows, even for |x| = 1e3
        out = np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))
        self.out = out
        return out

    def backward(self, dout):
        """Inputs: dout, same shape as x. Returns: dx, same shape as x."""
        # TODO: return dx, same shape as x, using what forward cached
        raise NotImplementedError('TODO: return dx, same shape as x, using what forward cached')
