"""Practice history in one SQLite file: every check, every drill, every hint.

The file lives in a per-user data folder ($BPDRILL_DATA, else the platform's usual place) and
is written only inside transactions, so a kill -9 mid-write leaves it as it was before that
write or after it, never half of one. Times are seconds since the epoch from `clock`, which
tests replace with a fake.
"""
from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

clock = time.time  # replaced by tests with a fake clock

SCHEMA = """
CREATE TABLE IF NOT EXISTS drills (
    id INTEGER PRIMARY KEY,
    exercise TEXT NOT NULL,
    workspace TEXT NOT NULL,
    started REAL NOT NULL,
    limit_seconds REAL NOT NULL,
    ended REAL,                 -- set when solved, abandoned for another drill, or given up
    green_seconds REAL,         -- time to the first full-marks check; may exceed the limit
    hints INTEGER NOT NULL DEFAULT 0,
    solution_seen INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS checks (
    id INTEGER PRIMARY KEY,
    exercise TEXT NOT NULL,
    workspace TEXT NOT NULL,
    at REAL NOT NULL,
    score INTEGER NOT NULL,
    max_score INTEGER NOT NULL,
    status TEXT NOT NULL,
    seed INTEGER NOT NULL,
    drill_id INTEGER REFERENCES drills(id)
);
CREATE TABLE IF NOT EXISTS hint_levels (   -- how deep the hints for an exercise have gone
    workspace TEXT NOT NULL,
    exercise TEXT NOT NULL,
    level INTEGER NOT NULL,
    PRIMARY KEY (workspace, exercise)
);
CREATE INDEX IF NOT EXISTS checks_by_exercise ON checks (exercise, at);
CREATE INDEX IF NOT EXISTS drills_by_exercise ON drills (exercise, started);
"""


EXTRA_SCHEMAS: list[str] = []  # tables other modules keep in this file (srs, interview): created on open too


def data_dir() -> Path:
    """$BPDRILL_DATA, else the platform's per-user data folder for bpdrill."""
    if os.environ.get("BPDRILL_DATA"):
        return Path(os.environ["BPDRILL_DATA"]).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "bpdrill"


@dataclass
class Drill:
    id: int
    exercise: str
    workspace: str
    started: float
    limit_seconds: float
    ended: float | None
    green_seconds: float | None
    hints: int
    solution_seen: int

    def elapsed(self) -> float:
        return (self.ended if self.ended is not None else clock()) - self.started

    @property
    def solved(self) -> bool:
        return self.green_seconds is not None


