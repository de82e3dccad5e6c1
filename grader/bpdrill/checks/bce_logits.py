"""Hidden checks for bce_logits: mean binary cross-entropy of sigmoid(logits) against targets in
[0, 1], over all elements; dlogits of dout * loss, finite for |logits| up to 1e3."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, close, formula
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import loss

# the mean runs over every element, not the batch: the generic 1/N rules do not apply (batch=None)
SPEC = loss.Loss("BCEWithLogitsLoss", lambda torch, logits, targets:
                 torch.nn.functional.binary_cross_entropy_with_logits(logits, targets),
                 inputs=("logits",), fixed=("targets",), numgrad_points=2)
ND, EXTREME = "nd", "extreme"  # a 3-D input; logits up to +-1e3


def _targets(rng, shape):
    """Hard 0/1 labels and soft targets in (0, 1), mixed element by element."""
    hard = rng.integers(0, 2, size=shape).astype(np.float64)
    return np.where(rng.random(size=shape) < 0.5, hard, rng.uniform(0.05, 0.95, size=shape))


def _inputs(rng, shape):
    return {"logits": 2 * rng.normal(size=shape), "targets": _targets(rng, shape)}


def _extreme(rng):
    """Logits where sigmoid rounds to exactly 1.0 (40, 750, 1e3) or to 0.0 (-750, -1e3), where
    exp overflows (750, 1e3), beside ordinary ones; confidently wrong hard labels at +-1e3."""
    z = np.array([1e3, -1e3, 750.0, -750.0, 40.0, -40.0, 0.0, 1e3, -1e3])
    y = np.array([0.0, 1.0, rng.random(), rng.random(), rng.random(), rng.random(), 1.0, 1.0, 0.0])
    z = np.concatenate([z, 2 * rng.normal(size=6), 300 * rng.normal(size=3)])
    y = np.concatenate([y, _targets(rng, 9)])
    order = rng.permutation(z.size)
    return {"logits": z[order].reshape(3, 6), "targets": y[order].reshape(3, 6)}


def scenarios(rng) -> list[Scenario]:
    n, d, a = (int(v) for v in rng.permutation(range(2, 8))[:3])  # N != D: N is not the element count
    return loss.scenarios_with(rng, _inputs, (n, d), {ND: (a, n, d), "single": (1, d), loss.DEFAULT: (n, d),
                                                      EXTREME: _extreme})


CHECKS = [
    *loss.checks(SPEC, ND, "loss and dlogits match PyTorch for a 3-D input (the mean runs over every "
                 "element)"),
    loss.default_dout_check(SPEC),
    loss.edge_check(SPEC, "edge.extreme", EXTREME, "logits up to +-1e3 (hard and soft targets): finite loss "
                    "and gradient, as PyTorch"),
]


# ---- diagnosis ----------------------------------------------------------------------------

def _sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -z))


def _call(p):
    """(z, y, dout) of the call the check is about: the first one, a second backward, or a new forward."""
    a = loss.call_arrays(SPEC, p)
    return a["logits"], a["targets"], a["dout"]


def _rule(evidence, rule, single_fits_others=False):
    """formula() for dlogits: rule(z, y, dout, n, N) is the wrong answer (None: not this mistake).
    single_fits_others: for a batch of one (N = 1 < n) dividing by N and not dividing at all give
    the same numbers; the rule is claimed there only if it also explains the basic scenario."""
    def candidate(p):
        if p.label != "dlogits":
            return None
        z, y, dout = _call(p)
        if single_fits_others and z.ndim and z.shape[0] == 1 < z.size and not _fits_basic(p, rule):
            return None
        return rule(z, y, dout, z.size, z.shape[0] if z.ndim else 1)
    return formula(evidence, candidate)


def _fits_basic(p, rule) -> bool:
    """rule also gives the learner's dlogits on the basic scenario (N < n: the rules differ there)."""
    a, dout = p.ev.inputs(loss.BASIC), p.ev.params(loss.BASIC).get("dout", 1.0)
    z = a["logits"]
    got, wrong = p.learner(loss.BASIC, "dlogits"), rule(z, a["targets"], dout, z.size, z.shape[0])
    return got is not None and wrong is not None and close(got, wrong)


