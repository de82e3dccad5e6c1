"""Hidden checks for autograd: graph programs run with the learner's Tensor and with torch.

A program is data: leaves (tensors, constants), steps (target, op, args, kwargs) and an
output, plus the grad handed to backward. One interpreter (`run_steps`) runs it: in the
worker with the learner's Tensor, on the trusted side in PyTorch (the reference) and in
NumPy (a dry run for shapes); `show` prints a step as code. A numerical-gradient check
re-runs the learner's forward with each leaf element moved.
"""
from __future__ import annotations

import operator

import numpy as np

from bpdrill import compare
from bpdrill.diagnose import Mistake, broadcast_not_undone, close, learner_frames, same_values_other_shape
from bpdrill.driving import perturbed_outputs, snapshot
from bpdrill.i18n import register, t
from bpdrill.judge import Check, Failed, compare_arrays
from bpdrill.protocol import Scenario

register({
    "raised {kind}": "抛出了 {kind}",
    "raised {kind} inside NumPy, which handled the operation itself and never called Tensor.{method}: "
    "define it, and set __array_ufunc__ = None in Tensor so NumPy defers to it":
        "在 NumPy 内部抛出了 {kind}：NumPy 自己处理了这个运算，从未调用 Tensor.{method}。请定义它，"
        "并在 Tensor 中设置 __array_ufunc__ = None，让 NumPy 交给它处理",
    "did not give a Tensor (NumPy handled it element by element: set __array_ufunc__ = None in Tensor)":
        "没有得到 Tensor（NumPy 逐个元素处理了它：在 Tensor 中设置 __array_ufunc__ = None）",
    "gives a wrong value or gradient": "给出了错误的值或梯度",
    "every operation alone, x * x and the diamond are right; only graphs where a gradient passed to two "
    "parents is later added to are wrong":
        "每个运算单独都对，x * x 和菱形图也对；只有传给两个父节点的梯度之后又被累加的图是错的",
    "({code}).grad is None after backward: backward adds into .grad of every tensor that requires grad, "
    "intermediate results too":
        "backward 之后 ({code}).grad 是 None：backward 要累加到每个需要梯度的张量的 .grad 上，中间结果也不例外",
    "the output": "输出",
})

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


def program(name, title, kind, leaves, steps, grad="random", backward_calls=1, points=1, title_zh=""):
    return {"name": name, "title": title, "kind": kind, "points": points, "leaves": leaves,
            "steps": steps, "output": steps[-1][0], "grad": grad, "backward_calls": backward_calls,
            "title_zh": title_zh}


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
            {"x": leaf((N, C), "kinks")}, [step("out", "relu", "x")],
            title_zh="x.relu()，包含恰好为 0 的元素（在 0 处导数为 0）"),
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
             step("c", "exp", "x"), step("u", "add", "s", "c"), step("out", "sum", "u")], grad=None,
            title_zh="((x.exp() + x.tanh()) + x.exp()).sum()：两个节点共用一个梯度"),
    program("alias_reuse", "a = x.exp(); (a + x.tanh()) + a: a shared gradient added to again",
            "edge", {"x": leaf((N, C))},
            [step("a", "exp", "x"), step("b", "tanh", "x"), step("s", "add", "a", "b"),
             step("out", "add", "s", "a")],
            title_zh="a = x.exp(); (a + x.tanh()) + a：共用的梯度之后又被累加"),
    program("sum_square", "x.sum(axis=1) of a square x", "edge", {"x": leaf((C, C))},
            [step("out", "sum", "x", axis=1)]),
    program("nonscalar", "backward(grad) of a (N, M) output: (x @ w).tanh()", "edge",
            {"x": leaf((N, 5)), "w": leaf((5, 2))},
            [step("m", "matmul", "x", "w"), step("out", "tanh", "m")]),
    program("accumulate", "two backward() calls add up", "edge", {"x": leaf((N, C))},
            [step("y", "mul", "x", "x"), step("out", "sum", "y")], grad=None, backward_calls=2),
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


