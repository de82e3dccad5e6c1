"""Running checks: hidden inputs from the seed -> worker process -> judges -> ExerciseReport."""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Callable

import numpy as np

from bpdrill.core import diagnosis
from bpdrill import i18n
from bpdrill.grading import locate, reference, registry
from bpdrill.grading.limits import DEFAULT_TIMEOUT
from bpdrill.i18n import t
from bpdrill.grading.isolation import WorkerOutcome, kill_all, run_workers
from bpdrill.grading.zygote_client import start_zygote
from bpdrill.core.judge import Evidence, Failed, ScenarioError
from bpdrill.core.places import describe_error, place, source_text
from bpdrill.grading.report import CheckResult, ExerciseReport, cap_root_causes



def build_job(name: str, path: str, seed: int) -> tuple[dict, list]:
    """The job for one exercise's worker and its scenarios (the hidden inputs of this seed)."""
    unit = registry.get(name)
    scenarios = unit.scenarios_for(seed)
    job = {"exercise": name, "file": str(path), "class": unit.meta.class_name,
           "lang": i18n.language()}  # the worker's own messages ('a list of 3 items') in this language
    return job, scenarios


def judge(name: str, path: str, scenarios: list, outcome: WorkerOutcome, references) -> ExerciseReport:
    """Score one exercise from what its worker returned. Only trusted code runs here.

    references: Scenario -> the PyTorch reference (reference.References.for_exercise)."""
    # Learner outputs can be huge or odd, and diagnoses try formulas like -1/p on them: an
    # overflow there is part of the verdict, never a warning printed at the learner.
    with np.errstate(all="ignore"):
        return _judge(registry.get(name), path, {s.name: s for s in scenarios}, outcome, references)


def _judge(unit, path: str, scenarios: dict, outcome: WorkerOutcome, references) -> ExerciseReport:
    message, results = "", {}
    exercise_error = outcome.import_error
    if outcome.failure is not None:
        message = outcome.failure + (place(path, outcome.hang) if outcome.hang else "")
    elif exercise_error is not None:
        message = describe_error(exercise_error, path)
    else:
        results = outcome.results or {}
    evidence = Evidence(unit.name, scenarios, results, references, path)

    check_results, failures = [], {}
    for check in unit.checks:
        failure = None
        try:
            if message:
                raise ScenarioError(message, exercise_error)
            evidence.values(check.scenario)  # a scenario that raised fails before any reference is built
            check.judge(evidence, check)
        except Failed as exc:
            failure = exc
        except Exception as exc:  # noqa: BLE001 - an output so odd that judging it raised
            failure = Failed(t("could not judge what came back ({error_type}: {error})",
                               error_type=type(exc).__name__, error=exc))
        primary = (check.targets or (None,))[0]
        if failure is None:
            check_results.append(CheckResult(check.id, check.english, check.kind, primary, True, check.points,
                                             check.points, shown=check.name))
        else:
            target = failure.target if failure.target in check.targets else primary
            check_results.append(CheckResult(check.id, check.english, check.kind, target, False, 0, check.points,
                                             failure.message, failure.details, shown=check.name))
            failures[check.id] = (check, failure)
    if not message:  # name the mistakes, now that every check's outcome is known
        outcomes = {c.id: c for c in check_results}
        for check, failure in failures.values():
            if _unwritten(failure):
                continue  # a TODO that still raises: nothing written, nothing to diagnose
            found = outcomes[check.id].diagnosis = _diagnose(unit, evidence, check, failure, outcomes, failures)
            outcomes[check.id].traceable = found is None and failure.compared and \
                not isinstance(failure, ScenarioError)
        cap_root_causes(check_results, unit.checks)  # one root cause costs at most its gradient's points
    score = sum(c.score for c in check_results)
    possible = sum(c.max_score for c in check_results)

    errors = [r["error"] for r in results.values() if r["error"] is not None]
    failed_messages = {c.message for c in check_results if not c.passed}
    if not message and score == 0 and len(failed_messages) == 1 and errors:
        message = failed_messages.pop()  # one error behind every check: say it once
    # Every check failing on a TODO that still raises: not started (said in any language).
    not_started = {describe_error(e, path) for e in errors if e.get("not_implemented")}
    if score == possible:
        status = "passed"
    elif score > 0:
        status = "partial"
    elif outcome.failure is not None or exercise_error:
        status = "error"
    elif errors and all(e.get("not_implemented") for e in errors) and \
            all(c.message in not_started for c in check_results):
        status = "not_started"
        message = describe_error(errors[0], path)
    else:
        status = "failed"
    return ExerciseReport(unit.name, str(path), score, possible, status, check_results, message, outcome.output)


