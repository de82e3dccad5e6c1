"""A class (`bpdrill grade`) and the services' formats (Gradescope, GitHub Classroom)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from bpdrill.grading import classroom, formats, runner
from bpdrill.grading.report import RunReport
from conftest import skeleton_path, solution_path, wrong_fixture

SEED = 5

# A learner file that attacks the others: it must cost its own row and nothing else.
HOSTILE = (Path(__file__).parent / "hostile" / "overwrites_the_class.py").read_text()


@pytest.fixture
def three_learners(tmp_path):
    room = tmp_path / "class"
    for learner in ("ada", "bo", "cy"):
        (room / learner).mkdir(parents=True)
    (room / "ada" / "linear.py").write_text(solution_path("linear").read_text())
    (room / "ada" / "sigmoid.py").write_text(solution_path("sigmoid").read_text())
    (room / "bo" / "linear.py").write_text(wrong_fixture("linear", "db_not_summed").read_text())
    (room / "bo" / "sigmoid.py").write_text(skeleton_path("sigmoid").read_text())
    (room / "cy" / "sigmoid.py").write_text(HOSTILE)  # and no linear.py at all
    return room


def test_grade_gives_one_right_row_per_learner_and_exercise(three_learners):
    before = {p: p.read_text() for p in three_learners.glob("*/*.py")}
    order = ("cy", "ada", "bo")  # the hostile learner first: its worker runs before the others'
    rows = classroom.grade([three_learners / learner for learner in order], ["linear", "sigmoid"], SEED,
                           timeout=2.0)
    got = {(r.learner, r.exercise): r for r in rows}
    assert [(r.learner, r.exercise) for r in rows] == [(learner, name) for learner in order
                                                      for name in ("linear", "sigmoid")]
    assert got["ada", "linear"].status == "passed" and got["ada", "linear"].score == got["ada", "linear"].max_score
    assert got["ada", "sigmoid"].status == "passed"
    assert got["bo", "linear"].status == "partial"
    assert "bias_not_summed@" in got["bo", "linear"].diagnoses
    assert got["bo", "sigmoid"].status == "not_started"
    assert got["cy", "linear"].status == "missing"
    assert got["cy", "sigmoid"].status == "error" and got["cy", "sigmoid"].score == 0
    # The hostile file reached no one's file.
    assert {p: p.read_text() for p in three_learners.glob("*/*.py")} == before

    table = list(csv.DictReader(io.StringIO(classroom.to_csv(rows))))
    assert tuple(table[0]) == classroom.COLUMNS
    assert [(r["learner"], r["exercise"], r["status"]) for r in table] == \
        [(r.learner, r.exercise, r.status) for r in rows]
    doc = json.loads(json.dumps(classroom.to_json(rows, SEED)))
    assert doc["seed"] == SEED and len(doc["rows"]) == 6


@pytest.fixture(scope="module")
def mixed_report(tmp_path_factory):
    """linear wrong (a diagnosed mistake), sigmoid right: one run, real workers."""
    folder = tmp_path_factory.mktemp("mixed")
    (folder / "linear.py").write_text(wrong_fixture("linear", "db_not_summed").read_text())
    files = {"linear": folder / "linear.py", "sigmoid": solution_path("sigmoid")}
    return RunReport(SEED, str(folder), runner.run_checks(files, SEED))


def test_gradescope_results_json_is_valid(mixed_report):
    doc = json.loads(json.dumps(formats.gradescope(mixed_report)))
    assert set(doc) >= {"score", "tests"}
    assert isinstance(doc["score"], (int, float))
    assert doc["tests"], "one test per check"
    for test in doc["tests"]:
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] in ("passed", "failed")
        assert isinstance(test["output"], str)
        assert test.get("visibility", "visible") in ("hidden", "after_due_date", "after_published", "visible")
    assert doc["score"] == sum(t["score"] for t in doc["tests"]) == sum(e.score for e in mixed_report.exercises)
    failed = [t for t in doc["tests"] if t["status"] == "failed"]
    assert failed and all(t["name"].startswith("linear: ") for t in failed)
    assert any("looks like:" in t["output"] and "line " in t["output"] for t in failed)


def test_github_classroom_result(mixed_report):
    doc = json.loads(json.dumps(formats.github(mixed_report)))
    assert doc["version"] == 1 and doc["status"] == "fail"
    assert doc["max_score"] == sum(e.max_score for e in mixed_report.exercises)
    assert {t["status"] for t in doc["tests"]} == {"pass", "fail"}
    assert sum(t["score"] for t in doc["tests"]) == sum(e.score for e in mixed_report.exercises)
    diagnosed = [t for t in doc["tests"] if t["status"] == "fail" and t["line_no"]]
    assert diagnosed and all(t["filename"].endswith("linear.py") for t in diagnosed)


def test_grade_command_writes_csv_and_json_rows(three_learners, tmp_path):
    from click.testing import CliRunner
    from bpdrill.cli.main import cli
    folders = [str(three_learners / learner) for learner in ("ada", "bo", "cy")]
    result = CliRunner().invoke(cli, ["grade", *folders, "-e", "sigmoid", "-e", "LINEAR", "--seed", str(SEED),
                                      "--timeout", "2"])
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["learner"], r["exercise"], r["status"]) for r in table] == [
        ("ada", "sigmoid", "passed"), ("ada", "linear", "passed"),
        ("bo", "sigmoid", "not_started"), ("bo", "linear", "partial"),
        ("cy", "sigmoid", "error"), ("cy", "linear", "missing")]
    assert {r["seed"] for r in table} == {str(SEED)}

    out = tmp_path / "rows.json"
    result = CliRunner().invoke(cli, ["grade", folders[0], "-e", "sigmoid", "--format", "json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert [(r["learner"], r["score"], r["max_score"]) for r in doc["rows"]] == [("ada", 8, 8)]


def test_check_format_gradescope_and_github_print_one_document(tmp_path):
    from click.testing import CliRunner
    from bpdrill.cli.main import cli
    for fmt, key in (("gradescope", "tests"), ("github", "version")):
        result = CliRunner().invoke(cli, ["check", "sigmoid", "--solution", "--seed", "3", "--format", fmt])
        assert result.exit_code == 0, result.output
        assert key in json.loads(result.stdout)
    result = CliRunner().invoke(cli, ["check", "sigmoid", "--solution", "--json", "--format", "github"])
    assert result.exit_code == 2


def test_a_class_in_one_pool_grades_each_learner_as_check_does(three_learners):
    sets = [{"linear": three_learners / "bo" / "linear.py", "sigmoid": three_learners / "bo" / "sigmoid.py"},
            {"sigmoid": three_learners / "ada" / "sigmoid.py"}]
    together = runner.run_batches(sets, SEED, timeout=2.0)
    alone = [runner.run_checks(files, SEED, timeout=2.0) for files in sets]
    assert [[r.to_json() for r in reports] for reports in together] == \
        [[r.to_json() for r in reports] for reports in alone]
