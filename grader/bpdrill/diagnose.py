"""Naming the mistake: which known error a failed check's output looks like, with the evidence.

A diagnosis is computed from the learner's own outputs (the failed array, and the same code's
outputs on the other hidden scenarios: a batch of one, a second backward, a tree-shaped graph
next to a reused node ...), never guessed from the source text. Each Mistake is a small
declarative unit: a name, a test over a Probe that returns the evidence (a dict of words for
the message) when the mistake fits, and the sentence to say. The generic ones live here;
each exercise's module in bpdrill.checks adds its own MISTAKES and says in WHERE which method
computes each target.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from bpdrill import compare
from bpdrill.judge import Check, Evidence, Failed
from bpdrill.places import display_path, qualified_name, statement_line
from bpdrill.i18n import language, t


@dataclass(frozen=True)
class Mistake:
    name: str
    says: str  # plain English words (the key into zh.toml); {placeholders} are filled from the test's evidence
    test: Callable  # (Probe) -> dict of evidence when the mistake fits, else None
    kinds: tuple = ()  # check kinds it applies to (empty: any)
    where: object = None  # the method at fault, when not the exercise's usual one: str or (Probe) -> str
    says_zh: str = ""  # the same in Chinese (else says is looked up in the Chinese tables)

    def text(self, **words) -> str:
        template = (self.says_zh if language() == "zh" else "") or t(self.says)
        return template.format(**words)


@dataclass(frozen=True)
class Diagnosis:
    name: str  # the mistake's stable id
    message: str
    line: int | None = None  # the line of the learner's file at fault
    place: str = ""  # " (in Linear.backward, linear.py:33)": what interview mode keeps with the name
    what: str = ""  # the message's first clause, before the evidence and the advice


def first_clause(text: str) -> str:
    """What a mistake's sentence says is wrong, before its evidence and advice: the words up to
    the first colon (English or Chinese)."""
    for mark in (": ", "："):
        if mark in text:
            text = text.split(mark, 1)[0]
    return text.strip()


def close(a, b) -> bool:
    """Same shape and equal up to the torch-check tolerance."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and np.all(np.isfinite(a)) and not compare.elementwise_mismatch(a, b).any()


class Probe:
    """What a Mistake's test may look at for one failed check."""

    def __init__(self, ev: Evidence, check: Check, failure: Failed, outcomes: dict, sizes: Callable,
                 failures: dict | None = None):  # sizes(ev, scenario) -> {"N": ..., "C": ...}
        self.ev, self.check, self.failure, self.outcomes = ev, check, failure, outcomes
        self.failures = failures or {}  # check id -> (Check, Failed): every failure of the run
        self.scenario = check.scenario
        self.label = failure.label or failure.target
        self.got = failure.got
        self.expected = failure.expected
        self._sizes = sizes

    @property
    def inputs(self) -> dict:
        return self.ev.inputs(self.scenario)

    def sizes(self, scenario: str | None = None) -> dict:
        """N (batch size), C (classes) ... of a scenario, for naming constant factors."""
        return self._sizes(self.ev, scenario or self.scenario)

    def passed(self, check_id: str) -> bool:
        """Did the check with this id pass in this run?"""
        outcome = self.outcomes.get(check_id)
        return outcome is not None and outcome.passed

    def learner(self, scenario: str, key: str):
        """The learner's array for key in scenario, or None when there is no valid one."""
        try:
            return self.ev.array(scenario, key)
        except Failed:
            return None

    def error(self, scenario: str) -> dict | None:
        result = self.ev.results.get(scenario)
        return result["error"] if result else None

    def reference(self, scenario: str | None = None) -> dict:
        return self.ev.reference(scenario or self.scenario)

    def reference_with(self, **arrays) -> dict:
        """The reference for this scenario with some inputs replaced (dout of ones, say)."""
        from dataclasses import replace
        scenario = self.ev.scenarios[self.scenario]
        return self.ev._reference(replace(scenario, arrays={**scenario.arrays, **arrays}))


