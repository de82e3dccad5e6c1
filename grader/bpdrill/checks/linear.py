"""Hidden checks for linear: out = x @ W + b; dx, dW, db."""
from __future__ import annotations

import numpy as np

from bpdrill import compare
from bpdrill.checks import Check, Scenario, matches_numgrad, matches_reference, same_shape, unchanged
from bpdrill.diagnose import Mistake, formula


def _inputs(rng, n, d_in, d_out):
    return {"x": rng.normal(size=(n, d_in)), "W": rng.normal(size=(d_in, d_out)),
            "b": rng.normal(size=d_out), "dout": rng.normal(size=(n, d_out))}


def scenarios(rng) -> list[Scenario]:
    n, d_in, d_out = rng.permutation(range(2, 8))[:3]  # three different sizes: nothing square
    basic = _inputs(rng, n, d_in, d_out)
    k = int(rng.integers(3, 6))
    twice = _inputs(rng, n, d_in, d_out)
    twice["dout2"] = rng.normal(size=(n, d_out))
    twice["x3"], twice["dout3"] = rng.normal(size=(n, d_in)), rng.normal(size=(n, d_out))
    return [
        Scenario("basic", "backward", basic),
        Scenario("basic.perturb", "perturb", basic, {"h": compare.H}),
        Scenario("square", "backward", _inputs(rng, k, k, k)),
        Scenario("single", "backward", _inputs(rng, 1, d_in, d_out)),
        Scenario("twice", "backward", twice),
    ]


def _project(ev, scenario):
    return compare.weighted_sum(ev.inputs(scenario)["dout"])


CHECKS = [
    Check("dx has the shape of x", "shape", "dx", 1, "basic", same_shape("dx", like="x")),
    Check("dW has the shape of W", "shape", "dW", 1, "basic", same_shape("dW", like="W")),
    Check("db has the shape of b", "shape", "db", 1, "basic", same_shape("db", like="b")),
    Check("dx matches the numerical gradient", "numgrad", "dx", 1, "basic",
          matches_numgrad("dx", "x", _project)),
    Check("dW matches the numerical gradient", "numgrad", "dW", 1, "basic",
          matches_numgrad("dW", "W", _project)),
    Check("db matches the numerical gradient", "numgrad", "db", 1, "basic",
          matches_numgrad("db", "b", _project)),
    Check("dx matches PyTorch (N = in = out)", "torch", "dx", 1, "square", matches_reference("dx")),
    Check("dW matches PyTorch (N = in = out)", "torch", "dW", 1, "square", matches_reference("dW")),
    Check("db matches PyTorch (N = in = out)", "torch", "db", 1, "square", matches_reference("db")),
    Check("batch of one", "edge", ("dx", "dW", "db"), 1, "single", matches_reference("dx", "dW", "db")),
    Check("a second backward overwrites dW and db", "edge", ("dx", "dW", "db"), 1, "twice",
          matches_reference(("dx2", "dx2", "dx"), ("dW2", "dW2", "dW"), ("db2", "db2", "db"))),
    Check("after a new forward, backward uses the new x", "edge", ("dx", "dW", "db"), 1, "twice",
          matches_reference(("dx3", "dx3", "dx"), ("dW3", "dW3", "dW"), ("db3", "db3", "db"))),
    Check("backward leaves x, W, b and dout unchanged", "purity", ("x", "W", "b", "dout"), 1, "basic",
          unchanged("x", "W", "b", "dout")),
]


# ---- diagnosis: what this exercise's known mistakes would produce -----------------------

def where(probe) -> str:
    return "Linear.backward"


def sizes(ev, scenario) -> dict:
    return {"N": ev.inputs(scenario)["x"].shape[0]}


def _grads(x, W, dout) -> dict:
    return {"dx": dout @ W.T, "dW": x.T @ dout, "db": dout.sum(axis=0)}


def _first_call(p):
    a = p.inputs
    return _grads(a["x"], a["W"], a["dout"])


MISTAKES = [
    Mistake("accumulated_not_overwritten", "{label} grew across calls: after a second backward it "
            "holds the sum of both calls' gradients. Assign self.{label} = ..., do not add to it",
            lambda p: p.check.name.startswith("a second backward") and formula(
                "got = first call + second call",
                lambda p: _first_call(p)[p.label] + _grads(p.inputs["x"], p.inputs["W"], p.inputs["dout2"])[p.label]
            )(p)),
    Mistake("stale_cache", "backward used the x of an earlier forward: {evidence}. Read the input "
            "forward cached this time, every time",
            lambda p: p.check.name.startswith("after a new forward") and formula(
                "after forward(x2), dW equals x1.T @ dout",
                lambda p: _grads(p.inputs["x"], p.inputs["W"], p.inputs["dout3"])[p.label])(p)),
    Mistake("dropped_upstream", "the upstream gradient dout was dropped: {label} equals the local "
            "derivative alone (what dout of ones would give). Chain it: multiply by dout",
            formula("dropped", lambda p: "dout" in p.inputs and _grads(
                p.inputs["x"], p.inputs["W"], np.ones_like(p.inputs["dout"]))[p.label])),
    Mistake("transposed", "dx uses W where W.T belongs: {evidence}",
            formula("dx = dout @ W; the shapes agree only when W is square",
                    lambda p: p.label == "dx" and "dout" in p.inputs and p.inputs["dout"] @ p.inputs["W"])),
]
