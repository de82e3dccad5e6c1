"""Hidden checks for softmax_ce: mean cross-entropy of softmax(logits); dlogits."""
from __future__ import annotations

import numpy as np

from bpdrill import compare
from bpdrill.diagnose import Mistake, first_call_right, formula
from bpdrill.driving import perturbed_outputs, snapshot
from bpdrill.judge import Check, matches_reference, numgrad_check, shape_check, unchanged_check
from bpdrill.protocol import Scenario
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
    shape_check("dlogits", like="logits"),
    numgrad_check("dlogits", "logits", _project, points=2),
    Check("torch.dlogits", "torch", "dlogits", 1, "square", matches_reference("dlogits"),
          "dlogits matches PyTorch (N = C)", "dlogits 与 PyTorch 一致（N = C）"),
    Check("edge.single", "edge", "dlogits", 1, "single", matches_reference("dlogits"), "batch of one", "批大小为 1"),
    Check("edge.default_dout", "edge", "dlogits", 1, "default", matches_reference("dlogits"),
          "backward() with the default dout = 1", "使用默认的 dout = 1 调用 backward()"),
    Check("edge.extreme", "edge", ("loss", "dlogits"), 1, "extreme", matches_reference("loss", "dlogits"),
          "logits of +-1000: finite loss and gradient", "logits 为 +-1000 时：损失和梯度都是有限值"),
    Check("purity.second_backward", "purity", "dlogits", 1, "twice",
          matches_reference(("dlogits2", "dlogits2", "dlogits")),
          "a second backward leaves the cached softmax intact", "第二次 backward 不会破坏缓存的 softmax",
          call="second"),
    Check("edge.new_forward", "edge", "dlogits", 1, "twice", matches_reference(("dlogits3", "dlogits3", "dlogits")),
          "after a new forward, backward uses the new logits", "新的 forward 之后，backward 使用新的 logits",
          call="new_forward"),
    unchanged_check("logits", "y"),
]


# ---- the worker's side ----------------------------------------------------------------------

def drive(module, s: Scenario) -> dict:
    loss_fn = module.SoftmaxCrossEntropy()
    logits, y = s["logits"], s["y"].astype(np.int64)
    if s.mode == "perturb":
        plus, minus = perturbed_outputs(lambda: loss_fn.forward(logits, y), logits, s.params["h"])
        return {"plus.logits": plus, "minus.logits": minus}
    out = {"loss": snapshot(loss_fn.forward(logits, y))}
    dout = s.params.get("dout")
    out["dlogits"] = snapshot(loss_fn.backward() if dout is None else loss_fn.backward(dout))
    if "dout2" in s.params:
        out["dlogits2"] = snapshot(loss_fn.backward(s.params["dout2"]))
    if "logits3" in s:
        loss_fn.forward(s["logits3"], s["y3"].astype(np.int64))
        out["dlogits3"] = snapshot(loss_fn.backward(s.params["dout3"]))
    out.update({"after.logits": logits, "after.y": y})
    return out


# ---- the trusted side: PyTorch float64 ------------------------------------------------------

def reference(ref, s: Scenario) -> dict:
    out = {}
    for suffix in ("", "2", "3"):
        key = f"dout{suffix}"
        if suffix and key not in s.params:
            continue
        new = "3" if suffix == "3" else ""
        logits = ref.leaf(s.arrays[f"logits{new}"])
        loss = ref.torch.nn.functional.cross_entropy(logits, ref.long(s.arrays[f"y{new}"]))
        (loss * s.params.get(key, 1.0)).backward()
        out.update({f"loss{suffix}": ref.numpy(loss), f"dlogits{suffix}": ref.numpy(logits.grad)})
    return out


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
    if p.check.call == "new_forward":
        return a["logits3"], a["y3"], params["dout3"]
    if p.check.call == "second":
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
    if p.check.scenario == "extreme" and p.passed("numgrad.dlogits") and p.failure.nonfinite:
        return {"evidence": t("right for ordinary logits, but logits of +-1000 give {value}",
                              value=p.failure.nonfinite)}
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
            lambda p: p.check.call == "new_forward" and _rule(
                "after forward(logits2), dlogits came from the first logits",
                lambda z, y, d, n: _fancy_free(p.inputs["logits"], p.inputs["y"].astype(int), d, n))(p)),
    Mistake("cache_modified_in_place", "backward changed the probabilities forward cached: "
            "{evidence}. Copy them before subtracting (d = self.probs.copy())",
            lambda p: p.check.call == "second" and first_call_right("dlogits")(p)),
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
