"""Timed practice: start a drill, pick the weakest exercise, say how the clock stands."""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from bpdrill import catalog
from bpdrill.practice import workspace
from bpdrill.practice.history import Drill, History
from bpdrill.i18n import t

SPACING = 2  # the last N drilled exercises are not picked again by --random (while others remain)


def format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass
class Started:
    drill: Drill
    file: Path
    kept: Path | None  # where the previous attempt was kept


def start(hist: History, ws: Path, name: str, minutes: float | None) -> Started:
    """A fresh skeleton for name (the old attempt kept), and the clock started (drill None
    when the history could not record it). WorkspaceError when the skeleton cannot be laid."""
    limit = 60 * (minutes if minutes is not None else catalog.get(name).minutes)
    kept = workspace.reset(ws, name)
    drill = hist.start_drill(name, str(ws), limit)
    return Started(drill, ws / f"{name}.py", kept)


def weakness(hist: History, name: str, workspace: str | None = None) -> tuple:
    """Sort key, weakest first: never drilled; last drill unsolved; slow against your best."""
    drills = hist.drills(name, workspace)
    if not drills:
        return (0, 0.0)
    last = drills[-1]
    if not last.solved:
        return (1, -last.started)
    best = min(d.green_seconds for d in drills if d.solved)
    slowness = last.green_seconds / best if best > 0 else 1.0
    return (2, -slowness)


def pick_random(hist: History, workspace: str | None = None, rng: random.Random | None = None) -> str:
    """The weakest exercise in workspace (None: in every one), not one of the last SPACING
    drilled; ties broken at random."""
    rng = rng or random.Random()
    names = catalog.names()
    recent = [d.exercise for d in reversed(hist.drills(workspace=workspace))][:SPACING]
    candidates = [n for n in names if n not in recent] or names
    keys = {n: weakness(hist, n, workspace) for n in candidates}
    weakest = min(keys.values())
    tied = [n for n in candidates if keys[n][0] == weakest[0] and
            (weakest[0] != 2 or abs(keys[n][1] - weakest[1]) < 0.05)]
    return rng.choice(sorted(tied))


def replaced_line(running: Drill | None) -> str | None:
    """What starting a new drill does to the one running (None when none is running)."""
    if running is None or running.ended is not None:
        return None
    return t("the drill of {name} that was running ({elapsed} elapsed) ends here, unsolved; its time is not "
             "recorded", name=running.exercise, elapsed=format_seconds(running.elapsed()))


def clock_line(drill: Drill) -> str:
    """'drill linear: 4:12 elapsed, 5:48 left of 10:00', or how far over time it is."""
    elapsed = drill.elapsed()
    limit = drill.limit_seconds
    if drill.restored:
        return t("drill {name}: green {time} after the blank page with an earlier attempt or the solution "
                 "copied back: recorded as restored, not as a time", name=drill.exercise,
                 time=format_seconds(elapsed))
    if drill.solved:
        over = drill.green_seconds - limit
        verdict = t("over the limit by {time}", time=format_seconds(over)) if over > 0 else t("within the limit")
        return t("drill {name}: solved in {time} (limit {limit}, {verdict})", name=drill.exercise,
                 time=format_seconds(drill.green_seconds), limit=format_seconds(limit), verdict=verdict)
    if elapsed <= limit:
        return t("drill {name}: {elapsed} elapsed, {left} left of {limit}", name=drill.exercise,
                 elapsed=format_seconds(elapsed), left=format_seconds(limit - elapsed),
                 limit=format_seconds(limit))
    return t("drill {name}: {elapsed} elapsed, over the {limit} limit by {over} (recorded)",
             name=drill.exercise, elapsed=format_seconds(elapsed), limit=format_seconds(limit),
             over=format_seconds(elapsed - limit))

