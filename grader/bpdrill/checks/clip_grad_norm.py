"""Hidden checks for clip_grad_norm: the total norm (2 or inf) of a dict of gradients, every
array scaled in place by min(1, max_norm / (total_norm + 1e-6)), the norm before clipping
returned, as torch.nn.utils.clip_grad_norm_.

No numerical-gradient check: clipping is not a function whose derivative anyone asks for
(and min(1, ...) has a kink at total_norm = max_norm). Every scenario is compared with
torch.nn.utils.clip_grad_norm_ in float64 instead, with edge cases on both sides of max_norm,
where the 1e-6 matters, all zeros and an empty dict; each known mistake is recognised by
re-running the clipping in NumPy with that one mistake switched on.
"""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, close
from bpdrill.i18n import t
from bpdrill.core.judge import Check, Failed, compare_arrays
from bpdrill.core.protocol import Scenario

EPS = 1e-6  # torch's: coef = max_norm / (total_norm + 1e-6)
NOT_SCALED = "the arrays the caller passed in never changed, though the total norm is above max_norm"


def _total(arrays: dict, norm_type: str) -> float:
    """The total norm of the scenario's gradients: only to place max_norm above or below it."""
    flat = np.concatenate([np.ravel(g) for g in arrays.values()]) if arrays else np.zeros(0)
    if not flat.size:
        return 0.0
    return float(np.max(np.abs(flat)) if norm_type == "inf" else np.sqrt(np.sum(flat * flat)))


def _scenario(name, arrays, norm_type, max_norm=None, ratio=None):
    """ratio: max_norm as a multiple of the total norm (below 1: clipping happens)."""
    if max_norm is None:
        max_norm = ratio * _total(arrays, norm_type)
    return Scenario(name, "clip", {f"grad.{k}": v for k, v in arrays.items()},
                    {"max_norm": float(max_norm), "norm_type": norm_type})


def scenarios(rng) -> list[Scenario]:
    n, d, k = (int(v) for v in rng.permutation(range(2, 8))[:3])

    def grads(shapes, scale=1.0):
        return {f"g{i}": np.asarray(scale * rng.normal(size=shape)) for i, shape in enumerate(shapes)}

    above_inf = grads([(n, d), (k,), (d, k)])
    # The largest magnitude is negative and stands out: max(g) and max(|g|) always differ.
    i = int(rng.integers(3))
    g = above_inf[f"g{i}"].reshape(-1)
    g[int(rng.integers(g.size))] = -(_total(above_inf, "inf") + rng.uniform(0.5, 1.0))
    tiny = grads([(n, d), (k,)])
    tiny = {key: np.asarray(v * (1e-3 / _total(tiny, "2")) * rng.uniform(0.8, 1.2)) for key, v in tiny.items()}
    return [
        # a 0-d gradient among them: scaled in place too
        _scenario("above_2", grads([(n, d), (k,), (), (2, n, k)]), "2", ratio=rng.uniform(0.2, 0.6)),
        _scenario("above_inf", above_inf, "inf", ratio=rng.uniform(0.2, 0.6)),
        _scenario("below_2", grads([(n, d), (k,), (d, k)]), "2", ratio=rng.uniform(1.5, 3.0)),
        # total norm ~1e-3 above max_norm: the 1e-6 moves the result by ~1e-3 relative
        _scenario("tiny", tiny, "2", ratio=rng.uniform(0.1, 0.5)),
        _scenario("zeros", {"g0": np.zeros((n, d)), "g1": np.zeros(k)}, "2", max_norm=rng.uniform(0.5, 2.0)),
        _scenario("empty", {}, "2", max_norm=rng.uniform(0.5, 2.0)),
        _scenario("empty_inf", {}, "inf", max_norm=rng.uniform(0.5, 2.0)),
        # max_norm = 0: every gradient is scaled to zero (coef = 0 / (total + 1e-6))
        _scenario("zero_limit", grads([(n, d), (k,)]), "2", max_norm=0.0),
        _scenario("single", grads([(n, k)]), "2", ratio=rng.uniform(0.2, 0.6)),
    ]


def _names(ev, scenario) -> list[str]:
    return ev.scenarios[scenario].keys_with_prefix("grad.")


# ---- judges -----------------------------------------------------------------------------------

def total_matches(ev, check: Check) -> None:
    """The returned total norm (before clipping) equals torch's."""
    got = ev.array(check.scenario, "total_norm", "total_norm")
    compare_arrays("total_norm", got, ev.reference(check.scenario)["total_norm"], "torch")


def grads_match(ev, check: Check) -> None:
    """Every array the caller holds equals torch's clipped gradient."""
    ref = ev.reference(check.scenario)
    for name in _names(ev, check.scenario):
        label = f"grads[{name!r}]"
        compare_arrays(label, ev.array(check.scenario, f"grad.{name}", label), ref[f"grad.{name}"], "torch")


def both_match(ev, check: Check) -> None:
    grads_match(ev, check)
    total_matches(ev, check)


