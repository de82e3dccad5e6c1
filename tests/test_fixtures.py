"""The wrong fixtures are edits of the current solutions: each still applies, and every
exercise has some."""
from __future__ import annotations

import pytest

from conftest import EXERCISES, FIXTURES, mistakes, solution_path

MISTAKES = [m for name in EXERCISES for m in mistakes(name)]


def test_every_exercise_in_the_catalog_has_a_wrong_fixture_file():
    missing = [name for name in EXERCISES if not (FIXTURES / "wrong" / f"{name}.toml").exists()]
    assert not missing, f"no tests/fixtures/wrong/<exercise>.toml for {missing}"
    assert all(mistakes(name) for name in EXERCISES)
    assert sorted(p.stem for p in (FIXTURES / "wrong").glob("*.toml")) == sorted(EXERCISES)
    ids = [(m.exercise, m.id) for m in MISTAKES]
    assert len(ids) == len(set(ids)), "a mistake id appears twice in one exercise"


@pytest.mark.parametrize("mistake", MISTAKES, ids=[f"{m.exercise}/{m.id}" for m in MISTAKES])
def test_every_edit_applies_exactly_once_to_its_solution(mistake):
    solution = solution_path(mistake.exercise).read_text(encoding="utf-8")
    for old, _ in mistake.edits:  # against the solution itself, and in turn (Mistake.apply)
        assert solution.count(old) == 1, f"{mistake.exercise}/{mistake.id}: {old!r}"
    wrong = mistake.apply(solution)
    assert wrong != solution
    compile(wrong, f"{mistake.id}.py", "exec")