def _not_finite_only(evidence, allowed, needed=None):
    """A Mistake test on the extreme logits: numgrad passed, dlogits is right but not finite, only
    at logits z where allowed(z) and at one at least where needed(z) (masks); the evidence lists them."""
    def test(p):
        if p.label != "dlogits" or p.check.scenario != EXTREME or not p.failure.nonfinite or p.got is None \
                or not p.passed("numgrad.dlogits"):
            return None
        z, y, dout = _call(p)
        expected, bad = dout * (_sigmoid(z) - y) / z.size, ~np.isfinite(p.got)
        if not close(np.where(bad, expected, p.got), expected) or not bad.any() or (bad & ~allowed(z)).any():
            return None
        if needed is not None and not (bad & needed(z)).any():
            return None
        return {"evidence": t(evidence, values=", ".join(f"{v:g}" for v in sorted(set(z[bad].tolist()))))}
    return test


BIGGEST = np.finfo(np.float64).max

MISTAKES = [
    Mistake("chain_through_probabilities", "the gradient went through the probabilities s = sigmoid(z): "
            "{evidence}. dL/ds divides by s and 1 - s, which are 0 there; the two factors cancel on "
            "paper: dlogits = dout * (s - y) / n, with no division",
            # where 1 - s is 0 or 1 / s overflows, and also where exp(z) itself is finite (z = 40)
            _not_finite_only("right for ordinary logits, but not finite at z = {values}, where sigmoid(z) "
                             "rounds to 1.0 or to (almost) 0.0",
                             lambda z: (_sigmoid(z) == 1.0) | (_sigmoid(z) * BIGGEST < 1),
                             lambda z: np.abs(z) < 700)),
    Mistake("unstable_sigmoid", "exp overflowed: {evidence}. exp(z) / (1 + exp(z)) is inf / inf = nan "
            "once z > 709: use 1 / (1 + exp(-z)) for z >= 0 (or exp(-logaddexp(0, -z)))",
            _not_finite_only("right for ordinary logits, but not finite at z = {values}, where exp(z) "
                             "overflows", lambda z: z > np.log(BIGGEST))),
    Mistake("sigmoid_then_log", "the loss took the log of a sigmoid: {evidence}. sigmoid(40) rounds to "
            "1.0 and log(1 - 1.0) = -inf. Use softplus: loss = mean(logaddexp(0, z) - y * z)",
            lambda p: p.label == "loss" and p.check.scenario == EXTREME and p.failure.nonfinite
            and {"evidence": t("the loss is {value} for logits up to +-1e3", value=p.failure.nonfinite)}),
    Mistake("extra_sigmoid_derivative", "the sigmoid's derivative s (1 - s) was multiplied in again: "
            "{evidence}. The log in the loss cancels it: dlogits = dout * (s - y) / n",
            _rule("dlogits = dout * (s - y) * s * (1 - s) / n",
                  lambda z, y, d, n, N: d * (_sigmoid(z) - y) * _sigmoid(z) * (1 - _sigmoid(z)) / n)),
    Mistake("logits_as_probabilities", "the logits were used where the probabilities belong: {evidence}. "
            "Apply the sigmoid: dlogits = dout * (sigmoid(z) - y) / n",
            _rule("dlogits = dout * (z - y) / n", lambda z, y, d, n, N: d * (z - y) / n)),
    Mistake("divided_by_batch_size", "divided by the batch size N, but the mean runs over every element: "
            "{evidence}. Divide by logits.size",
            _rule("dlogits = dout * (s - y) / N, with N = logits.shape[0]",
                  lambda z, y, d, n, N: d * (_sigmoid(z) - y) / N, single_fits_others=True)),
    Mistake("missing_mean", "the 1/n of the mean is missing: {evidence}. The loss averages over all "
            "n = logits.size elements: divide by n",
            _rule("dlogits = dout * (s - y), the gradient of the sum",
                  lambda z, y, d, n, N: d * (_sigmoid(z) - y), single_fits_others=True)),
]
