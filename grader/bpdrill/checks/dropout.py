"""Hidden checks for dropout: out = x * mask / (1 - p) in training, the identity in evaluation; dx.

A layer (bpdrill.kinds.layer) whose mask it draws itself from a seeded rng: each scenario
carries the masks the given forward draws from that seed (`drawn`), and the PyTorch reference
runs them through autograd (x * mask / (1 - p); evaluation mode is
torch.nn.functional.dropout(training=False)). x has no zeros, so the grader also reads back
the mask the learner's forward actually drew (where its output is not zero): when it is not
the given forward's draw (a forward written another way), the reference is computed again
with the learner's own mask, so a correct backward never fails for how forward drew. The
numerical gradient perturbs x under the same mask too (a fresh layer, the same seed).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from bpdrill.core import compare
from bpdrill.core.diagnose import Mistake, formula
from bpdrill.core.driving import perturbed_outputs, raised, snapshot
from bpdrill.core.judge import Check, Failed, compare_arrays, numgrad_check, shape_check, unchanged_check
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import layer

ERRORS_OF_A_MISSING_EVAL_BRANCH = ("TypeError", "AttributeError", "ValueError", "IndexError")


def _layer(module, s: Scenario):
    """The learner's Dropout with the scenario's p and seeded rng (in evaluation mode if it says so)."""
    dropout = module.Dropout(p=s.params["p"], rng=np.random.default_rng(s.params["seed"]))
    if not s.params.get("training", True):
        dropout.training = False
    return dropout


SPEC = layer.Layer("Dropout", lambda torch, x, mask, p: torch.nn.functional.dropout(x, p, training=False)
                   if mask is None else x * mask / (1.0 - p), drawn=("mask",), options=("p",), make=_layer,
                   batch=None)


def _nonzero(rng, shape):
    """Normal-like values bounded away from 0: a zero in the output always means dropped."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 2.0, size=shape)


def _with_masks(name: str, mode: str, arrays: dict, params: dict) -> Scenario:
    """The scenario with the masks the given forward draws from its seed, in the order it draws
    them: mask for x, then mask3 for the new forward's x3 (none in evaluation mode)."""
    if params.get("training", True):
        rng = np.random.default_rng(params["seed"])
        arrays["mask"] = rng.random(arrays["x"].shape) >= params["p"]
        if "x3" in arrays:
            arrays["mask3"] = rng.random(arrays["x3"].shape) >= params["p"]
    return Scenario(name, mode, arrays, params)


def _train(name, rng, shape, p, twice=False, **params):
    arrays = {"x": _nonzero(rng, shape), "dout": rng.normal(size=shape)}
    if twice:
        arrays.update({"dout2": rng.normal(size=shape), "x3": _nonzero(rng, shape), "dout3": rng.normal(size=shape)})
    return _with_masks(name, "backward", arrays, {"p": float(p), "seed": int(rng.integers(2**31)), **params})


def scenarios(rng) -> list[Scenario]:
    n, d = (int(v) for v in rng.permutation(range(2, 8))[:2])
    big3 = tuple(int(v) for v in rng.permutation(range(4, 10))[:3])  # >= 120 elements: a mask never repeats by chance
    wide = (int(rng.integers(8, 12)), int(rng.integers(10, 14)))
    basic = _train("basic", rng, (n, d), rng.uniform(0.2, 0.5))
    found = [basic, layer.perturb(basic), _train("large", rng, big3, rng.uniform(0.5, 0.85)),
             _train("single", rng, (1, int(rng.integers(10, 17))), rng.uniform(0.2, 0.4)),
             _train("twice", rng, wide, rng.uniform(0.3, 0.7), twice=True),
             _train("p_zero", rng, (n, d), 0.0, bounds=True)]
    evaluation = {"x": _nonzero(rng, wide), "dout": rng.normal(size=wide)}
    after_train = {"x": _nonzero(rng, wide), "dout": rng.normal(size=wide),
                   "x2": _nonzero(rng, wide), "dout2": rng.normal(size=wide)}
    for name, arrays, params in (("eval", evaluation, {"training": False}), ("eval_after_train", after_train, {})):
        found.append(_with_masks(name, "backward" if name == "eval" else name, arrays,
                                 {"p": float(rng.uniform(0.3, 0.7)), "seed": int(rng.integers(2**31)), **params}))
    return found


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


def _masks_read_from(s: Scenario) -> tuple:
    """(training-mode forward output, its input, mask key) of each mask the scenario draws."""
    if s.mode == "eval_after_train":
        return (("out_train", "x", "mask"),)
    return tuple(found for found in (("out", "x", "mask"), ("out3", "x3", "mask3")) if found[2] in s.arrays)


