"""Hidden checks for softmax_ce: mean cross-entropy of softmax(logits); dlogits."""
from __future__ import annotations

import numpy as np

from bpdrill import compare
from bpdrill.checks import Check, Scenario, matches_numgrad, matches_reference, same_shape, unchanged


def _inputs(rng, n, c, scale=2.0):
    return {"logits": scale * rng.normal(size=(n, c)), "y": rng.integers(0, c, size=n)}


def _dout(rng) -> float:
    return float(rng.uniform(0.5, 2.0) * rng.choice([-1, 1]))  # never 1: a dropped dout shows


def scenarios(rng) -> list[Scenario]:
    n, c = rng.permutation(range(2, 8))[:2]  # N != C
    k = int(rng.integers(3, 7))
    basic = _inputs(rng, n, c)
    extreme = _inputs(rng, n, c)
    extreme["logits"] = rng.choice([-1000.0, 1000.0], size=(n, c)) + rng.normal(size=(n, c))
    twice = _inputs(rng, n, c)
    later = _inputs(rng, n, c)
    twice.update({"logits3": later["logits"], "y3": later["y"]})
    return [
        Scenario("basic", "backward", basic, {"dout": _dout(rng)}),
        Scenario("basic.perturb", "perturb", basic, {"h": compare.H}),
        Scenario("square", "backward", _inputs(rng, k, k), {"dout": _dout(rng)}),
        Scenario("single", "backward", _inputs(rng, 1, c), {"dout": _dout(rng)}),
        Scenario("default", "backward", _inputs(rng, n, c), {}),
        Scenario("extreme", "backward", extreme, {"dout": _dout(rng)}),
        Scenario("twice", "backward", twice, {"dout": _dout(rng), "dout2": _dout(rng), "dout3": _dout(rng)}),
    ]


def _project(ev, scenario):
    dout = ev.params(scenario[: -len(".perturb")])["dout"]
    return lambda losses: dout * losses


CHECKS = [
    Check("dlogits has the shape of logits", "shape", "dlogits", 1, "basic",
          same_shape("dlogits", like="logits")),
    Check("dlogits matches the numerical gradient", "numgrad", "dlogits", 2, "basic",
          matches_numgrad("dlogits", "logits", _project)),
    Check("dlogits matches PyTorch (N = C)", "torch", "dlogits", 1, "square", matches_reference("dlogits")),
    Check("batch of one", "edge", "dlogits", 1, "single", matches_reference("dlogits")),
    Check("backward() with the default dout = 1", "edge", "dlogits", 1, "default",
          matches_reference("dlogits")),
    Check("logits of +-1000: finite loss and gradient", "edge", ("loss", "dlogits"), 1, "extreme",
          matches_reference("loss", "dlogits")),
    Check("a second backward leaves the cached softmax intact", "purity", "dlogits", 1, "twice",
          matches_reference(("dlogits2", "dlogits2", "dlogits"))),
    Check("after a new forward, backward uses the new logits", "edge", "dlogits", 1, "twice",
          matches_reference(("dlogits3", "dlogits3", "dlogits"))),
    Check("backward leaves logits and y unchanged", "purity", ("logits", "y"), 1, "basic",
          unchanged("logits", "y")),
]
