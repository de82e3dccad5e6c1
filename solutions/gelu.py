"""GELU activation, as torch.nn.GELU: out = x * Phi(x), element-wise.

Phi is the standard normal's cumulative distribution, Phi(x) = 0.5 * (1 + erf(x / sqrt(2))),
and phi(x) = exp(-x**2 / 2) / sqrt(2 * pi) its density. With approximate="tanh" (GPT-2, BERT)
Phi is replaced by its tanh approximation:
    u   = sqrt(2 / pi) * (x + 0.044715 * x**3)
    out = 0.5 * x * (1 + tanh(u))

Your task: write `GELU.backward`, for both modes. Given dout = dL/dout, return dx = dL/dx.
"""
import math

import numpy as np

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)  # the tanh form's scale, sqrt(2 / pi)
CUBIC = 0.044715  # the tanh form's cubic coefficient


def erf(x):
    """The error function, element-wise (the standard library's math.erf on every element).

    Inputs: x, any shape. Returns: erf(x), the same shape, float64.
    """
    return np.vectorize(math.erf, otypes=[np.float64])(x)


class GELU:
    """Element-wise Gaussian error linear unit. Works on arrays of any shape.

    Attributes:
    - approximate: "none" (the exact erf form) or "tanh" (the tanh approximation)
    - x: the input of the most recent forward, same shape as x (cached for backward)
    """

    def __init__(self, approximate="none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f'approximate must be "none" or "tanh", not {approximate!r}')
        self.approximate = approximate
        self.x = None  # cached by forward for backward: same shape as x

    def forward(self, x):
        """Inputs: x, any shape. Returns: out, the same shape."""
        self.x = x  # cached for backward
        if self.approximate == "tanh":
            u = SQRT_2_OVER_PI * (x + CUBIC * x**3)
            return 0.5 * x * (1.0 + np.tanh(u))
        return x * 0.5 * (1.0 + erf(x / math.sqrt(2.0)))

    def backward(self, dout):
        """Inputs: dout, same shape as x. Returns: dx, same shape as x."""
        # BEGIN TODO: return dx, same shape as x, for self.approximate "none" and "tanh"
        x = self.x
        if self.approximate == "tanh":
            t = np.tanh(SQRT_2_OVER_PI * (x + CUBIC * x**3))  # same shape as x
            du_dx = SQRT_2_OVER_PI * (1.0 + 3.0 * CUBIC * x**2)  # the inner derivative
            # product rule on 0.5 * x * (1 + t), with dt/du = 1 - t**2
            local = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du_dx
        else:
            cdf = 0.5 * (1.0 + erf(x / math.sqrt(2.0)))  # Phi(x)
            pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)  # phi(x) = Phi'(x)
            local = cdf + x * pdf  # product rule on x * Phi(x)
        dx = dout * local
        return dx
        # END TODO
