# Generated from solutions/lora.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""A linear layer with a LoRA adapter: out = x @ W + b + (alpha / rank) * (x @ A) @ B.

W and b are the frozen pretrained weights; only the low-rank factors A and B are trained.

Your task: write `LoRALinear.backward`. Given dout = dL/dout, return dx = dL/dx and store
the gradients of the trainable factors in self.dA and self.dB. The frozen W and b get no
gradient: backward writes no self.dW and no self.db.
"""
import numpy as np


class LoRALinear:
    """A frozen linear layer plus a trainable low-rank update.

    Parameters:
    - W: (in_features, out_features)  frozen
    - b: (out_features,)              frozen
    - A: (in_features, rank)          trainable, random at the start
    - B: (rank, out_features)         trainable, zeros at the start (the update starts at 0)
    - scaling = alpha / rank          a fixed number, not trained
    After backward: self.dA (in_features, rank) and self.dB (rank, out_features) hold the
    gradients of the most recent call (overwritten, not accumulated).
    """

    def __init__(self, in_features, out_features, rank, alpha, rng=None):
        rng = np.random.default_rng() if rng is None else rng
        bound = 1.0 / np.sqrt(in_features)
        self.W = rng.uniform(-bound, bound, size=(in_features, out_features))  # stands for pretrained
        self.b = rng.uniform(-bound, bound, size=out_features)
        self.A = rng.uniform(-bound, bound, size=(in_features, rank))
        self.B = np.zeros((rank, out_features))
        self.rank = rank
        self.alpha = alpha
        self.scaling = alpha / rank
        self.dA = None
        self.dB = None
        self.x = None  # cached by forward: (N, in_features)
        self.xA = None  # cached by forward: x @ A, (N, rank)

    def forward(self, x):
        """Inputs: x (N, in_features).

        Returns: out (N, out_features) = x @ W + b + scaling * (x @ A) @ B.
        """
        self.x = x
        self.xA = x @ self.A  # (N, rank)
        return x @ self.W + self.b + self.scaling * (self.xA @ self.B)

    def backward(self, dout):
        """Inputs: dout (N, out_features), the gradient of the loss with respect to out.

        Returns: dx (N, in_features). Sets self.dA (in_features, rank) and
        self.dB (rank, out_features); W and b are frozen and get no gradient.
        """
        # TODO: set self.dA (in, rank) and self.dB (rank, out); return dx (N, in); no dW, no db
        raise NotImplementedError('TODO: set self.dA (in, rank) and self.dB (rank, out); return dx (N, in); no dW, no db')
