"""Autograd's programs: each a graph run with the learner's Tensor and with PyTorch (the
format and the interpreter are the engine kind's, bpdrill.kinds.engine)."""
from __future__ import annotations

from bpdrill.kinds.engine import (
    DEEP, PROBE, SQUARE, Engine, chain, const, leaf, probe_of, program, step, steps,
)

N, C = 4, 3  # a rectangular batch; square inputs are asked for by name
# the programs the mistakes look at by name
ADD, REUSE, DIAMOND, ALIAS, ALIAS_REUSE = "add", "reuse", "diamond", "alias", "alias_reuse"
APART, ACCUMULATE = "apart", "accumulate"

PAIR, SINGLE = {"a": leaf((N, C)), "b": leaf((N, C))}, {"x": leaf((N, C))}

PROGRAMS = [
    program(ADD, "a + b", "numgrad", PAIR, steps("out = a + b")),
    program("mul", "a * b", "numgrad", PAIR, steps("out = a * b")),
    program("sub_neg", "-(a - b)", "torch", PAIR, steps("d = a - b", "out = -d")),
    program("div", "a / b", "numgrad", {"a": leaf((N, C)), "b": leaf((N, C), "away")}, steps("out = a / b")),
    program("pow", "a ** 3 + b ** -0.5", "numgrad", {"a": leaf((N, C)), "b": leaf((N, C), "positive")},
            steps("p = a ** 3", "q = b ** -0.5", "out = p + q")),
    program("matmul", "a @ b (4x5 @ 5x3)", "numgrad", {"a": leaf((N, 5)), "b": leaf((5, C))},
            steps("out = a @ b")),
    program("sum", "x.sum(axis=0, keepdims=True) * x.sum()", "torch", SINGLE,
            steps("s = x.sum(axis=0, keepdims=True)", "t = x.sum()", "out = s * t")),
    program("mean", "x.mean(axis=0) * x.mean()", "torch", SINGLE,
            steps("m = x.mean(axis=0)", "n = x.mean()", "out = m * n")),
    program("exp_log", "a.exp() + b.log()", "numgrad", {"a": leaf((N, C)), "b": leaf((N, C), "positive")},
            steps("e = a.exp()", "l = b.log()", "out = e + l")),
    program("relu", "x.relu(), exact zeros included (the derivative at 0 is 0)", "torch",
            {"x": leaf((N, C), "kinks")}, steps("out = x.relu()")),
    program("sigmoid_tanh", "a.sigmoid() * b.tanh()", "numgrad", PAIR,
            steps("s = a.sigmoid()", "t = b.tanh()", "out = s * t")),
    program("log_softmax", "x.log_softmax() + x.log_softmax(axis=0)", "numgrad", SINGLE,
            steps("r = x.log_softmax()", "c = x.log_softmax(axis=0)", "out = r + c")),
    program("reshape_transpose", "x.reshape(3, 4).T * x.reshape((4, 3)).transpose().T", "torch",
            {"x": leaf((2, 6))},
            steps("r = x.reshape(3, 4)", "t = r.T", "v = x.reshape(4, 3)", "u = v.transpose()", "w = u.T",
                  "out = t * w")),
    program(REUSE, "x * x + x, times x (a node used several times)", "edge", SINGLE,
            steps("y = x * x", "z = y + x", "out = z * x")),
    program(DIAMOND, "a = x.exp(); (a * a.tanh().sigmoid().exp()) (a diamond with unequal paths)",
            "edge", SINGLE,
            steps("a = x.exp()", "b = a.tanh()", "c = b.sigmoid()", "d = c.exp()", "out = a * d")),
    program("broadcast", "(x + b) * c - d with b (C,), c (N, 1), d (1, C)", "edge",
            {"x": leaf((N, C)), "b": leaf((C,)), "c": leaf((N, 1)), "d": leaf((1, C))},
            steps("s = x + b", "t = s * c", "out = t - d")),
    program("left_constants", "(arr + (1 - x)) * (vec * (2 / x)): constants on the left", "edge",
            {"x": leaf((N, C), "away"), "one": const(value=1.0), "two": const(value=2.0),
             "arr": const((N, C)), "vec": const((C,))},
            steps("s = one - x", "t = two / x", "u = arr + s", "v = vec * t", "out = u * v")),
    # A rule that returns one array to both parents (`return grad, grad`) is safe only while no
    # one adds into it in place: here a gradient shared by two nodes later receives another
    # contribution.
    program(ALIAS, "((x.exp() + x.tanh()) + x.exp()).sum(): a gradient shared by two nodes",
            "edge", {"x": leaf((C,))},
            steps("a = x.exp()", "b = x.tanh()", "s = a + b", "c = x.exp()", "u = s + c", "out = u.sum()"),
            grad=None),
    program(ALIAS_REUSE, "a = x.exp(); (a + x.tanh()) + a: a shared gradient added to again", "edge", SINGLE,
            steps("a = x.exp()", "b = x.tanh()", "s = a + b", "out = s + a")),
    program("sum_square", "x.sum(axis=1) of a square x", "edge", {"x": leaf((C, C))},
            steps("out = x.sum(axis=1)")),
    program("nonscalar", "backward(grad) of a (N, M) output: (x @ w).tanh()", "edge",
            {"x": leaf((N, 5)), "w": leaf((5, 2))}, steps("m = x @ w", "out = m.tanh()")),
    program(APART, "two backward(grad) calls through a + b: each .grad its own array, the caller's "
            "grad untouched", "edge", PAIR, steps("out = a + b"), backward_calls=2, steps_checked=False),
    program(ACCUMULATE, "two backward() calls add up", "edge", SINGLE, steps("y = x * x", "out = y.sum()"),
            grad=None, backward_calls=2),
    program("scalar_leaf", "a 0-d leaf w: (x * w).sum() * w, two backward() calls: w.grad stays a 0-d array",
            "edge", {"x": leaf((N, C), requires_grad=False), "w": leaf(())},
            steps("y = x * w", "s = y.sum()", "out = s * w"), grad=None, backward_calls=2),
    program("integer_data", "Tensor of integers: data becomes float64", "edge",
            {"x": leaf((N, C), "integer", kind="int_tensor")}, steps("y = x * x", "out = y.sum()"),
            grad=None),
    program("constants", "constants get no grad; results of constants need none", "edge",
            {"x": leaf((N, C)), "c": leaf((N, C), requires_grad=False),
             "k": leaf((N, C), requires_grad=False)},
            steps("s = c * k", "t = x * c", "u = t + s", "out = u.sum()"), grad=None),
    program(DEEP, "a chain 5000 nodes deep", "edge",
            {"x": leaf((3,)), "k_mul": const(value=1.0001), "k_add": const(value=0.001)},
            chain(5000, "k_mul", "k_add")),
    # Probes, worth no points, for naming mistakes: x * x tells "overwrites instead of summing"
    # from "wrong order"; each core method alone tells a wrong rule from a wrong traversal.
    program(SQUARE, "x * x", PROBE, {"x": leaf((N, C))}, [step("out", "mul", "x", "x")]),
    *[program(probe_of(method), f"{method} alone", PROBE, leaves, [step("out", op, *args, **kw)])
      for method, op, args, kw, leaves in [
          ("__add__", "add", ("a", "b"), {}, {"a": leaf((N, C)), "b": leaf((N, C))}),
          ("__mul__", "mul", ("a", "b"), {}, {"a": leaf((N, C)), "b": leaf((N, C))}),
          ("__matmul__", "matmul", ("a", "b"), {}, {"a": leaf((N, 5)), "b": leaf((5, C))}),
          ("__pow__", "pow", ("a", 3), {}, {"a": leaf((N, C))}),
          ("sum", "sum", ("a",), {"axis": 1}, {"a": leaf((N, C))}),
          ("exp", "exp", ("a",), {}, {"a": leaf((N, C))}),
          ("log", "log", ("a",), {}, {"a": leaf((N, C), "positive")}),
          ("relu", "relu", ("a",), {}, {"a": leaf((N, C), "kinks")}),
          ("sigmoid", "sigmoid", ("a",), {}, {"a": leaf((N, C))}),
          ("tanh", "tanh", ("a",), {}, {"a": leaf((N, C))}),
          ("log_softmax", "log_softmax", ("a",), {}, {"a": leaf((N, C))}),
          ("reshape", "reshape", ("a",), {"shape": [3, 4]}, {"a": leaf((2, 6))}),
          ("transpose", "T", ("a",), {}, {"a": leaf((N, C))}),
          # reflected operators: a constant on the left
          ("__radd__", "add", ("arr", "a"), {}, {"arr": const((N, C)), "a": leaf((N, C))}),
          ("__rsub__", "sub", ("2", "a"), {}, {"2": const(value=2.0), "a": leaf((N, C))}),
          ("__rmul__", "mul", ("arr", "a"), {}, {"arr": const((C,)), "a": leaf((N, C))}),
          ("__rtruediv__", "div", ("2", "a"), {}, {"2": const(value=2.0), "a": leaf((N, C), "away")}),
          ("__rmatmul__", "matmul", ("arr", "a"), {}, {"arr": const((N, 5)), "a": leaf((5, C))}),
      ]],
    program("mlp", "a two-layer network's loss: (X @ W1 + b1).tanh() @ W2, log_softmax, mean", "numgrad",
            {"X": const((N, 5)), "W1": leaf((5, 6)), "b1": leaf((6,)), "W2": leaf((6, C)),
             "onehot": const((N, C), dist="onehot")},
            steps("t1 = X @ W1", "t2 = t1 + b1", "t3 = t2.tanh()", "t4 = t3 @ W2",
                  "t5 = t4.log_softmax(axis=1)", "t6 = t5 * onehot", "t7 = t6.mean()", "out = -t7"),
            grad=None),
]

# The core methods each op's backward runs on: derived ops (-, /, mean ...) run on the core ones.
CORE = {"add": {"__add__"}, "sub": {"__add__", "__mul__"}, "neg": {"__mul__"}, "mul": {"__mul__"},
        "div": {"__mul__", "__pow__"}, "pow": {"__pow__"}, "matmul": {"__matmul__"}, "sum": {"sum"},
        "mean": {"sum", "__mul__"}, "exp": {"exp"}, "log": {"log"}, "relu": {"relu"},
        "sigmoid": {"sigmoid"}, "tanh": {"tanh"}, "log_softmax": {"log_softmax"},
        "reshape": {"reshape"}, "T": {"transpose"}, "transpose": {"transpose"}}
SPEC = Engine("Tensor", tuple(PROGRAMS), CORE)
