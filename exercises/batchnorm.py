# Generated from solutions/batchnorm.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""Batch normalisation of feature vectors, as torch.nn.BatchNorm1d.

Training mode (self.training = True), for x (N, D) and every feature j:
    mu      = (1/N) * sum_i x[i, j]                   batch mean
    var     = (1/N) * sum_i (x[i, j] - mu)**2         biased variance (divide by N)
    x_hat   = (x - mu) / sqrt(var + eps)
    out     = gamma * x_hat + beta
and the running statistics move toward the batch's, the variance UNBIASED (divide by N - 1):
    running_mean = (1 - momentum) * running_mean + momentum * mu
    running_var  = (1 - momentum) * running_var  + momentum * var * N / (N - 1)
Eval mode (self.training = False) normalises with the running statistics instead:
    out = gamma * (x - running_mean) / sqrt(running_var + eps) + beta

Your task: write `BatchNorm1d.backward` for a training-mode forward. Given dout = dL/dout,
return dx = dL/dx and store the parameter gradients in self.dgamma and self.dbeta.
"""
import numpy as np


class BatchNorm1d:
    """Batch normalisation over the batch axis of (N, D) inputs.

    Parameters:
    - gamma: (D,), ones (scale)
    - beta: (D,), zeros (shift)
    Running statistics (used in eval mode, updated by every training-mode forward):
    - running_mean: (D,), zeros
    - running_var: (D,), ones
    training: True (batch statistics) or False (running statistics).
    After backward: self.dgamma (D,) and self.dbeta (D,) hold the gradients of the most
    recent call (overwritten, not accumulated).
    """

    def __init__(self, num_features, eps=1e-5, momentum=0.1):
        self.eps = eps
        self.momentum = momentum
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.training = True
        self.dgamma = None
        self.dbeta = None
        self.x_hat = None  # cached by a training forward: the normalised input (N, D)
        self.inv_std = None  # cached by a training forward: 1 / sqrt(var + eps), (D,)

    def forward(self, x):
        """Inputs: x (N, D); N >= 2 in training mode. Returns: out (N, D)."""
        if not self.training:
            return self.gamma * (x - self.running_mean) / np.sqrt(self.running_var + self.eps) + self.beta
        n = x.shape[0]
        if n < 2:
            raise ValueError(f"BatchNorm1d in training mode needs more than 1 value per feature, got N = {n}")
        mu = x.mean(axis=0)  # (D,)
        var = ((x - mu) ** 2).mean(axis=0)  # (D,), biased: normalises the batch
        self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
        self.running_var = (1 - self.momentum) * self.running_var + self.momentum * var * n / (n - 1)
        self.inv_std = 1.0 / np.sqrt(var + self.eps)  # (D,)
        self.x_hat = (x - mu) * self.inv_std  # (N, D)
        return self.gamma * self.x_hat + self.beta

    def backward(self, dout):
        """Inputs: dout (N, D), the gradient of the loss with respect to out, after a
        training-mode forward.

        Returns: dx (N, D). Sets self.dgamma (D,) and self.dbeta (D,).
        """
        # TODO: set self.dgamma (D,) and self.dbeta (D,); return dx (N, D)
        raise NotImplementedError('TODO: set self.dgamma (D,) and self.dbeta (D,); return dx (N, D)')
