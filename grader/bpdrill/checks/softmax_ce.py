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
        *[Scenario(f"probe.{name}", "backward", arrays, {"dout": 1.0}) for name, arrays in _probes(rng).items()],
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
    return {"overflow": {"logits": huge, "y": y}, "underflow": {"logits": tiny, "y": y},
            "far": {"logits": far, "y": y}}


CHECKS = [
    *layer.checks(SPEC, "square", "dlogits matches PyTorch (N = C)", twice_scenario=None, purity=("logits", "y")),
    loss.default_dout_check(SPEC),
    Check("edge.extreme", "edge", ("loss", "dlogits"), 1, "extreme", matches_reference("loss", "dlogits"),
          "logits of +-1000: finite loss and gradient"),
    Check("purity.second_backward", "purity", "dlogits", 1, "twice",
          matches_reference(("dlogits2", "dlogits2", "dlogits")),
          "a second backward leaves the cached softmax intact", call="second"),
    Check("edge.new_forward", "edge", "dlogits", 1, "twice", matches_reference(("dlogits3", "dlogits3", "dlogits")),
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
    """A formula test for dlogits: wrong(logits, y, dout, N) is the answer the mistake gives."""
    return layer.rule(SPEC, "dlogits", evidence, lambda z, y, dout: wrong(z, y.astype(int), dout, z.shape[0]),
                      args=("logits", "y", "dout"))


def _fancy(z, y, dout, n):
    d = _softmax(z)
    d[:, y] -= 1
    return dout * d / n


def _wrong_axis(z, y, dout, n):
    d = _softmax(z, axis=0)
    d[np.arange(n), y] -= 1
    return dout * d / n


def _wrt_probs(z, y, dout, n):
    p = _softmax(z)
    d = np.zeros_like(p)
    d[np.arange(n), y] = -1.0 / p[np.arange(n), y]
    return dout * d / n


def _nonfinite(p, scenario: str, key: str) -> str | None:
    """'nan' or 'inf' when the learner's key in scenario holds one, else None."""
    result = p.ev.results.get(scenario)
    v = (result or {}).get("values", {}).get(key)
    if v is None or v.kind not in ("array", "scalar") or v.array.dtype.kind != "f":
        return None
    a = v.array
    return "nan" if np.isnan(a).any() else "inf" if np.isinf(a).any() else None


def _broken(p, probe: str) -> str | None:
    """What went non-finite in the learner's code on a probe: 'loss = nan', 'dlogits = inf' ..."""
    for key in ("loss", "dlogits"):
        value = _nonfinite(p, f"probe.{probe}", key)
        if value:
            return f"{key} = {value}"
    return None


def _went_nonfinite(p) -> bool:
    """A non-finite value from code that is right for ordinary logits (else the cause is another)."""
    return (bool(p.failure.nonfinite) or (p.got is not None and not np.all(np.isfinite(p.got)))) \
        and p.passed("numgrad.dlogits")


def _overflow(p):
    what = _went_nonfinite(p) and _broken(p, "overflow")
    if what:
        return {"evidence": t("with every logit near +1000 (the true class the largest), {what}: "
                              "exp overflowed", what=what)}
    return None


def _underflow(p):
    what = _went_nonfinite(p) and not _broken(p, "overflow") and _broken(p, "underflow")
    if what:
        return {"evidence": t("with every logit near -1000, {what}: exp underflowed to 0 in every "
                              "class and the sum was 0", what=what)}
    return None


def _far_case(key: str):
    def test(p):
        if not _went_nonfinite(p) or _broken(p, "overflow") or _broken(p, "underflow"):
            return None
        value = _nonfinite(p, "probe.far", key)
        if value and (key == "loss" or not _nonfinite(p, "probe.far", "loss")):
            return {"value": value}
        return None
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
            "element per row with d[np.arange(N), y] -= 1", _rule("got = (p - 1 at [:, y]) / N", _fancy), at_code=r"-=|\]\s*-|onehot|eye\("),
    Mistake("softmax_wrong_axis", "the softmax was normalised over the batch (axis 0), not over "
            "the classes: {evidence}", _rule("got uses softmax(logits, axis=0)", _wrong_axis), at_code=r"axis\s*=\s*0|\.sum\(|\.max\("),
    Mistake("unstable_softmax", "the softmax is not stable: {evidence}. Subtract each row's max "
            "before exp", _overflow, where="SoftmaxCrossEntropy.forward"),
    Mistake("unstable_softmax", "the softmax is not stable: {evidence}. Subtract each row's max "
            "before exp", _underflow, where="SoftmaxCrossEntropy.forward"),
    Mistake("log_of_zero", "the loss takes log of a probability that underflowed to 0: with the "
            "true class 1000 below the others, the loss is {value}. Compute log-probabilities as "
            "shifted - log(sum(exp(shifted))), never log(softmax)", _far_case("loss"),
            where="SoftmaxCrossEntropy.forward"),
    Mistake("division_by_vanishing_probability", "dlogits divides by the true class's probability "
            "(or its exp), which underflows to 0 when the true class is 1000 below the others: "
            "dlogits has {value} there while the loss is finite. p - onehot(y) never divides",
            _far_case("dlogits")),
    Mistake("epsilon_in_log", "the loss differs: it matches -mean(log(p + {eps})), an epsilon "
            "inside the log, which changes it by {delta} here. Use log-probabilities "
            "(shifted - log(sum(exp(shifted)))): no epsilon is needed", _epsilon_in_log,
            where="SoftmaxCrossEntropy.forward"),
    Mistake("missing_onehot_subtraction", "the 1 at the true class was never subtracted: "
            "{evidence}", _rule("got = p / N", lambda z, y, d, n: d * _softmax(z) / n), at_code=r"-=|\]\s*-|onehot|eye\(|copy\(\)"),
    Mistake("gradient_wrt_probs", "that is the gradient with respect to the probabilities, not the "
            "logits: {evidence}. Through the softmax it becomes p - onehot(y)",
            _rule("got = -1/p at the true class, 0 elsewhere", _wrt_probs)),
]

