"""The commands of practice: drill (timed, with a fresh skeleton), stats, and those around an
exercise file: hint, reset, solution, watch, and init (a new workspace). Click only: parse,
call, print.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import click

from bpdrill import catalog, i18n
from bpdrill.cli.common import FiniteRange, UsageProblem, common, exercise_names, pass_session
from bpdrill.cli.interview import due_exercise, stats_extra
from bpdrill.columns import table
from bpdrill.core import source
from bpdrill.grading import refcache, runner
from bpdrill.grading.limits import DEFAULT_TIMEOUT
from bpdrill.grading.report import diagnosis_text
from bpdrill.i18n import t
from bpdrill.practice import drill, interview, workspace
from bpdrill.practice.drill import format_seconds
from bpdrill.practice.record import record_checks, unchanged_hashes


# ---- drill ------------------------------------------------------------------------------

@click.command("drill")
@click.argument("name", required=False)
@click.option("--random", "pick", is_flag=True, help="Pick what is due for review, else the exercise you are weakest at.")
@click.option("--minutes", type=FiniteRange(0.5, 600), help="The time limit (default: the exercise's).")
@click.option("--interview", "blank_page", is_flag=True,
              help="Interview mode: a blank page, no hints, diagnoses without the fix, timed apart.")
@common
def drill_command(session, name, pick, minutes, blank_page):
    """Timed practice: a fresh skeleton (your old attempt is kept) and a running clock."""
    if bool(name) == bool(pick):
        raise UsageProblem(t("name one exercise to drill, or --random"))
    name = None if pick else exercise_names([name])[0]
    ws = session.workspace()
    hist = session.history()
    if not hist.can_write():  # before the skeleton is laid: no drill, nothing touched
        raise click.ClickException(t("no drill started: it needs the practice history (see the warning above)"))
    name = name or due_exercise(hist) or drill.pick_random(hist, str(ws))
    replaced = drill.replaced_line(hist.active_drill(str(ws)))
    try:
        started = (interview.start if blank_page else drill.start)(hist, ws, name, minutes)
    except workspace.WorkspaceError as exc:
        raise UsageProblem(str(exc)) from None
    if started.drill is None:
        raise click.ClickException(t("no drill started: it needs the practice history (see the warning above)"))
    if replaced:
        click.echo(replaced)
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

@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")
@click.option("--plot", is_flag=True,
              help="Time to green per exercise over attempts: a terminal chart, and a PNG with the `see` extra.")
@click.option("--open", "open_it", is_flag=True, help="With --plot: open the PNG where a viewer exists.")
@common
def stats(session, as_json, plot, open_it):
    """Your practice history per exercise in this workspace: attempts, times to green, scores, trend."""
    ws = session.workspace(create=False)
    hist = session.history()
    if plot:
        _plot(hist, ws, as_json, open_it)
        return
    rows = [interview.practice_stats(hist, name, str(ws)) for name in catalog.names()]
    extra, extra_lines = stats_extra(hist)
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


def _plot(hist, ws, as_json: bool, open_it: bool) -> None:
    """stats --plot: each exercise's times to green over its attempts."""
    from bpdrill.explore import plots
    from bpdrill.practice import progress
    ids = interview.drill_ids(hist)
    series = {name: progress.attempts(hist, name, str(ws), ids) for name in catalog.names()}
    series = {name: runs for name, runs in series.items() if runs}
    png, missing = None, None
    if any(a.green_seconds is not None for runs in series.values() for a in runs):
        try:
            png = plots.progress_png(series, plots.output_path("time_to_green.png"))
        except plots.MissingExtra as exc:
            missing = str(exc)
    if as_json:
        click.echo(json.dumps({"workspace": str(ws), "history": str(hist.path), "png": str(png) if png else None,
                               "exercises": {name: [a.to_json() for a in runs] for name, runs in series.items()}},
                              indent=2, ensure_ascii=False))
        return
    click.echo(click.style(t("Time to green over attempts in {path}", path=ws), bold=True))
    if not series:
        click.echo(t("no drills yet: `bpdrill drill NAME` starts one, and each solved drill adds a mark here"))
        return
    click.echo(t("one mark per drill, oldest first; its height is the time to full marks (lower is faster); "
                 "× not solved") + "\n")
    width = max(len(name) for name in series)
    for name, runs in series.items():
        times = [a.green_seconds for a in runs]
        solved = [x for x in times if x is not None]
        summary = ""
        if solved:
            summary = t("first {first}, last {last}, best {best}", first=format_seconds(solved[0]),
                        last=format_seconds(solved[-1]), best=format_seconds(min(solved)))
            verdict = progress.trend(solved)
            if verdict:
                summary += f" ({t(verdict)})"
        click.echo(f"  {name:<{width}}  {progress.sparkline(times):<12}  {summary}")
    if png is not None:
        click.echo("\n" + t("plot: {path}", path=png))
        if open_it:
            plots.open_file(png)
    elif missing:
        click.echo("\n" + missing)


