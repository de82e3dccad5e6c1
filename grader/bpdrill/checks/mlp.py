"""Hidden checks for mlp: Linear -> sigmoid -> Linear -> softmax, mean cross-entropy."""
from __future__ import annotations

import numpy as np

from bpdrill.core import compare
from bpdrill.core.diagnose import Mistake, close, first_call_right, formula
from bpdrill.core.judge import Check, Failed
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import network

SPEC = network.Network(
    "TwoLayerMLP", lambda torch, X, W1, b1, W2, b2: torch.sigmoid(X @ W1 + b1) @ W2 + b2,
    params=("W1", "b1", "W2", "b2"),
    make=lambda module, p: module.TwoLayerMLP(*p["W1"].shape, p["W2"].shape[1]))
PARAMS = SPEC.params

# The learning check: three Gaussian blobs in the plane, 30 points each, centres on a circle
# of radius 3 and spread 0.5, so a correct backward separates them easily. Starting from the
# grader's parameters, TRAIN_STEPS of plain gradient descent with TRAIN_LR must halve the
# loss and classify TRAIN_ACCURACY of the points (a correct solution reaches 100% on every seed).
TRAIN_STEPS, TRAIN_LR, TRAIN_ACCURACY = 150, 1.0, 0.9


def _inputs(rng, n, d, h, c):
    return {"X": rng.normal(size=(n, d)), "y": rng.integers(0, c, size=n),
            "W1": rng.normal(size=(d, h)) / np.sqrt(d), "b1": 0.1 * rng.normal(size=h),
            "W2": rng.normal(size=(h, c)) / np.sqrt(h), "b2": 0.1 * rng.normal(size=c)}


def _blobs(rng):
    angles = 2 * np.pi * np.arange(3) / 3 + rng.uniform(0, 2 * np.pi)
    centres = 3 * np.stack([np.cos(angles), np.sin(angles)], axis=1)  # (3, 2)
    y = np.repeat(np.arange(3), 30)
    X = centres[y] + 0.5 * rng.normal(size=(90, 2))
    return {**_inputs(rng, 90, 2, 16, 3), "X": X, "y": y}


def scenarios(rng) -> list[Scenario]:
    n, d, h, c = rng.permutation(range(2, 9))[:4]  # all different: no accidental square shapes
    k = int(rng.integers(3, 6))
    basic = _inputs(rng, n, d, h, c)
    basic["X3"], basic["y3"] = rng.normal(size=(n, d)), rng.integers(0, c, size=n)
    return [
        Scenario("basic", "backward", basic, {"twice": True}),
        Scenario("basic.perturb", "perturb", basic, {"h": compare.H}),
        Scenario("square", "backward", _inputs(rng, k, d, h, k)),
        Scenario("single", "backward", _inputs(rng, 1, d, h, c)),
        Scenario("loss", "loss", _inputs(rng, n, d, h, c)),
        Scenario("step", "train_step", _inputs(rng, n, d, h, c), {"lr": 0.5}),
        Scenario("train", "train", _blobs(rng), {"lr": TRAIN_LR, "steps": TRAIN_STEPS}),
    ]


def _learns(ev, check: Check) -> None:
    losses = ev.array(check.scenario, "losses", t("the losses train_step returned"))
    probs = ev.array(check.scenario, "probs", t("probs after training"))
    y = ev.inputs(check.scenario)["y"]
    if probs.shape != (len(y), 3):
        raise Failed(t("{name}: expected shape {expected}, got {got}", name=t("probs after training"),
                       expected=(len(y), 3), got=probs.shape))
    accuracy = float((probs.argmax(axis=1) == y).mean())
    first, last = float(losses[0]), float(losses[-1])
    if not last < first / 2 or accuracy < TRAIN_ACCURACY:
        raise Failed(t("after {steps} steps of train_step (lr={lr}) on 3 separable blobs: "
                       "loss {first:.3g} -> {last:.3g} (must halve), accuracy {accuracy:.0%} "
                       "(must reach {target:.0%})", steps=TRAIN_STEPS, lr=TRAIN_LR, first=first, last=last,
                       accuracy=accuracy, target=TRAIN_ACCURACY))


CHECKS = [
    *network.checks(SPEC, "square", "{key} matches PyTorch (N = C)"),
    Check("train.learns", "train", None, 2, "train", _learns, "the network learns three separable blobs"),
]


# ---- diagnosis ----------------------------------------------------------------------------

