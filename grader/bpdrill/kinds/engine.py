"""The engine kind: a reverse-mode autodiff engine the learner writes (autograd's Tensor over
arrays, value's scalar Value), graded by graph programs run through the learner's engine and
through PyTorch.

A program is data: leaves (`leaf`, `const`), steps (`step`: target, op, args, kwargs; `steps`
writes them as code), the outputs (each given backward() in turn, backward_calls times) and
the grad handed to backward. One spec (`Engine`) says what is particular to an exercise: its class, its
programs and the core methods each op's backward runs on. This module owns the rest, once
for both engines:

- one interpreter (`run_steps`) for the learner's class (`learner_method`), PyTorch
  (`torch_method`) and NumPy for shapes (`numpy_method`); `show` prints a step as code;
- the scenarios (`standard`), the worker's side (`drive`), the trusted side (`reference`);
- a check per program (`checks`, ids program.<name>), judged by the exercise's own function
  with `judge` (the leaves', the steps' .grad and the output) and `compare`;
- what the mistakes are written with: `core_ops`, `grads_match` (a probe's gradients),
  `square_ratio_is` (x * x), `reuses`, `overwrote`, `recursed`, `where` and `method_named`
  (the method at fault), `at_traversal_loop` (the loop that orders the _backward calls), and
  the sentences of the lifecycle mistakes (`SAYS`, `mistake`).

Keys of the raw results: output; grad.<leaf>, grad_type.<leaf>, data_dtype.<leaf>; for each
step is_tensor.<step>, requires_grad.<step> and grad.step.<step> (programs up to
MAX_CHECKED_STEPS long); caller_grad; plus.<leaf> and minus.<leaf> in a perturb scenario.
"""
from __future__ import annotations

import ast
import functools
import operator
from dataclasses import dataclass
from typing import Callable

import numpy as np

from bpdrill.core import compare as numeric
from bpdrill.core.diagnose import Mistake, close
from bpdrill.core.driving import perturbed_outputs, snapshot
from bpdrill.core.judge import Check, Failed, compare_arrays
from bpdrill.core.places import loop_calling
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t

MAX_CHECKED_STEPS = 50  # intermediate results' .grad is checked in programs up to this long
ENGINE_LEAVES = ("tensor", "int_tensor", "scalar")  # leaves that are the learner's objects
PROBE = "probe"  # the kind of a program worth no points, run only to name mistakes
SQUARE, DEEP = "square", "deep"  # the programs x * x (a probe) and a chain too deep to recurse


def leaf(shape, dist="normal", kind="tensor", requires_grad=True):
    """An input of the learner's class: tensor, int_tensor (integer data) or scalar (a number)."""
    return {"shape": list(shape), "dist": dist, "kind": kind,
            "requires_grad": requires_grad and kind in ENGINE_LEAVES}


def const(shape=None, value=None, dist="normal"):
    """A constant: an ndarray of shape, or the Python number value."""
    if value is not None:
        return {"shape": [], "dist": "value", "value": value, "kind": "number", "requires_grad": False}
    return {"shape": list(shape), "dist": dist, "kind": "array", "requires_grad": False}


def step(target, op, *args, **kwargs):
    return [target, op, list(args), kwargs]


BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.MatMult: "matmul",
          ast.Pow: "pow"}


def steps(*lines: str) -> list:
    """Steps written as code, one operation a line: "y = x * w", "s = 2.0 - x", "n = -y",
    "t = x.T", "u = x.sum(axis=0)", "r = x.reshape(3, 4)" (numbers stay Python numbers)."""
    def operand(node):
        return node.id if isinstance(node, ast.Name) else ast.literal_eval(node)

    result = []
    for line in lines:
        assign = ast.parse(line).body[0]
        target, value = assign.targets[0].id, assign.value
        if isinstance(value, ast.BinOp):
            result.append(step(target, BINARY[type(value.op)], operand(value.left), operand(value.right)))
        elif isinstance(value, ast.UnaryOp):
            result.append(step(target, "neg", operand(value.operand)))
        elif isinstance(value, ast.Attribute):
            result.append(step(target, value.attr, operand(value.value)))
        elif value.func.attr == "reshape":
            result.append(step(target, "reshape", value.func.value.id,
                               shape=[ast.literal_eval(a) for a in value.args]))
        else:
            result.append(step(target, value.func.attr, value.func.value.id,
                               **{k.arg: ast.literal_eval(k.value) for k in value.keywords}))
    return result


