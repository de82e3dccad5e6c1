"""A class: many learners' workspaces graded under one seed, one row per learner and exercise.

Each learner's files are graded as `bpdrill check` grades them (grading.runner: one isolated
worker per file, as many at once as there are cores, several learners' files in one pool), so
nothing in one learner's file can change another learner's row. Every learner gets the same
hidden inputs (one seed for the class), and the PyTorch references are computed once for all.
"""
from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from pathlib import Path

from bpdrill.grading.limits import DEFAULT_TIMEOUT
from bpdrill.grading import registry, runner
from bpdrill.i18n import t

COLUMNS = ("learner", "exercise", "score", "max_score", "status", "failed_checks", "diagnoses", "message",
           "seed", "file")


@dataclass
class Row:
    learner: str
    exercise: str
    score: int
    max_score: int
    status: str  # passed | partial | failed | not_started | error | missing
    failed_checks: str  # the ids of the failed checks, separated by spaces
    diagnoses: str  # the known mistakes named, "id@line", separated by spaces
    message: str
    seed: int
    file: str


def learner_name(folder: Path) -> str:
    return folder.resolve().name


def grade(folders: list[Path], names: list[str], seed: int, timeout: float = DEFAULT_TIMEOUT,
          jobs: int | None = None, progress=None, chunk: int = 16) -> list[Row]:
    """One Row per learner (folder) and exercise, in the order given. Learners are graded
    `chunk` at a time, every file of a chunk in one pool of workers (every core busy even with
    one exercise per learner); progress(learner, rows) is called after each learner."""
    folders = [Path(folder).resolve() for folder in folders]
    rows = []
    for start in range(0, len(folders), chunk):
        part = folders[start:start + chunk]
        present = [{n: folder / f"{n}.py" for n in names if (folder / f"{n}.py").is_file()} for folder in part]
        graded = runner.run_batches(present, seed, timeout=timeout, jobs=jobs)
        for folder, reports in zip(part, graded):
            by_name = {r.name: r for r in reports}
            learner = learner_name(folder)
            mine = [_row(learner, name, folder / f"{name}.py", by_name.get(name), seed) for name in names]
            rows += mine
            if progress is not None:
                progress(learner, mine)
    return rows


def _row(learner: str, name: str, path: Path, report, seed: int) -> Row:
    if report is None:
        possible = sum(c.points for c in registry.get(name).checks)
        return Row(learner, name, 0, possible, "missing", "", "", t("{path} is missing", path=path), seed, str(path))
    failed = [c for c in report.checks if not c.passed]
    diagnoses = dict.fromkeys(f"{c.diagnosis.name}@{c.diagnosis.line}" for c in failed if c.diagnosis is not None)
    return Row(learner, name, report.score, report.max_score, report.status, " ".join(c.id for c in failed),
               " ".join(diagnoses), report.message, seed, report.file)


def to_csv(rows: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(asdict(row))
    return out.getvalue()


def to_json(rows: list[Row], seed: int) -> dict:
    return {"seed": seed, "rows": [asdict(r) for r in rows]}
