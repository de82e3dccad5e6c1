# Generated from solutions/layernorm.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""Layer normalisation over the last axis, as torch.nn.LayerNorm(D).

For x (..., D), each vector x[..., :] of length D is normalised on its own:
    mu    = (1/D) * sum_k x[..., k]                mean over the last axis
    var   = (1/D) * sum_k (x[..., k] - mu)**2      biased variance (divide by D)
    x_hat = (x - mu) / sqrt(var + eps)
    out   = gamma * x_hat + beta                   gamma, beta (D,) broadcast over the rest
There are no running statistics: training and evaluation compute the same thing.

Your task: write `LayerNorm.backward`. Given dout = dL/dout, return dx = dL/dx and store
the parameter gradients in self.dgamma and self.dbeta.
"""
import numpy as np


class LayerNorm:
    """Layer normalisation over the last axis of (..., D) inputs (a 1-D (D,) input works too).

    Parameters:
    - gamma: (D,), ones (scale)
    - beta: (D,), zeros (shift)
    After backward: self.dgamma (D,) and self.dbeta (D,) hold the gradients of the most
    recent call (overwritten, not accumulated).
    """

    def __init__(self, num_features, eps=1e-5):
        self.eps = eps
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.dgamma = None
        self.dbeta = None
        self.x_hat = None  # cached by forward: the normalised input (..., D)
        self.inv_std = None  # cached by forward: 1 / sqrt(var + eps), (..., 1)

    def forward(self, x):
        """Inputs: x (..., D): any number of leading axes, or none (shape (D,)).

        Returns: out (..., D), the shape of x.
        """
        mu = x.mean(axis=-1, keepdims=True)  # (..., 1)
        var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)  # (..., 1), biased
        self.inv_std = 1.0 / np.sqrt(var + self.eps)  # (..., 1)
        self.x_hat = (x - mu) * self.inv_std  # (..., D)
        return self.gamma * self.x_hat + self.beta

    def backward(self, dout):
        """Inputs: dout (..., D), the gradient of the loss with respect to out.

        Returns: dx (..., D). Sets self.dgamma (D,) and self.dbeta (D,).
        """
        # TODO: set self.dgamma (D,) and self.dbeta (D,); return dx (..., D)
        raise NotImplementedError('TODO: set self.dgamma (D,) and self.dbeta (D,); return dx (..., D)')
