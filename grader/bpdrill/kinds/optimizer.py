"""The optimizer kind: `Optimizer(params: dict, **hyper)` whose `step(grads)` updates the
caller's arrays in place, with exactly the arithmetic of a torch.optim optimiser.

A spec names the learner's class and the torch.optim class; this module owns the rest: the
worker's driver (the caller's arrays and gradients over several steps), the reference call
(torch.optim, foreach=False, fed the same gradients), the judges (moved like the reference,
updated in place, gradients left alone) and the lifecycle mistakes (not in place, the caller's
gradients written into).

Scenario arrays: param.<name> (the parameters) and grad.<step>.<name>; parameters: steps,
hyper (the constructor's keyword arguments). Raw results: param.<name> (the caller's arrays
after every step), grad_after.<step>.<name>, and view.<name> (the optimiser's own params, when
it keeps a dict of them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from bpdrill.core import compare
from bpdrill.core.diagnose import Mistake, close
from bpdrill.core.driving import snapshot
from bpdrill.core.judge import Check, Failed
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t

# A step's values depend on the steps before it (momentum, moments, the step count): a slip in a
# formula may show only from the second step on, so a trace judges every step, not the first alone.
STATEFUL = True

# where step scales by the weight decay: the statement a weight-decay mistake is written in
WEIGHT_DECAY_CODE = r"(weight_decay|\bwd\b)\s*\*|\*\s*(self\.)?(weight_decay|wd)\b"


@dataclass(frozen=True)
class Optimizer:
    cls: str  # the learner's class
    torch: str  # the torch.optim class


def hyper_for_torch(hyper: dict) -> dict:
    """The constructor's keyword arguments as torch takes them (betas as a tuple)."""
    hyper = dict(hyper)
    if "betas" in hyper:
        hyper["betas"] = tuple(hyper["betas"])
    return hyper


def scenario(rng, name: str, shapes: list, steps: int, hyper: dict, grad_scale: float = 1.0,
             **params) -> Scenario:
    """Parameters p0, p1 ... of the given shapes and a gradient for each step (params: more
    scenario parameters, such as reuse_grads=True)."""
    arrays = {}
    for i, shape in enumerate(shapes):
        arrays[f"param.p{i}"] = rng.normal(size=shape)
        for step in range(steps):
            arrays[f"grad.{step}.p{i}"] = rng.normal(scale=grad_scale, size=shape)  # 0-d: an array too
    return Scenario(name, "steps", arrays, {"steps": steps, "hyper": hyper, **params})


@dataclass(frozen=True)
class Run:
    """A scenario of several steps and its check <check>.<name>: the caller's arrays move as the
    torch optimiser moves them. hyper: the constructor's keyword arguments, or (rng) -> them,
    drawn before the arrays; params: more scenario parameters (reuse_grads=True)."""
    check: str  # the check's kind: torch or edge
    name: str
    title: str
    shapes: list
    steps: int
    hyper: dict | Callable = field(default_factory=dict)
    points: int = 1
    grad_scale: float = 1.0
    params: dict = field(default_factory=dict)

    def scenario(self, rng) -> Scenario:
        hyper = self.hyper(rng) if callable(self.hyper) else self.hyper
        return scenario(rng, self.name, self.shapes, self.steps, hyper, self.grad_scale, **self.params)

    def moves_check(self) -> Check:
        return moves_check(f"{self.check}.{self.name}", self.name, self.title, self.points)


def scenarios_of(runs: list) -> Callable:
    """An exercise's scenarios(rng) from its table of Runs, drawn in the table's order."""
    return lambda rng: [run.scenario(rng) for run in runs]


# ---- the worker's side -------------------------------------------------------------------

def drive(spec: Optimizer, module, s: Scenario) -> dict:
    return drive_steps(lambda params: getattr(module, spec.cls)(params, **s.params["hyper"]), s)


def drive_steps(make, s) -> dict:
    """An optimiser over the scenario's params (arrays param.<name>), stepped with grad.<step>.<name>
    for params["steps"] steps (params["reuse_grads"]: the caller hands over the same array every
    step, overwritten with the new gradient, as a training loop with preallocated gradients
    does): the caller's arrays afterwards (step must update them in place), the gradients after
    each step (step must not change them) and the optimiser's own view of its params when it
    keeps one. make(params) builds the learner's optimiser."""
    names = s.keys_with_prefix("param.")
    params = {name: s[f"param.{name}"] for name in names}
    held = dict(params)  # the caller's references: step must update these arrays in place
    optimizer = make(params)
    out = {}
    reused: dict = {}
    for step in range(s.params["steps"]):  # not `t`: that name is the message function
        if s.params.get("reuse_grads"):  # a training loop that writes every step's gradients into one array
            for name in names:
                reused.setdefault(name, s[f"grad.{step}.{name}"])[...] = s[f"grad.{step}.{name}"]
            grads = dict(reused)
        else:
            grads = {name: s[f"grad.{step}.{name}"] for name in names}
        optimizer.step(grads)
        # a reused array is refilled next step: what this step left in it is kept now
        keep = snapshot if s.params.get("reuse_grads") else (lambda g: g)
        out.update({f"grad_after.{step}.{name}": keep(g) for name, g in grads.items()})
    out.update({f"param.{name}": held[name] for name in names})
    learner_view = getattr(optimizer, "params", None)
    if isinstance(learner_view, dict):
        out.update({f"view.{name}": snapshot(learner_view.get(name)) for name in names})
    return out


