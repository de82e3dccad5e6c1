# Generated from solutions/mlp.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""A two-layer network: Linear -> sigmoid -> Linear -> softmax, mean cross-entropy loss.

    z1 = X @ W1 + b1      (N, H)
    h  = sigmoid(z1)      (N, H)
    s  = h @ W2 + b2      (N, C)
    p  = softmax(s)       (N, C)
    loss = -(1/N) * sum_i log p[i, y_i]

Your task: write `TwoLayerMLP.backward`: the gradients of the loss of the last forward
with respect to every parameter.
"""
import numpy as np


def sigmoid(x):
    """Inputs: x, any shape. Returns: 1 / (1 + exp(-x)), same shape, without overflow."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


class TwoLayerMLP:
    """Parameters in self.params:
    - "W1": (D, H), "b1": (H,)
    - "W2": (H, C), "b2": (C,)
    """

    def __init__(self, input_dim, hidden_dim, output_dim, rng=None):
        rng = np.random.default_rng() if rng is None else rng
        self.params = {
            "W1": rng.normal(0.0, 1.0 / np.sqrt(input_dim), size=(input_dim, hidden_dim)),
            "b1": np.zeros(hidden_dim),
            "W2": rng.normal(0.0, 1.0 / np.sqrt(hidden_dim), size=(hidden_dim, output_dim)),
            "b2": np.zeros(output_dim),
        }
        self.cache = None  # set by forward: (X, h, probs)

    def forward(self, X):
        """Inputs: X (N, D). Returns: probs (N, C), each row a softmax distribution."""
        p = self.params
        z1 = X @ p["W1"] + p["b1"]  # (N, H)
        h = sigmoid(z1)  # (N, H)
        scores = h @ p["W2"] + p["b2"]  # (N, C)
        exp = np.exp(scores - scores.max(axis=1, keepdims=True))  # (N, C), stable
        probs = exp / exp.sum(axis=1, keepdims=True)  # (N, C)
        self.cache = (X, h, probs)
        return probs

    def backward(self, y):
        """Inputs: y (N,) integer labels of the last forward's X.

        Returns: grads, a dict with the keys and shapes of self.params:
        "W1" (D, H), "b1" (H,), "W2" (H, C), "b2" (C,).
        """
        # TODO: return {"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}
        raise NotImplementedError('TODO: return {"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}')

    def loss(self, X, y):
        """Inputs: X (N, D), y (N,). Returns: (mean cross-entropy, grads dict)."""
        probs = self.forward(X)
        n = X.shape[0]
        loss = -np.log(probs[np.arange(n), y]).mean()
        return float(loss), self.backward(y)

    def train_step(self, X, y, lr=0.1):
        """One step of plain gradient descent on (X, y). Returns: the loss before the step."""
        loss, grads = self.loss(X, y)
        for name, param in self.params.items():
            param -= lr * grads[name]  # in place: callers holding the arrays see the update
        return loss