def _draw(rng, spec):
    shape, dist = tuple(spec["shape"]), spec["dist"]
    if dist == "value":
        return np.array(spec["value"])
    if dist == "positive":
        return rng.uniform(0.5, 2.0, size=shape)
    if dist == "away":  # away from 0, where relu and 1/x have their kinks and poles
        return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 2.0, size=shape)
    if dist == "kinks":  # normal, with exact zeros where relu has its kink, in every seed
        x = rng.normal(size=shape)
        x.reshape(-1)[:: 3] = 0.0
        return x
    if dist == "integer":
        return rng.integers(-3, 4, size=shape).astype(np.float64)
    if dist == "onehot":
        return np.eye(shape[1])[rng.integers(0, shape[1], size=shape[0])]
    return rng.normal(size=shape)


def _output_shape(prog, arrays) -> tuple:
    """The output's shape, from a NumPy dry run of the program (no learner code involved)."""
    env = run_steps(prog, {name: arrays[f"leaf.{name}"] for name in prog["leaves"]}, numpy_method)
    return np.shape(env[prog["output"]])


def scenarios(rng) -> list[Scenario]:
    result = []
    for prog in PROGRAMS:
        arrays = {f"leaf.{name}": _draw(rng, spec) for name, spec in prog["leaves"].items()}
        if prog["grad"] == "random":
            arrays["grad"] = rng.normal(size=_output_shape(prog, arrays))
        result.append(Scenario(prog["name"], "program", arrays, {"program": prog}))
        if prog["kind"] == "numgrad":
            result.append(Scenario(prog["name"] + ".perturb", "perturb", arrays,
                                   {"program": prog, "h": compare.H}))
    return result


def _structure(ev, check: Check, prog: dict, ref: dict) -> None:
    """Every step gives a Tensor, requires_grad as in PyTorch, data in float64."""
    for name, *_ in prog["steps"]:
        v = ev.value(check.scenario, f"is_tensor.{name}")
        if not v.value:
            raise Failed(t("`{code}` did not give a Tensor", code=show(prog, name)), target="output")
        v = ev.value(check.scenario, f"requires_grad.{name}")
        if v.value != ref["requires_grad"][name]:
            raise Failed(t("`{code}`.requires_grad is {got}, expected {expected} (a result requires grad "
                           "when any input does)", code=show(prog, name), got=v.value,
                           expected=ref["requires_grad"][name]),
                         target="grad", mistake=("no_requires_grad_propagation",
                                                 t("requires_grad does not follow the inputs: a result "
                                                   "must require grad exactly when one of its inputs does")))
    for name, spec in prog["leaves"].items():
        if spec["kind"] in ("tensor", "int_tensor"):
            dtype = ev.value(check.scenario, f"data_dtype.{name}").value
            if dtype != "float64":
                raise Failed(t("Tensor({name}).data is {dtype}, expected float64", name=name, dtype=dtype),
                             target="grad")


def _leaf_grads(ev, check, prog, expected_of) -> None:
    for name, spec in prog["leaves"].items():
        if spec["kind"] not in ("tensor", "int_tensor"):
            continue
        v = ev.value(check.scenario, f"grad.{name}")
        if not spec["requires_grad"]:
            if v.kind != "none":
                raise Failed(t("{name}.grad: a constant (requires_grad=False) must keep grad None, "
                               "got {got}", name=name, got=v.describe()), target="grad")
            continue
        if v.kind == "none":
            failure = Failed(t("{name}.grad is None after backward: the gradient never reached it", name=name),
                             target="grad")
            failure.never_reached = True  # for the diagnosis, whatever the language of the message
            raise failure
        got = ev.array(check.scenario, f"grad.{name}", f"{name}.grad")
        _compare(f"{name}.grad", got, expected_of(name), check.kind)


def _compare(name, got, expected, kind):
    try:
        compare_arrays(name, got, expected, "numgrad" if kind == "numgrad" else "torch")
    except Failed as failure:
        failure.target = "grad"
        raise


