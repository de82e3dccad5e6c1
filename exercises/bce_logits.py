# Generated from solutions/bce_logits.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""Binary cross-entropy on logits: with s = sigmoid(z),

loss = mean(-[y * log(s) + (1 - y) * log(1 - s)]) = mean(softplus(z) - y * z),

the mean over all elements, where softplus(z) = log(1 + exp(z)).

Your task: write `BCEWithLogitsLoss.backward`: the gradient of dout * loss with respect to
the logits.
"""
import numpy as np


class BCEWithLogitsLoss:
    """Mean binary cross-entropy of sigmoid(logits) against targets in [0, 1], as
    torch.nn.functional.binary_cross_entropy_with_logits.

    Attributes:
    - logits: the logits z of the most recent forward, any shape (cached for backward)
    - targets: the targets y of the most recent forward, the same shape (cached for backward)
    """

    def __init__(self):
        self.logits = None  # cached by forward for backward: any shape
        self.targets = None  # cached by forward for backward: same shape as logits

    def forward(self, logits, targets):
        """Inputs: logits, any shape; targets, the same shape, values in [0, 1].

        Returns: the mean loss over all elements, a float. Finite for any logits: softplus is
        computed as logaddexp(0, z), which never forms exp of a large number.
        """
        self.logits = logits  # cached for backward: any shape
        self.targets = targets  # cached for backward: same shape as logits
        losses = np.logaddexp(0.0, logits) - targets * logits  # softplus(z) - y z, same shape
        return float(losses.mean())

    def backward(self, dout=1.0):
        """Inputs: dout, a float: the gradient of the final loss with respect to this loss.

        Returns: dlogits, same shape as logits.
        """
        # TODO: return dlogits, same shape as logits, the gradient of dout * loss
        raise NotImplementedError('TODO: return dlogits, same shape as logits, the gradient of dout * loss')