# ---- hint -------------------------------------------------------------------------------

@click.command()
@click.argument("name")
@common
def hint(session, name):
    """The next hint for an exercise, one level deeper each time."""
    name = exercise_names([name])[0]
    ws = session.workspace()
    ex = catalog.get(name)
    if not ex.hints:
        raise UsageProblem(t("no hints are written for {name} yet", name=name))
    hist = session.history()
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

@click.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--all", "all_", is_flag=True, help="Reset every exercise.")
@common
def reset(session, names, all_):
    """Lay a fresh skeleton; your old attempt is kept in .attempts/."""
    if not names and not all_:
        raise UsageProblem(t("name an exercise to reset, or --all"))
    if names and all_:
        raise UsageProblem(t("give exercise names or --all, not both"))
    ws = session.workspace()
    hist = session.history()
    for name in catalog.names() if all_ else exercise_names(names):
        try:
            kept = workspace.reset(ws, name)
        except workspace.WorkspaceError as exc:
            raise UsageProblem(str(exc)) from None
        hist.reset_hints(name, str(ws))
        note = t(" (your attempt is kept at {path})", path=kept) if kept else ""
        click.echo(t("{name}: fresh skeleton at {path}{note}", name=name, path=ws / f"{name}.py", note=note))


# ---- solution ---------------------------------------------------------------------------

def _reveal(session, name: str, question: str) -> bool:
    """May the answer to `name` be shown? During its running drill, only once the learner says
    yes (no answer, as without a terminal, is no), which ends the drill unsolved."""
    hist = session.history()
    active = hist.active_drill(str(session.workspace()))
    if active is None or active.exercise != name or active.solved:
        return True
    try:
        shown = click.confirm(question, default=False, err=True)
    except click.Abort:  # no answer (no terminal): keep the drill going
        shown = False
    if not shown:  # a choice, not an error
        click.echo(t("not shown; the drill goes on"))
        return False
    hist.end_drill(active.id, solution_seen=True)
    return True


@click.command()
@click.argument("name")
@click.option("--diff", "as_diff", is_flag=True, help="Show how your file differs from the reference.")
@common
def solution(session, name, as_diff):
    """The reference solution, or how yours differs from it."""
    name = exercise_names([name])[0]
    if not _reveal(session, name, t("A drill of {name} is running: seeing the solution ends it unsolved. "
                                    "Show it?", name=name)):
        return
    reference = workspace.solution_path(name).read_text(encoding="utf-8")
    if not as_diff:
        click.echo(reference)
        return
    ws = session.workspace()
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


# ---- explain ----------------------------------------------------------------------------

@click.command()
@click.argument("name")
@common
def explain(session, name):
    """The worked derivation of an exercise: what is cached, the chain rule with shapes, the
    formula, the traps."""
    from bpdrill.practice import explain as derivations
    name = exercise_names([name])[0]
    if not _reveal(session, name, t("A drill of {name} is running: reading the derivation ends it unsolved. "
                                    "Show it?", name=name)):
        return
    try:
        click.echo(derivations.text(name, i18n.language()))
    except KeyError:
        raise UsageProblem(t("no derivation is written for {name} yet", name=name)) from None


