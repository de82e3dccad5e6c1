"""Hidden checks for mlp: Linear -> sigmoid -> Linear -> softmax, mean cross-entropy."""
from __future__ import annotations

import numpy as np

from bpdrill.core import compare
from bpdrill.core.diagnose import Mistake, close, first_call_right, formula
from bpdrill.core.driving import number, perturbed_outputs, snapshot
from bpdrill.core.judge import (Check, Failed, compare_arrays, matches_reference, numgrad_check, shape_check,
                           unchanged_check)
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t

PARAMS = ("W1", "b1", "W2", "b2")

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
    init = _inputs(rng, 90, 2, 16, 3)
    return {**init, "X": X, "y": y}


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


def _project(ev, scenario):
    y = ev.inputs(scenario)["y"]

    def mean_cross_entropy(probs):  # (size, N, C) -> (size,)
        return -np.log(probs[:, np.arange(len(y)), y]).mean(axis=1)
    return mean_cross_entropy


def _same_loss(ev, check: Check, loss: float, says: str, target: str) -> None:
    expected = float(ev.reference(check.scenario)["loss"])
    if not np.isclose(loss, expected, rtol=compare.RTOL, atol=0):
        expected, got = compare.distinct(expected, loss)  # digits enough to differ
        raise Failed(t(says, expected=expected, got=got), target=target)


def _loss_and_grads(ev, check: Check) -> None:
    _same_loss(ev, check, ev.number(check.scenario, "loss"), "loss: expected {expected}, got {got}", "loss")
    matches_reference(*PARAMS)(ev, check)


def _train_step(ev, check: Check) -> None:
    ref = ev.reference(check.scenario)
    _same_loss(ev, check, ev.number(check.scenario, "loss", t("the loss train_step returned")),
               "train_step should return the loss before the step: expected {expected}, got {got}", "params")
    for name in PARAMS:
        got = ev.array(check.scenario, f"model.{name}", t("params[{name!r}] after train_step", name=name))
        try:  # the element-wise measure that fails, and the worst element
            compare_arrays(t("params[{name!r}] after train_step", name=name), got, ref[name], "torch")
        except Failed as failure:
            failure.target = failure.label = "params"
            raise


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
    *[Check(f"shape.{p}", "shape", p, 1, "basic", shape_check(p, like=p).judge,
            "{key} gradient has the shape of {key}", title_args=(("key", p),)) for p in PARAMS],
    *[numgrad_check(p, p, _project) for p in PARAMS],
    *[Check(f"torch.{p}", "torch", p, 1, "square", matches_reference(p), "{key} matches PyTorch (N = C)",
            title_args=(("key", p),)) for p in PARAMS],
    Check("edge.single", "edge", PARAMS, 1, "single", matches_reference(*PARAMS), "batch of one"),
    Check("purity.second_backward", "purity", PARAMS, 1, "basic",
          matches_reference(*[(f"{p}.again", p, p) for p in PARAMS]),
          "a second backward gives the same gradients", call="second"),
    Check("edge.new_forward", "edge", PARAMS, 1, "basic",
          matches_reference(*[(f"{p}.new", f"{p}.new", p) for p in PARAMS]),
          "after a new forward, backward uses the new X",
          call="new_forward"),
    unchanged_check("X", "y"),
    Check("torch.loss", "torch", ("loss", *PARAMS), 1, "loss", _loss_and_grads,
          "loss(X, y) returns the loss and the gradients"),
    Check("train.step", "train", "params", 1, "step", _train_step,
          "train_step takes one gradient-descent step"),
    Check("train.learns", "train", None, 2, "train", _learns,
          "the network learns three separable blobs"),
]


# ---- the worker's side ----------------------------------------------------------------------

def _model(module, s: Scenario):
    params = {name: s[name] for name in PARAMS}
    D, H = params["W1"].shape
    C = params["W2"].shape[1]
    model = module.TwoLayerMLP(D, H, C)
    for name, array in params.items():
        model.params[name] = array
    return model, params


