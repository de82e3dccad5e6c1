"""The generic mistakes: shapes (transposed, not summed, keepdims) and constant factors (a sign,
1/N missing or doubled, a hard-coded batch size), tried after each exercise's own MISTAKES.

The engine (Mistake, Probe, close, learner_frames ...) is bpdrill.core.diagnose: this module imports
it, and diagnose imports GENERIC from here only when it runs, so the two never import in a cycle.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from bpdrill.core import compare
from bpdrill.core.diagnose import Mistake, Probe, close, in_backward, learner_frames, same_values_other_shape
from bpdrill import catalog
from bpdrill.i18n import t
from bpdrill.core.places import code_line, learner_functions, qualified_name


def _label(p: Probe) -> str:
    """The array a probe is about (dW, dx ...), as the learner's code names it."""
    return p.label or t("result")


def _transposed(p: Probe):
    g, e = p.got, p.expected
    if g is None or e is None or g.ndim != 2 or e.ndim != 2 or g.shape != e.shape[::-1]:
        return None
    if close(g.T, e):
        square = t(" (the shapes agree only when it is square)") if e.shape[0] == e.shape[1] else ""
        return {"evidence": t("your {label} has shape {got}, the transpose of {expected}, and its transpose is "
                              "right{square}", label=_label(p), got=g.shape, expected=e.shape, square=square)}
    return None


def _transposed_square(p: Probe):
    g, e = p.got, p.expected
    if g is None or e is None or g.ndim != 2 or g.shape != e.shape or g.shape[0] != g.shape[1]:
        return None
    if close(g.T, e) and not close(g, e):
        return {"evidence": t("your {label}[i, j] equals the right value at [j, i] for every element",
                              label=_label(p))}
    return None


def _same_label_elsewhere(p: Probe) -> list[tuple[dict, np.ndarray, np.ndarray]]:
    """(sizes, got, expected) of the run's other failures about the same array."""
    return [(p.sizes(check.scenario), f.got, f.expected) for check, f in p.failures.values()
            if f is not p.failure and f.got is not None and f.expected is not None
            and (f.label or f.target) == p.label]


def _unsummed_elsewhere(p: Probe) -> bool:
    """For a batch of one, where db = dout and keepdims look alike: did a bigger batch show one
    row per example (not summed)?"""
    return any(sizes.get("N", 1) > 1 and g.shape[:1] == (sizes["N"],) and g.ndim == e.ndim + 1
               for sizes, g, e in _same_label_elsewhere(p))


def _bias_not_summed(p: Probe):
    g, e = p.got, p.expected
    if g is None or e is None or g.ndim != e.ndim + 1 or g.shape[1:] != e.shape:
        return None
    if g.shape[0] < 2 and not (g.shape[0] == 1 and p.sizes().get("N") == 1 and _unsummed_elsewhere(p)):
        return None
    if close(g.sum(axis=0), e):
        return {"evidence": t("your {label} has shape {got}, one row per example, and its sum over the "
                              "batch (axis 0) is right", label=_label(p), got=g.shape)}
    return None


def _summed_wrong_axis(p: Probe):
    g, e = p.got, p.expected
    n = p.sizes().get("N")
    if g is None or e is None or e.ndim != 1 or g.ndim != 1 or n is None:
        return None
    if g.shape == (n,) and e.shape != (n,):
        return {"evidence": t("your {label} has shape {got}: one value per example, so the sum ran over "
                              "the features (axis 1); expected {expected}", label=_label(p), got=g.shape, expected=e.shape)}
    return None


def _factor_of(got, expected) -> float | None:
    """c when got = c * expected for a constant c != 1 (and != 0), else None.

    Never for a single number, nor for an array with fewer than two elements that matter:
    one factor fits any two numbers, so it would say nothing (a claim true of everything)."""
    if got is None or expected is None or got.shape != expected.shape or not np.all(np.isfinite(got)):
        return None
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    if np.count_nonzero(np.abs(expected) > 1e-9 * scale) < 2:
        return None
    norm = float(np.vdot(expected, expected))
    if norm == 0:
        return None
    c = float(np.vdot(got, expected)) / norm
    if abs(c - 1) < 1e-6 or abs(c) < 1e-9:
        return None
    # element-wise as the torch checks judge, or as a whole within the numerical gradient's
    # tolerance (central differences are noisy where entries are near 0)
    if not (close(got, c * expected) or compare.constant_ratio(got, expected) is not None):
        return None
    return c