# ---- watch ------------------------------------------------------------------------------

@click.command()
@click.argument("name")
@click.option("--interval", type=FiniteRange(0.05, 10), default=0.1, show_default=True,
              help="Seconds of quiet after a save before the check (an editor may write a file in steps).")
@click.option("--timeout", type=FiniteRange(0.5, 600), default=DEFAULT_TIMEOUT, show_default=True,
              help="Seconds each check may run.")
@common
def watch(session, name, interval, timeout):
    """Re-check an exercise every time you save it (Ctrl-C stops)."""
    import watchfiles

    name = exercise_names([name])[0]
    ws = session.workspace()
    try:
        path = workspace.exercise_file(ws, name)
    except workspace.WorkspaceError as exc:
        raise UsageProblem(str(exc)) from None
    hist = session.history()
    click.echo(t("watching {path}; save to re-check, Ctrl-C to stop", path=path))
    graded = workspace.content_hash(path)
    try:
        click.echo(_watch_round(name, path, ws, hist, timeout))
        # The folder, not the file: many editors save by writing a new file and renaming it
        # over the old one. The system tells of each change (inotify, FSEvents ...); changes
        # that come within `interval` of each other are one save. Every second without one,
        # the content is compared all the same: a save made while the watcher was starting
        # (during the first round) is not missed.
        for _ in watchfiles.watch(ws, watch_filter=lambda change, where: Path(where).name == path.name,
                                  debounce=int(interval * 1000), step=20, recursive=False,
                                  rust_timeout=1000, yield_on_timeout=True):
            now = workspace.content_hash(path)
            if now is None or now == graded:
                continue  # gone for a moment, touched without a change, or nothing happened
            graded = now
            click.echo(_watch_round(name, path, ws, hist, timeout))
    except KeyboardInterrupt:
        click.echo(t("stopped watching"))


def _watch_round(name, path, ws, hist, timeout) -> str:
    seed, pooled = refcache.draw_seed(None, [name])
    before = {name: workspace.content_hash(path)}
    report = runner.run_checks({name: path}, seed, timeout=timeout)[0]
    refcache.after_run([name], seed, pooled)
    line = [time.strftime("%H:%M:%S"), f"{name} {report.score}/{report.max_score}"]
    active = record_checks(hist, ws, [report], seed, unchanged_hashes({name: path}, before))
    if active is not None and active.exercise == name:
        line.append(drill.clock_line(active))
    text = "  ".join(line)
    failing = next((c for c in report.checks if not c.passed), None)
    if report.status == "passed":
        from bpdrill.practice import explain
        done = click.style(text + "  " + t("full marks"), fg="green")
        if explain.first_full_marks(hist, str(ws), name):
            done += "\n\n" + click.style(t("First full marks for {name}. How it is derived (again any time: "
                                           "bpdrill explain {name}):", name=name), bold=True) + "\n\n" + \
                explain.text(name, i18n.language())
        return done
    detail = report.message or (f"{failing.name}: {failing.message}" if failing else "")
    if failing is not None and failing.diagnosis is not None:
        detail += "\n    " + t("looks like:") + " " + diagnosis_text(failing.diagnosis,
                                                                  name in interview.plain_names(hist, active))
    return text + "\n    " + detail


# ---- init -------------------------------------------------------------------------------

@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--lang", type=click.Choice(i18n.LANGS, case_sensitive=False), help="Language: en or zh.")
@pass_session
def init(session, directory: Path, lang):
    """Create a workspace in DIRECTORY (for a kit installed without a clone)."""
    session.use(lang=lang.lower() if lang else None)
    ws = directory.expanduser().resolve()
    try:
        laid = workspace.ensure(ws)
    except (workspace.WorkspaceError, OSError) as exc:
        raise UsageProblem(str(exc)) from None
    click.echo(t("workspace ready at {path} ({count} new exercise files).", path=ws, count=len(laid)))
    click.echo(t("from inside it, run: bpdrill drill linear   (or bpdrill check linear)"))
