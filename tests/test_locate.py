"""The line at fault, found by tracing: the worker keeps what each statement wrote; the trusted
side compares it with every value the reference solution computes on the same inputs."""
from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

from bpdrill.core.diagnosis import FIRST_WRONG_VALUE
from bpdrill.grading import locate, tracer
from conftest import failure_summary, grade_inline, mistakes, solution_path, wrong_fixture


def run_traced(tmp_path, source: str, call: str):
    path = tmp_path / "traced.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    namespace = {"__file__": str(path)}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102 - the test's own code
    trace = tracer.Tracer(str(path), path.read_text())
    trace.run(lambda: eval(call, namespace))  # noqa: S307 - the test's own code
    return trace.events


def test_the_tracer_keeps_what_each_statement_wrote_in_order(tmp_path):
    events = run_traced(tmp_path, """
        import numpy as np

        class Layer:
            def backward(self, dout):
                self.dW = (dout
                           * 2.0)
                a, b = dout + 1.0, dout - 1.0
                n = dout.shape[0]
                acc = np.zeros_like(dout)
                for i in range(n):
                    acc[i] += dout[i]
                return a * b

        def run():
            return Layer().backward(np.arange(3.0))
        """, "run()")
    lines = [line for line, *_ in events]
    # a statement over two lines: by its first; a for, on each pass (and once more as it ends)
    assert lines == [6, 8, 9, 10, 11, 12, 11, 12, 11, 12, 11, 13, 16]
    values = dict((line, arrays) for line, arrays, *_ in events)
    np.testing.assert_array_equal(values[6][0], [0.0, 2.0, 4.0])
    assert [a.tolist() for a in values[8]] == [[1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]]
    assert [(a.tolist(), a.dtype.kind) for a in values[9]] == [(3, "i")]  # an int: kept exactly
    assert [a.tolist() for line, arrays, *_ in events if line == 11 for a in arrays] == [0, 1, 2, 2]  # i
    np.testing.assert_array_equal(events[-4][1][0], [0.0, 1.0, 2.0])  # acc once the loop is done
    np.testing.assert_array_equal(values[13][0], [-1.0, 0.0, 3.0])


def test_each_statement_knows_the_call_it_ran_in_and_who_made_it(tmp_path):
    """A call's value is what its callee computed: the callee's statements, which finish just
    before the calling statement, are told from the caller's by the call they ran in and the
    call that made it (the grader's own frames in between do not count)."""
    events = run_traced(tmp_path, """
        def square(v):
            w = v * v
            return w

        def run():
            a = 2.0
            b = square(a) + 1.0
            return b
        """, "run()")
    assert [line for line, *_ in events] == [7, 3, 4, 8, 9]
    call = {line: (c, parent) for line, _, c, parent in events}
    assert call[7] == call[8] == call[9] == (0, -1)  # run() was called from outside the file
    assert call[3] == call[4] == (1, 0)  # square() was called by run()


def test_values_are_found_again_up_to_rounding_and_with_infinities():
    right = locate.Values()
    a = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
    right.add(a)
    right.add(np.where(a > 0, a, -np.inf))
    assert a * (1 + 1e-12) in right
    assert np.where(a > 0, a, -np.inf) in right
    assert a * 1.01 not in right
    assert a.T not in right  # another shape is another value
    assert np.float64(3.5) not in right


def edited_statements(name: str, mistake_id: str) -> set[int]:
    """The first lines of the statements the fixture's edits wrote, in the written file."""
    mistake = next(m for m in mistakes(name) if m.id == mistake_id)
    text, lines = solution_path(name).read_text(encoding="utf-8"), set()
    for old, new in mistake.edits:
        start = text.index(old)
        text = text.replace(old, new)
        first = text[:start].count("\n") + 1
        lines |= set(range(first, first + new.count("\n") + 1))
    return {s.lineno for n in lines if (s := tracer.statements(text).get(n)) is not None}


# Mistakes whose gradient is computed several statements after the edit: before tracing, each
# was placed where the gradient is written (the dx / dW / return line), not at the edit.
MOVED = [("mha", "scale_sqrt_d_model"), ("lstm", "dc_missing_tanh_derivative"),
         ("gru", "dz_sign_flipped"), ("flash_attention", "rowsum_dO_O_missing"),
         ("groupnorm", "dx_missing_group_mean_term"), ("conv2d", "dx_kernel_flipped_in_scatter")]


