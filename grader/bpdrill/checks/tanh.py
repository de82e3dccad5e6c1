"""Hidden checks for tanh: t = tanh(x) element-wise; dx."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, formula
from bpdrill.core.judge import Check, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import layer

SPEC = layer.Layer("Tanh", lambda torch, x: torch.tanh(x), numgrad_points=2, batch=None)


def _extreme(rng):
    """|x| up to 1e3 (tanh is exactly +-1 there, and 1 - t**2 exactly 0) beside ordinary values,
    so the comparison's scale is set by the ordinary ones."""
    fixed = [1e3, -1e3, 0.0, 20.0, -20.0, 400.0, -400.0]
    x = np.concatenate([fixed, rng.normal(size=4), 300 * rng.normal(size=5)])
    return rng.permutation(x).reshape(4, 4)


def scenarios(rng) -> list[Scenario]:
    n, m = (int(v) for v in rng.permutation(range(2, 8))[:2])
    shape3 = tuple(int(v) for v in rng.permutation(range(2, 6))[:3])
    basic = Scenario("basic", "backward", {"x": 1.5 * rng.normal(size=(n, m)), "dout": rng.normal(size=(n, m))})
    twice = layer.twice({"x": 1.5 * rng.normal(size=(n, m)), "dout": rng.normal(size=(n, m))},
                        {"dout": rng.normal(size=(n, m))},
                        {"x": 1.5 * rng.normal(size=(n, m))}, {"dout": rng.normal(size=(n, m))})
    return [
        basic, layer.perturb(basic),
        Scenario("nd", "backward", {"x": 1.5 * rng.normal(size=shape3), "dout": rng.normal(size=shape3)}),
        Scenario("single", "backward", {"x": 1.5 * rng.normal(size=(1, m)), "dout": rng.normal(size=(1, m))}),
        Scenario("extreme", "backward", {"x": _extreme(rng), "dout": rng.normal(size=(4, 4))}),
        Scenario("twice", "backward", twice),
    ]


CHECKS = [
    *layer.checks(SPEC, "nd", "dx matches PyTorch for a 3-D input"),
    Check("edge.extreme", "edge", ("out", "dx"), 1, "extreme", matches_reference("out", "dx"),
          "extreme inputs (|x| up to 1e3): finite and right"),
]


# ---- diagnosis ----------------------------------------------------------------------------

def _call(p):
    """(x, t, dout) of the call the check is about: the first one, a second backward, or a new forward."""
    a = layer.call_arrays(SPEC, p)
    return a["x"], np.tanh(a["x"]), a["dout"]


def _rule(evidence, rule):
    return formula(evidence, lambda p: rule(*_call(p)) if p.label == "dx" else None)


def _overflow(p):
    """Right on ordinary inputs, not finite at |x| = 1e3: tanh built from exp, which overflows."""
    if p.check.scenario == "extreme" and p.passed("numgrad.dx") and p.failure.nonfinite:
        return {"evidence": t("right for ordinary inputs, but |x| up to 1e3 gives {value}",
                              value=p.failure.nonfinite)}
    return None


MISTAKES = [
    Mistake("unstable_tanh", "exp overflowed: {evidence}. (exp(x) - exp(-x)) / (exp(x) + exp(-x)) is "
            "inf / inf = nan once |x| > 710: use np.tanh, finite for any x", _overflow),
    Mistake("derivative_on_preactivation", "the derivative was taken on the input x, not on the "
            "output t: {evidence}. Use the t that forward cached: dx = dout * (1 - t**2)",
            _rule("dx = dout * (1 - x**2)", lambda x, t, d: d * (1 - x * x))),
    Mistake("sigmoid_derivative", "that is the sigmoid's derivative s (1 - s), not tanh's: {evidence}. "
            "Use dx = dout * (1 - t**2)",
            _rule("dx = dout * t * (1 - t)", lambda x, t, d: d * t * (1 - t))),
    Mistake("missing_parentheses", "dout * 1 - t**2 is dout - t**2, not dout * (1 - t**2): {evidence}. "
            "Multiplication binds before subtraction: put 1 - t**2 in parentheses",
            _rule("dx = dout - t**2", lambda x, t, d: d - t * t)),
    Mistake("missing_square", "the square is missing: {evidence}. The derivative of tanh is "
            "1 - tanh(x)**2", _rule("dx = dout * (1 - t)", lambda x, t, d: d * (1 - t))),
    Mistake("tanh_of_cached_output", "tanh was applied to t, which already is tanh(x): {evidence}. "
            "Use t itself: dx = dout * (1 - t**2)",
            _rule("dx = dout * (1 - tanh(t)**2)", lambda x, t, d: d * (1 - np.tanh(t) ** 2))),
]
