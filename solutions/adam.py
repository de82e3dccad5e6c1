"""The Adam optimiser, with the exact arithmetic of torch.optim.Adam.

For each parameter p with gradient g, at step t = 1, 2, ...:
    g     = g + weight_decay * p                  (L2 penalty, only if weight_decay > 0)
    m     = beta1 * m + (1 - beta1) * g           first moment
    v     = beta2 * v + (1 - beta2) * g * g       second moment
    m_hat = m / (1 - beta1 ** t)                  bias corrections
    v_hat = v / (1 - beta2 ** t)
    p     = p - lr * m_hat / (sqrt(v_hat) + eps)

Your task: write `Adam.step`.
"""
import numpy as np


class Adam:
    """Adam over a dict of NumPy arrays, updated in place.

    params: dict name -> array (any shape). The caller keeps references to these
    arrays, so step must change them in place (p -= ..., not p = p - ...).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        self.params = params
        self.lr = lr
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.weight_decay = weight_decay
        self.m = {name: np.zeros_like(p) for name, p in params.items()}  # same shapes as params
        self.v = {name: np.zeros_like(p) for name, p in params.items()}  # same shapes as params
        self.t = 0  # steps taken so far, shared by every parameter

    def step(self, grads):
        """Inputs: grads, a dict with the keys of params, each array shaped like its parameter.

        Updates every array in self.params in place. Returns: None.
        """
        # BEGIN TODO: one Adam step for every parameter, in place
        self.t += 1  # once per step, not once per parameter
        for name, p in self.params.items():
            g = grads[name]
            if self.weight_decay != 0:
                g = g + self.weight_decay * p  # a new array: the caller's grads stay untouched
            self.m[name] = self.beta1 * self.m[name] + (1 - self.beta1) * g
            self.v[name] = self.beta2 * self.v[name] + (1 - self.beta2) * g * g
            m_hat = self.m[name] / (1 - self.beta1**self.t)
            v_hat = self.v[name] / (1 - self.beta2**self.t)
            p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        # END TODO
