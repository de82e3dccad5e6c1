"""Hidden checks for linear: out = x @ W + b; dx, dW, db."""
from __future__ import annotations

from bpdrill.core.diagnose import Mistake, formula
from bpdrill.core.protocol import Scenario
from bpdrill.kinds import layer

SPEC = layer.Layer("Linear", lambda torch, x, W, b: x @ W + b, params=("W", "b"),
                   make=lambda module, s: module.Linear(*s["W"].shape))


def _inputs(rng, n, d_in, d_out):
    return {"x": rng.normal(size=(n, d_in)), "W": rng.normal(size=(d_in, d_out)),
            "b": rng.normal(size=d_out), "dout": rng.normal(size=(n, d_out))}


def scenarios(rng) -> list[Scenario]:
    n, d_in, d_out = rng.permutation(range(2, 8))[:3]  # three different sizes: nothing square
    basic = Scenario("basic", "backward", _inputs(rng, n, d_in, d_out))
    k = int(rng.integers(3, 6))
    twice = layer.twice(_inputs(rng, n, d_in, d_out), {"dout": rng.normal(size=(n, d_out))},
                        {"x": rng.normal(size=(n, d_in))}, {"dout": rng.normal(size=(n, d_out))})
    return [
        basic, layer.perturb(basic),
        Scenario("square", "backward", _inputs(rng, k, k, k)),
        Scenario("single", "backward", _inputs(rng, 1, d_in, d_out)),
        Scenario("twice", "backward", twice),
    ]


CHECKS = layer.checks(SPEC, "square", "{key} matches PyTorch (N = in = out)")


# ---- diagnosis: what this exercise's known mistakes would produce -----------------------

MISTAKES = [
    Mistake("transposed", "dx uses W where W.T belongs: {evidence}",
            formula("dx = dout @ W; the shapes agree only when W is square",
                    lambda p: p.label == "dx" and "dout" in p.inputs and p.inputs["dout"] @ p.inputs["W"])),
]
