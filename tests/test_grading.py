"""The grader's claims: correct code in any style gets full marks; real mistakes lose points
at the check about the gradient at fault; skeletons score 0 and say "not started"."""
from __future__ import annotations

import re

import pytest

from conftest import (EXERCISES, sweep, expectations, failure_summary, fixture_files, grade_inline,
                      skeleton_path, solution_path)

# Each sweep runs in two parts: a quick one in the README's test command, the rest behind the
# `sweep` marker (`pytest -m sweep`), which .ci/run runs too: together, every seed.
SOLUTION_SEEDS = sweep(range(2), range(2, 200))
VARIANT_SEEDS = sweep(range(1000, 1001), range(1001, 1025))
WRONG_SEEDS = sweep(range(2000, 2001), range(2001, 2005))


@SOLUTION_SEEDS
@pytest.mark.parametrize("name", EXERCISES)
def test_solution_scores_full_marks_under_200_seeds(name, seeds):
    failures = []
    for seed in seeds:
        report = grade_inline(name, solution_path(name), seed)
        if report.score != report.max_score:
            failures.append(f"seed {seed}: {report.score}/{report.max_score}\n{failure_summary(report)}")
    assert not failures, "\n".join(failures[:3])


CORRECT = fixture_files("correct")


def test_every_exercise_has_at_least_two_correct_variants():
    for name in EXERCISES:
        assert sum(1 for n, _ in CORRECT if n == name) >= 2, name


@VARIANT_SEEDS
@pytest.mark.parametrize("name,path", CORRECT, ids=[f"{n}/{p.stem}" for n, p in CORRECT])
def test_correct_variant_scores_full_marks(name, path, seeds):
    for seed in seeds:
        report = grade_inline(name, path, seed)
        assert report.score == report.max_score, f"seed {seed}\n{failure_summary(report)}"
        assert report.status == "passed"


WRONG = fixture_files("wrong")


def test_at_least_30_realistic_mistakes_across_all_exercises():
    assert len(WRONG) >= 30
    assert {name for name, _ in WRONG} == set(EXERCISES)


@WRONG_SEEDS
@pytest.mark.parametrize("name,path", WRONG, ids=[f"{n}/{p.stem}" for n, p in WRONG])
def test_wrong_variant_loses_points_at_the_gradient_at_fault(name, path, seeds):
    expected_targets = set(expectations(path)["target"])
    for seed in seeds:
        report = grade_inline(name, path, seed)
        assert report.score < report.max_score, f"seed {seed}: a wrong {name} got full marks"
        failed_targets = {c.target for c in report.checks if not c.passed}
        assert failed_targets & expected_targets, (
            f"seed {seed}: expected a failed check about {sorted(expected_targets)}, "
            f"got failures about {sorted(map(str, failed_targets))}\n{failure_summary(report)}")
        assert report.status in ("partial", "failed"), report.status


@pytest.mark.parametrize("name", EXERCISES)
def test_skeleton_scores_zero_and_says_not_started(name):
    report = grade_inline(name, skeleton_path(name), seed=7)
    assert report.score == 0
    assert report.status == "not_started"
    assert "not started" in report.message
    found = re.search(rf"{name}\.py:(\d+)\)", report.message)  # names the file and line of the TODO
    assert found, report.message
    line = int(found[1])
    assert "TODO" in skeleton_path(name).read_text().splitlines()[line - 1]


def test_failed_checks_name_the_gradient_shapes_and_relative_error():
    transposed = next(p for n, p in WRONG if n == "linear" and p.stem == "dW_transposed")
    report = grade_inline("linear", transposed, seed=5)
    by_name = {c.name: c for c in report.checks}
    shape = by_name["dW has the shape of W"]
    assert not shape.passed and shape.target == "dW"
    assert "expected shape" in shape.message and "got" in shape.message
    torch_check = by_name["dW matches PyTorch (N = in = out)"]
    assert not torch_check.passed and "relative error" in torch_check.message
    assert torch_check.details  # -v material: the worst elements
    assert all(c.passed for c in report.checks if c.target in ("dx", "db"))


def test_correct_variants_pass_through_real_worker_processes():
    """The CLI's path: limits, import guards and the numpy-tampering check never fail correct code."""
    from bpdrill.grading import runner
    # Every solution in one run: one torch helper computes (and keeps) every reference of the seed,
    # so the variants' runs below need none.
    for report in runner.run_checks({name: solution_path(name) for name in EXERCISES}, seed=99):
        assert report.status == "passed", f"{report.name}\n{failure_summary(report)}"
    for name, path in CORRECT:
        report = runner.run_checks({name: path}, seed=99)[0]
        assert report.status == "passed", f"{path.name}\n{failure_summary(report)}"


class _NoValueErrors(__import__("ast").NodeTransformer):
    """Every `raise ValueError(...)` of a file replaced by `pass`: the given code's argument checks."""

    def visit_Raise(self, node):
        import ast
        call = node.exc
        if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "ValueError":
            return ast.Pass()
        return node


@pytest.mark.parametrize("name", ["sgd", "dropout", "batchnorm"])
def test_argument_checks_of_the_given_code_carry_no_points(name, tmp_path):
    """SPEC: a check of what the given code validates (Dropout(p=1), a batch of one in
    BatchNorm1d, Nesterov without momentum) carries no points: a file written without those
    checks, otherwise right, keeps full marks; the check is still shown, failed, worth 0."""
    import ast
    tree = _NoValueErrors().visit(ast.parse(solution_path(name).read_text(encoding="utf-8")))
    path = tmp_path / f"{name}.py"
    path.write_text(ast.unparse(ast.fix_missing_locations(tree)), encoding="utf-8")
    report = grade_inline(name, path, 3)
    failed = [c for c in report.checks if not c.passed]
    assert report.score == report.max_score, failure_summary(report)
    assert failed and all(c.max_score == 0 for c in failed), failure_summary(report)
