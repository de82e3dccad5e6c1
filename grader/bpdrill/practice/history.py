"""Practice history in one SQLite file: every check, every drill, every hint.

The file lives in a per-user data folder ($BPDRILL_DATA, else the platform's usual place) and
is written only inside transactions, so a kill -9 mid-write leaves it as it was before that
write or after it, never half of one. Times are seconds since the epoch from `clock`, which
tests replace with a fake.

Trouble with the file never stops a command, and is handled in one place (History._trouble):
a file locked by another process, a read-only folder or a damaged file each get one warning
that names the file and what to do; a damaged file is set aside (kept) and a new one started;
whatever can still be read is read.
"""
from __future__ import annotations

import functools
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from bpdrill.i18n import t
from bpdrill.paths import data_dir

clock = time.time  # replaced by tests with a fake clock
FILENAME = "history.sqlite3"
LOCK_TIMEOUT = 10.0  # seconds a write waits for another process's write lock (tests shorten it)

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
    solution_seen INTEGER NOT NULL DEFAULT 0,
    restored INTEGER NOT NULL DEFAULT 0   -- ended green by an earlier attempt copied back: no time
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
    drill_id INTEGER REFERENCES drills(id),
    file_hash TEXT              -- sha256 of the file checked: "passes now" is about this content
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
# Columns added after the first release: (table, column, declaration), added to older files.
ADDED_COLUMNS = (("checks", "file_hash", "TEXT"), ("drills", "restored", "INTEGER NOT NULL DEFAULT 0"))


EXTRA_SCHEMAS: list[str] = []  # tables other modules keep in this file (srs, interview): created on open too


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
    restored: int = 0

    def elapsed(self) -> float:
        return (self.ended if self.ended is not None else clock()) - self.started

    @property
    def solved(self) -> bool:
        return self.green_seconds is not None


def _reading(default):
    """A read: on trouble, the warning (once) and default instead of an exception."""
    def wrap(method):
        @functools.wraps(method)
        def guarded(self, *args, **kwargs):
            if self.db is None:
                return default
            try:
                return method(self, *args, **kwargs)
            except (sqlite3.Error, OSError) as exc:
                self._trouble(exc)
                return default
        return guarded
    return wrap


def _writing(default):
    """A write: skipped, with the reason said once, when the file cannot be written."""
    def wrap(method):
        @functools.wraps(method)
        def guarded(self, *args, **kwargs):
            if not self.writable:
                self._say(self._why_not_written)
                return default
            try:
                return method(self, *args, **kwargs)
            except (sqlite3.Error, OSError) as exc:
                self._trouble(exc)
                self._say(self._why_not_written)
                return default
        return guarded
    return wrap


