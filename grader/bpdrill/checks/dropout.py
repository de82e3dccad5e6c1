"""Hidden checks for dropout: out = x * mask / (1 - p) in training, the identity in evaluation; dx.

A layer that draws its mask itself from a seeded rng: each scenario carries the masks the given
forward draws from that seed (the spec's `drawn`), and the PyTorch reference runs them through
autograd (x * mask / (1 - p); evaluation mode: torch.nn.functional.dropout(training=False)).
x has no zeros, so the grader also reads back the mask the learner's forward drew (where its
output is not zero): when it is not the given forward's draw, the reference is computed again
with the learner's own mask, so a correct backward never fails for how forward drew.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from bpdrill.core import compare
from bpdrill.core.diagnose import Mistake, formula
from bpdrill.core.driving import raised, snapshot
from bpdrill.core.judge import Check, Failed, compare_arrays, numgrad_check, shape_check, unchanged_check
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import layer

EVAL, AFTER_TRAIN = "eval", "eval_after_train"  # scenarios: evaluation mode, and after a training call
TORCH = "torch.dx"
# (training-mode forward output, its input, the mask drawn for it) of each mask a scenario draws
MASKS = (("out", "x", "mask"), ("out3", "x3", "mask3"))
ERRORS_OF_A_MISSING_EVAL_BRANCH = ("TypeError", "AttributeError", "ValueError", "IndexError")


def _layer(module, s: Scenario):
    """The learner's Dropout with the scenario's p and seeded rng (in evaluation mode if it says so)."""
    dropout = module.Dropout(p=s.params["p"], rng=np.random.default_rng(s.params["seed"]))
    if not s.params.get("training", True):
        dropout.training = False
    return dropout


SPEC = layer.Layer("Dropout", lambda torch, x, mask, p: torch.nn.functional.dropout(x, p, training=False)
                   if mask is None else x * mask / (1.0 - p), drawn=("mask",), options=("p",), make=_layer,
                   batch=None, redraws=True)


def _nonzero(rng, shape):
    """Normal-like values bounded away from 0: a zero in the output always means dropped."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 2.0, size=shape)


def _masked(name: str, mode: str, arrays: dict, p: float, seed: int, **params) -> Scenario:
    """The scenario with the masks the given forward draws from its seed, in the order it draws
    them: mask for x, then mask3 for the new forward's x3 (none in evaluation mode)."""
    if params.get("training", True):
        draw = np.random.default_rng(seed)
        for x, mask in (("x", "mask"), ("x3", "mask3")):
            if x in arrays:
                arrays[mask] = draw.random(arrays[x].shape) >= p
    return Scenario(name, mode, arrays, {"p": float(p), "seed": seed, **params})


def _train(name, rng, shape, p, twice=False, **params):
    arrays = {"x": _nonzero(rng, shape), "dout": rng.normal(size=shape)}
    if twice:
        arrays.update(dout2=rng.normal(size=shape), x3=_nonzero(rng, shape), dout3=rng.normal(size=shape))
    return _masked(name, "backward", arrays, p, int(rng.integers(2**31)), **params)


def scenarios(rng) -> list[Scenario]:
    n, d = (int(v) for v in rng.permutation(range(2, 8))[:2])
    big3 = tuple(int(v) for v in rng.permutation(range(4, 10))[:3])  # >= 120 elements: no repeated mask
    wide = (int(rng.integers(8, 12)), int(rng.integers(10, 14)))
    basic = _train("basic", rng, (n, d), rng.uniform(0.2, 0.5))
    found = [basic, layer.perturb(basic), _train("large", rng, big3, rng.uniform(0.5, 0.85)),
             _train("single", rng, (1, int(rng.integers(10, 17))), rng.uniform(0.2, 0.4)),
             _train("twice", rng, wide, rng.uniform(0.3, 0.7), twice=True),
             _train("p_zero", rng, (n, d), 0.0, bounds=True)]
    evaluation = {"x": _nonzero(rng, wide), "dout": rng.normal(size=wide)}
    after_train = {"x": _nonzero(rng, wide), "dout": rng.normal(size=wide),
                   "x2": _nonzero(rng, wide), "dout2": rng.normal(size=wide)}
    return [*found, _masked(EVAL, "backward", evaluation, rng.uniform(0.3, 0.7), int(rng.integers(2**31)),
                            training=False),
            _masked(AFTER_TRAIN, AFTER_TRAIN, after_train, rng.uniform(0.3, 0.7), int(rng.integers(2**31)))]


# ---- judges: the reference with the learner's own masks ------------------------------------

def _learner_mask(ev, scenario: str, out_key: str, x_key: str) -> np.ndarray:
    """The keep-mask of the learner's forward: where its output is not zero (x has no zeros)."""
    x, p = ev.inputs(scenario)[x_key], ev.params(scenario)["p"]
    out = ev.array(scenario, out_key, "out")
    if out.shape != x.shape:
        raise Failed(t("forward returned shape {got} for x of shape {shape}: keep the given forward",
                       got=out.shape, shape=x.shape), target="out")
    mask = out != 0
    if compare.elementwise_mismatch(out, np.where(mask, x / (1.0 - p), 0.0)).any():
        raise Failed(t("forward's output is not x * mask / (1 - p) for a 0/1 mask: keep the given forward"),
                     target="out")
    return mask


