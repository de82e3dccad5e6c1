"""Hidden checks for init: xavier_uniform, xavier_normal, kaiming_uniform, kaiming_normal draw
(fan_in, fan_out) matrices from torch.nn.init's distributions.

A random draw has no derivative and no single right value: each function is judged on its layout,
its determinism (the result depends only on the arguments and rng) and the statistics of two large
draws, (a, b) and (b, a) with a != b, against torch.nn.init's distribution for the same fans. The
reference reads torch's parameter exactly: torch.nn.init's draw from a seeded torch.Generator is a
standard uniform (or normal) draw of the same seed, scaled by that parameter.

Every tolerance is derived so that a correct draw never fails (n >= 230 * 360 = 82 800):
- scale: the root mean square of n draws of mean 0 has relative sd sqrt((kurtosis - 1) / (4 n))
  <= 1 / sqrt(2 n) (kurtosis 3 for a normal, 1.8 for a uniform); outside 8 sds: ~1e-15.
- mean: within 8 std / sqrt(n) of 0.
- family: the kurtosis E[W^4] / E[W^2]^2 (1.8 uniform, 3 normal) has sampling sd <= sqrt(24 / n)
  ~ 0.017: 2.4, halfway, is over 30 sds from either.
- uniform bounds: every |W| <= bound; the largest >= bound (1 - 30 / n), missed with probability
  (1 - 30 / n)^n ~ e^-30.
- the whole distribution: the Kolmogorov-Smirnov distance D to the exact distribution obeys
  P(D > e) <= 2 exp(-2 n e^2) (Dvoretzky-Kiefer-Wolfowitz, Massart): e = sqrt(ln(2 / 1e-12) / (2 n)).
"""
from __future__ import annotations

import math

import numpy as np

from bpdrill.core.compare import ks_distance, kurtosis, normal_cdf, rms
from bpdrill.core.diagnose import Mistake
from bpdrill.core.driving import snapshot
from bpdrill.core.judge import Check, Failed
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t

FUNCTIONS = tuple(f"{rule}_{family}" for rule in ("xavier", "kaiming") for family in ("uniform", "normal"))
XAVIER, KAIMING, UNIFORM, NORMAL = (tuple(f for f in FUNCTIONS if word in f)
                                    for word in ("xavier", "kaiming", "uniform", "normal"))
SIGMAS = 8.0
KURTOSIS_SPLIT = 2.4  # halfway between a uniform's 1.8 and a normal's 3
KS_ALPHA = 1e-12
MAX_SLACK = 30.0  # the largest |W| of a uniform lies within bound * 30 / n of the bound
# the small draws: from a seed, from another seed, from the first seed again (after another call)
SMALL, OTHER, AGAIN = "small.0", "small.other", "small.1"


def scenarios(rng) -> list[Scenario]:
    found = []
    for function in FUNCTIONS:
        a, b = int(rng.integers(360, 421)), int(rng.integers(230, 281))  # a != b, a != 2b: fans tell apart
        c, d = (int(v) for v in rng.permutation(range(2, 8))[:2])
        seed = int(rng.integers(2**30))
        seeds = [seed, seed + 1 + int(rng.integers(2**30))]  # two different seeds
        found.append(Scenario(function, "draw", {}, {"function": function, "large": [[a, b], [b, a]],
                                                     "small": [c, d], "seeds": seeds}))
    return found


def _large(ev, scenario) -> list[tuple[int, int]]:
    return [tuple(shape) for shape in ev.params(scenario)["large"]]


def scale_tolerance(n: int) -> float:
    """How far (relative) the root mean square of n correct draws may be from the std."""
    return SIGMAS / math.sqrt(2 * n)


def ks_tolerance(n: int) -> float:
    return math.sqrt(math.log(2 / KS_ALPHA) / (2 * n))


# ---- judges -----------------------------------------------------------------------------------

