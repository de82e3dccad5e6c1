"""One practice check as every front end does it (library, notebook, local page): pick a seed,
grade the workspace's files in workers, record the result in the history, and say how the
running drill stands. The grading itself is grading.runner's: learner code runs only in its
isolated workers."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bpdrill.grading.limits import DEFAULT_TIMEOUT
from bpdrill.grading import refcache, runner
from bpdrill.grading.report import RunReport
from bpdrill.practice import drill, interview, workspace
from bpdrill.practice.history import History
from bpdrill.practice.record import record_checks, unchanged_hashes


@dataclass
class Checked:
    report: RunReport
    clock: dict | None  # the running drill after this check (check --json's "drill"), or None
    interview: bool  # the running drill is an interview: diagnoses without the fix


def solutions(names: list[str], seed: int | None = None, timeout: float = DEFAULT_TIMEOUT) -> RunReport:
    """The reference solutions graded (nothing recorded)."""
    files = {name: workspace.solution_path(name) for name in names}
    seed, pooled = refcache.draw_seed(seed, names)
    reports = runner.run_checks(files, seed, timeout=timeout)
    refcache.after_run(names, seed, pooled)
    return RunReport(seed, str(workspace.solution_path(names[0]).parent), reports)


def check(ws: Path, names: list[str], hist: History | None, seed: int | None = None,
          timeout: float = DEFAULT_TIMEOUT) -> Checked:
    """Grade the workspace's files for names and record each result in hist (None: record
    nothing). WorkspaceError when a file is missing."""
    files = {name: workspace.exercise_file(ws, name) for name in names}
    seed, pooled = refcache.draw_seed(seed, names)
    before = {name: workspace.content_hash(path) for name, path in files.items()}
    reports = runner.run_checks(files, seed, timeout=timeout)
    refcache.after_run(names, seed, pooled)
    report = RunReport(seed, str(ws), reports)
    if hist is None:
        return Checked(report, None, False)
    active = record_checks(hist, ws, reports, seed, unchanged_hashes(files, before))
    if active is None:
        return Checked(report, None, False)
    clock = {"exercise": active.exercise, "elapsed_seconds": active.elapsed(),
             "limit_seconds": active.limit_seconds, "solved": active.solved,
             "time_to_green_seconds": active.green_seconds, "line": drill.clock_line(active)}
    return Checked(report, clock, interview.is_interview(hist, active))

