"""Spaced repetition: coding exercises and spoken questions scheduled together by FSRS.

Each item (an exercise, "exercise:linear", or a question, "question:linear_gradients") has one
FSRS card, kept as JSON in the practice history's SQLite file (its tables are created when the
history is opened). A review rates one recall: again (1), hard (2), good (3), easy (4).

- A spoken question is rated by the learner (`bpdrill ask`, the mock's questions).
- A drill is rated from its record when it ends (see drill_rating): unsolved or the
  solution seen -> again; solved, by its time to green against the exercise's minutes, the
  hints it took and the distinct mistakes its checks were diagnosed with.

Drills are applied lazily (Deck.sync): every ended drill once, in the order they ended, so
nothing has to hook the end of a drill. Times come from history.clock (a fake in tests);
interval fuzzing is off, so the same history always gives the same schedule.

Reviews are counted in days. FSRS's own learning steps (1 and 10 minutes) are made for flash
cards; a code drill or a spoken question redone within the hour tests short-term memory, not
recall. So the steps here are a day long, a card is never due again on the local day it was
answered (its due time is at least the next local midnight), and an item is due on the day
its due time falls in (due today means due, whatever the hour).
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from bpdrill import catalog
from bpdrill.practice import history
from bpdrill.i18n import t

AGAIN, HARD, GOOD, EASY = 1, 2, 3, 4
RATINGS = {"again": AGAIN, "hard": HARD, "good": GOOD, "easy": EASY}
RATING_NAMES = {v: k for k, v in RATINGS.items()}

SCHEMA = """
CREATE TABLE IF NOT EXISTS srs_cards (     -- one FSRS card per exercise or question
    item TEXT PRIMARY KEY,                  -- "exercise:NAME" or "question:ID"
    card TEXT NOT NULL,                     -- fsrs.Card.to_json()
    due REAL NOT NULL,                      -- the card's due time, seconds since the epoch
    reviews INTEGER NOT NULL DEFAULT 0,
    last_rating INTEGER
);
CREATE TABLE IF NOT EXISTS srs_reviews (
    id INTEGER PRIMARY KEY,
    item TEXT NOT NULL,
    at REAL NOT NULL,
    rating INTEGER NOT NULL,
    source TEXT NOT NULL,                   -- "drill", "ask" or "mock"
    drill_id INTEGER UNIQUE                 -- the drill this review came from: applied once
);
CREATE TABLE IF NOT EXISTS drill_diagnoses (  -- the known mistakes a drill's checks hit
    drill_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (drill_id, name)
);
"""


if SCHEMA not in history.EXTRA_SCHEMAS:
    history.EXTRA_SCHEMAS.append(SCHEMA)  # created by History.open, under its error handling


class SrsUnavailable(RuntimeError):
    """The fsrs package is missing (an install that predates it)."""


def _fsrs():
    try:
        import fsrs
    except ImportError as exc:  # pragma: no cover - fsrs is a core dependency
        raise SrsUnavailable("spaced repetition needs the fsrs package: pip install fsrs") from exc
    return fsrs


def exercise_item(name: str) -> str:
    return f"exercise:{name}"


def question_item(question_id: str) -> str:
    return f"question:{question_id}"


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


STEPS = (timedelta(days=1),)  # learning and relearning steps: a day, not FSRS's minutes


def day_start(seconds: float) -> float:
    """The local midnight that begins the day of `seconds` (seconds since the epoch)."""
    local = datetime.fromtimestamp(seconds).astimezone()
    return local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def next_day(seconds: float) -> float:
    """The local midnight after `seconds` (a day of 23 or 25 hours across a clock change too)."""
    return day_start(day_start(seconds) + 36 * 3600)


def days_between(earlier: float, later: float) -> int:
    """Whole local days from the day of `earlier` to the day of `later` (0: the same day)."""
    a = datetime.fromtimestamp(day_start(earlier)).date()
    b = datetime.fromtimestamp(day_start(later)).date()
    return (b - a).days


def when_words(due: float, now: float) -> str:
    """When a review falls, in days: 'due today', 'tomorrow', 'in 3 days', 'overdue by 2 days'."""
    days = days_between(now, due)
    if days == 0:
        return t("due today")
    if days == 1:
        return t("tomorrow")
    if days > 1:
        return t("in {n} days", n=days)
    return t("overdue by 1 day") if days == -1 else t("overdue by {n} days", n=-days)


def drill_rating(solved: bool, solution_seen: bool, green_seconds: float | None, minutes: float,
                 hints: int, diagnoses: int) -> int:
    """again / hard / good / easy for one drill, from its record.

    again: unsolved, the solution seen, the deepest (third) hint taken, or over twice the
    exercise's minutes; hard: any hint, over the minutes, or two or more distinct mistakes
    diagnosed; easy: within half the minutes with no hint and no mistake; else good.
    """
    if not solved or solution_seen:
        return AGAIN
    ratio = green_seconds / max(60.0 * minutes, 1.0)
    if hints >= 3 or ratio > 2:
        return AGAIN
    if hints or ratio > 1 or diagnoses >= 2:
        return HARD
    if ratio <= 0.5 and diagnoses == 0:
        return EASY
    return GOOD


@dataclass
class Due:
    item: str
    due: float  # seconds since the epoch
    reviews: int
    last_rating: int | None

    @property
    def kind(self) -> str:
        return self.item.split(":", 1)[0]

    @property
    def key(self) -> str:
        return self.item.split(":", 1)[1]


class Deck:
    """The cards in a History's database. Every write is one transaction."""

    def __init__(self, hist: history.History):
        self.hist, self.db = hist, hist.db
        self._scheduler = None

    @property
    def scheduler(self):
        """FSRS's scheduler with its default parameters but day-long learning steps; fuzzing off
        (the same history, the same schedule). Made on first use: recording a drill's diagnoses
        does not need it."""
        if self._scheduler is None:
            self._scheduler = _fsrs().Scheduler(learning_steps=STEPS, relearning_steps=STEPS,
                                                enable_fuzzing=False)
        return self._scheduler

    # ---- reviews ------------------------------------------------------------------------
    def review(self, item: str, rating: int, at: float | None = None, source: str = "ask",
               drill_id: int | None = None) -> float:
        """Apply one review; returns when the item is due next (seconds since the epoch)."""
        fsrs = _fsrs()
        at = history.clock() if at is None else at
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            row = self.db.execute("SELECT card, reviews FROM srs_cards WHERE item = ?", (item,)).fetchone()
            if row is None:
                card, reviews = fsrs.Card(card_id=zlib.crc32(item.encode()), due=_when(at)), 0
            else:
                card, reviews = fsrs.Card.from_json(row["card"]), row["reviews"]
            if card.last_review is not None:  # reviews of one card stay in time order
                at = max(at, card.last_review.timestamp())
            card, _ = self.scheduler.review_card(card, fsrs.Rating(rating), review_datetime=_when(at))
            if card.due.timestamp() < next_day(at):  # never due again the day it was answered
                card.due = _when(next_day(at))
            due = card.due.timestamp()
            self.db.execute("INSERT OR REPLACE INTO srs_cards (item, card, due, reviews, last_rating) "
                            "VALUES (?, ?, ?, ?, ?)", (item, card.to_json(), due, reviews + 1, rating))
            self.db.execute("INSERT INTO srs_reviews (item, at, rating, source, drill_id) VALUES (?, ?, ?, ?, ?)",
                            (item, at, rating, source, drill_id))
        return due

    def note_diagnoses(self, drill_id: int, names) -> None:
        """Remember the known mistakes a drill's check was diagnosed with (for its rating)."""
        names = sorted(set(names))
        if not names:
            return
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR IGNORE INTO drill_diagnoses VALUES (?, ?)",
                                [(drill_id, n) for n in names])

    def diagnoses(self, drill_id: int) -> list[str]:
        return [r["name"] for r in self.db.execute(
            "SELECT name FROM drill_diagnoses WHERE drill_id = ? ORDER BY name", (drill_id,))]

    def sync(self) -> int:
        """Rate every ended drill not rated yet, in the order they ended. Returns how many.
        A restored drill (an earlier attempt copied back) says nothing of recall: not rated."""
        rows = self.db.execute(
            "SELECT * FROM drills WHERE ended IS NOT NULL AND NOT restored AND id NOT IN "
            "(SELECT drill_id FROM srs_reviews WHERE drill_id IS NOT NULL) ORDER BY ended, id").fetchall()
        for row in rows:
            drill = history.Drill(**{k: row[k] for k in history.Drill.__dataclass_fields__})
            try:
                minutes = catalog.get(drill.exercise).minutes
            except KeyError:  # an exercise no longer in the catalog
                minutes = drill.limit_seconds / 60
            rating = drill_rating(drill.solved, bool(drill.solution_seen), drill.green_seconds, minutes,
                                  drill.hints, len(self.diagnoses(drill.id)))
            self.review(exercise_item(drill.exercise), rating, at=drill.ended, source="drill", drill_id=drill.id)
        return len(rows)

    # ---- what is due --------------------------------------------------------------------
    def cards(self) -> list[Due]:
        return [Due(r["item"], r["due"], r["reviews"], r["last_rating"])
                for r in self.db.execute("SELECT * FROM srs_cards ORDER BY due, item")]

    def card(self, item: str) -> Due | None:
        r = self.db.execute("SELECT * FROM srs_cards WHERE item = ?", (item,)).fetchone()
        return Due(r["item"], r["due"], r["reviews"], r["last_rating"]) if r else None

    def due(self, now: float | None = None, kind: str | None = None) -> list[Due]:
        """The items due today (their due time falls before the next local midnight), most
        overdue first."""
        now = history.clock() if now is None else now
        end = next_day(now)
        return [c for c in self.cards() if c.due < end and (kind is None or c.kind == kind)]

    def seen(self, kind: str) -> set[str]:
        return {c.key for c in self.cards() if c.kind == kind}

    def pick_exercise(self, allowed: list[str], avoid=(), now: float | None = None) -> str | None:
        """The most overdue exercise among allowed (not one of avoid), or None when none is due."""
        for c in self.due(now, "exercise"):
            if c.key in allowed and c.key not in avoid:
                return c.key
        return None

    def pick_question(self, pool: list, now: float | None = None):
        """From pool (questions): the most overdue, else the first never asked, else the one due soonest."""
        if not pool:
            return None
        by_id = {q.id: q for q in pool}
        for c in self.due(now, "question"):
            if c.key in by_id:
                return by_id[c.key]
        seen = self.seen("question")
        fresh = [q for q in pool if q.id not in seen]
        if fresh:
            return fresh[0]
        soonest = [c for c in self.cards() if c.kind == "question" and c.key in by_id]
        return by_id[soonest[0].key] if soonest else pool[0]

    def reviews(self) -> list:
        return list(self.db.execute("SELECT * FROM srs_reviews ORDER BY at, id"))


def to_json(c: Due) -> dict:
    return {"item": c.item, "kind": c.kind, "key": c.key, "due": c.due, "reviews": c.reviews,
            "last_rating": RATING_NAMES.get(c.last_rating)}

