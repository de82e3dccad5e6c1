"""Hidden checks for softmax_ce: mean cross-entropy of softmax(logits); dlogits."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, close
from bpdrill.core.judge import Check, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import layer, loss

SPEC = loss.Loss("SoftmaxCrossEntropy", lambda torch, logits, y: torch.nn.functional.cross_entropy(logits, y),
                 inputs=("logits",), fixed=("y",), numgrad_points=2)


def _inputs(rng, n, c, scale=2.0):
    return {"logits": scale * rng.normal(size=(n, c)), "y": rng.integers(0, c, size=n)}


def _dout(rng) -> float:
    return float(rng.uniform(0.5, 2.0) * rng.choice([-1, 1]))  # never 1: a dropped dout shows


def scenarios(rng) -> list[Scenario]:
    n, c = rng.permutation(range(2, 8))[:2]  # N != C
    k = int(rng.integers(3, 7))
    first, extreme = _inputs(rng, n, c), _extreme(rng, n, c)
    twice, later = _inputs(rng, n, c), _inputs(rng, n, c)
    basic = Scenario("basic", "backward", first, {"dout": _dout(rng)})
    return [
        basic, loss.perturb(basic),
        Scenario("square", "backward", _inputs(rng, k, k), {"dout": _dout(rng)}),
        Scenario("single", "backward", _inputs(rng, 1, c), {"dout": _dout(rng)}),
        Scenario("default", "backward", _inputs(rng, n, c), {}),
        Scenario("extreme", "backward", extreme, {"dout": _dout(rng)}),
        Scenario("twice", "backward", loss.twice(twice, {}, later, {}),
                 {"dout": _dout(rng), "dout2": _dout(rng), "dout3": _dout(rng)}),
        # Probes, worth no points, for naming the cause of a non-finite value: which of these
        # goes non-finite in the learner's own code tells overflow, underflow, a division by a
        # vanishing probability and log(0) apart.
        *[Scenario(f"probe.{name}", "backward", arrays, {"dout": 1.0})
          for name, arrays in _probes(rng).items()],
    ]


def _extreme(rng, n, c):
    """Logits of +-1000 that test every point in every seed: row 0 has its true class at -1000
    beside a +1000 logit (its probability underflows to 0), row 1 its true class at +1000, the
    largest (exp overflows unless the max is subtracted); the other rows are random +-1000."""
    arrays = _inputs(rng, n, c)
    logits = rng.choice([-1000.0, 1000.0], size=(n, c)) + rng.normal(size=(n, c))
    y = arrays["y"]
    others = [k for k in range(c) if k != y[0]]
    logits[0] = -1000.0 + rng.normal(size=c)
    logits[0, others[int(rng.integers(len(others)))]] = 1000.0 + rng.normal()
    logits[1] = rng.choice([-1000.0, 1000.0], size=c) + rng.normal(size=c)
    logits[1, y[1]] = max(logits[1].max(), 1000.0) + 0.5 + abs(rng.normal())
    arrays["logits"] = logits
    return arrays


PROBES = ("overflow", "underflow", "far")  # in the order their causes are told apart


def _probes(rng) -> dict:
    c = 3
    y = rng.integers(0, c, size=2)
    rows = np.arange(2)
    huge = 1000.0 + rng.normal(size=(2, c))
    huge[rows, y] = huge.max(axis=1) + 1.0  # every logit near +1000, the true class the largest
    tiny = -1000.0 + rng.normal(size=(2, c))
    tiny[rows, y] = tiny.max(axis=1) + 1.0  # every logit near -1000, the true class the largest
    far = rng.normal(size=(2, c))
    far[rows, y] = -1000.0 + rng.normal(size=2)  # ordinary logits, the true class 1000 below them
    return {name: {"logits": logits, "y": y} for name, logits in zip(PROBES, (huge, tiny, far))}


CHECKS = [
    *layer.checks(SPEC, "square", "dlogits matches PyTorch (N = C)", twice_scenario=None,
                  purity=("logits", "y")),
    loss.default_dout_check(SPEC),
    Check("edge.extreme", "edge", ("loss", "dlogits"), 1, "extreme", matches_reference("loss", "dlogits"),
          "logits of +-1000: finite loss and gradient"),
    Check("purity.second_backward", "purity", "dlogits", 1, "twice",
          matches_reference(("dlogits2", "dlogits2", "dlogits")),
          "a second backward leaves the cached softmax intact", call="second"),
    Check("edge.new_forward", "edge", "dlogits", 1, "twice",
          matches_reference(("dlogits3", "dlogits3", "dlogits")),
          "after a new forward, backward uses the new logits", call="new_forward"),
]


# ---- diagnosis ----------------------------------------------------------------------------

def sizes(ev, scenario) -> dict:
    n, c = ev.inputs(scenario)["logits"].shape
    return {"N": n, "C": c}


def _softmax(z, axis=1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _rule(evidence, wrong):
    """A formula test for dlogits: wrong(logits, onehot(y), dout / N) is the answer the mistake gives."""
    def candidate(z, y, dout):
        return wrong(z, np.eye(z.shape[1])[y.astype(int)], dout / z.shape[0])
    return layer.rule(SPEC, "dlogits", evidence, candidate, args=("logits", "y", "dout"))


def _nonfinite(p, scenario: str, key: str) -> str | None:
    """'nan' or 'inf' when the learner's key in scenario holds one, else None."""
    v = (p.ev.results.get(scenario) or {}).get("values", {}).get(key)
    if v is not None and v.kind in ("array", "scalar") and v.array.dtype.kind == "f":
        return "nan" if np.isnan(v.array).any() else "inf" if np.isinf(v.array).any() else None
    return None


