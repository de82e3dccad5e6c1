"""Hidden checks for swiglu: out = (silu(x @ W1) * (x @ W3)) @ W2 over (..., D); dx, dW1, dW2,
dW3."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, close
from bpdrill.core.judge import Check, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import layer

SPEC = layer.Layer(
    "SwiGLU", lambda torch, x, W1, W2, W3: (torch.nn.functional.silu(x @ W1) * (x @ W3)) @ W2,
    params=("W1", "W2", "W3"), make=lambda module, s: module.SwiGLU(*s.arrays["W2"].shape[::-1]))


def _inputs(rng, lead, d, h):
    shape = (*lead, d)
    # weights of scale ~1/sqrt(D): pre-activations of order 1, where silu is neither linear nor flat
    return {"x": rng.normal(size=shape), "W1": rng.normal(size=(d, h)) / np.sqrt(d),
            "W3": rng.normal(size=(d, h)) / np.sqrt(d), "W2": rng.normal(size=(h, d)) / np.sqrt(h),
            "dout": rng.normal(size=shape)}


def scenarios(rng) -> list[Scenario]:
    n, t_, d, h = (int(v) for v in rng.permutation(range(2, 8))[:4])  # all different: nothing square
    basic = Scenario("basic", "backward", _inputs(rng, (n,), d, h))
    first, again, new = (_inputs(rng, (n,), d, h) for _ in range(3))
    twice = layer.twice(first, {"dout": again["dout"]}, {"x": new["x"]}, {"dout": new["dout"]})
    return [basic, layer.perturb(basic),
            Scenario("nd", "backward", _inputs(rng, (n, t_), d, h)),
            Scenario("vector", "backward", _inputs(rng, (), d, h)),
            Scenario("single", "backward", _inputs(rng, (1,), d, h)),
            Scenario("twice", "backward", twice)]


def sizes(ev, scenario) -> dict:
    x = ev.inputs(scenario)["x"]
    return {"N": x.size // x.shape[-1]}  # how many vectors went through


GRADS = ("dx", "dW1", "dW2", "dW3")
CHECKS = layer.checks(SPEC, "nd", "{key} matches PyTorch for a 3-D input (B, T, D)", extra=(
    Check("edge.vector", "edge", GRADS, 1, "vector", matches_reference(*GRADS),
          "a 1-D input (D,), no leading axis"),))


# ---- diagnosis: the known mistakes, recomputed in NumPy on the same inputs -------------------

def _call(p):
    """(x, W1, W2, W3, dout) of the call the check is about."""
    a = layer.call_arrays(SPEC, p)
    return a["x"], a["W1"], a["W2"], a["W3"], a["dout"]


def _grads(x, W1, W2, W3, dout, silu_slope=None, dW2_from="h", swapped=False, dx_paths="both",
           partner=True, gate_partner=True):
    """Every gradient of SwiGLU, or of one wrong backward: silu_slope(a, s) for silu's derivative,
    dW2 from another activation, dW1 and dW3 swapped, dx through one branch only, da without
    its factor b (partner) or db without its factor silu(a) (gate_partner)."""
    d, hidden = W1.shape
    a, b = x @ W1, x @ W3
    s = 1.0 / (1.0 + np.exp(-a))
    g = a * s
    acts = {"h": g * b, "g": g, "b": b, "a": a}
    dh = dout @ W2.T
    slope = silu_slope(a, s) if silu_slope else s * (1.0 + a * (1.0 - s))
    da, db = dh * (b if partner else 1.0) * slope, dh * (g if gate_partner else 1.0)
    dW1, dW3 = x.reshape(-1, d).T @ da.reshape(-1, hidden), x.reshape(-1, d).T @ db.reshape(-1, hidden)
    if swapped:
        dW1, dW3 = dW3, dW1
    dx = {"both": da @ W1.T + db @ W3.T, "gate": da @ W1.T, "value": db @ W3.T}[dx_paths]
    return {"dx": dx, "dW1": dW1, "dW3": dW3, "dW2": acts[dW2_from].reshape(-1, hidden).T @ dout.reshape(-1, d)}


def _first_fitting(*candidates):
    """A Mistake test: the learner's array equals one of the candidates (evidence, options
    for _grads) and the right answer does not."""
    def test(p):
        if p.got is None or p.label not in GRADS:
            return None
        for evidence, options in candidates:
            wrong = _grads(*_call(p), **options)[p.label]
            if (p.expected is None or not close(p.expected, wrong)) and close(p.got, wrong):
                return {"evidence": t(evidence)}
        return None
    return test


def _not_summed(p):
    """A weight's gradient with the leading axes but the last kept: one (D, H) per example."""
    g, e = p.got, p.expected
    if g is None or e is None or p.label == "dx" or g.ndim <= e.ndim or g.shape[-2:] != e.shape:
        return None
    if close(g.reshape(-1, *e.shape).sum(axis=0), e):
        return {"evidence": t("got has shape {got}; summed over its leading axes it is right", got=g.shape)}
    return None


MISTAKES = [
    Mistake("silu_derivative_as_sigmoid", "silu's derivative was taken from the sigmoid alone: {evidence}. "
            "silu(a) = a * s, so silu'(a) = s + a * s * (1 - s) = s * (1 + a * (1 - s))",
            _first_fitting(("da = dh * b * s", {"silu_slope": lambda a, s: s}), ("da = dh * b * s * (1 - s)",
                            {"silu_slope": lambda a, s: s * (1.0 - s)})),
            at_code='^d\\w*\\s*=.*\\bs\\b'),
    Mistake("gate_and_value_swapped", "W1 and W3 swapped roles in backward: {evidence}. W1 feeds the "
            "gate silu(x @ W1), whose gradient goes through silu'; W3 feeds the value x @ W3, whose "
            "gradient is dh * silu(a)",
            _first_fitting(("dW1 and dW3 hold each other's gradient", {"swapped": True}))),
    Mistake("dW2_from_wrong_activation", "dW2 was computed from the wrong activation: {evidence}. "
            "out = h @ W2 with h = silu(x @ W1) * (x @ W3), so dW2 = h^T dout",
            _first_fitting(("dW2 = silu(a)^T dout, without the value b", {"dW2_from": "g"}),
                           ("dW2 = b^T dout, without the gate", {"dW2_from": "b"}),
                           ("dW2 = a^T dout, from the pre-activation", {"dW2_from": "a"}))),
    Mistake("dx_through_one_branch", "dx follows only one of the two branches: {evidence}. x feeds "
            "both x @ W1 and x @ W3, so dx = da @ W1.T + db @ W3.T",
            _first_fitting(("dx = da @ W1.T, the value's branch missing", {"dx_paths": "gate"}),
                           ("dx = db @ W3.T, the gate's branch missing", {"dx_paths": "value"}))),
    Mistake("product_rule_factor_missing", "the product rule lost a factor at h = silu(a) * b: "
            "{evidence}. Each factor's gradient is dh times the other factor: da = dh * b * silu'(a), "
            "db = dh * silu(a)",
            _first_fitting(("da = dh * silu'(a), without the value b", {"partner": False}),
                           ("db = dh, without the gate silu(a)", {"gate_partner": False})),
            at_code='^d\\w*\\s*=.*\\bs\\b'),
    Mistake("weight_grad_not_summed_over_leading_axes", "{label} was not summed over every leading "
            "axis: {evidence}. The weights act on every vector alike: flatten x and the gradients "
            "to (M, D) and (M, H), then multiply", _not_summed),
]
