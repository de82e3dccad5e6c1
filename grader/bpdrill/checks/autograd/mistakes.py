"""Autograd's known mistakes: a failed program compared with the others, each probed with the
learner's Tensor: each core method alone (a wrong rule), x * x (overwritten instead of summed),
a diamond (a wrong order), a constant on the left (a reflected operator) ..."""
from __future__ import annotations

import numpy as np

from bpdrill.checks.autograd.programs import SPEC
from bpdrill.core.diagnose import Mistake, broadcast_not_undone, close, learner_frames, same_values_other_shape
from bpdrill.i18n import t
from bpdrill.kinds.engine import PROBE, core_ops, grads_match, show, square_ratio

# the core rules a reflected operator is usually written with (2 - x = 2 + (-1) * x ...)
REFLECTED_BASE = {"__radd__": ("__add__",), "__rsub__": ("__add__", "__mul__"), "__rmul__": ("__mul__",),
                  "__rtruediv__": ("__mul__", "__pow__"), "__rmatmul__": ("__matmul__",)}
REFLECTED = {"add": "__radd__", "sub": "__rsub__", "mul": "__rmul__", "div": "__rtruediv__",
             "matmul": "__rmatmul__"}


def _program(p):
    """The failed check's program, None for a probe (worth no points)."""
    return SPEC.by_name.get(p.check.scenario)


def _reflected_ops(prog) -> set:
    """'__rsub__' for each step `2 - x` (a constant, number or ndarray, on the left)."""
    return {REFLECTED[op] for _, op, args, _ in prog["steps"]
            if op in REFLECTED and isinstance(args[0], str) and prog["leaves"].get(args[0], {}).get("kind")
            in ("number", "array")}


def _rule_right(p, method: str) -> bool | None:
    """Is the learner's backward rule of Tensor.<method>, probed alone, right? None: unknown."""
    scenario = f"op.{method}"
    if scenario not in p.ev.scenarios or p.error(scenario):
        return None
    return grads_match(p, scenario, output=method in REFLECTED.values())


def _all_rules_right(p, prog) -> bool:
    return all(_rule_right(p, m) for m in core_ops(SPEC, prog))


def _reuses(prog) -> bool:
    """Does the program use some tensor more than once (x * x, a diamond, a second backward)?"""
    used = [a for _, _, args, _ in prog["steps"] for a in args if isinstance(a, str)]
    return len(used) != len(set(used)) or prog.get("backward_calls", 1) > 1


def _overwrite(p):
    prog = _program(p)
    if prog is None or prog["kind"] == PROBE or not _reuses(prog):
        return None
    ratio = square_ratio(p)
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
    ratio = square_ratio(p)
    if ratio is not None and abs(ratio - 1) < 1e-9 and _all_rules_right(p, _program(p)):
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
    if p.check.scenario not in ("accumulate", "apart") or p.got is None or p.expected is None:
        return None
    if p.check.scenario == "accumulate" and (square_ratio(p) is None or abs(square_ratio(p) - 1) > 1e-9):
        return None  # x * x is already wrong: a different mistake halves it
    if p.check.scenario == "apart":  # claimed where the plain two-call program shows it too
        got, ref = p.learner("accumulate", "grad.x"), p.reference("accumulate")["grads"].get("x")
        if got is None or ref is None or not close(got, ref / 2):
            return None
    if close(p.got, p.expected / 2):
        return {"evidence": t("after two backward() calls, {label} holds one call's gradient", label=p.label)}
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
    prog = _program(p)
    if prog is None:
        return None
    if _rule_right(p, "__add__") is False and _rule_right(p, "__mul__") is False:
        return None  # even the simplest rules fail alone: the traversal, not one rule
    suspects = [m for m in core_ops(SPEC, prog) if _rule_right(p, m) is False]
    if 1 <= len(suspects) <= 2:
        methods = t(" and ").join(f"Tensor.{m}" for m in suspects)
        return {"method": suspects[0], "methods": methods,
                "evidence": t("on its own, {methods} already gives a wrong gradient", methods=methods)}
    return None


def _reflected_wrong(p):
    """A program with a constant on the left fails, and that reflected operator alone is wrong."""
    prog = _program(p)
    if prog is None:
        return None
    for method in sorted(_reflected_ops(prog)):
        scenario = f"op.{method}"
        code = show(SPEC.by_name[scenario], "out")
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
    ratio = square_ratio(p)
    if ratio is None or abs(ratio - 1) > 1e-9 or not _all_rules_right(p, _program(p)):
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
    ratio = square_ratio(p)
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
            "(grads[parent] = grads[parent] + g), do not overwrite", _overwrite),
    Mistake("gradient_aliased", "one gradient array is shared by two nodes (a rule such as "
            "`return grad, grad`) and an in-place add (grads[p] += g) changed both: {evidence}. "
            "Add into a new array: grads[p] = grads[p] + g", _alias, where="Tensor.backward"),
    Mistake("intermediate_grads_not_reset", "after two backward() calls x.grad is {c}x the right "
            "one: the intermediate results keep their .grad from the first call and the second call "
            "passes it on again. Propagate each call's own gradient (a dict local to backward), "
            "not the accumulated .grad", _not_reset, where="Tensor.backward"),
    Mistake("wrong_reflected_operator", "with a constant on the left, `{code}` alone {what}: "
            "Tensor.{method} is wrong or missing", _reflected_wrong,
            where=lambda p: f"Tensor.{(_reflected_wrong(p) or {}).get('method', 'backward')}"),
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
