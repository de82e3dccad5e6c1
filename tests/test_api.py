"""`import bpdrill` as a library: bpdrill.check(...) -> Report (SPEC section 4)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import bpdrill
from bpdrill.cli.main import cli
from bpdrill.practice import history
from conftest import solution_path, wrong_fixture


def test_import_bpdrill_stays_light():
    probe = "import sys, bpdrill; print(sorted(m for m in ('numpy', 'torch', 'click') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"')) == []
    assert callable(bpdrill.load_ipython_extension)


def test_check_returns_the_report_of_check_json(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "linear.py").write_text(wrong_fixture("linear", "db_not_summed").read_text())
    report = bpdrill.check("Linear", workspace=ws, seed=4)
    assert isinstance(report, bpdrill.Report)
    assert (report.name, report.seed, report.status) == ("linear", 4, "partial")
    assert 0 < report.score < report.max_score
    assert report.score == sum(c.score for c in report.checks)
    diagnosed = [c for c in report.checks if c.diagnosis]
    assert diagnosed and {c.diagnosis["name"] for c in diagnosed} == {"bias_not_summed"}
    assert all(isinstance(c.diagnosis["line"], int) for c in diagnosed)

    # Recorded like any check of the workspace.
    assert [c["score"] for c in history.History.open().checks("linear", str(ws))] == [report.score]
    # The same document as `check --json` for the same file and seed.
    cli_doc = json.loads(CliRunner().invoke(cli, ["check", "linear", "--json", "--seed", "4",
                                                  "--workspace", str(ws)]).stdout)
    assert report.to_json()["exercises"] == cli_doc["exercises"]

    page = report._repr_html_()
    assert "linear" in page and f"{report.score}/{report.max_score}" in page
    assert "looks like:" in page and f"line {diagnosed[0].diagnosis['line']}" in page
    assert "<script" not in page
    assert "looks like:" in str(report)  # the terminal's text


def test_check_solution_and_mistakes_in_the_call(tmp_path):
    assert bpdrill.check("sigmoid", solution=True, seed=2).passed
    with pytest.raises(bpdrill.BpdrillError, match="did you mean sigmoid"):
        bpdrill.check("sigmod", workspace=tmp_path)


def test_html_escapes_what_the_learner_printed(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "sigmoid.py").write_text("print('<script>alert(1)</script>')\n" + solution_path("sigmoid").read_text())
    page = bpdrill.check("sigmoid", workspace=ws, seed=1)._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;" in page