def run_program_check(ev, check: Check) -> None:
    prog = ev.params(check.scenario)["program"]
    ref = ev.reference(check.scenario)
    _structure(ev, check, prog, ref)
    if check.kind == "numgrad":
        perturb = check.scenario + ".perturb"
        values = ev.values(perturb)
        grad = ev.inputs(check.scenario).get("grad")
        out_shape = ref["output"].shape
        project = compare.weighted_sum(np.ones(out_shape) if grad is None else grad)

        def expected_of(name):
            plus, minus = values[f"plus.{name}"], values[f"minus.{name}"]
            if plus.kind != "array" or minus.kind != "array":
                raise Failed(t("the forward pass did not return numbers for {name}", name=name), target="output")
            return compare.numerical_gradient(plus.array, minus.array,
                                              ev.inputs(perturb)[f"leaf.{name}"].shape, project)
    else:
        def expected_of(name):
            return ref["grads"][name]
    _leaf_grads(ev, check, prog, expected_of)
    _step_grads(ev, check, prog, ref)
    output = ev.array(check.scenario, "output", t("the output"))
    _compare(show(prog, prog["output"]), output, ref["output"], "torch")


def _step_grads(ev, check, prog, ref) -> None:
    """Intermediate results get their .grad too (SPEC: every tensor that requires grad)."""
    for name, expected in ref.get("step_grads", {}).items():
        key = f"grad.step.{name}"
        if key not in ev.values(check.scenario):
            continue
        v = ev.value(check.scenario, key)
        code = show(prog, name)
        if v.kind == "none":
            raise Failed(t("({code}).grad is None after backward: backward adds into .grad of every "
                           "tensor that requires grad, intermediate results too", code=code), target="grad")
        got = ev.array(check.scenario, key, f"({code}).grad")
        _compare(f"({code}).grad", got, expected, "torch")


CHECKS = [Check(f"program.{p['name']}", p["kind"], "grad", p["points"], p["name"], run_program_check,
                p["title"], p.get("title_zh", "")) for p in PROGRAMS if p["kind"] != "probe"]


# ---- the worker's side: run a program with the learner's Tensor ---------------------------

def _learner_env(Tensor, program: dict, leaves: dict) -> dict:
    env = {}
    for name, spec in program["leaves"].items():
        data = leaves[name]
        if spec["kind"] == "tensor":
            env[name] = Tensor(data, requires_grad=spec["requires_grad"])
        elif spec["kind"] == "int_tensor":
            env[name] = Tensor(data.astype(np.int64), requires_grad=spec["requires_grad"])
        elif spec["kind"] == "array":
            env[name] = data
        else:  # a Python number
            env[name] = float(data)
    return env


def run_learner(Tensor, program: dict, leaves: dict):
    """(env, output) of the program run with the learner's Tensor."""
    env = run_steps(program, _learner_env(Tensor, program, leaves), learner_method)
    return env, env[program["output"]]


def drive(module, s: Scenario) -> dict:
    Tensor = module.Tensor
    program = s.params["program"]
    leaves = {name: s[f"leaf.{name}"] for name in program["leaves"]}
    if s.mode == "perturb":
        def forward():  # reads the leaf arrays, which perturbed_outputs moves in place
            return run_learner(Tensor, program, leaves)[1].data

        out = {}
        for name, spec in program["leaves"].items():
            if spec.get("requires_grad"):
                out[f"plus.{name}"], out[f"minus.{name}"] = perturbed_outputs(forward, leaves[name], s.params["h"])
        return out
    env, output = run_learner(Tensor, program, leaves)
    grad = s["grad"] if "grad" in s else None
    if not isinstance(output, Tensor):  # judged as "did not give a Tensor", not as a crash here
        out = {f"is_tensor.{target}": isinstance(env[target], Tensor) for target, *_ in program["steps"]}
        out.update({f"requires_grad.{target}": bool(getattr(env[target], "requires_grad", False))
                    for target, *_ in program["steps"]})
        return out
    for _ in range(program.get("backward_calls", 1)):
        output.backward() if grad is None else output.backward(grad)
    out = {"output": snapshot(getattr(output, "data", None))}
    for name, spec in program["leaves"].items():
        if spec["kind"] in ("tensor", "int_tensor"):
            out[f"grad.{name}"] = snapshot(env[name].grad)
            out[f"data_dtype.{name}"] = str(getattr(env[name].data, "dtype", type(env[name].data).__name__))
    for target, *_ in program["steps"]:
        value = env[target]
        out[f"is_tensor.{target}"] = isinstance(value, Tensor)
        out[f"requires_grad.{target}"] = bool(getattr(value, "requires_grad", False))
        if len(program["steps"]) <= MAX_CHECKED_STEPS:
            out[f"grad.step.{target}"] = snapshot(getattr(value, "grad", None))
    return out


