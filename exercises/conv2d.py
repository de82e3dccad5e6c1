# Generated from solutions/conv2d.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""2-D convolution (cross-correlation, as torch.nn.functional.conv2d), stride and zero padding.

    x_pad = x with p zeros added on each side of H and of W        (N, C_in, H + 2p, W + 2p)
    out[n, o, i, j] = b[o] + sum over c, di, dj of
                      W[o, c, di, dj] * x_pad[n, c, s*i + di, s*j + dj]
    H_out = (H + 2p - k) // s + 1,   W_out = (W + 2p - k) // s + 1

The kernel is not flipped (deep-learning "convolution" is cross-correlation).

Your task: write `Conv2d.backward`. Given dout = dL/dout, return dx = dL/dx and store the
parameter gradients in self.dW and self.db.
"""
import numpy as np


class Conv2d:
    """A 2-D convolution with square kernels, stride s and zero padding p.

    Parameters:
    - W: (C_out, C_in, k, k)
    - b: (C_out,)
    After backward: self.dW (C_out, C_in, k, k) and self.db (C_out,) hold the gradients of
    the most recent call (overwritten, not accumulated).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, rng=None):
        rng = np.random.default_rng() if rng is None else rng
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        bound = 1.0 / np.sqrt(in_channels * kernel_size * kernel_size)  # PyTorch's default init
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.W = rng.uniform(-bound, bound, size=shape)
        self.b = rng.uniform(-bound, bound, size=out_channels)
        self.dW = None
        self.db = None
        self.x_shape = None  # cached by forward: (N, C_in, H, W), the shape before padding
        self.x_pad = None  # cached by forward: (N, C_in, H + 2p, W + 2p), the padded input

    def forward(self, x):
        """Inputs: x (N, C_in, H, W). Returns: out (N, C_out, H_out, W_out)."""
        k, s, p = self.kernel_size, self.stride, self.padding
        x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))  # zeros around H and W
        H_out = (x_pad.shape[2] - k) // s + 1
        W_out = (x_pad.shape[3] - k) // s + 1
        out = np.zeros((x.shape[0], self.W.shape[0], H_out, W_out)) + self.b[:, None, None]
        for di in range(k):  # one kernel offset at a time: a (C_out, C_in) matrix
            for dj in range(k):
                # the input under offset (di, dj) at every output position: (N, C_in, H_out, W_out)
                patch = x_pad[:, :, di:di + s * H_out:s, dj:dj + s * W_out:s]
                out += np.einsum("nchw,oc->nohw", patch, self.W[:, :, di, dj])
        self.x_shape, self.x_pad = x.shape, x_pad
        return out

    def backward(self, dout):
        """Inputs: dout (N, C_out, H_out, W_out), the gradient of the loss with respect to out.

        Returns: dx (N, C_in, H, W). Sets self.dW (C_out, C_in, k, k) and self.db (C_out,).
        """
        # TODO: set self.dW (C_out, C_in, k, k), self.db (C_out,); return dx (N, C_in, H, W)
        raise NotImplementedError('TODO: set self.dW (C_out, C_in, k, k), self.db (C_out,); return dx (N, C_in, H, W)')
