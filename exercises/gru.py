# Generated from solutions/gru.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""One step of a GRU (as torch.nn.GRUCell), gates in PyTorch's order r, z, n.

    gx = x @ Wx + bx                              (N, 3H): the input's share of every gate
    gh = h @ Wh + bh                              (N, 3H): the hidden state's share
    r = sigmoid(gx[:, 0H:1H] + gh[:, 0H:1H])      reset gate
    z = sigmoid(gx[:, 1H:2H] + gh[:, 1H:2H])      update gate
    n = tanh(gx[:, 2H:3H] + r * gh[:, 2H:3H])     candidate: r scales h @ Wh_n + bh_n, bias included
    h_next = (1 - z) * n + z * h                  (N, H)

Your task: write `GRUCell.backward`. Given dh_next = dL/dh_next, return (dx, dh) and store
the parameter gradients in self.dWx, self.dWh, self.dbx and self.dbh.
"""
import numpy as np


def sigmoid(x):
    """Inputs: x, any shape. Returns: 1 / (1 + exp(-x)), same shape, without overflow."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


class GRUCell:
    """One GRU step.

    Parameters:
    - Wx: (D, 3H)  input to the three gates, blocks in the order r, z, n
    - Wh: (H, 3H)  hidden state to the three gates
    - bx: (3H,)    the input's bias (PyTorch's bias_ih)
    - bh: (3H,)    the hidden state's bias (PyTorch's bias_hh); its n block sits inside r * (...)
    After backward: self.dWx (D, 3H), self.dWh (H, 3H), self.dbx (3H,) and self.dbh (3H,)
    hold the gradients of the most recent call (overwritten, not accumulated).
    """

    def __init__(self, input_dim, hidden_dim, rng=None):
        rng = np.random.default_rng() if rng is None else rng
        bound = 1.0 / np.sqrt(hidden_dim)  # PyTorch's default init for nn.GRUCell
        self.Wx = rng.uniform(-bound, bound, size=(input_dim, 3 * hidden_dim))
        self.Wh = rng.uniform(-bound, bound, size=(hidden_dim, 3 * hidden_dim))
        self.bx = rng.uniform(-bound, bound, size=3 * hidden_dim)
        self.bh = rng.uniform(-bound, bound, size=3 * hidden_dim)
        self.dWx = None
        self.dWh = None
        self.dbx = None
        self.dbh = None
        # set by forward: (x (N, D), h (N, H), r, z, n (N, H) each, gh_n = h @ Wh_n + bh_n (N, H))
        self.cache = None

    def forward(self, x, h):
        """Inputs: x (N, D), the input; h (N, H), the previous hidden state.

        Returns: h_next (N, H).
        """
        H = h.shape[1]
        gx = x @ self.Wx + self.bx  # (N, 3H)
        gh = h @ self.Wh + self.bh  # (N, 3H)
        r = sigmoid(gx[:, 0 * H:1 * H] + gh[:, 0 * H:1 * H])
        z = sigmoid(gx[:, 1 * H:2 * H] + gh[:, 1 * H:2 * H])
        gh_n = gh[:, 2 * H:3 * H]  # h @ Wh_n + bh_n: what r scales
        n = np.tanh(gx[:, 2 * H:3 * H] + r * gh_n)
        h_next = (1.0 - z) * n + z * h
        self.cache = (x, h, r, z, n, gh_n)
        return h_next

    def backward(self, dh_next):
        """Inputs: dh_next (N, H), the gradient of the loss with respect to h_next.

        Returns: (dx, dh): dx (N, D) and dh (N, H), the gradients with respect to x and h.
        Sets self.dWx (D, 3H), self.dWh (H, 3H), self.dbx (3H,) and self.dbh (3H,).
        """
        # TODO: return dx (N, D), dh (N, H); set dWx (D, 3H), dWh (H, 3H), dbx (3H,), dbh (3H,)
        raise NotImplementedError('TODO: return dx (N, D), dh (N, H); set dWx (D, 3H), dWh (H, 3H), dbx (3H,), dbh (3H,)')