def expected(ev, scenario: str) -> dict:
    """The PyTorch reference for the scenario, under the masks the learner's forward drew."""
    s = ev.scenarios[scenario]
    values = ev.values(scenario)
    masks = {mask: _learner_mask(ev, scenario, out, x) for out, x, mask in _masks_read_from(s) if out in values}
    if all(np.array_equal(m, s.arrays[key]) for key, m in masks.items()):
        return ev.reference(scenario)  # the given forward's draws: the reference computed ahead of time
    # A forward that draws its mask another way: the same computation with the learner's masks
    # (Evidence's reference function computes a variant of a scenario, as Probe.reference_with does).
    return ev._reference(replace(s, arrays={**s.arrays, **masks}))


def matches_with_learner_mask(*keys):
    """Each (got_key, name) equals PyTorch's, run with the mask the learner's forward drew."""
    def judge(ev, check: Check) -> None:
        ref = expected(ev, check.scenario)
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


def _dx(id: str, points: int, scenario: str, title: str, *keys, call: str = "first") -> Check:
    """A check on dx (and out) against PyTorch under the learner's masks."""
    return Check(id, id.split(".")[0], "dx", points, scenario, matches_with_learner_mask(*keys), title, call=call)


CHECKS = [
    shape_check("dx", like="x"),
    numgrad_check("dx", "x", lambda ev, scenario: compare.weighted_sum(ev.inputs(scenario)["dout"]), points=2),
    _dx("torch.dx", 2, "large", "dx matches PyTorch with the forward's mask (3-D input, p up to 0.85)", ("dx", "dx")),
    _dx("edge.single", 1, "single", "batch of one", ("dx", "dx")),
    _dx("edge.second_backward", 1, "twice", "a second backward reuses the same mask", ("dx2", "dx"), call="second"),
    _dx("edge.new_forward", 1, "twice", "after a new forward, backward uses its new mask", ("dx3", "dx"),
        call="new_forward"),
    _dx("edge.eval", 1, "eval", "evaluation mode: forward is the identity and backward returns dout",
        ("out", "out"), ("dx", "dx")),
    _dx("edge.eval_after_train", 1, "eval_after_train",
        "after an evaluation-mode forward, backward returns dout (no old mask)", ("out_eval", "out"), ("dx_eval", "dx")),
    _dx("edge.p_bounds", 1, "p_zero", "p = 0 keeps everything (dx = dout)", ("out", "out"), ("dx", "dx")),
    # the given constructor makes this check, not the exercise: it says so, and carries no points
    Check("edge.p_invalid_raises", "edge", "p", 0, "p_zero", p_invalid_raises,
          "p = 1 and p < 0 raise ValueError (the given constructor's check: no points)"),
    unchanged_check("x", "dout"),
]


# ---- the worker's side: the layer kind's life cycle, and what only dropout has ---------------

def drive(module, s: Scenario) -> dict:
    if s.mode == "perturb":  # a fresh layer, same seed, every time: the same mask for every forward
        x = s["x"]  # one array, perturbed in place by perturbed_outputs
        plus, minus = perturbed_outputs(lambda: _layer(module, s).forward(x), x, s.params["h"])
        return {"plus.x": plus, "minus.x": minus}
    if s.mode == "eval_after_train":  # a training step, then an evaluation-mode one
        dropout = _layer(module, s)
        out = {"out_train": snapshot(dropout.forward(s["x"])), "dx_train": snapshot(dropout.backward(s["dout"]))}
        dropout.training = False
        out["out_eval"] = snapshot(dropout.forward(s["x2"]))
        out["dx_eval"] = snapshot(dropout.backward(s["dout2"]))
        return out
    out = {}
    if s.params.get("bounds"):
        out["raised.one"] = raised(lambda: module.Dropout(p=1.0))
        out["raised.negative"] = raised(lambda: module.Dropout(p=-0.1))
    return {**out, **layer.drive(SPEC, module, s)}


def reference(ref, s: Scenario) -> dict:
    if s.mode != "eval_after_train":
        return layer.reference(SPEC, ref, s)
    # the evaluation-mode call after the training one: no mask
    evaluation = layer.reference(SPEC, ref, Scenario(s.name, "backward", {"x": s["x2"], "dout": s["dout2"]}, s.params))
    return {"out_eval": evaluation["out"], "dx_eval": evaluation["dx"]}


# ---- diagnosis --------------------------------------------------------------------------------

def where(probe) -> str:
    return "Dropout.__init__" if probe.label == "p" else layer.where(SPEC)(probe)


def _mask(p, out_key: str, x_key: str):
    try:
        return _learner_mask(p.ev, p.scenario, out_key, x_key)
    except Failed:
        return None


def _train_call(p):
    """(dout, mask, drop probability, the mask of the forward before) of the training-mode call
    the check judges, or None when the check is not about one."""
    s, a = p.ev.scenarios[p.scenario], p.inputs
    if s.mode != "backward" or "mask" not in a or p.label != "dx":
        return None
    drop = s.params["p"]
    if p.check.call == "new_forward":
        return a["dout3"], _mask(p, "out3", "x3"), drop, _mask(p, "out", "x")
    return a["dout2" if p.check.call == "second" else "dout"], _mask(p, "out", "x"), drop, None