def _draw(ev, scenario, key, shape) -> np.ndarray:
    """The learner's matrix for key: a float64 array of shape (fan_in, fan_out)."""
    function = ev.params(scenario)["function"]
    W = ev.array(scenario, key, function)
    if W.shape != shape:
        raise Failed(t("{name}({fan_in}, {fan_out}, rng) returned shape {got}; expected (fan_in, fan_out) = "
                       "{expected}", name=function, fan_in=shape[0], fan_out=shape[1], got=W.shape,
                       expected=shape), target=function)
    return W


def layout(ev, check: Check) -> None:
    """Every draw is a float64 array of shape (fan_in, fan_out)."""
    _draw(ev, check.scenario, SMALL, tuple(ev.params(check.scenario)["small"]))
    for i, shape in enumerate(_large(ev, check.scenario)):
        _draw(ev, check.scenario, f"large.{i}", shape)


def distribution(ev, check: Check) -> None:
    """Both large draws have torch.nn.init's distribution: family, scale, mean, bounds, KS."""
    function, ref = check.target, ev.reference(check.scenario)
    for i, (fan_in, fan_out) in enumerate(_large(ev, check.scenario)):
        W = _draw(ev, check.scenario, f"large.{i}", (fan_in, fan_out))
        n, std = W.size, float(ref[f"std.{i}"])
        bound = float(ref[f"bound.{i}"]) if f"bound.{i}" in ref else None
        words = {"name": function, "fan_in": fan_in, "fan_out": fan_out}
        k = kurtosis(W)
        if bound is not None and not k < KURTOSIS_SPLIT:
            raise Failed(t("{name}({fan_in}, {fan_out}): the kurtosis E[W^4] / E[W^2]^2 is {k:.3f}: a "
                           "normal draw has 3, a uniform one 1.8; draw from a uniform", k=k, **words),
                         target=function)
        if bound is None and not k > KURTOSIS_SPLIT:
            raise Failed(t("{name}({fan_in}, {fan_out}): the kurtosis E[W^4] / E[W^2]^2 is {k:.3f}: a "
                           "uniform draw has 1.8, a normal one 3; draw from a normal", k=k, **words),
                         target=function)
        s, tol = rms(W), scale_tolerance(n)
        if abs(s / std - 1) > tol:
            raise Failed(t("{name}({fan_in}, {fan_out}): the standard deviation is {got:.5g}, torch's is "
                           "{expected:.5g} ({ratio:.4f} x; a correct draw of {n} values is within "
                           "{tol:.2%})", got=s, expected=std, ratio=s / std, n=n, tol=tol, **words),
                         target=function)
        mean, mean_tol = float(np.mean(W)), SIGMAS * std / math.sqrt(n)
        if abs(mean) > mean_tol:
            raise Failed(t("{name}({fan_in}, {fan_out}): the mean is {got:.3g}; torch's distribution has "
                           "mean 0 (a correct draw is within {tol:.2g})", got=mean, tol=mean_tol, **words),
                         target=function)
        top = float(np.max(np.abs(W)))
        if bound is not None and (top > bound * (1 + 1e-12) or top < bound * (1 - MAX_SLACK / n)):
            raise Failed(t("{name}({fan_in}, {fan_out}): the largest |W| is {got:.6g}; torch draws from "
                           "U(-{bound:.6g}, {bound:.6g})", got=top, bound=bound, **words), target=function)
        distance, ks_tol = ks_distance(W, std, bound), ks_tolerance(n)
        if distance > ks_tol:
            raise Failed(t("{name}({fan_in}, {fan_out}): the draw's distribution differs from torch's by a "
                           "Kolmogorov-Smirnov distance of {got:.3g} (a correct draw is within {tol:.3g})",
                           got=distance, tol=ks_tol, **words), target=function)


def determinism(ev, check: Check) -> None:
    """The same rng state gives the same matrix; another seed, another matrix."""
    function, shape = check.target, tuple(ev.params(check.scenario)["small"])
    first, again, other = (_draw(ev, check.scenario, key, shape) for key in (SMALL, AGAIN, OTHER))
    if not np.array_equal(first, again):
        raise Failed(t("{name}: two generators of the same seed gave different matrices: draw only from "
                       "the rng argument", name=function), target=function)
    if np.array_equal(first, other):
        raise Failed(t("{name}: generators of different seeds gave the same matrix: draw from the rng "
                       "argument", name=function), target=function)


