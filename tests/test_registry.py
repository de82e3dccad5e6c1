"""An exercise is one unit: the registry's consistency check, and ids that never depend on text."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bpdrill import devcheck
from bpdrill.grading import registry, runner
from conftest import EXERCISES, FIXTURES, fixture_files, grade_fresh


def test_the_registry_consistency_check_finds_nothing_missing():
    assert devcheck.problems() == []


@pytest.mark.parametrize("name", EXERCISES)
def test_every_check_reads_a_scenario_the_exercise_draws(name):
    unit = registry.get(name)
    drawn = {s.name for s in unit.scenarios_for(0)}
    for check in unit.checks:
        assert check.scenario in drawn, f"{name}: {check.id} reads {check.scenario!r}, not drawn"


@pytest.mark.parametrize("name", EXERCISES)
def test_every_exercise_has_its_fixtures(name):
    assert len(list((FIXTURES / "correct" / name).glob("*.py"))) >= 2, f"{name}: two correct variants"
    assert sum(1 for n, _ in fixture_files("wrong") if n == name) >= 4, f"{name}: four wrong fixtures"


def _verdicts(name, path, seed):
    report = grade_fresh(name, path, seed)
    return [(c.id, c.passed, c.score, c.target, c.diagnosis.name if c.diagnosis else None)
            for c in report.checks]


WRONG = fixture_files("wrong")
# One fixture of each exercise in the quick run, every other one in the sweep.
FIRST = {name: path for name, path in reversed(WRONG)}
REWORDED = [pytest.param(n, p, marks=[] if FIRST[n] == p else [pytest.mark.sweep], id=f"{n}/{p.stem}")
            for n, p in WRONG]


@pytest.mark.parametrize("name,path", REWORDED)
def test_rewording_every_check_changes_no_verdict_and_no_diagnosis(name, path, monkeypatch):
    before = _verdicts(name, path, 2000)
    unit = registry.get(name)
    reworded = [dataclasses.replace(c, title=f"reworded {i}", title_args=())
                for i, c in enumerate(unit.checks)]
    monkeypatch.setattr(unit.module, "CHECKS", reworded)
    after = _verdicts(name, path, 2000)
    assert before == after
    assert np.all([c.name.startswith("reworded") for c in grade_fresh(name, path, 2000).checks])


def test_the_consistency_check_names_an_exercise_without_a_worked_derivation(monkeypatch):
    from bpdrill.practice import explain
    real = explain.has
    monkeypatch.setattr(explain, "has", lambda name, lang: False if (name, lang) == ("mse", "zh") else real(name, lang))
    assert [p for p in devcheck.problems() if "derivation" in p] == \
        ["mse: no worked derivation practice/explanations/zh/mse.md (bpdrill explain)"]
