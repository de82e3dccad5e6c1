"""A kit installed from a wheel, not a clone: init, drill and check work outside the repo.

Slow (a fresh virtual environment installs numpy, click and torch from the local index), so
it runs once, as one test.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REAL_HOME

ROOT = Path(__file__).resolve().parent.parent


def sh(*args, cwd, env, check=True):
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{args} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return result


@pytest.mark.slow
@pytest.mark.skipif(not (ROOT / "pyproject.toml").exists(), reason="needs the kit's source")
def test_wheel_installs_into_a_fresh_venv_and_drills_outside_the_repo(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BPDRILL_", "PYTHON", "VIRTUAL_ENV"))}
    env["BPDRILL_DATA"] = str(tmp_path / "data")
    # pip reads its configuration (an index, a cache) from the real home; bpdrill never sees it.
    pip_env = {**env, "HOME": REAL_HOME}
    sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
       "-w", tmp_path / "dist", ROOT, cwd=tmp_path, env=pip_env)
    wheel = next((tmp_path / "dist").glob("bpdrill-*.whl"))
    sh(sys.executable, "-m", "venv", tmp_path / "venv", cwd=tmp_path, env=env)
    venv = tmp_path / "venv" / "bin"
    sh(venv / "pip", "install", "-q", wheel, cwd=tmp_path, env=pip_env)
    bpdrill = venv / "bpdrill"

    away = tmp_path / "elsewhere"
    away.mkdir()
    # Outside any clone and with no workspace yet: a clear message, not a traceback.
    lost = sh(bpdrill, "check", "linear", cwd=away, env=env, check=False)
    assert lost.returncode == 2 and "bpdrill init DIR" in lost.stderr

    sh(bpdrill, "init", "practice", cwd=away, env=env)
    practice = away / "practice"
    assert (practice / "linear.py").is_file()

    started = sh(bpdrill, "drill", "linear", "--minutes", "5", cwd=practice, env=env)
    assert "Linear layer" in started.stdout

    graded = sh(bpdrill, "check", "linear", cwd=practice, env=env, check=False)
    assert graded.returncode == 1 and "not started" in graded.stdout and "drill linear" in graded.stdout

    reference = sh(venv / "python", "-c", "from bpdrill.practice.workspace import solution_path; "
                   "print(solution_path('linear'))", cwd=practice, env=env).stdout.strip()
    (practice / "linear.py").write_text(Path(reference).read_text())
    solved = sh(bpdrill, "check", "linear", cwd=practice, env=env, check=False)
    assert solved.returncode == 0, solved.stdout + solved.stderr
    assert "solved in" in solved.stdout
    assert "First full marks for linear" in solved.stdout, "the derivations ship in the wheel"
    assert "陷阱" in sh(bpdrill, "--lang", "zh", "explain", "linear", cwd=practice, env=env).stdout
    sh(bpdrill, "--lang", "zh", "init", "practice_zh", cwd=away, env=env)
    assert "你的任务" in (away / "practice_zh" / "linear.py").read_text(encoding="utf-8")
    assert "linear" in sh(bpdrill, "stats", cwd=practice, env=env).stdout

    # Interview rehearsal from the wheel: blank pages, the question bank and the schedule.
    sh(bpdrill, "drill", "sigmoid", "--interview", cwd=practice, env=env)
    page = (practice / "sigmoid.py").read_text()
    assert "raise NotImplementedError" in page and "(1 - s)" not in page
    asked = sh(bpdrill, "ask", "sigmoid_derivative", "--rating", "good", cwd=practice, env=env)
    assert "recorded: good" in asked.stdout
    assert "never practised" in sh(bpdrill, "today", cwd=practice, env=env).stdout
