"""The commands around an exercise file: hint, reset, solution, watch, and init (a new
workspace). Registered on the `cli` group by the last lines of cli.py; Click only: parse,
call, print.
"""
from __future__ import annotations

import time
from pathlib import Path

import click

from bpdrill import catalog, i18n
from bpdrill.practice import drill, interview, workspace
from bpdrill.grading import runner
from bpdrill.core import source
from bpdrill.cli.main import (FiniteRange, UsageProblem, _after_run, _history, _names_or_fail, _record, _seed,
                         _unchanged, _workspace, cli, common)
from bpdrill.i18n import t
from bpdrill.grading.report import diagnosis_text


# ---- hint -------------------------------------------------------------------------------

@cli.command()
@click.argument("name")
@common
def hint(name, workspace_dir):
    """The next hint for an exercise, one level deeper each time."""
    name = _names_or_fail([name])[0]
    ws = _workspace(workspace_dir)
    ex = catalog.get(name)
    if not ex.hints:
        raise UsageProblem(t("no hints are written for {name} yet", name=name))
    hist = _history()
    if interview.active(hist, ws, name) is not None:
        raise UsageProblem(t("no hints in an interview drill: an interviewer gives none. Practise {name} with "
                             "hints in a plain `bpdrill drill {name}`", name=name))
    level = hist.next_hint_level(name, str(ws), len(ex.hints)) or 1
    click.echo(click.style(t("Hint {level}/{deepest} for {name}:", level=level, deepest=len(ex.hints), name=name),
                      bold=True))
    click.echo(ex.hint(level, i18n.language()))
    if level == len(ex.hints):
        click.echo("\n" + t("That is the deepest hint. `bpdrill solution {name}` shows the reference.", name=name))


# ---- reset ------------------------------------------------------------------------------

@cli.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--all", "all_", is_flag=True, help="Reset every exercise.")
@common
def reset(names, all_, workspace_dir):
    """Lay a fresh skeleton; your old attempt is kept in .attempts/."""
    if not names and not all_:
        raise UsageProblem(t("name an exercise to reset, or --all"))
    if names and all_:
        raise UsageProblem(t("give exercise names or --all, not both"))
    ws = _workspace(workspace_dir)
    hist = _history()
    for name in catalog.names() if all_ else _names_or_fail(names):
        try:
            kept = workspace.reset(ws, name)
        except workspace.WorkspaceError as exc:
            raise UsageProblem(str(exc)) from None
        hist.reset_hints(name, str(ws))
        note = t(" (your attempt is kept at {path})", path=kept) if kept else ""
        click.echo(t("{name}: fresh skeleton at {path}{note}", name=name, path=ws / f"{name}.py", note=note))


# ---- solution ---------------------------------------------------------------------------

@cli.command()
@click.argument("name")
@click.option("--diff", "as_diff", is_flag=True, help="Show how your file differs from the reference.")
@common
def solution(name, as_diff, workspace_dir):
    """The reference solution, or how yours differs from it."""
    name = _names_or_fail([name])[0]
    ws = _workspace(workspace_dir)
    hist = _history()
    active = hist.active_drill(str(ws))
    if active is not None and active.exercise == name and not active.solved:
        question = t("A drill of {name} is running: seeing the solution ends it unsolved. Show it?", name=name)
        try:
            shown = click.confirm(question, default=False, err=True)
        except click.Abort:  # no answer (no terminal): keep the drill going
            shown = False
        if not shown:  # a choice, not an error
            click.echo(t("not shown; the drill goes on"))
            return
        hist.end_drill(active.id, solution_seen=True)
    reference = workspace.solution_path(name).read_text(encoding="utf-8")
    if not as_diff:
        click.echo(reference)
        return
    try:
        mine = workspace.read_text(workspace.exercise_file(ws, name), ws)
    except workspace.WorkspaceError as exc:
        raise UsageProblem(str(exc)) from None
    lines = source.code_diff(mine, reference, t("your line {mine}, reference line {reference}"))
    if not lines:
        click.echo(t("your code is the reference, line for line (comments and blank lines aside)"))
        return
    click.echo(t("--- your {name}.py", name=name))
    click.echo(t("+++ reference {name}.py", name=name))
    click.echo(t("(comments and blank lines are left out of the comparison)"))
    click.echo("\n".join(lines))


# ---- watch ------------------------------------------------------------------------------

@cli.command()
@click.argument("name")
@click.option("--interval", type=FiniteRange(0.05, 10), default=0.1, show_default=True,
              help="Seconds between looks at the file.")
@click.option("--timeout", type=FiniteRange(0.5, 600), default=runner.DEFAULT_TIMEOUT, show_default=True,
              help="Seconds each check may run.")
@common
def watch(name, interval, timeout, workspace_dir):
    """Re-check an exercise every time you save it (Ctrl-C stops)."""
    name = _names_or_fail([name])[0]
    ws = _workspace(workspace_dir)
    try:
        path = workspace.exercise_file(ws, name)
    except workspace.WorkspaceError as exc:
        raise UsageProblem(str(exc)) from None
    hist = _history()
    click.echo(t("watching {path}; save to re-check, Ctrl-C to stop", path=path))
    seen = None
    try:
        while True:
            stamp = _stamp(path)
            if stamp != seen and stamp is not None:
                seen = _settled(path, stamp)
                click.echo(_watch_round(name, path, ws, hist, timeout))
            time.sleep(interval)
    except KeyboardInterrupt:
        click.echo(t("stopped watching"))


def _stamp(path):
    try:
        stat = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return stat.st_mtime_ns, stat.st_size


def _settled(path, stamp, pause: float = 0.02, limit: float = 0.5):
    """The file's stamp once a save is over: an editor that truncates and then writes shows two
    stamps in a row; grading the empty file between them would print a verdict on nothing."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        time.sleep(pause)
        now = _stamp(path)
        if now == stamp:
            return stamp
        stamp = now
    return stamp


def _watch_round(name, path, ws, hist, timeout) -> str:
    seed, pooled = _seed(None, [name])
    before = {name: workspace.content_hash(path)}
    report = runner.run_checks({name: path}, seed, timeout=timeout)[0]
    _after_run([name], seed, pooled)
    line = [time.strftime("%H:%M:%S"), f"{name} {report.score}/{report.max_score}"]
    active = _record(hist, ws, [report], seed, _unchanged({name: path}, before))
    if active is not None and active.exercise == name:
        line.append(drill.clock_line(active))
    text = "  ".join(line)
    failing = next((c for c in report.checks if not c.passed), None)
    if report.status == "passed":
        return click.style(text + "  " + t("full marks"), fg="green")
    detail = report.message or (f"{failing.name}: {failing.message}" if failing else "")
    if failing is not None and failing.diagnosis is not None:
        detail += "\n    " + t("looks like:") + " " + diagnosis_text(failing.diagnosis, interview.is_interview(hist, active))
    return text + "\n    " + detail


# ---- init -------------------------------------------------------------------------------

@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--lang", type=click.Choice(i18n.LANGS), help="Language: en or zh.")
def init(directory: Path, lang):
    """Create a workspace in DIRECTORY (for a kit installed without a clone)."""
    i18n.set_language(i18n.choose(lang))
    ws = directory.expanduser().resolve()
    try:
        laid = workspace.ensure(ws)
    except (workspace.WorkspaceError, OSError) as exc:
        raise UsageProblem(str(exc)) from None
    click.echo(t("workspace ready at {path} ({count} new exercise files).", path=ws, count=len(laid)))
    click.echo(t("from inside it, run: bpdrill drill linear   (or bpdrill check linear)"))
