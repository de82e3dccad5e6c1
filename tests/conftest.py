"""Shared fixtures: where the fixture files are, and ways to grade a file.

Correct variants are whole files (tests/fixtures/correct/<exercise>/*.py). Wrong ones are
small named edits of the solution (tests/fixtures/wrong/<exercise>.toml), applied to the
current solution and written once per test session to a temporary folder as
<exercise>/<mistake id>.py: the grader imports a real file and reports lines in it.

`grade_inline` runs the worker's own code (bpdrill.grading.worker.run_job) inside the test process.
It is for the project's own trusted files only (solutions and the fixtures in
tests/fixtures), to sweep hundreds of seeds quickly; everything the CLI does goes through
a real worker process, and the tests of the CLI and of isolation use that path.
"""
from __future__ import annotations

import atexit
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from bpdrill import catalog
from bpdrill.practice import history
from bpdrill.core import protocol
from bpdrill.grading import runner, worker
from bpdrill.grading.isolation import WorkerOutcome
from bpdrill.practice.workspace import skeleton_path, solution_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

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


def execute_inline(job: dict, scenarios: list, timeout: float) -> WorkerOutcome:
    with np.errstate(all="ignore"):  # wrong fixtures overflow on purpose; a worker would capture it
        result, out_arrays = worker.run_job(job, scenarios)
    import_error, results = protocol.decode_result(result, out_arrays, [s.name for s in scenarios])
    return WorkerOutcome(import_error, results)


def grade_fresh(name: str, path, seed: int):
    """The ExerciseReport for one trusted file, graded without a worker process."""
    return runner.run_checks({name: Path(path)}, seed, execute=execute_inline, jobs=1,
                             keep_references=False)[0]


@lru_cache(maxsize=4096)
def _graded(name: str, path: str, seed: int, stamp: tuple):
    return grade_fresh(name, path, seed)


def grade_inline(name: str, path, seed: int):
    """grade_fresh, kept for the test process: several tests read the verdict on the same trusted
    file and seed (the wrong-fixture claims of test_grading and test_diagnose). Keyed by the
    file's modification time and size too; tests only read the report."""
    stat = os.stat(path)
    return _graded(name, str(path), seed, (stat.st_mtime_ns, stat.st_size))


class FixtureEditError(Exception):
    """A wrong fixture's edit does not apply exactly once to the current solution."""


@dataclass(frozen=True)
class Mistake:
    """One wrong implementation: edits (old, new) applied in order to the solution."""
    exercise: str
    id: str
    target: tuple[str, ...]
    diagnosis: str  # the name the grader gives the mistake, or "none"
    why: str
    edits: tuple[tuple[str, str], ...]

    def apply(self, text: str) -> str:
        """text (the solution) with every edit applied; FixtureEditError unless each `old`
        occurs exactly once when its turn comes."""
        for number, (old, new) in enumerate(self.edits, 1):
            count = text.count(old)
            if count != 1:
                raise FixtureEditError(
                    f"tests/fixtures/wrong/{self.exercise}.toml, mistake {self.id!r}, edit {number}: "
                    f"the old text occurs {count} times in solutions/{self.exercise}.py "
                    f"(exactly once expected):\n{old}")
            text = text.replace(old, new)
        return text


def mistakes(name: str) -> list[Mistake]:
    """The wrong fixtures of exercise name, in the order of its .toml file."""
    path = FIXTURES / "wrong" / f"{name}.toml"
    table = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return [Mistake(name, m["id"], tuple(m["target"]), m["diagnosis"], m.get("why", ""),
                    tuple((e["old"], e["new"]) for e in m["edit"]))
            for m in table.get("mistake", [])]


