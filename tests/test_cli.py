"""The command line through Click's CliRunner: exit codes, JSON, clear one-line errors."""
from __future__ import annotations

import json
import subprocess

import pytest
from click.testing import CliRunner

from bpdrill import catalog
from bpdrill.practice import workspace
from bpdrill.cli.main import cli
from conftest import solution_path


@pytest.fixture
def run(fresh_workspace):
    def invoke(*args):
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return invoke


def test_check_solution_exits_0_with_full_marks(run):
    result = run("check", "linear", "sigmoid", "--solution", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert result.output.count("passed") == 2
    assert "seed 3" in result.output


def test_fresh_workspace_is_created_and_skeleton_exits_1(run, fresh_workspace):
    result = run("check", "linear", "--seed", "1")
    assert result.exit_code == 1
    assert "not started" in result.output
    assert (fresh_workspace / "linear.py").read_text() == workspace.skeleton_path("linear").read_text()
    assert {p.name for p in fresh_workspace.glob("*.py")} == {f"{n}.py" for n in catalog.names()}


def test_json_is_one_document_with_the_contract_fields(run, fresh_workspace):
    result = run("check", "linear", "adam", "--json", "--seed", "11")
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert doc["seed"] == 11
    assert doc["workspace"] == str(fresh_workspace.resolve())
    assert [e["name"] for e in doc["exercises"]] == ["linear", "adam"]
    for exercise in doc["exercises"]:
        assert set(exercise) >= {"name", "file", "score", "max_score", "status", "checks"}
        assert exercise["status"] == "not_started" and exercise["score"] == 0
        for c in exercise["checks"]:
            assert set(c) >= {"name", "kind", "target", "passed", "score", "max_score", "message"}
            assert c["kind"] in ("numgrad", "torch", "shape", "edge", "purity", "train")


def test_a_solved_exercise_in_the_workspace_passes(run, fresh_workspace):
    run("list")  # creates the workspace
    (fresh_workspace / "sigmoid.py").write_text(solution_path("sigmoid").read_text())
    result = run("check", "sigmoid", "--json")
    doc = json.loads(result.output)
    assert result.exit_code == 0
    assert doc["exercises"][0]["status"] == "passed"
    assert isinstance(doc["seed"], int)  # a fresh seed is drawn and reported


def test_no_name_checks_every_exercise(run):
    doc = json.loads(run("check", "--solution", "--json", "--seed", "2").output)
    assert [e["name"] for e in doc["exercises"]] == catalog.names()


@pytest.mark.parametrize("args,needle", [
    (("check", "lineer"), "unknown exercise 'lineer' (did you mean linear?)"),
    (("check", "linear", "--all"), "not both"),
    (("check", "--seed", "banana"), "banana"),
    (("check", "--bogus"), "No such option"),
    (("reset",), "name an exercise"),
    (("frobnicate",), "No such command"),
])
def test_usage_errors_exit_2_with_one_clear_line(run, args, needle):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 2, result.output
    assert needle in result.output
    assert "Traceback" not in result.output


def test_missing_workspace_file_exits_2_and_says_how_to_fix(run, fresh_workspace):
    run("list")
    (fresh_workspace / "linear.py").unlink()
    result = CliRunner().invoke(cli, ["check", "linear"])
    assert result.exit_code == 2
    assert "linear.py is missing" in result.output and "bpdrill reset linear" in result.output


def test_reset_keeps_the_old_attempt(run, fresh_workspace):
    run("list")
    mine = fresh_workspace / "linear.py"
    mine.write_text("# my attempt\n")
    result = run("reset", "linear")
    assert result.exit_code == 0
    kept = list((fresh_workspace / workspace.ATTEMPTS).glob("linear-*.py"))
    assert len(kept) == 1 and kept[0].read_text() == "# my attempt\n"
    assert mine.read_text() == workspace.skeleton_path("linear").read_text()


def test_init_creates_a_workspace_found_from_inside_it(tmp_path, monkeypatch):
    monkeypatch.delenv("BPDRILL_WORKSPACE", raising=False)
    target = tmp_path / "practice"
    result = CliRunner().invoke(cli, ["init", str(target)])
    assert result.exit_code == 0
    assert (target / "linear.py").is_file() and (target / workspace.MARKER).is_file()
    (target / "sub").mkdir()
    monkeypatch.chdir(target / "sub")
    doc = json.loads(CliRunner().invoke(cli, ["check", "linear", "--json"]).output)
    assert doc["workspace"] == str(target.resolve())


def test_workspace_option_beats_the_environment(tmp_path, run):
    other = tmp_path / "other"
    doc = json.loads(run("check", "linear", "--json", "--workspace", str(other)).output)
    assert doc["workspace"] == str(other.resolve())


def test_a_learner_edit_is_never_overwritten_by_first_use(run, fresh_workspace):
    fresh_workspace.mkdir()
    (fresh_workspace / "linear.py").write_text("# already mine\n")
    run("list")
    assert (fresh_workspace / "linear.py").read_text() == "# already mine\n"


def test_list_shows_every_exercise(run):
    result = run("list")
    assert result.exit_code == 0
    for name in catalog.names():
        assert name in result.output


def test_practising_in_the_kit_leaves_git_clean():
    root = workspace.kit_root()
    if root is None or not (root / ".git").exists():
        pytest.skip("not a clone")
    ignored = subprocess.run(["git", "check-ignore", "-q", "workspace/linear.py"], cwd=root)
    assert ignored.returncode == 0, "the kit's workspace/ must be ignored by git"


def test_workspace_is_found_the_same_way_from_any_folder_of_the_kit(monkeypatch):
    monkeypatch.delenv("BPDRILL_WORKSPACE", raising=False)
    root = workspace.kit_root()
    if root is None:
        pytest.skip("installed from a wheel")
    for folder in (root, root / "grader", root / "tests" / "fixtures"):
        assert workspace.resolve(cwd=folder) == root / "workspace"


def test_verbose_shows_passed_checks_and_the_worst_elements(run, fresh_workspace):
    run("list")
    wrong = (solution_path("linear").read_text()
             .replace("self.dW = self.x.T @ dout", "self.dW = (self.x.T @ dout) * 2"))
    (fresh_workspace / "linear.py").write_text(wrong)
    result = run("check", "linear", "-v", "--seed", "4")
    assert result.exit_code == 1
    assert "ok   dx matches the numerical gradient" in result.output
    assert "FAIL dW matches the numerical gradient [numgrad, dW]" in result.output
    assert "dW[" in result.output and "expected" in result.output  # worst elements


@pytest.mark.parametrize("args", [("--lang", "zh", "list"), ("list", "--lang", "zh")])
def test_lang_works_before_or_after_the_command(run, args):
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "工作区" in result.output or "练习" in result.output


def test_workspace_before_the_command_is_the_one_used_and_the_commands_own_wins(run, tmp_path):
    before, after = tmp_path / "before", tmp_path / "after"
    doc = json.loads(run("--workspace", str(before), "list", "--json").output)
    assert doc["workspace"] == str(before.resolve())
    doc = json.loads(run("--workspace", str(before), "list", "--json", "--workspace", str(after)).output)
    assert doc["workspace"] == str(after.resolve())


def test_exercise_names_match_without_regard_to_case(run):
    result = run("check", "LSTM", "Linear", "--solution", "--seed", "5")
    assert result.exit_code == 0, result.output
    assert "lstm" in result.output and "linear" in result.output


def test_a_mistyped_command_gets_did_you_mean(run):
    result = CliRunner().invoke(cli, ["chek", "linear"])
    assert result.exit_code == 2
    assert "did you mean check" in result.output
