"""The command line: parse, call, print. Nothing else lives here.

list, check, drill and stats are here; the last lines register the others (cli_practice,
interview_cli, see) on the `cli` group.
"""
from __future__ import annotations

import difflib
import functools
import importlib
import json
import math
import secrets
import sys
from pathlib import Path

import click

from bpdrill import __version__, catalog, i18n
from bpdrill.practice import drill, history, interview, progress, workspace
from bpdrill.grading import refcache, runner
from bpdrill.columns import table
from bpdrill.practice.drill import format_seconds
from bpdrill.i18n import t
from bpdrill.grading.report import RunReport, render


class UsageProblem(click.ClickException):
    """A mistake in how bpdrill was called (or where): one line, exit status 2."""
    exit_code = 2


class FiniteRange(click.FloatRange):
    """A number within a range (seconds, minutes). nan passes a FloatRange (it compares
    False with both ends), so every non-finite value is refused here, before anything runs."""
    name = "number"

    def convert(self, value, param, ctx):
        number = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(t("{value} is not a finite number", value=value), param, ctx)
        return super().convert(number, param, ctx)


def _names_or_fail(names) -> list[str]:
    known = catalog.names()
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            suggestion = t(" (did you mean {name}?)", name=close[0]) if close else ""
            raise UsageProblem(t("unknown exercise {name!r}{suggestion}; the exercises are: {names}",
                                 name=name, suggestion=suggestion, names=", ".join(known)))
    return list(dict.fromkeys(names))  # in the order given, once each


def _workspace(option, create: bool = True) -> Path:
    try:
        ws = workspace.resolve(option)
        if create:
            workspace.ensure(ws)
    except (workspace.WorkspaceError, OSError) as exc:
        raise UsageProblem(str(exc)) from None
    return ws


def _history() -> history.History:
    """The practice record. Trouble with its file is said on stderr and never stops a command."""
    return history.History.open(warn=lambda message: click.echo(message, err=True))


def common(command):
    """--workspace and --lang on every command that reads the workspace."""
    @click.option("--workspace", "workspace_dir", metavar="DIR", envvar=workspace.ENV_VAR,
                  help="The folder with your exercise files (default: $BPDRILL_WORKSPACE, else found from here).")
    @click.option("--lang", type=click.Choice(i18n.LANGS), help="Language: en or zh (default: $BPDRILL_LANG or the locale).")
    @functools.wraps(command)
    def wrapper(*args, lang=None, **kwargs):
        i18n.set_language(i18n.choose(lang))
        return command(*args, **kwargs)
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bpdrill")
def cli():
    """Drill backpropagation by hand: fill in the TODOs, then `bpdrill check NAME`."""


# ---- list -------------------------------------------------------------------------------

@cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")
@common
def list_command(as_json, workspace_dir):
    """The exercises, in order, with your progress."""
    ws = _workspace(workspace_dir)
    hist = _history()
    rows = []
    for ex in catalog.exercises():
        path = ws / ex.filename
        now = progress.progress(hist, ex.name, str(ws), workspace.content_hash(path),
                                workspace.is_untouched(ws, ex.name) or interview.is_blank(ws, ex.name))
        rows.append({"name": ex.name, "title": ex.text("title", i18n.language()), "difficulty": ex.difficulty,
                     "status": now.status, "progress": now.progress, "passes_now": now.passes_now,
                     "solved_before": now.solved_before,
                     "best_score": list(now.best_score) if now.best_score else None,
                     "best_seconds": now.best_seconds, "file": str(path)})
    if as_json:
        click.echo(json.dumps({"workspace": str(ws), "history": str(hist.path), "exercises": rows},
                              indent=2, ensure_ascii=False))
        return
    click.echo(t("progress in the workspace {path}", path=ws) + "\n")
    words = {"passes_now": t("passes now"), "solved_before": t("solved before"),
             "not_started": t("not started"), "in_progress": t("in progress")}
    cells = [(t("exercise"), t("level"), t("status"), t("best score"), t("best time"), t("title"))]
    for r in rows:
        cells.append((r["name"], "*" * r["difficulty"], words[r["progress"]],
                      f"{r['best_score'][0]}/{r['best_score'][1]}" if r["best_score"] else "-",
                      format_seconds(r["best_seconds"]) if r["best_seconds"] is not None else "-", r["title"]))
    click.echo("\n".join(table(cells, "<<<<<<")))
    if any(r["progress"] == "solved_before" for r in rows):
        click.echo("\n" + t("solved before: full marks once in this workspace, but not for the file as it "
                            "is now; `bpdrill check NAME` tells where it stands"))
    nxt = next((r for r in rows if r["progress"] != "passes_now"), None)
    if nxt:
        click.echo("\n" + t("next: bpdrill drill {name}   (or edit {file}, then bpdrill check {name})",
                       name=nxt["name"], file=nxt["file"]))