def sizes(ev, scenario) -> dict:
    a = ev.inputs(scenario)
    return {"N": a["X"].shape[0], "C": a["W2"].shape[1]}


def _grads(a, y=None, derivative="output", fancy=False, changed=None) -> dict:
    """The four gradients, with one known mistake switched on. changed(probs, onehot, n): the
    probabilities as a first backward left them, modified in place."""
    X, y = a["X"], (a["y"] if y is None else y).astype(int)
    z1 = X @ a["W1"] + a["b1"]
    h = 0.5 * (1 + np.tanh(0.5 * z1))
    scores = h @ a["W2"] + a["b2"]
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    d = e / e.sum(axis=1, keepdims=True)
    n = X.shape[0]
    if changed is not None:
        d = changed(d, np.eye(d.shape[1])[y], n)
    if fancy:
        d[:, y] -= 1
    else:
        d[np.arange(n), y] -= 1
    d /= n
    dh = d @ a["W2"].T
    local = {"output": h * (1 - h), "preactivation": z1 * (1 - z1), "tanh": 1 - h**2, "none": 1.0}[derivative]
    dz1 = dh * local
    return {"W1": X.T @ dz1, "b1": dz1.sum(axis=0), "W2": h.T @ d, "b2": d.sum(axis=0)}


def _variant(evidence, **mistake):
    return formula(evidence, lambda p: p.check.kind != "train" and _grads(p.inputs, **mistake).get(p.label))


def _stepped(evidence: str, wrong):
    """A Mistake test of train_step: every parameter after it is wrong(arrays, lr, grads)[name]."""
    def test(p):
        if p.check.scenario != "step":
            return None
        a, lr = p.inputs, p.ev.params("step")["lr"]
        want = wrong(a, lr, _grads(a))
        after = {n: p.learner("step", f"model.{n}") for n in PARAMS}
        if all(g is not None and close(g, want[n]) for n, g in after.items()):
            return {"evidence": t(evidence)}
        return None
    return test


# probabilities a first backward modified in place: d = probs; d[rows, y] -= 1; (d /= N)
CHANGED_CACHES = (lambda d, onehot, n: d - onehot, lambda d, onehot, n: (d - onehot) / n)


MISTAKES = [
    Mistake("not_in_place", "train_step changed nothing: {evidence}. Update the arrays in "
            "self.params (p -= lr * g) or assign self.params[name] = ...",
            _stepped("after train_step every parameter still holds its old value", lambda a, lr, g: a),
            at_code=r"^(\w+)\s*=\s*\1\s*[-+]"),
    Mistake("sign_flipped", "train_step climbs the loss: {evidence}. Step against the gradient",
            _stepped("params moved by +lr * grad", lambda a, lr, g: {n: a[n] + lr * g[n] for n in PARAMS})),
    Mistake("derivative_on_preactivation", "the sigmoid derivative was taken on the pre-activation "
            "z1 instead of its output h: {evidence}. Use h * (1 - h)",
            _variant("dz1 = dh * z1 * (1 - z1)", derivative="preactivation")),
    Mistake("tanh_derivative", "the hidden layer used tanh's derivative for a sigmoid: {evidence}. "
            "Use h * (1 - h)", _variant("dz1 = dh * (1 - h**2)", derivative="tanh")),
    Mistake("missing_activation_derivative", "the sigmoid's derivative is missing: {evidence}",
            _variant("dz1 = dh", derivative="none")),
    Mistake("fancy_indexing", "d[:, y] -= 1 subtracts 1 in whole columns: {evidence}. Use "
            "d[np.arange(N), y] -= 1", _variant("the gradient of d[:, y] -= 1", fancy=True),
            at_code=r"-=|\]\s*-|onehot|eye\("),
    Mistake("stale_cache", "backward used what an earlier forward cached: {evidence}",
            lambda p: p.check.call == "new_forward" and formula(
                "after forward(X2), the gradients came from the first X",
                lambda p: _grads(p.inputs, y=p.inputs["y3"]).get(p.label))(p)),
    Mistake("cache_modified_in_place", "backward changed what forward cached: {evidence}. Copy "
            "the probabilities before subtracting (d = probs.copy())",
            lambda p: p.check.call == "second" and any(
                close(p.got, _grads(p.inputs, changed=c)[p.label]) for c in CHANGED_CACHES)
            and first_call_right("{label}")(p), at_code="(?#a cached array modified in place)"),
]
