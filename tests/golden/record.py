"""Record (or compare) every fixture's report under fixed seeds: the golden file.

    python tests/golden/record.py            write tests/golden/reports.json
    python tests/golden/record.py --check    exit 1 and list what differs
    python tests/golden/record.py --check tanh linear    only these exercises
    python tests/golden/record.py --check --verdicts     scores, ids, verdicts, diagnosis names
                                                         and lines only (not the wording)

A refactoring must leave every verdict, check id, diagnosis name, message and line as they
were; a change of wording or verdict made on purpose is recorded again with the first form,
and the diff of reports.json shows it in review. test_golden.py runs the --check form.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # conftest: the fixtures and the in-process grading

SEEDS = (11, 2026)
GOLDEN = HERE / "reports.json"


def _key(name: str, path: Path) -> str:
    tests = HERE.parent
    try:
        return f"{name}/{path.relative_to(tests).as_posix()}"
    except ValueError:  # a wrong fixture, written to a temporary folder as <exercise>/<id>.py
        return f"{name}/wrong/{path.stem}"


def _plain(text: str, path: Path) -> str:
    """text without the folder the file was graded in (wrong fixtures live in a temporary one)."""
    return text.replace(str(path.parent) + "/", "") if text else text


def _summary(report, path: Path) -> dict:
    checks = []
    for c in report.checks:
        row = {"id": c.id, "passed": c.passed, "score": c.score, "message": _plain(c.message, path)}
        if c.diagnosis is not None:
            row["diagnosis"] = {"name": c.diagnosis.name, "message": _plain(c.diagnosis.message, path),
                                "line": c.diagnosis.line}
        checks.append(row)
    return {"score": report.score, "max_score": report.max_score, "status": report.status,
            "message": _plain(report.message, path), "checks": checks}


def files(names=None) -> list[tuple[str, Path]]:
    from conftest import EXERCISES, fixture_files, solution_path
    chosen = [n for n in EXERCISES if names is None or n in names]
    out = [(n, solution_path(n)) for n in chosen]
    out += [(n, p) for kind in ("correct", "wrong") for n, p in fixture_files(kind) if n in chosen]
    return out


def record(names=None) -> dict:
    from conftest import grade_fresh
    reports = {}
    for name, path in files(names):
        for seed in SEEDS:
            key = _key(name, path) if path.parent.parent.name != "solutions" else f"{name}/solution"
            reports[f"{key}@{seed}"] = _summary(grade_fresh(name, path, seed), path)
    return reports


def _verdicts(report: dict) -> dict:
    """What a refactoring must keep to the letter: scores, statuses, check ids and verdicts,
    diagnosis names and lines (not the wording)."""
    return {"score": report["score"], "max_score": report["max_score"], "status": report["status"],
            "checks": [{"id": c["id"], "passed": c["passed"], "score": c["score"],
                        "diagnosis": c.get("diagnosis") and {"name": c["diagnosis"]["name"],
                                                             "line": c["diagnosis"]["line"]}}
                       for c in report["checks"]]}


def differences(old: dict, new: dict, verdicts_only: bool = False) -> list[str]:
    if verdicts_only:
        old = {k: _verdicts(v) for k, v in old.items()}
        new = {k: _verdicts(v) for k, v in new.items()}
    lines = []
    for key in sorted(set(old) | set(new)):
        if key not in new:
            lines.append(f"{key}: no longer graded")
        elif key not in old:
            lines.append(f"{key}: not in the golden file")
        elif old[key] != new[key]:
            a, b = old[key], new[key]
            for field in ("score", "max_score", "status", "message"):
                if a.get(field) != b.get(field):
                    lines.append(f"{key}: {field} {a[field]!r} -> {b[field]!r}")
            ca, cb = {c["id"]: c for c in a["checks"]}, {c["id"]: c for c in b["checks"]}
            for cid in sorted(set(ca) | set(cb)):
                if ca.get(cid) != cb.get(cid):
                    lines.append(f"{key}: check {cid}: {ca.get(cid)} -> {cb.get(cid)}")
            if list(ca) != list(cb) and set(ca) == set(cb):
                lines.append(f"{key}: the checks come in another order: {list(ca)} -> {list(cb)}")
    return lines


def main(argv: list[str]) -> int:
    import os
    import tempfile
    os.environ.setdefault("BPDRILL_DATA", tempfile.mkdtemp(prefix="bpdrill-golden-"))
    os.environ.setdefault("BPDRILL_CACHE", tempfile.mkdtemp(prefix="bpdrill-golden-refs-"))
    os.environ["BPDRILL_PREFETCH"] = "0"
    names = [a for a in argv if not a.startswith("-")] or None
    new = record(names)
    if "--check" in argv:
        old = json.loads(GOLDEN.read_text(encoding="utf-8"))
        if names:
            old = {k: v for k, v in old.items() if k.split("/")[0] in names}
        lines = differences(old, new, verdicts_only="--verdicts" in argv)
        print("\n".join(lines) or "every report as recorded")
        return 1 if lines else 0
    if names:  # record these exercises again, the others as they were
        new = {**{k: v for k, v in json.loads(GOLDEN.read_text(encoding="utf-8")).items()
                  if k.split("/")[0] not in names}, **new}
    GOLDEN.write_text(json.dumps(new, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(new)} reports written to {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
