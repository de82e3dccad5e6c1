"""What the practice record says about an exercise: statistics of its drills (times to green,
trend, scores) and where it stands in a workspace for the file as it is now.

Computed from bpdrill.practice.history's record; nothing here writes it.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from bpdrill.practice.history import History


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


def exercise_stats(history: History, exercise: str, workspace: str | None = None, keep=None) -> ExerciseStats:
    """The record of one exercise in one workspace (every workspace when workspace is None);
    keep(drill) -> bool chooses the drills counted (interview mode's are timed apart)."""
    drills = [d for d in history.drills(exercise, workspace) if keep is None or keep(d)]
    times = [d.green_seconds for d in drills if d.solved]
    checks = history.checks(exercise, workspace)
    last = (checks[-1]["score"], checks[-1]["max_score"]) if checks else None
    best = max(((c["score"], c["max_score"]) for c in checks), key=lambda s: s[0] / max(s[1], 1),
               default=None)
    return ExerciseStats(
        exercise, len(drills), len(times), min(times) if times else None,
        statistics.median(times) if times else None, last, best, trend(times),
        sum(d.hints for d in drills), sum(1 for d in drills if d.solved and d.green_seconds > d.limit_seconds))


@dataclass
class Attempt:
    """One drill of an exercise, for the picture of progress: its time to green or None."""
    number: int  # 1, 2, ... in the order the drills started
    started: float
    green_seconds: float | None  # None: not solved (ended unsolved, restored, or still running)
    interview: bool

    def to_json(self) -> dict:
        return {"attempt": self.number, "started": self.started, "green_seconds": self.green_seconds,
                "interview": self.interview}


def attempts(history: History, exercise: str, workspace: str | None = None, interview_ids=frozenset()) -> list:
    """Every drill of exercise, in order, with its time to green (interview_ids: the drills run
    in interview mode)."""
    return [Attempt(number, d.started, d.green_seconds, d.id in interview_ids)
            for number, d in enumerate(history.drills(exercise, workspace), 1)]


BARS = "▁▂▃▄▅▆▇█"


def sparkline(times: list) -> str:
    """One mark per attempt, its height the time to green (the slowest a full block; lower is
    faster); an attempt not solved is ×."""
    solved = [x for x in times if x is not None]
    top = max(solved, default=0.0) or 1.0
    return "".join("×" if x is None else BARS[min(len(BARS) - 1, int(round((len(BARS) - 1) * x / top)))]
                   for x in times)


PROGRESS = ("passes_now", "solved_before", "in_progress", "not_started")


@dataclass
class Progress:
    """Where an exercise stands in one workspace, for the file as it is now."""
    exercise: str
    progress: str  # one of PROGRESS
    passes_now: bool  # the last check of the file's current content had full marks
    solved_before: bool  # some check in this workspace had full marks (maybe of another content)
    best_score: tuple | None  # in this workspace
    best_seconds: float | None  # fastest drill to green in this workspace
    untouched: bool  # the file is the fresh skeleton

    @property
    def status(self) -> str:
        """The first release's coarser word: 'passed' (now), 'not_started' or 'in_progress'."""
        if self.passes_now:
            return "passed"
        return "not_started" if self.untouched else "in_progress"


def progress(history: History, exercise: str, workspace: str, file_hash: str | None,
             untouched: bool) -> Progress:
    """file_hash: the current file's content hash (None when it cannot be read); untouched:
    the file is the fresh skeleton."""
    stats = exercise_stats(history, exercise, workspace)
    checks = history.checks(exercise, workspace)
    solved = any(c["status"] == "passed" for c in checks)
    of_this_content = [c for c in checks if file_hash is not None and c["file_hash"] == file_hash]
    passes_now = bool(of_this_content) and of_this_content[-1]["status"] == "passed"
    if passes_now:
        word = "passes_now"
    elif solved:
        word = "solved_before"
    elif untouched:
        word = "not_started"
    else:
        word = "in_progress"
    return Progress(exercise, word, passes_now, solved, stats.best_score, stats.best_seconds, untouched)