CHECKS = [Check(f"{kind}.{function}", kind.split(".")[0], function, points, function, judge, title,
                title_args=(("name", function),)) for function in FUNCTIONS
          for kind, points, judge, title in (
    ("shape", 1, layout, "{name} returns a float64 (fan_in, fan_out) matrix"),
    ("torch", 2, distribution,
     "{name} draws from torch.nn.init's distribution (two large draws, fan_in != fan_out)"),
    ("edge.rng", 1, determinism, "{name} depends only on its arguments and rng (same seed, same matrix)"))]


# ---- the worker's side, and the trusted one: torch.nn.init -------------------------------------

def drive(module, s: Scenario) -> dict:
    draw = getattr(module, s.params["function"])
    (c, d), (seed, other) = s.params["small"], s.params["seeds"]
    out = {f"large.{i}": snapshot(draw(fan_in, fan_out, np.random.default_rng(seed + 1 + i)))
           for i, (fan_in, fan_out) in enumerate(s.params["large"])}
    out[SMALL] = snapshot(draw(c, d, np.random.default_rng(seed)))
    out[OTHER] = snapshot(draw(c, d, np.random.default_rng(other)))
    out[AGAIN] = snapshot(draw(c, d, np.random.default_rng(seed)))  # after another call: still the same
    return out


def reference(ref, s: Scenario) -> dict:
    """std.i (and bound.i for a uniform) of torch.nn.init's distribution for the large draw i."""
    torch, function = ref.torch, s.params["function"]
    init = getattr(torch.nn.init, f"{function}_")
    relu = {"mode": "fan_in", "nonlinearity": "relu"} if function in KAIMING else {}
    uniform = function in UNIFORM
    out = {}
    for i, (fan_in, fan_out) in enumerate(s.params["large"]):
        shape = (fan_out, fan_in)  # torch's (out, in) layout: torch reads the fans from it
        drawn = init(torch.empty(shape), generator=torch.Generator().manual_seed(0), **relu)
        unit = torch.empty(shape)
        if uniform:
            unit.uniform_(-1.0, 1.0, generator=torch.Generator().manual_seed(0))
        else:
            unit.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(0))
        drawn, unit = drawn.reshape(-1)[:256], unit.reshape(-1)[:256]  # the same numbers throughout
        scale = float((drawn * unit).sum() / (unit * unit).sum())  # drawn = scale * unit
        if not torch.allclose(drawn, scale * unit, rtol=1e-12, atol=0.0):
            raise RuntimeError(f"torch.nn.init.{function}_ is no longer a scaled standard draw")
        if uniform:
            out[f"bound.{i}"] = np.array(scale)
        out[f"std.{i}"] = np.array(scale / math.sqrt(3.0) if uniform else scale)  # U(-a, a): std a / sqrt(3)
    return out


# ---- diagnosis: the statistics of each known wrong formula --------------------------------------

def where(probe) -> str:
    return probe.check.targets[0]


def _draws(p):
    """[(W, fan_in, fan_out, torch's std)] of both large draws, or None when one is not valid."""
    ref = p.reference()
    try:
        return [(_draw(p.ev, p.scenario, f"large.{i}", shape), *shape, float(ref[f"std.{i}"]))
                for i, shape in enumerate(_large(p.ev, p.scenario))]
    except Failed:
        return None


def _std_rule(functions: tuple, wrong, evidence: str):
    """A Mistake test: for both large draws, the family is right and the standard deviation is
    wrong(fan_in, fan_out, right std) (within the scale tolerance), and not the right one."""
    def test(p):
        function = p.check.targets[0]
        draws = _draws(p) if function in functions else None
        if draws is None:
            return None
        for W, fan_in, fan_out, std in draws:
            std_wrong, tol = wrong(fan_in, fan_out, std), scale_tolerance(W.size)
            family_right = (kurtosis(W) < KURTOSIS_SPLIT) == (function in UNIFORM)
            if not family_right or abs(std_wrong / std - 1) <= 2 * tol or abs(rms(W) / std_wrong - 1) > tol:
                return None
        W, fan_in, fan_out, std = draws[0]
        return {"evidence": t(evidence, got=rms(W), expected=std, fan_in=fan_in, fan_out=fan_out)}
    return test


