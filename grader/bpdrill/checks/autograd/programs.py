"""Autograd's programs as data, and the one interpreter that runs them.

A program: leaves (tensors, constants), steps (target, op, args, kwargs) and an output, plus
the grad handed to backward. `run_steps` runs it on any backend: the learner's Tensor
(learner_method), PyTorch (torch_method) or NumPy for shapes (numpy_method); `show` prints a
step as code.
"""
from __future__ import annotations

import operator

import numpy as np

N, C = 4, 3  # a rectangular batch; square inputs are asked for by name
MAX_CHECKED_STEPS = 50  # intermediate results' .grad is checked in programs up to this long


def leaf(shape, dist="normal", kind="tensor", requires_grad=True):
    return {"shape": list(shape), "dist": dist, "kind": kind,
            "requires_grad": requires_grad and kind in ("tensor", "int_tensor")}


def const(shape=None, value=None):
    """A constant: an ndarray of shape, or the Python number value."""
    if value is not None:
        return {"shape": [], "dist": "value", "value": value, "kind": "number", "requires_grad": False}
    return {"shape": list(shape), "dist": "normal", "kind": "array", "requires_grad": False}


def step(target, op, *args, **kwargs):
    return [target, op, list(args), kwargs]


def program(name, title, kind, leaves, steps, grad="random", backward_calls=1, points=1, steps_checked=True):
    """steps_checked: the intermediate results' .grad (where held) are checked too."""
    return {"name": name, "title": title, "kind": kind, "points": points, "leaves": leaves,
            "steps": steps, "output": steps[-1][0], "grad": grad, "backward_calls": backward_calls,
            "steps_checked": steps_checked}


# ---- one interpreter for programs -------------------------------------------------------

# Steps written with Python's own operators run alike on the learner's Tensor, torch tensors
# and NumPy arrays; each entry: (how the step reads as code, what it does).
OPERATORS = {
    "add": ("{0} + {1}", operator.add), "sub": ("{0} - {1}", operator.sub),
    "mul": ("{0} * {1}", operator.mul), "div": ("{0} / {1}", operator.truediv),
    "matmul": ("{0} @ {1}", operator.matmul), "neg": ("-{0}", operator.neg),
    "pow": ("{0} ** {1}", operator.pow), "T": ("{0}.T", lambda a: a.T),
}


def run_steps(program: dict, env: dict, method) -> dict:
    """Run the program's steps over env (leaf name -> value); method(a, op, kwargs) runs a
    step that is a Tensor method (sum, exp, log_softmax, reshape ...) on one backend."""
    for target, op, args, kwargs in program["steps"]:
        if op in OPERATORS:
            operands = [env[a] if isinstance(a, str) else a for a in args]
            env[target] = OPERATORS[op][1](*operands)
        else:
            env[target] = method(env[args[0]], op, kwargs)
    return env


def learner_method(a, op: str, kwargs: dict):
    """As a learner would call it: x.sum(axis=0), x.reshape(3, 4), x.log_softmax()."""
    return a.reshape(*kwargs["shape"]) if op == "reshape" else getattr(a, op)(**kwargs)


def numpy_method(a, op: str, kwargs: dict):
    """NumPy, for shapes only: element-wise steps keep the shape."""
    if op in ("sum", "mean"):
        return getattr(np, op)(a, axis=kwargs.get("axis"), keepdims=kwargs.get("keepdims", False))
    if op == "transpose":
        return a.T
    if op == "reshape":
        return a.reshape(kwargs["shape"])
    return np.zeros_like(a)


def torch_method(torch):
    def method(a, op: str, kwargs: dict):
        if op in ("sum", "mean"):
            axis, keepdims = kwargs.get("axis"), kwargs.get("keepdims", False)
            if axis is None:
                r = getattr(a, op)()
                return r.reshape([1] * a.dim()) if keepdims else r
            return getattr(a, op)(dim=axis, keepdim=keepdims)
        if op == "log_softmax":
            return torch.log_softmax(a, dim=kwargs.get("axis", -1))
        if op == "transpose":
            return a.T
        if op == "reshape":
            return a.reshape(kwargs["shape"])
        return getattr(torch, op)(a)  # exp, log, relu, sigmoid, tanh
    return method