def _first_broken(p) -> tuple | None:
    """(probe, key, 'nan' or 'inf') of the first probe the learner's code goes non-finite on, when the
    failure is a non-finite value from code right for ordinary logits (else the cause is another)."""
    nonfinite = bool(p.failure.nonfinite) or (p.got is not None and not np.all(np.isfinite(p.got)))
    if not nonfinite or not p.passed("numgrad.dlogits"):
        return None
    for probe, key in ((probe, key) for probe in PROBES for key in ("loss", "dlogits")):
        value = _nonfinite(p, f"probe.{probe}", key)
        if value:
            return probe, key, value
    return None


UNSTABLE = {  # what an unstable softmax does on the probes: the evidence for each
    "overflow": "with every logit near +1000 (the true class the largest), {what}: exp overflowed",
    "underflow": "with every logit near -1000, {what}: exp underflowed to 0 in every class and the sum "
                 "was 0"}


def _unstable(p):
    found = _first_broken(p)
    if found and found[0] in UNSTABLE:
        return {"evidence": t(UNSTABLE[found[0]], what=f"{found[1]} = {found[2]}")}
    return None


def _far(key: str):
    """A Mistake test: only the probe with the true class 1000 below the others breaks, key first."""
    def test(p):
        found = _first_broken(p)
        return {"value": found[2]} if found and found[:2] == ("far", key) else None
    return test


def _epsilon_in_log(p):
    """The loss is -mean(log(p_y + eps)): an epsilon inside the log caps each term at -log(eps)."""
    if p.label != "loss" or p.got is None or p.expected is None or not np.all(np.isfinite(p.got)):
        return None
    a = loss.call_arrays(SPEC, p)
    logits, y = a["logits"], a["y"]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    picked = log_p[np.arange(len(y)), y.astype(int)]
    for k in range(3, 17):
        eps = 10.0 ** -k
        capped = -np.mean(np.log(np.exp(picked) + eps))
        if close(np.reshape(p.got, ()), capped) and not close(capped, np.reshape(p.expected, ())):
            return {"eps": f"{eps:g}", "delta": f"{float(np.reshape(p.expected, ())) - capped:.4g}"}
    return None


MISTAKES = [
    Mistake("fancy_indexing", "d[:, y] -= 1 subtracts 1 in whole columns: {evidence}. Pick one "
            "element per row with d[np.arange(N), y] -= 1",
            _rule("got = (p - 1 at [:, y]) / N", lambda z, onehot, g: g * (_softmax(z) - onehot.any(axis=0))),
            at_code=r"-=|\]\s*-|onehot|eye\("),
    Mistake("softmax_wrong_axis", "the softmax was normalised over the batch (axis 0), not over "
            "the classes: {evidence}", _rule("got uses softmax(logits, axis=0)",
                                             lambda z, onehot, g: g * (_softmax(z, axis=0) - onehot)),
            at_code=r"axis\s*=\s*0|\.sum\(|\.max\("),
    Mistake("unstable_softmax", "the softmax is not stable: {evidence}. Subtract each row's max "
            "before exp", _unstable, where="SoftmaxCrossEntropy.forward"),
    Mistake("log_of_zero", "the loss takes log of a probability that underflowed to 0: with the "
            "true class 1000 below the others, the loss is {value}. Compute log-probabilities as "
            "shifted - log(sum(exp(shifted))), never log(softmax)", _far("loss"),
            where="SoftmaxCrossEntropy.forward"),
    Mistake("division_by_vanishing_probability", "dlogits divides by the true class's probability "
            "(or its exp), which underflows to 0 when the true class is 1000 below the others: "
            "dlogits has {value} there while the loss is finite. p - onehot(y) never divides",
            _far("dlogits")),
    Mistake("epsilon_in_log", "the loss differs: it matches -mean(log(p + {eps})), an epsilon "
            "inside the log, which changes it by {delta} here. Use log-probabilities "
            "(shifted - log(sum(exp(shifted)))): no epsilon is needed", _epsilon_in_log,
            where="SoftmaxCrossEntropy.forward"),
    Mistake("missing_onehot_subtraction", "the 1 at the true class was never subtracted: "
            "{evidence}", _rule("got = p / N", lambda z, onehot, g: g * _softmax(z)),
            at_code=r"-=|\]\s*-|onehot|eye\(|copy\(\)"),
    Mistake("gradient_wrt_probs", "that is the gradient with respect to the probabilities, not the "
            "logits: {evidence}. Through the softmax it becomes p - onehot(y)",
            _rule("got = -1/p at the true class, 0 elsewhere",
                  lambda z, onehot, g: -g * onehot / np.where(onehot == 1, _softmax(z), 1.0))),
]

