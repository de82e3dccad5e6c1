"""`bpdrill grade DIR ...`: a class's workspaces, one row per learner and exercise."""
from __future__ import annotations

import json
from pathlib import Path

import click

from bpdrill import catalog
from bpdrill.cli.common import FiniteRange, UsageProblem, common, exercise_names
from bpdrill.grading.limits import DEFAULT_TIMEOUT
from bpdrill.i18n import t


@click.command()
@click.argument("folders", nargs=-1, required=True, metavar="DIR...",
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-e", "--exercise", "names", multiple=True, metavar="NAME",
              help="Grade this exercise (repeat for more; default: every exercise).")
@click.option("--format", "output_format", type=click.Choice(("csv", "json"), case_sensitive=False),
              default="csv", show_default=True, help="One row per learner and exercise, as CSV or JSON.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the rows to this file instead of standard output.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), help="Draw the hidden inputs from this seed "
              "(one seed for the whole class; default: a fresh one, in every row).")
@click.option("--timeout", type=FiniteRange(0.5, 600), default=DEFAULT_TIMEOUT, show_default=True,
              help="Seconds each exercise's code may run.")
@common
def grade(session, folders, names, output_format, output, seed, timeout):
    """Grade many learners' workspaces (one folder each, named after the learner): a row per
    learner and exercise. Learners' files run in isolated workers, as `check` runs them."""
    selected = exercise_names(names) if names else catalog.names()
    learners = [folder.resolve().name for folder in folders]
    twice = sorted({name for name in learners if learners.count(name) > 1})
    if twice:
        raise UsageProblem(t("two folders named {name}: each learner's folder needs a name of its own",
                             name=twice[0]))
    from bpdrill.grading import classroom, refcache
    seed, _ = refcache.draw_seed(seed, selected)

    def said(learner, rows):
        done = ", ".join(f"{r.exercise} {r.score}/{r.max_score}" for r in rows)
        click.echo(t("graded {learner}: {rows}", learner=learner, rows=done), err=True)

    rows = classroom.grade(list(folders), selected, seed, timeout=timeout, progress=said)
    text = classroom.to_csv(rows) if output_format.lower() == "csv" else \
        json.dumps(classroom.to_json(rows, seed), indent=2, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageProblem(t("cannot write {path}: {error}", path=output, error=exc.strerror or exc)) from None
    click.echo(t("{count} rows written to {path}", count=len(rows), path=output), err=True)
