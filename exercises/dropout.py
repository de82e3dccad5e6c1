# Generated from solutions/dropout.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""Inverted dropout: in training, zero each element with probability p and scale the kept
ones by 1 / (1 - p), so the expected output equals the input; in evaluation, the identity.

Your task: write `Dropout.backward`. Given dout = dL/dout, return dx = dL/dx for the most
recent forward.
"""
import numpy as np


class Dropout:
    """Inverted dropout, as torch.nn.Dropout. Works on arrays of any shape.

    Parameters:
    - p: the probability of zeroing an element, in [0, 1)
    - rng: a np.random.Generator for the masks (default: a fresh np.random.default_rng())
    Attributes:
    - training: True (drop and scale) or False (the identity); set it to switch modes
    - mask: bool, same shape as x, True where the last training-mode forward kept the
      element; None after an evaluation-mode forward
    """

    def __init__(self, p=0.5, rng=None):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability p must be in [0, 1), got {p}")
        self.p = p
        self.rng = np.random.default_rng() if rng is None else rng
        self.training = True
        self.mask = None  # cached by forward for backward: bool, same shape as x (None in eval)

    def forward(self, x):
        """Inputs: x, any shape. Returns: out, same shape.

        Training: out = x * mask / (1 - p), each mask element True with probability 1 - p.
        Evaluation (training False): out = x.
        """
        if not self.training:
            self.mask = None  # no mask: backward is the identity too
            return x
        # cached for backward: bool, same shape as x, True (kept) with probability 1 - p
        self.mask = self.rng.random(x.shape) >= self.p
        return x * self.mask / (1.0 - self.p)

    def backward(self, dout):
        """Inputs: dout, same shape as x. Returns: dx, same shape as x."""
        # TODO: return dx, same shape as x (after an eval-mode forward: dout itself)
        raise NotImplementedError('TODO: return dx, same shape as x (after an eval-mode forward: dout itself)')
