"""Autograd's known mistakes: a failed program compared with the others, each probed with the
learner's Tensor: each core method alone (a wrong rule), x * x (overwritten instead of summed),
a diamond (a wrong order), a constant on the left (a reflected operator) ..."""
from __future__ import annotations

import numpy as np

from bpdrill.checks.autograd.programs import (
    ACCUMULATE, ADD, ALIAS, ALIAS_REUSE, APART, DIAMOND, REUSE, SPEC,
)
from bpdrill.core.diagnose import (
    Mistake, broadcast_not_undone, close, learner_frames, same_values_other_shape,
)
from bpdrill.i18n import t
from bpdrill.kinds.engine import (
    ORDER_EVIDENCE, TRAVERSAL_ORDER, at_traversal_loop, check_id, core_ops, grads_match, method_named, mistake,
    overwrote, probe_of, recursed, show, square_ratio_is,
)

ALIASED = "gradient_aliased"  # also said by the check itself, of the caller's grad array
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
    scenario = probe_of(method)
    if scenario not in p.ev.scenarios or p.error(scenario):
        return None
    return grads_match(p, scenario, output=method in REFLECTED.values())


def _all_rules_right(p, prog) -> bool:
    return all(_rule_right(p, m) for m in core_ops(SPEC, prog))


def _overwrite(p):
    return overwrote(SPEC, p) and {"evidence": t("for y = x * x, x.grad is x * grad instead of 2 * x * grad")}


def _diamond_partial(p) -> bool:
    """The learner's x.grad on the diamond holds the gradient along one path only: a node passed
    its gradient on before every use had added to it (the fingerprint of a wrong order)."""
    got, inputs = p.learner(DIAMOND, "grad.x"), p.ev.inputs(DIAMOND)
    x, grad = inputs["leaf.x"], inputs["grad"]
    a = np.exp(x)
    b = np.tanh(a)
    c = 0.5 * (1 + np.tanh(0.5 * b))  # sigmoid(b)
    d = np.exp(c)
    direct, longer = grad * d * a, grad * a * d * c * (1 - c) * (1 - b**2) * a
    return got is not None and (close(got, direct) or close(got, longer))


def _order(p):
    if p.check.scenario in (DIAMOND, REUSE) and _diamond_partial(p) and square_ratio_is(p, 1) \
            and _all_rules_right(p, _program(p)):
        return {"evidence": t(ORDER_EVIDENCE)}
    return None


def _never_reached(p):
    if p.check.scenario == ADD and getattr(p.failure, "never_reached", False):
        return at_traversal_loop(p, SPEC, {"evidence": t("even for a + b, a.grad stays None")})
    return None


def _recursive(p):
    return recursed(p) and {"evidence": t("a 5000-node chain exceeded Python's recursion limit")}


def _assigned(p):
    if p.check.scenario not in (ACCUMULATE, APART) or p.got is None or p.expected is None:
        return None
    if p.check.scenario == ACCUMULATE and not square_ratio_is(p, 1):
        return None  # x * x is already wrong: a different mistake halves it
    if p.check.scenario == APART:  # claimed where the plain two-call program shows it too
        got, ref = p.learner(ACCUMULATE, "grad.x"), p.reference(ACCUMULATE)["grads"].get("x")
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
        return {"evidence": t("{label} equals the gradient for backward(grad) with grad of ones",
                              label=p.label)}
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
        scenario = probe_of(method)
        code, error, base = show(SPEC.by_name[scenario], "out"), p.error(scenario), REFLECTED_BASE[method]
        if error and learner_frames(error) and any(p.error(probe_of(m)) for m in base):
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
    if p.check.scenario not in (ALIAS, ALIAS_REUSE) or not square_ratio_is(p, 1) \
            or not _all_rules_right(p, _program(p)) \
            or not all(p.passed(check_id(name)) for name in (DIAMOND, REUSE)):
        return None
    # the fingerprint: the gradient shared by a and b was doubled in place by a's second use
    # before b read it, so x.grad = 2 * grad * (exp(x) + 1 - tanh(x)**2)
    x = p.inputs["leaf.x"]
    grad = p.inputs.get("grad", np.ones_like(x))
    if p.got is None or not close(p.got, 2 * grad * (np.exp(x) + 1 - np.tanh(x) ** 2)):
        return None
    return {"evidence": t("every operation alone, x * x and the diamond are right; only graphs where "
                          "a gradient passed to two parents is later added to are wrong")}


def _not_reset(p):
    """Intermediate results' .grad used as the running sum and never reset between calls: the
    second backward() sends the first call's gradient on again (x.grad 1.5x or 2x too large)."""
    if p.check.scenario != ACCUMULATE or p.got is None or p.expected is None or not square_ratio_is(p, 1):
        return None
    for c in (1.5, 2.0):
        if close(p.got, c * p.expected):
            return {"c": f"{c:g}"}
    return None


MISTAKES = [
    mistake("recursive_traversal", _recursive),
    Mistake(TRAVERSAL_ORDER, "the traversal never delivers gradients to the leaves: {evidence}. "
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
    Mistake(ALIASED, "one gradient array is shared by two nodes (a rule such as "
            "`return grad, grad`) and an in-place add (grads[p] += g) changed both: {evidence}. "
            "Add into a new array: grads[p] = grads[p] + g", _alias, where="Tensor.backward"),
    Mistake("intermediate_grads_not_reset", "after two backward() calls x.grad is {c}x the right "
            "one: the intermediate results keep their .grad from the first call and the second call "
            "passes it on again. Propagate each call's own gradient (a dict local to backward), "
            "not the accumulated .grad", _not_reset, where="Tensor.backward"),
    Mistake("wrong_reflected_operator", "with a constant on the left, `{code}` alone {what}: "
            "Tensor.{method} is wrong or missing", _reflected_wrong,
            where=method_named(SPEC, _reflected_wrong, "backward")),
    mistake("grad_assigned_not_added", _assigned),
    mistake(TRAVERSAL_ORDER, _order),
    Mistake("dropped_upstream", "the upstream gradient was dropped: {evidence}. Chain it: multiply "
            "the local derivative by grad", _dropped),
    Mistake("wrong_backward_rule", "the backward rule of {methods} looks wrong: {evidence}",
            _suspect_rule, where=method_named(SPEC, _suspect_rule, "backward")),
]
