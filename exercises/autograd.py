# Generated from solutions/autograd.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""A small reverse-mode autograd engine over NumPy arrays.

Every operation returns a new Tensor that remembers its parents and a `backward`
function: given the gradient of the loss with respect to the output (the output's
shape), it returns one gradient per parent. `Tensor.backward` walks the graph from
the output to the leaves in reverse topological order and adds the gradients up.

Your tasks: the backward rule of each core operation, `unbroadcast`, and the graph
traversal in `Tensor.backward`.
"""
import numpy as np


def as_tensor(value):
    """A Tensor for value (a Tensor is returned as it is; numbers and arrays are wrapped)."""
    return value if isinstance(value, Tensor) else Tensor(value)


def unbroadcast(grad, shape):
    """Undo NumPy broadcasting: sum grad back down to `shape`.

    Inputs: grad, the gradient of a broadcast result (ndim >= len(shape)); shape, the
    shape of the input that was broadcast. Returns: an array of exactly `shape`.
    """
    # TODO: sum over the leading axes broadcasting added and the axes where shape has 1
    raise NotImplementedError('TODO: sum over the leading axes broadcasting added and the axes where shape has 1')


class Tensor:
    """An array (self.data, float64) that records how it was computed.

    grad: None, or an array of self.shape once backward has reached this tensor.
    requires_grad: gradients are computed for this tensor (true for a result when
    any input requires grad).
    """

    __array_ufunc__ = None  # so `ndarray + Tensor` calls Tensor.__radd__ instead of NumPy's loop

    def __init__(self, data, requires_grad=False):
        self.data = np.asarray(data, dtype=np.float64)
        self.grad = None
        self.requires_grad = requires_grad
        self._parents = ()  # the tensors this one was computed from
        self._backward = None  # grad of this tensor -> tuple of grads, one per parent

    @property
    def shape(self):
        """The shape of data."""
        return self.data.shape

    def __repr__(self):
        return f"Tensor({self.data!r}, requires_grad={self.requires_grad})"

    def _result(self, data, parents, backward):
        """Wrap an operation's output; remember how to send its gradient to `parents`."""
        out = Tensor(data)
        if any(p.requires_grad for p in parents):
            out.requires_grad = True
            out._parents = parents
            out._backward = backward
        return out

    # ---- core operations: each gives its backward rule -------------------------------
    # A rule receives grad (the output's shape) and returns one gradient per parent; a
    # gradient may keep the broadcast output shape: Tensor.backward unbroadcasts it.

    def __add__(self, other):
        """self + other, broadcast: the broadcast shape."""
        other = as_tensor(other)

        def backward(grad):
            # TODO: gradients for self and other of self + other
            raise NotImplementedError('TODO: gradients for self and other of self + other')

        return self._result(self.data + other.data, (self, other), backward)

    def __mul__(self, other):
        """self * other, element-wise and broadcast: the broadcast shape."""
        other = as_tensor(other)

        def backward(grad):
            # TODO: gradients for self and other of self * other
            raise NotImplementedError('TODO: gradients for self and other of self * other')

        return self._result(self.data * other.data, (self, other), backward)

    def __matmul__(self, other):
        """self (N, K) @ other (K, M) -> (N, M)."""
        other = as_tensor(other)  # self (N, K) @ other (K, M) -> (N, M)

        def backward(grad):
            # TODO: gradients for self (N, K) and other (K, M); grad is (N, M)
            raise NotImplementedError('TODO: gradients for self (N, K) and other (K, M); grad is (N, M)')

        return self._result(self.data @ other.data, (self, other), backward)

    def __pow__(self, power):
        """self ** power for a Python number power: self.shape."""
        assert isinstance(power, (int, float)), "only a Python number as the exponent"

        def backward(grad):
            # TODO: gradient for self of self ** power
            raise NotImplementedError('TODO: gradient for self of self ** power')

        return self._result(self.data**power, (self,), backward)

    def sum(self, axis=None, keepdims=False):
        """Sum over axis (None: every axis); keepdims keeps summed axes as size 1."""
        def backward(grad):
            # TODO: gradient for self (self.shape) of self.sum(axis, keepdims)
            raise NotImplementedError('TODO: gradient for self (self.shape) of self.sum(axis, keepdims)')

        return self._result(self.data.sum(axis=axis, keepdims=keepdims), (self,), backward)

    def exp(self):
        """exp(self), element-wise: self.shape."""
        out = np.exp(self.data)

        def backward(grad):
            # TODO: gradient for self of exp(self)
            raise NotImplementedError('TODO: gradient for self of exp(self)')

        return self._result(out, (self,), backward)

    def log(self):
        """Natural log of self (positive), element-wise: self.shape."""
        def backward(grad):
            # TODO: gradient for self of log(self)
            raise NotImplementedError('TODO: gradient for self of log(self)')

        return self._result(np.log(self.data), (self,), backward)

    def relu(self):
        """max(self, 0), element-wise: self.shape."""
        def backward(grad):
            # TODO: gradient for self of max(self, 0)
            raise NotImplementedError('TODO: gradient for self of max(self, 0)')

        return self._result(np.maximum(self.data, 0.0), (self,), backward)

    def sigmoid(self):
        """1 / (1 + exp(-self)), element-wise and stable: self.shape."""
        z = np.exp(-np.abs(self.data))  # stable for any input
        out = np.where(self.data >= 0, 1.0 / (1.0 + z), z / (1.0 + z))

        def backward(grad):
            # TODO: gradient for self of sigmoid(self)
            raise NotImplementedError('TODO: gradient for self of sigmoid(self)')

        return self._result(out, (self,), backward)

    def tanh(self):
        """tanh(self), element-wise: self.shape."""
        out = np.tanh(self.data)

        def backward(grad):
            # TODO: gradient for self of tanh(self)
            raise NotImplementedError('TODO: gradient for self of tanh(self)')

        return self._result(out, (self,), backward)

    def log_softmax(self, axis=-1):
        """log(softmax(self)) along axis, computed stably: self.shape."""
        shifted = self.data - self.data.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

        def backward(grad):
            # TODO: gradient for self of log_softmax(self, axis)
            raise NotImplementedError('TODO: gradient for self of log_softmax(self, axis)')

        return self._result(out, (self,), backward)

    def reshape(self, *shape):
        """The same data in a new shape: reshape(2, 3) or reshape((2, 3))."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])  # accept reshape((2, 3)) as well as reshape(2, 3)

        def backward(grad):
            # TODO: gradient for self of self.reshape(shape)
            raise NotImplementedError('TODO: gradient for self of self.reshape(shape)')

        return self._result(self.data.reshape(shape), (self,), backward)

    def transpose(self):
        """The transpose of a 2-D tensor: (N, M) -> (M, N)."""
        def backward(grad):
            # TODO: gradient for self (2-D) of its transpose
            raise NotImplementedError('TODO: gradient for self (2-D) of its transpose')

        return self._result(self.data.T, (self,), backward)

    # ---- derived operations: written with the core ones, no backward of their own ----

    def __radd__(self, other):
        return as_tensor(other) + self

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-as_tensor(other))

    def __rsub__(self, other):
        return as_tensor(other) + (-self)

    def __rmul__(self, other):
        return as_tensor(other) * self

    def __truediv__(self, other):
        return self * as_tensor(other) ** -1

    def __rtruediv__(self, other):
        return as_tensor(other) * self**-1

    def __rmatmul__(self, other):
        return as_tensor(other) @ self

    def mean(self, axis=None, keepdims=False):
        """Mean over axis (None: every axis), as sum times the share of elements kept."""
        total = self.sum(axis=axis, keepdims=keepdims)
        return total * (total.data.size / self.data.size)

    @property
    def T(self):
        """The transpose of a 2-D tensor."""
        return self.transpose()

    # ---- reverse mode -------------------------------------------------------------------

    def _topological_order(self):
        """Every tensor this one depends on (requiring grad), parents before children.

        An explicit stack instead of recursion: graphs thousands of nodes deep work.
        """
        order, visited = [], set()
        stack = [(self, False)]
        while stack:
            node, parents_done = stack.pop()
            if parents_done:
                order.append(node)
                continue
            if node in visited:
                continue
            visited.add(node)
            stack.append((node, True))
            for parent in node._parents:
                if parent.requires_grad and parent not in visited:
                    stack.append((parent, False))
        return order

    def backward(self, grad=None):
        """Reverse mode from this tensor: add d(self)/d(t), weighted by grad, into t.grad
        for every tensor t that requires grad.

        Inputs: grad, the same shape as self; may be omitted (taken as 1) when self has
        one element. Gradients accumulate across calls until the caller sets .grad = None.
        """
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError("backward: give grad for a tensor with more than one element")
            grad = np.ones_like(self.data)
        grad = grad.data if isinstance(grad, Tensor) else grad
        grad = np.broadcast_to(np.asarray(grad, dtype=np.float64), self.shape)
        # TODO: propagate grad to every tensor that requires grad, in reverse topological order
        raise NotImplementedError('TODO: propagate grad to every tensor that requires grad, in reverse topological order')
