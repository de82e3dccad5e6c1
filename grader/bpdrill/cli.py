"""The command line: parse, call, print. Nothing else lives here."""
from __future__ import annotations

import difflib
import functools
import json
import secrets
import sys
import time
from pathlib import Path

import click

from bpdrill import __version__, catalog, drill, history, i18n, reference, runner, workspace
from bpdrill.drill import format_seconds
from bpdrill.i18n import t
from bpdrill.report import RunReport, render


class UsageProblem(click.ClickException):
    """A mistake in how bpdrill was called (or where): one line, exit status 2."""
    exit_code = 2


def _names_or_fail(names) -> list[str]:
    known = catalog.names()
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            suggestion = t(" (did you mean {name}?)", name=close[0]) if close else ""
            raise UsageProblem(t("unknown exercise {name!r}{suggestion}; the exercises are: {names}",
                                 name=name, suggestion=suggestion, names=", ".join(known)))
    return list(dict.fromkeys(names))  # in the order given, once each


def _workspace(option) -> Path:
    try:
        ws = workspace.resolve(option)
        workspace.ensure(ws)
    except (workspace.WorkspaceError, OSError) as exc:
        raise UsageProblem(str(exc)) from None
    return ws


def _history() -> history.History | None:
    """The practice record, or None (with a warning) when its file cannot be opened."""
    try:
        return history.History.open()
    except (OSError, history.sqlite3.Error) as exc:
        click.echo(t("warning: no practice history this time ({error})", error=exc), err=True)
        return None


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
        stats = history.exercise_stats(hist, ex.name) if hist else None
        best = stats.best_score if stats else None
        if best and best[0] == best[1]:
            status = "passed"
        elif workspace.is_untouched(ws, ex.name):
            status = "not_started"
        else:
            status = "in_progress"
        rows.append({"name": ex.name, "title": ex.text("title", i18n.language()), "difficulty": ex.difficulty,
                     "status": status, "best_score": list(best) if best else None,
                     "best_seconds": stats.best_seconds if stats else None,
                     "file": str(ws / ex.filename)})
    if as_json:
        click.echo(json.dumps({"workspace": str(ws), "exercises": rows}, indent=2, ensure_ascii=False))
        return
    click.echo(t("workspace: {path}", path=ws) + "\n")
    header = (t("exercise"), t("level"), t("status"), t("best score"), t("best time"), t("title"))
    click.echo(f"{header[0]:<12} {header[1]:<6} {header[2]:<13} {header[3]:<11} {header[4]:<10} {header[5]}")
    status_words = {"passed": t("passed"), "not_started": t("not started"), "in_progress": t("in progress")}
    for r in rows:
        best = f"{r['best_score'][0]}/{r['best_score'][1]}" if r["best_score"] else "-"
        when = format_seconds(r["best_seconds"]) if r["best_seconds"] is not None else "-"
        click.echo(f"{r['name']:<12} {'*' * r['difficulty']:<6} {status_words[r['status']]:<13} "
              f"{best:<11} {when:<10} {r['title']}")
    nxt = next((r for r in rows if r["status"] != "passed"), None)
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
@click.option("--timeout", type=click.FloatRange(0.5, 600), default=runner.DEFAULT_TIMEOUT,
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
    reports = runner.run_checks(files, seed, timeout=timeout)
    _after_run(selected, seed, pooled)
    report = RunReport(seed, str(ws if ws is not None else workspace.solution_path(selected[0]).parent),
                       reports)
    clock = None
    active = _record(_history(), ws, reports, seed) if ws is not None else None
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
        click.echo(render(report, verbose=verbose, style=click.style))
    sys.exit(0 if report.all_passed else 1)


def _seed(seed: int | None, names: list[str]) -> tuple[int, bool]:
    """The seed of a run: the one asked for, else a fresh one whose references are ready (the
    pool computed in the background), else any fresh one. (seed, taken from the pool)."""
    if seed is not None:
        return seed, False
    pooled = reference.pooled_seed(names)
    return (pooled, True) if pooled is not None else (secrets.randbelow(2**31), False)


def _after_run(names: list[str], seed: int, pooled: bool) -> None:
    if pooled:
        reference.mark_used(names, seed)  # the next run draws other hidden inputs
    reference.prefetch(names)


def _record(hist, ws: Path, reports, seed: int):
    """Record each exercise's result; the running drill as it stands after them, or None."""
    if hist is None:
        return None
    active = hist.active_drill(str(ws))
    for r in reports:
        hist.record_check(r.name, str(ws), r.score, r.max_score, r.status, seed, active)
    return hist.drill(active.id) if active is not None else None


# ---- drill ------------------------------------------------------------------------------

@cli.command("drill")
@click.argument("name", required=False)
@click.option("--random", "pick", is_flag=True, help="Pick the exercise you are weakest at.")
@click.option("--minutes", type=click.FloatRange(0.5, 600), help="The time limit (default: the exercise's).")
@common
def drill_command(name, pick, minutes, workspace_dir):
    """Timed practice: a fresh skeleton (your old attempt is kept) and a running clock."""
    if bool(name) == bool(pick):
        raise UsageProblem(t("name one exercise to drill, or --random"))
    ws = _workspace(workspace_dir)
    hist = _history()
    if hist is None:
        raise UsageProblem(t("a drill needs the practice history, which cannot be opened"))
    name = drill.pick_random(hist) if pick else _names_or_fail([name])[0]
    started = drill.start(hist, ws, name, minutes)
    ex = catalog.get(name)
    lang = i18n.language()
    click.echo(click.style(t("Drill: {title} ({name})", title=ex.text("title", lang), name=name), bold=True))
    click.echo(t("Task: {task}", task=ex.text("task", lang)))
    click.echo(t("Edit: {file}", file=started.file))
    click.echo(t("Time limit: {limit}. The clock is running.", limit=format_seconds(started.drill.limit_seconds)))
    if started.kept:
        click.echo(t("Your previous attempt is kept at {path}", path=started.kept))
    click.echo(t("Check: bpdrill check {name}  (or bpdrill watch {name}); stuck: bpdrill hint {name}", name=name))


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
    level = hist.next_hint_level(name, str(ws), len(ex.hints)) if hist else 1
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
        kept = workspace.reset(ws, name)
        if hist:
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
    active = hist.active_drill(str(ws)) if hist else None
    if active is not None and active.exercise == name and not active.solved:
        question = t("A drill of {name} is running: seeing the solution ends it unsolved. Show it?", name=name)
        try:
            shown = click.confirm(question, default=False, err=True)
        except click.Abort:  # no answer (no terminal): keep the drill going
            shown = False
        if not shown:
            raise click.ClickException(t("not shown; the drill goes on"))
        hist.end_drill(active.id, solution_seen=True)
    reference = workspace.solution_path(name).read_text(encoding="utf-8")
    if not as_diff:
        click.echo(reference)
        return
    mine = workspace.exercise_file(ws, name).read_text(encoding="utf-8")
    lines = list(difflib.unified_diff(mine.splitlines(keepends=True), reference.splitlines(keepends=True),
                                      fromfile=t("your {name}.py", name=name),
                                      tofile=t("reference {name}.py", name=name)))
    click.echo("".join(lines) if lines else t("your file is the reference, line for line"))


# ---- watch ------------------------------------------------------------------------------

@cli.command()
@click.argument("name")
@click.option("--interval", type=click.FloatRange(0.05, 10), default=0.3, show_default=True,
              help="Seconds between looks at the file.")
@click.option("--timeout", type=click.FloatRange(0.5, 600), default=runner.DEFAULT_TIMEOUT, show_default=True,
              help="Seconds each check may run.")
@common
def watch(name, interval, timeout, workspace_dir):
    """Re-check an exercise every time you save it (Ctrl-C stops)."""
    name = _names_or_fail([name])[0]
    ws = _workspace(workspace_dir)
    path = workspace.exercise_file(ws, name)
    hist = _history()
    click.echo(t("watching {path}; save to re-check, Ctrl-C to stop", path=path))
    seen = None
    try:
        while True:
            try:
                stamp = path.stat().st_mtime_ns, path.stat().st_size
            except FileNotFoundError:
                stamp = None
            if stamp != seen and stamp is not None:
                seen = stamp
                click.echo(_watch_round(name, path, ws, hist, timeout))
            time.sleep(interval)
    except KeyboardInterrupt:
        click.echo(t("stopped watching"))


def _watch_round(name, path, ws, hist, timeout) -> str:
    seed, pooled = _seed(None, [name])
    report = runner.run_checks({name: path}, seed, timeout=timeout)[0]
    _after_run([name], seed, pooled)
    line = [time.strftime("%H:%M:%S"), f"{name} {report.score}/{report.max_score}"]
    active = _record(hist, ws, [report], seed)
    if active is not None and active.exercise == name:
        line.append(drill.clock_line(active))
    text = "  ".join(line)
    failing = next((c for c in report.checks if not c.passed), None)
    if report.status == "passed":
        return click.style(text + "  " + t("full marks"), fg="green")
    detail = report.message or (f"{failing.name}: {failing.message}" if failing else "")
    if failing is not None and failing.diagnosis is not None:
        detail += "\n    " + t("looks like:") + " " + failing.diagnosis.message
    return text + "\n    " + detail


# ---- stats ------------------------------------------------------------------------------

@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")
@common
def stats(as_json, workspace_dir):
    """Your practice history per exercise: attempts, times to green, scores, trend."""
    hist = _history()
    rows = [history.exercise_stats(hist, name) for name in catalog.names()] if hist else []
    if as_json:
        click.echo(json.dumps({"history": str(hist.path) if hist else None,
                          "exercises": [r.to_json() for r in rows]}, indent=2, ensure_ascii=False))
        return
    cols = (t("exercise"), t("drills"), t("solved"), t("best"), t("median"), t("last score"), t("trend"),
            t("hints"))
    click.echo(f"{cols[0]:<12} {cols[1]:>6} {cols[2]:>6} {cols[3]:>8} {cols[4]:>8} {cols[5]:>10}  {cols[6]:<8} {cols[7]:>5}")
    for r in rows:
        best = format_seconds(r.best_seconds) if r.best_seconds is not None else "-"
        median = format_seconds(r.median_seconds) if r.median_seconds is not None else "-"
        last = f"{r.last_score[0]}/{r.last_score[1]}" if r.last_score else "-"
        trend = t(r.trend) if r.trend else "-"
        click.echo(f"{r.exercise:<12} {r.attempts:>6} {r.solved:>6} {best:>8} {median:>8} {last:>10}  {trend:<8} {r.hints:>5}")
    over = sum(r.over_time for r in rows)
    if over:
        click.echo("\n" + t("{count} solved drills ran over their time limit", count=over))


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


from bpdrill import see  # noqa: E402 - bpdrill explore, bpdrill capstone (commands that show, not grade)

see.register(cli)
