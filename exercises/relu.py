# Generated from solutions/relu.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""ReLU activation: relu(x) = max(x, 0), element-wise.

Your task: write `ReLU.backward`. Given dout = dL/dout, return dx = dL/dx.
"""
import numpy as np


class ReLU:
    """Element-wise rectified linear unit. Works on arrays of any shape.

    Attributes:
    - x: the input of the most recent forward, same shape as x (cached for backward)
    """

    def __init__(self):
        self.x = None  # cached by forward for backward: same shape as x

    def forward(self, x):
        """Inputs: x, any shape. Returns: out = max(x, 0), same shape."""
        self.x = x  # cached for backward: same shape as x
        return np.maximum(x, 0.0)

    def backward(self, dout):
        """Inputs: dout, same shape as x. Returns: dx, same shape as x."""
        # TODO: return dx, same shape as x, using the cached x
        raise NotImplementedError('TODO: return dx, same shape as x, using the cached x')
