"""FlashAttention: softmax(Q K^T / sqrt(d)) V computed tile by tile, never holding a (T, T) array.

For Q, K, V (N, T, d) and tiles of B query rows by B keys (the last tile may be shorter):
    S_ij = Q_i K_j^T / sqrt(d)                   (N, B, B)   one tile of scores
    causal: S_ij[q, s] = -inf where key s > query q; tiles wholly in the future are skipped
    online softmax over the key tiles j, per query row: the running maximum m, the running
    sum l of exp(S - m) and the running output, rescaled by exp(m_old - m_new) when m grows
    O = output / l                               (N, T, d)
    L = m + log(l)                               (N, T)      the row log-sum-exp
so that each probability can be recomputed from a tile alone: P_ij = exp(S_ij - L_i).

Your task: write `FlashAttention.backward`. Given dO = dL/dO, return (dQ, dK, dV), tile by
tile as forward works: extra memory O(T * block_size), no (T, T) array at any time.
"""
import numpy as np


class FlashAttention:
    """Attention that stores O and L instead of the (T, T) attention weights. No parameters.

    Shapes: Q, K, V (N, T, d), O (N, T, d), L (N, T).
    """

    def __init__(self, block_size=64, causal=False):
        self.block_size, self.causal = block_size, causal
        self.cache = None  # set by forward: (Q, K, V, O, L)

    def _tiles(self, T):
        """(start, stop) of each tile along the sequence."""
        return [(s, min(s + self.block_size, T)) for s in range(0, T, self.block_size)]

    def _scores(self, Q, K, q, k):
        """The (N, Bq, Bk) tile of scaled scores of query tile q against key tile k (tuples of
        (start, stop)), with the future masked when causal."""
        S = Q[:, q[0]:q[1]] @ K[:, k[0]:k[1]].transpose(0, 2, 1) / np.sqrt(Q.shape[-1])
        if self.causal and k[1] - 1 > q[0]:  # the tile reaches past some query: mask it
            future = np.arange(k[0], k[1])[None, :] > np.arange(q[0], q[1])[:, None]  # (Bq, Bk)
            S = np.where(future, -np.inf, S)
        return S

    def _keys(self, q, T):
        """The key tiles query tile q looks at: all of them, or (causal) those not wholly after it."""
        return [k for k in self._tiles(T) if not (self.causal and k[0] > q[1] - 1)]

    def forward(self, Q, K, V):
        """Inputs: Q, K, V (N, T, d).

        Returns: O (N, T, d).
        """
        N, T, d = Q.shape
        O = np.empty((N, T, d))
        L = np.empty((N, T))
        for q in self._tiles(T):
            m = np.full((N, q[1] - q[0], 1), -np.inf)  # running row maximum
            l = np.zeros((N, q[1] - q[0], 1))  # running sum of exp(S - m)
            acc = np.zeros((N, q[1] - q[0], d))  # running sum of exp(S - m) V
            for k in self._keys(q, T):
                S = self._scores(Q, K, q, k)  # (N, Bq, Bk)
                m_new = np.maximum(m, S.max(axis=-1, keepdims=True))
                E = np.exp(S - m_new)  # masked entries: exp(-inf) = 0
                rescale = np.exp(m - m_new)  # the old sums were relative to the old maximum
                l = l * rescale + E.sum(axis=-1, keepdims=True)
                acc = acc * rescale + E @ V[:, k[0]:k[1]]
                m = m_new
            O[:, q[0]:q[1]] = acc / l
            L[:, q[0]:q[1]] = (m + np.log(l))[..., 0]
        self.cache = (Q, K, V, O, L)
        return O

    def backward(self, dO):
        """Inputs: dO (N, T, d), the gradient of the loss with respect to O.

        Returns: (dQ, dK, dV), each (N, T, d).
        """
        # BEGIN TODO: return (dQ, dK, dV), each (N, T, d), tile by tile from the cached Q, K, V, O, L
        Q, K, V, O, L = self.cache
        N, T, d = Q.shape
        scale = 1.0 / np.sqrt(d)
        # the softmax backward's row term, sum_s dP[t, s] P[t, s], equals sum_e dO[t, e] O[t, e]
        # (since O = P V): computed once, without P
        D = (dO * O).sum(axis=-1)  # (N, T)
        dQ, dK, dV = np.zeros_like(Q), np.zeros_like(K), np.zeros_like(V)
        for q in self._tiles(T):
            rows = slice(q[0], q[1])
            for k in self._keys(q, T):
                cols = slice(k[0], k[1])
                P = np.exp(self._scores(Q, K, q, k) - L[:, rows, None])  # (N, Bq, Bk), normalised
                dV[:, cols] += P.transpose(0, 2, 1) @ dO[:, rows]  # (N, Bk, d)
                dP = dO[:, rows] @ V[:, cols].transpose(0, 2, 1)  # (N, Bq, Bk)
                dS = P * (dP - D[:, rows, None]) * scale  # (N, Bq, Bk)
                dQ[:, rows] += dS @ K[:, cols]  # (N, Bq, d)
                dK[:, cols] += dS.transpose(0, 2, 1) @ Q[:, rows]  # (N, Bk, d)
        return dQ, dK, dV
        # END TODO
