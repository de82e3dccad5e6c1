"""Hidden checks for clip_grad_norm: every array of a dict of gradients scaled in place by
min(1, max_norm / (total_norm + 1e-6)), the total norm (2 or inf) before clipping returned, as
torch.nn.utils.clip_grad_norm_ (float64). No numerical gradient: nobody asks for clipping's
derivative (min(1, ...) has a kink). Edge cases on both sides of max_norm, where the 1e-6
matters, all zeros and an empty dict; each known mistake is recognised by re-running the
clipping in NumPy with that one piece written wrong.
"""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake
from bpdrill.core.judge import Check, Failed, compare_arrays
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import function

EPS = 1e-6  # torch's: coef = max_norm / (total_norm + 1e-6)
NORM_TYPES = {"2": 2.0, "inf": float("inf")}
GRADS, TOTAL = "grads", "total_norm"  # the check targets: the caller's arrays, the returned norm
ZEROS, ABOVE_2_GRADS, IN_PLACE = "zeros", "torch.grads_2", "edge.in_place"  # named again by the diagnosis
NOT_SCALED = "the arrays the caller passed in never changed, though the total norm is above max_norm"


def _total(arrays: dict, norm_type: str) -> float:
    """The total norm of the scenario's gradients: only to place max_norm above or below it."""
    flat = np.concatenate([np.zeros(0), *(np.ravel(g) for g in arrays.values())])
    return float(np.max(np.abs(flat), initial=0.0) if norm_type == "inf" else np.sqrt(np.sum(flat * flat)))


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
    scale = 1e-3 / _total(tiny, "2")
    tiny = {key: np.asarray(v * scale * rng.uniform(0.8, 1.2)) for key, v in tiny.items()}
    return [
        # a 0-d gradient among them: scaled in place too
        _scenario("above_2", grads([(n, d), (k,), (), (2, n, k)]), "2", ratio=rng.uniform(0.2, 0.6)),
        _scenario("above_inf", above_inf, "inf", ratio=rng.uniform(0.2, 0.6)),
        _scenario("below_2", grads([(n, d), (k,), (d, k)]), "2", ratio=rng.uniform(1.5, 3.0)),
        # total norm ~1e-3 above max_norm: the 1e-6 moves the result by ~1e-3 relative
        _scenario("tiny", tiny, "2", ratio=rng.uniform(0.1, 0.5)),
        _scenario(ZEROS, {"g0": np.zeros((n, d)), "g1": np.zeros(k)}, "2", max_norm=rng.uniform(0.5, 2.0)),
        _scenario("empty", {}, "2", max_norm=rng.uniform(0.5, 2.0)),
        _scenario("empty_inf", {}, "inf", max_norm=rng.uniform(0.5, 2.0)),
        # max_norm = 0: every gradient is scaled to zero (coef = 0 / (total + 1e-6))
        _scenario("zero_limit", grads([(n, d), (k,)]), "2", max_norm=0.0),
        _scenario("single", grads([(n, k)]), "2", ratio=rng.uniform(0.2, 0.6)),
    ]


def _names(ev, scenario) -> list[str]:
    return ev.scenarios[scenario].keys_with_prefix("grad.")


# ---- judges -----------------------------------------------------------------------------------

def matches_torch(ev, check: Check) -> None:
    """Each target equals torch's: every array the caller holds (grads), the returned total norm
    before clipping (total_norm)."""
    ref = ev.reference(check.scenario)
    for name in _names(ev, check.scenario) if GRADS in check.targets else ():
        label = f"grads[{name!r}]"
        compare_arrays(label, ev.array(check.scenario, f"grad.{name}", label), ref[f"grad.{name}"], "torch")
    if TOTAL in check.targets:
        compare_arrays(TOTAL, ev.array(check.scenario, TOTAL, TOTAL), ref[TOTAL], "torch")


def in_place(ev, check: Check) -> None:
    """Clipping happens here: fails when none of the caller's arrays changed (a wrong coefficient
    that leaves some alone is the value checks' business)."""
    inputs, names = ev.inputs(check.scenario), _names(ev, check.scenario)
    values = [ev.value(check.scenario, f"grad.{name}") for name in names]
    if all(v.kind == "array" and np.array_equal(v.array, inputs[f"grad.{n}"]) for v, n in zip(values, names)):
        raise Failed(t("grads[{name!r}]: the caller's array did not change; scale it in place "
                       "(g *= coef, not g = g * coef)", name=names[0]), target=GRADS)


