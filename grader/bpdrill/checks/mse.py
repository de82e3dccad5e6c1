"""Hidden checks for mse: loss = mean((pred - target)**2) over all elements; dpred of dout * loss."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, close, formula
from bpdrill.core.judge import Check, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import loss

# the mean runs over every element, not the batch: no N behind a constant factor (batch=None)
SPEC = loss.Loss("MSELoss", lambda torch, pred, target: torch.nn.functional.mse_loss(pred, target),
                 inputs=("pred",), fixed=("target",), numgrad_points=2)


def _inputs(rng, shape):
    return {"pred": rng.normal(size=shape), "target": rng.normal(size=shape)}


def _dout(rng) -> float:
    """Away from 1 (a dropped dout shows) and from +-0.5 (a missing 2 stays its own mistake)."""
    return float(rng.uniform(1.25, 2.5) * rng.choice([-1, 1]))


def scenarios(rng) -> list[Scenario]:
    # N, D, N * D and N * D / 2 all differ (no 2 among them): a factor that names one of them
    # cannot be another in disguise
    n, d, a = (int(v) for v in rng.permutation(range(3, 9))[:3])
    first, twice, later = _inputs(rng, (n, d)), _inputs(rng, (n, d)), _inputs(rng, (n, d))
    basic = Scenario("basic", "backward", first, {"dout": _dout(rng)})
    return [
        basic, loss.perturb(basic),
        Scenario("nd", "backward", _inputs(rng, (a, n, d)), {"dout": _dout(rng)}),
        Scenario("single", "backward", _inputs(rng, (1, d)), {"dout": _dout(rng)}),
        Scenario("default", "backward", _inputs(rng, (n, d)), {}),
        Scenario("twice", "backward", loss.twice(twice, {}, later, {}),
                 {"dout": _dout(rng), "dout2": _dout(rng), "dout3": _dout(rng)}),
    ]


CHECKS = [
    *loss.checks(SPEC, "nd", "loss and dpred match PyTorch for a 3-D input (the mean runs over every element)"),
    Check("edge.default_dout", "edge", "dpred", 1, "default", matches_reference("dpred"),
          "backward() with the default dout = 1"),
]


# ---- diagnosis ----------------------------------------------------------------------------

def _call(p):
    """(diff, dout) of the call the check is about: the first one, a second backward, or a new forward."""
    a, params = p.inputs, p.ev.params(p.scenario)
    if p.check.call == "new_forward":
        return a["pred3"] - a["target3"], params["dout3"]
    if p.check.call == "second":
        return a["pred"] - a["target"], params["dout2"]
    return a["pred"] - a["target"], params.get("dout", 1.0)


def _rule(evidence, rule, shaped=False):
    """formula() for dpred: rule(diff, dout, n, N) is the wrong answer (None: not this mistake).

    shaped: the rule divides by a size (N, or n = pred.size), and a size can equal another
    (n / 2 = N for (N, 2) inputs; N = n for a batch of one): it is claimed only where it also
    gives the learner's dpred in a scenario of another shape."""
    def candidate(p):
        if p.label != "dpred":
            return None
        diff, dout = _call(p)
        if shaped and not _fits_elsewhere(p, rule, diff.shape):
            return None
        return rule(diff, dout, diff.size, diff.shape[0] if diff.ndim else 1)
    return formula(evidence, candidate)


def _fits_elsewhere(p, rule, shape) -> bool:
    """rule also gives the learner's dpred on the first call of a scenario of another shape."""
    for other in ("basic", "nd"):
        a = p.ev.inputs(other)
        diff = a["pred"] - a["target"]
        if diff.shape == shape:
            continue
        got = p.learner(other, "dpred")
        wrong = rule(diff, p.ev.params(other).get("dout", 1.0), diff.size, diff.shape[0])
        if got is not None and got.shape == diff.shape and close(got, wrong):
            return True
    return False


def _one_number(p):
    """A single number 2 * dout * mean(diff) where an array of pred's shape belongs."""
    if p.label != "dpred":
        return None
    got = p.got if p.got is not None else p.learner(p.scenario, "dpred")
    diff, dout = _call(p)
    if got is None or got.size != 1 or diff.size < 2:
        return None
    if close(got.reshape(()), np.array(2 * dout * diff.mean())):
        return {"evidence": t("got one number, 2 * dout * mean(pred - target), not an array of shape {shape}",
                              shape=diff.shape)}
    return None


MISTAKES = [
    Mistake("mean_of_gradient", "the gradient was averaged too: {evidence}. The mean is in the loss; "
            "its gradient has one entry per element of pred: 2 * dout * (pred - target) / pred.size",
            _one_number),
    Mistake("missing_factor_2", "the 2 from d(diff**2) = 2 diff is missing: {evidence}",
            _rule("dpred = dout * (pred - target) / n, half the right answer",
                  lambda diff, dout, n, N: dout * diff / n)),
    Mistake("divided_by_batch_size", "divided by the batch size N, but the mean runs over every element: "
            "{evidence}. Divide by pred.size",
            _rule("dpred = 2 * dout * (pred - target) / N, with N = pred.shape[0]",
                  lambda diff, dout, n, N: 2 * dout * diff / N, shaped=True)),
    Mistake("missing_factor_2_and_mean", "both the 2 and the 1/n are missing: {evidence}. "
            "d mean(diff**2) / d pred = 2 * diff / n, with n = pred.size",
            _rule("dpred = dout * (pred - target)", lambda diff, dout, n, N: dout * diff, shaped=True)),
    Mistake("missing_mean", "the 1/n of the mean is missing: {evidence}. The loss averages over all "
            "n = pred.size elements: divide by n",
            _rule("dpred = 2 * dout * (pred - target), the gradient of the sum",
                  lambda diff, dout, n, N: 2 * dout * diff, shaped=True)),
]