# ---- the trusted side: the same program in PyTorch ------------------------------------------

def reference(ref, s: Scenario) -> dict:
    """Output, leaf gradients and requires_grad of every step, computed by PyTorch."""
    program = s.params["program"]
    env, leaves = {}, {}
    for name, spec in program["leaves"].items():
        data = s.arrays[f"leaf.{name}"]
        if spec["kind"] in ("tensor", "int_tensor"):
            env[name] = leaves[name] = ref.leaf(data, spec["requires_grad"])
        elif spec["kind"] == "array":
            env[name] = ref.leaf(data, False)
        else:
            env[name] = float(data)
    env = run_steps(program, env, torch_method(ref.torch))
    steps = [target for target, *_ in program["steps"]] if len(program["steps"]) <= MAX_CHECKED_STEPS else []
    for target in steps:
        if env[target].requires_grad:
            env[target].retain_grad()  # SPEC: backward adds into .grad of every tensor, not only leaves
    output = env[program["output"]]
    grad = ref.leaf(s.arrays["grad"], False) if "grad" in s.arrays else None
    calls = program.get("backward_calls", 1)
    for i in range(calls):
        output.backward(grad, retain_graph=i < calls - 1)
    return {
        "output": ref.numpy(output),
        "grads": {name: ref.numpy(x.grad) for name, x in leaves.items() if x.requires_grad},
        "requires_grad": {target: bool(env[target].requires_grad) for target, *_ in program["steps"]},
        "step_grads": {target: ref.numpy(env[target].grad) for target in steps
                       if env[target].requires_grad and env[target].grad is not None},
    }


# ---- diagnosis: patterns across programs -------------------------------------------------

# The core method behind each op: derived ops (-, /, mean ...) run on the core ones.
CORE = {"add": {"__add__"}, "sub": {"__add__", "__mul__"}, "neg": {"__mul__"}, "mul": {"__mul__"},
        "div": {"__mul__", "__pow__"}, "pow": {"__pow__"}, "matmul": {"__matmul__"}, "sum": {"sum"},
        "mean": {"sum", "__mul__"}, "exp": {"exp"}, "log": {"log"}, "relu": {"relu"},
        "sigmoid": {"sigmoid"}, "tanh": {"tanh"}, "log_softmax": {"log_softmax"},
        "reshape": {"reshape"}, "T": {"transpose"}, "transpose": {"transpose"}}
BY_SCENARIO = {p["name"]: p for p in PROGRAMS}


# the core rules a reflected operator is usually written with (2 - x = 2 + (-1) * x ...)
REFLECTED_BASE = {"__radd__": ("__add__",), "__rsub__": ("__add__", "__mul__"), "__rmul__": ("__mul__",),
                  "__rtruediv__": ("__mul__", "__pow__"), "__rmatmul__": ("__matmul__",)}
REFLECTED = {"add": "__radd__", "sub": "__rsub__", "mul": "__rmul__", "div": "__rtruediv__",
             "matmul": "__rmatmul__"}


def _reflected(prog, op, args) -> str | None:
    """'__rsub__' for a step `2 - x` (a constant, number or ndarray, on the left), else None."""
    first = args[0] if args else None
    if op in REFLECTED and isinstance(first, str) and \
            prog["leaves"].get(first, {}).get("kind") in ("number", "array"):
        return REFLECTED[op]
    return None


