"""Diagnoses that never mislead: each test is named after a point of the issue, and built from
small wrong implementations written here (edits of the solution text)."""
from __future__ import annotations

from bpdrill.core.diagnosis import FIRST_WRONG_VALUE

import re

import numpy as np
import pytest

from bpdrill.core import compare, diagnose, diagnosis, mistakes
from bpdrill.grading import reference, registry, runner
from bpdrill.core.judge import Evidence, Failed, compare_arrays
from bpdrill.grading.report import CheckResult
from conftest import (execute_inline, expectations, failure_summary, fixture_files,
                      grade_inline, solution_path, wrong_fixture)


def edited(tmp_path, name: str, *edits: tuple[str, str]):
    """The solution of `name` with each (old, new) applied once, written as a learner file."""
    text = solution_path(name).read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    return path


def solution_lines(name: str, first: str, last: str) -> str:
    """The solution's lines from the one starting with first through the next one holding last:
    the old side of an edit, read from the solution rather than copied from it."""
    lines = solution_path(name).read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    end = next(i for i in range(start, len(lines)) if last in lines[i])
    return "".join(lines[start:end + 1])


def diagnoses(report) -> dict:
    """check id -> diagnosis name, for the failed checks that carry one."""
    return {c.id: c.diagnosis.name for c in report.checks if not c.passed and c.diagnosis}


# ---- softmax_ce learners --------------------------------------------------------------------

KEEP_LOGITS = ("        self.y = y\n", "        self.y = y\n        self.logits = logits\n")
# The student solution of the issue: the gradient through 1 / exp_scores[y] (inf * 0 = nan once
# exp of the true class's shifted logit underflows, below about -745).
THROUGH_ONE_OVER_EXP = [KEEP_LOGITS, (
    "        dlogits[np.arange(n), self.y] -= 1.0  # softmax + CE: p - onehot(y)\n",
    "        rows = np.arange(n)\n"
    "        exp_scores = np.exp(self.logits - self.logits.max(axis=1, keepdims=True))\n"
    "        dlogits[rows, self.y] -= (1.0 / exp_scores[rows, self.y]) * exp_scores[rows, self.y]\n")]
LOSS = "return float(-log_probs[np.arange(n), y].mean())"
EPSILON_IN_LOG = [(LOSS, "return float(-np.log(self.probs[np.arange(n), y] + 1e-8).mean())")]
LOG_OF_SOFTMAX = [(LOSS, "return float(-np.log(self.probs[np.arange(n), y]).mean())")]
UNSHIFTED = [("        shifted = logits - logits.max(axis=1, keepdims=True)  # (N, C), row max is 0\n",
              "        shifted = logits  # no max subtracted\n")]


def test_no_vacuous_claims(tmp_path):
    # one factor fits any two numbers: never claimed for a single number ...
    assert mistakes._factor_of(np.array(0.0088 * 3.0), np.array(3.0)) is None
    assert mistakes._factor_of(np.array([5.0]), np.array([2.0])) is None
    # ... nor for an array where only one element matters
    assert mistakes._factor_of(np.array([0.0, 7.0, 0.0]), np.array([0.0, 2.0, 0.0])) is None
    assert mistakes._factor_of(np.array([2.0, 4.0]), np.array([1.0, 2.0])) == pytest.approx(2.0)
    # the loss with an epsilon inside the log: said as what it is, never "a constant factor"
    path = edited(tmp_path, "softmax_ce", *EPSILON_IN_LOG)
    for seed in range(3):
        report = grade_inline("softmax_ce", path, seed)
        found = diagnoses(report)
        assert found.get("edge.extreme") == "epsilon_in_log", failure_summary(report)
        assert "constant_factor" not in found.values()
        message = next(c.diagnosis.message for c in report.checks if c.id == "edge.extreme")
        assert "1e-08" in message and "factor" not in message


