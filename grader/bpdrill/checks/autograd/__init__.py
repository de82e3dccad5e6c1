"""Hidden checks for autograd: graph programs (programs.py) run with the learner's Tensor and
with PyTorch by the engine kind; each program's check also asks that every step gives a Tensor
that requires grad as in PyTorch, that .grad stays an ndarray and that the caller's grad array
is left alone. The known mistakes are in mistakes.py."""
from __future__ import annotations

import numpy as np

from bpdrill.checks.autograd.mistakes import ALIASED, MISTAKES
from bpdrill.checks.autograd.programs import SPEC
from bpdrill.core.judge import Check, Failed
from bpdrill.i18n import t
from bpdrill.kinds import engine
from bpdrill.kinds.engine import show

__all__ = ["SPEC", "draw", "CHECKS", "MISTAKES"]
TENSORS = ("tensor", "int_tensor")


def draw(rng, leaf):
    shape, dist = tuple(leaf["shape"]), leaf["dist"]
    if dist == "value":
        return np.array(leaf["value"])
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


def _structure(ev, scenario: str, prog: dict) -> None:
    """Every step gives a Tensor, requires_grad as in PyTorch, data in float64."""
    expected = ev.reference(scenario)["requires_grad"]
    for name, *_ in prog["steps"]:
        if not ev.value(scenario, f"is_tensor.{name}").value:
            raise Failed(t("`{code}` did not give a Tensor", code=show(prog, name)), target="output")
        got = ev.value(scenario, f"requires_grad.{name}").value
        if got != expected[name]:
            raise Failed(t("`{code}`.requires_grad is {got}, expected {expected} (a result requires grad "
                           "when any input does)", code=show(prog, name), got=got, expected=expected[name]),
                         target="grad", mistake=("no_requires_grad_propagation",
                                                 t("requires_grad does not follow the inputs: a result "
                                                   "must require grad exactly when one of its inputs does")))
    for name, leaf in prog["leaves"].items():
        dtype = ev.value(scenario, f"data_dtype.{name}").value if leaf["kind"] in TENSORS else None
        if dtype not in (None, "float64"):
            raise Failed(t("Tensor({name}).data is {dtype}, expected float64", name=name, dtype=dtype),
                         target="grad")


def _caller_grad_untouched(ev, scenario: str) -> None:
    """backward(grad) never changes the caller's grad array (a .grad that is that very array
    would, on the next accumulation)."""
    values, inputs = ev.values(scenario), ev.inputs(scenario)
    if "caller_grad" not in values or "grad" not in inputs:
        return
    v = ev.value(scenario, "caller_grad")
    if v.kind != "array" or not np.array_equal(v.array, inputs["grad"]):
        raise Failed(t("the grad array passed to backward(grad) was changed: a .grad that is the caller's "
                       "array (node.grad = g) was later added to in place"), target="grad",
                     mistake=(ALIASED, t("a .grad is the very array backward was given or "
                                                    "another tensor's .grad (node.grad = g): a later "
                                                    "in-place += changed both. Store a copy: "
                                                    "node.grad = g.copy()")))


def _leaf_grad(ev, scenario: str, key: str, name: str):
    """The learner's name.grad as an array; None for a constant, which must keep grad None."""
    leaf = SPEC.by_name[scenario]["leaves"][name]
    v = ev.value(scenario, key)
    if not leaf["requires_grad"]:
        if v.kind != "none":
            raise Failed(t("{name}.grad: a constant (requires_grad=False) must keep grad None, "
                           "got {got}", name=name, got=v.describe()), target="grad")
        return None
    if v.kind == "none":
        failure = Failed(t("{name}.grad is None after backward: the gradient never reached it", name=name),
                         target="grad")
        failure.never_reached = True  # for the diagnosis, whatever the language of the message
        raise failure
    if v.kind == "scalar":  # np.float64 is a number, not an ndarray: SPEC's .grad is an array
        kind = ev.value(scenario, f"grad_type.{name}").value
        raise Failed(t("{name}.grad is a number ({kind}), not a 0-d array", name=name, kind=kind),
                     target="grad", mistake=("grad_not_array", t(
                         "{name}.grad is a number ({kind}), not a 0-d array: adding or summing 0-d "
                         "arrays gives a NumPy scalar (np.array(1.0) + g is np.float64, and so is "
                         "g.sum()). Keep .grad an ndarray: store np.array(g), and add into it in "
                         "place (node.grad += g)", name=name, kind=kind)))
    return ev.array(scenario, key, f"{name}.grad")


def _held_step_grad(ev, scenario: str, key: str, node: str):
    """An intermediate result may keep .grad None, as in PyTorch (SPEC); where it holds a
    gradient, the gradient must be right."""
    if key not in ev.values(scenario) or ev.value(scenario, key).kind == "none":
        return None
    return ev.array(scenario, key, f"{node}.grad")


def run_program(ev, check: Check) -> None:
    prog = SPEC.by_name[check.scenario]
    _structure(ev, check.scenario, prog)
    _caller_grad_untouched(ev, check.scenario)  # first: when it fails, the gradients are wrong because of it
    engine.judge(ev, check, prog, _leaf_grad, _held_step_grad, show(prog, prog["outputs"][0]))


CHECKS = engine.checks(SPEC, run_program)