def _unwritten(failure) -> bool:
    error = getattr(failure, "error", None)
    return isinstance(failure, ScenarioError) and bool(error) and bool(error.get("not_implemented"))


def _diagnose(unit, evidence, check, failure, outcomes, failures):
    try:
        return diagnosis.diagnose(unit, evidence, check, failure, outcomes, failures)
    except Exception:  # noqa: BLE001 - a diagnosis is a bonus: never let it cost the report
        return None


def place_at_fault(judged: list, run) -> None:
    """Move each diagnosis that is placed only where its gradient is written to the statement
    where the wrong value starts: one more worker run per such exercise, traced line by line
    (bpdrill.grading.locate), on the scenarios of those diagnoses. judged: (job, scenarios,
    report); run(tasks) -> outcomes, as run_workers. A trace that fails moves nothing."""
    wanted = []
    for job, scenarios, report in judged:
        unit, by_name = registry.get(report.name), {s.name: s for s in scenarios}
        checks = {c.id: c for c in unit.checks}
        movable = [(c, checks[c.id]) for c in report.checks
                   if (c.traceable or (c.diagnosis is not None and (
                       c.diagnosis.movable or c.diagnosis.by_code or c.diagnosis.within)))
                   and c.id in checks
                   and getattr(by_name.get(checks[c.id].scenario), "mode", "perturb") != "perturb"]
        if movable:
            traced = sorted({check.scenario for _, check in movable})
            wanted.append((job, [by_name[n] for n in traced], report, unit, movable))
    if not wanted:
        return
    try:
        outcomes = run([({**job, "trace": True}, scenarios) for job, scenarios, *_ in wanted])
    except Exception:  # noqa: BLE001 - a place is a bonus: never let it cost the report
        return
    for (job, scenarios, report, unit, movable), outcome in zip(wanted, outcomes):
        try:
            _move(unit, report, {s.name: s for s in scenarios}, outcome, movable)
        except Exception:  # noqa: BLE001 - as above
            continue


def _move(unit, report, scenarios: dict, outcome, movable: list) -> None:
    if outcome.results is None:
        return
    source = source_text(report.file)
    right: dict = {}
    unnamed = []  # (result, line): checks no known mistake explains, with where their values go wrong
    for result, check in movable:
        events = (outcome.results.get(check.scenario) or {}).get("trace")
        if not events:
            continue
        if check.scenario not in right:
            with np.errstate(all="ignore"):
                right[check.scenario] = locate.right_values(unit, scenarios[check.scenario])
        if right[check.scenario] is None:
            continue
        line, found = locate.at_fault(source, events, right[check.scenario], result.target)
        if result.diagnosis is None:
            if found:
                unnamed.append((result, line))
        elif result.diagnosis.movable:
            if line is not None and line != result.diagnosis.line:
                result.diagnosis = diagnosis.moved(result.diagnosis, report.file, line)
        elif result.diagnosis.within:  # the method its mistake names: the statement of it that goes wrong
            line = locate.first_wrong_within(source, events, right[check.scenario], result.diagnosis.line,
                                             result.target)
            if line is not None and line != result.diagnosis.line:
                result.diagnosis = diagnosis.moved(result.diagnosis, report.file, line)
        elif locate.ran_right(source, events, right[check.scenario], result.diagnosis.line):
            # at_code's statement, which the trace saw right, yields to a value wrong from the
            # first time its statement runs
            line, found = locate.at_fault(source, events, right[check.scenario], result.target,
                                          first_pass=not getattr(unit.kind, "STATEFUL", False))
            if found and line != result.diagnosis.line:
                result.diagnosis = diagnosis.moved(result.diagnosis, report.file, line)
    named: dict = {}  # target -> the known mistakes of its failed checks, where they now stand
    for c in report.checks:
        if not c.passed and c.diagnosis is not None:
            named.setdefault(c.target, []).append(c.diagnosis)
    for result, line in unnamed:
        # a known mistake of this gradient placed at the same statement explains this check too
        # (one cause, one entry); one placed elsewhere may be the same cause: nothing is claimed
        same = [d for d in named.get(result.target, []) if d.line == line]
        if same:
            result.diagnosis = same[0]
        elif result.target not in named:
            result.diagnosis = diagnosis.first_wrong_value(report.file, result.target, line)
    if unnamed:  # the checks now grouped under one cause cost at most its gradient's points
        cap_root_causes(report.checks, unit.checks)
        report.score = sum(c.score for c in report.checks)
        if report.status == "failed" and report.score > 0:
            report.status = "partial"


