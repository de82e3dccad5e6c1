# Generated from solutions/value.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.
"""A scalar reverse-mode autodiff engine, micrograd-sized: the 20-minute interview round.

Every operation returns a new Value that remembers its parents (_prev) and a closure
(_backward) that, once out.grad holds d(output)/d(out), adds each parent's share into the
parent's .grad. `Value.backward` orders the graph topologically and runs the closures from
the output back to the leaves.

Your tasks: the backward closure of each core operation, the derived operators (written
with the core ones, so they need no backward of their own), and the traversal in
`Value.backward`, without recursion: graphs 10,000 nodes deep must work.
"""
import math


def as_value(x):
    """A Value for x (a Value is returned as it is; a Python number is wrapped)."""
    return x if isinstance(x, Value) else Value(x)


class Value:
    """One scalar in a computation graph.

    data: float, the value; grad: float, d(output)/d(self) after backward (0.0 before);
    _prev: tuple of the Values this one was computed from; _backward: () -> None.
    """

    def __init__(self, data, _prev=(), _op=""):
        self.data = float(data)
        self.grad = 0.0
        self._prev = tuple(_prev)
        self._op = _op  # for printing only
        self._backward = lambda: None  # a leaf sends nothing back

    def __repr__(self):
        return f"Value(data={self.data!r}, grad={self.grad!r})"

    # ---- core operations: each sets out._backward ---------------------------------------
    # A closure reads out.grad and ADDS into the parents' .grad (+=): a Value used twice
    # (x * x) receives one share per use.

    def __add__(self, other):
        """self + other: a Value."""
        other = as_value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():
            # TODO: add out's gradient into self.grad and other.grad for self + other
            raise NotImplementedError("TODO: add out's gradient into self.grad and other.grad for self + other")

        out._backward = _backward
        return out

    def __mul__(self, other):
        """self * other: a Value."""
        other = as_value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            # TODO: add out's gradient into self.grad and other.grad for self * other
            raise NotImplementedError("TODO: add out's gradient into self.grad and other.grad for self * other")

        out._backward = _backward
        return out

    def __pow__(self, power):
        """self ** power for a Python number power: a Value."""
        assert isinstance(power, (int, float)), "only a Python number as the exponent"
        out = Value(self.data**power, (self,), f"**{power}")

        def _backward():
            # TODO: add out's gradient into self.grad for self ** power
            raise NotImplementedError("TODO: add out's gradient into self.grad for self ** power")

        out._backward = _backward
        return out

    def tanh(self):
        """tanh(self): a Value."""
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward():
            # TODO: add out's gradient into self.grad for tanh(self)
            raise NotImplementedError("TODO: add out's gradient into self.grad for tanh(self)")

        out._backward = _backward
        return out

    def relu(self):
        """max(self, 0): a Value."""
        out = Value(self.data if self.data > 0 else 0.0, (self,), "relu")

        def _backward():
            # TODO: add out's gradient into self.grad for max(self, 0); 0 at exactly 0
            raise NotImplementedError("TODO: add out's gradient into self.grad for max(self, 0); 0 at exactly 0")

        out._backward = _backward
        return out

    def exp(self):
        """exp(self): a Value."""
        e = math.exp(self.data)
        out = Value(e, (self,), "exp")

        def _backward():
            # TODO: add out's gradient into self.grad for exp(self)
            raise NotImplementedError("TODO: add out's gradient into self.grad for exp(self)")

        out._backward = _backward
        return out

    def log(self):
        """Natural log of self (positive): a Value."""
        out = Value(math.log(self.data), (self,), "log")

        def _backward():
            # TODO: add out's gradient into self.grad for log(self)
            raise NotImplementedError("TODO: add out's gradient into self.grad for log(self)")

        out._backward = _backward
        return out

    # ---- derived operations: one line each, built from the core ones ------------------

    def __radd__(self, other):  # other + self
        return self + other

    def __rmul__(self, other):  # other * self
        return self * other

    def __neg__(self):  # -self
        # TODO: -self with a core operation
        raise NotImplementedError('TODO: -self with a core operation')

    def __sub__(self, other):  # self - other
        # TODO: self - other with core operations
        raise NotImplementedError('TODO: self - other with core operations')

    def __rsub__(self, other):  # other - self: Python calls this for 2 - x
        # TODO: other - self with core operations (the number is on the left)
        raise NotImplementedError('TODO: other - self with core operations (the number is on the left)')

    def __truediv__(self, other):  # self / other
        # TODO: self / other with core operations
        raise NotImplementedError('TODO: self / other with core operations')

    def __rtruediv__(self, other):  # other / self: Python calls this for 2 / x
        # TODO: other / self with core operations (the number is on the left)
        raise NotImplementedError('TODO: other / self with core operations (the number is on the left)')

    # ---- reverse mode -------------------------------------------------------------------

    def backward(self):
        """Reverse mode from this (scalar) output: afterwards every Value v in its graph holds
        v.grad += d(self)/d(v). Leaves accumulate across calls on different graphs; zeroing
        .grad between steps is the caller's business, as in PyTorch.
        """
        # TODO: order the graph topologically with an explicit stack, then run each _backward from the output
        raise NotImplementedError('TODO: order the graph topologically with an explicit stack, then run each _backward from the output')
