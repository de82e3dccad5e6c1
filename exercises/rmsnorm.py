# Generated from solutions/rmsnorm.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""RMS normalisation over the last axis, as torch.nn.RMSNorm(D, eps=1e-6) (LLaMA, T5).

For x (..., D), each vector x[..., :] of length D is scaled by its root mean square; unlike
LayerNorm nothing is subtracted and there is no bias:
    ms      = (1/D) * sum_k x[..., k]**2          mean of squares over the last axis
    inv_rms = 1 / sqrt(ms + eps)                  (..., 1), eps inside the square root
    x_hat   = x * inv_rms
    out     = x_hat * weight                      weight (D,) broadcast over the rest

Your task: write `RMSNorm.backward`. Given dout = dL/dout, return dx = dL/dx and store the
weight's gradient in self.dweight.
"""
import numpy as np


class RMSNorm:
    """RMS normalisation over the last axis of (..., D) inputs (a 1-D (D,) input works too).

    Parameters:
    - weight: (D,), ones (scale)
    After backward: self.dweight (D,) holds the gradient of the most recent call
    (overwritten, not accumulated).
    """

    def __init__(self, dim, eps=1e-6):
        self.eps = eps
        self.weight = np.ones(dim)
        self.dweight = None
        self.x = None  # cached by forward: the input (..., D)
        self.inv_rms = None  # cached by forward: 1 / sqrt(mean(x**2) + eps), (..., 1)

    def forward(self, x):
        """Inputs: x (..., D): any number of leading axes, or none (shape (D,)).

        Returns: out (..., D), the shape of x.
        """
        ms = (x * x).mean(axis=-1, keepdims=True)  # (..., 1)
        self.inv_rms = 1.0 / np.sqrt(ms + self.eps)  # (..., 1)
        self.x = x
        return x * self.inv_rms * self.weight

    def backward(self, dout):
        """Inputs: dout (..., D), the gradient of the loss with respect to out.

        Returns: dx (..., D). Sets self.dweight (D,).
        """
        # TODO: set self.dweight (D,); return dx (..., D)
        raise NotImplementedError('TODO: set self.dweight (D,); return dx (..., D)')
