"""Trust holes in grading: wrong code never scores full marks, every seed tests every edge case,
and one root cause is reported (and charged) once. Each test is named after a point of the
issue and built from small wrong implementations written here (edits of the solution text)."""
from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from bpdrill.grading import registry
from bpdrill.grading.report import ExerciseReport, RunReport, render
from conftest import failure_summary, grade_inline, solution_path
from test_misleading import THROUGH_ONE_OVER_EXP, diagnoses, edited

TRAVERSAL = "                    grads[parent] = grads[parent] + parent_grad if parent in grads else parent_grad\n"
IN_PLACE_ALIAS = [
    (TRAVERSAL, "                    if parent in grads:\n"
                "                        grads[parent] += parent_grad  # in place: corrupts a shared array\n"
                "                    else:\n"
                "                        grads[parent] = parent_grad\n"),
    ("            return (np.broadcast_to(grad, self.shape),)", "            return (grad * np.ones(self.shape),)"),
    ("        grad = np.broadcast_to(np.asarray(grad, dtype=np.float64), self.shape)",
     "        grad = np.asarray(grad, dtype=np.float64) * np.ones(self.shape)"),
]


def _load(path):
    spec = importlib.util.spec_from_file_location(f"learner_{path.stem}_{id(path)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wrong_autograd_code_must_not_score_full_marks(tmp_path):
    path = edited(tmp_path, "autograd", *IN_PLACE_ALIAS)  # __add__ keeps `return grad, grad`
    # the engine really is wrong: a gradient shared by two parents, added into later
    Tensor = _load(path).Tensor
    x = Tensor(np.array([[0.1, -0.5, 0.7]]), requires_grad=True)
    a = x.exp()
    out = (a + x.tanh()) + a
    out.backward(np.ones((1, 3)))
    right = 2 * np.exp(x.data) + 1 - np.tanh(x.data) ** 2
    assert not np.allclose(x.grad, right)
    for seed in range(5):
        report = grade_inline("autograd", path, seed)
        assert report.score < report.max_score, f"seed {seed}: full marks"
        assert "gradient_aliased" in diagnoses(report).values(), failure_summary(report)
    # the advice for a reused node cannot lead there
    says = {m.name: m.says for m in registry.get("autograd").mistakes}
    assert "grads[parent] = grads[parent] + g" in says["overwrite_not_accumulate"]
    assert "+=" not in says["overwrite_not_accumulate"]


def test_an_engine_that_keeps_grad_on_leaves_only_as_pytorch_scores_full_marks(tmp_path):
    # SPEC: a tensor computed from others may keep .grad = None, as PyTorch does
    leaves_only = edited(tmp_path, "autograd", (
        "            if node.grad is None:\n                node.grad = np.array(g)",
        "            if node._backward is not None:\n                pass\n"
        "            elif node.grad is None:\n                node.grad = np.array(g)"))
    for seed in range(3):
        report = grade_inline("autograd", leaves_only, seed)
        assert report.score == report.max_score, failure_summary(report)


def test_an_intermediate_grad_that_is_held_must_be_right(tmp_path):
    # where a non-leaf holds a gradient, it is checked: here every non-leaf's .grad is doubled
    wrong = edited(tmp_path, "autograd", (
        "            if node._backward is None:\n                continue  # a leaf",
        "            if node._backward is None:\n                continue  # a leaf\n"
        "            node.grad = 2 * node.grad"))
    report = grade_inline("autograd", wrong, 0)
    assert report.score < report.max_score
    assert any(").grad" in c.message for c in report.checks if not c.passed), failure_summary(report)


def test_a_grad_that_is_the_callers_array_is_caught_and_named(tmp_path):
    # node.grad = g with g the caller's own array: two backward(grad) calls change the caller's grad
    path = edited(tmp_path, "autograd",
                  ("        grad = np.broadcast_to(np.asarray(grad, dtype=np.float64), self.shape)",
                   "        grad = np.asarray(grad, dtype=np.float64)"),
                  ("                node.grad = np.array(g)  # a copy of its own: g may be a read-only view",
                   "                node.grad = g"))
    for seed in range(3):
        report = grade_inline("autograd", path, seed)
        assert report.score < report.max_score, f"seed {seed}: full marks"
        assert diagnoses(report).get("program.apart") == "gradient_aliased", failure_summary(report)


def test_relu_derivative_at_zero_is_zero_in_every_seed(tmp_path):
    path = edited(tmp_path, "autograd", ("return (grad * (self.data > 0),)", "return (grad * (self.data >= 0),)"))
    for seed in range(10):
        report = grade_inline("autograd", path, seed)
        assert not next(c for c in report.checks if c.id == "program.relu").passed, f"seed {seed}"


@pytest.mark.parametrize("method,edit", [
    ("__rsub__", ("        return as_tensor(other) + (-self)", "        return self + (-as_tensor(other))")),
    ("__rtruediv__", ("        return as_tensor(other) * self**-1", "        return self * as_tensor(other) ** -1")),
])
def test_a_wrong_reflected_operator_is_named(tmp_path, method, edit):
    path = edited(tmp_path, "autograd", edit)
    for seed in range(3):
        report = grade_inline("autograd", path, seed)
        named = [c.diagnosis for c in report.checks if not c.passed and c.diagnosis]
        assert named and all(d.name == "wrong_reflected_operator" for d in named), failure_summary(report)
        assert all(f"Tensor.{method}" in d.message for d in named)


SIGMOID_NAIVE = [("        self.out = out\n", "        self.out = out\n        self.x = x\n"),
                 ("        dx = dout * s * (1.0 - s)  # ds/dx = s (1 - s), chained with dout",
                  "        e = np.exp(-self.x)  # overflows at x = -1000: inf / inf\n"
                  "        dx = dout * e / (1.0 + e) ** 2")]


def test_every_edge_case_in_every_seed(tmp_path):
    # softmax_ce: the gradient through 1 / exp_scores[y] fails under every seed, not one in five
    path = edited(tmp_path, "softmax_ce", *THROUGH_ONE_OVER_EXP)
    for seed in range(20):
        report = grade_inline("softmax_ce", path, seed)
        assert report.score < report.max_score, f"seed {seed}: full marks"
        assert diagnoses(report).get("edge.extreme") == "division_by_vanishing_probability"
    # sigmoid: exp(-x) overflows at x = -1000, present in every seed
    path = edited(tmp_path, "sigmoid", *SIGMOID_NAIVE)
    for seed in range(10):
        report = grade_inline("sigmoid", path, seed)
        assert not next(c for c in report.checks if c.id == "edge.extreme").passed, f"seed {seed}"


def test_one_root_cause_is_reported_once_and_charged_once(tmp_path):
    path = edited(tmp_path, "linear", ("self.db = dout.sum(axis=0)", "self.db = dout.sum(axis=0, keepdims=True)"))
    checks = registry.get("linear").checks
    db_points = sum(c.points for c in checks if c.targets[0] == "db")
    for seed in range(3):
        report = grade_inline("linear", path, seed)
        failed = [c for c in report.checks if not c.passed]
        assert len(failed) > db_points  # the slip fails checks about other gradients too ...
        assert {c.diagnosis.name for c in failed if c.diagnosis} == {"keepdims"}, failure_summary(report)
        assert report.max_score - report.score == db_points  # ... but costs only db's points
        doc = report.to_json()
        assert sum(c["score"] for c in doc["checks"]) == doc["score"]
        assert all(not c["passed"] for c in doc["checks"] if c["id"] in {f.id for f in failed})
        text = render(RunReport(seed, str(tmp_path), [report]))
        assert text.count("looks like:") == 1, text
        assert sum(1 for line in text.splitlines() if line.strip().startswith("FAIL")) == 1, text
        assert f"also fails {len(failed) - 1} more checks" in text, text
        json.dumps(doc)


def test_the_cap_is_no_change_where_every_check_is_about_the_gradient():
    from bpdrill.core.diagnose import Diagnosis
    from bpdrill.grading.report import CheckResult, cap_root_causes
    checks = registry.get("adam").checks
    results = [CheckResult(c.id, c.english, c.kind, "params", False, 0, c.points,
                           diagnosis=Diagnosis("no_bias_correction", "m")) for c in checks]
    cap_root_causes(results, checks)
    assert all(r.score == 0 for r in results)
    assert isinstance(ExerciseReport, type)
