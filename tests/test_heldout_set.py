"""The held-out mistakes (bench/heldout/<exercise>.toml, measured by `bench/line_at_fault.py
--set heldout`) stay usable: each applies to the current solution exactly once, edits exactly
one statement and leaves a file Python can read. Grading them is the bench's business, not the
quick suite's: the set measures the grader, so nothing here tunes the grader to it."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import EXERCISES, solution_path

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))
import line_at_fault  # noqa: E402  (bench/ is a folder of scripts, not a package)


@pytest.mark.parametrize("name", EXERCISES)
def test_every_exercise_has_at_least_four_held_out_mistakes_with_distinct_ids(name):
    mistakes = line_at_fault.heldout_mistakes(name)
    assert len(mistakes) >= 4, f"bench/heldout/{name}.toml holds {len(mistakes)} mistakes"
    ids = [m.id for m in mistakes]
    assert len(ids) == len(set(ids)), f"bench/heldout/{name}.toml repeats an id"
    assert all(m.why for m in mistakes), f"bench/heldout/{name}.toml: every mistake says why"


@pytest.mark.parametrize("name", EXERCISES)
def test_every_held_out_mistake_edits_one_statement_of_the_current_solution(name, tmp_path):
    solution = solution_path(name).read_text(encoding="utf-8")
    written = line_at_fault.write_heldout(name, solution, tmp_path)  # HeldoutError says what and where
    for mistake, path, lines in written:
        assert path.read_text(encoding="utf-8") != solution, mistake.id
        assert lines, mistake.id


def test_an_edit_of_two_statements_is_counted_as_two(tmp_path):
    solution = "def f(x):\n    a = x + 1\n    b = a * 2\n    return b\n"
    mistake = line_at_fault.HeldoutMistake("f", "two", "why", (("a = x + 1\n    b = a * 2", "a = x - 1\n    b = a * 3"),))
    path = tmp_path / "f.py"
    path.write_text(mistake.apply(solution), encoding="utf-8")
    changed = line_at_fault.changed_lines(solution, path.read_text(encoding="utf-8"))
    assert line_at_fault.statements_of(path, changed) == {2, 3}


def test_an_old_text_found_twice_is_refused():
    mistake = line_at_fault.HeldoutMistake("f", "twice", "why", (("x", "y"),))
    with pytest.raises(line_at_fault.HeldoutError, match="occurs 2 times"):
        mistake.apply("x = 1\nx = 2\n")


def test_a_line_inside_a_statement_over_several_lines_counts_as_that_statement(tmp_path):
    path = tmp_path / "g.py"
    path.write_text("def g(x):\n    y = (x\n         + 1)\n    return y\n", encoding="utf-8")
    assert line_at_fault.statements_of(path, {3}) == {2}
    assert line_at_fault.statement_starts(path, {3}) == {2, 3}
