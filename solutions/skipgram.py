"""word2vec's skip-gram loss with negative sampling (CS224n), for one center word:
loss = -log sigmoid(U[o] . v_c) - sum_k log sigmoid(-U[neg_k] . v_c).

v_c is the center word's vector, U the table of outside-word vectors, o the true outside
word and negatives the K sampled noise words (a word may be drawn more than once, and may
even be o).

Your task: write `SkipGramNegSampling.backward`: the gradients of dout * loss with respect
to v_c and to U.
"""
import numpy as np


def sigmoid(x):
    """Element-wise 1 / (1 + exp(-x)), finite for any x. x: any shape -> the same shape."""
    return np.exp(-np.logaddexp(0.0, -x))


class SkipGramNegSampling:
    """The negative-sampling loss of one (center, outside) pair against K noise words."""

    def __init__(self):
        self.v_c = None  # cached by forward: (D,)
        self.U = None  # cached by forward: (V, D)
        self.o = None  # cached by forward: int, the true outside word
        self.negatives = None  # cached by forward: (K,) ints in [0, V), repeats allowed
        self.s_o = None  # cached by forward: float, sigmoid(U[o] . v_c)
        self.s_neg = None  # cached by forward: (K,), sigmoid(U[neg_k] . v_c)

    def forward(self, v_c, U, o, negatives):
        """Inputs: v_c (D,); U (V, D); o, a Python int in [0, V); negatives (K,) ints in [0, V).

        Returns: the loss, a float.
        """
        self.v_c, self.U, self.o, self.negatives = v_c, U, o, negatives
        x_o = U[o] @ v_c  # float, the true word's score
        x_neg = U[negatives] @ v_c  # (K,), the noise words' scores
        self.s_o, self.s_neg = sigmoid(x_o), sigmoid(x_neg)
        # -log sigmoid(x) = logaddexp(0, -x): finite for any score
        return float(np.logaddexp(0.0, -x_o) + np.logaddexp(0.0, x_neg).sum())

    def backward(self, dout=1.0):
        """Inputs: dout, a float: the gradient of the final loss with respect to this loss.

        Returns: (dv_c (D,), dU (V, D)).
        """
        # BEGIN TODO: return (dv_c (D,), dU (V, D)); rows of repeated negatives add up
        g_o = self.s_o - 1.0  # d(-log sigmoid(x)) / dx at x = U[o] . v_c
        g_neg = self.s_neg  # (K,): d(-log sigmoid(-x)) / dx = sigmoid(x)
        dv_c = g_o * self.U[self.o] + g_neg @ self.U[self.negatives]  # (D,)
        dU = np.zeros_like(self.U)  # (V, D): rows of words not drawn stay 0
        dU[self.o] += g_o * self.v_c
        # dU[negatives] += ... keeps one write per repeated word; add.at adds them all
        np.add.at(dU, self.negatives, g_neg[:, None] * self.v_c)  # (K, D) added at rows negatives
        return dout * dv_c, dout * dU
        # END TODO
