"""Running the known mistakes on a failed check: the first that fits, with the place to edit.

The engine (Mistake, Probe, Diagnosis ...) is bpdrill.core.diagnose, the generic mistakes are
bpdrill.core.mistakes, an exercise's own are its module's MISTAKES: this module imports them
all, and none of them imports it.
"""
from __future__ import annotations

from dataclasses import replace

from bpdrill.core.diagnose import Diagnosis, Probe, close, first_clause
from bpdrill.core.judge import Check, Evidence, Failed
from bpdrill.core.mistakes import GENERIC
from bpdrill.core.places import code_line, display_path, learner_functions, qualified_name, statement_line
from bpdrill.i18n import t


def where(path: str, qualname: str | None, label: str | None, line: int | None = None,
          method_is_the_place: bool = False) -> tuple[str, int | None]:
    """(' (in Linear.backward, workspace/linear.py:33)', 33): the method at fault and the line
    that computes the gradient (its assignment or return), else the method's first line.
    line: the line already known (where an error was raised)."""
    if not qualname:
        return "", None
    if line is None:
        line = statement_line(path, qualname, label)
        if line is not None and not method_is_the_place and \
                (qualname, line) in {(n, first) for n, first, _ in learner_functions(path)}:
            # no statement computes it: the method is named, and said to be all that is known
            return t(" (in {name}, {file}: no one statement of it computes {label})", name=qualname,
                     file=f"{display_path(path)}:{line}", label=label or t("the result")), line
    return t(" (in {name}, {file})", name=qualname,
             file=display_path(path) + (":" + str(line) if line else "")), line


def _at_line(path: str, label: str | None, line: int) -> tuple[str, int | None]:
    """where() for a line found by a trace: its method named from the line."""
    return where(path, qualified_name(path, line, "?"), label, line)


def moved(diagnosis: Diagnosis, path: str, line: int) -> Diagnosis:
    """The diagnosis placed at another line of the learner's file (its method named anew)."""
    place, line = _at_line(path, None, line)
    message = diagnosis.message
    if diagnosis.place and message.endswith(diagnosis.place):
        message = message[:-len(diagnosis.place)] + place
    return replace(diagnosis, message=message, line=line, place=place)


FIRST_WRONG_VALUE = "first_wrong_value"


def first_wrong_value(path: str, label: str | None, line: int) -> Diagnosis:
    """No known mistake fits, but a trace found where the wrong value starts: say that."""
    said = t("{label} goes wrong at this statement: on the same inputs, no right computation "
             "takes the value it computes", label=label or t("the result"))
    place, line = _at_line(path, label, line)
    return Diagnosis(FIRST_WRONG_VALUE, said + place, line, place, first_clause(said))


def diagnose(unit, ev: Evidence, check: Check, failure: Failed, outcomes: dict,
             failures: dict | None = None) -> Diagnosis | None:
    """The first known mistake that fits a failed check, or None. unit: a registry.Unit."""
    probe = Probe(ev, check, failure, outcomes, unit.sizes, failures)
    qualname = unit.where(probe)
    if failure.mistake is not None:  # named by the check itself: placed by that mistake's at_code
        name, text = failure.mistake
        pattern = next((m.at_code for m in [*unit.mistakes, *GENERIC] if m.name == name and not m.where), "")
        line = code_line(ev.learner_file, qualname, pattern, probe.label) if pattern else None
        place, line = where(ev.learner_file, qualname, probe.label, line)
        return Diagnosis(name, text + place, line, place, movable=line is None)  # a check's own finding
    if probe.got is not None and probe.expected is None and failure.target:
        try:  # a shape check knows only the shape: the reference knows the values
            probe.expected = ev.reference(check.scenario).get(failure.target)
        except Exception:  # noqa: BLE001 - no reference for this target: diagnose without it
            probe.expected = None
    if probe.got is not None and probe.expected is not None and close(probe.got, probe.expected):
        return None  # a diagnosis explains a difference: a right answer has none to explain
    for mistake in [*unit.mistakes, *GENERIC]:
        if mistake.kinds and check.kind not in mistake.kinds:
            continue
        try:
            evidence = mistake.test(probe)
        except Exception:  # noqa: BLE001 - a hypothesis that cannot be tested on this output
            evidence = None
        if evidence:
            words = {"label": probe.label, **evidence}
            at = evidence.get("at") or (mistake.where(probe) if callable(mistake.where)
                                        else (mistake.where or qualname))  # "at": where it was raised
            line = evidence.get("at_line") or code_line(ev.learner_file, at, mistake.at_code, probe.label)
            # not raised there, no statement or method of its own: only where the gradient is
            # written; a mistake's own at_code yields only to a trace that finds a wrong value
            movable = line is None and not evidence.get("at") and not mistake.where
            # a trace compares values on one call: it may move a pattern's line only for a value
            # check of a first call (in place, across calls, aliases: the pattern knows better)
            by_code = line is not None and not evidence.get("at") and not evidence.get("at_line") and \
                not mistake.where and check.kind != "purity" and check.call == "first"
            within = bool(mistake.where) and not evidence.get("at") and \
                not evidence.get("at_line") and not mistake.at_code and check.kind != "purity"
            place, line = where(ev.learner_file, at, probe.label, line, bool(evidence.get("at") or mistake.where))
            said = mistake.text(**words)
            return Diagnosis(mistake.name, said + place, line, place, first_clause(said), movable, by_code,
                             within and line is not None)
    return None
