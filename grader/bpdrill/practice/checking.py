"""One practice check as every front end does it (library, notebook, local page): pick a seed,
grade the workspace's files in workers, record the result in the history, and say how the
running drill stands. The grading itself is grading.runner's: learner code runs only in its
isolated workers."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from bpdrill.grading import refcache, runner
from bpdrill.grading.report import RunReport
from bpdrill.practice import drill, interview, workspace
from bpdrill.practice.history import History


@dataclass
class Checked:
    report: RunReport
    clock: dict | None  # the running drill after this check (check --json's "drill"), or None
    interview: bool  # the running drill is an interview: diagnoses without the fix


def choose_seed(seed: int | None, names: list[str]) -> tuple[int, bool]:
    """The seed asked for, else a fresh one whose references are ready (the background pool),
    else any fresh one. (seed, taken from the pool)."""
    if seed is not None:
        return seed, False
    pooled = refcache.pooled_seed(names)
    return (pooled, True) if pooled is not None else (secrets.randbelow(2**31), False)


def solutions(names: list[str], seed: int | None = None, timeout: float = runner.DEFAULT_TIMEOUT) -> RunReport:
    """The reference solutions graded (nothing recorded)."""
    files = {name: workspace.solution_path(name) for name in names}
    seed, pooled = choose_seed(seed, names)
    reports = runner.run_checks(files, seed, timeout=timeout)
    _after(names, seed, pooled)
    return RunReport(seed, str(workspace.solution_path(names[0]).parent), reports)


def check(ws: Path, names: list[str], hist: History | None, seed: int | None = None,
          timeout: float = runner.DEFAULT_TIMEOUT) -> Checked:
    """Grade the workspace's files for names and record each result in hist (None: record
    nothing). WorkspaceError when a file is missing."""
    files = {name: workspace.exercise_file(ws, name) for name in names}
    seed, pooled = choose_seed(seed, names)
    before = {name: workspace.content_hash(path) for name, path in files.items()}
    reports = runner.run_checks(files, seed, timeout=timeout)
    _after(names, seed, pooled)
    report = RunReport(seed, str(ws), reports)
    if hist is None:
        return Checked(report, None, False)
    # A file saved during the check: which content was graded is not known, so no hash.
    hashes = {name: h if h == workspace.content_hash(files[name]) else None for name, h in before.items()}
    active = hist.active_drill(str(ws))
    for r in reports:
        hist.record_check(r.name, str(ws), r.score, r.max_score, r.status, seed, active, hashes.get(r.name))
    interview.note_check(hist, active, reports)
    active = hist.drill(active.id) if active is not None else None
    if active is None:
        return Checked(report, None, False)
    clock = {"exercise": active.exercise, "elapsed_seconds": active.elapsed(),
             "limit_seconds": active.limit_seconds, "solved": active.solved,
             "time_to_green_seconds": active.green_seconds, "line": drill.clock_line(active)}
    return Checked(report, clock, interview.is_interview(hist, active))


def _after(names: list[str], seed: int, pooled: bool) -> None:
    if pooled:
        refcache.mark_used(names, seed)  # the next run draws other hidden inputs
    refcache.prefetch(names)
