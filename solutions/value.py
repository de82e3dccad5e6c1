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
            # BEGIN TODO: add out's gradient into self.grad and other.grad for self + other
            self.grad += out.grad
            other.grad += out.grad
            # END TODO

        out._backward = _backward
        return out

    def __mul__(self, other):
        """self * other: a Value."""
        other = as_value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():
            # BEGIN TODO: add out's gradient into self.grad and other.grad for self * other
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
            # END TODO

        out._backward = _backward
        return out

    def __pow__(self, power):
        """self ** power for a Python number power: a Value."""
        assert isinstance(power, (int, float)), "only a Python number as the exponent"
        out = Value(self.data**power, (self,), f"**{power}")

        def _backward():
            # BEGIN TODO: add out's gradient into self.grad for self ** power
            self.grad += power * self.data ** (power - 1) * out.grad
            # END TODO

        out._backward = _backward
        return out

    def tanh(self):
        """tanh(self): a Value."""
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward():
            # BEGIN TODO: add out's gradient into self.grad for tanh(self)
            self.grad += (1.0 - t * t) * out.grad  # the derivative at the output t
            # END TODO

        out._backward = _backward
        return out

    def relu(self):
        """max(self, 0): a Value."""
        out = Value(self.data if self.data > 0 else 0.0, (self,), "relu")

        def _backward():
            # BEGIN TODO: add out's gradient into self.grad for max(self, 0); 0 at exactly 0
            self.grad += (1.0 if self.data > 0 else 0.0) * out.grad
            # END TODO

        out._backward = _backward
        return out

    def exp(self):
        """exp(self): a Value."""
        e = math.exp(self.data)
        out = Value(e, (self,), "exp")

        def _backward():
            # BEGIN TODO: add out's gradient into self.grad for exp(self)
            self.grad += e * out.grad
            # END TODO

        out._backward = _backward
        return out

    def log(self):
        """Natural log of self (positive): a Value."""
        out = Value(math.log(self.data), (self,), "log")

        def _backward():
            # BEGIN TODO: add out's gradient into self.grad for log(self)
            self.grad += out.grad / self.data
            # END TODO

        out._backward = _backward
        return out

    # ---- derived operations: one line each, built from the core ones ------------------

    def __radd__(self, other):  # other + self
        return self + other

    def __rmul__(self, other):  # other * self
        return self * other

    def __neg__(self):  # -self
        # BEGIN TODO: -self with a core operation
        return self * -1
        # END TODO

    def __sub__(self, other):  # self - other
        # BEGIN TODO: self - other with core operations
        return self + (-as_value(other))
        # END TODO

    def __rsub__(self, other):  # other - self: Python calls this for 2 - x
        # BEGIN TODO: other - self with core operations (the number is on the left)
        return as_value(other) + (-self)
        # END TODO

    def __truediv__(self, other):  # self / other
        # BEGIN TODO: self / other with core operations
        return self * as_value(other) ** -1
        # END TODO

    def __rtruediv__(self, other):  # other / self: Python calls this for 2 / x
        # BEGIN TODO: other / self with core operations (the number is on the left)
        return as_value(other) * self**-1
        # END TODO

    # ---- reverse mode -------------------------------------------------------------------

    def backward(self):
        """Reverse mode from this (scalar) output: afterwards every Value v in its graph holds
        v.grad += d(self)/d(v). Leaves accumulate across calls on different graphs; zeroing
        .grad between steps is the caller's business, as in PyTorch.
        """
        # BEGIN TODO: order the graph topologically with an explicit stack, then run each _backward from the output
        order, visited = [], set()
        stack = [(self, False)]
        while stack:
            node, parents_done = stack.pop()
            if parents_done:
                order.append(node)  # after every Value it was computed from
            elif node not in visited:
                visited.add(node)
                stack.append((node, True))
                stack.extend((parent, False) for parent in node._prev if parent not in visited)
        self.grad += 1.0
        for node in reversed(order):
            node._backward()
        # END TODO