def matches_with_learner_mask(*keys):
    """Each (got_key, name) equals PyTorch's, run with the masks the learner's forward drew."""
    def judge(ev, check: Check) -> None:
        s, values = ev.scenarios[check.scenario], ev.values(check.scenario)
        masks = {mask: _learner_mask(ev, s.name, out, x) for out, x, mask in MASKS
                 if out in values and mask in s}
        if all(np.array_equal(m, s.arrays[key]) for key, m in masks.items()):
            ref = ev.reference(s.name)  # the given forward's draws: the reference computed ahead of time
        else:  # a forward that draws its mask another way: the same computation with the learner's masks
            ref = ev._reference(replace(s, arrays={**s.arrays, **masks}))  # as Probe.reference_with does
        for key, name in keys:
            compare_arrays(name, ev.array(check.scenario, key, name), ref[key], "torch")
    return judge


def p_invalid_raises(ev, check: Check) -> None:
    """p = 1 and p < 0 raise ValueError (the given constructor's own check)."""
    for key, shown in (("raised.one", "Dropout(p=1.0)"), ("raised.negative", "Dropout(p=-0.1)")):
        v = ev.value(check.scenario, key)
        if v.value != "ValueError":
            raise Failed(t("{call} gave {got}; expected ValueError (p must be in [0, 1))", call=shown,
                           got=v.value), target="p")


DX, DX2 = (("dx", "dx"),), (("dx2", "dx"),)  # (result key, the name it is shown by)
CHECKS = [
    shape_check("dx", like="x"),
    numgrad_check("dx", "x", layer.project(SPEC), points=2),
    *[Check(id, id.split(".")[0], "dx", points, scenario, matches_with_learner_mask(*keys), title, call=call)
      for id, points, scenario, call, keys, title in [
        (TORCH, 2, "large", "first", DX,
         "dx matches PyTorch with the forward's mask (3-D input, p up to 0.85)"),
        ("edge.single", 1, "single", "first", DX, "batch of one"),
        ("edge.second_backward", 1, "twice", "second", DX2, "a second backward reuses the same mask"),
        ("edge.new_forward", 1, "twice", "new_forward", (("dx3", "dx"),),
         "after a new forward, backward uses its new mask"),
        (f"edge.{EVAL}", 1, EVAL, "first", (("out", "out"), *DX),
         "evaluation mode: forward is the identity and backward returns dout"),
        (f"edge.{AFTER_TRAIN}", 1, AFTER_TRAIN, "first", (("out2", "out"), *DX2),
         "after an evaluation-mode forward, backward returns dout (no old mask)"),
        ("edge.p_bounds", 1, "p_zero", "first", (("out", "out"), *DX), "p = 0 keeps everything (dx = dout)"),
    ]],
    # the given constructor makes this check, not the exercise: it says so, and carries no points
    Check("edge.p_invalid_raises", "edge", "p", 0, "p_zero", p_invalid_raises,
          "p = 1 and p < 0 raise ValueError (the given constructor's check: no points)"),
    unchanged_check("x", "dout"),
]


# ---- the worker's side: the layer kind's life cycle, and what only dropout has ---------------

def drive(module, s: Scenario) -> dict:
    if s.mode == AFTER_TRAIN:  # a training-mode call (out, dx), then an evaluation-mode one (out2, dx2)
        dropout = _layer(module, s)
        out = {"out": snapshot(dropout.forward(s["x"])), "dx": snapshot(dropout.backward(s["dout"]))}
        dropout.training = False
        out["out2"] = snapshot(dropout.forward(s["x2"]))
        return {**out, "dx2": snapshot(dropout.backward(s["dout2"]))}
    out = {}
    if s.params.get("bounds"):
        out["raised.one"] = raised(lambda: module.Dropout(p=1.0))
        out["raised.negative"] = raised(lambda: module.Dropout(p=-0.1))
    return {**out, **layer.drive(SPEC, module, s)}


def reference(ref, s: Scenario) -> dict:
    if s.mode != AFTER_TRAIN:
        return layer.reference(SPEC, ref, s)
    # the evaluation-mode call after the training one: no mask
    evaluation = layer.reference(SPEC, ref, Scenario(s.name, "backward", {"x": s["x2"], "dout": s["dout2"]},
                                                     s.params))
    return {"out2": evaluation["out"], "dx2": evaluation["dx"]}


# ---- diagnosis --------------------------------------------------------------------------------

def where(probe) -> str:
    return "Dropout.__init__" if probe.label == "p" else layer.where(SPEC)(probe)


def _mask(p, out_key: str, x_key: str):
    try:
        return _learner_mask(p.ev, p.scenario, out_key, x_key)
    except Failed:
        return None