def in_place(ev, check: Check) -> None:
    """Clipping happens in this scenario: the arrays the caller holds must have changed.

    Fails only when none changed: a wrong coefficient that leaves some arrays alone (each
    clipped by its own norm) is the value checks' business, not this one's."""
    inputs = ev.inputs(check.scenario)
    names = _names(ev, check.scenario)
    values = [ev.value(check.scenario, f"grad.{name}") for name in names]
    if all(v.kind == "array" and np.array_equal(v.array, inputs[f"grad.{name}"]) for v, name in zip(values, names)):
        raise Failed(t("grads[{name!r}]: the caller's array did not change; scale it in place "
                       "(g *= coef, not g = g * coef)", name=names[0]), target="grads")


def _check(id, target, points, scenario, judge, title) -> Check:
    return Check(id, id.split(".")[0], target, points, scenario, judge, title)


BOTH = ("grads", "total_norm")
CHECKS = [
    _check("torch.norm_2", "total_norm", 1, "above_2", total_matches, "returns the total 2-norm before clipping, as torch"),
    _check("torch.grads_2", "grads", 2, "above_2", grads_match,
           "2-norm above max_norm: every gradient (one of them 0-d) scaled as torch scales it"),
    _check("torch.norm_inf", "total_norm", 1, "above_inf", total_matches,
           "norm_type=inf: returns the largest magnitude, as torch"),
    _check("torch.grads_inf", "grads", 1, "above_inf", grads_match,
           "norm_type=inf above max_norm: gradients scaled as torch scales them"),
    _check("edge.below", BOTH, 1, "below_2", both_match, "total norm below max_norm: the gradients stay as they are"),
    _check("edge.tiny", BOTH, 1, "tiny", both_match, "tiny gradients (total norm ~1e-3, where the 1e-6 matters)"),
    _check("edge.zeros", BOTH, 1, "zeros", both_match, "all-zero gradients: total norm 0.0, nothing divided by zero"),
    _check("edge.empty", "total_norm", 1, "empty", total_matches, "an empty dict returns 0.0"),
    _check("edge.empty_inf", "total_norm", 1, "empty_inf", total_matches, "an empty dict with norm_type=inf returns 0.0"),
    _check("edge.zero_limit", BOTH, 1, "zero_limit", both_match,
           "max_norm = 0: every gradient scaled to zero, the total norm before clipping returned"),
    _check("edge.single", BOTH, 1, "single", both_match, "a single gradient"),
    _check("edge.in_place", "grads", 1, "above_2", in_place, "the caller's arrays are scaled in place"),
]


# ---- the worker's side ----------------------------------------------------------------------

def drive(module, s: Scenario) -> dict:
    names = s.keys_with_prefix("grad.")
    grads = {name: s[f"grad.{name}"] for name in names}
    held = dict(grads)  # the caller's references: clipping must scale these arrays in place
    norm_type = float("inf") if s.params["norm_type"] == "inf" else 2.0
    total = module.clip_grad_norm(grads, s.params["max_norm"], norm_type)
    return {"total_norm": total, **{f"grad.{name}": held[name] for name in names}}


# ---- the trusted side: torch.nn.utils.clip_grad_norm_ ---------------------------------------

def reference(ref, s: Scenario) -> dict:
    torch = ref.torch
    names = s.keys_with_prefix("grad.")
    params = {}
    for name in names:
        grad = s.arrays[f"grad.{name}"]
        params[name] = ref.leaf(np.zeros_like(grad))
        params[name].grad = torch.tensor(grad)
    norm_type = float("inf") if s.params["norm_type"] == "inf" else 2.0
    total = torch.nn.utils.clip_grad_norm_(list(params.values()), s.params["max_norm"], norm_type=norm_type,
                                           foreach=False)
    return {"total_norm": ref.numpy(total), **{f"grad.{name}": ref.numpy(p.grad) for name, p in params.items()}}


# ---- diagnosis: the clipping re-run in NumPy with one known mistake switched on ---------------

def where(probe) -> str:
    return "clip_grad_norm"


def simulate(scenario, mistake: str | None = None) -> tuple[float, dict]:
    """(returned total, clipped gradients) of clip_grad_norm written with `mistake`."""
    a, max_norm = scenario.arrays, scenario.params["max_norm"]
    names = scenario.keys_with_prefix("grad.")
    grads = {n: np.array(a[f"grad.{n}"], dtype=np.float64) for n in names}
    if not grads:
        return 0.0, {}
    with np.errstate(all="ignore"):
        if scenario.params["norm_type"] == "inf":
            norms = np.array([np.max(g if mistake == "inf_norm_without_abs" else np.abs(g)) for g in grads.values()])
            total = float(np.max(norms))
        else:
            norms = np.array([np.sqrt(np.sum(g * g)) for g in grads.values()])
            total = float({"sum_of_norms": np.sum(norms), "squared_norm": np.sum(norms**2)}.get(
                mistake, np.sqrt(np.sum(norms**2))))
        coef = min(1.0, max_norm / (total + EPS))
        if mistake == "clip_each_array_by_own_norm":
            coefs = [min(1.0, max_norm / (norm + EPS)) for norm in norms]
        else:
            coefs = [{"missing_eps": min(1.0, max_norm / total) if total else np.nan,
                      "clips_when_below_max_norm": max_norm / (total + EPS),
                      "not_in_place": 1.0}.get(mistake, coef)] * len(grads)
        clipped = {n: g * c for (n, g), c in zip(grads.items(), coefs)}
    return (total * coef if mistake == "returns_norm_after_clipping" else total), clipped


