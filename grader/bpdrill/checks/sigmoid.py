"""Hidden checks for sigmoid: s = 1 / (1 + exp(-x)) element-wise; dx."""
from __future__ import annotations

import numpy as np

from bpdrill.core import compare
from bpdrill.core.diagnose import Mistake, close, first_call_right, formula
from bpdrill.core.driving import drive_layer
from bpdrill.core.judge import Check, matches_reference, numgrad_check, shape_check, unchanged_check
from bpdrill.core.protocol import Scenario


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
    shape_check("dx", like="x"),
    numgrad_check("dx", "x", _project, points=2),
    Check("torch.dx", "torch", "dx", 1, "nd", matches_reference("dx"), "dx matches PyTorch for a 3-D input",
          "三维输入时 dx 与 PyTorch 一致"),
    Check("edge.extreme", "edge", ("out", "dx"), 1, "extreme", matches_reference("out", "dx"),
          "extreme inputs (|x| up to 1e3): finite and right", "极端输入（|x| 最大到 1e3）：结果有限且正确"),
    Check("edge.second_backward", "edge", "dx", 1, "twice", matches_reference(("dx2", "dx2", "dx")),
          "a second backward with a new dout", "用新的 dout 再调用一次 backward", call="second"),
    Check("edge.new_forward", "edge", "dx", 1, "twice", matches_reference(("dx3", "dx3", "dx")),
          "after a new forward, backward uses the new x", "新的 forward 之后，backward 使用新的 x",
          call="new_forward"),
    unchanged_check("x", "dout"),
]


# ---- the worker's side ----------------------------------------------------------------------

def drive(module, s: Scenario) -> dict:
    return drive_layer(module.Sigmoid(), s)


# ---- the trusted side: PyTorch float64 ------------------------------------------------------

def reference(ref, s: Scenario) -> dict:
    return ref.layer(s, ref.torch.sigmoid)


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
    if p.check.call == "new_forward":
        return rule(a["x3"], _s(a["x3"]), a["dout3"])
    if p.check.call == "second":
        return rule(a["x"], _s(a["x"]), a["dout2"])
    return rule(a["x"], _s(a["x"]), a["dout"])


def _rule(evidence, rule):
    return formula(evidence, lambda p: _local(p, rule))


def _changed_cache(p) -> bool:
    """The second dx is dout2 * c * (1 - c) for a cache c the first call wrote in place
    (s * (1 - s), 1 - s, or the first dx): the fingerprint of a cache modified."""
    a = p.inputs
    s = _s(a["x"])
    return any(close(p.got, a["dout2"] * c * (1 - c)) for c in (s * (1 - s), 1 - s, a["dout"] * s * (1 - s)))


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
            lambda p: p.check.call == "new_forward" and formula(
                "after forward(x2), dx was computed from s(x1)",
                lambda p: p.inputs["dout3"] * _s(p.inputs["x"]) * (1 - _s(p.inputs["x"])))(p)),
    Mistake("cache_modified_in_place", "backward changed what forward cached: {evidence}. "
            "Compute into a new array instead of modifying self.out in place",
            lambda p: p.check.call == "second" and _changed_cache(p) and first_call_right("dx")(p)),
]
