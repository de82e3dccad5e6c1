# Generated from solutions/maxpool2d.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""2-D max pooling (as torch.nn.functional.max_pool2d, no padding).

    out[n, c, i, j] = max of x[n, c, s*i : s*i + k, s*j : s*j + k]
    H_out = (H - k) // s + 1,   W_out = (W - k) // s + 1

The stride s defaults to the kernel size k (windows side by side). With s < k the windows
overlap, and one element can be the maximum of several windows.

Your task: write `MaxPool2d.backward`. Given dout = dL/dout, return dx = dL/dx.
"""
import numpy as np


class MaxPool2d:
    """Max pooling over k x k windows with stride s. No parameters."""

    def __init__(self, kernel_size, stride=None):
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.x = None  # cached by forward for backward: (N, C, H, W)

    def forward(self, x):
        """Inputs: x (N, C, H, W). Returns: out (N, C, H_out, W_out)."""
        k, s = self.kernel_size, self.stride
        N, C, H, W = x.shape
        H_out, W_out = (H - k) // s + 1, (W - k) // s + 1
        out = np.empty((N, C, H_out, W_out))
        for i in range(H_out):
            for j in range(W_out):
                out[:, :, i, j] = x[:, :, s * i:s * i + k, s * j:s * j + k].max(axis=(2, 3))
        self.x = x
        return out

    def backward(self, dout):
        """Inputs: dout (N, C, H_out, W_out), the gradient of the loss with respect to out.

        Returns: dx (N, C, H, W).
        """
        # TODO: return dx (N, C, H, W): each window's dout goes to its maximum, added up
        raise NotImplementedError("TODO: return dx (N, C, H, W): each window's dout goes to its maximum, added up")
