"""SwiGLU feed-forward block (LLaMA, PaLM): a SiLU-gated linear unit, then a projection back.

For x (..., D), with silu(a) = a * sigmoid(a):
    a   = x @ W1                  (..., H)   the gate's pre-activation
    b   = x @ W3                  (..., H)   the value
    h   = silu(a) * b             (..., H)
    out = h @ W2                  (..., D)
No biases. The leading axes (none, a batch, a batch and positions ...) are all alike.

Your task: write `SwiGLU.backward`. Given dout = dL/dout, return dx = dL/dx and store the
weights' gradients in self.dW1, self.dW2 and self.dW3.
"""
import numpy as np


def sigmoid(a):
    """Inputs: a, any shape. Returns: 1 / (1 + exp(-a)), the same shape, without overflow."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class SwiGLU:
    """SwiGLU over the last axis of (..., D) inputs.

    Parameters:
    - W1: (D, H), the gate's weight
    - W3: (D, H), the value's weight
    - W2: (H, D), the output projection
    After backward: self.dW1 (D, H), self.dW3 (D, H) and self.dW2 (H, D) hold the gradients
    of the most recent call, summed over every leading axis (overwritten, not accumulated).
    """

    def __init__(self, d_model, d_hidden, rng=None):
        rng = np.random.default_rng() if rng is None else rng
        self.W1 = rng.normal(0.0, d_model**-0.5, size=(d_model, d_hidden))
        self.W3 = rng.normal(0.0, d_model**-0.5, size=(d_model, d_hidden))
        self.W2 = rng.normal(0.0, d_hidden**-0.5, size=(d_hidden, d_model))
        self.dW1 = self.dW2 = self.dW3 = None
        self.cache = None  # set by forward: (x, a, b, s, h), see forward

    def forward(self, x):
        """Inputs: x (..., D): any number of leading axes, or none (shape (D,)).

        Returns: out (..., D), the shape of x.
        """
        a = x @ self.W1  # (..., H)
        b = x @ self.W3  # (..., H)
        s = sigmoid(a)  # (..., H)
        h = a * s * b  # (..., H): silu(a) * b
        self.cache = (x, a, b, s, h)
        return h @ self.W2

    def backward(self, dout):
        """Inputs: dout (..., D), the gradient of the loss with respect to out.

        Returns: dx (..., D). Sets self.dW1 (D, H), self.dW2 (H, D), self.dW3 (D, H).
        """
        # BEGIN TODO: set self.dW1, self.dW2, self.dW3; return dx (..., D)
        x, a, b, s, h = self.cache
        d, hidden = x.shape[-1], a.shape[-1]
        # the weights act on every vector alike: flatten the leading axes into one
        x2, dout2 = x.reshape(-1, d), dout.reshape(-1, d)  # (M, D)
        self.dW2 = h.reshape(-1, hidden).T @ dout2  # (H, M) @ (M, D) -> (H, D)
        dh = dout @ self.W2.T  # (..., H)
        g = a * s  # silu(a)
        db = dh * g  # (..., H): h = g * b
        da = dh * b * s * (1.0 + a * (1.0 - s))  # silu'(a) = s + a * s * (1 - s)
        self.dW1 = x2.T @ da.reshape(-1, hidden)  # (D, H)
        self.dW3 = x2.T @ db.reshape(-1, hidden)  # (D, H)
        dx = da @ self.W1.T + db @ self.W3.T  # x reaches out through both branches
        return dx
        # END TODO
