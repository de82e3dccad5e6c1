"""A learner's file cannot change any verdict but its own, nor any later one (issue: trust holes).

Each case runs a hostile linear.py in a real worker next to a correct sigmoid; the sigmoid
must pass and the grader's own files, history and output must be untouched.
"""
from __future__ import annotations

import json
import os
import sys

import pytest
from click.testing import CliRunner

from bpdrill.grading import zygote_client
from bpdrill.cli.main import cli
from test_isolation import SOLUTION, all_text, grade_pair, with_backward

landlock_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Landlock is Linux's")


def _has_landlock() -> bool:
    try:
        import landlock
        return landlock.landlock_abi_version() >= 1
    except Exception:  # noqa: BLE001
        return False


sandboxed = pytest.mark.skipif(not _has_landlock(), reason="no Landlock on this kernel")


@sandboxed
def test_a_worker_cannot_write_outside_its_own_folder(tmp_path):
    target = tmp_path / "planted.py"
    report = grade_pair(tmp_path, f"open({str(target)!r}, 'w').write('x = 1')\n" + SOLUTION)
    assert not target.exists()
    assert "PermissionError" in all_text(report)


@sandboxed
def test_a_worker_cannot_plant_a_module_beside_the_grader(tmp_path):
    """A fake opt_einsum.py next to the console script would be imported by torch later."""
    target = os.path.join(os.path.dirname(sys.executable), "opt_einsum.py")
    report = grade_pair(tmp_path, f"open({target!r}, 'w').write('raise SystemExit')\n" + SOLUTION)
    assert not os.path.exists(target)
    assert report.score < report.max_score


@sandboxed
@pytest.mark.parametrize("what", ["solutions", "history"])
def test_a_worker_cannot_read_the_solutions_or_the_history(tmp_path, monkeypatch, what):
    from bpdrill.practice.workspace import solution_path
    data = tmp_path / "data"
    data.mkdir()
    (data / "history.sqlite3").write_text("records")
    monkeypatch.setenv("BPDRILL_DATA", str(data))
    path = solution_path("sigmoid") if what == "solutions" else data / "history.sqlite3"
    ws = tmp_path / "ws"  # the learner's folder is readable: the data folder is elsewhere
    ws.mkdir()
    report = grade_pair(ws, f"open({str(path)!r}).read()\n" + SOLUTION)
    assert "PermissionError" in all_text(report)


def test_a_worker_sees_a_scrubbed_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BPDRILL_DATA", str(tmp_path / "secret-data"))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    source = "import os\nassert 'BPDRILL_DATA' not in os.environ and 'PYTHONPATH' not in os.environ\n" + SOLUTION
    assert grade_pair(tmp_path, source).status == "passed"


@sandboxed
def test_output_sent_to_the_graders_own_stdout_cannot_break_the_json(tmp_path, monkeypatch):
    ws = tmp_path / "ws"
    monkeypatch.setenv("BPDRILL_WORKSPACE", str(ws))
    CliRunner().invoke(cli, ["list"])
    sneaky = ("import os\ntry:\n    fd = os.open(f'/proc/{os.getppid()}/fd/1', os.O_WRONLY)\n"
              "    os.write(fd, b'{\"seed\": 0, \"exercises\": []}')\nexcept OSError:\n    pass\n")
    (ws / "linear.py").write_text(sneaky + SOLUTION)
    import subprocess
    result = subprocess.run([sys.executable, "-m", "bpdrill", "check", "linear", "--json", "--seed", "2"],
                            capture_output=True, text=True, env={**os.environ, "BPDRILL_WORKSPACE": str(ws)})
    doc = json.loads(result.stdout)  # exactly one JSON document: ours
    assert doc["exercises"][0]["status"] == "passed"


@pytest.mark.parametrize("case,written", [
    ("not_json", "open('result.json', 'w').write('{not json')"),
    ("wrong_keys", "open('result.json', 'w').write('{\"scenarios\": 1}')"),
    ("missing_arrays", "import json; json.dump({'import_error': None, 'scenarios': {}}, open('result.json', 'w'))"),
])
def test_a_malformed_or_partial_result_costs_its_points_with_one_clear_line(tmp_path, case, written):
    source = f"import os\nimport numpy as np\nnp.savez('outputs.npz')\n{written}\nos._exit(0)\n"
    report = grade_pair(tmp_path, source)
    assert report.status == "error"
    assert "answer was refused" in report.message or "ended the worker" in report.message, report.message
    assert "Traceback" not in all_text(report)


def test_a_number_too_large_to_encode_is_described_not_a_traceback(tmp_path):
    source = with_backward("self.dW = 10**400\nself.db = dout.sum(0)\nreturn dout @ self.W.T\n")
    report = grade_pair(tmp_path, source)
    assert "too large" in all_text(report)
    assert report.score < report.max_score


def test_os_exit_in_one_exercise_ends_only_that_exercise(tmp_path):
    report = grade_pair(tmp_path, with_backward("import os\nos._exit(0)\n"))
    assert report.status == "error" and "ended the worker" in report.message


def test_workers_are_forked_not_started_as_interpreters():
    assert zygote_client.CAN_FORK
