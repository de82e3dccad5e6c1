"""The network kind: a whole model with a mean cross-entropy loss. forward(X) -> probabilities
(N, C), backward(y) -> a dict of gradients by parameter name, loss(X, y) -> (loss, grads),
train_step(X, y, lr) -> the loss before the step; the parameters live in model.params.

One spec (`Network`) says what is particular to an exercise: the class, its parameters and the
class scores in PyTorch. This module owns the life cycle: the driver, the reference (PyTorch
float64), and the standard checks. Keys of the raw results: probs; each parameter's gradient by
its name (<name>.again after a second backward, <name>.new after a new forward on X3, y3);
loss; model.<name>, the parameters after train_step; losses, one per step of a "train" run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from bpdrill.core import compare
from bpdrill.core.driving import number, perturbed_outputs, snapshot
from bpdrill.core.judge import (Check, Failed, compare_arrays, matches_reference, numgrad_check, same_shape,
                                unchanged_check)
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t


@dataclass(frozen=True)
class Network:
    cls: str  # the learner's class
    scores: Callable  # (torch, X, **parameters as tensors) -> the class scores (N, C)
    params: tuple  # the names in model.params, in the order they are reported
    make: Callable  # (learner module, {name: array}) -> the model, before its parameters are set


# ---- the worker's side -------------------------------------------------------------------

def _by_name(spec: Network, grads, suffix: str = "") -> dict:
    return {f"{name}{suffix}": snapshot(grads.get(name)) for name in spec.params}


def drive(spec: Network, module, s: Scenario) -> dict:
    params = {name: s[name] for name in spec.params}
    model = spec.make(module, params)
    for name, array in params.items():
        model.params[name] = array
    X, y = s["X"], s["y"].astype(np.int64)
    if s.mode == "perturb":
        out = {}
        for name, array in params.items():
            out[f"plus.{name}"], out[f"minus.{name}"] = perturbed_outputs(
                lambda: model.forward(X), array, s.params["h"])
        return out
    if s.mode == "backward":
        out = {"probs": snapshot(model.forward(X))}
        grads = model.backward(y)
        if not isinstance(grads, dict):
            raise TypeError(t("backward returned {type}; expected a dict of gradients",
                              type=type(grads).__name__))
        out.update(_by_name(spec, grads))
        if s.params.get("twice"):
            out.update(_by_name(spec, model.backward(y), ".again"))
        if "X3" in s:
            model.forward(s["X3"])
            out.update(_by_name(spec, model.backward(s["y3"].astype(np.int64)), ".new"))
        return {**out, "after.X": X, "after.y": y}
    if s.mode == "loss":
        result = model.loss(X, y)
        if not isinstance(result, tuple) or len(result) != 2 or not isinstance(result[1], dict):
            raise TypeError(t("loss returned {type}; expected (loss, grads)", type=type(result).__name__))
        return {"loss": number(result[0], "loss"), **_by_name(spec, result[1])}
    if s.mode == "train_step":
        loss = number(model.train_step(X, y, lr=s.params["lr"]), "train_step")
        # the grader's arrays (the model's, if train_step updated them in place) and the model's now
        now = {f"model.{name}": snapshot(model.params.get(name)) for name in spec.params}
        return {"loss": loss, **params, **now}
    losses = [number(model.train_step(X, y, lr=s.params["lr"]), "train_step")
              for _ in range(s.params["steps"])]
    return {"losses": np.array(losses), "probs": snapshot(model.forward(X))}


# ---- the trusted side --------------------------------------------------------------------

def _loss_and_grads(spec: Network, ref, a: dict):
    torch = ref.torch
    params = {name: ref.leaf(a[name]) for name in spec.params}
    scores = spec.scores(torch, ref.leaf(a["X"], False), **params)
    loss = torch.nn.functional.cross_entropy(scores, ref.long(a["y"]))
    loss.backward()
    grads = {name: ref.numpy(p.grad) for name, p in params.items()}
    return ref.numpy(loss), ref.numpy(torch.softmax(scores, dim=1)), grads


def reference(spec: Network, ref, s: Scenario) -> dict:
    loss, probs, grads = _loss_and_grads(spec, ref, s.arrays)
    if "X3" in s.arrays:  # the gradients after a new forward on (X3, y3)
        _, _, new = _loss_and_grads(spec, ref, {**s.arrays, "X": s.arrays["X3"], "y": s.arrays["y3"]})
        grads.update({f"{name}.new": g for name, g in new.items()})
    if s.mode == "train_step":  # the parameters after one step of gradient descent
        return {"loss": loss, **{name: s.arrays[name] - s.params["lr"] * g for name, g in grads.items()}}
    return {"loss": loss, "probs": probs, **grads}


# ---- checks ------------------------------------------------------------------------------

def project(ev, scenario):
    """The numgrad projection: the mean cross-entropy of each perturbed forward's probabilities."""
    y = ev.inputs(scenario)["y"]

    def mean_cross_entropy(probs):  # (size, N, C) -> (size,)
        return -np.log(probs[:, np.arange(len(y)), y]).mean(axis=1)
    return mean_cross_entropy


