"""Results of a check run: data classes, the JSON document, and the terminal table."""
from __future__ import annotations

from dataclasses import dataclass, field

from bpdrill.columns import pad
from bpdrill.core.diagnosis import FIRST_WRONG_VALUE
from bpdrill.i18n import t
from bpdrill.core.plain import describe
from bpdrill.core.protocol import visible

STATUSES = ("passed", "partial", "failed", "not_started", "error")


@dataclass
class CheckResult:
    id: str  # stable: never reworded or translated
    name: str  # display text, English
    kind: str
    target: str | None
    passed: bool
    score: int
    max_score: int
    message: str = ""
    details: list[str] = field(default_factory=list)
    diagnosis: object = None  # a diagnose.Diagnosis: the known mistake this failure looks like
    shown: str = ""  # display text in the learner's language
    traceable: bool = False  # failed on values with no known mistake: a trace may find where they go wrong

    def to_json(self) -> dict:
        diagnosis = None if self.diagnosis is None else {"name": self.diagnosis.name,
                                                         "message": self.diagnosis.message,
                                                         "line": self.diagnosis.line}
        return {"id": self.id, "name": self.name, "kind": self.kind, "target": self.target, "passed": self.passed,
                "score": self.score, "max_score": self.max_score, "message": self.message,
                "diagnosis": diagnosis}


def root_cause(c) -> tuple:
    """What makes failed checks one root cause: the same line of the learner's file (one
    statement to edit, whatever names its outputs got: a dropped upstream gradient in one check
    and a wrong rule in another), or, where no line is known, the same mistake about the same
    gradient."""
    line = getattr(c.diagnosis, "line", None)
    return ("line", line) if line else (c.diagnosis.name, "target", c.target)


def cap_root_causes(results: list[CheckResult], checks: list) -> None:
    """One diagnosed root cause costs no more than the points of the gradient at fault.

    The rule: failed checks that carry the same diagnosis (name) about the same target form one
    root cause (a wrong value no known mistake names, first_wrong_value: also at the same line).
    The points it may cost are capped at the points of the exercise's checks whose primary target
    (first target) is that gradient; a check whose primary target is another gradient (a batch
    of one, a second backward ... that failed only because of it) gets its points back, as many
    as needed to respect the cap, and stays failed (passed: false). When no check has that
    gradient as primary target (autograd's `grad`, adam's `params`: every check is about it),
    nothing changes. results are adjusted in place, so that the JSON's per-check scores add up
    to the exercise's score.
    """
    primary = {c.id: (c.targets or (None,))[0] for c in checks}
    groups: dict = {}
    for r in results:
        if not r.passed and r.diagnosis is not None and r.target is not None:
            line = r.diagnosis.line if r.diagnosis.name == FIRST_WRONG_VALUE else None
            groups.setdefault((r.diagnosis.name, r.target, line), []).append(r)
    for (_, target, _), members in groups.items():
        cap = sum(c.points for c in checks if primary[c.id] == target)
        lost = sum(r.max_score - r.score for r in members)
        if cap == 0 or lost <= cap:
            continue
        for r in reversed([m for m in members if primary.get(m.id) != target]):
            back = min(r.max_score - r.score, lost - cap)
            r.score += back
            lost -= back
            if lost <= cap:
                break


@dataclass
class ExerciseReport:
    name: str
    file: str
    score: int
    max_score: int
    status: str
    checks: list[CheckResult]
    message: str = ""  # the exercise as a whole: not started, cannot import, crashed ...
    output: str = ""  # what the learner's code printed

    def to_json(self) -> dict:
        return {"name": self.name, "file": self.file, "score": self.score, "max_score": self.max_score,
                "status": self.status, "message": visible(self.message), "output": visible(self.output),
                "checks": [c.to_json() for c in self.checks]}


@dataclass
class RunReport:
    seed: int
    workspace: str
    exercises: list[ExerciseReport]

    @property
    def all_passed(self) -> bool:
        return all(e.status == "passed" for e in self.exercises)

    def to_json(self) -> dict:
        return {"seed": self.seed, "workspace": self.workspace,
                "exercises": [e.to_json() for e in self.exercises]}


def _status_text(status: str) -> str:
    return {"passed": t("passed"), "partial": t("partial"), "failed": t("failed"),
            "not_started": t("not started"), "error": t("error")}[status]