def _observations(p: Probe) -> list[tuple[dict, float]]:
    """(sizes, factor) of every failed check of the run whose array is off by a constant.

    All arrays together: a missing 1/N or a hard-coded batch size scales every gradient
    alike, and a multi-target check reports only its first failing one.
    """
    found = []
    for check, failure in [(p.check, p.failure), *p.failures.values()]:
        if failure.got is None:
            continue
        c = _factor_of(failure.got, failure.expected)
        if c is not None:
            found.append((p.sizes(check.scenario), c))
    return found


def _near(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b))


def _every_factor(rule: Callable[[float, dict], bool], sized: bool = False):
    """A Mistake test: this check's array is off by a constant, and every such failure about the
    same array fits rule(c, sizes), across scenarios with different N.

    sized: the rule names a size (N, N/C), and one size can equal another in a single scenario
    (N = D, N = size / 2): it is claimed only when two scenarios of different sizes fit it, or a
    batch of one, where the factor is 1, passed."""
    def test(p: Probe):
        if _factor_of(p.got, p.expected) is None:
            return None
        seen = _observations(p)
        if not all(rule(c, sizes) for sizes, c in seen):
            return None
        sizes = p.sizes()
        single = p.passed("edge.single")
        if sized and not single and len({tuple(sorted(s.items())) for s, _ in seen}) < 2:
            return None
        words = {**sizes, "c": f"{_factor_of(p.got, p.expected):.4g}", "evidence": ""}
        if single and sizes.get("N", 1) > 1:
            words["evidence"] = t(" (right for a batch of one)")
        return words
    return test


def _hardcoded(p: Probe):
    """Divides by a fixed k: c * N is the same integer in scenarios of different batch sizes."""
    if _factor_of(p.got, p.expected) is None:
        return None
    seen = [(sizes["N"], c) for sizes, c in _observations(p) if sizes.get("N")]
    k = round(seen[0][0] / seen[0][1]) if seen else 0
    # the same whole k behind every observation, seen at two or more batch sizes
    if k < 2 or len({n for n, _ in seen}) < 2 or not all(_near(n / c, k) for n, c in seen):
        return None
    shown = sorted({(n, f"{c:.3g}") for n, c in seen})
    return {"k": k, "N": p.sizes()["N"],
            "evidence": ", ".join(t("x{c} when N = {n}", c=c, n=n) for n, c in shown)}


_LOW_PRECISION = (np.float32, np.float16)


def _float32_numbers(a: np.ndarray) -> bool:
    """Is every value a float32 number, with mantissas that say so? Computed values in float32
    use all 24 bits of theirs; rounding noise (2**-55 and the like) and round numbers need few,
    and are float32 numbers by accident: at least 8 values must need more than 12 bits."""
    if a.dtype != np.float64 or a.size < 8 or not np.all(np.isfinite(a)) or \
            not np.array_equal(a, a.astype(np.float32)):
        return False
    mantissa = np.frexp(a)[0]
    return int(np.count_nonzero(np.round(mantissa * 2.0**12) != mantissa * 2.0**12)) >= 8


def _float32(p: Probe):
    """The learner's code computes in float32: an array of its came back as float32, or every
    value of a forward output is a float32 number. Claimed where that explains the failure: an
    array that could not be judged (a float32 one), a gradient within float32 rounding of the
    right one, or a numerical gradient taken through that float32 forward (while the gradient is
    right)."""
    result = p.ev.results.get(p.scenario)
    if not result or result["error"] is not None:
        return None
    found, by_dtype = None, False
    for key, value in result["values"].items():
        if key.startswith("after.") or value.kind not in ("array", "scalar"):
            continue  # the caller's own arrays
        if value.array.dtype in _LOW_PRECISION:
            found = t("{key} came back as a {dtype} array", key=key, dtype=value.array.dtype.name)
            by_dtype = True
            break
        if found is None and _float32_numbers(value.array):
            found = t("every value of {key} is a float32 number", key=key)
    if found is None:
        return None
    expected = p.expected
    if p.check.kind == "numgrad":  # the numerical gradient went through the float32 forward
        reference = p.reference()
        expected = reference.get(p.label) if isinstance(reference, dict) else None
    if p.got is None:
        if not by_dtype:
            return None  # nothing compared: only a float32 array itself says float32
    elif expected is None or p.got.shape != expected.shape or compare.relative_error(p.got, expected) > 1e-4:
        return None  # wrong by more than float32 rounding: another mistake
    evidence = {"evidence": found}
    path = p.ev.learner_file
    written = sorted((line, name) for name, _, _ in learner_functions(path)
                     for line in [code_line(path, name, r"float32|float16")] if line)
    if written:  # where the code asks for float32 (forward, often), not the gradient's method
        evidence["at_line"], evidence["at"] = written[0]
    return evidence


