"""Hidden checks for value: scalar graph programs run with the learner's Value and with PyTorch
float64 by the engine kind (bpdrill.kinds.engine). Numbers in a step are Python numbers, so
`2 - x` calls __rsub__; a program's outputs are each given their own backward() in turn.
Probes (no points) run each operation alone and x * x, to name the mistake behind a failure."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, close
from bpdrill.core.judge import Check, Failed
from bpdrill.i18n import t
from bpdrill.kinds import engine
from bpdrill.kinds.engine import PROBE, chain, show, step as S

DEEP = 10_000


def program(name, kind, title, dists: dict, steps, **options):
    """A program over scalar leaves, each drawn from its dists entry; backward() takes no grad."""
    leaves = {leaf: engine.leaf((), dist, kind="scalar") for leaf, dist in dists.items()}
    return engine.program(name, title, kind, leaves, steps, grad=None, **options)


PROGRAMS = [
    program("add_mul", "torch", "a * b + c * a + b", {"a": "n", "b": "n", "c": "n"},
            [S("p", "mul", "a", "b"), S("q", "mul", "c", "a"), S("r", "add", "p", "q"), S("out", "add", "r", "b")]),
    program("sub_neg_div", "numgrad", "-((a - b) / c) - a", {"a": "n", "b": "n", "c": "away"},
            [S("d", "sub", "a", "b"), S("e", "div", "d", "c"), S("f", "neg", "e"), S("out", "sub", "f", "a")]),
    program("pow", "numgrad", "a ** 3 + b ** -0.5 + b ** 2.5", {"a": "n", "b": "positive"},
            [S("p", "pow", "a", 3), S("q", "pow", "b", -0.5), S("r", "pow", "b", 2.5), S("s", "add", "p", "q"),
             S("out", "add", "s", "r")]),
    program("exp_log_tanh", "numgrad", "a.exp() * b.log() + c.tanh()", {"a": "n", "b": "positive", "c": "n"},
            [S("e", "exp", "a"), S("l", "log", "b"), S("m", "mul", "e", "l"), S("h", "tanh", "c"),
             S("out", "add", "m", "h")]),
    program("relu", "torch", "relu of 0.0 (the derivative at 0 is 0), of a positive and of a negative",
            {"z": "zero", "a": "positive", "n": "negative", "w": "n"},
            [S("r", "relu", "z"), S("s", "relu", "a"), S("u", "relu", "n"), S("v", "add", "r", "s"),
             S("x", "add", "v", "u"), S("out", "mul", "x", "w")]),
    program("left_numbers", "torch", "(1 + a) * (2 - b) + 3 / a + 0.5 * b: numbers on the left",
            {"a": "away", "b": "n"},
            [S("p", "add", 1.0, "a"), S("q", "sub", 2.0, "b"), S("r", "mul", "p", "q"), S("s", "div", 3.0, "a"),
             S("u", "mul", 0.5, "b"), S("v", "add", "r", "s"), S("out", "add", "v", "u")]),
    program("neuron", "numgrad", "two tanh neurons and a tanh output (micrograd's MLP)",
            {"x1": "n", "x2": "n", "w1": "n", "w2": "n", "w3": "n", "w4": "n", "v1": "n", "v2": "n", "b": "n"},
            [S("a1", "mul", "x1", "w1"), S("a2", "mul", "x2", "w2"), S("a", "add", "a1", "a2"), S("ab", "add", "a", "b"),
             S("n1", "tanh", "ab"), S("c1", "mul", "x1", "w3"), S("c2", "mul", "x2", "w4"), S("c", "add", "c1", "c2"),
             S("n2", "tanh", "c"), S("o1", "mul", "n1", "v1"), S("o2", "mul", "n2", "v2"), S("o", "add", "o1", "o2"),
             S("out", "tanh", "o")], points=2),
    program("reuse", "edge", "(x * x + x) * x: a Value used several times", {"x": "n"},
            [S("y", "mul", "x", "x"), S("z", "add", "y", "x"), S("out", "mul", "z", "x")]),
    program("diamond", "edge", "a = x.exp(); a * a.tanh().exp(): paths of different lengths", {"x": "n"},
            [S("a", "exp", "x"), S("b", "tanh", "a"), S("c", "exp", "b"), S("out", "mul", "a", "c")]),
    program("accumulate", "edge", "backward() of two graphs on the same leaves: the leaves' .grad add up",
            {"x": "n", "y": "n"}, [S("p", "mul", "x", "y"), S("o1", "add", "p", "x"), S("q", "mul", "x", "x"),
                                   S("r", "tanh", "q"), S("o2", "add", "r", "y")], outputs=["o1", "o2"]),
    program("deep", "edge", f"a chain {DEEP:,} nodes deep (no recursion limit)", {"x": "n"}, chain(DEEP, 1.0001, 0.001)),
    # Probes, worth no points: x * x, and each operation alone, times 1.7 so that its rule
    # receives an upstream gradient other than 1 (a dropped out.grad shows).
    program("square", PROBE, "x * x", {"x": "n"}, [S("out", "mul", "x", "x")]),
    *[program(f"op.{m}", PROBE, code, leaves, [S("r", op, *args), S("out", "mul", "r", 1.7)])
      for m, op, args, leaves, code in [
        ("__add__", "add", ("a", "b"), {"a": "n", "b": "n"}, "a + b"),
        ("__mul__", "mul", ("a", "b"), {"a": "n", "b": "n"}, "a * b"),
        ("__pow__", "pow", ("a", 3), {"a": "n"}, "a ** 3"), ("tanh", "tanh", ("a",), {"a": "n"}, "a.tanh()"),
        ("relu", "relu", ("a",), {"a": "positive"}, "a.relu()"), ("exp", "exp", ("a",), {"a": "n"}, "a.exp()"),
        ("log", "log", ("a",), {"a": "positive"}, "a.log()"), ("__neg__", "neg", ("a",), {"a": "n"}, "-a"),
        ("__rsub__", "sub", (2.0, "a"), {"a": "n"}, "2 - a"),
        ("__rtruediv__", "div", (2.0, "a"), {"a": "away"}, "2 / a")]],
]


# The core methods each op's backward runs on: derived ops (-, /) run on the core ones.
CORE = {"add": ("__add__",), "sub": ("__add__",), "mul": ("__mul__",), "div": ("__mul__", "__pow__"),
        "neg": ("__mul__",), "pow": ("__pow__",), "tanh": ("tanh",), "relu": ("relu",), "exp": ("exp",),
        "log": ("log",)}
SPEC = engine.Engine("Value", tuple(PROGRAMS), CORE)


def draw(rng, leaf):
    x = {"positive": lambda: rng.uniform(0.5, 2.0), "negative": lambda: -rng.uniform(0.5, 2.0),
         "away": lambda: rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 2.0), "zero": lambda: 0.0,
         "n": lambda: rng.normal()}[leaf["dist"]]()
    return np.array(float(x))


def _grad(ev, scenario, key, node):
    v = ev.value(scenario, key)
    if v.kind != "scalar" and not (v.kind == "array" and v.array.shape == ()):
        raise Failed(t("{name}.grad is not a number after backward: {got}", name=node, got=v.describe()),
                     target="grad")
    return ev.array(scenario, key, f"{node}.grad")


def run_program(ev, check: Check) -> None:
    scenario, leaves = check.scenario, list(SPEC.by_name[check.scenario]["leaves"])
    ref = ev.reference(scenario)
    if check.kind == "numgrad":  # one gradient vector over every leaf: a lone tiny .grad is all rounding
        expected = np.array([engine.numerical(ev, check, n) for n in leaves])
        got = np.array([_grad(ev, scenario, f"grad.{n}", n) for n in leaves])
        engine.compare(t("the leaves' .grad ({names})", names=", ".join(leaves)), got, expected, "numgrad")
    else:
        for name in leaves:
            engine.compare(f"{name}.grad", _grad(ev, scenario, f"grad.{name}", name), ref["grads"][name], "torch")
    engine.step_grads(ev, check, SPEC.by_name[scenario], _grad)
    engine.compare(t("the output"), ev.array(scenario, "output", t("the output")), ref["output"], "torch")


CHECKS = engine.checks(SPEC, run_program)


# ---- known mistakes: the failed program compared with the probes -----------------------------

def _probe_right(p, method: str) -> bool | None:
    """Is Value.<method>, probed alone, right? None: no such probe."""
    scenario = f"op.{method}"
    if scenario not in p.ev.scenarios:
        return None
    return not p.error(scenario) and engine.grads_match(p, scenario, output=True)


def _grad_of(p, scenario, leaf):
    g = p.learner(scenario, f"grad.{leaf}")
    return None if g is None else float(g)


def _probe_matches(p, method, wrong):
    """The probe of Value.<method> gives a.grad = 1.7 * wrong(a) (a rule written as `wrong`)."""
    a = float(p.ev.inputs(f"op.{method}")["leaf.a"])
    got = _grad_of(p, f"op.{method}", "a")
    return got is not None and close(got, 1.7 * wrong(a)) and _probe_right(p, method) is False


def _uses(p, method) -> bool:
    prog = SPEC.by_name.get(p.check.scenario)
    return prog is not None and method in engine.core_ops(SPEC, prog)


def _recursive(p):
    error = p.error(p.scenario)
    if p.check.scenario == "deep" and error and error["type"] == "RecursionError":
        return {"evidence": t("a chain of {n} nodes exceeded Python's recursion limit", n=f"{DEEP:,}")}
    return None


def _overwritten(p):
    ratio = engine.square_ratio(p)
    if p.check.scenario in ("reuse", "diamond", "accumulate", "neuron", "add_mul") and ratio is not None \
            and abs(ratio - 0.5) < 1e-9:
        return {"evidence": t("for y = x * x, x.grad is x instead of 2 * x")}
    return None


def _replaced(p):
    if p.check.scenario != "accumulate" or engine.square_ratio(p) is None or abs(engine.square_ratio(p) - 1) > 1e-9:
        return None
    x, y = (float(p.inputs[f"leaf.{n}"]) for n in "xy")
    second = {"x": (1 - np.tanh(x * x) ** 2) * 2 * x, "y": 1.0}  # the second graph's gradients alone
    if all(_grad_of(p, "accumulate", n) is not None and close(_grad_of(p, "accumulate", n), g)
           for n, g in second.items()):
        return {"evidence": t("after backward() of a second graph, x.grad and y.grad hold only its gradient")}
    return None


def _reflected(p):
    if p.check.scenario != "left_numbers" or not all(_probe_right(p, m) for m in ("__add__", "__mul__", "__pow__")):
        return None
    for method, code in (("__rsub__", "2 - a"), ("__rtruediv__", "2 / a")):
        if _probe_right(p, method) is False:
            return {"method": method, "code": code}
    return None


def _order(p):
    if p.check.scenario == "diamond" and engine.square_ratio(p) is not None and abs(engine.square_ratio(p) - 1) < 1e-9 \
            and all(_probe_right(p, m) for m in engine.core_ops(SPEC, SPEC.by_name["diamond"])):
        return {"evidence": t("x * x and every operation on its own are right, a diamond with paths "
                              "of different lengths is not")}
    return None


def _relu_at_zero(p):
    if p.check.scenario == "relu" and _probe_right(p, "relu"):
        z, w = _grad_of(p, "relu", "z"), float(p.inputs["leaf.w"])
        if z is not None and close(z, w) and w != 0:
            return {"evidence": t("relu(0.0) passed the gradient on (z.grad = {z:.6g})", z=z)}
    return None


def _suspect(p):
    prog = SPEC.by_name.get(p.check.scenario)
    suspects = [m for m in engine.core_ops(SPEC, prog) if _probe_right(p, m) is False] if prog else []
    if suspects and not (len(suspects) > 2 and "__mul__" not in suspects):
        method = "__mul__" if "__mul__" in suspects else suspects[0]  # every probe ends in * 1.7
        code = show(SPEC.by_name[f"op.{method}"], "r")
        return {"method": method, "evidence": t("on its own, {code} already gives a wrong gradient", code=code)}
    return None


def _rule(method, wrong, evidence):
    return lambda p: _uses(p, method) and _probe_matches(p, method, wrong) and {"evidence": t(evidence)}


MISTAKES = [
    Mistake("recursive_traversal", "the traversal is recursive: {evidence}. Walk the graph with an "
            "explicit stack", _recursive, where="Value.backward"),
    Mistake("overwrite_not_accumulate", "a Value used more than once keeps only its last share: {evidence}. "
            "Add into .grad in every closure (self.grad += ...), never assign", _overwritten,
            where="Value.__mul__"),
    Mistake("grad_assigned_not_added", ".grad was overwritten, not accumulated: {evidence}. Add into an "
            "existing .grad (gradients accumulate as in PyTorch)", _replaced, where="Value.backward"),
    Mistake("wrong_reflected_operator", "with a number on the left, `{code}` alone gives a wrong value or "
            "gradient: Value.{method} is wrong", _reflected,
            where=lambda p: f"Value.{(_reflected(p) or {}).get('method', '__rsub__')}"),
    Mistake("pow_missing_exponent", "the derivative of x ** p lacks the factor p: {evidence}. "
            "d(x ** p)/dx = p * x ** (p - 1)", _rule("__pow__", lambda a: a**2, "for a ** 3, a.grad is a ** 2"),
            where="Value.__pow__"),
    Mistake("derivative_on_preactivation", "tanh's derivative was taken at its input: {evidence}. "
            "Use the output t = tanh(x): 1 - t ** 2",
            _rule("tanh", lambda a: 1 - a * a, "for a.tanh(), a.grad is 1 - a ** 2"), where="Value.tanh"),
    Mistake("mask_includes_zero", "relu passed the gradient at exactly 0: {evidence}. PyTorch takes the "
            "derivative at 0 as 0: use data > 0, not >= 0", _relu_at_zero, where="Value.relu"),
    Mistake("traversal_order", "nodes were visited in the wrong order: {evidence}. A node must "
            "pass its gradient on only after every use has added to it: process nodes in reverse "
            "topological order", _order, where="Value.backward"),
    Mistake("wrong_backward_rule", "the backward rule of Value.{method} looks wrong: {evidence}", _suspect,
            where=lambda p: f"Value.{(_suspect(p) or {}).get('method', 'backward')}"),
]
