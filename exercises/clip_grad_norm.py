# Generated from solutions/clip_grad_norm.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_.

All the gradients together are treated as one long vector:
    total_norm = sqrt(sum over every array g of ||g||_2 ** 2)    norm_type = 2
    total_norm = max over every array g of max |g|               norm_type = inf
    coef       = min(1, max_norm / (total_norm + 1e-6))
    g          = coef * g                                        every array, in place
The return value is total_norm as it was BEFORE clipping.

Your task: write the body of `clip_grad_norm`.
"""
import numpy as np


def clip_grad_norm(grads, max_norm, norm_type=2.0):
    """Clip a dict of gradients in place so that their total norm is at most about max_norm.

    Inputs:
    - grads: dict name -> float array (any shape). The caller keeps references to these
      arrays, so they must be scaled in place (g *= ..., not g = g * ...).
    - max_norm: float, the largest total norm allowed.
    - norm_type: 2.0 or float("inf").
    Returns: total_norm, a Python float, the total norm of grads before clipping
    (0.0 for an empty dict).
    """
    norm_type = float(norm_type)
    if norm_type not in (2.0, np.inf):
        raise ValueError(f"norm_type must be 2.0 or inf, got {norm_type}")
    # TODO: compute the total norm, scale every array in place, return the norm before clipping
    raise NotImplementedError('TODO: compute the total norm, scale every array in place, return the norm before clipping')