def test_with_no_known_mistake_the_statement_is_still_named(tmp_path):
    """A slip no mistake of tanh's describes: dx = dout * (1 - t * t) with the cached output
    read from the wrong attribute's square root. No name, but the line is the edited one."""
    source = solution_path("tanh").read_text(encoding="utf-8")
    old = "dx = dout * (1.0 - t * t)"
    assert source.count(old) == 1
    path = tmp_path / "tanh.py"
    path.write_text(source.replace(old, "dx = dout * (1.0 - np.abs(t) ** 1.5)"), encoding="utf-8")
    line = source[:source.index(old)].count("\n") + 1
    report = grade_inline("tanh", path, 3)
    assert report.score < report.max_score
    found = [c.diagnosis for c in report.checks if not c.passed and c.diagnosis]
    assert found and all(d.name == FIRST_WRONG_VALUE and d.line == line for d in found), failure_summary(report)
    assert "goes wrong at this statement" in found[0].message


def test_a_right_answer_written_another_way_is_never_placed(tmp_path):
    """Intermediates of another decomposition are not in the solution's values: a right answer
    must still get no diagnosis at all (nothing fails, nothing is traced)."""
    source = solution_path("sigmoid").read_text(encoding="utf-8")
    start, end = source.index("# BEGIN TODO"), source.index("# END TODO")
    body = source[start:end]
    indent = body[body.index("\n") + 1:].split("s = ")[0] if "s = " in body else " " * 8
    other = (f"# BEGIN TODO\n{indent}one_minus = 1.0 - self.out\n{indent}local = self.out * one_minus\n"
             f"{indent}return local * dout\n{indent}")
    path = tmp_path / "sigmoid.py"
    path.write_text(source[:start] + other + source[end:], encoding="utf-8")
    report = grade_inline("sigmoid", path, 5)
    assert report.score == report.max_score, failure_summary(report)
    assert not [c for c in report.checks if c.diagnosis]


def test_the_trace_runs_in_the_isolated_worker_of_check(tmp_path, monkeypatch):
    """Through `bpdrill check --json` (real workers, forked from the zygote), not the tests'
    in-process path: the traced round reaches the worker and the line moves to the edit."""
    from click.testing import CliRunner

    from bpdrill.cli.main import cli
    ws = tmp_path / "ws"
    monkeypatch.setenv("BPDRILL_WORKSPACE", str(ws))
    CliRunner().invoke(cli, ["list"])
    (ws / "mha.py").write_text(wrong_fixture("mha", "scale_sqrt_d_model").read_text())
    lines = edited_statements("mha", "scale_sqrt_d_model")
    result = CliRunner().invoke(cli, ["check", "mha", "--json", "--seed", "3"])
    doc = json.loads(result.output)
    found = [c["diagnosis"] for c in doc["exercises"][0]["checks"] if c["diagnosis"]]
    assert found and {d["line"] for d in found} <= lines, (found, lines)


def edited_file(tmp_path, name: str, old: str, new: str):
    """The solution of name with one statement replaced: (path, the line of the new statement)."""
    source = solution_path(name).read_text(encoding="utf-8")
    assert source.count(old) == 1, old
    path = tmp_path / f"{name}.py"
    path.write_text(source.replace(old, new), encoding="utf-8")
    return path, source[:source.index(old)].count("\n") + 1


def first_diagnosis(name: str, path, seed: int):
    report = grade_inline(name, path, seed)
    assert report.score < report.max_score
    found = next((c.diagnosis for c in report.checks if not c.passed and c.diagnosis), None)
    assert found is not None, failure_summary(report)
    return found


# Each was placed elsewhere before the rule named in its comment (a new test of each rule).
RULES = [
    ("lstm", "dc_next_dropped"),  # a right value in the wrong role: judged by the solution's dc_total
    ("mse", "divided_by_batch_size"),  # an integer, n = self.diff.shape[0], judged by the solution's n
    ("conv2d", "stride_ignored_in_backward"),  # a slice, rows = slice(di, di + H_out), by the solution's
    ("softmax_ce", "cache_modified_in_place"),  # d = self.probs, then d[...] -= 1: the alias wants a copy
    ("softmax", "cache_modified_in_place"),  # s = self.out read first, then s *= ...: the change in place
    ("tanh", "cache_modified_in_place"),  # t = self.out; t **= 2: the change in place
    ("autograd", "sum_axis_wrong"),  # a call's value is what its callee (sum's closure) computed
    ("autograd", "no_unbroadcast"),  # grads[parent] = ...: a dict keyed by tensors, read by identity
]


