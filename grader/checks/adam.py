"""Hidden checks for adam: torch.optim.Adam's arithmetic, in place, over several steps."""
from __future__ import annotations

import numpy as np

from bpdrill import compare
from bpdrill.checks import Check, Failed, Scenario

SHAPES = [(3, 4), (4,), (2, 3, 2)]


def _scenario(rng, name, n_params, steps, hyper, grad_scale=1.0):
    arrays = {}
    for i in range(n_params):
        arrays[f"param.p{i}"] = rng.normal(size=SHAPES[i])
        for t in range(steps):
            arrays[f"grad.{t}.p{i}"] = grad_scale * rng.normal(size=SHAPES[i])
    return Scenario(name, "steps", arrays, {"steps": steps, "hyper": hyper})


def scenarios(rng) -> list[Scenario]:
    return [
        _scenario(rng, "one_step", 1, 1, {}),
        _scenario(rng, "multi", 3, 10, {"lr": 1e-2}),
        _scenario(rng, "weight_decay", 2, 5, {"lr": 1e-2, "weight_decay": 0.1}),
        _scenario(rng, "tiny", 2, 5, {"lr": 1e-2}, grad_scale=1e-6),
        _scenario(rng, "betas", 2, 4, {"lr": 5e-2, "betas": [0.8, 0.99], "eps": 1e-6}),
    ]


def _names(ev, scenario):
    return sorted(k[len("param."):] for k in ev.inputs(scenario) if k.startswith("param."))


def matches_torch_adam(ev, check: Check) -> None:
    """The caller's arrays moved exactly as torch.optim.Adam moves them.

    Compares displacements (after - before), so that an update of size lr is judged at the
    update's own scale rather than the parameter's.
    """
    ref = ev.reference(check.scenario)
    inputs = ev.inputs(check.scenario)
    for name in _names(ev, check.scenario):
        label = f"params[{name!r}]"
        got = ev.array(check.scenario, f"param.{name}", label)
        before = inputs[f"param.{name}"]
        if got.shape != before.shape:
            raise Failed(f"{label}: shape changed from {before.shape} to {got.shape}", target="params")
        moved, expected = got - before, ref[name] - before
        mask = compare.elementwise_mismatch(moved, expected)
        if mask.any():
            steps = ev.params(check.scenario)["steps"]
            details = [f"{label}{compare.format_index(i)} moved by {g:.6g}, expected {e:.6g}"
                       for i, e, g in compare.worst_elements(moved, expected)]
            raise Failed(f"{label} after {steps} step{'s' * (steps > 1)}: update off by relative error "
                         f"{compare.relative_error(moved, expected):.2g} "
                         f"({int(mask.sum())} of {mask.size} elements)", target="params", details=details)


def in_place(ev, check: Check) -> None:
    inputs = ev.inputs(check.scenario)
    for name in _names(ev, check.scenario):
        got = ev.value(check.scenario, f"param.{name}")
        if got.kind == "array" and got.array.shape == inputs[f"param.{name}"].shape and \
                np.array_equal(got.array, inputs[f"param.{name}"]):
            raise Failed(f"params[{name!r}]: the caller's array did not change; update it in place "
                         f"(p -= ..., not p = p - ...)", target="params")


def grads_untouched(ev, check: Check) -> None:
    inputs = ev.inputs(check.scenario)
    for key, before in inputs.items():
        if key.startswith("grad."):
            v = ev.value(check.scenario, f"grad_after.{key[len('grad.'):]}")
            if v.kind != "array" or not np.array_equal(v.array, before):
                name = key.split(".")[-1]
                raise Failed(f"grads[{name!r}] was modified in place by step: add weight decay into "
                             f"a new array", target="params")


CHECKS = [
    Check("one step matches torch.optim.Adam", "torch", "params", 1, "one_step", matches_torch_adam),
    Check("10 steps, 3 parameters match torch.optim.Adam", "torch", "params", 2, "multi",
          matches_torch_adam),
    Check("weight_decay=0.1 (L2 added to the gradient)", "edge", "params", 1, "weight_decay",
          matches_torch_adam),
    Check("tiny gradients (~1e-6, where eps matters)", "edge", "params", 1, "tiny", matches_torch_adam),
    Check("custom betas, eps and lr", "torch", "params", 1, "betas", matches_torch_adam),
    Check("the caller's arrays are updated in place", "edge", "params", 1, "multi", in_place),
    Check("step leaves the gradients unchanged", "purity", "params", 1, "weight_decay", grads_untouched),
]
