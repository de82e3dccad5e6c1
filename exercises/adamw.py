# Generated from solutions/adamw.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""The AdamW optimiser, with the exact arithmetic of torch.optim.AdamW.

For each parameter p with gradient g, at step t = 1, 2, ...:
    p     = p * (1 - lr * weight_decay)           decoupled weight decay, before the Adam step
    m     = beta1 * m + (1 - beta1) * g           first moment (of the raw gradient)
    v     = beta2 * v + (1 - beta2) * g * g       second moment
    m_hat = m / (1 - beta1 ** t)                  bias corrections
    v_hat = v / (1 - beta2 ** t)
    p     = p - lr * m_hat / (sqrt(v_hat) + eps)

Unlike Adam's weight_decay (an L2 term added to g, which then passes through m and v), the
decay here shrinks p directly and never enters the moments.

Your task: write `AdamW.step`.
"""
import numpy as np


class AdamW:
    """AdamW over a dict of NumPy arrays, updated in place.

    params: dict name -> array (any shape). The caller keeps references to these
    arrays, so step must change them in place (p -= ..., not p = p - ...).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
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

        Updates every array in self.params in place; never writes into grads. Returns: None.
        """
        # TODO: decoupled decay, then one Adam step, for every parameter, in place
        raise NotImplementedError('TODO: decoupled decay, then one Adam step, for every parameter, in place')
