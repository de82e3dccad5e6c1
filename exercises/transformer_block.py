# Generated from solutions/transformer_block.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""A pre-norm, causal transformer block (GPT-2's layout), with every sub-layer given.

    h   = x + attn(ln1(x))                        x, h, out: (N, T, D)
    out = h + fc2(act(fc1(ln2(h))))               fc1: D -> 4D, act: GELU (tanh), fc2: 4D -> D

Each sub-layer below (LayerNorm, MultiHeadAttention, Linear, GELU) has its forward AND its
backward, both correct: backward(dout) returns the gradient of its input and sets the
gradients of its own parameters; it never modifies dout.

Your task: `TransformerBlock.backward`, composing the sub-layers' backward methods.
"""
import math

import numpy as np


class LayerNorm:
    """LayerNorm over the last axis: gamma, beta (D,); eps 1e-5."""

    def __init__(self, num_features, eps=1e-5):
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.eps = eps

    def forward(self, x):
        """x (N, T, D), or any shape (..., D) -> the same shape."""
        mu = x.mean(axis=-1, keepdims=True)
        var = x.var(axis=-1, keepdims=True)
        self.inv_std = 1.0 / np.sqrt(var + self.eps)  # (..., 1)
        self.x_hat = (x - mu) * self.inv_std  # (..., D)
        return self.gamma * self.x_hat + self.beta

    def backward(self, dout):
        """dout (N, T, D), or any shape (..., D) -> dx, the same shape; sets dgamma, dbeta (D,),
        summed over every leading axis."""
        lead = tuple(range(dout.ndim - 1))
        self.dgamma = (dout * self.x_hat).sum(axis=lead)
        self.dbeta = dout.sum(axis=lead)
        dx_hat = dout * self.gamma
        return self.inv_std * (dx_hat - dx_hat.mean(axis=-1, keepdims=True)
                               - self.x_hat * (dx_hat * self.x_hat).mean(axis=-1, keepdims=True))


class Linear:
    """x @ W + b over the last axis: W (in, out), b (out,)."""

    def __init__(self, in_features, out_features, rng=None):
        rng = rng if rng is not None else np.random.default_rng()
        self.W = rng.normal(0.0, 1.0 / math.sqrt(in_features), size=(in_features, out_features))
        self.b = np.zeros(out_features)

    def forward(self, x):
        """x (N, T, in), or any shape (..., in) -> (N, T, out)."""
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        """dout (N, T, out), or any shape (..., out) -> dx (N, T, in); sets dW (in, out), db (out,)."""
        x2 = self.x.reshape(-1, self.W.shape[0])  # (M, in), M = every leading position
        d2 = dout.reshape(-1, self.W.shape[1])  # (M, out)
        self.dW = x2.T @ d2
        self.db = d2.sum(axis=0)
        return dout @ self.W.T


class GELU:
    """GELU with the tanh approximation: 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x**3)))."""

    def __init__(self, approximate="tanh"):
        assert approximate == "tanh", "this block uses the tanh approximation"
        self.approximate = approximate

    def forward(self, x):
        """x any shape -> the same shape."""
        self.x = x
        self.t = np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3))
        return 0.5 * x * (1.0 + self.t)

    def backward(self, dout):
        """dout (x's shape) -> dx."""
        x, t = self.x, self.t
        du = math.sqrt(2.0 / math.pi) * (1.0 + 3 * 0.044715 * x**2)
        return dout * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t**2) * du)


