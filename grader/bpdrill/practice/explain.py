"""Worked derivations: one per exercise, in English and Chinese, kept as Markdown data.

    explanations/en/NAME.md   what is cached and why, the chain rule step by step with
    explanations/zh/NAME.md   shapes, the formula, the two or three traps

`bpdrill explain NAME` shows one; `check` shows it once by itself after an exercise's first
full marks (the table explained_shown in the practice history remembers that it was shown).
The registry's consistency check (grading.registry.problems) names an exercise without both.
"""
from __future__ import annotations

import sqlite3
from importlib import resources

from bpdrill.practice import history

SCHEMA = """
CREATE TABLE IF NOT EXISTS explained_shown (   -- derivations shown after a first full marks
    workspace TEXT NOT NULL,
    exercise TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (workspace, exercise)
);
"""

if SCHEMA not in history.EXTRA_SCHEMAS:
    history.EXTRA_SCHEMAS.append(SCHEMA)  # created by History.open, under its error handling

LANGS = ("en", "zh")


def _file(name: str, lang: str):
    return resources.files("bpdrill.practice").joinpath("explanations", lang, f"{name}.md")


def has(name: str, lang: str) -> bool:
    return _file(name, lang).is_file()


def text(name: str, lang: str = "en") -> str:
    """The derivation of name in lang (English where no Chinese is written); KeyError when
    there is none."""
    for chosen in dict.fromkeys((lang, "en")):
        if has(name, chosen):
            return _file(name, chosen).read_text(encoding="utf-8").strip() + "\n"
    raise KeyError(name)


def missing(names) -> list[str]:
    """One line per exercise and language with no derivation written."""
    return [f"{name}: no worked derivation practice/explanations/{lang}/{name}.md (bpdrill explain)"
            for name in names for lang in LANGS if not has(name, lang)]


def first_full_marks(hist: history.History | None, ws: str, name: str) -> bool:
    """Whether name's derivation is due to be shown by itself: it has full marks in ws and
    was never shown there. Marks it shown (so it is shown once); False when the history
    cannot record that (better not shown than shown on every check)."""
    if hist is None or hist.db is None or not hist.writable:
        return False
    try:
        hist.db.executescript(SCHEMA)  # the history may have been opened before this module was imported
        with hist.db:
            hist.db.execute("BEGIN IMMEDIATE")
            cursor = hist.db.execute("INSERT OR IGNORE INTO explained_shown VALUES (?, ?, ?)",
                                     (ws, name, history.clock()))
            return cursor.rowcount == 1
    except (sqlite3.Error, OSError):  # a history in trouble: not shown now rather than every time
        return False