def _outputs_close(total, grads, other_total, other_grads) -> bool:
    return close(total, other_total) and all(close(grads[n], other_grads[n]) for n in other_grads)


def _simulated(mistake: str, evidence: str):
    """A Mistake test: everything the learner's call produced (the returned total and every
    array) equals clip_grad_norm written with `mistake`, and the right answer does not."""
    def test(p):
        if p.check.id == "edge.in_place":
            return None
        wrong_total, wrong_grads = simulate(p.ev.scenarios[p.scenario], mistake)
        total = p.learner(p.scenario, "total_norm")
        grads = {n: p.learner(p.scenario, f"grad.{n}") for n in wrong_grads}
        if total is None or any(g is None for g in grads.values()):
            return None
        ref = p.reference()
        right_grads = {n: ref[f"grad.{n}"] for n in wrong_grads}
        if _outputs_close(total, grads, wrong_total, wrong_grads) and \
                not _outputs_close(ref["total_norm"], right_grads, wrong_total, wrong_grads):
            return {"evidence": t(evidence)}
        return None
    return test


def _zero_division(p):
    """All-zero gradients: max_norm / total_norm divided by zero (an error, or nan)."""
    if p.scenario != "zeros":
        return None
    error = p.error(p.scenario)
    if error is not None and error["type"] == "ZeroDivisionError":
        return {"evidence": t("with all-zero gradients total_norm is 0, and max_norm / total_norm "
                              "raised ZeroDivisionError")}
    if p.failure.nonfinite == "nan":
        return {"evidence": t("with all-zero gradients total_norm is 0, and max_norm / total_norm "
                              "made the gradients nan")}
    return None


def _not_scaled(p):
    if p.check.id != "edge.in_place":
        return None
    if not p.unchanged("grad.", _names(p.ev, p.scenario)):
        return None  # an array did change: not this mistake
    return {"evidence": t(NOT_SCALED)}


def _zero_limit_ignored(p):
    """max_norm = 0 left every gradient as it was, while clipping above max_norm was right."""
    if p.ev.params(p.scenario).get("max_norm") != 0.0 or not p.passed("torch.grads_2"):
        return None
    if p.unchanged("grad.", _names(p.ev, p.scenario)):
        return {"evidence": t("clipping above max_norm is right, but max_norm = 0 left the gradients unscaled")}
    return None


MISTAKES = [
    Mistake("zero_limit_ignored", "max_norm = 0 was taken as 'no clipping': {evidence}. A max_norm of "
            "0 scales every gradient to zero (coef = 0 / (total_norm + 1e-6)); a guard must test "
            "`max_norm is None`, never the number's truth value", _zero_limit_ignored),
    Mistake("not_in_place", "the caller's gradients were not scaled: {evidence}. Scale each array "
            "in place (g *= coef); g = g * coef only rebinds a local name",
            lambda p: _not_scaled(p) or _simulated("not_in_place", NOT_SCALED)(p), at_code=r"^(\w+)\s*=\s*\1\s*\*|^(\w+)\s*=\s*\w+\s*\*\s*\2$"),
    Mistake("missing_eps", "the 1e-6 is missing from the clip coefficient: {evidence}. torch uses "
            "max_norm / (total_norm + 1e-6)", lambda p: _zero_division(p) or _simulated(
                "missing_eps", "the gradients are scaled by max_norm / total_norm exactly")(p),
            at_code=r"max_norm\s*/"),
    *[Mistake(name, says, _simulated(name, evidence)) for name, says, evidence in [
        ("clip_each_array_by_own_norm", "each gradient was clipped by its own norm: {evidence}. "
         "Compute one total norm over all the arrays and scale every array by the same coefficient",
         "each array matches min(1, max_norm / (its own norm + 1e-6)) times itself"),
        ("returns_norm_after_clipping", "the returned norm is the one after clipping: {evidence}. "
         "Return total_norm as it was before scaling", "the returned value is total_norm * coef, about max_norm"),
        ("clips_when_below_max_norm", "gradients below max_norm were scaled up: {evidence}. Clamp "
         "the coefficient at 1: coef = min(1, max_norm / (total_norm + 1e-6))",
         "every array is multiplied by max_norm / (total_norm + 1e-6) > 1"),
        ("sum_of_norms", "the total 2-norm is the sum of the arrays' norms: {evidence}. It is the "
         "square root of the sum of their squares", "the returned value is the sum of the per-array norms"),
        ("squared_norm", "the square root is missing from the total norm: {evidence}",
         "the returned value is the sum of squares"),
        ("inf_norm_without_abs", "the inf-norm took the largest signed value: {evidence}. It is the "
         "largest magnitude, max |g|", "the returned value is max(g), while the largest magnitude is negative"),
    ]],
]