@pytest.mark.parametrize("edits,expected", [
    (THROUGH_ONE_OVER_EXP, "division_by_vanishing_probability"),
    (LOG_OF_SOFTMAX, "log_of_zero"),
    (UNSHIFTED, "unstable_softmax"),
], ids=["one_over_exp", "log_of_softmax", "unshifted"])
def test_the_right_cause_for_nonfinite_values(tmp_path, edits, expected):
    path = edited(tmp_path, "softmax_ce", *edits)
    for seed in range(4):
        report = grade_inline("softmax_ce", path, seed)
        found = diagnoses(report)
        assert found.get("edge.extreme") == expected, f"seed {seed}: {found}\n{failure_summary(report)}"
        others = {"division_by_vanishing_probability", "log_of_zero", "unstable_softmax"} - {expected}
        assert not others & set(found.values()), found


def test_a_failure_never_reads_like_a_pass():
    expected = np.array([[0.0, 0.5], [0.25, 0.0]])
    got = expected + np.array([[1e-7, 0.0], [0.0, 0.0]])  # 1e-7 where 0 was expected
    assert compare.relative_error(got, expected) < compare.NUMGRAD_TOL  # the aggregate looks fine
    with pytest.raises(Failed) as caught:
        compare_arrays("dW", got, expected, "torch")
    message = caught.value.message
    assert "relative error" not in message, message  # an aggregate under tolerance is not shown
    assert "1 of 4 elements outside the tolerance" in message and "dW[0, 0]" in message
    assert "expected 0, got 1e-07" in message and "allowed" in message
    # -v never lists worst elements whose expected and got print alike
    expected = np.array([1.0, 2.0, 3.0])
    got = expected * (1 + np.array([3e-7, 2e-9, 0.0]))
    with pytest.raises(Failed) as caught:
        compare_arrays("dx", got, expected, "torch")
    for line in caught.value.details:
        shown = re.match(r"dx\[\d+\]: expected (\S+), got (\S+)$", line)
        assert shown and shown[1] != shown[2], line
    assert caught.value.details and "1.0000003" in caught.value.details[0]


def test_forward_and_protocol_errors_named_as_such(tmp_path):
    # ndarray @ Tensor never reaches the Tensor: no __rmatmul__, no __array_ufunc__ = None
    path = edited(tmp_path, "autograd",
                  ("    __array_ufunc__ = None  # so `ndarray + Tensor` calls Tensor.__radd__ instead of "
                   "NumPy's loop\n", ""),
                  ("    def __rmatmul__(self, other):\n        return as_tensor(other) @ self\n", ""))
    report = grade_inline("autograd", path, 0)
    found = diagnoses(report)
    assert found.get("program.mlp") == "wrong_reflected_operator", failure_summary(report)
    assert "transposed" not in found.values()
    mlp = next(c for c in report.checks if c.id == "program.mlp")
    assert "__rmatmul__" in mlp.diagnosis.message and "__array_ufunc__ = None" in mlp.diagnosis.message
    # an error raised in a forward computation: its own line, not a backward rule's advice
    forward = "        return self._result(self.data @ other.data, (self, other), backward)"
    path = edited(tmp_path, "autograd", (forward, forward.replace("other.data,", "other.data.T,")))
    line = path.read_text().splitlines().index(forward.replace("other.data,", "other.data.T,")) + 1
    report = grade_inline("autograd", path, 0)
    failed = [c for c in report.checks if c.id == "program.matmul"][0]
    assert failed.diagnosis.name == "error_in_forward", failure_summary(report)
    assert failed.diagnosis.line == line and f"autograd.py:{line}" in failed.diagnosis.message
    assert "transposed" not in diagnoses(report).values()


# The solution's propagation loop (old) against one that never resets a node's .grad (new).
NOT_RESET = (solution_lines("autograd", "        grads = {self: grad}",
                            "parent_grad = unbroadcast(parent_grad, parent.shape)"),
             """        self.grad = np.array(grad)  # every node's .grad is the running sum, never reset
        for node in reversed(self._topological_order()):
            if node._backward is None or node.grad is None:
                continue
            for parent, parent_grad in zip(node._parents, node._backward(node.grad)):
                if parent.requires_grad:
                    parent_grad = unbroadcast(parent_grad, parent.shape)
                    parent.grad = parent_grad.copy() if parent.grad is None else parent.grad + parent_grad
                    continue
""")