def _core_ops(prog) -> set:
    return set().union(*(CORE[op] for _, op, _, _ in prog["steps"]))


def _reflected_ops(prog) -> set:
    return {r for _, op, args, _ in prog["steps"] if (r := _reflected(prog, op, args))}


def where(probe) -> str:
    """A check on one operation is about that operation's rule; others, the traversal."""
    prog = BY_SCENARIO.get(probe.check.scenario)
    ops = _core_ops(prog) if prog else set()
    return f"Tensor.{ops.pop()}" if len(ops) == 1 else "Tensor.backward"


def _rule_right(p, method: str) -> bool | None:
    """Is the learner's backward rule of Tensor.<method>, probed alone, right? None: unknown."""
    scenario = f"op.{method}"
    if scenario not in p.ev.scenarios or p.error(scenario):
        return None
    if method in REFLECTED.values():
        got, ref_out = p.learner(scenario, "output"), p.reference(scenario)["output"]
        if got is None or not close(got, ref_out):
            return False
    ref = p.reference(scenario)["grads"]
    for leaf_name, expected in ref.items():
        got = p.learner(scenario, f"grad.{leaf_name}")
        if got is None or not close(got, expected):
            return False
    return True


def _wrong_rules(p, prog) -> list:
    return sorted(m for m in _core_ops(prog) if _rule_right(p, m) is False)


def sizes(ev, scenario) -> dict:
    return {}


def _learner_grad(p, scenario, leaf="x"):
    return p.learner(scenario, f"grad.{leaf}")


def _square_ratio(p):
    """The learner's x.grad for x * x over the right one (1 when right, 0.5 when overwritten)."""
    got, ref = _learner_grad(p, "square"), p.reference("square")["grads"]["x"]
    if got is None or got.shape != ref.shape:
        return None
    return float(np.vdot(got, ref) / np.vdot(ref, ref))


def _reuses(prog) -> bool:
    """Does the program use some tensor more than once (x * x, a diamond, a second backward)?"""
    used = [a for _, _, args, _ in prog["steps"] for a in args if isinstance(a, str)]
    return len(used) != len(set(used)) or prog.get("backward_calls", 1) > 1


def _overwrite(p):
    prog = BY_SCENARIO.get(p.check.scenario)
    if prog is None or prog["kind"] == "probe" or not _reuses(prog):
        return None
    ratio = _square_ratio(p)
    if ratio is not None and abs(ratio - 0.5) < 1e-6:
        return {"evidence": t("for y = x * x, x.grad is x * grad instead of 2 * x * grad")}
    return None


def _diamond_partial(p) -> bool:
    """The learner's x.grad on the diamond holds the gradient along one path only: a node passed
    its gradient on before every use had added to it (the fingerprint of a wrong order)."""
    got = p.learner("diamond", "grad.x")
    inputs = p.ev.inputs("diamond")
    x, grad = inputs["leaf.x"], inputs["grad"]
    a = np.exp(x)
    b = np.tanh(a)
    c = 0.5 * (1 + np.tanh(0.5 * b))
    d = np.exp(c)
    direct, longer = grad * d * a, grad * a * d * c * (1 - c) * (1 - b**2) * a
    return got is not None and (close(got, direct) or close(got, longer))


def _order(p):
    if p.check.scenario not in ("diamond", "reuse") or not _diamond_partial(p):
        return None
    ratio = _square_ratio(p)
    prog = BY_SCENARIO[p.check.scenario]
    if ratio is not None and abs(ratio - 1) < 1e-9 and all(_rule_right(p, m) for m in _core_ops(prog)):
        return {"evidence": t("x * x and every operation on its own are right, a diamond with paths "
                              "of different lengths is not")}
    return None


def _never_reached(p):
    if p.check.scenario == "add" and getattr(p.failure, "never_reached", False):
        return {"evidence": t("even for a + b, a.grad stays None")}
    return None


def _recursive(p):
    error = p.error(p.scenario)
    if p.check.scenario == "deep" and error and error["type"] == "RecursionError":
        return {"evidence": t("a 5000-node chain exceeded Python's recursion limit")}
    return None