class History:
    """The practice record. Open it with History.open(); every method commits or rolls back."""

    def __init__(self, connection: sqlite3.Connection, path: Path):
        self.db, self.path = connection, path

    @classmethod
    def open(cls, path: Path | None = None) -> "History":
        path = path or data_dir() / "history.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(path), timeout=10, isolation_level=None)  # explicit transactions
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA journal_mode=WAL")  # readers never block a writer; atomic commits
        db.execute("PRAGMA synchronous=NORMAL")
        for script in (SCHEMA, *EXTRA_SCHEMAS):
            db.executescript(script)
        return cls(db, path)

    def close(self) -> None:
        self.db.close()

    def _write(self, sql: str, args: tuple = ()) -> int:
        with self.db:  # BEGIN ... COMMIT, or ROLLBACK on an exception
            self.db.execute("BEGIN IMMEDIATE")
            cursor = self.db.execute(sql, args)
            return cursor.lastrowid

    # ---- drills ---------------------------------------------------------------------------
    def active_drill(self, workspace: str) -> Drill | None:
        row = self.db.execute("SELECT * FROM drills WHERE workspace = ? AND ended IS NULL "
                              "ORDER BY started DESC LIMIT 1", (workspace,)).fetchone()
        return Drill(**dict(row)) if row else None

    def start_drill(self, exercise: str, workspace: str, limit_seconds: float) -> Drill:
        now = clock()
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            # One drill at a time per workspace: a new one ends the last, unsolved.
            self.db.execute("UPDATE drills SET ended = ? WHERE workspace = ? AND ended IS NULL",
                            (now, workspace))
            self.db.execute("INSERT OR REPLACE INTO hint_levels VALUES (?, ?, 0)", (workspace, exercise))
            cursor = self.db.execute(
                "INSERT INTO drills (exercise, workspace, started, limit_seconds) VALUES (?, ?, ?, ?)",
                (exercise, workspace, now, limit_seconds))
        return self.drill(cursor.lastrowid)

    def drill(self, drill_id: int) -> Drill:
        return Drill(**dict(self.db.execute("SELECT * FROM drills WHERE id = ?", (drill_id,)).fetchone()))

    def end_drill(self, drill_id: int, solution_seen: bool = False) -> None:
        self._write("UPDATE drills SET ended = ?, solution_seen = solution_seen + ? WHERE id = ? "
                    "AND ended IS NULL", (clock(), int(solution_seen), drill_id))

    def drills(self, exercise: str | None = None) -> list[Drill]:
        sql, args = "SELECT * FROM drills", ()
        if exercise:
            sql, args = sql + " WHERE exercise = ?", (exercise,)
        return [Drill(**dict(r)) for r in self.db.execute(sql + " ORDER BY started", args)]

    # ---- checks ---------------------------------------------------------------------------
    def record_check(self, exercise: str, workspace: str, score: int, max_score: int, status: str,
                     seed: int, drill: Drill | None) -> bool:
        """Record one exercise's check. Returns True when this check solved the running drill."""
        now = clock()
        solved = False
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            drill_id = drill.id if drill and drill.exercise == exercise else None
            self.db.execute("INSERT INTO checks (exercise, workspace, at, score, max_score, status, seed, "
                            "drill_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (exercise, workspace, now, score, max_score, status, seed, drill_id))
            if drill_id is not None and score == max_score:
                cursor = self.db.execute(
                    "UPDATE drills SET green_seconds = ? - started, ended = ? WHERE id = ? "
                    "AND green_seconds IS NULL AND ended IS NULL", (now, now, drill_id))
                solved = cursor.rowcount == 1
        return solved

    def checks(self, exercise: str | None = None) -> list[sqlite3.Row]:
        sql, args = "SELECT * FROM checks", ()
        if exercise:
            sql, args = sql + " WHERE exercise = ?", (exercise,)
        return list(self.db.execute(sql + " ORDER BY at, id", args))

    # ---- hints ----------------------------------------------------------------------------
    def next_hint_level(self, exercise: str, workspace: str, deepest: int) -> int:
        """One level deeper than last time (capped at deepest); counted in a running drill."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            row = self.db.execute("SELECT level FROM hint_levels WHERE workspace = ? AND exercise = ?",
                                  (workspace, exercise)).fetchone()
            level = min((row["level"] if row else 0) + 1, deepest)
            self.db.execute("INSERT OR REPLACE INTO hint_levels VALUES (?, ?, ?)", (workspace, exercise, level))
            self.db.execute("UPDATE drills SET hints = hints + 1 WHERE workspace = ? AND exercise = ? "
                            "AND ended IS NULL", (workspace, exercise))
        return level

    def reset_hints(self, exercise: str, workspace: str) -> None:
        self._write("DELETE FROM hint_levels WHERE workspace = ? AND exercise = ?", (workspace, exercise))


@dataclass
class ExerciseStats:
    exercise: str
    attempts: int  # drills started
    solved: int  # drills that reached full marks
    best_seconds: float | None  # fastest time to green
    median_seconds: float | None
    last_score: tuple | None  # (score, max_score) of the latest check
    best_score: tuple | None
    trend: str  # "faster", "slower", "steady" or "" (too few solved drills to say)
    hints: int
    over_time: int  # solved drills that took longer than their limit

    def to_json(self) -> dict:
        return {"exercise": self.exercise, "attempts": self.attempts, "solved": self.solved,
                "best_seconds": self.best_seconds, "median_seconds": self.median_seconds,
                "last_score": list(self.last_score) if self.last_score else None,
                "best_score": list(self.best_score) if self.best_score else None,
                "trend": self.trend, "hints": self.hints, "over_time": self.over_time}


def trend(times: list[float]) -> str:
    """Compare the last solved drill with the median of the ones before it (10% either way)."""
    if len(times) < 2:
        return ""
    before = statistics.median(times[:-1])
    if times[-1] < 0.9 * before:
        return "faster"
    if times[-1] > 1.1 * before:
        return "slower"
    return "steady"


def exercise_stats(history: History, exercise: str, keep=None) -> ExerciseStats:
    """keep(drill) -> bool chooses the drills counted (interview mode's are timed apart)."""
    drills = [d for d in history.drills(exercise) if keep is None or keep(d)]
    times = [d.green_seconds for d in drills if d.solved]
    checks = history.checks(exercise)
    last = (checks[-1]["score"], checks[-1]["max_score"]) if checks else None
    best = max(((c["score"], c["max_score"]) for c in checks), key=lambda s: s[0] / max(s[1], 1),
               default=None)
    return ExerciseStats(
        exercise, len(drills), len(times), min(times) if times else None,
        statistics.median(times) if times else None, last, best, trend(times),
        sum(d.hints for d in drills), sum(1 for d in drills if d.solved and d.green_seconds > d.limit_seconds))
