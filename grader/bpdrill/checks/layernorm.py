"""Hidden checks for layernorm: torch.nn.functional.layer_norm over the last axis of (..., D)."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, formula
from bpdrill.core.judge import Check, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.kinds import layer

EPS = 1e-5  # LayerNorm's default: the hidden layers are built with it
GRADS = ("dx", "dgamma", "dbeta")
SPEC = layer.Layer(
    "LayerNorm", lambda torch, x, gamma, beta: torch.nn.functional.layer_norm(x, gamma.shape, gamma, beta, EPS),
    params=("gamma", "beta"), make=lambda module, s: module.LayerNorm(s["gamma"].shape[0]),
    numgrad_points={"dx": 2})


def _x(rng, shape):
    """Vectors with their own means and spreads: the statistics over the last axis matter."""
    lead = tuple(shape[:-1]) + (1,)
    return rng.normal(size=lead) + rng.uniform(0.5, 2.0, size=lead) * rng.normal(size=shape)


def _inputs(rng, shape):
    d = shape[-1]
    # gamma never all ones and never near zero: dx_hat = dout * gamma must show
    gamma = rng.uniform(0.5, 2.0, size=d) * rng.choice([-1.0, 1.0], size=d)
    return {"x": _x(rng, shape), "gamma": gamma, "beta": rng.normal(size=d), "dout": rng.normal(size=shape)}


def scenarios(rng) -> list[Scenario]:
    # all different, so no axis can stand in for another; D >= 3: with D = 2 every vector
    # normalises to about (-1, 1) whatever x is, and dx is only eps-sized
    d = int(rng.integers(3, 8))
    b, t = (int(v) for v in rng.permutation([v for v in range(2, 8) if v != d])[:2])
    basic = Scenario("basic", "backward", _inputs(rng, (b, d)))
    twice = layer.twice(_inputs(rng, (b, d)), {"dout": rng.normal(size=(b, d))}, {"x": _x(rng, (b, d))},
                        {"dout": rng.normal(size=(b, d))})
    return [
        basic, layer.perturb(basic),
        Scenario("nd", "backward", _inputs(rng, (b, t, d))),
        Scenario("vector", "backward", _inputs(rng, (d,))),
        Scenario("twice", "backward", twice),
    ]


CHECKS = layer.checks(SPEC, "nd", "{key} matches PyTorch for a 3-D input (B, T, D)",
                      single=None, shape_scenario="nd", extra=(
    Check("torch.out", "torch", "out", 1, "nd", matches_reference("out"),
          "the forward matches torch.nn.functional.layer_norm for a 3-D input"),
    Check("edge.vector", "edge", GRADS, 1, "vector", matches_reference(*GRADS),
          "a 1-D input (D,), no leading axis")))


# ---- diagnosis: the known mistakes, recomputed in NumPy on the same inputs -------------------

def sizes(ev, scenario) -> dict:
    x = ev.inputs(scenario)["x"]
    return {"N": x.size // x.shape[-1]}  # how many vectors were normalised


def _call(p):
    """(x, gamma, dout) of the call the check is about."""
    a = layer.call_arrays(SPEC, p)
    return a["x"], a["gamma"], a["dout"]


def _normalised(x, axis=-1):
    """(x_hat, inv_std) with the statistics over `axis` (the last one, unless a mistake says)."""
    inv_std = 1.0 / np.sqrt(x.var(axis=axis, keepdims=True) + EPS)
    return (x - x.mean(axis=axis, keepdims=True)) * inv_std, inv_std


def _dx(x, gamma, dout, mean_term=True, xhat_term=True, reduce=np.mean, axis=-1):
    """dx of layer norm, optionally without a term, with sums for means, or over another axis."""
    x_hat, inv_std = _normalised(x)
    dx_hat = dout * gamma
    dx = dx_hat.copy()
    if mean_term:
        dx -= reduce(dx_hat, axis=axis, keepdims=True)
    if xhat_term:
        dx -= x_hat * reduce(dx_hat * x_hat, axis=axis, keepdims=True)
    return inv_std * dx


def _rule(label: str, evidence: str, rule):
    """A formula test for one array: rule(x, gamma, dout) is the wrong answer it looks for."""
    return formula(evidence, lambda p: rule(*_call(p)) if p.label == label else None)


def _first_axis_only(x, gamma, dout, label):
    summand = dout * _normalised(x)[0] if label == "dgamma" else dout
    return summand.sum(axis=0)


def _forward_over_batch(p):
    if p.label != "out" or p.check.call != "first":
        return None
    a = p.inputs
    return a["gamma"] * _normalised(a["x"], axis=0)[0] + a["beta"]


def _accumulated(p):
    """dgamma or dbeta added up over every backward so far (the same layer, the same scenario)."""
    if p.check.call not in ("second", "new_forward") or p.label not in ("dgamma", "dbeta"):
        return None
    a = p.inputs
    calls = [(a["x"], a["dout"]), (a["x"], a["dout2"])]
    if p.check.call == "new_forward":
        calls.append((a["x3"], a["dout3"]))
    d = a["gamma"].shape[0]
    total = 0.0
    for x, dout in calls:
        summand = dout * _normalised(x)[0] if p.label == "dgamma" else dout
        total = total + summand.reshape(-1, d).sum(axis=0)
    return total


def _stale(p):
    """The gradients of the new forward's dout, computed from the first forward's x."""
    if p.check.call != "new_forward" or p.label == "dbeta":
        return None
    a = p.inputs
    if p.label == "dx":
        return _dx(a["x"], a["gamma"], a["dout3"])
    return (a["dout3"] * _normalised(a["x"])[0]).reshape(-1, a["gamma"].shape[0]).sum(axis=0)


MISTAKES = [
    Mistake("backward_stats_over_batch_axis", "the means in dx run over axis 0, as in batchnorm: "
            "{evidence}. Layer norm normalises each vector over its last axis: mean(..., axis=-1, "
            "keepdims=True)",
            _rule("dx", "dx = inv_std * (dx_hat - mean(dx_hat, axis=0) - x_hat * mean(dx_hat * x_hat, axis=0))",
                  lambda x, g, d: _dx(x, g, d, axis=0))),
    Mistake("forward_stats_over_batch_axis", "the forward's mean and variance run over axis 0 "
            "(batch normalisation): {evidence}. Layer norm takes them over the last axis",
            formula("out = gamma * (x - x.mean(axis=0)) / sqrt(x.var(axis=0) + eps) + beta",
                    _forward_over_batch)),
    Mistake("dgamma_summed_over_first_axis_only", "{label} was summed over axis 0 only: {evidence}. "
            "gamma and beta touch every vector, so sum over every leading axis: "
            "dout.reshape(-1, D).sum(axis=0)",
            formula("got = the sum over axis 0 alone",
                    lambda p: _first_axis_only(*_call(p), p.label) if p.label in ("dgamma", "dbeta") else None)),
    Mistake("sums_instead_of_means", "dx has sums over the last axis where the formula has means: "
            "{evidence}. Divide those sums by D",
            _rule("dx", "dx = inv_std * (dx_hat - dx_hat.sum(-1) - x_hat * (dx_hat * x_hat).sum(-1))",
                  lambda x, g, d: _dx(x, g, d, reduce=np.sum))),
    Mistake("dx_missing_xhat_term", "dx lacks the term through the variance: {evidence}. The "
            "variance depends on every element of the vector: subtract x_hat * mean(dx_hat * x_hat, "
            "axis=-1, keepdims=True)",
            _rule("dx", "dx = inv_std * (dx_hat - mean(dx_hat, axis=-1))",
                  lambda x, g, d: _dx(x, g, d, xhat_term=False))),
    Mistake("dx_missing_mean_term", "dx lacks the term through the mean: {evidence}. The mean "
            "depends on every element of the vector: subtract mean(dx_hat, axis=-1, keepdims=True)",
            _rule("dx", "dx = inv_std * (dx_hat - x_hat * mean(dx_hat * x_hat, axis=-1))",
                  lambda x, g, d: _dx(x, g, d, mean_term=False))),
    Mistake("dx_treats_stats_as_constants", "the mean and variance were treated as constants: "
            "{evidence}. They depend on x, which adds two terms to dx (each vector of dx sums to 0)",
            _rule("dx", "dx = dout * gamma * inv_std",
                  lambda x, g, d: _dx(x, g, d, mean_term=False, xhat_term=False))),
    Mistake("dx_without_gamma", "the factor gamma is missing from dx: {evidence}. out = gamma * x_hat "
            "+ beta, so dx_hat = dout * gamma",
            _rule("dx", "dx equals the right formula with dx_hat = dout",
                  lambda x, g, d: _dx(x, np.ones_like(g), d))),
    Mistake("dgamma_without_xhat", "dgamma was summed from dout alone: {evidence}. out = gamma * "
            "x_hat + beta, so dgamma = sum of dout * x_hat over every leading axis",
            _rule("dgamma", "dgamma equals dbeta", lambda x, g, d: d.reshape(-1, g.shape[0]).sum(axis=0))),
]
