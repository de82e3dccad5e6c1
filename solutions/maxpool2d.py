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
        # BEGIN TODO: return dx (N, C, H, W): each window's dout goes to its maximum, added up
        k, s = self.kernel_size, self.stride
        x = self.x
        N, C, H_out, W_out = dout.shape
        dx = np.zeros_like(x)  # (N, C, H, W)
        n_idx = np.arange(N)[:, None]  # (N, 1) and (1, C): every (n, c) pair at once
        c_idx = np.arange(C)[None, :]
        for i in range(H_out):
            for j in range(W_out):
                r, c = s * i, s * j  # top-left corner of the window
                window = x[:, :, r:r + k, c:c + k].reshape(N, C, k * k)  # (N, C, k*k)
                first_max = window.argmax(axis=2)  # (N, C): the first maximum, as PyTorch
                di, dj = np.divmod(first_max, k)  # (N, C) each: its row and column in the window
                # only the maximum moved the output: it gets all of dout[:, :, i, j].
                # += across windows: the maximum of several overlapping windows gets the sum
                # (within one window each (n, c) appears once, so fancy-index += is safe here)
                dx[n_idx, c_idx, r + di, c + dj] += dout[:, :, i, j]
        return dx
        # END TODO
