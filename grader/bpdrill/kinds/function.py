"""The function kind: plain functions of arrays, graded on what they return and on what they
do to their arguments (clip_grad_norm scales gradients in place; init draws from a seeded
generator and is judged by statistics over large draws). Each exercise drives and references
its own calls; the kind offers `simulated`, the test of a mistake recognised by running the
function again, written with that mistake."""
from __future__ import annotations

from typing import Callable

from bpdrill.core.diagnose import close
from bpdrill.i18n import t

MISTAKES: list = []


def simulated(simulate: Callable, evidence: str, skip: tuple = ()):
    """A Mistake test: everything the learner's call produced equals simulate(scenario) (the
    function written with the mistake: result key -> value, under the keys of the worker's results
    and of the reference alike) and the right answer does not. skip: the ids of checks it does
    not apply to. evidence is English, the key of its Chinese."""
    def test(p):
        if p.check.id in skip:
            return None
        wrong = simulate(p.ev.scenarios[p.scenario])
        got = [p.learner(p.scenario, key) for key in wrong]
        if any(value is None for value in got) or not all(close(g, w) for g, w in zip(got, wrong.values())):
            return None
        right = p.reference()
        return None if all(close(right[key], w) for key, w in wrong.items()) else {"evidence": t(evidence)}
    return test