class MultiHeadAttention:
    """Multi-head self-attention: Wq, Wk, Wv, Wo (D, D), bq, bk, bv, bo (D,); causal: position t
    attends to positions 0 .. t."""

    def __init__(self, d_model, n_heads, causal=False, rng=None):
        assert d_model % n_heads == 0, "n_heads must divide d_model"
        rng = rng if rng is not None else np.random.default_rng()
        self.n_heads, self.causal = n_heads, causal
        for name in ("q", "k", "v", "o"):
            setattr(self, f"W{name}", rng.normal(0.0, 1.0 / math.sqrt(d_model), size=(d_model, d_model)))
            setattr(self, f"b{name}", np.zeros(d_model))

    def _split(self, a):
        """(N, T, D) -> (N, h, T, D // h)."""
        N, T, D = a.shape
        return a.reshape(N, T, self.n_heads, D // self.n_heads).transpose(0, 2, 1, 3)

    def _merge(self, a):
        """(N, h, T, D // h) -> (N, T, D)."""
        N, h, T, dh = a.shape
        return a.transpose(0, 2, 1, 3).reshape(N, T, h * dh)

    def forward(self, x):
        """x (N, T, D) -> (N, T, D)."""
        self.x = x
        self.q = self._split(x @ self.Wq + self.bq)  # (N, h, T, dh)
        self.k = self._split(x @ self.Wk + self.bk)
        self.v = self._split(x @ self.Wv + self.bv)
        self.scale = 1.0 / math.sqrt(self.q.shape[-1])
        scores = self.q @ self.k.transpose(0, 1, 3, 2) * self.scale  # (N, h, T, T)
        if self.causal:
            T = x.shape[1]
            scores = np.where(np.tril(np.ones((T, T), dtype=bool)), scores, -np.inf)
        scores = scores - scores.max(axis=-1, keepdims=True)
        e = np.exp(scores)
        self.P = e / e.sum(axis=-1, keepdims=True)  # (N, h, T, T)
        self.merged = self._merge(self.P @ self.v)  # (N, T, D)
        return self.merged @ self.Wo + self.bo

    def backward(self, dout):
        """dout (N, T, D) -> dx (N, T, D); sets dWq, dWk, dWv, dWo (D, D), dbq, dbk, dbv, dbo (D,)."""
        D = self.Wo.shape[0]
        self.dWo = self.merged.reshape(-1, D).T @ dout.reshape(-1, D)
        self.dbo = dout.reshape(-1, D).sum(axis=0)
        dheads = self._split(dout @ self.Wo.T)  # (N, h, T, dh)
        dP = dheads @ self.v.transpose(0, 1, 3, 2)  # (N, h, T, T)
        dv = self.P.transpose(0, 1, 3, 2) @ dheads
        dS = self.P * (dP - (dP * self.P).sum(axis=-1, keepdims=True)) * self.scale  # masked P is 0
        dq = dS @ self.k
        dk = dS.transpose(0, 1, 3, 2) @ self.q
        x2 = self.x.reshape(-1, D)
        dx = np.zeros_like(self.x)
        for name, d in (("q", dq), ("k", dk), ("v", dv)):
            d2 = self._merge(d).reshape(-1, D)  # (N * T, D)
            setattr(self, f"dW{name}", x2.T @ d2)
            setattr(self, f"db{name}", d2.sum(axis=0))
            dx = dx + (d2 @ getattr(self, f"W{name}").T).reshape(self.x.shape)
        return dx


class TransformerBlock:
    """Pre-norm causal block: ln1, attn, ln2, fc1, act, fc2 (the sub-layers above)."""

    def __init__(self, d_model, n_heads, rng=None):
        rng = rng if rng is not None else np.random.default_rng()
        self.ln1 = LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads, causal=True, rng=rng)
        self.ln2 = LayerNorm(d_model)
        self.fc1 = Linear(d_model, 4 * d_model, rng=rng)
        self.act = GELU("tanh")
        self.fc2 = Linear(4 * d_model, d_model, rng=rng)

    def forward(self, x):
        """x (N, T, D) -> out (N, T, D)."""
        h = x + self.attn.forward(self.ln1.forward(x))  # (N, T, D)
        return h + self.fc2.forward(self.act.forward(self.fc1.forward(self.ln2.forward(h))))

    def backward(self, dout):
        """dout (N, T, D) -> dx (N, T, D); every sub-layer's backward sets its own gradients."""
        # TODO: back through the MLP branch and the second residual, then attention and the first
        raise NotImplementedError('TODO: back through the MLP branch and the second residual, then attention and the first')