def formula(says_evidence: str, candidate: Callable, zh: str = ""):
    """A Mistake test: the learner's array equals what candidate(probe) computes (and the right
    answer does not), i.e. the learner wrote that wrong formula. says_evidence is English; zh its
    Chinese (else it is looked up in the Chinese tables)."""
    def test(p: Probe):
        if p.got is None:
            return None
        wrong = candidate(p)
        if wrong is None or (p.expected is not None and close(p.expected, wrong)):
            return None
        evidence = (zh if language() == "zh" else "") or t(says_evidence)
        return {"evidence": evidence} if close(p.got, wrong) else None
    return test


def first_call_right(first_key: str):
    """A Mistake test for a check on a second call: the first call of the same scenario was right,
    so something the first backward did (to a cache, or to its own state) changed the second.
    first_key names the first call's result; '{label}' in it stands for the checked array."""
    def test(p: Probe):
        if p.got is None:
            return None
        key = first_key.format(label=p.label)
        first = p.learner(p.scenario, key)
        ref = p.reference().get(key)
        if first is not None and ref is not None and close(first, ref):
            return {"evidence": t("the first backward after forward was right, this later one is not")}
        return None
    return test

# ---- generic mistakes: shapes and constant factors ------------------------------------------

def _transposed(p: Probe):
    g, e = p.got, p.expected
    if g is None or e is None or g.ndim != 2 or e.ndim != 2 or g.shape != e.shape[::-1]:
        return None
    if close(g.T, e):
        square = t(" (the shapes agree only when it is square)") if e.shape[0] == e.shape[1] else ""
        return {"evidence": t("got has shape {got}, the transpose of {expected}, and got.T is right{square}",
                              got=g.shape, expected=e.shape, square=square)}
    return None


def _transposed_square(p: Probe):
    g, e = p.got, p.expected
    if g is None or e is None or g.ndim != 2 or g.shape != e.shape or g.shape[0] != g.shape[1]:
        return None
    if close(g.T, e) and not close(g, e):
        return {"evidence": t("got[i, j] equals the right value at [j, i] for every element")}
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
        return {"evidence": t("got has shape {got}, one row per example, and its sum over the "
                              "batch (axis 0) is right", got=g.shape)}
    return None


def _summed_wrong_axis(p: Probe):
    g, e = p.got, p.expected
    n = p.sizes().get("N")
    if g is None or e is None or e.ndim != 1 or g.ndim != 1 or n is None:
        return None
    if g.shape == (n,) and e.shape != (n,):
        return {"evidence": t("got has shape {got}: one value per example, so the sum ran over "
                              "the features (axis 1); expected {expected}", got=g.shape, expected=e.shape)}
    return None


def same_values_other_shape(p: Probe):
    """The right values in a shape with extra or missing size-1 axes (keepdims)."""
    g, e = p.got, p.expected
    if g is None or e is None or g.shape == e.shape or g.size != e.size:
        return None
    if close(g.reshape(e.shape), e):
        return {"evidence": t("the values are right but the shape is {got}, expected {expected}",
                              got=g.shape, expected=e.shape)}
    return None


def broadcast_not_undone(p: Probe):
    """A gradient left in the broadcast shape that, summed back down, is right."""
    g, e = p.got, p.expected
    if g is None or e is None or g.shape == e.shape or g.ndim < e.ndim:
        return None
    try:
        np.broadcast_shapes(g.shape, e.shape)
    except ValueError:
        return None
    lead = g.ndim - e.ndim
    summed = g.sum(axis=tuple(range(lead))) if lead else g
    axes = tuple(i for i, n in enumerate(e.shape) if n == 1 and summed.shape[i] != 1)
    summed = summed.sum(axis=axes, keepdims=True) if axes else summed
    if summed.shape == e.shape and close(summed, e):
        return {"evidence": t("{label} has the broadcast shape {got}; summed back down to "
                              "{expected} it is right", label=p.label, got=g.shape, expected=e.shape)}
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
    if abs(c - 1) < 1e-6 or abs(c) < 1e-9 or not close(got, c * expected):
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


def _every_factor(rule: Callable[[float, dict], bool]):
    """A Mistake test: this check's array is off by a constant, and every such failure about the
    same array fits rule(c, sizes), across scenarios with different N."""
    def test(p: Probe):
        if _factor_of(p.got, p.expected) is None:
            return None
        seen = _observations(p)
        if not all(rule(c, sizes) for sizes, c in seen):
            return None
        sizes = p.sizes()
        words = {**sizes, "c": f"{_factor_of(p.got, p.expected):.4g}", "evidence": ""}
        single = p.passed("edge.single")
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