def _assigned(p):
    if p.check.scenario != "accumulate" or p.got is None or p.expected is None:
        return None
    if _square_ratio(p) is None or abs(_square_ratio(p) - 1) > 1e-9:
        return None  # x * x is already wrong: a different mistake halves it
    if close(p.got, p.expected / 2):
        return {"evidence": t("after two backward() calls, x.grad holds one call's gradient")}
    return None


def _dropped(p):
    grad = p.inputs.get("grad")
    if grad is None or p.got is None:
        return None
    leaf = (p.label or "").split(".")[0]
    ones = p.reference_with(grad=np.ones_like(grad))["grads"].get(leaf)
    if ones is not None and close(p.got, ones) and not close(p.expected, ones):
        return {"evidence": t("{label} equals the gradient for backward(grad) with grad of ones", label=p.label)}
    return None


def _suspect_rule(p):
    prog = BY_SCENARIO.get(p.check.scenario)
    if prog is None:
        return None
    if _rule_right(p, "__add__") is False and _rule_right(p, "__mul__") is False:
        return None  # even the simplest rules fail alone: the traversal, not one rule
    suspects = _wrong_rules(p, prog)
    if 1 <= len(suspects) <= 2:
        methods = t(" and ").join(f"Tensor.{m}" for m in suspects)
        return {"method": suspects[0], "methods": methods,
                "evidence": t("on its own, {methods} already gives a wrong gradient", methods=methods)}
    return None



def _reflected_wrong(p):
    """A program with a constant on the left fails, and that reflected operator alone is wrong."""
    prog = BY_SCENARIO.get(p.check.scenario)
    if prog is None:
        return None
    for method in sorted(_reflected_ops(prog)):
        scenario = f"op.{method}"
        probe = BY_SCENARIO[scenario]
        code = show(probe, "out")
        error = p.error(scenario)
        base = REFLECTED_BASE[method]
        if error and learner_frames(error) and any(p.error(f"op.{m}") for m in base):
            continue  # the operation itself fails, with a constant on either side: not this one's fault
        if error:
            if learner_frames(error):
                what = t("raised {kind}", kind=error["type"])
            else:  # raised in NumPy: the Tensor was never asked
                what = t("raised {kind} inside NumPy, which handled the operation itself and never "
                         "called Tensor.{method}: define it, and set __array_ufunc__ = None in Tensor so "
                         "NumPy defers to it", kind=error["type"], method=method)
        elif not p.ev.value(scenario, "is_tensor.out").value:
            what = t("did not give a Tensor (NumPy handled it element by element: set "
                     "__array_ufunc__ = None in Tensor)")
        elif _rule_right(p, method) is False and all(_rule_right(p, m) for m in base):
            what = t("gives a wrong value or gradient")  # while the rules it is built on are right
        else:
            continue
        return {"method": method, "code": code, "what": what}
    return None


def _alias(p):
    """Shared gradient arrays corrupted by an in-place add: only the programs where a shared
    gradient is added to again fail; rules alone, x * x and diamonds are right."""
    if p.check.scenario not in ("alias", "alias_reuse"):
        return None
    ratio = _square_ratio(p)
    prog = BY_SCENARIO[p.check.scenario]
    if ratio is None or abs(ratio - 1) > 1e-9 or not all(_rule_right(p, m) for m in _core_ops(prog)):
        return None
    if not p.passed("program.diamond") or not p.passed("program.reuse"):
        return None
    # the fingerprint: the gradient shared by a and b was doubled in place by a's second use
    # before b read it, so x.grad = 2 * grad * (exp(x) + 1 - tanh(x)**2)
    inputs = p.inputs
    x = inputs["leaf.x"]
    grad = inputs.get("grad", np.ones_like(x))
    if p.got is None or not close(p.got, 2 * grad * (np.exp(x) + 1 - np.tanh(x) ** 2)):
        return None
    return {"evidence": t("every operation alone, x * x and the diamond are right; only graphs where "
                          "a gradient passed to two parents is later added to are wrong")}


