"""Hidden checks for sigmoid: s = 1 / (1 + exp(-x)) element-wise; dx."""
from __future__ import annotations

import numpy as np

from bpdrill import compare
from bpdrill.checks import Check, Scenario, matches_numgrad, matches_reference, same_shape, unchanged
from bpdrill.diagnose import Mistake, first_call_right, formula


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


# ---- diagnosis ----------------------------------------------------------------------------

def where(probe) -> str:
    return "Sigmoid.backward"


def sizes(ev, scenario) -> dict:
    return {}


def _s(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


def _local(p, rule):
    """rule(x, s, dout) for the inputs of the check's call (the first one, or the new forward)."""
    a = p.inputs
    if p.check.name.startswith("after a new forward"):
        return rule(a["x3"], _s(a["x3"]), a["dout3"])
    if p.check.name.startswith("a second backward"):
        return rule(a["x"], _s(a["x"]), a["dout2"])
    return rule(a["x"], _s(a["x"]), a["dout"])


def _rule(evidence, rule):
    return formula(evidence, lambda p: _local(p, rule))


MISTAKES = [
    Mistake("derivative_on_preactivation", "the derivative was taken on the input x, not on the "
            "output s: {evidence}. Use the s that forward cached: dx = dout * s * (1 - s)",
            _rule("dx = dout * x * (1 - x)", lambda x, s, d: d * x * (1 - x))),
    Mistake("tanh_derivative", "that is tanh's derivative, not the sigmoid's: {evidence}. "
            "Use dx = dout * s * (1 - s)", _rule("dx = dout * (1 - s**2)", lambda x, s, d: d * (1 - s**2))),
    Mistake("missing_one_minus_s", "the (1 - s) factor is missing: {evidence}",
            _rule("dx = dout * s", lambda x, s, d: d * s)),
    Mistake("sigmoid_of_cached_output", "sigmoid was applied to s, which already is the sigmoid: "
            "{evidence}. Use s itself", _rule("dx = dout * sigmoid(s) * (1 - sigmoid(s))",
                                             lambda x, s, d: d * _s(s) * (1 - _s(s)))),
    Mistake("dropped_upstream", "the upstream gradient dout was dropped: {evidence}. Multiply by dout",
            _rule("dx = s * (1 - s), whatever dout is", lambda x, s, d: s * (1 - s))),
    Mistake("stale_cache", "backward used the output of an earlier forward: {evidence}",
            lambda p: p.check.name.startswith("after a new forward") and formula(
                "after forward(x2), dx was computed from s(x1)",
                lambda p: p.inputs["dout3"] * _s(p.inputs["x"]) * (1 - _s(p.inputs["x"])))(p)),
    Mistake("cache_modified_in_place", "backward changed what forward cached: {evidence}. "
            "Compute into a new array instead of modifying self.out in place",
            lambda p: p.check.name.startswith("a second backward") and first_call_right("dx")(p)),
]
