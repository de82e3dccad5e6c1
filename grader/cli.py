"""The command line: parse, call, print. Nothing else lives here."""
from __future__ import annotations

import difflib
import json
import secrets
import sys
from pathlib import Path

import click

from bpdrill import __version__, catalog, runner, workspace
from bpdrill.report import RunReport, render


class UsageProblem(click.ClickException):
    """A mistake in how bpdrill was called (or where): one line, exit status 2."""
    exit_code = 2


def _names_or_fail(names) -> list[str]:
    known = catalog.names()
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            suggestion = f" (did you mean {close[0]}?)" if close else ""
            raise UsageProblem(f"unknown exercise {name!r}{suggestion}; the exercises are: {', '.join(known)}")
    return list(dict.fromkeys(names))  # in the order given, once each


def _workspace(option) -> Path:
    try:
        ws = workspace.resolve(option)
        workspace.ensure(ws)
    except (workspace.WorkspaceError, OSError) as exc:
        raise UsageProblem(str(exc)) from None
    return ws


workspace_option = click.option(
    "--workspace", "workspace_dir", metavar="DIR", envvar=workspace.ENV_VAR,
    help=f"The folder with your exercise files (default: ${workspace.ENV_VAR}, else found from here).")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bpdrill")
def cli():
    """Drill backpropagation by hand: fill in the TODOs, then `bpdrill check NAME`."""


@cli.command("list")
@workspace_option
def list_command(workspace_dir):
    """The exercises, in order, with your progress."""
    ws = _workspace(workspace_dir)
    click.echo(f"workspace: {ws}\n")
    click.echo(f"{'exercise':<12} {'level':<6} {'file':<10} task")
    for ex in catalog.exercises():
        state = "untouched" if workspace.is_untouched(ws, ex.name) else "edited"
        click.echo(f"{ex.name:<12} {'*' * ex.difficulty:<6} {state:<10} {ex.task}")
    click.echo("\nstart with: bpdrill check linear")


@cli.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--all", "all_", is_flag=True, help="Check every exercise (the default with no NAME).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="Draw the hidden inputs from this seed.")
@click.option("--solution", is_flag=True, help="Check the reference solutions instead of your files.")
@click.option("--timeout", type=click.FloatRange(0.5, 600), default=runner.DEFAULT_TIMEOUT,
              show_default=True, help="Seconds each exercise's code may run.")
@click.option("-v", "--verbose", is_flag=True, help="Show passed checks and the worst elements of each failure.")
@workspace_option
def check(names, all_, as_json, seed, solution, timeout, verbose, workspace_dir):
    """Grade exercises with hidden checks. Exit 0 only when every one has full marks."""
    if all_ and names:
        raise UsageProblem("give exercise names or --all, not both")
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
    seed = secrets.randbelow(2**31) if seed is None else seed
    reports = runner.run_checks(files, seed, timeout=timeout)
    report = RunReport(seed, str(ws if ws is not None else workspace.solution_path(selected[0]).parent),
                       reports)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(render(report, verbose=verbose, style=click.style))
    sys.exit(0 if report.all_passed else 1)


@cli.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--all", "all_", is_flag=True, help="Reset every exercise.")
@workspace_option
def reset(names, all_, workspace_dir):
    """Lay a fresh skeleton; your old attempt is kept in .attempts/."""
    if not names and not all_:
        raise UsageProblem("name an exercise to reset, or --all")
    ws = _workspace(workspace_dir)
    for name in catalog.names() if all_ else _names_or_fail(names):
        kept = workspace.reset(ws, name)
        note = f" (your attempt is kept at {kept})" if kept else ""
        click.echo(f"{name}: fresh skeleton at {ws / (name + '.py')}{note}")


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path):
    """Create a workspace in DIRECTORY (for a kit installed without a clone)."""
    ws = directory.expanduser().resolve()
    try:
        laid = workspace.ensure(ws)
    except (workspace.WorkspaceError, OSError) as exc:
        raise UsageProblem(str(exc)) from None
    click.echo(f"workspace ready at {ws} ({len(laid)} new exercise files).")
    click.echo(f"from inside it, run: bpdrill check linear")


def main():
    try:
        code = cli.main(prog_name="bpdrill", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        code = exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        # Workers are already killed and their folders removed (runner.run_checks).
        click.echo("\nbpdrill: interrupted", err=True)
        code = 130
    sys.exit(code or 0)
