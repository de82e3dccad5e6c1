# Generated from solutions/mha.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""Multi-head self-attention with its four projections, optionally causal.

For x (N, T, D), h heads of size dh = D // h:
    q = x Wq + bq,  k = x Wk + bk,  v = x Wv + bv        (N, T, D) each
    split:  a.reshape(N, T, h, dh).transpose(0, 2, 1, 3)  (N, h, T, dh) each
    S = q k^T / sqrt(dh)                                 (N, h, T, T)  per head
    S[..., t, s] = -inf where s > t (causal only: a position never sees the future)
    P = softmax(S) over the last axis                    (N, h, T, T)
    ctx = P v                                            (N, h, T, dh)
    merged = ctx.transpose(0, 2, 1, 3).reshape(N, T, D)  heads side by side again
    out = merged Wo + bo                                 (N, T, D)

Your task: write `MultiHeadAttention.backward`. Given dout = dL/dout, return dx and set the
eight parameter gradients dWq, dWk, dWv, dWo (D, D) and dbq, dbk, dbv, dbo (D,).
"""
import numpy as np


class MultiHeadAttention:
    """Multi-head self-attention (no dropout).

    Parameters: Wq, Wk, Wv, Wo (D, D) and bq, bk, bv, bo (D,).
    After backward: self.dWq ... self.dbo hold the gradients of the most recent call
    (overwritten, not accumulated), each with the shape of its parameter.
    """

    def __init__(self, d_model, n_heads, causal=False, rng=None):
        assert d_model % n_heads == 0, "n_heads must divide d_model"
        rng = rng if rng is not None else np.random.default_rng()
        self.n_heads, self.causal = n_heads, causal
        scale = 1.0 / np.sqrt(d_model)
        for name in ("Wq", "Wk", "Wv", "Wo"):
            setattr(self, name, rng.uniform(-scale, scale, size=(d_model, d_model)))
        for name in ("bq", "bk", "bv", "bo"):
            setattr(self, name, np.zeros(d_model))
        self.dWq = self.dWk = self.dWv = self.dWo = None
        self.dbq = self.dbk = self.dbv = self.dbo = None
        self.cache = None  # set by forward: (x, q, k, v, P, merged)

    def _split(self, a):
        """(N, T, D) -> (N, h, T, dh): the heads as a batch axis."""
        N, T, D = a.shape
        return a.reshape(N, T, self.n_heads, D // self.n_heads).transpose(0, 2, 1, 3)

    def forward(self, x):
        """Inputs: x (N, T, D).

        Returns: out (N, T, D).
        """
        N, T, D = x.shape
        q = self._split(x @ self.Wq + self.bq)  # (N, h, T, dh)
        k = self._split(x @ self.Wk + self.bk)  # (N, h, T, dh)
        v = self._split(x @ self.Wv + self.bv)  # (N, h, T, dh)
        S = q @ k.transpose(0, 1, 3, 2) / np.sqrt(D // self.n_heads)  # (N, h, T, T)
        if self.causal:
            future = np.triu(np.ones((T, T), dtype=bool), k=1)  # (T, T): True where s > t
            S = np.where(future, -np.inf, S)
        E = np.exp(S - S.max(axis=-1, keepdims=True))
        P = E / E.sum(axis=-1, keepdims=True)  # (N, h, T, T); future weights exactly 0
        ctx = P @ v  # (N, h, T, dh)
        merged = ctx.transpose(0, 2, 1, 3).reshape(N, T, D)  # (N, T, D)
        self.cache = (x, q, k, v, P, merged)
        return merged @ self.Wo + self.bo

    def backward(self, dout):
        """Inputs: dout (N, T, D), the gradient of the loss with respect to out.

        Returns: dx (N, T, D). Sets dWq, dWk, dWv, dWo (D, D) and dbq, dbk, dbv, dbo (D,).
        """
        # TODO: set the eight parameter gradients; return dx (N, T, D)
        raise NotImplementedError('TODO: set the eight parameter gradients; return dx (N, T, D)')
