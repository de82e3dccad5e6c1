"""Hidden checks for relu: out = max(x, 0) element-wise; dx, with the derivative at exactly 0 taken as 0."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, close, formula
from bpdrill.core.judge import Check, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.kinds import layer

SPEC = layer.Layer("ReLU", lambda torch, x: torch.relu(x), numgrad_points=2, batch=None)


def _away_from_zero(rng, shape):
    """Normal draws kept 0.01 away from the kink, where central differences see dout / 2."""
    x = rng.normal(size=shape)
    x[np.abs(x) < 0.01] = 0.5
    return x


def _with_zeros(rng, shape):
    """Normal draws with two exact 0.0 and two -0.0 at random places, and both signs elsewhere."""
    x = _away_from_zero(rng, shape).reshape(-1)
    place = rng.permutation(x.size)
    x[place[:2]], x[place[2:4]] = 0.0, -0.0
    x[place[4]], x[place[5]] = abs(x[place[4]]), -abs(x[place[5]])
    return x.reshape(shape)


def scenarios(rng) -> list[Scenario]:
    n, m = (int(v) for v in rng.permutation(range(2, 8))[:2])
    shape3 = tuple(int(v) for v in rng.permutation(range(2, 6))[:3])
    basic = Scenario("basic", "backward", {"x": _away_from_zero(rng, (n, m)), "dout": rng.normal(size=(n, m))})
    twice = layer.twice({"x": _away_from_zero(rng, (n, m)), "dout": rng.normal(size=(n, m))},
                        {"dout": rng.normal(size=(n, m))}, {"x": _away_from_zero(rng, (n, m))},
                        {"dout": rng.normal(size=(n, m))})
    return [
        basic, layer.perturb(basic),
        Scenario("nd", "backward", {"x": _away_from_zero(rng, shape3), "dout": rng.normal(size=shape3)}),
        Scenario("zeros", "backward", {"x": _with_zeros(rng, (m, n)), "dout": rng.normal(size=(m, n))}),
        Scenario("single", "backward", {"x": _with_zeros(rng, (1, 7)), "dout": rng.normal(size=(1, 7))}),
        Scenario("twice", "backward", twice),
    ]


CHECKS = [
    *layer.checks(SPEC, "nd", "dx matches PyTorch for a 3-D input"),
    Check("edge.zero", "edge", "dx", 1, "zeros", matches_reference("dx"),
          "at x = 0 exactly (and -0.0) the derivative is 0, as in PyTorch"),
]


# ---- diagnosis ----------------------------------------------------------------------------

def _call(p):
    """(x, dout) of the call the check is about: the first one, a second backward, or a new forward."""
    a = layer.call_arrays(SPEC, p)
    return a["x"], a["dout"]


def _rule(evidence, rule):
    """formula() for dx, claimed only if rule(x, dout) also gives the learner's dx on the basic
    scenario: on a few elements two masks can agree by chance (dout > 0 exactly where x >= 0)."""
    def candidate(p):
        a = p.ev.inputs("basic")
        basic = p.learner("basic", "dx")
        if basic is None or not close(basic, rule(a["x"], a["dout"])):
            return None
        return rule(*_call(p))
    return formula(evidence, candidate)


MISTAKES = [
    Mistake("mask_includes_zero", "at x = 0 exactly the gradient passed through: {evidence}. "
            "PyTorch takes the derivative at 0 as 0: use x > 0, not x >= 0",
            _rule("dx = dout * (x >= 0): dout where x is 0.0 or -0.0", lambda x, d: d * (x >= 0)),
            at_code=r"[<>]|sign\(|where\(|heaviside|mask"),
    Mistake("mask_always_true", "dx equals dout everywhere, also where x < 0: {evidence}. A mask built from "
            "the output with out >= 0 lets everything through, since out = max(x, 0) is never negative: "
            "use out > 0 (or x > 0)",
            _rule("got = dout", lambda x, d: d), at_code=r"[<>]|sign\(|where\(|heaviside|mask"),
    Mistake("mask_on_upstream", "the mask was built from dout instead of the input x: {evidence}. "
            "The gradient flows where the unit was on in forward: dx = dout * (x > 0)",
            _rule("dx = dout * (dout > 0), whatever x is", lambda x, d: d * (d > 0)),
            at_code=r"[<>]|sign\(|where\(|heaviside|mask"),
    Mistake("output_instead_of_derivative", "dout was multiplied by the activation relu(x) itself, not "
            "by its derivative: {evidence}. The derivative is the 0/1 step (x > 0)",
            _rule("dx = dout * max(x, 0)", lambda x, d: d * np.maximum(x, 0))),
    Mistake("sign_instead_of_step", "np.sign(x) is not ReLU's derivative: {evidence}. Where x < 0 the "
            "derivative is 0, not -1: use (x > 0)",
            _rule("dx = dout * sign(x): -dout where x < 0", lambda x, d: d * np.sign(x)),
            at_code=r"[<>]|sign\(|where\(|heaviside|mask"),
    Mistake("mask_inverted", "the mask is the wrong way round: {evidence}. The gradient flows where "
            "x > 0, and is 0 where x <= 0",
            _rule("dx = dout * (x <= 0)", lambda x, d: d * (x <= 0)),
            at_code=r"[<>]|sign\(|where\(|heaviside|mask"),
]