# ---- the trusted side --------------------------------------------------------------------

def reference(spec: Optimizer, ref, s: Scenario) -> dict:
    """The parameters after s.params["steps"] steps of the torch.optim optimiser."""
    hyper = hyper_for_torch(s.params["hyper"])
    return steps(ref, s, lambda params: getattr(ref.torch.optim, spec.torch)(params, foreach=False, **hyper))


def steps(ref, s, make) -> dict:
    """The parameters after s.params["steps"] steps of make(list of tensors) (a torch.optim
    optimiser), fed the same gradients as drive_steps feeds the learner's."""
    names = s.keys_with_prefix("param.")
    params = {name: ref.leaf(s.arrays[f"param.{name}"]) for name in names}
    optimizer = make(list(params.values()))
    for step in range(s.params["steps"]):
        for name, p in params.items():
            p.grad = ref.torch.tensor(s.arrays[f"grad.{step}.{name}"])
        optimizer.step()
    return {name: ref.numpy(p) for name, p in params.items()}


# ---- judges: the caller's arrays after step(grads) --------------------------------------

def param_names(ev, scenario) -> list[str]:
    """The names of an optimiser scenario's parameters (its arrays param.<name>)."""
    return sorted(k[len("param."):] for k in ev.inputs(scenario) if k.startswith("param."))


def moves_like_reference(ev, check: Check) -> None:
    """The caller's arrays moved exactly as the reference optimiser (torch.optim.*) moves them.

    Compares displacements (after - before), so that an update of size lr is judged at the
    update's own scale rather than the parameter's.
    """
    ref = ev.reference(check.scenario)
    inputs = ev.inputs(check.scenario)
    for name in param_names(ev, check.scenario):
        label = f"params[{name!r}]"
        got = ev.array(check.scenario, f"param.{name}", label)
        before = inputs[f"param.{name}"]
        if got.shape != before.shape:
            raise Failed(t("{label}: shape changed from {before} to {got}", label=label, before=before.shape,
                           got=got.shape), target="params")
        moved, expected = got - before, ref[name] - before
        mask = compare.elementwise_mismatch(moved, expected)
        if not np.all(np.isfinite(moved)):
            raise Failed(t("{label}: non-finite values after step", label=label), target="params", got=got,
                         label=label)
        if mask.any():
            steps = ev.params(check.scenario)["steps"]
            worst = compare.worst_elements(moved, expected, excess=True)
            details = []
            for i, e, g in worst:
                shown_e, shown_g = compare.distinct(e, g)
                details.append(t("{label}{index} moved by {got}, expected {expected}", label=label,
                                 index=compare.format_index(i), got=shown_g, expected=shown_e))
            index, e, g = worst[0]
            shown_e, shown_g = compare.distinct(e, g)
            # the measure that failed: elements outside their tolerance, and the worst of them
            message = t("{label} after {steps} step(s): {count} of {size} elements moved outside the "
                        "tolerance; worst {label}{index} moved by {got}, expected {expected}", label=label,
                        steps=steps, count=int(mask.sum()), size=mask.size, index=compare.format_index(index),
                        got=shown_g, expected=shown_e)
            raise Failed(message, target="params", details=details, compared=True)


def updated_in_place(ev, check: Check) -> None:
    """step changed the very arrays the caller passed in (not new ones)."""
    inputs = ev.inputs(check.scenario)
    for name in param_names(ev, check.scenario):
        got = ev.value(check.scenario, f"param.{name}")
        if got.kind == "array" and got.array.shape == inputs[f"param.{name}"].shape and \
                np.array_equal(got.array, inputs[f"param.{name}"]):
            raise Failed(t("params[{name!r}]: the caller's array did not change; update it in place "
                           "(p -= ..., not p = p - ...)", name=name), target="params")


def grads_untouched(ev, check: Check) -> None:
    """step left the caller's gradients as they were."""
    inputs = ev.inputs(check.scenario)
    for key, before in inputs.items():
        if key.startswith("grad."):
            v = ev.value(check.scenario, f"grad_after.{key[len('grad.'):]}")
            if v.kind != "array" or not np.array_equal(v.array, before):
                name = key.split(".")[-1]
                raise Failed(t("grads[{name!r}] was modified in place by step: add weight decay into "
                               "a new array", name=name), target="params")


# ---- checks and lifecycle mistakes -----------------------------------------------------------

def moves_check(id: str, scenario: str, title: str, points: int = 1, kind: str | None = None) -> Check:
    """The caller's arrays moved as the torch optimiser moves them, in the scenario named."""
    return Check(id, kind or id.split(".")[0], "params", points, scenario, moves_like_reference, title)


def in_place_check(scenario: str) -> Check:
    return Check("edge.in_place", "edge", "params", 1, scenario, updated_in_place,
                 "the caller's arrays are updated in place")


