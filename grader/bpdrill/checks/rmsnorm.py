"""Hidden checks for rmsnorm: torch.nn.functional.rms_norm over the last axis of (..., D); dx,
dweight."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, formula
from bpdrill.core.judge import Check, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.kinds import layer

EPS = 1e-6  # RMSNorm's default: the hidden layers are built with it

SPEC = layer.Layer("RMSNorm", lambda torch, x, weight: torch.nn.functional.rms_norm(
    x, (weight.shape[0],), weight, EPS), params=("weight",),
    make=lambda module, s: module.RMSNorm(s.arrays["weight"].shape[0]), numgrad_points=2)


def _x(rng, shape, scale=1.0):
    """Vectors with their own sizes (and means away from 0): each vector's rms matters."""
    lead = tuple(shape[:-1]) + (1,)
    return scale * (0.5 * rng.normal(size=lead) + rng.uniform(0.3, 2.0, size=lead) * rng.normal(size=shape))


def _inputs(rng, shape, scale=1.0):
    d = shape[-1]
    # weight never all ones and never near zero: dx_hat = dout * weight must show
    weight = rng.uniform(0.5, 2.0, size=d) * rng.choice([-1.0, 1.0], size=d)
    return {"x": _x(rng, shape, scale), "weight": weight, "dout": rng.normal(size=shape)}


def scenarios(rng) -> list[Scenario]:
    # D >= 3 and every size different, so no axis can stand in for another
    d = int(rng.integers(3, 8))
    b, t = (int(v) for v in rng.permutation([v for v in range(2, 8) if v != d])[:2])
    basic = Scenario("basic", "backward", _inputs(rng, (b, d)))
    first, again, new = _inputs(rng, (b, d)), _inputs(rng, (b, d)), _inputs(rng, (b, d))
    twice = layer.twice(first, {"dout": again["dout"]}, {"x": new["x"]}, {"dout": new["dout"]})
    return [basic, layer.perturb(basic),
            Scenario("nd", "backward", _inputs(rng, (b, t, d))),
            Scenario("vector", "backward", _inputs(rng, (d,))),
            # mean(x**2) ~ 1e-6 = eps: where eps sits (inside the square root) decides
            Scenario("small", "backward", _inputs(rng, (b, d), scale=1e-3)),
            Scenario("single", "backward", _inputs(rng, (1, d))),
            Scenario("twice", "backward", twice)]