def program(name, title, kind, leaves, steps, outputs=None, grad="random", backward_calls=1, points=1,
            steps_checked=True):
    """grad: "random" (drawn in the output's shape) or None (backward()); steps_checked: the
    intermediate results' .grad (where held) are checked too."""
    return {"name": name, "title": title, "kind": kind, "points": points, "leaves": leaves,
            "steps": steps, "outputs": outputs or [steps[-1][0]], "grad": grad,
            "backward_calls": backward_calls, "steps_checked": steps_checked}


def probe_of(method: str) -> str:
    """The name of the probe program that runs one method of the learner's class alone."""
    return f"op.{method}"


def check_id(name: str) -> str:
    return f"program.{name}"


def chain(length, times, plus):
    """h = x, then `length` alternating h * times and h + plus: a graph `length` nodes deep."""
    return [step(f"h{i}", "mul" if i % 2 == 0 else "add", f"h{i - 1}" if i else "x",
                 times if i % 2 == 0 else plus) for i in range(length)]


@dataclass(frozen=True)
class Engine:
    cls: str  # the learner's class
    programs: tuple
    core: dict  # op -> the learner's methods its backward runs on (derived ops on the core ones)

    @functools.cached_property
    def by_name(self) -> dict:
        return {p["name"]: p for p in self.programs}


# ---- one interpreter for programs -------------------------------------------------------

# Steps written with Python's own operators run alike on the learner's objects, torch tensors
# and NumPy arrays; each entry: (how the step reads as code, what it does).
OPERATORS = {
    "add": ("{0} + {1}", operator.add), "sub": ("{0} - {1}", operator.sub),
    "mul": ("{0} * {1}", operator.mul), "div": ("{0} / {1}", operator.truediv),
    "matmul": ("{0} @ {1}", operator.matmul), "neg": ("-{0}", operator.neg),
    "pow": ("{0} ** {1}", operator.pow), "T": ("{0}.T", lambda a: a.T),
}


def run_steps(program: dict, env: dict, method) -> dict:
    """Run the program's steps over env (leaf name -> value); method(a, op, kwargs) runs a
    step that is a method (sum, exp, log_softmax, reshape ...) on one backend."""
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


def checked_steps(prog) -> list:
    """The steps whose .grad is looked at: all of a program up to MAX_CHECKED_STEPS long."""
    return [target for target, *_ in prog["steps"]] if len(prog["steps"]) <= MAX_CHECKED_STEPS else []


# ---- scenarios, the worker's side, the trusted side ----------------------------------------

def standard(spec: Engine, draw: Callable, rng) -> list[Scenario]:
    """Each program's leaves drawn by draw(rng, leaf) (and its grad), plus the same leaves for
    the perturbed forwards of a numgrad program."""
    result = []
    for prog in spec.programs:
        arrays = {f"leaf.{name}": draw(rng, leaf_spec) for name, leaf_spec in prog["leaves"].items()}
        if prog["grad"] == "random":
            env = run_steps(prog, {name: arrays[f"leaf.{name}"] for name in prog["leaves"]}, numpy_method)
            arrays["grad"] = rng.normal(size=np.shape(env[prog["outputs"][0]]))
        result.append(Scenario(prog["name"], "program", arrays, {"program": prog["name"]}))
        if prog["kind"] == "numgrad":
            result.append(Scenario(prog["name"] + ".perturb", "perturb", arrays,
                                   {"program": prog["name"], "h": numeric.H}))
    return result