@pytest.mark.parametrize("name,mistake_id", MOVED + RULES, ids=[f"{n}/{m}" for n, m in MOVED + RULES])
def test_a_diagnosis_names_the_statement_where_the_value_goes_wrong(name, mistake_id):
    path = wrong_fixture(name, mistake_id)
    lines = edited_statements(name, mistake_id)
    for seed in (0, 1):
        first = first_diagnosis(name, path, seed)
        assert first.line in lines, f"seed {seed}: {first.name} at {first.line}, edited {lines}"
        assert f":{first.line})" in first.message


# One statement edited as a learner would (old -> new): each was placed elsewhere before the
# rule in its comment.
EDITS = [
    # the return of a method or closure, judged against what the solution's same function returns
    ("skipgram", "return dout * dv_c, dout * dU", "return dv_c, dU"),
    ("autograd", "return (grad * out,)", "return (out,)"),
    # the statement of the method a mistake names (wrong_backward_rule in __mul__) that goes wrong
    ("value", "other.grad += self.data * out.grad", "other.grad += other.data * out.grad"),
    # the loop that calls each _backward decides the order
    ("value", "for node in reversed(order):", "for node in order:"),
    ("autograd", "for node in reversed(self._topological_order()):", "for node in self._topological_order():"),
    # a loop that leaves out a value of its variable the solution's loop visits
    ("rnn", "for t in reversed(range(T)):", "for t in reversed(range(1, T)):"),
    # list items by position; the caller's arrays changed in place through the loop's alias
    ("clip_grad_norm", "norms = [np.sqrt(np.sum(g * g)) for g in grads.values()]",
     "norms = [np.sum(g * g) for g in grads.values()]"),
    ("clip_grad_norm", "coef = min(1.0, max_norm / (total_norm + 1e-6))", "coef = max_norm / (total_norm + 1e-6)"),
    # an array filled part by part is judged once full, each part by the elements it wrote
    ("rope", "dx[..., 1::2] = -de * sin + do * cos", "dx[..., 1::2] = de * sin + do * cos"),
    ("rope", "dx[..., 0::2] = de * cos + do * sin", "dx[..., 0::2] = de * cos - do * sin"),
    # an optimiser's parameters compared after several steps: traced though no array pair is kept
    ("sgd", "g = g + self.weight_decay * p", "g = g - self.weight_decay * p"),
    # a dict keyed by tensors, read without their __hash__
    ("autograd", "grads = {self: grad}", "grads = {self: np.ones_like(self.data)}"),
    ("autograd", "grads[parent] = grads[parent] + parent_grad if parent in grads else parent_grad",
     "grads[parent] = parent_grad"),
]


@pytest.mark.parametrize("name,old,new", EDITS, ids=[f"{n}/{o[:30]}" for n, o, _ in EDITS])
def test_a_diagnosis_names_the_edited_statement(tmp_path, name, old, new):
    path, line = edited_file(tmp_path, name, old, new)
    for seed in (0, 1):
        first = first_diagnosis(name, path, seed)
        assert first.line == line, f"seed {seed}: {first.name} at {first.line}, edited {line}"


def test_an_order_from_the_leaves_up_is_named_at_its_loop(tmp_path):
    """Value's _backward calls walked in topological order, not reversed: every operation
    followed by * 1.7 leaves a.grad at 0, which no rule's mistake explains. It is the traversal,
    named at the loop that orders the calls (not wrong_backward_rule in __mul__)."""
    path, line = edited_file(tmp_path, "value", "for node in reversed(order):", "for node in order:")
    first = first_diagnosis("value", path, 0)
    assert (first.name, first.line) == ("traversal_order", line)


def test_a_statement_written_as_the_solutions_points_at_its_wrong_input(tmp_path):
    """SGD with Nesterov replaced by plain momentum: `p -= self.lr * g` is the solution's own
    statement, so its wrong value comes from g: the statement that wrote g is named. Momentum
    mistakes show only from the second step: every step is judged (the optimiser kind is
    stateful)."""
    path, line = edited_file(tmp_path, "sgd", """                if self.nesterov:
                    g = g + self.momentum * self.buf[name]
                else:
                    g = self.buf[name]""", "                g = self.buf[name]")
    assert first_diagnosis("sgd", path, 0).line == line
    path, line = edited_file(tmp_path, "sgd", "g = g + self.momentum * self.buf[name]",
                             "g = self.buf[name] + self.momentum * g")
    assert first_diagnosis("sgd", path, 0).line == line


