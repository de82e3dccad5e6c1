# Generated from solutions/sgd.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""Stochastic gradient descent with momentum, with the exact arithmetic of torch.optim.SGD.

For each parameter p with gradient g, at every step:
    g   = g + weight_decay * p                     (L2 penalty, only if weight_decay != 0)
    if momentum != 0:
        buf = g                                    on the first step (a copy, not zeros)
        buf = momentum * buf + (1 - dampening) * g on every later step
        g   = g + momentum * buf                   if nesterov
        g   = buf                                  otherwise
    p   = p - lr * g

Your task: write `SGD.step`.
"""
import numpy as np


class SGD:
    """SGD over a dict of NumPy arrays, updated in place.

    params: dict name -> array (any shape). The caller keeps references to these
    arrays, so step must change them in place (p -= ..., not p = p - ...).
    lr is required; nesterov=True needs momentum > 0 and dampening == 0.
    """

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        self.params = params
        self.lr = lr
        self.momentum = momentum
        self.dampening = dampening
        self.weight_decay = weight_decay
        self.nesterov = nesterov
        self.buf = {}  # name -> momentum buffer shaped like the parameter; empty until the first step

    def step(self, grads):
        """Inputs: grads, a dict with the keys of params, each array shaped like its parameter.

        Updates every array in self.params in place. Returns: None.
        """
        # TODO: one SGD step for every parameter, in place
        raise NotImplementedError('TODO: one SGD step for every parameter, in place')
