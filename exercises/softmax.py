# Generated from solutions/softmax.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""Softmax over the last axis: s_i = exp(x_i) / sum_j exp(x_j), for every leading index.

Your task: write `Softmax.backward`. Given dout = dL/ds, return dx = dL/dx, the
vector-Jacobian product, without building a (C, C) Jacobian for each row.
"""
import numpy as np


class Softmax:
    """Softmax over the last axis of an array of shape (..., C), e.g. (N, C), (C,) or (N, T, C).

    Attributes:
    - out: softmax(x) of the most recent forward, shape (..., C); every row (last axis) sums to 1
    """

    def __init__(self):
        self.out = None  # cached by forward for backward: (..., C)

    def forward(self, x):
        """Inputs: x, shape (..., C). Returns: s, shape (..., C), softmax along the last axis.

        Stable for any x: subtracting each row's max leaves the softmax unchanged, exp(...) <= 1.
        """
        shifted = x - x.max(axis=-1, keepdims=True)  # (..., C), every row's max is 0
        e = np.exp(shifted)  # (..., C), in (0, 1]
        out = e / e.sum(axis=-1, keepdims=True)  # (..., C)
        self.out = out  # cached for backward: s, (..., C)
        return out

    def backward(self, dout):
        """Inputs: dout, shape (..., C), the gradient of the loss with respect to s.

        Returns: dx, shape (..., C).
        """
        # TODO: return dx (..., C), the vector-Jacobian product, no (C, C) Jacobian
        raise NotImplementedError('TODO: return dx (..., C), the vector-Jacobian product, no (C, C) Jacobian')