@lru_cache(maxsize=None)
def _wrong_files() -> dict[Path, Mistake]:
    """Every wrong fixture applied to its solution, written once per process."""
    folder = Path(tempfile.mkdtemp(prefix="bpdrill-wrong-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    files = {}
    for name in EXERCISES:
        solution = solution_path(name).read_text(encoding="utf-8")
        (folder / name).mkdir()
        for mistake in mistakes(name):
            path = folder / name / f"{mistake.id}.py"
            path.write_text(mistake.apply(solution), encoding="utf-8")
            files[path] = mistake
    return files


def fixture_files(kind: str) -> list[tuple[str, Path]]:
    """(exercise, file) for every fixture: the files under tests/fixtures/correct/<exercise>/,
    or the wrong fixtures written from tests/fixtures/wrong/<exercise>.toml."""
    if kind == "wrong":
        return [(m.exercise, path) for path, m in _wrong_files().items()]
    return [(name, path) for name in EXERCISES
            for path in sorted((FIXTURES / kind / name).glob("*.py"))]


def wrong_fixture(name: str, mistake_id: str) -> Path:
    """The written file of one wrong fixture."""
    return next(p for p, m in _wrong_files().items() if (m.exercise, m.id) == (name, mistake_id))


def expectations(path: Path) -> dict:
    """What a wrong fixture expects: {"target": [...], "diagnosis": [name or "none"]}."""
    mistake = _wrong_files()[Path(path)]
    return {"target": list(mistake.target), "diagnosis": [mistake.diagnosis]}


def failure_summary(report) -> str:
    return "\n".join(f"  {c.name} [{c.kind}, {c.target}]: {c.message}"
                     for c in report.checks if not c.passed) or "  (every check passed)"


def sweep(quick, rest):
    """A `seeds` parametrisation in two parts: quick (the README's test command) and the rest
    of the sweep, marked `sweep` (`pytest -m sweep`, which .ci/run also runs)."""
    return pytest.mark.parametrize("seeds", [quick, pytest.param(rest, marks=pytest.mark.sweep)],
                                   ids=["quick", "sweep"])


@pytest.fixture(autouse=True, scope="session")
def shared_reference_cache(tmp_path_factory):
    """PyTorch references kept for the whole session (every xdist worker shares them), never in
    the learner's data folder; no background filling while tests run."""
    folder = tmp_path_factory.getbasetemp().parent / "references"
    old = {k: os.environ.get(k) for k in ("BPDRILL_CACHE", "BPDRILL_PREFETCH")}
    os.environ.update({"BPDRILL_CACHE": str(folder), "BPDRILL_PREFETCH": "0"})
    yield folder
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


class FakeClock:
    """The history's clock, moved by hand: a drill's time without waiting for it."""

    def __init__(self, start: float = 1_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(history, "clock", fake)
    return fake


class Watch:
    """`bpdrill watch ARGS` in a process of its own on the workspace ws, as a learner runs it.
    Threads read its output as it comes (a line the pipe's buffer holds is never waited for)."""

    def __init__(self, ws: Path, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "bpdrill", "watch", *args],
                                     env={**os.environ, "BPDRILL_WORKSPACE": str(ws)},
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []  # what wait_for read of its output, line by line
        self.out = self.err = ""  # the rest of its output, and its stderr, after stop()
        self._stdout: queue.Queue = queue.Queue()
        self._stderr: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(self.proc.stdout, self._stdout.put), daemon=True),
                         threading.Thread(target=self._read, args=(self.proc.stderr, self._stderr.append), daemon=True)]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, keep) -> None:
        for line in stream:
            keep(line)

    def wait_for(self, text: str, seconds: float = 60) -> None:
        """Read its output until a line holds text; AssertionError after seconds without one."""
        deadline = time.monotonic() + seconds
        while self.proc.poll() is None or not self._stdout.empty():
            try:
                line = self._stdout.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.lines.append(line)
            if text in line:
                return
        raise AssertionError(f"no {text!r} within {seconds} s (or it ended): {self.lines}")

    def stop(self) -> int:
        """Ctrl-C, as a learner stops it: its exit code (killed after 15 s without ending)."""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            for reader in self._readers:
                reader.join(timeout=15)
            rest = []
            while not self._stdout.empty():
                rest.append(self._stdout.get())
            self.out, self.err = "".join(rest), "".join(self._stderr)
        return self.proc.returncode


@contextmanager
def watching(ws: Path, *args: str):
    """A Watch, stopped with Ctrl-C when the block ends (also when it fails)."""
    watch = Watch(ws, *args)
    try:
        yield watch
    finally:
        watch.stop()


@pytest.fixture
def fresh_workspace(tmp_path, monkeypatch):
    """An empty folder named as the workspace through $BPDRILL_WORKSPACE."""
    ws = tmp_path / "ws"
    monkeypatch.setenv("BPDRILL_WORKSPACE", str(ws))
    return ws


__all__ = ["FIXTURES", "EXERCISES", "REAL_DATA", "REAL_HOME", "grade_inline", "grade_fresh", "fixture_files", "expectations",
           "mistakes", "wrong_fixture", "FixtureEditError", "failure_summary", "skeleton_path", "solution_path", "Watch", "watching"]
