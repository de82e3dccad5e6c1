# Generated from solutions/attention.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""Scaled dot-product attention, batched, with an optional mask.

    S = Q K^T / sqrt(d)                       (N, Tq, Tk)  scores
    S[:, q, t] = -inf where mask[q, t] is False (that query may not attend to that key)
    P = softmax(S) over the last axis         (N, Tq, Tk)  attention weights; masked ones are 0
    out = P V                                 (N, Tq, dv)

Your task: write `ScaledDotProductAttention.backward`. Given dout = dL/dout, return
(dQ, dK, dV).
"""
import numpy as np


class ScaledDotProductAttention:
    """softmax(Q K^T / sqrt(d)) V. No parameters.

    Shapes: Q (N, Tq, d), K (N, Tk, d), V (N, Tk, dv), mask (Tq, Tk) bool or None,
    out (N, Tq, dv).
    """

    def __init__(self):
        self.cache = None  # set by forward: (Q, K, V, P), P (N, Tq, Tk) the attention weights

    def forward(self, Q, K, V, mask=None):
        """Inputs: Q (N, Tq, d), K (N, Tk, d), V (N, Tk, dv); mask (Tq, Tk) bool, True where
        a query may attend (every row has at least one True), or None for no mask.

        Returns: out (N, Tq, dv).
        """
        d = Q.shape[-1]
        S = Q @ K.transpose(0, 2, 1) / np.sqrt(d)  # (N, Tq, Tk)
        if mask is not None:
            S = np.where(mask, S, -np.inf)  # exp(-inf) = 0: masked keys get weight 0
        E = np.exp(S - S.max(axis=-1, keepdims=True))  # (N, Tq, Tk), stable
        P = E / E.sum(axis=-1, keepdims=True)  # (N, Tq, Tk), each row sums to 1
        self.cache = (Q, K, V, P)
        return P @ V

    def backward(self, dout):
        """Inputs: dout (N, Tq, dv), the gradient of the loss with respect to out.

        Returns: (dQ, dK, dV) with the shapes of Q (N, Tq, d), K (N, Tk, d), V (N, Tk, dv).
        """
        # TODO: return dQ (N, Tq, d), dK (N, Tk, d), dV (N, Tk, dv) from the cached Q, K, V, P
        raise NotImplementedError('TODO: return dQ (N, Tq, d), dK (N, Tk, d), dV (N, Tk, dv) from the cached Q, K, V, P')
