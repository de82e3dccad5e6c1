"""The grader as a library: `bpdrill.check(name) -> Report` (SPEC section 4).

The learner's file is graded exactly as `bpdrill check NAME` grades it: in an isolated worker
process, never in the caller's (a notebook kernel's) own process, and the result is recorded
in the practice history like any check of the workspace.
"""
from __future__ import annotations

import difflib
import html
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bpdrill.grading.limits import DEFAULT_TIMEOUT
from bpdrill import catalog, i18n
from bpdrill.grading import formats
from bpdrill.grading.report import CheckResult, ExerciseReport, RunReport, render
from bpdrill.i18n import t
from bpdrill.practice import checking, history
from bpdrill.practice import workspace as workspaces  # `workspace` is check()'s argument


class BpdrillError(ValueError):
    """A mistake in how bpdrill was called (an unknown exercise, a missing workspace), said in one line."""


@dataclass(frozen=True)
class Check:
    """One hidden check's outcome, with the fields of `check --json`."""
    id: str
    name: str
    kind: str
    target: str | None
    passed: bool
    score: int
    max_score: int
    message: str
    diagnosis: dict | None  # {"name", "message", "line"}: the known mistake, at its line

    @classmethod
    def of(cls, result: CheckResult) -> "Check":
        return cls(**result.to_json())

    def to_json(self) -> dict:
        return dict(self.__dict__)


def _exercise_field(name: str) -> property:
    """A Report's field that is its one graded exercise's field of that name."""
    return property(lambda report: getattr(report.exercise, name), doc=f"The exercise's {name}, as in the JSON report.")


@dataclass
class Report:
    """One exercise graded: score, max_score, status, seed, checks; to_json() is the document
    `bpdrill check NAME --json` prints; in Jupyter it shows as the terminal's table."""
    run: RunReport = field(repr=False)
    interview: bool = field(default=False, repr=False)  # diagnoses without the fix
    drill: dict | None = field(default=None, repr=False)  # the running drill's clock after this check

    @property
    def exercise(self) -> ExerciseReport:
        return self.run.exercises[0]

    # The graded exercise's fields, named as in `check --json`: score and max_score are ints, the rest str.
    name = _exercise_field("name")
    file = _exercise_field("file")
    score = _exercise_field("score")
    max_score = _exercise_field("max_score")
    status = _exercise_field("status")
    message = _exercise_field("message")

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def seed(self) -> int:
        return self.run.seed

    @property
    def checks(self) -> list[Check]:
        return [Check.of(c) for c in self.exercise.checks]

    def to_json(self) -> dict:
        doc = self.run.to_json()
        if self.drill is not None:
            doc["drill"] = self.drill
        return doc

    def __str__(self) -> str:
        text = render(self.run, plain=self.interview)
        return (self.drill["line"] + "\n\n" + text) if self.drill else text

    def __repr__(self) -> str:
        return f"<bpdrill.Report {self.name} {self.score}/{self.max_score} {self.status} seed {self.seed}>"

    def _repr_html_(self) -> str:
        clock = f'<div><b>{_escape(self.drill["line"])}</b></div>' if self.drill else ""
        return clock + formats.html_table(self.run, plain=self.interview)

    def _repr_json_(self) -> dict:
        return json.loads(json.dumps(self.to_json()))


def _escape(text: str) -> str:
    return html.escape(text)


def exercise_name(name: str) -> str:
    """The catalogue's name for name (any case); BpdrillError with "did you mean" otherwise."""
    known = catalog.names()
    lowered = {n.lower(): n for n in known}
    if isinstance(name, str) and name.strip().lower() in lowered:
        return lowered[name.strip().lower()]
    close = difflib.get_close_matches(str(name).lower(), known, n=1)
    suggestion = t(" (did you mean {name}?)", name=close[0]) if close else ""
    raise BpdrillError(t("unknown exercise {name!r}{suggestion}; the exercises are: {names}",
                         name=name, suggestion=suggestion, names=", ".join(known)))


def open_workspace(folder=None) -> Path:
    """The workspace (folder, else $BPDRILL_WORKSPACE, else found from here), created on first use."""
    try:
        ws = workspaces.resolve(str(folder) if folder is not None else None)
        workspaces.ensure(ws)
    except (workspaces.WorkspaceError, OSError) as exc:
        raise BpdrillError(str(exc)) from None
    return ws


def check(name: str, workspace=None, seed: int | None = None, solution: bool = False,
          timeout: float = DEFAULT_TIMEOUT, lang: str | None = None) -> Report:
    """Grade one exercise, as `bpdrill check NAME` does, and return its Report.

    workspace: the folder of your files (default: as the command finds it); seed: the hidden
    inputs' seed (default: a fresh one, printed in the report); solution: grade the reference
    solution instead of your file. The check is recorded in the practice history."""
    if lang is not None:
        i18n.set_language(i18n.choose(lang))
    name = exercise_name(name)
    if solution:
        return Report(checking.solutions([name], seed, timeout))
    ws = open_workspace(workspace)
    hist = history.History.open(warn=_warn)
    try:
        done = checking.check(ws, [name], hist, seed, timeout)
    except workspaces.WorkspaceError as exc:
        raise BpdrillError(str(exc)) from None
    finally:
        hist.close()
    return Report(done.report, done.interview, done.clock)


def _warn(message: str) -> None:
    print(message, file=sys.stderr)