def _family(asked: tuple):
    """A draw of the other family where the functions `asked` (UNIFORM or NORMAL) draw from theirs: a
    uniform U(-max|W|, max|W|), or a normal N(0, rms(W)^2), by its kurtosis and the whole distribution."""
    def fits_other(W) -> bool:
        bound = None if asked is UNIFORM else float(np.max(np.abs(W)))
        return (kurtosis(W) < KURTOSIS_SPLIT) != (asked is UNIFORM) and \
            ks_distance(W, rms(W), bound) <= ks_tolerance(W.size)

    def test(p):
        draws = _draws(p) if p.check.targets[0] in asked else None
        if draws is None or not all(fits_other(W) for W, *_ in draws):
            return None
        return {"evidence": t("the kurtosis E[W^4] / E[W^2]^2 is {k:.3f} (a uniform has 1.8, a normal 3)",
                              k=kurtosis(draws[0][0]))}
    return test


def _truncated(p):
    """A normal with its tails cut off (values beyond a cut redrawn, or clipped): no |W| beyond a
    cut where a normal draw of this size puts MAX_SLACK or more, and the values inside are torch's
    normal truncated there (tested by the probability integral transform: uniform on (-1, 1))."""
    if p.check.targets[0] not in NORMAL or (draws := _draws(p)) is None:
        return None
    for W, fan_in, fan_out, std in draws:
        top = float(np.max(np.abs(W)))
        inside = W[np.abs(W) < top]
        u = (2 * normal_cdf(inside / std) - 1) / math.erf(top / std / math.sqrt(2))
        if W.size * math.erfc(top / std / math.sqrt(2)) < MAX_SLACK or \
                ks_distance(u, 1.0, 1.0) > ks_tolerance(inside.size):
            return None
    W, fan_in, fan_out, std = draws[0]
    cut = float(np.max(np.abs(W))) / std
    return {"evidence": t("no |W| lies beyond {cut:.3g} standard deviations (std {std:.5g}), where a normal "
                          "draw of {n} values has about {tails:.0f}: the tails beyond {cut:.3g} sigma are "
                          "missing",
                          cut=cut, std=std, n=W.size, tails=W.size * math.erfc(cut / math.sqrt(2)))}


def _layout(p):
    (c, d), W = p.ev.params(p.scenario)["small"], p.learner(p.scenario, SMALL)
    if W is not None and W.shape == (d, c):
        return {"evidence": t("{name}({c}, {d}, rng) returned shape {got}", name=p.check.targets[0], c=c, d=d,
                              got=W.shape)}
    return None


def _rng(same: bool):
    """same: generators of one seed gave different matrices; else: different seeds, one matrix."""
    def test(p):
        first, again, other = draws = [p.learner(p.scenario, key) for key in (SMALL, AGAIN, OTHER)]
        if any(W is None for W in draws) or any(W.shape != first.shape for W in draws):
            return None
        if same and not np.array_equal(first, again):
            return {"evidence": t("two generators of the same seed gave different matrices")}
        if not same and np.array_equal(first, again) and np.array_equal(first, other):
            return {"evidence": t("generators of different seeds gave the same matrix")}
        return None
    return test


