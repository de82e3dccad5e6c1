# Generated from solutions/rope.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""Rotary position embedding (RoPE), the interleaved (complex-number) convention.

For x (N, T, h, d) (d even) and the position of each of the T tokens, positions (T,) int:
    theta_i     = base ** (-2i / d)                 i = 0 .. d/2 - 1, one frequency per pair
    angle[t, i] = positions[t] * theta_i            (T, d/2)
    each pair (x[..., 2i], x[..., 2i + 1]) is rotated by angle[t, i]:
        out[..., 2i]     = x[..., 2i] * cos - x[..., 2i + 1] * sin
        out[..., 2i + 1] = x[..., 2i] * sin + x[..., 2i + 1] * cos
Positions need not start at 0 nor be consecutive (a cache of earlier tokens, packed sequences).

Your task: write `RoPE.backward`. Given dout = dL/dout, return dx.
"""
import numpy as np


class RoPE:
    """Rotates each pair of features by an angle that grows with the position. No parameters.

    Shapes: x (N, T, h, d), positions (T,) int, out (N, T, h, d).
    """

    def __init__(self, head_dim, base=10000.0):
        assert head_dim % 2 == 0, "head_dim must be even"
        self.head_dim, self.base = head_dim, base
        self.cache = None  # set by forward: (positions, cos, sin), cos and sin (T, 1, d/2)

    def forward(self, x, positions):
        """Inputs: x (N, T, h, d); positions (T,) int, the position of each token.

        Returns: out (N, T, h, d).
        """
        d = self.head_dim
        theta = self.base ** (-np.arange(0, d, 2) / d)  # (d/2,)
        angle = np.asarray(positions, dtype=np.float64)[:, None] * theta  # (T, d/2)
        cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]  # (T, 1, d/2): over N and h
        self.cache = (positions, cos, sin)
        even, odd = x[..., 0::2], x[..., 1::2]  # (N, T, h, d/2) each
        out = np.empty_like(x)
        out[..., 0::2] = even * cos - odd * sin
        out[..., 1::2] = even * sin + odd * cos
        return out

    def backward(self, dout):
        """Inputs: dout (N, T, h, d), the gradient of the loss with respect to out.

        Returns: dx (N, T, h, d).
        """
        # TODO: return dx (N, T, h, d)
        raise NotImplementedError('TODO: return dx (N, T, h, d)')