BOTH = (GRADS, TOTAL)
CHECKS = [Check(id, id.split(".")[0], target, points, scenario, matches_torch, title)
          for id, target, points, scenario, title in [
    ("torch.norm_2", TOTAL, 1, "above_2", "returns the total 2-norm before clipping, as torch"),
    (ABOVE_2_GRADS, GRADS, 2, "above_2",
     "2-norm above max_norm: every gradient (one of them 0-d) scaled as torch scales it"),
    ("torch.norm_inf", TOTAL, 1, "above_inf", "norm_type=inf: returns the largest magnitude, as torch"),
    ("torch.grads_inf", GRADS, 1, "above_inf",
     "norm_type=inf above max_norm: gradients scaled as torch scales them"),
    ("edge.below", BOTH, 1, "below_2", "total norm below max_norm: the gradients stay as they are"),
    ("edge.tiny", BOTH, 1, "tiny", "tiny gradients (total norm ~1e-3, where the 1e-6 matters)"),
    ("edge.zeros", BOTH, 1, ZEROS, "all-zero gradients: total norm 0.0, nothing divided by zero"),
    ("edge.empty", TOTAL, 1, "empty", "an empty dict returns 0.0"),
    ("edge.empty_inf", TOTAL, 1, "empty_inf", "an empty dict with norm_type=inf returns 0.0"),
    ("edge.zero_limit", BOTH, 1, "zero_limit",
     "max_norm = 0: every gradient scaled to zero, the total norm before clipping returned"),
    ("edge.single", BOTH, 1, "single", "a single gradient"),
]] + [Check(IN_PLACE, "edge", GRADS, 1, "above_2", in_place, "the caller's arrays are scaled in place")]


# ---- the worker's side, and the trusted one: torch.nn.utils.clip_grad_norm_ ------------------

def drive(module, s: Scenario) -> dict:
    grads = {name: s[f"grad.{name}"] for name in s.keys_with_prefix("grad.")}
    held = dict(grads)  # the caller's references: clipping must scale these arrays in place
    total = module.clip_grad_norm(grads, s.params["max_norm"], NORM_TYPES[s.params["norm_type"]])
    return {TOTAL: total, **{f"grad.{name}": array for name, array in held.items()}}


def reference(ref, s: Scenario) -> dict:
    params = {name: ref.leaf(np.zeros_like(s.arrays[f"grad.{name}"])) for name in s.keys_with_prefix("grad.")}
    for name, p in params.items():
        p.grad = ref.torch.tensor(s.arrays[f"grad.{name}"])
    total = ref.torch.nn.utils.clip_grad_norm_(list(params.values()), s.params["max_norm"],
                                               norm_type=NORM_TYPES[s.params["norm_type"]], foreach=False)
    return {TOTAL: ref.numpy(total), **{f"grad.{name}": ref.numpy(p.grad) for name, p in params.items()}}


# ---- diagnosis: the clipping re-run in NumPy with one piece written wrong ---------------------

def where(probe) -> str:
    return "clip_grad_norm"


def right_coef(max_norm: float, total: float) -> float:
    return min(1.0, max_norm / (total + EPS))


def simulate(s: Scenario, inf_norm=lambda g: np.max(np.abs(g)),
             total_2=lambda norms: np.sqrt(np.sum(norms**2)), coef=right_coef,
             own_norms=False, after=False) -> dict:
    """The results of clip_grad_norm written with these pieces: each array's inf-norm, the total
    2-norm of the arrays' norms, the coefficient of (max_norm, a norm), that norm each array's own
    (own_norms), the total returned after clipping (after)."""
    max_norm = s.params["max_norm"]
    grads = {n: np.array(s.arrays[f"grad.{n}"], dtype=np.float64) for n in s.keys_with_prefix("grad.")}
    if not grads:
        return {TOTAL: 0.0}
    with np.errstate(all="ignore"):
        if s.params["norm_type"] == "inf":
            norms = np.array([inf_norm(g) for g in grads.values()])
            total = float(np.max(norms))
        else:
            norms = np.array([np.sqrt(np.sum(g * g)) for g in grads.values()])
            total = float(total_2(norms))
        coefs = [coef(max_norm, norm if own_norms else total) for norm in norms]
        clipped = {f"grad.{n}": g * c for (n, g), c in zip(grads.items(), coefs)}
    return {TOTAL: total * right_coef(max_norm, total) if after else total, **clipped}


