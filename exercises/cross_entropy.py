# Generated from solutions/cross_entropy.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""Cross-entropy of softmax(logits) with ignored targets and label smoothing, as
torch.nn.functional.cross_entropy(logits, y, ignore_index=..., label_smoothing=...):
loss = (1 / K) * sum over the K kept rows i of
       (1 - eps) * (-log p[i, y_i]) + eps * mean over the C classes c of (-log p[i, c])
where a row is kept when y_i != ignore_index, and p = softmax(logits) over the classes.

Your task: write `CrossEntropyLoss.backward`: the gradient of dout * loss with respect to
the logits.
"""
import numpy as np


class CrossEntropyLoss:
    """Mean cross-entropy over the targets that are not ignored, with label smoothing eps.

    Attributes:
    - ignore_index: a target equal to it contributes nothing (default -100)
    - label_smoothing: eps in [0, 1): the target puts 1 - eps on y_i and eps spread evenly
      over all C classes (y_i included)
    """

    def __init__(self, ignore_index=-100, label_smoothing=0.0):
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.probs = None  # cached by forward: (N, C) softmax of the logits
        self.y = None  # cached by forward: (N,) targets, ignored ones replaced by 0
        self.keep = None  # cached by forward: (N,) bool, True where the target is not ignored
        self.n_kept = None  # cached by forward: K, the number of kept rows (at least 1)

    def forward(self, logits, y):
        """Inputs: logits (N, C); y (N,) integer targets in [0, C) or equal to ignore_index;
        at least one target is not ignored.

        Returns: the loss, a float. Stable for any logits (each row's max is subtracted).
        """
        n, c = logits.shape
        shifted = logits - logits.max(axis=1, keepdims=True)  # (N, C), row max is 0
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # (N, C)
        self.probs = np.exp(log_probs)  # (N, C)
        self.keep = y != self.ignore_index  # (N,)
        self.y = np.where(self.keep, y, 0)  # (N,): a valid index in every row
        self.n_kept = int(self.keep.sum())
        eps = self.label_smoothing
        nll = -log_probs[np.arange(n), self.y]  # (N,)
        smooth = -log_probs.mean(axis=1)  # (N,): mean over the C classes
        per_row = (1.0 - eps) * nll + eps * smooth  # (N,)
        return float((per_row * self.keep).sum() / self.n_kept)

    def backward(self, dout=1.0):
        """Inputs: dout, a float: the gradient of the final loss with respect to this loss.

        Returns: dlogits (N, C); the rows of ignored targets are 0.
        """
        # TODO: return dlogits (N, C), the gradient of dout * loss
        raise NotImplementedError('TODO: return dlogits (N, C), the gradient of dout * loss')
