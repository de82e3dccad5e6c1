"""Hidden checks for sigmoid: s = 1 / (1 + exp(-x)) element-wise; dx."""
from __future__ import annotations

import numpy as np

from bpdrill import compare
from bpdrill.checks import Check, Scenario, matches_numgrad, matches_reference, same_shape, unchanged


def scenarios(rng) -> list[Scenario]:
    n, m = rng.permutation(range(2, 8))[:2]
    basic = {"x": 2 * rng.normal(size=(n, m)), "dout": rng.normal(size=(n, m))}
    shape3 = tuple(int(s) for s in rng.integers(2, 5, size=3))
    extreme = np.concatenate([[1e3, -1e3, 0.0, 40.0, -40.0, 750.0, -750.0], 300 * rng.normal(size=9)])
    twice = {"x": 2 * rng.normal(size=(n, m)), "dout": rng.normal(size=(n, m)),
             "dout2": rng.normal(size=(n, m)), "x3": 2 * rng.normal(size=(n, m)),
             "dout3": rng.normal(size=(n, m))}
    return [
        Scenario("basic", "backward", basic),
        Scenario("basic.perturb", "perturb", basic, {"h": compare.H}),
        Scenario("nd", "backward", {"x": 2 * rng.normal(size=shape3), "dout": rng.normal(size=shape3)}),
        Scenario("extreme", "backward", {"x": extreme.reshape(4, 4), "dout": rng.normal(size=(4, 4))}),
        Scenario("twice", "backward", twice),
    ]


def _project(ev, scenario):
    return compare.weighted_sum(ev.inputs(scenario)["dout"])


CHECKS = [
    Check("dx has the shape of x", "shape", "dx", 1, "basic", same_shape("dx", like="x")),
    Check("dx matches the numerical gradient", "numgrad", "dx", 2, "basic",
          matches_numgrad("dx", "x", _project)),
    Check("dx matches PyTorch for a 3-D input", "torch", "dx", 1, "nd", matches_reference("dx")),
    Check("extreme inputs (|x| up to 1e3): finite and right", "edge", ("out", "dx"), 1, "extreme",
          matches_reference("out", "dx")),
    Check("a second backward with a new dout", "edge", "dx", 1, "twice",
          matches_reference(("dx2", "dx2", "dx"))),
    Check("after a new forward, backward uses the new x", "edge", "dx", 1, "twice",
          matches_reference(("dx3", "dx3", "dx"))),
    Check("backward leaves x and dout unchanged", "purity", ("x", "dout"), 1, "basic",
          unchanged("x", "dout")),
]