def test_a_gradient_a_known_mistake_explains_gets_no_second_entry(tmp_path):
    """AdamW's decay rebinds p (p = p * ...): not_in_place names it. The checks of the same
    gradient that no mistake explains are not given a first_wrong_value entry of their own."""
    path, _ = edited_file(tmp_path, "adamw", "p *= 1 - self.lr * self.weight_decay",
                          "p = p * (1 - self.lr * self.weight_decay)")
    report = grade_inline("adamw", path, 0)
    names = {c.diagnosis.name for c in report.checks if not c.passed and c.diagnosis}
    assert "not_in_place" in names and FIRST_WRONG_VALUE not in names, failure_summary(report)


def test_a_dict_item_by_a_variable_key_is_traced(tmp_path):
    events = run_traced(tmp_path, """
        import numpy as np

        def run():
            m = {"a": np.zeros(2)}
            for name in ["a"]:
                m[name] = m[name] + 1.0
            return None
        """, "run()")
    assert [a.tolist() for line, arrays, *_ in events if line == 7 for a in arrays] == [[1.0, 1.0]]


def test_with_no_statement_named_after_the_gradient_the_first_wrong_value_is_found(tmp_path):
    """An optimiser updates params through p -= ...: no statement writes `params` by name. The
    statements that lead to the last one are walked; a dict item written by a variable key is
    judged by the solution's values under the same name (self.v[name])."""
    source = """
        import numpy as np

        class Opt:
            def __init__(self, params):
                self.params, self.v = params, {k: np.zeros_like(p) for k, p in params.items()}

            def step(self, grads):
                for name, p in self.params.items():
                    self.v[name] = 0.5 * self.v[name] + np.abs(grads[name])
                    p -= 0.1 * self.v[name]
        """
    events = run_traced(tmp_path, source, 'Opt({"w": np.array([1.0, 2.0])}).step({"w": np.array([-1.0, 3.0])})')
    right = locate.Values()
    right.add(np.array([1.0, 2.0]))
    right.add(np.array([-1.0, 3.0]))
    right.named["self.v[name]"] = locate.Values(exact=True)
    right.named["self.v[name]"].add(np.array([-1.0, 3.0]))  # the solution's v: 0.5 * v + g
    text = textwrap.dedent(source)
    assert locate.at_fault(text, events, right, "params") == (10, True)
    del right.named["self.v[name]"]  # |g| is no right value either: found without the name too
    assert locate.at_fault(text, events, right, "params") == (10, True)
    right.add(np.array([1.0, 3.0]))  # with |g| a right value somewhere, only the name tells
    assert locate.at_fault(text, events, right, "params")[0] != 10


def test_a_pattern_line_the_trace_cannot_judge_stays(tmp_path):
    """GELU's mode test turned round: the code pattern names the `if`, which a trace does not
    judge (it assigns nothing); the first wrong value is in the branch below, and the line
    stays at the `if`."""
    path, line = edited_file(tmp_path, "gelu", 'if self.approximate == "tanh":\n            t = np.tanh(',
                             'if self.approximate == "none":\n            t = np.tanh(')
    first = first_diagnosis("gelu", path, 0)
    assert first.line == line, (first.name, first.line, line)


def test_a_modified_alias_is_the_binding_or_the_change(tmp_path):
    from bpdrill.core.places import MODIFIED_ALIAS, code_line
    path = tmp_path / "alias.py"
    path.write_text(textwrap.dedent("""
        class A:
            def only_changed(self, y):
                n = y.shape[0]
                d = self.probs
                d[range(n), y] -= 1.0
                return d

            def read_first(self, dout):
                s = self.out
                row = (dout * s).sum(axis=-1, keepdims=True)
                s *= dout - row
                return s

            def changed_whole(self, dout):
                t = self.out
                t **= 2
                return dout * (1.0 - t)

            def copied(self, y):
                d = self.probs.copy()
                d[range(3), y] -= 1.0
                return d
        """), encoding="utf-8")
    assert code_line(str(path), "A.only_changed", MODIFIED_ALIAS) == 5
    assert code_line(str(path), "A.read_first", MODIFIED_ALIAS) == 12
    assert code_line(str(path), "A.changed_whole", MODIFIED_ALIAS) == 17
    assert code_line(str(path), "A.copied", MODIFIED_ALIAS) is None
