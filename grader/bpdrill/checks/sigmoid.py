"""Hidden checks for sigmoid: s = 1 / (1 + exp(-x)) element-wise; dx."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, formula
from bpdrill.core.judge import Check, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.kinds import layer

SPEC = layer.Layer("Sigmoid", lambda torch, x: torch.sigmoid(x), numgrad_points=2, batch=None)


def scenarios(rng) -> list[Scenario]:
    n, m = rng.permutation(range(2, 8))[:2]
    basic = Scenario("basic", "backward", {"x": 2 * rng.normal(size=(n, m)), "dout": rng.normal(size=(n, m))})
    shape3 = tuple(int(s) for s in rng.integers(2, 5, size=3))
    extreme = np.concatenate([[1e3, -1e3, 0.0, 40.0, -40.0, 750.0, -750.0], 300 * rng.normal(size=9)])
    twice = layer.twice({"x": 2 * rng.normal(size=(n, m)), "dout": rng.normal(size=(n, m))},
                        {"dout": rng.normal(size=(n, m))}, {"x": 2 * rng.normal(size=(n, m))},
                        {"dout": rng.normal(size=(n, m))})
    return [
        basic, layer.perturb(basic),
        Scenario("nd", "backward", {"x": 2 * rng.normal(size=shape3), "dout": rng.normal(size=shape3)}),
        Scenario("extreme", "backward", {"x": extreme.reshape(4, 4), "dout": rng.normal(size=(4, 4))}),
        Scenario("twice", "backward", twice),
    ]


CHECKS = [  # no batch of one: element-wise, every shape is checked the same way
    *layer.checks(SPEC, "nd", "dx matches PyTorch for a 3-D input", single=None),
    Check("edge.extreme", "edge", ("out", "dx"), 1, "extreme", matches_reference("out", "dx"),
          "extreme inputs (|x| up to 1e3): finite and right"),
]


# ---- diagnosis ----------------------------------------------------------------------------

def _s(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


def _local(p, rule):
    """rule(x, s, dout) for the inputs of the check's call (the first one, or the new forward)."""
    a = layer.call_arrays(SPEC, p)
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
    Mistake("missing_parentheses", "dout * s * 1 - s is (dout * s) - s, not dout * s * (1 - s): "
            "{evidence}. Multiplication binds before subtraction: put 1 - s in parentheses",
            _rule("dx = dout * s - s", lambda x, s, d: d * s - s)),
    Mistake("sigmoid_of_cached_output", "sigmoid was applied to s, which already is the sigmoid: "
            "{evidence}. Use s itself", _rule("dx = dout * sigmoid(s) * (1 - sigmoid(s))",
                                             lambda x, s, d: d * _s(s) * (1 - _s(s)))),
]
