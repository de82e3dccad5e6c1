"""Interview mode: a drill on a blank page, no hints, plain diagnoses, timed apart from practice;
and the record of mock interviews.

An interview drill is an ordinary drill (the drills table: the clock, the time to green)
marked in interview_drills, so `check` and `watch` time it as usual while `stats` shows its
times apart from practice. A mock round is one row of mocks with its summary as JSON.
"""
from __future__ import annotations

import ast
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bpdrill.practice import blank, drill, history, progress, srs, workspace
from bpdrill import catalog, i18n
from bpdrill.grading import registry
from bpdrill.core import source
from bpdrill.practice.history import History

RESTORE_SECONDS = 90  # green this soon after the blank page, with an old file: restored, not solved

SCHEMA = """
CREATE TABLE IF NOT EXISTS interview_drills (  -- drills run in interview mode (blank page, no hints)
    drill_id INTEGER PRIMARY KEY REFERENCES drills(id),
    mock_id INTEGER                             -- the mock round it was part of, if any
);
CREATE TABLE IF NOT EXISTS mocks (
    id INTEGER PRIMARY KEY,
    started REAL NOT NULL,
    ended REAL,
    minutes REAL NOT NULL,
    summary TEXT NOT NULL DEFAULT '{}'          -- JSON: {"parts": [...]}
);
"""

if SCHEMA not in history.EXTRA_SCHEMAS:
    history.EXTRA_SCHEMAS.append(SCHEMA)  # created by History.open, under its error handling


# ---- the blank page ---------------------------------------------------------------------

def is_blank(ws: Path, name: str) -> bool:
    """The file is a fresh blank page, in either language."""
    path = ws / f"{name}.py"
    try:
        text = workspace.read_text(path, ws)
    except (OSError, workspace.WorkspaceError):
        return False
    return any(text == blank.blank_for(name, lang) for lang in ("en", "zh"))


def lay_blank(ws: Path, name: str) -> Path | None:
    """A blank page for name in the workspace; the old attempt kept. Returns where it went."""
    kept = None if is_blank(ws, name) else workspace.reset(ws, name)
    path = ws / f"{name}.py"
    tmp = path.with_suffix(".py.tmp")
    tmp.write_text(blank.blank_for(name, i18n.language()), encoding="utf-8")
    os.replace(tmp, path)
    return kept


def start(hist: History, ws: Path, name: str, minutes: float | None, mock_id: int | None = None) -> drill.Started:
    """An interview drill: a blank page, the clock started, the drill marked as interview mode."""
    limit = 60 * (minutes if minutes is not None else catalog.get(name).minutes)
    kept = lay_blank(ws, name)
    started = hist.start_drill(name, str(ws), limit)
    if started is None:  # the history could not record it (the warning says why)
        return drill.Started(None, ws / f"{name}.py", kept)
    with hist.db:
        hist.db.execute("BEGIN IMMEDIATE")
        hist.db.execute("INSERT INTO interview_drills (drill_id, mock_id) VALUES (?, ?)", (started.id, mock_id))
    return drill.Started(started, ws / f"{name}.py", kept)


def drill_ids(hist: History) -> set[int]:
    if hist is None or hist.db is None:
        return set()
    return {r["drill_id"] for r in hist.db.execute("SELECT drill_id FROM interview_drills")}


def is_interview(hist: History, drill_obj) -> bool:
    return drill_obj is not None and drill_obj.id in drill_ids(hist)


def plain_names(hist: History | None, running) -> set[str]:
    """The exercises whose diagnoses are plain (interview mode): the one an interview drill is
    running on, and no other."""
    return {running.exercise} if is_interview(hist, running) else set()


def active(hist: History | None, ws: Path, name: str | None = None):
    """The running interview drill in this workspace (of name, if given), or None."""
    if hist is None or hist.db is None:
        return None
    running = hist.active_drill(str(ws))
    if running is None or (name is not None and running.exercise != name) or not is_interview(hist, running):
        return None
    return running