def _matmul_shapes(p: Probe):
    error = getattr(p.failure, "error", None)
    if not error or error["type"] != "ValueError" or "matmul" not in error["message"]:
        return None
    if not in_backward(error):  # raised while computing the forward, or outside the learner's code
        return None
    raised = error.get("where") or {}
    code = raised.get("code", "")
    at = qualified_name(p.ev.learner_file, raised["line"], raised.get("function")) if raised.get("line") else None
    return {"evidence": t("`{code}` raised: {message}", code=code, message=error["message"].split(" (")[0])
            if code else error["message"], "at_line": raised.get("line"), "at": at}


def _forward_error(p: Probe):
    """An error raised in the learner's code outside every backward rule: the forward
    computation (building the graph), named at its own line."""
    error = getattr(p.failure, "error", None)
    frames = learner_frames(error)
    if not error or not frames or in_backward(error) or error.get("not_implemented"):
        return None
    if any(name in ("train_step", "loss") for _, name, _ in frames):
        return None  # code that uses the gradients: its errors follow from theirs
    # no forward there (a function, a step, a constructor, outermost or where it raised): the
    # error says itself
    if catalog.get(p.ev.exercise).kind in ("function", "optimizer") or "__init__" in (frames[0][1], frames[-1][1]):
        return None
    line, function, code = frames[-1]
    message = error["message"].strip().splitlines()[0] if error["message"].strip() else ""
    return {"code": code or function, "kind": error["type"], "message": message, "at_line": line,
            "at": qualified_name(p.ev.learner_file, line, function)}


GENERIC = [
    Mistake("float32_computation", "your code computes in float32, and the grader works in float64: "
            "{evidence}. float32 keeps about 7 digits, so even a right formula is off by about 1e-7, "
            "and differences taken through a float32 forward are noise. Keep every array float64 "
            "(no dtype=np.float32, no .astype(np.float32))", _float32),
    Mistake("transposed", "{label} is the transpose of the right answer: {evidence}", _transposed),
    Mistake("transposed", "{label} is the transpose of the right answer: {evidence}", _transposed_square),
    Mistake("transposed", "the shapes of a matrix product do not line up: {evidence}. One factor "
            "probably needs .T; write each array's shape beside the line", _matmul_shapes),
    Mistake("error_in_forward", "the error comes from the forward computation, before any backward "
            "rule ran: `{code}` raised {kind}: {message}", _forward_error,
            where=lambda p: (_forward_error(p) or {}).get("at")),
    Mistake("keepdims", "{label} has extra or missing size-1 axes: {evidence}. Sum without "
            "keepdims, or reshape to the parameter's shape",
            lambda p: p.got is not None and p.got.shape[:1] == (1,) and p.sizes().get("N", 1) > 1
            and same_values_other_shape(p)),
    Mistake("bias_not_summed", "{label} was not summed over the batch: {evidence}", _bias_not_summed),
    Mistake("bias_summed_wrong_axis", "{label} was summed over the wrong axis: {evidence}",
            _summed_wrong_axis),
    Mistake("keepdims", "{label} has extra or missing size-1 axes: {evidence}. Sum without "
            "keepdims, or reshape to the parameter's shape",
            lambda p: not (p.sizes().get("N") == 1 and _unsummed_elsewhere(p)) and same_values_other_shape(p)),
    Mistake("sign_flipped", "{label} has the wrong sign: got = -1 x the right answer",
            _every_factor(lambda c, s: _near(c, -1))),
    Mistake("num_classes_factor", "{label} is off by N/C = {N}/{C}: you divided by the number of "
            "classes C where the batch size N belongs",
            _every_factor(lambda c, s: "C" in s and s["N"] != s["C"] and _near(c, s["N"] / s["C"]), sized=True),
            at_code=r"/"),
    Mistake("hardcoded_batch_size", "{label} divides by a fixed {k} instead of the batch size N "
            "({evidence}): use N = x.shape[0]", _hardcoded, at_code=r"/"),
    Mistake("missing_1_over_n", "{label} is N = {N} times too large{evidence}: the loss is a mean "
            "over the batch, so divide by N once",
            _every_factor(lambda c, s: s.get("N", 1) > 1 and _near(c, s["N"]), sized=True),
            at_code=r"/"),
    Mistake("doubled_1_over_n", "{label} is N = {N} times too small{evidence}: you divide by N "
            "twice (or average where the batch should be summed)",
            _every_factor(lambda c, s: s.get("N", 1) > 1 and _near(c, 1 / s["N"]), sized=True)),
    Mistake("constant_factor", "{label} is off by a constant factor: got = {c} x the right answer",
            _every_factor(lambda c, s: True)),
]
