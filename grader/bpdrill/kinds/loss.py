"""The loss kind: forward(inputs..., targets...) -> a number, backward(dout=1.0) -> the
gradient of dout * loss with respect to each input.

A loss is a layer whose one output is a number and whose upstream gradient is a number too
(dout, a scenario parameter; absent: backward() is called with its default). Everything else,
the driver, the reference call, the standard checks and the lifecycle mistakes, is the layer
kind's (bpdrill.kinds.layer), with these keys: `loss` (2 and 3 for the later calls), and the
scenario parameters dout, dout2 and dout3.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from bpdrill.core.judge import Check, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.kinds import layer
from bpdrill.kinds.layer import NEW, SECOND, perturb, twice  # noqa: F401 - the kind's vocabulary


@dataclass(frozen=True)
class Loss(layer.Layer):
    inputs: tuple = ("x",)
    outputs: tuple = ("loss",)
    batch: str | None = None

    @property
    def upstream(self) -> tuple:
        return ("dout",)

    def upstream_given(self, s, suffix: str = "") -> list | None:
        key = f"dout{suffix}"
        if key in s.params:
            return [s.params[key]]
        if not suffix:
            return []  # backward() with its default dout = 1.0
        return None

    def upstream_ones(self, s, suffix: str = "") -> list:
        return [1.0]

    def has_second(self, s) -> bool:
        return f"dout{SECOND}" in s.params

    def has_new(self, s) -> bool:
        return any(f"{name}{NEW}" in s for name in (*self.inputs, *self.fixed))


drive = layer.drive  # a loss is driven and referenced as a layer: its spec says the difference
reference = layer.reference


BASIC, DEFAULT = "basic", "default"  # the first scenario; the one whose backward() is called with no dout


def dout(rng) -> float:
    """An upstream gradient away from 1 (a dropped dout shows), of either sign."""
    return float(rng.uniform(1.25, 2.5) * rng.choice([-1, 1]))


def standard(spec: Loss, draw, rng, n: int | None = None) -> list[Scenario]:
    """basic (and its perturbation), single (a batch of one), default (backward() with no
    dout) and twice, from draw(rng, n) -> the inputs and targets for a batch of n."""
    n = n if n is not None else int(rng.integers(3, 6))
    douts = [dout(rng) for _ in range(4)]
    basic = Scenario(BASIC, "backward", draw(rng, n), {"dout": douts[0]})
    first, third = draw(rng, n), draw(rng, n)
    new = {k: third[k] for k in (*spec.inputs, *spec.fixed) if k in third}
    return [basic, perturb(basic),
            Scenario("single", "backward", draw(rng, 1), {"dout": douts[1]}),
            Scenario(DEFAULT, "backward", draw(rng, n), {}),
            Scenario("twice", "backward", twice(first, {}, new, {}),
                     {"dout": douts[1], "dout2": douts[2], "dout3": douts[3]})]


def scenarios_with(rng, draw: Callable, shape: tuple, others: dict) -> list[Scenario]:
    """basic (and its perturbation), others in their order, then twice, with inputs of the given
    shape from draw(rng, shape): others maps a name to a shape or to (rng) -> the arrays, each
    with a drawn dout but DEFAULT's. The three arrays of basic and twice are drawn first."""
    first, second, new = draw(rng, shape), draw(rng, shape), draw(rng, shape)
    found = [Scenario(BASIC, "backward", first, {"dout": dout(rng)})]
    found.append(perturb(found[0]))
    for name, make in others.items():
        arrays = make(rng) if callable(make) else draw(rng, make)
        found.append(Scenario(name, "backward", arrays, {} if name == DEFAULT else {"dout": dout(rng)}))
    douts = {"dout": dout(rng), "dout2": dout(rng), "dout3": dout(rng)}
    return [*found, Scenario("twice", "backward", twice(second, {}, new, {}), douts)]


def checks(spec: Loss, torch_scenario: str, torch_title: str = "{key} and the loss match PyTorch",
           **options) -> list:
    """The layer's standard checks, the loss's value compared with PyTorch's beside the first
    gradient."""
    options.setdefault("purity", (*spec.inputs, *spec.fixed))  # dout is a number: nothing to modify
    return layer.checks(spec, torch_scenario, torch_title, with_outputs=True, **options)


def edge_check(spec: Loss, check_id: str, scenario: str, title: str, with_loss: bool = True) -> Check:
    """An edge check on one scenario: every gradient (and the loss's value) as PyTorch's."""
    keys = (*spec.grads, *(spec.outputs if with_loss else ()))
    return Check(check_id, "edge", keys if len(keys) > 1 else keys[0], 1, scenario, matches_reference(*keys),
                 title)


def default_dout_check(spec: Loss) -> Check:
    """edge.default_dout: backward() called with no dout (the scenario `default`) means dout = 1."""
    return edge_check(spec, "edge.default_dout", DEFAULT, "backward() with the default dout = 1",
                      with_loss=False)


def call(p) -> tuple[str, float]:
    """(suffix of the inputs, dout) of the call a failed check is about: the first backward,
    the second one (dout2, the same inputs) or the one after a new forward (<input>3, dout3)."""
    params = p.ev.params(p.scenario)
    if p.check.call == "new_forward":
        return NEW, params["dout3"]
    return "", params["dout2"] if p.check.call == "second" else params.get("dout", 1.0)


project = layer.project


where = layer.where
sizes = layer.sizes
call_arrays = layer.call_arrays
MISTAKES = layer.MISTAKES


def labels(rng, n: int, classes: int) -> np.ndarray:
    """n class indices in [0, classes), int64."""
    return rng.integers(0, classes, size=n).astype(np.int64)
