# What gc_answers.py's own code earns: the same Linear, answering zeros.
import numpy as np


class Linear:
    def __init__(self, in_features, out_features, rng=None):
        self.W = np.zeros((in_features, out_features))
        self.b = np.zeros(out_features)
        self.dW = self.db = self.x = None

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW, self.db = np.zeros_like(self.W), np.zeros_like(self.b)
        return np.zeros_like(self.x)
