"""Hidden checks for value: scalar graph programs run with the learner's Value and with PyTorch by
the engine kind. Numbers in a step are Python numbers (`2 - x` calls __rsub__); each output gets
its own backward(). Probes (no points) run each operation alone and x * x, to name mistakes."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, close
from bpdrill.core.judge import Check, Failed
from bpdrill.i18n import t
from bpdrill.kinds import engine
from bpdrill.kinds.engine import DEEP, PROBE, SQUARE, chain, probe_of, show, steps

LENGTH = 10_000  # of the deep chain
RELU, LEFT_NUMBERS, DIAMOND, ACCUMULATE = "relu", "left_numbers", "diamond", "accumulate"


def program(name, kind, title, dists: dict, steps, **options):
    """A program over scalar leaves, each drawn from its dists entry; backward() takes no grad."""
    leaves = {leaf: engine.leaf((), dist, kind="scalar") for leaf, dist in dists.items()}
    return engine.program(name, title, kind, leaves, steps, grad=None, **options)


PROGRAMS = [
    program("add_mul", "torch", "a * b + c * a + b", {"a": "n", "b": "n", "c": "n"},
            steps("p = a * b", "q = c * a", "r = p + q", "out = r + b")),
    program("sub_neg_div", "numgrad", "-((a - b) / c) - a", {"a": "n", "b": "n", "c": "away"},
            steps("d = a - b", "e = d / c", "f = -e", "out = f - a")),
    program("pow", "numgrad", "a ** 3 + b ** -0.5 + b ** 2.5", {"a": "n", "b": "positive"},
            steps("p = a ** 3", "q = b ** -0.5", "r = b ** 2.5", "s = p + q", "out = s + r")),
    program("exp_log_tanh", "numgrad", "a.exp() * b.log() + c.tanh()", {"a": "n", "b": "positive", "c": "n"},
            steps("e = a.exp()", "l = b.log()", "m = e * l", "h = c.tanh()", "out = m + h")),
    program(RELU, "torch", "relu of 0.0 (the derivative at 0 is 0), of a positive and of a negative",
            {"z": "zero", "a": "positive", "n": "negative", "w": "n"},
            steps("r = z.relu()", "s = a.relu()", "u = n.relu()", "v = r + s", "x = v + u", "out = x * w")),
    program(LEFT_NUMBERS, "torch", "(1 + a) * (2 - b) + 3 / a + 0.5 * b: numbers on the left",
            {"a": "away", "b": "n"},
            steps("p = 1.0 + a", "q = 2.0 - b", "r = p * q", "s = 3.0 / a", "u = 0.5 * b", "v = r + s",
                  "out = v + u")),
    program("neuron", "numgrad", "two tanh neurons and a tanh output (micrograd's MLP)",
            dict.fromkeys(("x1", "x2", "w1", "w2", "w3", "w4", "v1", "v2", "b"), "n"),
            steps("a1 = x1 * w1", "a2 = x2 * w2", "a = a1 + a2", "ab = a + b", "n1 = ab.tanh()",
                  "c1 = x1 * w3", "c2 = x2 * w4", "c = c1 + c2", "n2 = c.tanh()",
                  "o1 = n1 * v1", "o2 = n2 * v2", "o = o1 + o2", "out = o.tanh()"), points=2),
    program("reuse", "edge", "(x * x + x) * x: a Value used several times", {"x": "n"},
            steps("y = x * x", "z = y + x", "out = z * x")),
    program(DIAMOND, "edge", "a = x.exp(); a * a.tanh().exp(): paths of different lengths", {"x": "n"},
            steps("a = x.exp()", "b = a.tanh()", "c = b.exp()", "out = a * c")),
    program(ACCUMULATE, "edge", "backward() of two graphs on the same leaves: the leaves' .grad add up",
            {"x": "n", "y": "n"}, steps("p = x * y", "o1 = p + x", "q = x * x", "r = q.tanh()", "o2 = r + y"),
            outputs=["o1", "o2"]),
    program(DEEP, "edge", f"a chain {LENGTH:,} nodes deep (no recursion limit)", {"x": "n"},
            chain(LENGTH, 1.0001, 0.001)),
    # Probes, worth no points: x * x, and each operation alone, times 1.7 so that its rule
    # receives an upstream gradient other than 1 (a dropped out.grad shows).
    program(SQUARE, PROBE, "x * x", {"x": "n"}, steps("out = x * x")),
    *[program(probe_of(method), PROBE, code, {"a": dist, "b": "n"} if "b" in code else {"a": dist},
              steps(f"r = {code}", "out = r * 1.7"))
      for method, code, dist in [
          ("__add__", "a + b", "n"), ("__mul__", "a * b", "n"), ("__pow__", "a ** 3", "n"),
          ("tanh", "a.tanh()", "n"), ("relu", "a.relu()", "positive"), ("exp", "a.exp()", "n"),
          ("log", "a.log()", "positive"), ("__neg__", "-a", "n"), ("__rsub__", "2 - a", "n"),
          ("__rtruediv__", "2 / a", "away")]],
]
# The core methods each op's backward runs on: derived ops (-, /) run on the core ones.
CORE = {"add": ("__add__",), "sub": ("__add__",), "mul": ("__mul__",), "div": ("__mul__", "__pow__"),
        "neg": ("__mul__",), "pow": ("__pow__",), **{op: (op,) for op in ("tanh", "relu", "exp", "log")}}
SPEC = engine.Engine("Value", tuple(PROGRAMS), CORE)
BY_NAME = SPEC.by_name


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
    engine.judge(ev, check, BY_NAME[check.scenario], _grad, _grad, t("the output"), together=True)


CHECKS = engine.checks(SPEC, run_program)


# ---- known mistakes: the failed program compared with the probes -----------------------------

def _probe_right(p, method: str) -> bool | None:
    """Is Value.<method>, probed alone, right? None: no such probe."""
    if probe_of(method) not in p.ev.scenarios:
        return None
    return not p.error(probe_of(method)) and engine.grads_match(p, probe_of(method), output=True)


def _rule(method, wrong, evidence):
    """A test: a program on Value.<method> failed, and its probe gives a.grad = 1.7 * wrong(a)."""
    def test(p):
        prog, a = BY_NAME.get(p.check.scenario), p.ev.inputs(probe_of(method))["leaf.a"]
        got = p.learner(probe_of(method), "grad.a")
        return prog is not None and method in engine.core_ops(SPEC, prog) and got is not None and \
            close(got, 1.7 * wrong(a)) and _probe_right(p, method) is False and {"evidence": t(evidence)}
    return test


def _recursive(p):
    return engine.recursed(p) and {"evidence": t("a chain of {n} nodes exceeded Python's recursion limit",
                                                 n=f"{LENGTH:,}")}


def _overwritten(p):
    return engine.overwrote(SPEC, p) and {"evidence": t("for y = x * x, x.grad is x instead of 2 * x")}


def _replaced(p):
    if p.check.scenario != ACCUMULATE or not engine.square_ratio_is(p, 1):
        return None
    x = p.inputs["leaf.x"]
    second = {"x": (1 - np.tanh(x * x) ** 2) * 2 * x, "y": 1.0}  # the second graph's gradients alone
    got = {n: p.learner(ACCUMULATE, f"grad.{n}") for n in second}
    if all(got[n] is not None and close(got[n], g) for n, g in second.items()):
        return {"evidence": t("after backward() of a second graph, x.grad and y.grad hold only its "
                              "gradient")}
    return None


def _reflected(p):
    """Numbers on the left give wrong gradients while the core rules are right: a reflected one."""
    core = engine.core_ops(SPEC, BY_NAME[LEFT_NUMBERS])
    if p.check.scenario != LEFT_NUMBERS or not all(_probe_right(p, m) for m in core):
        return None
    for method in ("__rsub__", "__rtruediv__"):
        if _probe_right(p, method) is False:
            return {"method": method, "code": BY_NAME[probe_of(method)]["title"]}
    return None


def _order(p):
    if p.check.scenario == DIAMOND and engine.square_ratio_is(p, 1) \
            and all(_probe_right(p, m) for m in engine.core_ops(SPEC, BY_NAME[DIAMOND])):
        return {"evidence": t(engine.ORDER_EVIDENCE)}
    return None


def _leaves_first(p):
    """_backward run from the leaves up: x * x alone is right (its one node runs last either way),
    but an operation followed by * 1.7 leaves a.grad at 0 (its node ran before it had a gradient)."""
    if p.error(SQUARE) or not engine.grads_match(p, SQUARE, output=True):
        return None
    got = [p.learner(probe_of(m), "grad.a") for m in ("__add__", "__mul__")]
    if all(g is not None and float(g) == 0.0 for g in got):
        return engine.at_traversal_loop(p, SPEC, {"evidence": t(
            "x * x alone is right, but in a + b and a * b followed by * 1.7, a.grad stays 0: each node's "
            "_backward ran before any gradient reached it")})
    return None


def _relu_at_zero(p):
    if p.check.scenario == RELU and _probe_right(p, "relu"):
        z, w = p.learner(RELU, "grad.z"), p.inputs["leaf.w"]
        if z is not None and close(z, w) and w != 0:
            return {"evidence": t("relu(0.0) passed the gradient on (z.grad = {z:.6g})", z=z)}
    return None


def _suspect(p):
    prog = BY_NAME.get(p.check.scenario)
    suspects = [m for m in engine.core_ops(SPEC, prog) if _probe_right(p, m) is False] if prog else []
    if suspects and not (len(suspects) > 2 and "__mul__" not in suspects):
        method = "__mul__" if "__mul__" in suspects else suspects[0]  # every probe ends in * 1.7
        return {"method": method, "evidence": t("on its own, {code} already gives a wrong gradient",
                                                code=show(BY_NAME[probe_of(method)], "r"))}
    return None


MISTAKES = [
    engine.mistake("recursive_traversal", _recursive, where="Value.backward"),
    Mistake("overwrite_not_accumulate", "a Value used more than once keeps only its last share: {evidence}. "
            "Add into .grad in every closure (self.grad += ...), never assign", _overwritten,
            where="Value.__mul__"),
    engine.mistake("grad_assigned_not_added", _replaced, where="Value.backward"),
    Mistake("wrong_reflected_operator", "with a number on the left, `{code}` alone gives a wrong value or "
            "gradient: Value.{method} is wrong", _reflected,
            where=engine.method_named(SPEC, _reflected, "__rsub__")),
    Mistake("pow_missing_exponent", "the derivative of x ** p lacks the factor p: {evidence}. "
            "d(x ** p)/dx = p * x ** (p - 1)",
            _rule("__pow__", lambda a: a**2, "for a ** 3, a.grad is a ** 2"), where="Value.__pow__"),
    Mistake("derivative_on_preactivation", "tanh's derivative was taken at its input: {evidence}. "
            "Use the output t = tanh(x): 1 - t ** 2",
            _rule("tanh", lambda a: 1 - a * a, "for a.tanh(), a.grad is 1 - a ** 2"), where="Value.tanh"),
    Mistake("mask_includes_zero", "relu passed the gradient at exactly 0: {evidence}. PyTorch takes the "
            "derivative at 0 as 0: use data > 0, not >= 0", _relu_at_zero, where="Value.relu"),
    engine.mistake(engine.TRAVERSAL_ORDER, _order, where="Value.backward"),
    engine.mistake(engine.TRAVERSAL_ORDER, _leaves_first, where="Value.backward"),
    Mistake("wrong_backward_rule", "the backward rule of Value.{method} looks wrong: {evidence}", _suspect,
            where=engine.method_named(SPEC, _suspect, "backward")),
]