def _not_reset(p):
    """Intermediate results' .grad used as the running sum and never reset between calls: the
    second backward() sends the first call's gradient on again (x.grad 1.5x or 2x too large)."""
    if p.check.scenario != "accumulate" or p.got is None or p.expected is None:
        return None
    ratio = _square_ratio(p)
    if ratio is None or abs(ratio - 1) > 1e-9:
        return None
    for c in (1.5, 2.0):
        if close(p.got, c * p.expected):
            return {"c": f"{c:g}"}
    return None


MISTAKES = [
    Mistake("recursive_traversal", "the traversal is recursive: {evidence}. Walk the graph with an "
            "explicit stack", _recursive),
    Mistake("traversal_order", "the traversal never delivers gradients to the leaves: {evidence}. "
            "Visit nodes from the output back to the leaves (reverse topological order)",
            _never_reached),
    Mistake("keepdims", "{label} lost its size-1 axes: the values are right but the shape is not; "
            "sum with keepdims=True over axes where the input had size 1",
            same_values_other_shape, where="unbroadcast"),
    Mistake("no_unbroadcast", "broadcasting was not undone: {label} has the broadcast shape; sum "
            "the gradient down to the input's shape (unbroadcast)",
            broadcast_not_undone, where="unbroadcast"),
    Mistake("overwrite_not_accumulate", "a node used more than once keeps only its last "
            "gradient: {evidence}. Sum the contributions into a new array "
            "(grads[parent] = grads[parent] + g), do not overwrite", _overwrite,
            says_zh="被多次使用的节点只保留了最后一个梯度：{evidence}。把各路贡献加到一个新数组里"
                    "（grads[parent] = grads[parent] + g），不要覆盖"),
    Mistake("gradient_aliased", "one gradient array is shared by two nodes (a rule such as "
            "`return grad, grad`) and an in-place add (grads[p] += g) changed both: {evidence}. "
            "Add into a new array: grads[p] = grads[p] + g", _alias, where="Tensor.backward",
            says_zh="同一个梯度数组被两个节点共用（例如规则 `return grad, grad`），而原地相加"
                    "（grads[p] += g）同时改变了两者：{evidence}。相加时生成新数组：grads[p] = grads[p] + g"),
    Mistake("intermediate_grads_not_reset", "after two backward() calls x.grad is {c}x the right "
            "one: the intermediate results keep their .grad from the first call and the second call "
            "passes it on again. Propagate each call's own gradient (a dict local to backward), "
            "not the accumulated .grad", _not_reset, where="Tensor.backward",
            says_zh="调用两次 backward() 之后，x.grad 是正确值的 {c} 倍：中间结果保留了第一次调用的 .grad，"
                    "第二次调用又把它传了下去。只传播本次调用自己的梯度（用 backward 里的局部字典），"
                    "而不是累积的 .grad"),
    Mistake("wrong_reflected_operator", "with a constant on the left, `{code}` alone {what}: "
            "Tensor.{method} is wrong or missing", _reflected_wrong,
            where=lambda p: f"Tensor.{(_reflected_wrong(p) or {}).get('method', 'backward')}",
            says_zh="常量在左边时，单独的 `{code}` {what}：Tensor.{method} 写错了或缺失"),
    Mistake("grad_assigned_not_added", ".grad was overwritten, not accumulated: {evidence}. "
            "Add into an existing .grad (gradients accumulate as in PyTorch)", _assigned),
    Mistake("traversal_order", "nodes were visited in the wrong order: {evidence}. A node must "
            "pass its gradient on only after every use has added to it: process nodes in reverse "
            "topological order", _order),
    Mistake("dropped_upstream", "the upstream gradient was dropped: {evidence}. Chain it: multiply "
            "the local derivative by grad", _dropped),
    Mistake("wrong_backward_rule", "the backward rule of {methods} looks wrong: {evidence}",
            _suspect_rule, where=lambda p: f"Tensor.{(_suspect_rule(p) or {}).get('method', 'backward')}"),
]
