# Generated from solutions/embedding.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""Embedding lookup table, as torch.nn.Embedding: out = W[idx].

Each integer index in idx picks one row of W (V, D); the output has idx's shape plus a
last axis of length D. An index that appears several times picks the same row each time.

Your task: write `Embedding.backward`. Given dout = dL/dout, store dL/dW in self.dW.
There is no gradient for the indices, so backward returns None.
"""
import numpy as np


class Embedding:
    """A table of V vectors of length D, looked up by integer index.

    Parameters:
    - W: (num_embeddings, embedding_dim) = (V, D), drawn from N(0, 1) as in PyTorch
    After backward: self.dW (V, D) holds the gradient of the most recent call
    (overwritten, not accumulated).
    """

    def __init__(self, num_embeddings, embedding_dim, rng=None):
        rng = np.random.default_rng() if rng is None else rng
        self.W = rng.standard_normal((num_embeddings, embedding_dim))
        self.dW = None
        self.idx = None  # cached by forward: the indices, any shape (...), ints in [0, V)

    def forward(self, idx):
        """Inputs: idx, an int array of any shape (...), entries in [0, V).

        Returns: out (..., D) = W[idx].
        """
        self.idx = np.asarray(idx)
        return self.W[self.idx]

    def backward(self, dout):
        """Inputs: dout (..., D), the gradient of the loss with respect to out (idx's
        shape plus D).

        Returns: None. Sets self.dW (V, D).
        """
        # TODO: set self.dW (V, D), rows of repeated indices adding up; return None
        raise NotImplementedError('TODO: set self.dW (V, D), rows of repeated indices adding up; return None')
