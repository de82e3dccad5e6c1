"""Hidden checks for cross_entropy: F.cross_entropy with ignore_index and label_smoothing; dlogits.

Every scenario carries the loss's options (params["options"]): the object is built with them and
PyTorch is called with them. Ignored rows, smoothing alone, an ignore_index that is a real class,
logits of magnitude 1e3 and a batch of one each have a check of their own."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from bpdrill.core.diagnose import Mistake, close, formula
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import loss

SPEC = loss.Loss("CrossEntropyLoss", None, inputs=("logits",), fixed=("y",), numgrad_points=2,
                 make=lambda module, s: module.CrossEntropyLoss(**s.params["options"]))


def reference(ref, s: Scenario) -> dict:
    options = s.params["options"]
    return loss.reference(replace(SPEC, torch=lambda torch, logits, y: torch.nn.functional.cross_entropy(
        logits, y, **options)), ref, s)


def _draw(rng, n, c, ignored=0, eps=0.0, ignore_index=-100, scale=2.0):
    """n rows of c classes, `ignored` of them (never all) with the target ignore_index."""
    classes = [k for k in range(c) if k != ignore_index]
    y = rng.choice(classes, size=n).astype(np.int64)
    y[rng.permutation(n)[:ignored]] = ignore_index
    return {"logits": scale * rng.normal(size=(n, c)), "y": y}, {"ignore_index": ignore_index,
                                                                 "label_smoothing": eps}


def _scenario(name, arrays_options, dout=None):
    arrays, options = arrays_options
    return Scenario(name, "backward", arrays, {"options": options, **({"dout": dout} if dout else {})})


def scenarios(rng) -> list[Scenario]:
    _dout = lambda rng: float(rng.uniform(1.25, 2.5) * rng.choice([-1, 1]))  # noqa: E731
    _eps = lambda rng: float(rng.uniform(0.05, 0.3))  # noqa: E731
    n, c = (int(v) for v in rng.permutation(range(3, 8))[:2])  # N != C
    some = int(rng.integers(1, n - 1))  # ignored rows: at least one, and at least two kept
    basic = _scenario("basic", _draw(rng, n, c, some, _eps(rng)), _dout(rng))
    extreme, options = _draw(rng, n, c, some, _eps(rng), scale=1.0)
    extreme["logits"] = rng.choice([-1e3, 1e3], size=(n, c)) + rng.normal(size=(n, c))
    first, options_twice = _draw(rng, n, c, some, _eps(rng))
    later, _ = _draw(rng, n, c, int(rng.integers(0, n)), options_twice["label_smoothing"])
    return [
        basic, Scenario("basic.perturb", "perturb", basic.arrays, {**loss.perturb(basic).params,
                                                                  "options": basic.params["options"]}),
        _scenario("mixed", _draw(rng, c, n, int(rng.integers(1, c - 1)), _eps(rng)), _dout(rng)),
        _scenario("ignored", _draw(rng, n, c, some), _dout(rng)),
        _scenario("smoothing", _draw(rng, n, c, 0, _eps(rng)), _dout(rng)),
        _scenario("ignore_index", _draw(rng, n, c, some, _eps(rng), int(rng.integers(0, c))), _dout(rng)),
        _scenario("single", _draw(rng, 1, c, 0, _eps(rng)), _dout(rng)),
        _scenario("default", _draw(rng, n, c, some, _eps(rng))),
        _scenario("extreme", (extreme, options), _dout(rng)),
        Scenario("twice", "backward", loss.twice(first, {}, later, {}),
                 {"options": options_twice, "dout": _dout(rng), "dout2": _dout(rng), "dout3": _dout(rng)}),
    ]


CHECKS = [
    *loss.checks(SPEC, "mixed"),
    loss.default_dout_check(SPEC),
    loss.edge_check(SPEC, "edge.ignored", "ignored", "ignored targets, no smoothing: their rows get 0, the mean runs over the rest"),
    loss.edge_check(SPEC, "edge.smoothing", "smoothing", "label smoothing, no ignored targets"),
    loss.edge_check(SPEC, "edge.ignore_index", "ignore_index", "an ignore_index that is a real class (not -100)"),
    loss.edge_check(SPEC, "edge.extreme", "extreme", "logits of magnitude 1e3: finite and right"),
]


# ---- diagnosis ----------------------------------------------------------------------------

def _call(p):
    """(probs, y with ignored rows at 0, keep, eps, dout) of the call the check is about."""
    (suffix, dout), options = loss.call(p), p.ev.params(p.scenario)["options"]
    z, y = p.inputs[f"logits{suffix}"], p.inputs[f"y{suffix}"].astype(int)
    keep = y != options["ignore_index"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True), np.where(keep, y, 0), keep, options["label_smoothing"], dout


def _rule(evidence, target, by_n=False):
    """dlogits = dout * (p - target(onehot, eps, C)) / K on the kept rows, 0 on the others (by_n: / N)."""
    def candidate(p):
        if p.label != "dlogits":
            return None
        probs, y, keep, eps, dout = _call(p)
        n, c = probs.shape
        d = probs - target(np.eye(c)[y], eps, c)
        return dout * d * keep[:, None] / (n if by_n else keep.sum())
    return formula(evidence, candidate)


def _ignored_get_gradient(p):
    """The kept rows right (or off by K / N), the ignored rows not 0."""
    if p.label != "dlogits" or p.got is None or p.expected is None or p.got.shape != p.expected.shape:
        return None
    keep = _call(p)[2]
    if keep.all() or np.allclose(p.got[~keep], 0):
        return None
    k, n = keep.sum(), keep.size
    if any(close(p.got[keep], p.expected[keep] * f) for f in (1, k / n)):
        return {"evidence": t("dlogits is not 0 in the rows of ignored targets ({n} of {N}), the other "
                              "rows are right or off by K / N", n=int(n - k), N=int(n))}
    return None


def _overflow(p):
    """Right on ordinary logits (numgrad and PyTorch passed), wrong at magnitude 1e3."""
    if p.check.scenario == "extreme" and p.passed("numgrad.dlogits") and p.passed("torch.dlogits"):
        value = f" ({p.label} = {p.failure.nonfinite})" if p.failure.nonfinite else ""
        return {"evidence": t("right for ordinary logits, wrong for logits of magnitude 1e3") + value}
    return None


MISTAKES = [
    Mistake("unstable_softmax", "the softmax is not stable: {evidence}. Subtract each row's max "
            "before exp", _overflow, where="CrossEntropyLoss.forward", at_code=r"shifted\s*=|max\(|exp\("),
    Mistake("smoothing_missing_from_gradient", "label smoothing is in the loss but not in dlogits: "
            "{evidence}. The target is (1 - eps) onehot(y) + eps / C: dlogits = p - target",
            _rule("dlogits = dout * (p - onehot(y)) / K", lambda o, eps, c: o),
            at_code=r"np\.full|eps\s*/|onehot|eye\(|-=\s*1\b|\+=\s*1\b|=\s*1(\.0)?$"),
    Mistake("smoothing_onehot_not_reduced", "the true class kept its full 1: {evidence}. The target "
            "puts 1 - eps on y_i (plus eps / C), so it sums to 1",
            _rule("the target is onehot(y) + eps / C, which sums to 1 + eps", lambda o, eps, c: o + eps / c),
            at_code=r"\+=\s*1(\.0)?$|onehot|eye\("),
    Mistake("smoothing_over_other_classes", "eps was spread over the C - 1 other classes: {evidence}. "
            "PyTorch spreads eps over all C classes, y included: eps / C each",
            _rule("the target is 1 - eps at y and eps / (C - 1) elsewhere",
                  lambda o, eps, c: (1 - eps) * o + eps / (c - 1) * (1 - o)),
            at_code=r"eps\s*/"),
    Mistake("smoothing_not_divided_by_classes", "eps was added to every class undivided: {evidence}. "
            "The smoothing term is a mean over the classes: eps / C each",
            _rule("the target is (1 - eps) onehot(y) + eps", lambda o, eps, c: (1 - eps) * o + eps),
            at_code=r"np\.full|\+\s*eps\b|eps\s*\*"),
    Mistake("ignored_rows_get_gradient", "ignored targets still get a gradient: {evidence}. Multiply "
            "each row by keep (y != ignore_index)", _ignored_get_gradient),
    Mistake("ignored_rows_in_mean", "the mean counted the ignored rows: {evidence}. Divide by K, "
            "the number of targets not ignored",
            _rule("dlogits is right times K / N: divided by N",
                  lambda o, eps, c: (1 - eps) * o + eps / c, by_n=True),
            at_code=r"/\s*n\b|/\s*len\(|shape\[0\]"),
    Mistake("fancy_indexing", "target[:, y] changes whole columns: {evidence}. Pick one element "
            "per row with target[np.arange(N), y]",
            _rule("the target is 1 - eps in every column some y names",
                  lambda o, eps, c: np.where(o.any(axis=0), 1 - eps, 0.0) + eps / c),
            at_code=r"\[\s*:\s*,"),
]

