# Generated from solutions/mse.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""Mean squared error: loss = mean((pred - target)**2), the mean over all elements.

Your task: write `MSELoss.backward`: the gradient of dout * loss with respect to pred.
"""
import numpy as np


class MSELoss:
    """Mean of (pred - target)**2 over every element, as torch.nn.functional.mse_loss.

    Attributes:
    - diff: pred - target of the most recent forward, same shape as pred (cached for backward)
    """

    def __init__(self):
        self.diff = None  # cached by forward for backward: same shape as pred

    def forward(self, pred, target):
        """Inputs: pred, any shape; target, the same shape.

        Returns: the mean over all elements of (pred - target)**2, a float.
        """
        self.diff = pred - target  # cached for backward: same shape as pred
        return float(np.mean(self.diff ** 2))

    def backward(self, dout=1.0):
        """Inputs: dout, a float: the gradient of the final loss with respect to this loss.

        Returns: dpred, same shape as pred.
        """
        # TODO: return dpred, same shape as pred, the gradient of dout * loss
        raise NotImplementedError('TODO: return dpred, same shape as pred, the gradient of dout * loss')
