"""Every exercise with where it stands in a workspace: `bpdrill list` and the local page's list."""
from __future__ import annotations

from pathlib import Path

from bpdrill import catalog, i18n
from bpdrill.practice import interview, progress, workspace
from bpdrill.practice.history import History


def exercise_rows(hist: History, ws: Path) -> list[dict]:
    """Every exercise with where it stands in the workspace (`bpdrill list --json`'s rows)."""
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
    return rows
