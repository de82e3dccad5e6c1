# Generated from solutions/rnn.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""A vanilla (Elman) RNN with tanh, unrolled over a whole sequence.

    h_t = tanh(x_t @ Wx + h_{t-1} @ Wh + b)     for t = 1 .. T, starting from h_0 = h0
    hs  = (h_1, ..., h_T) stacked on axis 1     (N, T, H)

Your task: write `RNN.backward` (backpropagation through time). Given dhs = dL/dhs, the
gradient of the loss with respect to every hidden state, return (dx, dh0) and store the
parameter gradients in self.dWx, self.dWh and self.db.
"""
import numpy as np


class RNN:
    """A tanh RNN layer over sequences (batch first).

    Parameters:
    - Wx: (D, H)  input to hidden
    - Wh: (H, H)  hidden to hidden
    - b:  (H,)    one bias (PyTorch's b_ih + b_hh)
    After backward: self.dWx (D, H), self.dWh (H, H) and self.db (H,) hold the gradients
    of the most recent call (overwritten, not accumulated).
    """

    def __init__(self, input_dim, hidden_dim, rng=None):
        rng = np.random.default_rng() if rng is None else rng
        bound = 1.0 / np.sqrt(hidden_dim)  # PyTorch's default init for nn.RNN
        self.Wx = rng.uniform(-bound, bound, size=(input_dim, hidden_dim))
        self.Wh = rng.uniform(-bound, bound, size=(hidden_dim, hidden_dim))
        self.b = rng.uniform(-bound, bound, size=hidden_dim)
        self.dWx = None
        self.dWh = None
        self.db = None
        self.cache = None  # set by forward: (x (N, T, D), h0 (N, H), hs (N, T, H))

    def forward(self, x, h0):
        """Inputs: x (N, T, D), h0 (N, H). Returns: hs (N, T, H), hs[:, t] = h_{t+1}."""
        N, T, _ = x.shape
        hs = np.empty((N, T, h0.shape[1]))
        h = h0
        for t in range(T):
            h = np.tanh(x[:, t] @ self.Wx + h @ self.Wh + self.b)  # (N, H)
            hs[:, t] = h
        self.cache = (x, h0, hs)
        return hs

    def backward(self, dhs):
        """Inputs: dhs (N, T, H), the gradient of the loss with respect to hs.

        Returns: (dx, dh0): dx (N, T, D), dh0 (N, H). Sets self.dWx (D, H), self.dWh (H, H)
        and self.db (H,).
        """
        # TODO: return dx (N, T, D), dh0 (N, H); set self.dWx (D, H), self.dWh (H, H), self.db (H,)
        raise NotImplementedError('TODO: return dx (N, T, D), dh0 (N, H); set self.dWx (D, H), self.dWh (H, H), self.db (H,)')
