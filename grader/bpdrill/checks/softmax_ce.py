"""Hidden checks for softmax_ce: mean cross-entropy of softmax(logits); dlogits."""
from __future__ import annotations

import numpy as np

from bpdrill import compare
from bpdrill.checks import Check, Scenario, matches_numgrad, matches_reference, same_shape, unchanged
from bpdrill.diagnose import Mistake, first_call_right, formula
from bpdrill.i18n import t


def _inputs(rng, n, c, scale=2.0):
    return {"logits": scale * rng.normal(size=(n, c)), "y": rng.integers(0, c, size=n)}


def _dout(rng) -> float:
    return float(rng.uniform(0.5, 2.0) * rng.choice([-1, 1]))  # never 1: a dropped dout shows


def scenarios(rng) -> list[Scenario]:
    n, c = rng.permutation(range(2, 8))[:2]  # N != C
    k = int(rng.integers(3, 7))
    basic = _inputs(rng, n, c)
    extreme = _inputs(rng, n, c)
    extreme["logits"] = rng.choice([-1000.0, 1000.0], size=(n, c)) + rng.normal(size=(n, c))
    twice = _inputs(rng, n, c)
    later = _inputs(rng, n, c)
    twice.update({"logits3": later["logits"], "y3": later["y"]})
    return [
        Scenario("basic", "backward", basic, {"dout": _dout(rng)}),
        Scenario("basic.perturb", "perturb", basic, {"h": compare.H}),
        Scenario("square", "backward", _inputs(rng, k, k), {"dout": _dout(rng)}),
        Scenario("single", "backward", _inputs(rng, 1, c), {"dout": _dout(rng)}),
        Scenario("default", "backward", _inputs(rng, n, c), {}),
        Scenario("extreme", "backward", extreme, {"dout": _dout(rng)}),
        Scenario("twice", "backward", twice, {"dout": _dout(rng), "dout2": _dout(rng), "dout3": _dout(rng)}),
    ]


def _project(ev, scenario):
    dout = ev.params(scenario[: -len(".perturb")])["dout"]
    return lambda losses: dout * losses


CHECKS = [
    Check("dlogits has the shape of logits", "shape", "dlogits", 1, "basic",
          same_shape("dlogits", like="logits")),
    Check("dlogits matches the numerical gradient", "numgrad", "dlogits", 2, "basic",
          matches_numgrad("dlogits", "logits", _project)),
    Check("dlogits matches PyTorch (N = C)", "torch", "dlogits", 1, "square", matches_reference("dlogits")),
    Check("batch of one", "edge", "dlogits", 1, "single", matches_reference("dlogits")),
    Check("backward() with the default dout = 1", "edge", "dlogits", 1, "default",
          matches_reference("dlogits")),
    Check("logits of +-1000: finite loss and gradient", "edge", ("loss", "dlogits"), 1, "extreme",
          matches_reference("loss", "dlogits")),
    Check("a second backward leaves the cached softmax intact", "purity", "dlogits", 1, "twice",
          matches_reference(("dlogits2", "dlogits2", "dlogits"))),
    Check("after a new forward, backward uses the new logits", "edge", "dlogits", 1, "twice",
          matches_reference(("dlogits3", "dlogits3", "dlogits"))),
    Check("backward leaves logits and y unchanged", "purity", ("logits", "y"), 1, "basic",
          unchanged("logits", "y")),
]


# ---- diagnosis ----------------------------------------------------------------------------

def where(probe) -> str:
    return "SoftmaxCrossEntropy.forward" if probe.label == "loss" else "SoftmaxCrossEntropy.backward"


def sizes(ev, scenario) -> dict:
    n, c = ev.inputs(scenario)["logits"].shape
    return {"N": n, "C": c}


def _softmax(z, axis=1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _call(p):
    """(logits, y, dout) of the call the check is about."""
    a, params = p.inputs, p.ev.params(p.scenario)
    if p.check.name.startswith("after a new forward"):
        return a["logits3"], a["y3"], params["dout3"]
    if p.check.name.startswith("a second backward"):
        return a["logits"], a["y"], params["dout2"]
    return a["logits"], a["y"], params.get("dout", 1.0)


def _rule(evidence, rule):
    def candidate(p):
        logits, y, dout = _call(p)
        return rule(logits, y.astype(int), dout, logits.shape[0]) if p.label == "dlogits" else None
    return formula(evidence, candidate)


def _fancy(z, y, dout, n):
    d = _softmax(z)
    d[:, y] -= 1
    return dout * d / n


def _wrong_axis(z, y, dout, n):
    d = _softmax(z, axis=0)
    d[np.arange(n), y] -= 1
    return dout * d / n


def _unstable(p):
    if p.check.scenario == "extreme" and p.passed("dlogits matches the numerical gradient") and \
            ("nan" in p.failure.message or "inf" in p.failure.message):
        return {"evidence": t("right for ordinary logits, but logits of +-1000 give {value}",
                              value="inf" if "inf" in p.failure.message else "nan")}
    return None


MISTAKES = [
    Mistake("fancy_indexing", "d[:, y] -= 1 subtracts 1 in whole columns: {evidence}. Pick one "
            "element per row with d[np.arange(N), y] -= 1", _rule("got = (p - 1 at [:, y]) / N", _fancy)),
    Mistake("softmax_wrong_axis", "the softmax was normalised over the batch (axis 0), not over "
            "the classes: {evidence}", _rule("got uses softmax(logits, axis=0)", _wrong_axis)),
    Mistake("unstable_softmax", "exp overflowed: {evidence}. Subtract each row's max before exp",
            _unstable),
    Mistake("missing_onehot_subtraction", "the 1 at the true class was never subtracted: "
            "{evidence}", _rule("got = p / N", lambda z, y, d, n: d * _softmax(z) / n)),
    Mistake("gradient_wrt_probs", "that is the gradient with respect to the probabilities, not the "
            "logits: {evidence}. Through the softmax it becomes p - onehot(y)",
            _rule("got = -1/p at the true class, 0 elsewhere", lambda z, y, d, n: _wrt_probs(z, y, d, n))),
    Mistake("dropped_upstream", "the upstream gradient dout was dropped: {evidence}. Multiply by dout",
            lambda p: _call(p)[2] != 1.0 and formula(
                "got equals the gradient for dout = 1", lambda p: p.expected / _call(p)[2])(p)),
    Mistake("stale_cache", "backward used the softmax of an earlier forward: {evidence}",
            lambda p: p.check.name.startswith("after a new forward") and _rule(
                "after forward(logits2), dlogits came from the first logits",
                lambda z, y, d, n: _fancy_free(p.inputs["logits"], p.inputs["y"].astype(int), d, n))(p)),
    Mistake("cache_modified_in_place", "backward changed the probabilities forward cached: "
            "{evidence}. Copy them before subtracting (d = self.probs.copy())",
            lambda p: p.check.name.startswith("a second backward") and first_call_right("dlogits")(p)),
]


def _wrt_probs(z, y, dout, n):
    p = _softmax(z)
    d = np.zeros_like(p)
    d[np.arange(n), y] = -1.0 / p[np.arange(n), y]
    return dout * d / n


def _fancy_free(z, y, dout, n):
    d = _softmax(z)
    d[np.arange(n), y] -= 1
    return dout * d / n
