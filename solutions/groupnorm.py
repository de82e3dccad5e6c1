"""Group normalisation, as torch.nn.GroupNorm(num_groups, num_channels).

For x (N, C, H, W), the C channels are split into G = num_groups groups of C // G
consecutive channels; each sample's group, M = (C // G) * H * W numbers, is normalised on
its own, whatever the batch size:
    mu    = mean over the group's M numbers                 (N, G)
    var   = mean over the group of (x - mu)**2               (N, G), biased (divide by M)
    x_hat = (x - mu) / sqrt(var + eps)                       (N, C, H, W)
    out   = gamma * x_hat + beta                             gamma, beta (C,): one per channel
G = 1 is layer norm over (C, H, W); G = C is instance norm. No running statistics.

Your task: write `GroupNorm.backward`. Given dout = dL/dout, return dx = dL/dx and store
the parameter gradients in self.dgamma and self.dbeta.
"""
import numpy as np


class GroupNorm:
    """Group normalisation of (N, C, H, W) inputs; num_groups divides num_channels.

    Parameters:
    - gamma: (C,), ones (scale per channel)
    - beta: (C,), zeros (shift per channel)
    After backward: self.dgamma (C,) and self.dbeta (C,) hold the gradients of the most
    recent call (overwritten, not accumulated).
    """

    def __init__(self, num_groups, num_channels, eps=1e-5):
        if num_channels % num_groups:
            raise ValueError("num_channels must be divisible by num_groups")
        self.num_groups = num_groups
        self.eps = eps
        self.gamma = np.ones(num_channels)
        self.beta = np.zeros(num_channels)
        self.dgamma = None
        self.dbeta = None
        self.x_hat = None  # cached by forward: the normalised input (N, C, H, W)
        self.inv_std = None  # cached by forward: 1 / sqrt(var + eps) per group, (N, G, 1)

    def forward(self, x):
        """Inputs: x (N, C, H, W).

        Returns: out (N, C, H, W).
        """
        N, C = x.shape[:2]
        xg = x.reshape(N, self.num_groups, -1)  # (N, G, M): one row per sample and group
        mu = xg.mean(axis=-1, keepdims=True)  # (N, G, 1)
        var = ((xg - mu) ** 2).mean(axis=-1, keepdims=True)  # (N, G, 1), biased
        self.inv_std = 1.0 / np.sqrt(var + self.eps)  # (N, G, 1)
        self.x_hat = ((xg - mu) * self.inv_std).reshape(x.shape)  # (N, C, H, W)
        return self.gamma.reshape(1, C, 1, 1) * self.x_hat + self.beta.reshape(1, C, 1, 1)

    def backward(self, dout):
        """Inputs: dout (N, C, H, W), the gradient of the loss with respect to out.

        Returns: dx (N, C, H, W). Sets self.dgamma (C,) and self.dbeta (C,).
        """
        # BEGIN TODO: set self.dgamma (C,) and self.dbeta (C,); return dx (N, C, H, W)
        N, C = dout.shape[:2]
        # gamma and beta are per channel: sum over the batch and both spatial axes
        self.dbeta = dout.sum(axis=(0, 2, 3))  # (C,)
        self.dgamma = (dout * self.x_hat).sum(axis=(0, 2, 3))  # (C,)
        dx_hat = (dout * self.gamma.reshape(1, C, 1, 1)).reshape(N, self.num_groups, -1)  # (N, G, M)
        x_hat = self.x_hat.reshape(N, self.num_groups, -1)  # (N, G, M)
        # layer norm's formula, with the means over each group's M numbers
        dx = self.inv_std * (
            dx_hat
            - dx_hat.mean(axis=-1, keepdims=True)
            - x_hat * (dx_hat * x_hat).mean(axis=-1, keepdims=True)
        )
        return dx.reshape(dout.shape)
        # END TODO
