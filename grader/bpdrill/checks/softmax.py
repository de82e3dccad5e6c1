"""Hidden checks for softmax: s = softmax(x) over the last axis, any leading shape; dx."""
from __future__ import annotations

import numpy as np

from bpdrill.core.diagnose import Mistake, close, formula
from bpdrill.core.judge import Check, Failed, matches_reference
from bpdrill.core.protocol import Scenario
from bpdrill.i18n import t
from bpdrill.kinds import layer

# a constant factor here is no batch size: the generic rules say only what they see (batch=None)
SPEC = layer.Layer("Softmax", lambda torch, x: torch.softmax(x, dim=-1), numgrad_points=2, batch=None)

# A wide input: one row's (C, C) Jacobian is C / N = 333 times the input, a (N, C, C) stack
# 1000 times; the vector-Jacobian product needs a few arrays of the input's size.
WIDE = (3, 1000)
MEMORY_FACTOR = 32  # backward may hold this many input-sized arrays at once


def _pair(rng, shape, scale=2.0):
    return {"x": scale * rng.normal(size=shape), "dout": rng.normal(size=shape)}


def _extreme(rng, c):
    """Rows of logits of magnitude 1e3 beside ordinary rows, in random order, (R, C) with R != C.
    A near one-hot row's dx is below the rounding of a right formula written another way: the
    ordinary rows set the comparison's scale, so any right style passes and an overflow fails."""
    rows = [
        2 * rng.normal(size=c),  # ordinary
        rng.normal(size=c),  # ordinary
        rng.choice([-1000.0, 1000.0], size=c) + rng.normal(size=c),  # one or a few near +1000
        1000.0 + rng.normal(size=c),  # all near 1000: an ordinary softmax once shifted
        np.full(c, -1000.0),  # all equal: s = 1 / C everywhere
        np.concatenate([[1000.0], -1000.0 + rng.normal(size=c - 1)]),  # one-hot
    ]
    if len(rows) == c:
        rows = rows[1:]  # keep it rectangular: a sum over the wrong axis must not fit
    x = rng.permuted(np.stack(rows)[rng.permutation(len(rows))], axis=1)  # large entries anywhere
    return {"x": x, "dout": rng.normal(size=x.shape)}


def scenarios(rng) -> list[Scenario]:
    n, c, a = (int(v) for v in rng.permutation(range(2, 8))[:3])  # n != c: a wrong axis shows
    k = int(rng.integers(3, 7))
    basic = Scenario("basic", "backward", _pair(rng, (n, c)))
    twice = layer.twice(_pair(rng, (n, c)), {"dout": rng.normal(size=(n, c))},
                        {"x": 2 * rng.normal(size=(n, c))}, {"dout": rng.normal(size=(n, c))})
    return [
        basic, layer.perturb(basic),
        Scenario("square", "backward", _pair(rng, (k, k))),
        Scenario("nd", "backward", _pair(rng, (a, n, c))),
        Scenario("vector", "backward", _pair(rng, (c,))),
        Scenario("single", "backward", _pair(rng, (1, c))),
        Scenario("extreme", "backward", _extreme(rng, c)),
        Scenario("wide", "memory", _pair(rng, WIDE)),
        Scenario("twice", "backward", twice),
    ]


def _peak(ev, scenario) -> tuple[float, float]:
    """(bytes backward held at its peak, the most it may): from the worker's tracemalloc figure."""
    return ev.number(scenario, "peak", "memory"), MEMORY_FACTOR * ev.inputs(scenario)["x"].nbytes


def _no_jacobian(ev, check) -> None:
    matches_reference("dx")(ev, check)
    peak, limit = _peak(ev, check.scenario)
    x = ev.inputs(check.scenario)["x"]
    if peak > limit:
        raise Failed(t("backward held {mb:.1f} MB at once for an input ({n}, {c}) of {kb:.0f} kB",
                       mb=peak / 1e6, n=x.shape[0], c=x.shape[1], kb=x.nbytes / 1e3), target="dx")


CHECKS = [
    *layer.checks(SPEC, "square", "dx matches PyTorch (N = C)"),
    Check("edge.nd", "edge", "dx", 1, "nd", matches_reference("dx"),
          "a 3-D input (N, T, C): softmax over the last axis"),
    Check("edge.vector", "edge", "dx", 1, "vector", matches_reference("dx"), "a 1-D input (C,)"),
    Check("edge.extreme", "edge", ("out", "dx"), 1, "extreme", matches_reference("out", "dx"),
          "rows of logits of magnitude 1e3: finite and right"),
    Check("edge.no_jacobian", "edge", "dx", 1, "wide", _no_jacobian,
          "a wide input (N, C) = (3, 1000): right, without a (C, C) Jacobian in memory"),
]


# ---- diagnosis ----------------------------------------------------------------------------

def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _call(p, scenario=None):
    """(s, dout) of the call the check is about: the first one, a second backward, or a new forward."""
    a = p.ev.inputs(scenario) if scenario else layer.call_arrays(SPEC, p)
    return _softmax(a["x"]), a["dout"]


def _rule(evidence, rule):
    """A formula test for dx: rule(s, dout) is the answer the mistake gives."""
    return layer.rule(SPEC, "dx", evidence, lambda x, dout: rule(_softmax(x), dout))