def test_accumulation_causes_told_apart(tmp_path):
    path = edited(tmp_path, "autograd", NOT_RESET)
    for seed in range(3):
        report = grade_inline("autograd", path, seed)
        found = diagnoses(report)
        assert found.get("program.accumulate") == "intermediate_grads_not_reset", failure_summary(report)
        assert not {"grad_assigned_not_added", "overwrite_not_accumulate", "constant_factor"} & set(found.values())


ADAM_STEP = ("            m_hat = self.m[name] / (1 - self.beta1**self.t)\n"
             "            v_hat = self.v[name] / (1 - self.beta2**self.t)\n"
             "            p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)")


@pytest.mark.parametrize("mistake,edits", [
    ("epsilon_hat", [(ADAM_STEP, "            lr_t = self.lr * np.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t)\n"
                                 "            p -= lr_t * self.m[name] / (np.sqrt(self.v[name]) + self.eps)")]),
    ("hardcoded_betas", [("        self.beta1, self.beta2 = betas", "        self.beta1, self.beta2 = 0.9, 0.999")]),
    ("hardcoded_eps", [("        self.eps = eps", "        self.eps = 1e-8")]),
])
def test_more_adam_forms_recognised(tmp_path, mistake, edits):
    path = edited(tmp_path, "adam", *edits)
    for seed in range(6):  # beyond tolerance in every seed, never written off as rounding
        report = grade_inline("adam", path, seed)
        assert report.score < report.max_score, f"seed {seed}: full marks"
        found = set(diagnoses(report).values())
        assert found == {mistake}, f"seed {seed}: {found}\n{failure_summary(report)}"


KAIMING_NORMAL = "    return rng.normal(0.0, std, size=(fan_in, fan_out))\n    # END TODO\n"


@pytest.mark.parametrize("cut", [
    "    W = rng.normal(0.0, std, size=(fan_in, fan_out))\n"  # redrawn beyond 2 sigma (trunc_normal_'s way)
    "    outside = np.abs(W) > 2 * std\n"
    "    while outside.any():\n"
    "        W[outside] = rng.normal(0.0, std, size=int(outside.sum()))\n"
    "        outside = np.abs(W) > 2 * std\n"
    "    return W\n    # END TODO\n",
    "    return np.clip(rng.normal(0.0, std, size=(fan_in, fan_out)), -2 * std, 2 * std)\n    # END TODO\n",
], ids=["redrawn", "clipped"])
def test_a_normal_truncated_at_2_sigma_is_named_as_such_never_a_uniform_draw(tmp_path, cut):
    """Issue 19: rng.normal with its tails beyond 2 standard deviations cut off has a kurtosis below
    the uniform/normal split; it was called 'a uniform draw where a normal one was asked'."""
    text = solution_path("init").read_text(encoding="utf-8")
    head, tail = text.rsplit(KAIMING_NORMAL, 1)  # kaiming_normal: the last function of the file
    path = tmp_path / "init.py"
    path.write_text(head + cut + tail, encoding="utf-8")
    for seed in range(3):
        report = grade_inline("init", path, seed)
        failed = {c.id: c for c in report.checks if not c.passed}
        assert set(failed) == {"torch.kaiming_normal"}, failure_summary(report)
        found = failed["torch.kaiming_normal"].diagnosis
        assert found is not None and found.name == "truncated_normal", failure_summary(report)
        assert "beyond 2 standard deviations" in found.message and "tails" in found.message
        assert "uniform" not in found.message


# ---- the property: a mistake's name never lands on a case that is wrong another way ----------

WRONG = [(n, p) for n, p in fixture_files("wrong") if n in
         ("linear", "sigmoid", "softmax_ce", "mlp", "adam", "autograd")]