def _learner_env(cls, prog: dict, leaves: dict) -> dict:
    env = {}
    for name, leaf_spec in prog["leaves"].items():
        data, kind = leaves[name], leaf_spec["kind"]
        if kind == "tensor":
            env[name] = cls(data, requires_grad=leaf_spec["requires_grad"])
        elif kind == "int_tensor":
            env[name] = cls(data.astype(np.int64), requires_grad=leaf_spec["requires_grad"])
        elif kind == "scalar":
            env[name] = cls(float(data))
        else:  # a constant: an ndarray, or a Python number
            env[name] = data if kind == "array" else float(data)
    return run_steps(prog, env, learner_method)


def drive(spec: Engine, module, s: Scenario) -> dict:
    cls = getattr(module, spec.cls)
    prog = spec.by_name[s.params["program"]]
    leaves = {name: s[f"leaf.{name}"] for name in prog["leaves"]}
    targets = [target for target, *_ in prog["steps"]]
    if s.mode == "perturb":
        def forward():  # reads the leaf arrays, which perturbed_outputs moves in place
            return _learner_env(cls, prog, leaves)[prog["outputs"][0]].data

        out = {}
        for name, leaf_spec in prog["leaves"].items():
            if leaf_spec["requires_grad"]:
                out[f"plus.{name}"], out[f"minus.{name}"] = perturbed_outputs(forward, leaves[name],
                                                                              s.params["h"])
        return out
    env = _learner_env(cls, prog, leaves)
    out = {f"is_tensor.{target}": isinstance(env[target], cls) for target in targets}
    out.update({f"requires_grad.{target}": bool(getattr(env[target], "requires_grad", False))
                for target in targets})
    if not all(isinstance(env[name], cls) for name in prog["outputs"]):
        return out  # judged as "did not give a Tensor", not as a crash here
    grad = s["grad"] if "grad" in s else None
    for name in prog["outputs"]:
        for _ in range(prog["backward_calls"]):
            env[name].backward() if grad is None else env[name].backward(grad)
    out["output"] = snapshot(getattr(env[prog["outputs"][-1]], "data", None))
    if grad is not None:
        out["caller_grad"] = grad  # as the caller's array is now, after every backward
    for name, leaf_spec in prog["leaves"].items():
        if leaf_spec["kind"] in ENGINE_LEAVES:
            g = env[name].grad
            out[f"grad.{name}"] = snapshot(g)
            out[f"grad_type.{name}"] = f"{type(g).__module__}.{type(g).__name__}"
            out[f"data_dtype.{name}"] = str(getattr(env[name].data, "dtype", type(env[name].data).__name__))
    for target in checked_steps(prog):
        out[f"grad.step.{target}"] = snapshot(getattr(env[target], "grad", None))
    return out


def reference(spec: Engine, ref, s: Scenario) -> dict:
    """Output, leaf gradients, requires_grad and (retained) .grad of every step, by PyTorch."""
    prog = spec.by_name[s.params["program"]]
    env, leaves = {}, {}
    for name, leaf_spec in prog["leaves"].items():
        data, kind = s.arrays[f"leaf.{name}"], leaf_spec["kind"]
        if kind == "number":
            env[name] = float(data)
        else:
            env[name] = ref.leaf(data, leaf_spec["requires_grad"])
            if kind in ENGINE_LEAVES:
                leaves[name] = env[name]
    env = run_steps(prog, env, torch_method(ref.torch))
    checked = checked_steps(prog)
    for target in checked:
        if env[target].requires_grad:
            env[target].retain_grad()  # SPEC: backward adds into .grad of every node, not only leaves
    grad = ref.leaf(s.arrays["grad"], False) if "grad" in s.arrays else None
    calls = prog["backward_calls"]
    for name in prog["outputs"]:
        for i in range(calls):
            env[name].backward(grad, retain_graph=i < calls - 1)
    return {
        "output": ref.numpy(env[prog["outputs"][-1]]),
        "grads": {name: ref.numpy(x.grad) for name, x in leaves.items() if x.requires_grad},
        "requires_grad": {target: bool(env[target].requires_grad) for target, *_ in prog["steps"]},
        "step_grads": {target: ref.numpy(env[target].grad) for target in checked
                       if env[target].requires_grad and env[target].grad is not None},
    }


