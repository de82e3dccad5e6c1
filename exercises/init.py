# Generated from solutions/init.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""Weight initialisation, with the distributions of torch.nn.init.

A weight matrix W (fan_in, fan_out) maps fan_in inputs to fan_out outputs (x @ W, the
layout of Linear in this kit, the transpose of PyTorch's (out, in) weight). Each scheme
picks a standard deviation that keeps the variance of activations (and of gradients)
about the same from layer to layer:
    Xavier (Glorot), gain 1:        std = sqrt(2 / (fan_in + fan_out))
    Kaiming (He), ReLU, fan_in:     std = sqrt(2) / sqrt(fan_in) = sqrt(2 / fan_in)
Each comes as a normal draw N(0, std**2), or as a uniform draw U(-bound, bound) with the
same standard deviation (a uniform on [-a, a] has standard deviation a / sqrt(3)).

Your task: write the four functions. Each draws from rng only (the same rng state gives
the same matrix).
"""
import numpy as np


def xavier_uniform(fan_in, fan_out, rng):
    """Xavier (Glorot) uniform initialisation, as torch.nn.init.xavier_uniform_ (gain 1).

    Inputs: fan_in, fan_out: ints; rng: np.random.Generator, the only source of randomness.
    Returns: W (fan_in, fan_out), entries drawn from U(-bound, bound).
    """
    # TODO: draw W (fan_in, fan_out) from U(-bound, bound), bound = sqrt(3) * Xavier's std
    raise NotImplementedError("TODO: draw W (fan_in, fan_out) from U(-bound, bound), bound = sqrt(3) * Xavier's std")


def xavier_normal(fan_in, fan_out, rng):
    """Xavier (Glorot) normal initialisation, as torch.nn.init.xavier_normal_ (gain 1).

    Inputs: fan_in, fan_out: ints; rng: np.random.Generator, the only source of randomness.
    Returns: W (fan_in, fan_out), entries drawn from N(0, std**2).
    """
    # TODO: draw W (fan_in, fan_out) from N(0, std**2), Xavier's std
    raise NotImplementedError("TODO: draw W (fan_in, fan_out) from N(0, std**2), Xavier's std")


def kaiming_uniform(fan_in, fan_out, rng):
    """Kaiming (He) uniform initialisation for ReLU, as torch.nn.init.kaiming_uniform_
    with nonlinearity="relu", mode="fan_in".

    Inputs: fan_in, fan_out: ints; rng: np.random.Generator, the only source of randomness.
    Returns: W (fan_in, fan_out), entries drawn from U(-bound, bound).
    """
    # TODO: draw W (fan_in, fan_out) from U(-bound, bound), bound = sqrt(3) * Kaiming's std
    raise NotImplementedError("TODO: draw W (fan_in, fan_out) from U(-bound, bound), bound = sqrt(3) * Kaiming's std")


def kaiming_normal(fan_in, fan_out, rng):
    """Kaiming (He) normal initialisation for ReLU, as torch.nn.init.kaiming_normal_
    with nonlinearity="relu", mode="fan_in".

    Inputs: fan_in, fan_out: ints; rng: np.random.Generator, the only source of randomness.
    Returns: W (fan_in, fan_out), entries drawn from N(0, std**2).
    """
    # TODO: draw W (fan_in, fan_out) from N(0, std**2), Kaiming's std
    raise NotImplementedError("TODO: draw W (fan_in, fan_out) from N(0, std**2), Kaiming's std")