def _same_loss(ev, check: Check, loss: float, says: str, target: str) -> None:
    expected = float(ev.reference(check.scenario)["loss"])
    if not np.isclose(loss, expected, rtol=compare.RTOL, atol=0):
        expected, got = compare.distinct(expected, loss)  # digits enough to differ
        raise Failed(t(says, expected=expected, got=got), target=target)


def _loss_judge(spec: Network):
    def judge(ev, check: Check) -> None:
        loss = ev.number(check.scenario, "loss")
        _same_loss(ev, check, loss, "loss: expected {expected}, got {got}", "loss")
        matches_reference(*spec.params)(ev, check)
    return judge


def _step_judge(spec: Network):
    def judge(ev, check: Check) -> None:
        _same_loss(ev, check, ev.number(check.scenario, "loss", t("the loss train_step returned")),
                   "train_step should return the loss before the step: expected {expected}, got {got}",
                   "params")
        for name in spec.params:
            what = t("params[{name!r}] after train_step", name=name)
            try:  # the element-wise measure that fails, and the worst element
                compare_arrays(what, ev.array(check.scenario, f"model.{name}", what),
                               ev.reference(check.scenario)[name], "torch")
            except Failed as failure:
                failure.target = failure.label = "params"
                raise
    return judge


def checks(spec: Network, torch_scenario: str, torch_title: str) -> list[Check]:
    """The standard checks of a network, on the scenarios basic (with a second backward and a
    new forward), basic.perturb, single, loss and step, and torch_scenario."""
    params = spec.params
    return [
        *[Check(f"shape.{p}", "shape", p, 1, "basic", same_shape(p, like=p),
                "{key} gradient has the shape of {key}", title_args=(("key", p),)) for p in params],
        *[numgrad_check(p, p, project) for p in params],
        *[Check(f"torch.{p}", "torch", p, 1, torch_scenario, matches_reference(p), torch_title,
                title_args=(("key", p),)) for p in params],
        Check("edge.single", "edge", params, 1, "single", matches_reference(*params), "batch of one"),
        Check("purity.second_backward", "purity", params, 1, "basic",
              matches_reference(*[(f"{p}.again", p, p) for p in params]),
              "a second backward gives the same gradients", call="second"),
        Check("edge.new_forward", "edge", params, 1, "basic",
              matches_reference(*[(f"{p}.new", f"{p}.new", p) for p in params]),
              "after a new forward, backward uses the new X", call="new_forward"),
        unchanged_check("X", "y"),
        Check("torch.loss", "torch", ("loss", *params), 1, "loss", _loss_judge(spec),
              "loss(X, y) returns the loss and the gradients"),
        Check("train.step", "train", "params", 1, "step", _step_judge(spec),
              "train_step takes one gradient-descent step"),
    ]


# ---- diagnosis ---------------------------------------------------------------------------

def where(spec: Network):
    def locate(probe) -> str:
        return f"{spec.cls}.train_step" if probe.check.kind == "train" else f"{spec.cls}.backward"
    return locate


MISTAKES: list = []