@pytest.mark.parametrize("name,path", WRONG, ids=[f"{n}/{p.stem}" for n, p in WRONG])
def test_property_a_fixture_gets_no_name_but_its_own(name, path):
    # first_wrong_value names no mistake, only the statement where the values go wrong
    expected = set(expectations(path)["diagnosis"]) - {"none"} | {FIRST_WRONG_VALUE}
    for seed in (2000, 2001):
        report = grade_inline(name, path, seed)
        others = set(diagnoses(report).values()) - expected
        assert not others, f"seed {seed}: {path.stem} also named {sorted(others)}\n{failure_summary(report)}"


def _solution_evidence(name: str, seed: int):
    unit = registry.get(name)
    job, scenarios = runner.build_job(name, solution_path(name), seed)
    outcome = execute_inline(job, scenarios, 10)
    return unit, Evidence(name, {s.name: s for s in scenarios}, outcome.results, _references(name),
                          str(solution_path(name)))


def _references(name: str):
    """Scenario -> the PyTorch reference, computed in this process."""
    if hasattr(reference, "for_unit"):
        return reference.for_unit(registry.get(name))
    return lambda scenario: reference.compute(name, [scenario])[scenario.name]


def _perturbations(expected: np.ndarray, rng) -> list[np.ndarray]:
    scale = float(np.max(np.abs(expected))) or 1.0
    c = float(rng.uniform(1.13, 1.47))  # no batch size, class count or 1/N: an odd factor
    return [expected + 0.05 * scale * rng.normal(size=expected.shape),
            expected + 1e-5 * scale * rng.normal(size=expected.shape),
            c * expected, -c * expected]


@pytest.mark.parametrize("name", ["linear", "sigmoid", "softmax_ce", "mlp", "adam", "autograd"])
def test_property_random_perturbations_get_no_specific_diagnosis(name):
    """Random noise on the right answer, or an odd constant factor: no mistake may be named but
    the generic constant factor (which says only what it measured)."""
    rng = np.random.default_rng(7)
    for seed in (0, 1):
        unit, ev = _solution_evidence(name, seed)
        outcomes = {c.id: CheckResult(c.id, c.english, c.kind, None, True, c.points, c.points)
                    for c in unit.checks}
        for check in unit.checks:
            ref = ev.reference(check.scenario)
            for target in check.targets or (None,):
                expected = ref.get(target) if target and isinstance(ref, dict) else None
                if isinstance(ref, dict) and target == "grad":
                    leaf, expected = next(iter(ref["grads"].items()), (None, None))
                    target = f"{leaf}.grad"
                if not isinstance(expected, np.ndarray) or expected.size < 2:
                    continue
                for got in _perturbations(expected, rng):
                    failure = Failed("forced", target=target, got=got, expected=expected)
                    outcomes[check.id].passed = False
                    with np.errstate(all="ignore"):  # as the runner judges: formulas like -1/p may overflow
                        found = diagnosis.diagnose(unit, ev, check, failure, outcomes, {check.id: (check, failure)})
                    outcomes[check.id].passed = True
                    assert found is None or found.name == "constant_factor", \
                        f"seed {seed} {check.id} [{target}]: {found}"


# ---- issue 19, part 5: diagnoses that say what the code does -----------------------------------

@pytest.mark.parametrize("fixture", ["dx_kernel_flipped_in_scatter", "dx_full_convolution_not_flipped"])
def test_a_kernel_flip_is_named_by_what_the_gradient_shows(fixture):
    # a scatter loop with a flip where none belongs, and a full convolution without the flip it
    # needs: the same dx, told alike, never "not rotated" of code that rotates
    path = wrong_fixture("conv2d", fixture)
    report = grade_inline("conv2d", path, 11)
    named = [c.diagnosis for c in report.checks if not c.passed and c.diagnosis]
    assert named and {d.name for d in named} == {"dx_with_rotated_kernel"}, failure_summary(report)
    for d in named:
        assert "computed with the kernel rotated by 180 degrees" in d.message
        assert "not rotated" not in d.message and "no flip" in d.message