MISTAKES = [
    Mistake("torch_layout", "the matrix is in PyTorch's (out, in) layout: {evidence}. This kit's "
            "W is (fan_in, fan_out), for x @ W", _layout, kinds=("shape", "torch")),
    Mistake("normal_instead_of_uniform", "a normal draw where a uniform one was asked: {evidence}. "
            "Draw rng.uniform(-bound, bound, size=(fan_in, fan_out))", _family(UNIFORM), kinds=("torch",)),
    Mistake("truncated_normal", "a truncated normal where the whole normal was asked: {evidence}. "
            "torch.nn.init draws from all of N(0, std**2), tails included: return rng.normal(0, std, "
            "size=(fan_in, fan_out)) as drawn", _truncated, kinds=("torch",),
            at_code=r"clip\(|[<>]=?\s*\(?[\d.]+\s*\*\s*\w*std"),
    Mistake("uniform_instead_of_normal", "a uniform draw where a normal one was asked: {evidence}. "
            "Draw rng.normal(0, std, size=(fan_in, fan_out))", _family(NORMAL), kinds=("torch",)),
    # each a wrong standard deviation: (name, says, the functions it can happen in, the wrong std of
    # (fan_in, fan_out, torch's std), evidence)
    *[Mistake(name, says, _std_rule(functions, wrong, evidence), kinds=("torch",))
      for name, says, functions, wrong, evidence in [
        ("kaiming_fan_out", "Kaiming used fan_out where fan_in belongs: {evidence}. mode='fan_in' "
         "keeps the forward pass's variance: std = sqrt(2 / fan_in), fan_in = W.shape[0] here",
         KAIMING, lambda fan_in, fan_out, std: math.sqrt(2.0 / fan_out),
         "the standard deviation is {got:.5g} = sqrt(2 / fan_out) for fan_out = {fan_out}, "
         "not sqrt(2 / fan_in) = {expected:.5g}"),
        ("kaiming_without_gain", "Kaiming without ReLU's gain sqrt(2): {evidence}. std = sqrt(2 / "
         "fan_in): ReLU zeroes half the inputs, the gain restores the variance",
         KAIMING, lambda fan_in, fan_out, std: math.sqrt(1.0 / fan_in),
         "the standard deviation is {got:.5g} = 1 / sqrt(fan_in), not sqrt(2 / fan_in) = {expected:.5g}"),
        ("xavier_with_relu_gain", "Xavier with ReLU's gain sqrt(2): {evidence}. Xavier here has "
         "gain 1: std = sqrt(2 / (fan_in + fan_out))",
         XAVIER, lambda fan_in, fan_out, std: math.sqrt(4.0 / (fan_in + fan_out)),
         "the standard deviation is {got:.5g} = sqrt(4 / (fan_in + fan_out)), not "
         "sqrt(2 / (fan_in + fan_out)) = {expected:.5g}"),
        ("xavier_missing_2", "Xavier without the 2: {evidence}. std = sqrt(2 / (fan_in + fan_out)), "
         "the variance 1 / fan averaged over both fans",
         XAVIER, lambda fan_in, fan_out, std: math.sqrt(1.0 / (fan_in + fan_out)),
         "the standard deviation is {got:.5g} = sqrt(1 / (fan_in + fan_out)), not "
         "sqrt(2 / (fan_in + fan_out)) = {expected:.5g}"),
        ("uniform_bound_is_std", "the uniform's bound is the standard deviation: {evidence}. "
         "U(-a, a) has standard deviation a / sqrt(3), so bound = sqrt(3) * std",
         UNIFORM, lambda fan_in, fan_out, std: std / math.sqrt(3.0),
         "the standard deviation is {got:.5g} = torch's {expected:.5g} / sqrt(3)"),
        ("normal_scale_given_variance", "the variance was passed where the standard deviation "
         "belongs: {evidence}. rng.normal(loc, scale) takes scale = std = sqrt(variance)",
         NORMAL, lambda fan_in, fan_out, std: std * std,
         "the standard deviation is {got:.5g} = {expected:.5g} squared"),
    ]],
    Mistake("global_rng", "the draw does not come from the rng argument: {evidence}. Use rng.normal "
            "/ rng.uniform, never np.random.*", _rng(same=True), kinds=("edge",)),
    Mistake("rng_ignored", "the rng argument is ignored: {evidence}. Draw from the rng you are given "
            "(not a generator you seed yourself)", _rng(same=False), kinds=("edge",)),
]
