"""`bpdrill list` and `bpdrill check`: the exercises with progress, and grading them.

`check` starts the PyTorch helper before it imports the grader, so that torch's import
overlaps the grader's own start (bpdrill.grading.helper); the grader is imported inside it.
"""
from __future__ import annotations

import json
import sys

import click

from bpdrill import catalog, i18n
from bpdrill.cli.common import FiniteRange, UsageProblem, common, exercise_names
from bpdrill.columns import table
from bpdrill.grading import helper as helper_process
from bpdrill.grading import zygote_client
from bpdrill.grading.limits import DEFAULT_TIMEOUT
from bpdrill.i18n import t
from bpdrill.practice import workspace
from bpdrill.practice.drill import format_seconds


FORMATS = ("text", "json", "gradescope", "github")


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")
@common
def list_command(session, as_json):
    """The exercises, in order, with your progress."""
    from bpdrill.practice.overview import exercise_rows
    ws = session.workspace()
    hist = session.history()
    rows = exercise_rows(hist, ws)
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


@click.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--all", "all_", is_flag=True, help="Check every exercise (the default with no NAME).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of a table.")
@click.option("--format", "output_format", type=click.Choice(FORMATS, case_sensitive=False), default="text",
              show_default=True, help="text; json (as --json); gradescope: Gradescope's results.json; "
                                      "github: GitHub Classroom's autograding result.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="Draw the hidden inputs from this seed.")
@click.option("--solution", is_flag=True, help="Check the reference solutions instead of your files.")
@click.option("--timeout", type=FiniteRange(0.5, 600), default=DEFAULT_TIMEOUT,
              show_default=True, help="Seconds each exercise's code may run.")
@click.option("-v", "--verbose", is_flag=True, help="Show passed checks and the worst elements of each failure.")
@common
def check(session, names, all_, as_json, output_format, seed, solution, timeout, verbose):
    """Grade exercises with hidden checks. Exit 0 only when every one has full marks."""
    output_format = output_format.lower()
    if as_json and output_format not in ("text", "json"):
        raise UsageProblem(t("give --json or --format, not both"))
    as_json = as_json or output_format == "json"
    if all_ and names:
        raise UsageProblem(t("give exercise names or --all, not both"))
    selected = exercise_names(names) if names else catalog.names()
    if solution:
        ws = None
        files = {name: workspace.solution_path(name) for name in selected}
    else:
        ws = session.workspace()
        try:
            files = {name: workspace.exercise_file(ws, name) for name in selected}
        except workspace.WorkspaceError as exc:
            raise UsageProblem(str(exc)) from None
    from bpdrill.grading import refcache
    seed, pooled = refcache.draw_seed(seed, selected)
    helper = helper_process.early(selected, seed)  # before the grader's own imports
    zygote_client.start_zygote(selected)  # the workers' clean parent: its start overlaps ours
    from bpdrill.grading import runner
    from bpdrill.grading.report import RunReport, render
    from bpdrill.practice import drill, interview
    from bpdrill.practice.record import record_checks, unchanged_hashes
    hashes = {name: workspace.content_hash(path) for name, path in files.items()}
    reports = runner.run_checks(files, seed, timeout=timeout, helper=helper)
    refcache.after_run(selected, seed, pooled)
    report = RunReport(seed, str(ws if ws is not None else workspace.solution_path(selected[0]).parent),
                       reports)
    clock = None
    hist = session.history() if ws is not None else None
    active = record_checks(hist, ws, reports, seed, unchanged_hashes(files, hashes)) if ws is not None else None
    if active is not None and active.exercise not in files:
        active = None  # a drill of another exercise: its clock says nothing about these checks
    if active is not None:
        clock = {"exercise": active.exercise, "elapsed_seconds": active.elapsed(),
                 "limit_seconds": active.limit_seconds, "solved": active.solved,
                 "time_to_green_seconds": active.green_seconds, "line": drill.clock_line(active)}
    if output_format in ("gradescope", "github"):
        from bpdrill.grading import formats
        doc = formats.gradescope(report) if output_format == "gradescope" else formats.github(report)
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    elif as_json:
        doc = report.to_json()
        if clock is not None:
            doc["drill"] = clock
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        if clock is not None:
            click.echo(click.style(clock["line"], bold=True) + "\n")
        click.echo(render(report, verbose=verbose, style=click.style, plain=interview.plain_names(hist, active)))
        if ws is not None:
            _first_full_marks(hist, ws, [r.name for r in reports if r.status == "passed"])
    sys.exit(0 if report.all_passed else 1)


def _first_full_marks(hist, ws, passed: list[str]) -> None:
    """The worked derivation, once, after an exercise's first full marks in this workspace (more
    than one at once: where to read them)."""
    from bpdrill.practice import explain
    first = [name for name in passed if explain.first_full_marks(hist, str(ws), name)]
    if len(first) == 1:
        click.echo("\n" + click.style(t("First full marks for {name}. How it is derived (again any time: "
                                         "bpdrill explain {name}):", name=first[0]), bold=True) + "\n")
        click.echo(explain.text(first[0], i18n.language()))
    elif first:
        click.echo("\n" + t("First full marks for {names}: `bpdrill explain NAME` shows how each is derived",
                             names=", ".join(first)))
