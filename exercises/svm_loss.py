# Generated from solutions/svm_loss.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""The multiclass hinge (SVM) loss of CS231n, averaged over the batch:
loss = (1/N) * sum_i sum_{j != y_i} max(0, s_ij - s_{i, y_i} + margin).

Your task: write `MulticlassHingeLoss.backward`: the gradient of dout * loss with respect to
the scores.
"""
import numpy as np


class MulticlassHingeLoss:
    """CS231n's SVM loss: the mean over N of the sum over j != y of max(0, s_j - s_y + margin),
    with no division by C. A margin term of exactly 0 contributes 0 (and its derivative is 0,
    as torch.relu's at 0)."""

    def __init__(self, margin=1.0):
        self.margin = margin
        self.margins = None  # cached by forward: (N, C), s_ij - s_{i, y_i} + margin, before max(0, .)
        self.y = None  # cached by forward: (N,)

    def forward(self, scores, y):
        """Inputs: scores (N, C); y (N,) integer labels in [0, C).

        Returns: the mean loss over the N examples, a float.
        """
        n = scores.shape[0]
        rows = np.arange(n)
        self.margins = scores - scores[rows, y][:, None] + self.margin  # (N, C); the y column holds margin
        self.y = y
        hinge = np.maximum(0.0, self.margins)  # (N, C)
        hinge[rows, y] = 0.0  # j == y is not in the sum
        return float(hinge.sum() / n)

    def backward(self, dout=1.0):
        """Inputs: dout, a float: the gradient of the final loss with respect to this loss.

        Returns: dscores (N, C).
        """
        # TODO: return dscores (N, C), the gradient of dout * loss
        raise NotImplementedError('TODO: return dscores (N, C), the gradient of dout * loss')