@pytest.mark.parametrize("tolerance", ["numgrad", "torch"])
def test_an_answer_off_by_one_factor_says_the_factor(tolerance):
    expected = np.array([[0.5, -1.0, 2.0], [0.25, 0.0, 3.0]])
    with pytest.raises(Failed) as caught:
        compare_arrays("dW", 2 * expected, expected, tolerance)
    assert "every entry is 2 times the expected value" in caught.value.message, caught.value.message
    with pytest.raises(Failed) as caught:
        compare_arrays("dW", -expected, expected, tolerance)
    assert "every entry is -1 times the expected value: the sign is flipped" in caught.value.message
    # not one factor (one entry off), or a factor of one number only: nothing claimed
    for got, want in [(expected + np.eye(2, 3), expected), (np.array([4.0]), np.array([2.0])),
                      (np.array([0.0, 6.0, 0.0]), np.array([0.0, 2.0, 0.0]))]:
        with pytest.raises(Failed) as caught:
            compare_arrays("dW", got, want, tolerance)
        assert "every entry" not in caught.value.message, caught.value.message
    assert compare.constant_ratio(expected * (1 + 1e-9), expected) is None  # right, not "1 times"


@pytest.mark.parametrize("name,fixture,words", [
    ("sigmoid", "sign_flipped", "every entry is -1 times the expected value: the sign is flipped"),
    ("mse", "missing_factor_2", "every entry is 0.5 times the expected value"),
])
def test_a_fixture_off_by_one_factor_is_told_the_factor(name, fixture, words):
    report = grade_inline(name, wrong_fixture(name, fixture), 11)
    compared = [c for c in report.checks if not c.passed and c.kind in ("numgrad", "torch")]
    assert compared and all(words in c.message for c in compared), failure_summary(report)


@pytest.mark.parametrize("case", ["rnn_states", "sigmoid_returns_float32", "sigmoid_casts_back"])
def test_float32_code_is_told_it_computes_in_float32(tmp_path, case):
    if case == "rnn_states":
        name, path = "rnn", wrong_fixture("rnn", "float32_states")
    else:
        name = "sigmoid"
        text = solution_path(name).read_text(encoding="utf-8")
        old = next(line for line in text.splitlines() if line.strip().startswith("out =") and "x" in line)
        indent = old[:len(old) - len(old.lstrip())]
        cast = ".astype(np.float64)" if case == "sigmoid_casts_back" else ""
        new = f"{indent}x32 = x.astype(np.float32)\n{indent}out = (1.0 / (1.0 + np.exp(-x32))){cast}"
        path = edited(tmp_path, name, (old + "\n", new + "\n"))
    report = grade_inline(name, path, 11)
    failed = [c for c in report.checks if not c.passed]
    assert failed, "full marks"
    lines = path.read_text(encoding="utf-8").splitlines()
    for c in failed:
        if c.id == "edge.extreme":
            continue  # exp(1e3) in float32 overflows: the float32 is still named if anything is
        assert c.diagnosis and c.diagnosis.name == "float32_computation", failure_summary(report)
        assert "computes in float32" in c.diagnosis.message
        assert "float32" in lines[c.diagnosis.line - 1], lines[c.diagnosis.line - 1]  # where it asks for it


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_a_precedence_slip_is_named(name):
    report = grade_inline(name, wrong_fixture(name, "missing_parentheses"), 11)
    named = {c.diagnosis.name for c in report.checks if not c.passed and c.diagnosis}
    assert named == {"missing_parentheses"}, failure_summary(report)
    message = next(c.diagnosis.message for c in report.checks if c.diagnosis)
    assert "parentheses" in message and "binds before subtraction" in message


def test_mse_shapes_keep_every_size_apart():
    for seed in range(40):
        scenarios = {s.name: s for s in registry.get("mse").scenarios(np.random.default_rng(seed))}
        n, d = scenarios["basic"]["pred"].shape
        assert len({n, d, n * d, n * d / 2}) == 4, (seed, n, d)
        assert scenarios["nd"]["pred"].shape[0] != n