# ---- the checks: one a program, judged by the exercise's run(ev, check) ---------------------

def checks(spec: Engine, run: Callable) -> list[Check]:
    return [Check(check_id(p["name"]), p["kind"], "grad", p["points"], p["name"], run, p["title"])
            for p in spec.programs if p["kind"] != PROBE]


def compare(name, got, expected, kind) -> None:
    """compare_arrays, a failure about the gradients (numgrad tolerance for a numgrad check)."""
    try:
        compare_arrays(name, got, expected, "numgrad" if kind == "numgrad" else "torch")
    except Failed as failure:
        failure.target = "grad"
        raise


def numerical(ev, check: Check, name: str) -> np.ndarray:
    """d(sum(output * grad))/d(leaf name) by central differences of the learner's forward."""
    perturb = check.scenario + ".perturb"
    values = ev.values(perturb)
    plus, minus = values[f"plus.{name}"], values[f"minus.{name}"]
    if plus.kind != "array" or minus.kind != "array":
        raise Failed(t("the forward pass did not return numbers for {name}", name=name), target="output")
    grad = ev.inputs(check.scenario).get("grad")
    output_shape = ev.reference(check.scenario)["output"].shape
    project = numeric.weighted_sum(np.ones(output_shape) if grad is None else grad)
    return numeric.numerical_gradient(plus.array, minus.array, ev.inputs(perturb)[f"leaf.{name}"].shape,
                                      project)


def judge(ev, check: Check, prog: dict, read_leaf: Callable, read_step: Callable, output: str,
          together: bool = False) -> None:
    """The leaves' .grad against PyTorch's, or for a numgrad check against central differences
    (together: as one vector over every leaf, where a lone tiny .grad is all rounding); then the
    steps' .grad (step_grads, where the program checks them) and the output, named output.
    read_leaf(ev, scenario, key, leaf) gives the learner's leaf.grad, None to pass it over."""
    scenario, ref = check.scenario, ev.reference(check.scenario)
    names = [name for name, leaf_spec in prog["leaves"].items() if leaf_spec["kind"] in ENGINE_LEAVES]
    if together and check.kind == "numgrad":
        expected = np.array([numerical(ev, check, name) for name in names])
        got = np.array([read_leaf(ev, scenario, f"grad.{name}", name) for name in names])
        compare(t("the leaves' .grad ({names})", names=", ".join(names)), got, expected, "numgrad")
    else:
        for name in names:
            got = read_leaf(ev, scenario, f"grad.{name}", name)
            if got is not None:
                expected = numerical(ev, check, name) if check.kind == "numgrad" else ref["grads"][name]
                compare(f"{name}.grad", got, expected, check.kind)
    if prog["steps_checked"]:
        step_grads(ev, check, prog, read_step)
    compare(output, ev.array(scenario, "output", t("the output")), ref["output"], "torch")


def step_grads(ev, check: Check, prog: dict, read: Callable) -> None:
    """Each checked step's .grad against PyTorch's; read(ev, scenario, key, node) gives the
    learner's node.grad, or None where it may be left out."""
    # .get: a kept reference has no empty dicts (a program too long to check its steps has none)
    for target, expected in ev.reference(check.scenario).get("step_grads", {}).items():
        node = f"({show(prog, target)})"
        got = read(ev, check.scenario, f"grad.step.{target}", node)
        if got is not None:
            compare(f"{node}.grad", got, expected, "torch")


# ---- what the mistakes are written with -----------------------------------------------------

def core_ops(spec: Engine, prog) -> list:
    """The learner's core methods the program's backward runs on, sorted."""
    return sorted(set().union(*(spec.core[op] for _, op, _, _ in prog["steps"])))