def show(prog, target: str) -> str:
    """A step of the program as code, for messages: 'x * x', 'x.sum(axis=0)'."""
    for name, op, args, kwargs in prog["steps"]:
        if name == target:
            if op in OPERATORS:
                return OPERATORS[op][0].format(*args)
            call = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
            return f"{args[0]}.{op}({call})"
    return target


def _chain(length):
    """h = x; then `length` alternating h * 1.0001 and h + 0.001: a graph `length` nodes deep."""
    steps, h = [], "x"
    for i in range(length):
        op, k = ("mul", "k_mul") if i % 2 == 0 else ("add", "k_add")
        steps.append(step(f"h{i}", op, h, k))
        h = f"h{i}"
    return steps


PROGRAMS = [
    program("add", "a + b", "numgrad", {"a": leaf((N, C)), "b": leaf((N, C))},
            [step("out", "add", "a", "b")]),
    program("mul", "a * b", "numgrad", {"a": leaf((N, C)), "b": leaf((N, C))},
            [step("out", "mul", "a", "b")]),
    program("sub_neg", "-(a - b)", "torch", {"a": leaf((N, C)), "b": leaf((N, C))},
            [step("d", "sub", "a", "b"), step("out", "neg", "d")]),
    program("div", "a / b", "numgrad", {"a": leaf((N, C)), "b": leaf((N, C), "away")},
            [step("out", "div", "a", "b")]),
    program("pow", "a ** 3 + b ** -0.5", "numgrad", {"a": leaf((N, C)), "b": leaf((N, C), "positive")},
            [step("p", "pow", "a", 3), step("q", "pow", "b", -0.5), step("out", "add", "p", "q")]),
    program("matmul", "a @ b (4x5 @ 5x3)", "numgrad", {"a": leaf((N, 5)), "b": leaf((5, C))},
            [step("out", "matmul", "a", "b")]),
    program("sum", "x.sum(axis=0, keepdims=True) * x.sum()", "torch", {"x": leaf((N, C))},
            [step("s", "sum", "x", axis=0, keepdims=True), step("t", "sum", "x"),
             step("out", "mul", "s", "t")]),
    program("mean", "x.mean(axis=0) * x.mean()", "torch", {"x": leaf((N, C))},
            [step("m", "mean", "x", axis=0), step("n", "mean", "x"), step("out", "mul", "m", "n")]),
    program("exp_log", "a.exp() + b.log()", "numgrad", {"a": leaf((N, C)), "b": leaf((N, C), "positive")},
            [step("e", "exp", "a"), step("l", "log", "b"), step("out", "add", "e", "l")]),
    program("relu", "x.relu(), exact zeros included (the derivative at 0 is 0)", "torch",
            {"x": leaf((N, C), "kinks")}, [step("out", "relu", "x")]),
    program("sigmoid_tanh", "a.sigmoid() * b.tanh()", "numgrad", {"a": leaf((N, C)), "b": leaf((N, C))},
            [step("s", "sigmoid", "a"), step("t", "tanh", "b"), step("out", "mul", "s", "t")]),
    program("log_softmax", "x.log_softmax() + x.log_softmax(axis=0)", "numgrad", {"x": leaf((N, C))},
            [step("r", "log_softmax", "x"), step("c", "log_softmax", "x", axis=0),
             step("out", "add", "r", "c")]),
    program("reshape_transpose", "x.reshape(3, 4).T * x.reshape((4, 3)).transpose().T", "torch",
            {"x": leaf((2, 6))},
            [step("r", "reshape", "x", shape=[3, 4]), step("t", "T", "r"),
             step("v", "reshape", "x", shape=[4, 3]), step("u", "transpose", "v"),
             step("w", "T", "u"), step("out", "mul", "t", "w")]),
    program("reuse", "x * x + x, times x (a node used several times)", "edge", {"x": leaf((N, C))},
            [step("y", "mul", "x", "x"), step("z", "add", "y", "x"), step("out", "mul", "z", "x")]),
    program("diamond", "a = x.exp(); (a * a.tanh().sigmoid().exp()) (a diamond with unequal paths)",
            "edge", {"x": leaf((N, C))},
            [step("a", "exp", "x"), step("b", "tanh", "a"), step("c", "sigmoid", "b"),
             step("d", "exp", "c"), step("out", "mul", "a", "d")]),
    program("broadcast", "(x + b) * c - d with b (C,), c (N, 1), d (1, C)", "edge",
            {"x": leaf((N, C)), "b": leaf((C,)), "c": leaf((N, 1)), "d": leaf((1, C))},
            [step("s", "add", "x", "b"), step("t", "mul", "s", "c"), step("out", "sub", "t", "d")]),
    program("left_constants", "(arr + (1 - x)) * (vec * (2 / x)): constants on the left", "edge",
            {"x": leaf((N, C), "away"), "one": const(value=1.0), "two": const(value=2.0),
             "arr": const((N, C)), "vec": const((C,))},
            [step("s", "sub", "one", "x"), step("t", "div", "two", "x"), step("u", "add", "arr", "s"),
             step("v", "mul", "vec", "t"), step("out", "mul", "u", "v")]),
    # A rule that returns one array to both parents (`return grad, grad`) is safe only while no
    # one adds into it in place: here a gradient shared by two nodes later receives another
    # contribution.
    program("alias", "((x.exp() + x.tanh()) + x.exp()).sum(): a gradient shared by two nodes",
            "edge", {"x": leaf((C,))},
            [step("a", "exp", "x"), step("b", "tanh", "x"), step("s", "add", "a", "b"),
             step("c", "exp", "x"), step("u", "add", "s", "c"), step("out", "sum", "u")], grad=None),
    program("alias_reuse", "a = x.exp(); (a + x.tanh()) + a: a shared gradient added to again",
            "edge", {"x": leaf((N, C))},
            [step("a", "exp", "x"), step("b", "tanh", "x"), step("s", "add", "a", "b"),
             step("out", "add", "s", "a")]),
    program("sum_square", "x.sum(axis=1) of a square x", "edge", {"x": leaf((C, C))},
            [step("out", "sum", "x", axis=1)]),
    program("nonscalar", "backward(grad) of a (N, M) output: (x @ w).tanh()", "edge",
            {"x": leaf((N, 5)), "w": leaf((5, 2))},
            [step("m", "matmul", "x", "w"), step("out", "tanh", "m")]),
    program("apart", "two backward(grad) calls through a + b: each .grad its own array, the caller's "
            "grad untouched", "edge", {"a": leaf((N, C)), "b": leaf((N, C))}, [step("out", "add", "a", "b")],
            backward_calls=2, steps_checked=False),
    program("accumulate", "two backward() calls add up", "edge", {"x": leaf((N, C))},
            [step("y", "mul", "x", "x"), step("out", "sum", "y")], grad=None, backward_calls=2),
    program("scalar_leaf", "a 0-d leaf w: (x * w).sum() * w, two backward() calls: w.grad stays a 0-d array",
            "edge", {"x": leaf((N, C), requires_grad=False), "w": leaf(())},
            [step("y", "mul", "x", "w"), step("s", "sum", "y"), step("out", "mul", "s", "w")], grad=None,
            backward_calls=2),
    program("integer_data", "Tensor of integers: data becomes float64", "edge",
            {"x": leaf((N, C), "integer", kind="int_tensor")},
            [step("y", "mul", "x", "x"), step("out", "sum", "y")], grad=None),
    program("constants", "constants get no grad; results of constants need none", "edge",
            {"x": leaf((N, C)), "c": leaf((N, C), requires_grad=False), "k": leaf((N, C), requires_grad=False)},
            [step("s", "mul", "c", "k"), step("t", "mul", "x", "c"), step("u", "add", "t", "s"),
             step("out", "sum", "u")], grad=None),
    program("deep", "a chain 5000 nodes deep", "edge",
            {"x": leaf((3,)), "k_mul": const(value=1.0001), "k_add": const(value=0.001)}, _chain(5000)),
    # Probes, worth no points, for naming mistakes: x * x tells "overwrites instead of summing"
    # from "wrong order"; each core method alone tells a wrong rule from a wrong traversal.
    program("square", "x * x", "probe", {"x": leaf((N, C))}, [step("out", "mul", "x", "x")]),
    *[program(f"op.{method}", f"{method} alone", "probe", leaves, [step("out", op, *args, **kw)])
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
             "onehot": {"shape": [N, C], "dist": "onehot", "kind": "array", "requires_grad": False}},
            [step("t1", "matmul", "X", "W1"), step("t2", "add", "t1", "b1"), step("t3", "tanh", "t2"),
             step("t4", "matmul", "t3", "W2"), step("t5", "log_softmax", "t4", axis=1),
             step("t6", "mul", "t5", "onehot"), step("t7", "mean", "t6"), step("out", "neg", "t7")],
            grad=None),
]
