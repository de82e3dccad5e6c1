"""Hidden checks for mse: loss = mean((pred - target)**2) over all elements; dpred of dout * loss."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, close, formula
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import loss

# the mean runs over every element, not the batch: no N behind a constant factor (batch=None)
SPEC = loss.Loss("MSELoss", lambda torch, pred, target: torch.nn.functional.mse_loss(pred, target),
                 inputs=("pred",), fixed=("target",), numgrad_points=2)
ND = "nd"  # the scenario of a 3-D input


def _inputs(rng, shape):
    return {"pred": rng.normal(size=shape), "target": rng.normal(size=shape)}


def scenarios(rng) -> list[Scenario]:
    # N, D, N * D and N * D / 2 all differ (no 2 among them): a factor that names one of them
    # cannot be another in disguise; dout is never +-0.5 (a missing 2 stays its own mistake)
    n, d, a = (int(v) for v in rng.permutation(range(3, 9))[:3])
    return loss.scenarios_with(rng, _inputs, (n, d), {ND: (a, n, d), "single": (1, d), loss.DEFAULT: (n, d)})


CHECKS = [
    *loss.checks(SPEC, ND, "loss and dpred match PyTorch for a 3-D input (the mean runs over every element)"),
    loss.default_dout_check(SPEC),
]


# ---- diagnosis ----------------------------------------------------------------------------

def _call(p):
    """(diff, dout) of the call the check is about: the first one, a second backward, or a new forward."""
    a = loss.call_arrays(SPEC, p)
    return a["pred"] - a["target"], a["dout"]


def _rule(evidence, rule, shaped=False):
    """formula() for dpred: rule(diff, dout, n, N) is the wrong answer (None: not this mistake).
    shaped: the rule divides by a size (N, or n = pred.size), which can equal another (n / 2 = N
    for (N, 2) inputs; N = n for a batch of one): claimed only if it fits another shape too."""
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
    for other in ("basic", ND):
        a, got = p.ev.inputs(other), p.learner(other, "dpred")
        diff = a["pred"] - a["target"]
        wrong = rule(diff, p.ev.params(other).get("dout", 1.0), diff.size, diff.shape[0])
        if diff.shape != shape and got is not None and got.shape == diff.shape and close(got, wrong):
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