_STATUS_COLOUR = {"passed": "green", "partial": "yellow", "failed": "red",
                  "not_started": "bright_black", "error": "red"}


def render(report: RunReport, verbose: bool = False, style=lambda text, **kw: text, plain=False) -> str:
    """The report as text for a terminal; style is click.style or the identity. plain (interview
    mode): a diagnosis names the mistake and its place, without the evidence and the advice;
    True for every exercise, or the names of the exercises it applies to (the one an
    interview drill is about: another exercise checked beside it reads as in practice)."""
    plain_for = (lambda name: plain) if isinstance(plain, bool) else (lambda name: name in plain)
    lines = [t("seed {seed}  (repeat with --seed {seed})", seed=report.seed), ""]
    width = max((len(e.name) for e in report.exercises), default=0)
    ok, fail = t("ok"), t("FAIL")
    for e in report.exercises:
        status = style(_status_text(e.status), fg=_STATUS_COLOUR[e.status], bold=True)
        lines.append(f"{e.name:<{width}}  {e.score:>3}/{e.max_score:<3} {status}")
        if e.message:
            lines.append(f"    {visible(e.message)}")
        shown_messages, shown_diagnoses = {e.message}, set()
        groups: dict = {}  # one root cause: the failed checks whose diagnosis names one mistake at one
        for c in e.checks:  # line (where a line is known), else about one target
            if not c.passed and c.diagnosis is not None:
                groups.setdefault(root_cause(c), []).append(c)
        for c in e.checks:
            if c.passed:
                if verbose:
                    lines.append(f"    {_mark(ok, 'green', style)}{c.shown or c.name}")
                continue
            group = groups.get(root_cause(c), [c]) if c.diagnosis is not None else [c]
            if c is not group[0]:
                continue  # listed under the first check of its root cause
            if c.message in shown_messages and not verbose:
                continue  # the exercise's message already says it (not started, crashed ...)
            lines.append(f"    {_mark(fail, 'red', style)}{c.shown or c.name}{_where(c)}")
            lines.append(f"         {visible(c.message)}")
            said = diagnosis_text(c.diagnosis, plain_for(e.name)) if c.diagnosis is not None else None
            if said is not None and (verbose or said not in shown_diagnoses):
                shown_diagnoses.add(said)
                lines.append(f"         {style(t('looks like:'), fg='yellow')} {visible(said)}")
            if verbose:
                lines.extend(f"         {visible(d)}" for d in c.details)
            if len(group) > 1:
                more = len(group) - 1
                lines.append("         " + (t("the same cause also fails 1 more check:") if more == 1 else
                                            t("the same cause also fails {count} more checks:", count=more)))
                for other in group[1:]:
                    free = t(" (no points lost: the cause is counted once)") if other.score == other.max_score else ""
                    lines.append(f"           - {other.shown or other.name}{_where(other)}{free}")
                    if verbose:
                        lines.append(f"             {visible(other.message)}")
                        lines.extend(f"             {visible(d)}" for d in other.details)
        if e.output.strip():
            printed = visible(e.output).strip().split("\n")
            keep = printed[: (40 if verbose else 5)]
            lines.append("    " + t("your code printed:"))
            lines.extend(f"    | {line[:200]}" for line in keep)
            if len(printed) > len(keep):
                lines.append("    | " + t("... ({count} more lines; -v shows more)",
                                           count=len(printed) - len(keep)))
    total, possible = sum(e.score for e in report.exercises), sum(e.max_score for e in report.exercises)
    lines += ["", t("total {score}/{possible}", score=total, possible=possible)]
    nxt = next((e for e in report.exercises if e.status != "passed"), None)
    if nxt is None:
        lines.append(t("every exercise checked has full marks."))
    else:
        lines.append(t("next: open {file}, fix what is listed above, then run `bpdrill check {name}`",
                       file=nxt.file, name=nxt.name))
    return "\n".join(lines)


def _where(c: CheckResult) -> str:
    return f" [{c.kind}{', ' + c.target if c.target else ''}]"


def diagnosis_text(diagnosis, plain: bool = False) -> str:
    """The diagnosis as said to the learner: in full, or (plain) the mistake and place only."""
    return describe(diagnosis) if plain else diagnosis.message


def _mark(word: str, colour: str, style) -> str:
    """'ok   ' or 'FAIL ': the word styled, then spaces up to the check name's column."""
    padded = pad(word, 4) + " "
    return style(word, fg=colour) + padded[len(word):]
