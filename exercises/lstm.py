# Generated from solutions/lstm.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""One step of an LSTM (as torch.nn.LSTMCell), gates in PyTorch's order i, f, g, o.

    a = x @ Wx + h @ Wh + b                       (N, 4H), split into four (N, H) blocks:
    i = sigmoid(a[:, 0H:1H])    input gate
    f = sigmoid(a[:, 1H:2H])    forget gate
    g = tanh(a[:, 2H:3H])       candidate cell
    o = sigmoid(a[:, 3H:4H])    output gate
    c_next = f * c + i * g                        (N, H)
    h_next = o * tanh(c_next)                     (N, H)

Your task: write `LSTMCell.backward`. Given dh_next = dL/dh_next and dc_next = dL/dc_next,
return (dx, dh, dc) and store the parameter gradients in self.dWx, self.dWh and self.db.
"""
import numpy as np


def sigmoid(x):
    """Inputs: x, any shape. Returns: 1 / (1 + exp(-x)), same shape, without overflow."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


class LSTMCell:
    """One LSTM step.

    Parameters:
    - Wx: (D, 4H)  input to the four gates, blocks in the order i, f, g, o
    - Wh: (H, 4H)  hidden state to the four gates
    - b:  (4H,)    one bias (PyTorch's b_ih + b_hh)
    After backward: self.dWx (D, 4H), self.dWh (H, 4H) and self.db (4H,) hold the gradients
    of the most recent call (overwritten, not accumulated).
    """

    def __init__(self, input_dim, hidden_dim, rng=None):
        rng = np.random.default_rng() if rng is None else rng
        bound = 1.0 / np.sqrt(hidden_dim)  # PyTorch's default init for nn.LSTMCell
        self.Wx = rng.uniform(-bound, bound, size=(input_dim, 4 * hidden_dim))
        self.Wh = rng.uniform(-bound, bound, size=(hidden_dim, 4 * hidden_dim))
        self.b = rng.uniform(-bound, bound, size=4 * hidden_dim)
        self.dWx = None
        self.dWh = None
        self.db = None
        # set by forward: (x (N, D), h (N, H), c (N, H), i, f, g, o (N, H) each, c_next (N, H))
        self.cache = None

    def forward(self, x, h, c):
        """Inputs: x (N, D), h (N, H), c (N, H): the input and the previous hidden and cell states.

        Returns: (h_next, c_next), (N, H) each.
        """
        H = h.shape[1]
        a = x @ self.Wx + h @ self.Wh + self.b  # (N, 4H)
        i = sigmoid(a[:, 0 * H:1 * H])
        f = sigmoid(a[:, 1 * H:2 * H])
        g = np.tanh(a[:, 2 * H:3 * H])
        o = sigmoid(a[:, 3 * H:4 * H])
        c_next = f * c + i * g
        h_next = o * np.tanh(c_next)
        self.cache = (x, h, c, i, f, g, o, c_next)
        return h_next, c_next

    def backward(self, dh_next, dc_next):
        """Inputs: dh_next (N, H) and dc_next (N, H), the gradients of the loss with respect
        to h_next and c_next.

        Returns: (dx, dh, dc): dx (N, D), dh (N, H), dc (N, H), the gradients with respect to
        x, h and c. Sets self.dWx (D, 4H), self.dWh (H, 4H) and self.db (4H,).
        """
        # TODO: return dx (N, D), dh (N, H), dc (N, H); set dWx (D, 4H), dWh (H, 4H), db (4H,)
        raise NotImplementedError('TODO: return dx (N, D), dh (N, H), dc (N, H); set dWx (D, 4H), dWh (H, 4H), db (4H,)')