def _fits_basic(p, rule) -> bool:
    """rule also gives the learner's dx on the basic scenario (N, C), N > 1."""
    got = p.learner("basic", "dx")
    return got is not None and close(got, rule(*_call(p, "basic")))


def _summed_over(axis):
    return lambda s, d: s * (d - np.sum(d * s, axis=axis, keepdims=True))


def _elementwise(p):
    """dout * s * (1 - s). Where a leading axis has size 1, a row sum over that axis gives the
    same numbers: claimed there only if the basic scenario shows it too."""
    s, d = _call(p)
    rule = lambda s, d: d * s * (1 - s)  # noqa: E731
    return None if s.ndim > 1 and 1 in s.shape[:-1] and not _fits_basic(p, rule) else rule(s, d)


def _wrong_axis(p):
    """The row sum taken over a leading axis instead of the last one. Over an axis of size 1
    that is dout * s * (1 - s): claimed there only if the basic scenario shows the axis too."""
    error = getattr(p.failure, "error", None) or {}
    if error.get("type") == "AxisError" and p.scenario == "vector":  # axis=1 has no meaning in 1-D
        got, (s, d) = p.learner("nd", "dx"), _call(p, "nd")
        if got is not None and close(got, _summed_over(1)(s, d)) and not close(got, _summed_over(-1)(s, d)):
            return {"axis": 1, "evidence": t("a 1-D input has no axis 1, and a 3-D input was summed over "
                                             "axis 1 (T) instead of the classes")}
    if p.label != "dx" or p.got is None:
        return None
    s, d = _call(p)
    for axis in range(s.ndim - 1):
        if s.shape[axis] == 1 and not (axis == 0 and _fits_basic(p, _summed_over(0))):
            continue
        wrong = _summed_over(axis)(s, d)
        if close(p.got, wrong) and not close(p.expected, wrong):
            return {"axis": axis, "evidence": t("got = s * (dout - sum(dout * s, axis={axis}))", axis=axis)}
    return None


def _missing_keepdims(p):
    """A broadcasting error where N != C, and on the square input row i's sum in column i (the (N,)
    row sums broadcast along the classes)."""
    s, d = _call(p, "square")
    got, wrong = p.learner("square", "dx"), s * (d - np.sum(d * s, axis=-1)[None, :])
    if got is None or not close(got, wrong) or close(p.reference("square")["dx"], wrong):
        return None
    error = getattr(p.failure, "error", None) or {}
    if p.scenario == "square" and p.check.call == "first":
        return {"evidence": t("on the square input, row i's sum was subtracted in column i")}
    if error.get("type") == "ValueError" and "broadcast" in error.get("message", ""):
        return {"evidence": t("the shapes (N, C) and (N,) do not broadcast, and on a square input "
                              "row i's sum lands in column i")}
    return None


def _jacobian(p):
    if p.check.judge is not _no_jacobian:
        return None
    (peak, limit), c = _peak(p.ev, p.scenario), p.inputs["x"].shape[-1]
    if peak <= limit:
        return None
    return {"evidence": t("at its peak it held {mb:.1f} MB, and one (C, C) matrix for C = {c} is "
                          "{jac:.1f} MB", mb=peak / 1e6, c=c, jac=c * c * 8 / 1e6)}


ROW_SUM = r"\bsum\b|einsum|\bdot\b|@"  # the statements where a row sum is written
MISTAKES = [
    Mistake("built_jacobian", "backward built the full Jacobian: {evidence}. J^T dout needs no J: "
            "dx = s * (dout - sum(dout * s, axis=-1, keepdims=True)), O(N C) memory", _jacobian),
    Mistake("dropped_row_sum_term", "the - sum(dout * s) term is missing: {evidence}. Every output of a "
            "row depends on every input of that row, so the Jacobian is diag(s) - s s^T: "
            "dx = s * (dout - sum(dout * s, axis=-1, keepdims=True))",
            _rule("dx = s * dout, whose rows do not sum to 0", lambda s, d: s * d), at_code=ROW_SUM),
    Mistake("elementwise_derivative", "softmax was treated as element-wise, like a sigmoid: {evidence}. "
            "Its Jacobian is diag(s) - s s^T: dx = s * (dout - sum(dout * s, axis=-1, keepdims=True))",
            formula("dx = dout * s * (1 - s)", lambda p: _elementwise(p) if p.label == "dx" else None)),
    Mistake("sum_wrong_axis", "sum(dout * s) was taken over axis {axis}, not over the last axis (the "
            "classes): {evidence}. Use axis=-1, keepdims=True", _wrong_axis, at_code=ROW_SUM),
    Mistake("missing_keepdims", "the row sums lost their axis (no keepdims=True): {evidence}. Shape "
            "(N,) lines up with the classes, not the rows: keep it (N, 1)", _missing_keepdims,
            at_code=ROW_SUM),
    Mistake("unweighted_row_sum", "the row sum is missing its weights s: {evidence}. Subtract "
            "sum(dout * s), the s-weighted sum, not sum(dout)",
            _rule("dx = s * (dout - sum(dout, axis=-1))",
                  lambda s, d: s * (d - d.sum(axis=-1, keepdims=True))),
            at_code=ROW_SUM),
]
