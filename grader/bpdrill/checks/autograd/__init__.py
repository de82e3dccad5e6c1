"""Hidden checks for autograd: graph programs run with the learner's Tensor and with torch.

A program is data: leaves (tensors, constants), steps (target, op, args, kwargs) and an
output, plus the grad handed to backward. One interpreter (`run_steps`) runs it: in the
worker with the learner's Tensor, on the trusted side in PyTorch (the reference) and in
NumPy (a dry run for shapes); `show` prints a step as code. A numerical-gradient check
re-runs the learner's forward with each leaf element moved.

programs.py holds the programs and the interpreter, mistakes.py the known mistakes; here are
the checks, the worker's side and the reference, what the registry asks of an exercise.
"""
from __future__ import annotations

import numpy as np

from bpdrill.core import compare
from bpdrill.checks.autograd.mistakes import MISTAKES, sizes, where
from bpdrill.checks.autograd.programs import (
    MAX_CHECKED_STEPS, PROGRAMS, learner_method, numpy_method, run_steps, show, torch_method,
)
from bpdrill.core.driving import perturbed_outputs, snapshot
from bpdrill.i18n import t
from bpdrill.core.judge import Check, Failed, compare_arrays
from bpdrill.core.protocol import Scenario

__all__ = ["scenarios", "drive", "reference", "CHECKS", "MISTAKES", "where", "sizes"]


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
        if v.kind == "scalar":  # np.float64 is a number, not an ndarray: SPEC's .grad is an array
            kind = ev.value(check.scenario, f"grad_type.{name}").value
            raise Failed(t("{name}.grad is a number ({kind}), not a 0-d array", name=name, kind=kind),
                         target="grad", mistake=("grad_not_array", t(
                             "{name}.grad is a number ({kind}), not a 0-d array: adding or summing 0-d "
                             "arrays gives a NumPy scalar (np.array(1.0) + g is np.float64, and so is "
                             "g.sum()). Keep .grad an ndarray: store np.array(g), and add into it in "
                             "place (node.grad += g)", name=name, kind=kind)))
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
    _caller_grad_untouched(ev, check)  # first: when it fails, the gradients are wrong because of it
    _leaf_grads(ev, check, prog, expected_of)
    if prog.get("steps_checked", True):
        _step_grads(ev, check, prog, ref)
    output = ev.array(check.scenario, "output", t("the output"))
    _compare(show(prog, prog["output"]), output, ref["output"], "torch")


def _step_grads(ev, check, prog, ref) -> None:
    """An intermediate result may keep .grad None, as in PyTorch (SPEC); where it holds a
    gradient, the gradient must be right."""
    for name, expected in ref.get("step_grads", {}).items():
        key = f"grad.step.{name}"
        if key not in ev.values(check.scenario) or ev.value(check.scenario, key).kind == "none":
            continue
        code = show(prog, name)
        got = ev.array(check.scenario, key, f"({code}).grad")
        _compare(f"({code}).grad", got, expected, "torch")


def _caller_grad_untouched(ev, check) -> None:
    """backward(grad) never changes the caller's grad array (a .grad that is that very array
    would, on the next accumulation)."""
    values = ev.values(check.scenario)
    if "caller_grad" not in values or "grad" not in ev.inputs(check.scenario):
        return
    v = ev.value(check.scenario, "caller_grad")
    if v.kind != "array" or not np.array_equal(v.array, ev.inputs(check.scenario)["grad"]):
        raise Failed(t("the grad array passed to backward(grad) was changed: a .grad that is the caller's "
                       "array (node.grad = g) was later added to in place"), target="grad",
                     mistake=("gradient_aliased", t("a .grad is the very array backward was given or "
                                                    "another tensor's .grad (node.grad = g): a later "
                                                    "in-place += changed both. Store a copy: "
                                                    "node.grad = g.copy()")))


CHECKS = [Check(f"program.{p['name']}", p["kind"], "grad", p["points"], p["name"], run_program_check,
                p["title"]) for p in PROGRAMS if p["kind"] != "probe"]


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
    if grad is not None:
        out["caller_grad"] = grad  # as the caller's array is now, after every backward
    for name, spec in program["leaves"].items():
        if spec["kind"] in ("tensor", "int_tensor"):
            out[f"grad.{name}"] = snapshot(env[name].grad)
            out[f"grad_type.{name}"] = f"{type(env[name].grad).__module__}.{type(env[name].grad).__name__}"
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