_FRAME = re.compile(r'line (\d+), in (\S+)\n(?:    (.*)\n)?')


def learner_frames(error: dict | None) -> list[tuple[int, str, str]]:
    """(line, function, code) of each frame of the learner's file in an error, outermost first."""
    text = (error or {}).get("traceback", "")
    return [(int(m[1]), m[2], (m[3] or "").strip()) for m in _FRAME.finditer(text + "\n")]


def in_backward(error: dict | None) -> bool:
    """Was the error raised inside a backward rule (a function called backward, or step)?"""
    return any(name.lstrip("_") in ("backward", "step") for _, name, _ in learner_frames(error))


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
    line, function, code = frames[-1]
    message = error["message"].strip().splitlines()[0] if error["message"].strip() else ""
    return {"code": code or function, "kind": error["type"], "message": message, "at_line": line,
            "at": qualified_name(p.ev.learner_file, line, function)}


GENERIC = [
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
            _every_factor(lambda c, s: "C" in s and s["N"] != s["C"] and _near(c, s["N"] / s["C"]))),
    Mistake("hardcoded_batch_size", "{label} divides by a fixed {k} instead of the batch size N "
            "({evidence}): use N = x.shape[0]", _hardcoded),
    Mistake("missing_1_over_n", "{label} is N = {N} times too large{evidence}: the loss is a mean "
            "over the batch, so divide by N once",
            _every_factor(lambda c, s: s.get("N", 1) > 1 and _near(c, s["N"]))),
    Mistake("doubled_1_over_n", "{label} is N = {N} times too small{evidence}: you divide by N "
            "twice (or average where the batch should be summed)",
            _every_factor(lambda c, s: s.get("N", 1) > 1 and _near(c, 1 / s["N"]))),
    Mistake("constant_factor", "{label} is off by a constant factor: got = {c} x the right answer",
            _every_factor(lambda c, s: True)),
]


# ---- running the mistakes ----------------------------------------------------------------

def where(path: str, qualname: str | None, label: str | None, line: int | None = None) -> tuple[str, int | None]:
    """(' (in Linear.backward, workspace/linear.py:33)', 33): the method at fault and the line
    that computes the gradient (its assignment or return), else the method's first line.
    line: the line already known (where an error was raised)."""
    if not qualname:
        return "", None
    line = line or statement_line(path, qualname, label)
    return t(" (in {name}, {file})", name=qualname,
             file=display_path(path) + (":" + str(line) if line else "")), line


def diagnose(unit, ev: Evidence, check: Check, failure: Failed, outcomes: dict,
             failures: dict | None = None) -> Diagnosis | None:
    """The first known mistake that fits a failed check, or None. unit: a registry.Unit."""
    probe = Probe(ev, check, failure, outcomes, unit.sizes, failures)
    qualname = unit.where(probe)
    if failure.mistake is not None:
        name, text = failure.mistake
        place, line = where(ev.learner_file, qualname, probe.label)
        return Diagnosis(name, text + place, line, place)
    if probe.got is not None and probe.expected is None and failure.target:
        try:  # a shape check knows only the shape: the reference knows the values
            probe.expected = ev.reference(check.scenario).get(failure.target)
        except Exception:  # noqa: BLE001 - no reference for this target: diagnose without it
            probe.expected = None
    if probe.got is not None and probe.expected is not None and close(probe.got, probe.expected):
        return None  # a diagnosis explains a difference: a right answer has none to explain
    for mistake in [*unit.mistakes, *GENERIC]:
        if mistake.kinds and check.kind not in mistake.kinds:
            continue
        try:
            evidence = mistake.test(probe)
        except Exception:  # noqa: BLE001 - a hypothesis that cannot be tested on this output
            evidence = None
        if evidence:
            words = {"label": probe.label, **evidence}
            at = evidence.get("at") or (mistake.where(probe) if callable(mistake.where)
                                        else (mistake.where or qualname))  # "at": where it was raised
            place, line = where(ev.learner_file, at, probe.label, evidence.get("at_line"))
            said = mistake.text(**words)
            return Diagnosis(mistake.name, said + place, line, place, first_clause(said))
    return None
