"""Shared fixtures: where the fixture files are, and ways to grade a file.

`grade_inline` runs the worker's own code (bpdrill.worker.run_job) inside the test process.
It is for the project's own trusted files only (solutions and the fixtures in
tests/fixtures), to sweep hundreds of seeds quickly; everything the CLI does goes through
a real worker process, and the tests of the CLI and of isolation use that path.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from bpdrill import catalog, history, runner, worker
from bpdrill.isolation import WorkerOutcome
from bpdrill.workspace import skeleton_path, solution_path

FIXTURES = Path(__file__).parent / "fixtures"
EXERCISES = catalog.names()

# Where the person running the tests keeps their own practice history, found before any test
# changes the environment. No test may write there (see private_data_folder below).
REAL_DATA = history.data_dir()
REAL_HOME = os.environ.get("HOME", "")


@pytest.fixture(autouse=True)
def private_data_folder(tmp_path_factory, monkeypatch):
    """Every test gets its own, empty data folder, so running the tests records nothing in the
    learner's real history. HOME, XDG_DATA_HOME and APPDATA are moved too: a subprocess that
    drops BPDRILL_DATA from its environment still lands in a temporary folder."""
    scratch = tmp_path_factory.mktemp("private")
    monkeypatch.setenv("BPDRILL_DATA", str(scratch / "data"))
    for variable in ("HOME", "XDG_DATA_HOME", "APPDATA"):
        monkeypatch.setenv(variable, str(scratch / variable.lower()))
    return scratch / "data"


def execute_inline(job: dict, arrays: dict, timeout: float) -> WorkerOutcome:
    with np.errstate(all="ignore"):  # wrong fixtures overflow on purpose; a worker would capture it
        result, out_arrays = worker.run_job(job, arrays)
    return WorkerOutcome(result, out_arrays)


def grade_inline(name: str, path, seed: int):
    """The ExerciseReport for one trusted file, graded without a worker process."""
    return runner.run_checks({name: Path(path)}, seed, execute=execute_inline, jobs=1)[0]


def fixture_files(kind: str) -> list[tuple[str, Path]]:
    """(exercise, file) for every fixture under tests/fixtures/<kind>/<exercise>/."""
    return [(name, path) for name in EXERCISES
            for path in sorted((FIXTURES / kind / name).glob("*.py"))]


def expectations(path: Path) -> dict:
    """The `# expect-<key>: value` lines at the top of a wrong-implementation fixture."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines()[:10]:
        m = re.match(r"#\s*expect-([a-z]+):\s*(.+?)\s*$", line)
        if m:
            found[m[1]] = [v.strip() for v in m[2].split(",")]
    return found


def failure_summary(report) -> str:
    return "\n".join(f"  {c.name} [{c.kind}, {c.target}]: {c.message}"
                     for c in report.checks if not c.passed) or "  (every check passed)"


@pytest.fixture
def fresh_workspace(tmp_path, monkeypatch):
    """An empty folder named as the workspace through $BPDRILL_WORKSPACE."""
    ws = tmp_path / "ws"
    monkeypatch.setenv("BPDRILL_WORKSPACE", str(ws))
    return ws


__all__ = ["FIXTURES", "EXERCISES", "REAL_DATA", "REAL_HOME", "grade_inline", "fixture_files", "expectations",
           "failure_summary", "skeleton_path", "solution_path"]