# ---- check ------------------------------------------------------------------------------

@cli.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--all", "all_", is_flag=True, help="Check every exercise (the default with no NAME).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="Draw the hidden inputs from this seed.")
@click.option("--solution", is_flag=True, help="Check the reference solutions instead of your files.")
@click.option("--timeout", type=FiniteRange(0.5, 600), default=runner.DEFAULT_TIMEOUT,
              show_default=True, help="Seconds each exercise's code may run.")
@click.option("-v", "--verbose", is_flag=True, help="Show passed checks and the worst elements of each failure.")
@common
def check(names, all_, as_json, seed, solution, timeout, verbose, workspace_dir):
    """Grade exercises with hidden checks. Exit 0 only when every one has full marks."""
    if all_ and names:
        raise UsageProblem(t("give exercise names or --all, not both"))
    selected = _names_or_fail(names) if names else catalog.names()
    if solution:
        ws = None
        files = {name: workspace.solution_path(name) for name in selected}
    else:
        ws = _workspace(workspace_dir)
        try:
            files = {name: workspace.exercise_file(ws, name) for name in selected}
        except workspace.WorkspaceError as exc:
            raise UsageProblem(str(exc)) from None
    seed, pooled = _seed(seed, selected)
    hashes = {name: workspace.content_hash(path) for name, path in files.items()}
    reports = runner.run_checks(files, seed, timeout=timeout)
    _after_run(selected, seed, pooled)
    report = RunReport(seed, str(ws if ws is not None else workspace.solution_path(selected[0]).parent),
                       reports)
    clock = None
    hist = _history() if ws is not None else None
    active = _record(hist, ws, reports, seed, _unchanged(files, hashes)) if ws is not None else None
    if active is not None:
        clock = {"exercise": active.exercise, "elapsed_seconds": active.elapsed(),
                 "limit_seconds": active.limit_seconds, "solved": active.solved,
                 "time_to_green_seconds": active.green_seconds, "line": drill.clock_line(active)}
    if as_json:
        doc = report.to_json()
        if clock is not None:
            doc["drill"] = clock
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        if clock is not None:
            click.echo(click.style(clock["line"], bold=True) + "\n")
        click.echo(render(report, verbose=verbose, style=click.style, plain=interview.is_interview(hist, active)))
    sys.exit(0 if report.all_passed else 1)


def _seed(seed: int | None, names: list[str]) -> tuple[int, bool]:
    """The seed of a run: the one asked for, else a fresh one whose references are ready (the
    pool computed in the background), else any fresh one. (seed, taken from the pool)."""
    if seed is not None:
        return seed, False
    pooled = refcache.pooled_seed(names)
    return (pooled, True) if pooled is not None else (secrets.randbelow(2**31), False)


def _after_run(names: list[str], seed: int, pooled: bool) -> None:
    if pooled:
        refcache.mark_used(names, seed)  # the next run draws other hidden inputs
    refcache.prefetch(names)


def _unchanged(files: dict, before: dict) -> dict:
    """Each file's content hash from before the check, or None where it changed meanwhile
    (saved during the check: which content was graded is not known)."""
    return {name: h if h == workspace.content_hash(files[name]) else None for name, h in before.items()}


def _record(hist, ws: Path, reports, seed: int, hashes: dict):
    """Record each exercise's result; the running drill as it stands after them, or None."""
    active = hist.active_drill(str(ws))
    for r in reports:
        hist.record_check(r.name, str(ws), r.score, r.max_score, r.status, seed, active, hashes.get(r.name))
    interview.note_check(hist, active, reports)
    return hist.drill(active.id) if active is not None else None


# ---- drill ------------------------------------------------------------------------------