def _simulated(evidence: str, **wrong):
    return function.simulated(lambda s: simulate(s, **wrong), evidence, skip=(IN_PLACE,))


def _zero_division(p):
    """All-zero gradients: max_norm / total_norm divided by zero (an error, or nan)."""
    if p.scenario == ZEROS and (p.error(p.scenario) or {}).get("type") == "ZeroDivisionError":
        return {"evidence": t("with all-zero gradients total_norm is 0, and max_norm / total_norm "
                              "raised ZeroDivisionError")}
    if p.scenario == ZEROS and p.failure.nonfinite == "nan":
        return {"evidence": t("with all-zero gradients total_norm is 0, and max_norm / total_norm "
                              "made the gradients nan")}
    return None


def _unscaled(p) -> bool:
    return p.unchanged("grad.", _names(p.ev, p.scenario))


def _zero_limit_ignored(p):
    """max_norm = 0 left every gradient as it was, while clipping above max_norm was right."""
    if p.ev.params(p.scenario).get("max_norm") == 0.0 and p.passed(ABOVE_2_GRADS) and _unscaled(p):
        return {"evidence": t("clipping above max_norm is right, but max_norm = 0 left the gradients "
                              "unscaled")}
    return None


MISTAKES = [
    Mistake("zero_limit_ignored", "max_norm = 0 was taken as 'no clipping': {evidence}. A max_norm of "
            "0 scales every gradient to zero (coef = 0 / (total_norm + 1e-6)); a guard must test "
            "`max_norm is None`, never the number's truth value", _zero_limit_ignored),
    Mistake("not_in_place", "the caller's gradients were not scaled: {evidence}. Scale each array "
            "in place (g *= coef); g = g * coef only rebinds a local name",
            lambda p: (p.check.id == IN_PLACE and _unscaled(p) and {"evidence": t(NOT_SCALED)})
            or _simulated(NOT_SCALED, coef=lambda max_norm, total: 1.0)(p),
            at_code=r"^(\w+)\s*=\s*\1\s*\*|^(\w+)\s*=\s*\w+\s*\*\s*\2$"),
    Mistake("missing_eps", "the 1e-6 is missing from the clip coefficient: {evidence}. torch uses "
            "max_norm / (total_norm + 1e-6)", lambda p: _zero_division(p) or _simulated(
                "the gradients are scaled by max_norm / total_norm exactly",
                coef=lambda max_norm, total: min(1.0, max_norm / total) if total else np.nan)(p),
            at_code=r"max_norm\s*/"),
    *[Mistake(name, says, _simulated(evidence, **wrong)) for name, says, evidence, wrong in [
        ("clip_each_array_by_own_norm", "each gradient was clipped by its own norm: {evidence}. "
         "Compute one total norm over all the arrays and scale every array by the same coefficient",
         "each array matches min(1, max_norm / (its own norm + 1e-6)) times itself", {"own_norms": True}),
        ("returns_norm_after_clipping", "the returned norm is the one after clipping: {evidence}. "
         "Return total_norm as it was before scaling",
         "the returned value is total_norm * coef, about max_norm", {"after": True}),
        ("clips_when_below_max_norm", "gradients below max_norm were scaled up: {evidence}. Clamp "
         "the coefficient at 1: coef = min(1, max_norm / (total_norm + 1e-6))",
         "every array is multiplied by max_norm / (total_norm + 1e-6) > 1",
         {"coef": lambda max_norm, total: max_norm / (total + EPS)}),
        ("sum_of_norms", "the total 2-norm is the sum of the arrays' norms: {evidence}. It is the "
         "square root of the sum of their squares", "the returned value is the sum of the per-array norms",
         {"total_2": np.sum}),
        ("squared_norm", "the square root is missing from the total norm: {evidence}",
         "the returned value is the sum of squares", {"total_2": lambda norms: np.sum(norms**2)}),
        ("inf_norm_without_abs", "the inf-norm took the largest signed value: {evidence}. It is the "
         "largest magnitude, max |g|",
         "the returned value is max(g), while the largest magnitude is negative", {"inf_norm": np.max}),
    ]],
]