def _code(text: str):
    """What a file computes, for comparison: its syntax tree without docstrings (comments and
    layout never reach the tree); the lines of code when it does not parse."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return [line for _, line in source.code_lines(text)]
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def earlier_versions(ws: Path, name: str) -> list[str]:
    """The texts a learner could copy back: every kept attempt of name, and the solution."""
    texts = []
    attempts = ws / workspace.ATTEMPTS
    for path in sorted(attempts.glob(f"{name}-*.py")) if attempts.is_dir() else ():
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
    texts.append(workspace.solution_path(name).read_text(encoding="utf-8"))
    return texts


def looks_restored(hist: History | None, running, ws: Path, name: str, path: Path) -> bool:
    """An interview drill of name turning green within RESTORE_SECONDS of its blank page, with
    a file whose code is an earlier attempt's or the solution's: copied back, not written."""
    if running is None or running.exercise != name or running.solved or not is_interview(hist, running):
        return False
    if running.elapsed() > RESTORE_SECONDS:
        return False
    try:
        mine = _code(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return False
    return any(_code(text) == mine for text in earlier_versions(ws, name))


def note_check(hist: History | None, running, reports) -> None:
    """After a check during a drill: remember the mistakes it was diagnosed with (for its rating)."""
    if hist is None or hist.db is None or running is None:
        return
    names = [c.diagnosis.name for r in reports if r.name == running.exercise
             for c in r.checks if c.diagnosis is not None]
    srs.Deck(hist).note_diagnoses(running.id, names)


# ---- picking ----------------------------------------------------------------------------

@lru_cache(maxsize=None)
def gradeable() -> tuple[str, ...]:
    """The exercises with a grader module: the ones a mock round can set."""
    found = []
    for name in catalog.names():
        try:
            registry.get(name)
        except ImportError:
            continue
        found.append(name)
    return tuple(found)


def last_drilled(hist: History) -> list[str]:
    """The exercise drilled last, if any: what is due is served first, but never straight back."""
    drills = hist.drills()
    return [drills[-1].exercise] if drills else []


def pick_exercise(hist: History, deck: srs.Deck, avoid=(), allowed=None) -> str:
    """The most overdue exercise among allowed (not one of avoid, not the one just drilled),
    else the weakest (drill.weakness: never drilled, last unsolved, slow), not one of the last
    drill.SPACING drilled while others remain; ties in the order of the catalog."""
    pool = list(allowed if allowed is not None else catalog.names())
    allowed = [n for n in pool if n not in avoid] or pool
    due = deck.pick_exercise(allowed, avoid=last_drilled(hist))
    if due is not None:
        return due
    recent = [d.exercise for d in reversed(hist.drills())][:drill.SPACING]
    candidates = [n for n in allowed if n not in recent] or allowed
    return min(candidates, key=lambda n: drill.weakness(hist, n))


# ---- stats ------------------------------------------------------------------------------

def practice_stats(hist: History, name: str, workspace: str | None = None) -> progress.ExerciseStats:
    ids = drill_ids(hist)
    return progress.exercise_stats(hist, name, workspace, keep=lambda d: d.id not in ids)


def interview_stats(hist: History, name: str, workspace: str | None = None) -> progress.ExerciseStats:
    ids = drill_ids(hist)
    return progress.exercise_stats(hist, name, workspace, keep=lambda d: d.id in ids)


# ---- mock rounds ------------------------------------------------------------------------

@dataclass
class Mock:
    id: int
    started: float
    ended: float | None
    minutes: float
    parts: list

    def to_json(self) -> dict:
        return {"id": self.id, "started": self.started, "ended": self.ended, "minutes": self.minutes,
                "parts": self.parts}


def start_mock(hist: History, minutes: float) -> int:
    with hist.db:
        hist.db.execute("BEGIN IMMEDIATE")
        return hist.db.execute("INSERT INTO mocks (started, minutes) VALUES (?, ?)",
                               (history.clock(), minutes)).lastrowid


def save_mock(hist: History, mock_id: int, parts: list, ended: bool = False) -> None:
    """Write the summary so far (after every part: an interrupted round keeps what it did)."""
    with hist.db:
        hist.db.execute("BEGIN IMMEDIATE")
        hist.db.execute("UPDATE mocks SET summary = ?, ended = ? WHERE id = ?",
                        (json.dumps({"parts": parts}, ensure_ascii=False),
                         history.clock() if ended else None, mock_id))


def mocks(hist: History) -> list[Mock]:
    if hist is None or hist.db is None:
        return []
    return [Mock(r["id"], r["started"], r["ended"], r["minutes"], json.loads(r["summary"]).get("parts", []))
            for r in hist.db.execute("SELECT * FROM mocks ORDER BY started, id")]