@cli.command("drill")
@click.argument("name", required=False)
@click.option("--random", "pick", is_flag=True, help="Pick what is due for review, else the exercise you are weakest at.")
@click.option("--minutes", type=FiniteRange(0.5, 600), help="The time limit (default: the exercise's).")
@click.option("--interview", "blank_page", is_flag=True,
              help="Interview mode: a blank page, no hints, diagnoses without the fix, timed apart.")
@common
def drill_command(name, pick, minutes, blank_page, workspace_dir):
    """Timed practice: a fresh skeleton (your old attempt is kept) and a running clock."""
    if bool(name) == bool(pick):
        raise UsageProblem(t("name one exercise to drill, or --random"))
    name = None if pick else _names_or_fail([name])[0]
    ws = _workspace(workspace_dir)
    hist = _history()
    if not hist.can_write():  # before the skeleton is laid: no drill, nothing touched
        raise click.ClickException(t("no drill started: it needs the practice history (see the warning above)"))
    name = name or interview_cli.due_exercise(hist) or drill.pick_random(hist, str(ws))
    try:
        started = (interview.start if blank_page else drill.start)(hist, ws, name, minutes)
    except workspace.WorkspaceError as exc:
        raise UsageProblem(str(exc)) from None
    if started.drill is None:
        raise click.ClickException(t("no drill started: it needs the practice history (see the warning above)"))
    ex = catalog.get(name)
    lang = i18n.language()
    click.echo(click.style(t("Drill: {title} ({name})", title=ex.text("title", lang), name=name), bold=True))
    click.echo(t("Task: {task}", task=ex.text("task", lang)))
    click.echo(t("Edit: {file}", file=started.file))
    click.echo(t("Time limit: {limit}. The clock is running.", limit=format_seconds(started.drill.limit_seconds)))
    if started.kept:
        click.echo(t("Your previous attempt is kept at {path}", path=started.kept))
    if blank_page:
        click.echo(t("Interview mode: a blank page, no hints; a failed check names the mistake and where, "
                     "not the fix. Check: bpdrill check {name}", name=name))
        return
    click.echo(t("Check: bpdrill check {name}  (or bpdrill watch {name}); stuck: bpdrill hint {name}", name=name))


# ---- stats ------------------------------------------------------------------------------

@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")
@common
def stats(as_json, workspace_dir):
    """Your practice history per exercise in this workspace: attempts, times to green, scores, trend."""
    ws = _workspace(workspace_dir, create=False)
    hist = _history()
    rows = [interview.practice_stats(hist, name, str(ws)) for name in catalog.names()]
    extra, extra_lines = interview_cli.stats_extra(hist)
    if as_json:
        click.echo(json.dumps({"workspace": str(ws), "history": str(hist.path),
                               "exercises": [r.to_json() for r in rows], **extra}, indent=2, ensure_ascii=False))
        return
    click.echo(t("practice in the workspace {path} (recorded in {history})", path=ws, history=hist.path) + "\n")
    cells = [(t("exercise"), t("drills"), t("solved"), t("best"), t("median"), t("last score"), t("trend"),
              t("hints"))]
    for r in rows:
        cells.append((r.exercise, str(r.attempts), str(r.solved),
                      format_seconds(r.best_seconds) if r.best_seconds is not None else "-",
                      format_seconds(r.median_seconds) if r.median_seconds is not None else "-",
                      f"{r.last_score[0]}/{r.last_score[1]}" if r.last_score else "-",
                      t(r.trend) if r.trend else "-", str(r.hints)))
    click.echo("\n".join(table(cells, "<>>>>><>")))
    over = sum(r.over_time for r in rows)
    if over:
        click.echo("\n" + t("{count} solved drills ran over their time limit", count=over))
    for line in extra_lines:
        click.echo(line)


def main():
    try:
        code = cli.main(prog_name="bpdrill", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        # Workers are already killed and their folders removed (runner.run_checks).
        click.echo("\n" + t("bpdrill: interrupted"), err=True)
        code = 130
    sys.exit(code or 0)


from bpdrill.cli import interview as interview_cli  # noqa: E402  registers ask, today and mock on `cli`
from bpdrill.cli import see  # noqa: E402 - bpdrill explore, bpdrill capstone commands that show, not grade

see.register(cli)
importlib.import_module("bpdrill.cli.practice")  # registers hint, reset, solution, watch and init on `cli`
