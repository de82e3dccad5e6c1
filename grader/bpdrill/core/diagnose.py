"""Naming the mistake: which known error a failed check's output looks like, with the evidence.

A diagnosis is computed from the learner's own outputs (the failed array, and the same code's
outputs on the other hidden scenarios: a batch of one, a second backward, a tree-shaped graph
next to a reused node ...), never guessed from the source text. Each Mistake is a small
declarative unit: a name, a test over a Probe that returns the evidence (a dict of words for
the message) when the mistake fits, and the sentence to say. The generic ones are GENERIC in
bpdrill.core.mistakes; each exercise's module in bpdrill.checks adds its own MISTAKES and says
in WHERE which method computes each target; bpdrill.core.diagnosis runs them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from bpdrill.core import compare
from bpdrill.core.judge import Check, Evidence, Failed
from bpdrill.i18n import t


@dataclass(frozen=True)
class Mistake:
    name: str
    says: str  # plain English words (the key into zh.toml); {placeholders} are filled from the test's evidence
    test: Callable  # (Probe) -> dict of evidence when the mistake fits, else None
    kinds: tuple = ()  # check kinds it applies to (empty: any)
    where: object = None  # the method at fault, when not the exercise's usual one: str or (Probe) -> str
    # Where in the method at fault the mistake is written: a regular expression over the text of
    # its statements (the first that matches is the line to edit). The diagnosis itself comes
    # from the outputs; this only says which of the method's statements holds that computation.
    at_code: str = ""

    def text(self, **words) -> str:
        template = t(self.says)
        return template.format(**words)


@dataclass(frozen=True)
class Diagnosis:
    name: str  # the mistake's stable id
    message: str
    line: int | None = None  # the line of the learner's file at fault
    place: str = ""  # " (in Linear.backward, linear.py:33)": what interview mode keeps with the name
    what: str = ""  # the message's first clause, before the evidence and the advice
    movable: bool = False  # its line is only where the gradient is written: a trace may find a better one
    # its line is the statement its mistake's at_code names: a trace moves it only to a statement
    # whose value is wrong (a code pattern may name the wrong one of a learner's statements)
    by_code: bool = False
    # its line is in the method its mistake names (where): a trace moves it only to the statement
    # of that method whose value goes wrong first
    within: bool = False


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

    def unchanged(self, prefix: str, names) -> bool:
        """Does the learner's array prefix<name> equal the scenario's input of that key, for
        every name (the caller's arrays came back as they were handed over)?"""
        inputs = self.inputs
        for name in names:
            got = self.learner(self.scenario, f"{prefix}{name}")
            if got is None or not np.array_equal(got, inputs[f"{prefix}{name}"]):
                return False
        return True

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


def formula(says_evidence: str, candidate: Callable):
    """A Mistake test: the learner's array equals what candidate(probe) computes (and the right
    answer does not), i.e. the learner wrote that wrong formula. says_evidence is English, the key
    of its Chinese in locale/zh/<exercise>.toml."""
    def test(p: Probe):
        if p.got is None:
            return None
        wrong = candidate(p)
        if wrong is None or (p.expected is not None and close(p.expected, wrong)):
            return None
        evidence = t(says_evidence)
        return {"evidence": evidence} if close(p.got, wrong) else None
    return test


def variants(test: Callable, rows: dict) -> list[Mistake]:
    """An exercise's mistakes as rows of one table (as MiniTorch's activations): name -> (says,
    evidence, switches[, at_code]), each tested by test(evidence, **switches), the exercise's own
    computation run with those switches on."""
    found = []
    for name, (says, evidence, switches, *at_code) in rows.items():  # at_code: where it is written
        found.append(Mistake(name, says, test(evidence, **switches), at_code=at_code[0] if at_code else ""))
    return found


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


# ---- shared tests: shapes, and where in the learner's file an error was raised --------------

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


_FRAME = re.compile(r'line (\d+), in (\S+)\n(?:    (.*)\n)?')


def learner_frames(error: dict | None) -> list[tuple[int, str, str]]:
    """(line, function, code) of each frame of the learner's file in an error, outermost first."""
    text = (error or {}).get("traceback", "")
    return [(int(m[1]), m[2], (m[3] or "").strip()) for m in _FRAME.finditer(text + "\n")]


def in_backward(error: dict | None) -> bool:
    """Was the error raised inside a backward rule (a function called backward, or step)?"""
    return any(name.lstrip("_") in ("backward", "step") for _, name, _ in learner_frames(error))
