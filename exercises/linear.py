# Generated from solutions/linear.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""Linear (fully connected) layer: out = x @ W + b.

Your task: write `Linear.backward`. Given dout = dL/dout, return dx = dL/dx and store
the parameter gradients in self.dW and self.db.
"""
import numpy as np


class Linear:
    """A fully connected layer.

    Parameters:
    - W: (in_features, out_features)
    - b: (out_features,)
    After backward: self.dW (in_features, out_features) and self.db (out_features,)
    hold the gradients of the most recent call (overwritten, not accumulated).
    """

    def __init__(self, in_features, out_features, rng=None):
        rng = np.random.default_rng() if rng is None else rng
        bound = 1.0 / np.sqrt(in_features)
        self.W = rng.uniform(-bound, bound, size=(in_features, out_features))
        self.b = np.zeros(out_features)
        self.dW = None
        self.db = None
        self.x = None  # cached by forward for backward: (N, in_features)

    def forward(self, x):
        """Inputs: x (N, in_features). Returns: out (N, out_features) = x @ W + b."""
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        """Inputs: dout (N, out_features), the gradient of the loss with respect to out.

        Returns: dx (N, in_features). Sets self.dW (in_features, out_features) and
        self.db (out_features,).
        """
        # TODO: set self.dW (in, out) and self.db (out,); return dx (N, in)
        raise NotImplementedError('TODO: set self.dW (in, out) and self.db (out,); return dx (N, in)')
