"""Recording a check run in the practice history: each exercise's result, and the running
drill as it stands after them."""
from __future__ import annotations

from pathlib import Path

from bpdrill.practice import interview, workspace


def unchanged_hashes(files: dict, before: dict) -> dict:
    """Each file's content hash from before the check, or None where it changed meanwhile
    (saved during the check: which content was graded is not known)."""
    return {name: h if h == workspace.content_hash(files[name]) else None for name, h in before.items()}


def record_checks(hist, ws: Path, reports, seed: int, hashes: dict):
    """Record each exercise's result; the running drill as it stands after them, or None.

    An interview drill turned green within seconds of its blank page by a file that is an
    earlier attempt or the solution is recorded as restored, not as a time (and not reviewed)."""
    active = hist.active_drill(str(ws))
    for r in reports:
        restored = r.status == "passed" and interview.looks_restored(hist, active, ws, r.name, Path(r.file))
        hist.record_check(r.name, str(ws), r.score, r.max_score, r.status, seed, active, hashes.get(r.name),
                          restored=restored)
    interview.note_check(hist, active, reports)
    return hist.drill(active.id) if active is not None else None