def _train_rule(evidence: str, rule):
    """A formula test over a training-mode call: rule(dout, mask, p) is the wrong dx."""
    def candidate(p):
        call = _train_call(p)
        return None if call is None or call[1] is None else rule(*call[:3])
    return formula(evidence, candidate)


def _stale(p):
    """After forward(x3), dx used the first forward's mask."""
    call = _train_call(p)
    if call is None or call[3] is None or p.check.call != "new_forward":
        return None
    dout, _, drop, old = call
    return dout * old / (1.0 - drop)


def _fresh_mask(p):
    """dx is dout / (1 - p) or 0 everywhere, but its zeros are not where the forward dropped."""
    call = _train_call(p)
    if call is None or call[1] is None or p.got is None or p.got.shape != call[0].shape:
        return None
    dout, mask, drop, _ = call
    got = p.got
    zero = got == 0
    if compare.elementwise_mismatch(got, dout / (1.0 - drop))[~zero].any():
        return None
    differ = int(np.sum(zero == mask))  # a kept element with zero gradient, or a dropped one with some
    if differ == 0 or np.array_equal(zero, mask):  # right, or exactly the dropped ones (mask_inverted)
        return None
    return {"evidence": t("dx is dout / (1 - p) or 0, but at {count} of {size} positions it is zero "
                          "where the forward kept the element or not zero where it dropped it",
                          count=differ, size=got.size)}


def _eval_call(p):
    """(dout, drop probability, the training forward's mask or None) of an eval-mode check."""
    a, params = p.inputs, p.ev.params(p.scenario)
    if p.label != "dx" or p.scenario not in ("eval", "eval_after_train"):
        return None
    if p.scenario == "eval":
        return a["dout"], params["p"], None
    return a["dout2"], params["p"], _mask(p, "out_train", "x")


def _eval_scaled(p):
    call = _eval_call(p)
    return None if call is None else call[0] / (1.0 - call[1])


def _eval_old_mask(p):
    call = _eval_call(p)
    return None if call is None or call[2] is None else call[0] * call[2] / (1.0 - call[1])


def _eval_forgotten(p):
    """After an evaluation-mode forward, backward crashed (on a mask of None), or zeroed dx after
    a fresh layer's first forward, while training-mode backward is right: backward has no branch
    for evaluation mode."""
    if p.check.id not in ("edge.eval", "edge.eval_after_train") or not p.passed("torch.dx"):
        return None
    error = p.error(p.scenario)
    if error is not None and error["type"] in ERRORS_OF_A_MISSING_EVAL_BRANCH:
        return {"evidence": t("after a forward with training = False, backward raised {error}",
                              error=error["type"])}
    if p.check.id == "edge.eval" and p.got is not None and p.got.shape == p.inputs["dout"].shape \
            and not p.got.any():
        return {"evidence": t("after a forward with training = False, backward returned zeros")}
    return None


MISTAKES = [
    Mistake("missing_scale", "dx misses the inverted-dropout scale 1 / (1 - p): {evidence}. The "
            "forward multiplied by mask / (1 - p), so backward does too",
            _train_rule("got = dout * mask", lambda d, m, p: d * m)),
    Mistake("non_inverted_scale", "dx multiplies by 1 - p where inverted dropout divides by it: "
            "{evidence}", _train_rule("got = dout * mask * (1 - p)", lambda d, m, p: d * m * (1.0 - p))),
    Mistake("mask_inverted", "the gradient went through the dropped elements instead of the kept "
            "ones: {evidence}. The mask is True where the element was kept",
            _train_rule("got = dout * (1 - mask) / (1 - p)", lambda d, m, p: d * ~m / (1.0 - p))),
    Mistake("dropped_upstream", "the upstream gradient dout was dropped: {evidence}. Multiply by dout",
            _train_rule("got = mask / (1 - p), whatever dout is", lambda d, m, p: m / (1.0 - p))),
    Mistake("stale_cache", "backward used the mask of an earlier forward: {evidence}. Use the mask "
            "the last forward drew",
            formula("after a new forward, dx = dout * (the first forward's mask) / (1 - p)", _stale)),
    Mistake("eval_mode_forgotten", "backward ignores evaluation mode: {evidence}. In evaluation "
            "mode dropout is the identity: return dout unchanged", lambda p: _eval_forgotten(p) or formula(
                "after an evaluation-mode forward, dx = dout * (the training forward's mask) / (1 - p)",
                _eval_old_mask)(p)),
    Mistake("eval_mode_scaled", "in evaluation mode dx is scaled by 1 / (1 - p): {evidence}. "
            "Evaluation-mode dropout is the identity, so dx = dout",
            formula("after an evaluation-mode forward, got = dout / (1 - p)", _eval_scaled)),
    Mistake("fresh_mask", "backward drew a new random mask instead of reusing the forward's: "
            "{evidence}. Cache the mask in forward and multiply by it in backward", _fresh_mask),
]