def sizes(ev, scenario) -> dict:
    x = ev.inputs(scenario)["x"]
    return {"N": x.size // x.shape[-1]}  # how many vectors were normalised


GRADS = ("dx", "dweight")
CHECKS = layer.checks(SPEC, "nd", "{key} matches torch.nn.functional.rms_norm for a 3-D input (B, T, D)",
                      extra=(
    Check("edge.vector", "edge", GRADS, 1, "vector", matches_reference(*GRADS),
          "a 1-D input (D,), no leading axis"),
    Check("edge.small", "edge", GRADS, 1, "small", matches_reference(*GRADS),
          "inputs of size 1e-3, where mean(x**2) is as small as eps")))


# ---- diagnosis: the known mistakes, recomputed in NumPy on the same inputs -------------------

def _call(p):
    """(x, weight, dout) of the call the check is about."""
    a = layer.call_arrays(SPEC, p)
    return a["x"], a["weight"], a["dout"]


def _inv(x, eps="inside"):
    ms = (x * x).mean(axis=-1, keepdims=True)
    return 1.0 / {"inside": np.sqrt(ms + EPS), "outside": np.sqrt(ms) + EPS, "none": np.sqrt(ms)}[eps]


def _dx(x, w, dout, term=1.0, reduce=np.mean, weight=True, eps="inside", mean_term=False):
    """dx of RMSNorm, with the term through inv_rms scaled by `term`, sums for means, ..."""
    inv = _inv(x, eps)
    x_hat, g = x * inv, dout * w if weight else dout
    centred = g - g.mean(axis=-1, keepdims=True) if mean_term else g  # LayerNorm's extra term
    return inv * (centred - term * x_hat * reduce(g * x_hat, axis=-1, keepdims=True))


def _rule(label, evidence, rule):
    return formula(evidence, lambda p: rule(*_call(p)) if p.label == label else None)


def _dweight(summand, d):
    return summand.reshape(-1, d).sum(axis=0)


MISTAKES = [
    Mistake("rms_treated_as_constant", "inv_rms was treated as a constant: {evidence}. It depends "
            "on every element of the vector, which adds - x_hat * mean(dx_hat * x_hat, axis=-1) to dx",
            _rule("dx", "dx = dout * weight * inv_rms", lambda x, w, d: _dx(x, w, d, term=0.0))),
    Mistake("layernorm_mean_term", "dx has LayerNorm's term through the mean: {evidence}. RMSNorm "
            "subtracts no mean, so dx = inv_rms * (dx_hat - x_hat * mean(dx_hat * x_hat)) has no "
            "- mean(dx_hat) term",
            _rule("dx", "dx = inv_rms * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))",
                  lambda x, w, d: _dx(x, w, d, mean_term=True))),
    Mistake("x_hat_term_halved", "the term through the mean of squares is half what it should be: "
            "{evidence}. d sqrt(ms)/d ms brings 1/2, but d ms/dx = 2 x / D brings 2: they cancel",
            _rule("dx", "dx = inv_rms * (dx_hat - 0.5 * x_hat * mean(dx_hat * x_hat))",
                  lambda x, w, d: _dx(x, w, d, term=0.5))),
    Mistake("mean_square_derivative_without_2x", "d mean(x**2)/dx was taken as 1/D, as for a mean "
            "of x: {evidence}. The mean of squares has d ms/dx = 2 x / D",
            _rule("dx", "dx = inv_rms * dx_hat - 0.5 * inv_rms**3 * mean(dx_hat * x)",
                  lambda x, w, d: _inv(x) * d * w - 0.5 * _inv(x) ** 3 * (d * w * x).mean(axis=-1, keepdims=True))),
    Mistake("eps_outside_sqrt", "backward recomputed the rms with eps outside the square root: "
            "{evidence}. inv_rms = 1 / sqrt(mean(x**2) + eps): use the inv_rms forward cached",
            _rule("dx", "inv_rms = 1 / (sqrt(mean(x**2)) + eps)",
                  lambda x, w, d: _dx(x, w, d, eps="outside"))),
    Mistake("eps_dropped_in_backward", "backward recomputed the rms without eps: {evidence}. "
            "Forward divided by sqrt(mean(x**2) + eps): use the inv_rms it cached",
            _rule("dx", "inv_rms = 1 / sqrt(mean(x**2))", lambda x, w, d: _dx(x, w, d, eps="none"))),
    Mistake("sums_instead_of_means", "dx has a sum over the last axis where the formula has a mean: "
            "{evidence}. Divide that sum by D",
            _rule("dx", "dx = inv_rms * (dx_hat - x_hat * (dx_hat * x_hat).sum(-1))",
                  lambda x, w, d: _dx(x, w, d, reduce=np.sum))),
    Mistake("dx_without_weight", "the factor weight is missing from dx: {evidence}. out = x_hat * "
            "weight, so dx_hat = dout * weight",
            _rule("dx", "dx equals the right formula with dx_hat = dout",
                  lambda x, w, d: _dx(x, w, d, weight=False)),
            at_code='^d\\w*hat\\w*\\s*='),
    Mistake("dweight_summed_over_first_axis_only", "dweight was summed over axis 0 only: {evidence}. "
            "weight scales every vector, so sum over every leading axis: (dout * x_hat).reshape(-1, D).sum(axis=0)",
            formula("got = the sum over axis 0 alone",
                    lambda p: (lambda x, w, d: (d * x * _inv(x)).sum(axis=0))(*_call(p)) if p.label == "dweight" else None)),
    Mistake("dweight_from_unnormalised_x", "dweight was summed from dout * x, not dout * x_hat: "
            "{evidence}. weight multiplies the normalised x_hat = x * inv_rms",
            _rule("dweight", "dweight = sum of dout * x", lambda x, w, d: _dweight(d * x, w.shape[0]))),
]