class History:
    """The practice record. Open it with History.open(); every method commits or rolls back.

    Reads and writes never raise for trouble with the file: see _trouble. `warn` receives
    each warning (one line for the learner); the command line prints it on stderr.
    """

    def __init__(self, path: Path, warn=None):
        self.path = path
        self.db: sqlite3.Connection | None = None
        self.writable = False
        self.warn = warn or (lambda message: None)
        self._why_not_written = ""
        self._said: set[str] = set()
        self._set_aside = False

    @classmethod
    def open(cls, path: Path | None = None, warn=None) -> "History":
        hist = cls(path or data_dir() / FILENAME, warn)
        hist._connect()
        return hist

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    def _connect(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), timeout=LOCK_TIMEOUT, isolation_level=None)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")  # readers never block a writer; atomic commits
            self.db.execute("PRAGMA synchronous=NORMAL")
            for script in (SCHEMA, *EXTRA_SCHEMAS):
                self.db.executescript(script)
            for table, column, declaration in ADDED_COLUMNS:
                if column not in {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            self.writable = True
        except (sqlite3.Error, OSError) as exc:
            self._trouble(exc)

    # ---- trouble: the one place that decides what a problem with the file means ----------
    def _trouble(self, exc: Exception) -> None:
        """Say what went wrong and carry on with what still works."""
        kind = _kind_of_trouble(exc)
        self.writable = False
        if kind == "damaged" and not self._set_aside:
            self._set_aside = True
            self.close()
            kept = self._move_aside()
            if kept is not None:
                self._say(t("warning: the practice history {path} was damaged ({error}); it is kept at {kept} "
                            "and a new history has started", path=self.path, error=exc, kept=kept))
                self._connect()
                return
        if kind == "locked":
            # Reads still work (the file is in WAL mode); writes would wait again and fail.
            self._why_not_written = t(
                "warning: the practice history {path} is locked by another program (another bpdrill "
                "still running?); this is not recorded. Run the command again when it has finished.",
                path=self.path)
            self._say(self._why_not_written)
            return
        if kind == "read_only":
            # Said when something is to be written: reading (list, stats) needs no warning.
            self._why_not_written = t(
                "warning: cannot write the practice history {path} ({error}); this is not recorded. "
                "Make that folder writable, or set BPDRILL_DATA to a folder you can write.",
                path=self.path, error=exc)
            if self.db is None or not _readable(self.db):
                self.close()
                self.db = _open_read_only(self.path)
            return
        self.close()
        self._why_not_written = t(
            "warning: no practice history this time: cannot use {path} ({error}). "
            "Set BPDRILL_DATA to a folder you can write to keep your progress.", path=self.path, error=exc)
        self._say(self._why_not_written)

    def _move_aside(self) -> Path | None:
        """Rename the damaged file (and its journal) to a new name beside it; None if that fails."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for n in range(1, 1000):
            kept = self.path.with_name(f"{self.path.name}.damaged-{stamp}" + (f"-{n}" if n > 1 else ""))
            if kept.exists():
                continue
            try:
                os.replace(self.path, kept)
                for suffix in ("-wal", "-shm"):
                    side = self.path.with_name(self.path.name + suffix)
                    if side.exists():
                        os.replace(side, kept.with_name(kept.name + suffix))
            except OSError:
                return None
            return kept
        return None

    def _say(self, message: str) -> None:
        if message and message not in self._said:
            self._said.add(message)
            self.warn(message)

    def _write(self, sql: str, args: tuple = ()) -> int:
        with self.db:  # BEGIN ... COMMIT, or ROLLBACK on an exception
            self.db.execute("BEGIN IMMEDIATE")
            cursor = self.db.execute(sql, args)
            return cursor.lastrowid

    @_writing(False)
    def can_write(self) -> bool:
        """Whether a write goes through now (takes and releases the write lock)."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
        return True

    # ---- drills ---------------------------------------------------------------------------
    @_reading(None)
    def active_drill(self, workspace: str) -> Drill | None:
        row = self.db.execute("SELECT * FROM drills WHERE workspace = ? AND ended IS NULL "
                              "ORDER BY started DESC LIMIT 1", (workspace,)).fetchone()
        return Drill(**dict(row)) if row else None

    @_writing(None)
    def start_drill(self, exercise: str, workspace: str, limit_seconds: float) -> Drill | None:
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

    @_reading(None)
    def drill(self, drill_id: int) -> Drill | None:
        row = self.db.execute("SELECT * FROM drills WHERE id = ?", (drill_id,)).fetchone()
        return Drill(**dict(row)) if row else None

    @_writing(None)
    def end_drill(self, drill_id: int, solution_seen: bool = False) -> None:
        self._write("UPDATE drills SET ended = ?, solution_seen = solution_seen + ? WHERE id = ? "
                    "AND ended IS NULL", (clock(), int(solution_seen), drill_id))

    @_reading(())
    def drills(self, exercise: str | None = None, workspace: str | None = None) -> list[Drill]:
        where, args = _where(exercise=exercise, workspace=workspace)
        return [Drill(**dict(r)) for r in self.db.execute(f"SELECT * FROM drills{where} ORDER BY started", args)]

    # ---- checks ---------------------------------------------------------------------------
    @_writing(False)
    def record_check(self, exercise: str, workspace: str, score: int, max_score: int, status: str,
                     seed: int, drill: Drill | None, file_hash: str | None = None,
                     restored: bool = False) -> bool:
        """Record one exercise's check. Returns True when this check solved the running drill.

        file_hash identifies the file's content as checked (None when unknown), so that a file
        changed since can be told from the one that passed. restored: the file is an earlier
        attempt copied back (interview.looks_restored); full marks then end the drill as
        restored, with no time to green.
        """
        now = clock()
        solved = False
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            drill_id = drill.id if drill and drill.exercise == exercise else None
            self.db.execute("INSERT INTO checks (exercise, workspace, at, score, max_score, status, seed, "
                            "drill_id, file_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (exercise, workspace, now, score, max_score, status, seed, drill_id, file_hash))
            if drill_id is not None and score == max_score and restored:
                self.db.execute("UPDATE drills SET restored = 1, ended = ? WHERE id = ? AND ended IS NULL",
                                (now, drill_id))
            elif drill_id is not None and score == max_score:
                cursor = self.db.execute(
                    "UPDATE drills SET green_seconds = ? - started, ended = ? WHERE id = ? "
                    "AND green_seconds IS NULL AND ended IS NULL", (now, now, drill_id))
                solved = cursor.rowcount == 1
        return solved

    @_reading(())
    def checks(self, exercise: str | None = None, workspace: str | None = None) -> list[dict]:
        where, args = _where(exercise=exercise, workspace=workspace)
        rows = self.db.execute(f"SELECT * FROM checks{where} ORDER BY at, id", args)
        return [{"file_hash": None, **dict(r)} for r in rows]  # a read-only older file has no file_hash

    # ---- hints ----------------------------------------------------------------------------
    @_writing(None)
    def next_hint_level(self, exercise: str, workspace: str, deepest: int) -> int:
        """One level deeper than last time, counted in a running drill; past the deepest level,
        the deepest again, not counted again."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            row = self.db.execute("SELECT level FROM hint_levels WHERE workspace = ? AND exercise = ?",
                                  (workspace, exercise)).fetchone()
            before = row["level"] if row else 0
            if before >= deepest:
                return deepest
            self.db.execute("INSERT OR REPLACE INTO hint_levels VALUES (?, ?, ?)", (workspace, exercise, before + 1))
            self.db.execute("UPDATE drills SET hints = hints + 1 WHERE workspace = ? AND exercise = ? "
                            "AND ended IS NULL", (workspace, exercise))
        return before + 1

    @_writing(None)
    def reset_hints(self, exercise: str, workspace: str) -> None:
        self._write("DELETE FROM hint_levels WHERE workspace = ? AND exercise = ?", (workspace, exercise))


def _where(**equal) -> tuple[str, tuple]:
    """' WHERE a = ? AND b = ?' for the values given (None: no condition), and the arguments."""
    given = {column: value for column, value in equal.items() if value is not None}
    if not given:
        return "", ()
    return " WHERE " + " AND ".join(f"{column} = ?" for column in given), tuple(given.values())


def _kind_of_trouble(exc: Exception) -> str:
    """'locked', 'read_only', 'damaged' or 'other'."""
    name = getattr(exc, "sqlite_errorname", "")  # Python 3.11+; else the message says it
    text = str(exc).lower()
    if name in ("SQLITE_BUSY", "SQLITE_LOCKED") or "locked" in text:
        return "locked"
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text or "not a database" in text:
        return "damaged"
    if isinstance(exc, PermissionError) or name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")) \
            or "readonly" in text or "read-only" in text or "unable to open" in text:
        return "read_only"
    return "other"


def _readable(db: sqlite3.Connection) -> bool:
    try:
        db.execute("SELECT 1 FROM checks LIMIT 1").fetchall()
        return True
    except sqlite3.Error:
        return False


def _open_read_only(path: Path) -> sqlite3.Connection | None:
    """The file opened for reading only, or None. In a folder that cannot be written, SQLite
    cannot make the shared-memory file WAL mode needs: then the file is read as immutable."""
    if not path.is_file():
        return None
    uri = path.resolve().as_uri()
    for options in ("?mode=ro", "?mode=ro&immutable=1"):
        try:
            db = sqlite3.connect(uri + options, uri=True, timeout=LOCK_TIMEOUT, isolation_level=None)
        except sqlite3.Error:
            continue
        db.row_factory = sqlite3.Row
        if _readable(db):
            return db
        db.close()
    return None