def grads_check(scenario: str) -> Check:
    return Check("purity.grads", "purity", "params", 1, scenario, grads_untouched,
                 "step leaves the gradients unchanged")


def simulated(simulate: Callable, mistake: str, evidence: str, also: tuple = (), diverged: str = ""):
    """A Mistake test: the caller's arrays moved as simulate(scenario, mistake) moves them (the
    optimiser re-run in NumPy with that one mistake, or with one of `also`) and the right answer
    does not, judged on displacements as the check judges. diverged: the evidence when the
    learner's arrays are not finite and neither are the mistake's."""
    def test(p):
        if p.check.judge is not moves_like_reference:
            return None
        before = {n: p.inputs[f"param.{n}"] for n in param_names(p.ev, p.scenario)}
        right = p.reference()
        for variant in (mistake, *also):
            wrong = simulate(p.ev.scenarios[p.scenario], variant)
            got = {n: p.learner(p.scenario, f"param.{n}") for n in wrong}
            if any(g is None for g in got.values()):  # not finite, or not an array
                if diverged and any(not np.all(np.isfinite(w)) for w in wrong.values()):
                    return {"evidence": t(diverged)}
                continue
            if all(close(got[n] - before[n], wrong[n] - before[n]) for n in wrong) and \
                    not all(close(right[n] - before[n], wrong[n] - before[n]) for n in wrong):
                return {"evidence": t(evidence)}
        return None
    return test


def simulated_mistake(simulate: Callable, name: str, says: str, evidence: str, at_code: str = "",
                      **options) -> Mistake:
    """The mistake `name`: what is wrong (says, with {evidence}), the evidence when the update
    matches simulated(simulate, name, evidence, **options), and the statement at fault (at_code)."""
    return Mistake(name, says, simulated(simulate, name, evidence, **options), at_code=at_code)


def where(spec: Optimizer):
    return lambda probe: f"{spec.cls}.step"


def sizes(spec: Optimizer):
    return lambda ev, scenario: {}


def _grads_changed(p) -> bool:
    """Did step change the caller's gradients in this scenario? Claimed only of steps that ran:
    where the scenario raised (a constructor that rejected an option, say), nothing came back to
    compare, and nothing was written."""
    if p.error(p.scenario) is not None:
        return False
    inputs = p.inputs
    for key, before in inputs.items():
        if key.startswith("grad."):
            after = p.learner(p.scenario, f"grad_after.{key[len('grad.'):]}")
            if after is None or not np.array_equal(after, before):
                return True
    return False


def _not_in_place(p):
    if p.check.id != "edge.in_place":
        return None
    names = param_names(p.ev, p.scenario)
    if not p.unchanged("param.", names):
        return None  # the caller's arrays did move: not this mistake
    ref = p.reference()
    views = [p.learner(p.scenario, f"view.{n}") for n in names]
    if all(v is not None and close(v, ref[n]) for v, n in zip(views, names)):
        return {"evidence": t("optimizer.params holds the right values, but they are new arrays")}
    return {"evidence": t("the arrays the caller passed in never changed")}


def _hyper(p) -> dict:
    return p.ev.params(p.scenario).get("hyper", {})


def _aliased_buffer(p):
    """The caller's gradients changed with no weight decay to add: a state kept as the caller's
    own array (buf = g) and later updated in place; or, where the caller reuses its gradient
    arrays, the update went wrong while that purity check failed too."""
    if p.error(p.scenario) is not None:
        return None  # no step ran: nothing was aliased
    if p.check.judge is grads_untouched and not _hyper(p).get("weight_decay") and _grads_changed(p):
        return {"evidence": t("grads changed after step, with no weight decay to add")}
    if p.ev.params(p.scenario).get("reuse_grads") and p.check.judge is moves_like_reference and any(
            c.judge is grads_untouched and not p.passed(c.id) for c, _ in p.failures.values()):
        return {"evidence": t("the update goes wrong when the caller reuses its gradient arrays, and "
                              "step changed the caller's gradients")}
    return None


MISTAKES = [
    Mistake("state_aliases_caller_gradient", "the optimiser's state is the caller's gradient array "
            "itself: {evidence}. A buffer started as buf = g is the caller's array: the next step's "
            "buf *= momentum writes into it, and the caller's next gradient overwrites it. Start it as "
            "a copy: buf = g.copy()", _aliased_buffer, at_code=r"=\s*g\b|=\s*grads?\["),
    Mistake("grads_modified_in_place", "step wrote into the caller's gradients: {evidence}. "
            "Add weight decay into a new array (g = g + wd * p)", at_code=WEIGHT_DECAY_CODE,
            test=lambda p: p.check.judge is grads_untouched and _hyper(p).get("weight_decay")
            and _grads_changed(p) and {"evidence": t("grads changed after step")}),
    Mistake("not_in_place", "the parameters were rebound, not updated in place: {evidence}. "
            "Write p -= ... (or p[...] = ...), not p = p - ...", _not_in_place,
            at_code=r"\bp\s*=\s*p\b|\bparam\w*\s*=\s*param|=\s*p\s*-"),
]