def grads_match(p, scenario: str, output: bool) -> bool:
    """Are the learner's leaf gradients of scenario (and its output, if asked) PyTorch's?"""
    ref = p.reference(scenario)
    pairs = [(p.learner(scenario, f"grad.{name}"), want) for name, want in ref["grads"].items()]
    if output:
        pairs.append((p.learner(scenario, "output"), ref["output"]))
    return all(got is not None and close(got, want) for got, want in pairs)


def reuses(prog) -> bool:
    """Does the program use some node more than once (x * x, a diamond, a second backward)?"""
    used = [a for _, _, args, _ in prog["steps"] for a in args if isinstance(a, str)]
    return len(used) != len(set(used)) or prog["backward_calls"] > 1


def square_ratio_is(p, ratio: float, tolerance: float = 1e-9) -> bool:
    """Is the learner's x.grad for x * x (the probe SQUARE) ratio times the right one? 1 when
    right, 0.5 when one use overwrote the other."""
    got, ref = p.learner(SQUARE, "grad.x"), p.reference(SQUARE)["grads"]["x"]
    if got is None or got.shape != ref.shape or not np.vdot(ref, ref):
        return False
    return abs(float(np.vdot(got, ref) / np.vdot(ref, ref)) - ratio) < tolerance


def overwrote(spec: Engine, p) -> bool:
    """Did a program that uses a node more than once fail, with x * x giving half the gradient
    (one use's share overwrote the other's)?"""
    prog = spec.by_name.get(p.check.scenario)
    return prog is not None and prog["kind"] != PROBE and reuses(prog) and square_ratio_is(p, 0.5, 1e-6)


def recursed(p) -> bool:
    """Did the deep program raise RecursionError?"""
    error = p.error(p.scenario)
    return p.check.scenario == DEEP and bool(error) and error["type"] == "RecursionError"


def where(spec: Engine):
    """A check on one operation is about that operation's rule; others, the traversal."""
    def place(probe) -> str:
        prog = spec.by_name.get(probe.check.scenario)
        ops = core_ops(spec, prog) if prog else []
        return f"{spec.cls}.{ops[0]}" if len(ops) == 1 else f"{spec.cls}.backward"
    return place


def method_named(spec: Engine, test: Callable, default: str):
    """where= for a mistake whose evidence names the method at fault ({"method": ...})."""
    return lambda p: f"{spec.cls}.{(test(p) or {}).get('method', default)}"


# The engine's lifecycle mistakes, said alike for every engine; each exercise tests for them
# in its own way (its programs differ) and says its own evidence.
TRAVERSAL_ORDER = "traversal_order"
SAYS = {
    "recursive_traversal": "the traversal is recursive: {evidence}. Walk the graph with an explicit stack",
    "grad_assigned_not_added": ".grad was overwritten, not accumulated: {evidence}. Add into an existing "
                               ".grad (gradients accumulate as in PyTorch)",
    TRAVERSAL_ORDER: "nodes were visited in the wrong order: {evidence}. A node must pass its gradient on "
                       "only after every use has added to it: process nodes in reverse topological order",
}
ORDER_EVIDENCE = ("x * x and every operation on its own are right, a diamond with paths of different "
                  "lengths is not")


def at_traversal_loop(p, spec: Engine, evidence: dict) -> dict:
    """evidence placed at the loop of spec's backward that calls each node's _backward (where the
    order of the calls is decided), when the learner's file has one."""
    line = loop_calling(p.ev.learner_file, f"{spec.cls}.backward", "_backward")
    return {**evidence, "at_line": line} if line else evidence


def mistake(name: str, test: Callable, **options) -> Mistake:
    """One of the lifecycle mistakes in SAYS, recognised by the exercise's test."""
    return Mistake(name, SAYS[name], test, **options)


MISTAKES: list = []  # the lifecycle mistakes above come from each exercise's own tests