@pytest.mark.parametrize("seed", [5, 9, 11])  # 5 and 9 named "divided by the batch size N" before
def test_mse_that_divides_by_nothing_is_not_told_it_divides_by_n(seed):
    report = grade_inline("mse", wrong_fixture("mse", "no_factor_no_mean"), seed)
    named = {c.diagnosis.name for c in report.checks if not c.passed and c.diagnosis}
    assert named == {"missing_factor_2_and_mean"}, failure_summary(report)


def test_a_size_factor_needs_two_shapes(tmp_path):
    """missing_1_over_n is named from two scenarios of different N (or a batch of one that
    passed), never from one scenario, where N may equal another size."""
    Probe = diagnose.Probe
    rule = next(m for m in mistakes.GENERIC if m.name == "missing_1_over_n")
    expected = np.arange(1.0, 7.0).reshape(3, 2)

    class Stub:
        exercise, learner_file = "softmax_ce", str(tmp_path / "x.py")

    check = type("C", (), {"id": "torch.dW", "scenario": "basic", "kind": "torch"})()
    one = Failed("f", target="dW", got=3 * expected, expected=expected)
    sizes = {"basic": {"N": 3}, "other": {"N": 4}}
    lone = Probe(Stub(), check, one, {}, lambda ev, s: sizes[s], {"torch.dW": (check, one)})
    assert not rule.test(lone)
    other = type("C", (), {"id": "edge.other", "scenario": "other", "kind": "edge"})()
    two = Failed("f", target="dW", got=4 * expected, expected=expected)
    both = Probe(Stub(), check, one, {}, lambda ev, s: sizes[s],
                 {"torch.dW": (check, one), "edge.other": (other, two)})
    assert rule.test(both)


def test_an_optimizer_that_never_stepped_is_not_told_what_its_step_did():
    # its constructor rejects dampening and weight_decay: in those scenarios no step ever ran
    path = wrong_fixture("sgd", "constructor_rejects_options")
    for seed in (11, 2026):
        report = grade_inline("sgd", path, seed)
        assert report.score < report.max_score
        named = set(diagnoses(report).values())
        assert not {"grads_modified_in_place", "state_aliases_caller_gradient", "error_in_forward"} & named, \
            failure_summary(report)
        for c in report.checks:
            if c.diagnosis:
                assert "forward" not in c.diagnosis.message, c.diagnosis.message


def test_a_function_or_constructor_error_is_not_called_a_forward_error(tmp_path):
    # clip_grad_norm is a function: the learner's own assert (only the 2-norm) is its own error
    text = solution_path("clip_grad_norm").read_text(encoding="utf-8")
    head = '    """Clip a dict of gradients'
    assert text.count(head) == 1
    body_start = text.index('"""', text.index(head) + len(head)) + 3
    text = text[:body_start] + "\n    assert norm_type == 2.0, 'only the 2-norm'" + text[body_start:]
    path = tmp_path / "clip_grad_norm.py"
    path.write_text(text, encoding="utf-8")
    report = grade_inline("clip_grad_norm", path, 11)
    assert report.score < report.max_score, "the inf norm is among the hidden inputs"
    assert "error_in_forward" not in diagnoses(report).values(), failure_summary(report)
    # a layer whose constructor raises: no forward ran either
    path = edited(tmp_path, "linear", ("        self.W = ", "        raise ValueError('not yet')\n        self.W = "))
    report = grade_inline("linear", path, 11)
    assert "error_in_forward" not in diagnoses(report).values(), failure_summary(report)


def test_a_0d_gradient_that_became_a_numpy_scalar_is_named():
    report = grade_inline("autograd", wrong_fixture("autograd", "grad_becomes_numpy_scalar"), 11)
    failed = [c for c in report.checks if not c.passed]
    assert [c.id for c in failed] == ["program.scalar_leaf"], failure_summary(report)
    assert failed[0].diagnosis.name == "grad_not_array"
    assert "numpy.float64" in failed[0].message and "not a 0-d array" in failed[0].message