Execute = Callable[[dict, list, float], WorkerOutcome]


def run_checks(files: dict, seed: int, timeout: float = DEFAULT_TIMEOUT,
               execute: Execute | None = None, jobs: int | None = None,
               keep_references: bool = True, helper=None) -> list[ExerciseReport]:
    """Check each exercise (name -> learner file): workers run as many at once as there are
    cores; execute(job, scenarios, timeout) replaces them (the tests' trusted in-process path,
    which also computes references in process). helper: a reference helper process the command
    started early (bpdrill.grading.helper.early), handed to the run."""
    if execute is None:
        start_zygote(list(files))  # its imports overlap drawing the inputs and loading references
    prepared = {name: build_job(name, path, seed) for name, path in files.items()}
    run = (lambda tasks: run_workers(tasks, timeout, jobs or os.cpu_count() or 1)) if execute is None else \
        (lambda tasks: [execute(job, scenarios, timeout) for job, scenarios in tasks])
    with _graded(reference.References(seed, prepared, inline=execute is not None, keep=keep_references,
                                      helper=helper)) as references:
        outcomes = run([prepared[name] for name in files])
        reports = [judge(name, str(files[name]), prepared[name][1], outcome, references.for_exercise(name))
                   for name, outcome in zip(files, outcomes)]
        place_at_fault([(prepared[name][0], prepared[name][1], report) for name, report in zip(files, reports)], run)
        return reports


@contextmanager
def _graded(references: reference.References):
    """A run's references, closed at the end; on Ctrl-C, every worker killed first (workers run
    in their own process groups: Ctrl-C does not reach them)."""
    try:
        yield references
    except KeyboardInterrupt:
        kill_all()
        raise
    finally:
        references.close()


def run_batches(batches: list[dict], seed: int, timeout: float = DEFAULT_TIMEOUT, jobs: int | None = None,
                keep_references: bool = True) -> list[list[ExerciseReport]]:
    """run_checks for several sets of files under one seed (a class: one set per learner).
    Every file gets its own worker, as in run_checks, and all of them share one pool of as many
    at once as there are cores; each exercise's hidden inputs are drawn and its references
    computed once for every set. Returns each set's reports, in the order given."""
    prepared: dict = {}
    for files in batches:
        for name, path in files.items():
            prepared.setdefault(name, build_job(name, path, seed))
    work = [(number, name, path) for number, files in enumerate(batches) for name, path in files.items()]
    with _graded(reference.References(seed, prepared, keep=keep_references)) as references:
        outcomes = run_workers([({**prepared[name][0], "file": str(path)}, prepared[name][1]) for _, name, path in work],
                               timeout, jobs or os.cpu_count() or 1)
        reports: list[list[ExerciseReport]] = [[] for _ in batches]
        judged = []
        for (number, name, path), outcome in zip(work, outcomes):
            reports[number].append(judge(name, str(path), prepared[name][1], outcome,
                                         references.for_exercise(name)))
            judged.append(({**prepared[name][0], "file": str(path)}, prepared[name][1], reports[number][-1]))
        place_at_fault(judged, lambda tasks: run_workers(tasks, timeout, jobs or os.cpu_count() or 1))
        return reports
