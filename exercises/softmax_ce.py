# Generated from solutions/softmax_ce.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""Softmax followed by cross-entropy, averaged over the batch.

loss = -(1/N) * sum_i log softmax(logits_i)[y_i]

Your task: write `SoftmaxCrossEntropy.backward`: the gradient of dout * loss with
respect to the logits.
"""
import numpy as np


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against integer labels."""

    def __init__(self):
        self.probs = None  # cached by forward: (N, C)
        self.y = None  # cached by forward: (N,)

    def forward(self, logits, y):
        """Inputs: logits (N, C); y (N,) integer labels in [0, C).

        Returns: the mean loss over the N examples, a float. Stable for any logits:
        subtracting each row's max leaves the softmax unchanged and exp(...) <= 1.
        """
        shifted = logits - logits.max(axis=1, keepdims=True)  # (N, C), row max is 0
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N, C)
        self.probs = np.exp(log_probs)  # (N, C)
        self.y = y
        n = logits.shape[0]
        return float(-log_probs[np.arange(n), y].mean())

    def backward(self, dout=1.0):
        """Inputs: dout, a float: the gradient of the final loss with respect to this loss.

        Returns: dlogits (N, C).
        """
        # TODO: return dlogits (N, C), the gradient of dout * loss
        raise NotImplementedError('TODO: return dlogits (N, C), the gradient of dout * loss')