def _call(p) -> dict | None:
    """The call a check on dx judges: its dout, p, training (its mode), the mask the learner's
    forward drew for it and old: the one drawn before it (by the first forward, after a new
    forward; by the training forward, before an evaluation-mode one); None for other checks."""
    s = p.ev.scenarios[p.scenario]
    if p.label != "dx" or s.mode not in ("backward", AFTER_TRAIN):
        return None
    call = {"p": s.params["p"], "training": "mask" in s and s.mode != AFTER_TRAIN, "mask": None, "old": None}
    if s.mode == AFTER_TRAIN:
        return {**call, "dout": s.arrays["dout2"], "old": _mask(p, "out", "x")}
    call["dout"] = layer.call_arrays(SPEC, p)["dout"]
    if p.check.call == "new_forward":
        return {**call, "mask": _mask(p, "out3", "x3"), "old": _mask(p, "out", "x")}
    return {**call, "mask": _mask(p, "out", "x") if call["training"] else None}


def _rule(evidence: str, wrong, training: bool = True, mask: str | None = "mask"):
    """A formula test over the call a check on dx judges, in training mode or not: wrong(dout,
    mask, p) is the dx the mistake gives, with the call's own mask or the one drawn before it (old)."""
    def candidate(p):
        call = _call(p)
        if call is None or call["training"] != training or (mask and call[mask] is None):
            return None
        return wrong(call["dout"], call[mask] if mask else None, call["p"])
    return formula(evidence, candidate)


def _fresh_mask(p):
    """dx is dout / (1 - p) or 0 everywhere, but its zeros are not where the forward dropped."""
    call = _call(p)
    if call is None or call["mask"] is None or p.got is None or p.got.shape != call["dout"].shape:
        return None
    zero, mask = p.got == 0, call["mask"]
    if compare.elementwise_mismatch(p.got, call["dout"] / (1.0 - call["p"]))[~zero].any():
        return None
    differ = int(np.sum(zero == mask))  # a kept element with zero gradient, or a dropped one with some
    if differ == 0 or np.array_equal(zero, mask):  # right, or exactly the dropped ones (mask_inverted)
        return None
    return {"evidence": t("dx is dout / (1 - p) or 0, but at {count} of {size} positions it is zero "
                          "where the forward kept the element or not zero where it dropped it",
                          count=differ, size=p.got.size)}


def _eval_forgotten(p):
    """After an evaluation-mode forward, backward crashed (on a mask of None), or zeroed dx after
    a fresh layer's first forward, while training-mode backward is right: backward has no branch
    for evaluation mode."""
    if p.check.id not in (f"edge.{EVAL}", f"edge.{AFTER_TRAIN}") or not p.passed(TORCH):
        return None
    error = p.error(p.scenario)
    if error is not None and error["type"] in ERRORS_OF_A_MISSING_EVAL_BRANCH:
        return {"evidence": t("after a forward with training = False, backward raised {error}",
                              error=error["type"])}
    if p.check.id == f"edge.{EVAL}" and p.got is not None and p.got.shape == p.inputs["dout"].shape \
            and not p.got.any():
        return {"evidence": t("after a forward with training = False, backward returned zeros")}
    return None


MISTAKES = [
    Mistake("missing_scale", "dx misses the inverted-dropout scale 1 / (1 - p): {evidence}. The "
            "forward multiplied by mask / (1 - p), so backward does too",
            _rule("got = dout * mask", lambda d, m, p: d * m)),
    Mistake("non_inverted_scale", "dx multiplies by 1 - p where inverted dropout divides by it: "
            "{evidence}", _rule("got = dout * mask * (1 - p)", lambda d, m, p: d * m * (1.0 - p))),
    Mistake("mask_inverted", "the gradient went through the dropped elements instead of the kept "
            "ones: {evidence}. The mask is True where the element was kept",
            _rule("got = dout * (1 - mask) / (1 - p)", lambda d, m, p: d * ~m / (1.0 - p))),
    Mistake("dropped_upstream", "the upstream gradient dout was dropped: {evidence}. Multiply by dout",
            _rule("got = mask / (1 - p), whatever dout is", lambda d, m, p: m / (1.0 - p))),
    Mistake("stale_cache", "backward used the mask of an earlier forward: {evidence}. Use the mask "
            "the last forward drew", _rule("after a new forward, dx = dout * (the first forward's mask) "
                                           "/ (1 - p)", lambda d, m, p: d * m / (1.0 - p), mask="old")),
    Mistake("eval_mode_forgotten", "backward ignores evaluation mode: {evidence}. In evaluation "
            "mode dropout is the identity: return dout unchanged", lambda p: _eval_forgotten(p) or _rule(
                "after an evaluation-mode forward, dx = dout * (the training forward's mask) / (1 - p)",
                lambda d, m, p: d * m / (1.0 - p), training=False, mask="old")(p)),
    Mistake("eval_mode_scaled", "in evaluation mode dx is scaled by 1 / (1 - p): {evidence}. "
            "Evaluation-mode dropout is the identity, so dx = dout",
            _rule("after an evaluation-mode forward, got = dout / (1 - p)", lambda d, m, p: d / (1.0 - p),
                  training=False, mask=None)),
    Mistake("fresh_mask", "backward drew a new random mask instead of reusing the forward's: "
            "{evidence}. Cache the mask in forward and multiply by it in backward", _fresh_mask),
]