def drive(module, s: Scenario) -> dict:
    model, params = _model(module, s)
    X, y = s["X"], s["y"].astype(np.int64)
    if s.mode == "perturb":
        out = {}
        for name, array in params.items():
            out[f"plus.{name}"], out[f"minus.{name}"] = perturbed_outputs(
                lambda: model.forward(X), array, s.params["h"])
        return out
    if s.mode == "backward":
        out = {"probs": snapshot(model.forward(X))}
        grads = model.backward(y)
        if not isinstance(grads, dict):
            raise TypeError(t("backward returned {type}; expected a dict of gradients", type=type(grads).__name__))
        out.update({name: snapshot(grads.get(name)) for name in PARAMS})
        if s.params.get("twice"):
            grads = model.backward(y)
            out.update({f"{name}.again": snapshot(grads.get(name)) for name in PARAMS})
        if "X3" in s:
            model.forward(s["X3"])
            grads = model.backward(s["y3"].astype(np.int64))
            out.update({f"{name}.new": snapshot(grads.get(name)) for name in PARAMS})
        out.update({"after.X": X, "after.y": y})
        return out
    if s.mode == "loss":
        result = model.loss(X, y)
        if not isinstance(result, tuple) or len(result) != 2 or not isinstance(result[1], dict):
            raise TypeError(t("loss returned {type}; expected (loss, grads)", type=type(result).__name__))
        out = {"loss": number(result[0], "loss")}
        out.update({name: snapshot(result[1].get(name)) for name in PARAMS})
        return out
    if s.mode == "train_step":
        loss = number(model.train_step(X, y, lr=s.params["lr"]), "train_step")
        out = {"loss": loss}
        out.update({name: params[name] for name in PARAMS})  # the grader's arrays
        out.update({f"model.{name}": snapshot(model.params.get(name)) for name in PARAMS})
        return out
    losses = [number(model.train_step(X, y, lr=s.params["lr"]), "train_step") for _ in range(s.params["steps"])]
    return {"losses": np.array(losses), "probs": snapshot(model.forward(X))}


# ---- the trusted side: PyTorch float64 ------------------------------------------------------

def _torch_loss_and_grads(ref, a: dict):
    """Mean cross-entropy of the two-layer network and its parameter gradients."""
    torch = ref.torch
    params = {name: ref.leaf(a[name]) for name in PARAMS}
    h = torch.sigmoid(ref.leaf(a["X"], False) @ params["W1"] + params["b1"])
    scores = h @ params["W2"] + params["b2"]
    loss = torch.nn.functional.cross_entropy(scores, ref.long(a["y"]))
    loss.backward()
    grads = {name: ref.numpy(p.grad) for name, p in params.items()}
    return ref.numpy(loss), ref.numpy(torch.softmax(scores, dim=1)), grads


def reference(ref, s: Scenario) -> dict:
    loss, probs, grads = _torch_loss_and_grads(ref, s.arrays)
    if "X3" in s.arrays:  # the gradients after a new forward on (X3, y3)
        _, _, new = _torch_loss_and_grads(ref, {**s.arrays, "X": s.arrays["X3"], "y": s.arrays["y3"]})
        grads.update({f"{name}.new": g for name, g in new.items()})
    if s.mode == "train_step":  # the parameters after one step of gradient descent
        lr = s.params["lr"]
        return {"loss": loss, **{name: s.arrays[name] - lr * g for name, g in grads.items()}}
    return {"loss": loss, "probs": probs, **grads}


# ---- diagnosis ----------------------------------------------------------------------------

def where(probe) -> str:
    return "TwoLayerMLP.train_step" if probe.check.kind == "train" else "TwoLayerMLP.backward"


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
        return {"evidence": t(evidence)} if all(g is not None and close(g, want[n]) for n, g in after.items()) else None
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
            "d[np.arange(N), y] -= 1", _variant("the gradient of d[:, y] -= 1", fancy=True), at_code=r"-=|\]\s*-|onehot|eye\("),
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
