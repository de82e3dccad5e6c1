"""Hidden checks for gelu: out = x * Phi(x) element-wise, as torch.nn.GELU, in both modes
(approximate "none", the erf form, and "tanh"); dx."""
from __future__ import annotations

import math

import numpy as np

from bpdrill.core.diagnose import Mistake, formula
from bpdrill.core.judge import Check, matches_numgrad, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.kinds import layer

TANH = "tanh"


def _mode(s) -> str:
    return s.params.get("approximate", "none")


SPEC = layer.Layer("GELU", lambda torch, x, approximate: torch.nn.functional.gelu(x, approximate=approximate),
                   make=lambda module, s: module.GELU(approximate=_mode(s)), options=("approximate",),
                   numgrad_points=2, batch=None)


def _x(rng, shape):
    """Values up to |x| ~ 6, where the two modes and the wrong formulas all differ, and the
    tails where the derivative goes to 0 (x << 0) and to 1 (x >> 0)."""
    return 2.0 * rng.normal(size=shape)


def _arrays(rng, shape):
    return {"x": _x(rng, shape), "dout": rng.normal(size=shape)}


def scenarios(rng) -> list[Scenario]:
    n, m = (int(v) for v in rng.permutation(range(2, 8))[:2])
    shape3 = tuple(int(v) for v in rng.permutation(range(2, 6))[:3])
    exact, tanh = {"approximate": "none"}, {"approximate": TANH}
    basic = Scenario("basic", "backward", _arrays(rng, (n, m)), exact)
    basic_tanh = Scenario("tanh", "backward", _arrays(rng, (n, m)), tanh)
    twice = layer.twice(_arrays(rng, (n, m)), {"dout": rng.normal(size=(n, m))},
                        {"x": _x(rng, (n, m))}, {"dout": rng.normal(size=(n, m))})
    return [basic, basic_tanh, layer.perturb(basic), layer.perturb(basic_tanh),
            Scenario("nd", "backward", _arrays(rng, shape3), exact),
            Scenario("nd_tanh", "backward", _arrays(rng, shape3), tanh),
            Scenario("single", "backward", _arrays(rng, (1, m)), exact),
            Scenario("twice", "backward", twice, tanh)]


CHECKS = layer.checks(SPEC, "nd", 'dx matches F.gelu(approximate="none") for a 3-D input', extra=(
    Check("numgrad.dx_tanh", "numgrad", "dx", 1, TANH, matches_numgrad("dx", "x", layer.project(SPEC)),
          'dx matches the numerical gradient with approximate="tanh"'),
    Check("torch.dx_tanh", "torch", "dx", 1, "nd_tanh", matches_reference("dx"),
          'dx matches F.gelu(approximate="tanh") for a 3-D input')))


# ---- diagnosis: the wrong local derivatives, recomputed on the call's own x --------------------

_erf = np.vectorize(math.erf, otypes=[np.float64])
C, A = math.sqrt(2.0 / math.pi), 0.044715


def _pdf(x):
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _cdf(x):
    return 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))


def _tanh_local(x, inner=True, half=0.5):
    t = np.tanh(C * (x + A * x**3))
    return 0.5 * (1.0 + t) + half * x * (1.0 - t * t) * C * ((1.0 + 3.0 * A * x * x) if inner else 1.0)


def _rule(evidence, exact=None, tanh=None):
    """A formula test: dx = dout * local(x), with local the wrong derivative for the call's mode
    (None: the mistake is not one of that mode)."""
    def wrong(p):
        a = layer.call_arrays(SPEC, p)
        local = tanh if p.ev.params(p.scenario).get("approximate") == TANH else exact
        return a["dout"] * local(a["x"]) if p.label == "dx" and local is not None else None
    return formula(evidence, wrong)


MISTAKES = [
    Mistake("other_mode_derivative", "dx is the derivative of the other mode: {evidence}. "
            'approximate="none" differentiates x * Phi(x) with erf; "tanh" differentiates '
            "0.5 * x * (1 + tanh(u)): branch on self.approximate in backward as forward does",
            lambda p: (_rule('approximate="none", and dx is what the tanh form\'s derivative gives',
                             exact=_tanh_local)(p)
                       or _rule('approximate="tanh", and dx is what the erf form\'s derivative gives',
                                tanh=lambda x: _cdf(x) + x * _pdf(x))(p)),
            at_code='approximate'),
    Mistake("missing_x_pdf_term", "dx lacks the product rule's second term: {evidence}. "
            "out = x * Phi(x), so dout/dx = Phi(x) + x * Phi'(x), with Phi' = phi the normal density "
            "(in the tanh form, 0.5 * x * (1 - t**2) * du/dx)",
            _rule("dx = dout * Phi(x)", exact=_cdf, tanh=lambda x: 0.5 * (1.0 + np.tanh(C * (x + A * x**3)))),
            at_code='=\\s*(cdf|phi|Phi)\\s*$|cdf\\s*\\+|\\+\\s*x\\s*\\*'),
    Mistake("missing_inner_derivative", "the chain rule stopped at u: {evidence}. u = sqrt(2/pi) * "
            "(x + 0.044715 * x**3), so du/dx = sqrt(2/pi) * (1 + 3 * 0.044715 * x**2)",
            _rule("du/dx taken as sqrt(2/pi), without (1 + 3 * 0.044715 * x**2)",
                  tanh=lambda x: _tanh_local(x, inner=False)),
            at_code='\\bdu|inner'),
    Mistake("missing_half_in_product_rule", "the 0.5 of the second term is missing: {evidence}. "
            "d/dx [0.5 * x * (1 + t)] = 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * du/dx",
            _rule("dx = dout * (0.5 * (1 + t) + x * (1 - t**2) * du/dx)",
                  tanh=lambda x: _tanh_local(x, half=1.0)),
            at_code='1(\\.0)?\\s*-\\s*t\\s*(\\*\\s*t|\\*\\*\\s*2)|sech|cosh'),
    Mistake("pdf_not_normalised", "the normal density lost its 1 / sqrt(2 * pi): {evidence}. "
            "phi(x) = exp(-x**2 / 2) / sqrt(2 * pi)",
            _rule("dx = dout * (Phi(x) + x * exp(-x**2 / 2))",
                  exact=lambda x: _cdf(x) + x * np.exp(-0.5 * x * x)),
            at_code='exp\\('),
    Mistake("erf_without_sqrt2", "Phi was written as 0.5 * (1 + erf(x)): {evidence}. The normal "
            "CDF is Phi(x) = 0.5 * (1 + erf(x / sqrt(2)))",
            _rule("dx = dout * (0.5 * (1 + erf(x)) + x * phi(x))",
                  exact=lambda x: 0.5 * (1.0 + _erf(x)) + x * _pdf(x)),
            at_code='erf\\('),
]
