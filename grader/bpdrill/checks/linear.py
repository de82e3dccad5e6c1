"""Hidden checks for linear: out = x @ W + b; dx, dW, db."""
from __future__ import annotations

import numpy as np

from bpdrill.core import compare
from bpdrill.core.diagnose import Mistake, formula
from bpdrill.core.judge import Check, matches_reference, numgrad_check, shape_check, unchanged_check
from bpdrill.core.protocol import Scenario
from bpdrill.core.driving import perturbed_outputs, snapshot


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
    shape_check("dx", like="x"),
    shape_check("dW", like="W"),
    shape_check("db", like="b"),
    numgrad_check("dx", "x", _project),
    numgrad_check("dW", "W", _project),
    numgrad_check("db", "b", _project),
    *[Check(f"torch.{g}", "torch", g, 1, "square", matches_reference(g), "{key} matches PyTorch (N = in = out)",
            "{key} 与 PyTorch 一致（N = in = out）", title_args=(("key", g),)) for g in ("dx", "dW", "db")],
    Check("edge.single", "edge", ("dx", "dW", "db"), 1, "single", matches_reference("dx", "dW", "db"),
          "batch of one", "批大小为 1"),
    Check("edge.second_backward", "edge", ("dx", "dW", "db"), 1, "twice",
          matches_reference(("dx2", "dx2", "dx"), ("dW2", "dW2", "dW"), ("db2", "db2", "db")),
          "a second backward overwrites dW and db", "第二次 backward 会覆盖 dW 和 db", call="second"),
    Check("edge.new_forward", "edge", ("dx", "dW", "db"), 1, "twice",
          matches_reference(("dx3", "dx3", "dx"), ("dW3", "dW3", "dW"), ("db3", "db3", "db")),
          "after a new forward, backward uses the new x", "新的 forward 之后，backward 使用新的 x",
          call="new_forward"),
    unchanged_check("x", "W", "b", "dout"),
]


# ---- the worker's side: drive the learner's Linear ----------------------------------------

def drive(module, s: Scenario) -> dict:
    W, b = s["W"], s["b"]
    layer = module.Linear(*W.shape)
    layer.W, layer.b = W, b
    if s.mode == "perturb":
        x = s["x"]
        out = {}
        for name, array in (("x", x), ("W", W), ("b", b)):
            out[f"plus.{name}"], out[f"minus.{name}"] = perturbed_outputs(
                lambda: layer.forward(x), array, s.params["h"])
        return out
    x, dout = s["x"], s["dout"]
    out = {"out": snapshot(layer.forward(x))}
    out["dx"] = snapshot(layer.backward(dout))
    out["dW"], out["db"] = snapshot(layer.dW), snapshot(layer.db)
    if "dout2" in s:
        out["dx2"] = snapshot(layer.backward(s["dout2"]))
        out["dW2"], out["db2"] = snapshot(layer.dW), snapshot(layer.db)
    if "x3" in s:  # a new forward: backward must use this input, not a stale one
        layer.forward(s["x3"])
        out["dx3"] = snapshot(layer.backward(s["dout3"]))
        out["dW3"], out["db3"] = snapshot(layer.dW), snapshot(layer.db)
    out.update({"after.x": x, "after.W": W, "after.b": b, "after.dout": dout})
    return out


# ---- the trusted side: PyTorch float64 ------------------------------------------------------

def reference(ref, s: Scenario) -> dict:
    a, out = s.arrays, {}
    for suffix in ("", "2", "3"):
        if f"dout{suffix}" not in a:
            continue
        x = ref.leaf(a["x3" if suffix == "3" else "x"])
        W, b = ref.leaf(a["W"]), ref.leaf(a["b"])
        y = x @ W + b
        ref.backward(y, a[f"dout{suffix}"])
        out.update({f"out{suffix}": ref.numpy(y), f"dx{suffix}": ref.numpy(x.grad),
                    f"dW{suffix}": ref.numpy(W.grad), f"db{suffix}": ref.numpy(b.grad)})
    return out


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
            lambda p: p.check.call == "second" and formula(
                "got = first call + second call",
                lambda p: _first_call(p)[p.label] + _grads(p.inputs["x"], p.inputs["W"], p.inputs["dout2"])[p.label]
            )(p)),
    Mistake("stale_cache", "backward used the x of an earlier forward: {evidence}. Read the input "
            "forward cached this time, every time",
            lambda p: p.check.call == "new_forward" and formula(
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
