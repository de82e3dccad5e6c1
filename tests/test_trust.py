"""Trust holes a new user finds: the tests leave your history alone; progress belongs to a
workspace and to the file as it is now; bad numbers, a locked, damaged or read-only history,
and a broken workspace each get one clear line; messages you act on say the right thing;
the README is enough to start."""
from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner

from bpdrill import catalog, history, workspace
from bpdrill.cli import cli
from conftest import REAL_DATA, skeleton_path, solution_path

ROOT = Path(__file__).resolve().parent.parent
ROOTED = hasattr(os, "geteuid") and os.geteuid() == 0


class FakeClock:
    def __init__(self, start: float = 1_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(history, "clock", fake)
    return fake


@pytest.fixture
def ws(tmp_path, monkeypatch):
    """A fresh workspace named by $BPDRILL_WORKSPACE (the data folder is the autouse one)."""
    folder = tmp_path / "ws"
    monkeypatch.setenv("BPDRILL_WORKSPACE", str(folder))
    monkeypatch.delenv("BPDRILL_LANG", raising=False)
    CliRunner().invoke(cli, ["list"], catch_exceptions=False)  # lays the skeletons
    return folder


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def bpdrill(*args, env=None, cwd=None, **kwargs):
    """bpdrill in a process of its own, as a learner runs it."""
    return subprocess.run([sys.executable, "-m", "bpdrill", *map(str, args)], capture_output=True, text=True,
                          env=env or dict(os.environ), cwd=cwd, timeout=120, **kwargs)


def solve(folder: Path, name: str) -> None:
    (folder / f"{name}.py").write_text(solution_path(name).read_text())


def listed(*args) -> dict:
    return {r["name"]: r for r in json.loads(run("list", "--json", *args).output)["exercises"]}


def records(data: Path) -> list[dict]:
    """The checks recorded in the history file in data (read from a copy: the file is not touched)."""
    original = data / "history.sqlite3"
    if not original.exists():
        return []
    with tempfile.TemporaryDirectory() as scratch:
        for suffix in ("", "-wal"):
            if Path(f"{original}{suffix}").exists():
                shutil.copyfile(f"{original}{suffix}", f"{scratch}/h.sqlite3{suffix}")
        db = sqlite3.connect(f"{scratch}/h.sqlite3")
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("SELECT * FROM checks")]
        db.close()
    return rows


# ---- the project's tests never touch the learner's own history ---------------------------

def test_the_tests_never_touch_the_learners_real_history(tmp_path, private_data_folder):
    mine = tmp_path / "ws"
    run("check", "linear", "--seed", "1", "--workspace", mine)
    bpdrill("check", "linear", "--seed", "1", "--workspace", mine)
    # A subprocess that drops BPDRILL_DATA falls back to HOME / XDG_DATA_HOME: moved as well.
    without = {k: v for k, v in os.environ.items() if k != "BPDRILL_DATA"}
    bpdrill("check", "linear", "--seed", "1", "--workspace", mine, env=without)
    assert private_data_folder != REAL_DATA and not private_data_folder.is_relative_to(REAL_DATA)
    assert len(records(private_data_folder)) == 2  # the runs did record, in the test's own folder
    assert [r for r in records(REAL_DATA) if r["workspace"] == str(mine.resolve())] == []


# ---- no traceback from bad options -------------------------------------------------------

@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
@pytest.mark.parametrize("args", [("check", "linear", "--timeout"), ("drill", "linear", "--minutes"),
                                  ("watch", "linear", "--interval"), ("watch", "linear", "--timeout")])
def test_non_finite_numbers_are_usage_errors_before_anything_is_touched(ws, private_data_folder, args, value):
    solve(ws, "linear")
    before = (ws / "linear.py").read_bytes()
    result = CliRunner().invoke(cli, [*args, value])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, (SystemExit, type(None)))
    assert "finite" in result.output or "range" in result.output
    assert (ws / "linear.py").read_bytes() == before and not (ws / workspace.ATTEMPTS).exists()
    assert records(private_data_folder) == []

