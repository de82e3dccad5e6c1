"""Where the learner's files live: finding and creating the workspace, fresh skeletons, kept attempts."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from importlib import resources
from pathlib import Path

from bpdrill import catalog
from bpdrill.i18n import t

MARKER = ".bpdrill-workspace"  # a workspace's own file: what was laid there, so it can be found
ENV_VAR = "BPDRILL_WORKSPACE"
ATTEMPTS = ".attempts"  # earlier attempts, kept by reset: never deleted


class WorkspaceError(Exception):
    """A problem with the workspace, said in one line for the learner."""


def skeleton_path(name: str) -> Path:
    return Path(str(resources.files("bpdrill.exercises").joinpath(f"{name}.py")))


def solution_path(name: str) -> Path:
    return Path(str(resources.files("bpdrill.solutions").joinpath(f"{name}.py")))


def kit_root() -> Path | None:
    """The clone this bpdrill runs from, or None for an install from a wheel."""
    root = Path(__file__).resolve().parents[2]  # grader/bpdrill/workspace.py in a clone
    return root if _is_kit(root) else None


def _is_kit(folder: Path) -> bool:
    return (folder / "pyproject.toml").is_file() and (folder / "grader").is_dir() \
        and (folder / "solutions").is_dir()


def find(start: Path) -> Path | None:
    """The workspace for a folder: the nearest enclosing workspace, or kit clone's workspace."""
    for folder in [start, *start.parents]:
        if (folder / MARKER).is_file():
            return folder
        if _is_kit(folder):
            return folder / "workspace"
    return None


def resolve(option: str | None = None, cwd: Path | None = None) -> Path:
    """--workspace, else $BPDRILL_WORKSPACE, else found from the current folder, else the kit's."""
    chosen = option or os.environ.get(ENV_VAR)
    if chosen:
        return Path(chosen).expanduser().resolve()
    found = find((cwd or Path.cwd()).resolve())
    if found is not None:
        return found
    root = kit_root()
    if root is not None:
        return root / "workspace"
    raise WorkspaceError(t("no workspace here: create one with `bpdrill init DIR`, "
                           "or name one with --workspace DIR or {variable}", variable=ENV_VAR))


def _laid(workspace: Path) -> list[str]:
    try:
        return json.loads((workspace / MARKER).read_text(encoding="utf-8")).get("laid", [])
    except (OSError, ValueError):
        return []


def ensure(workspace: Path) -> list[str]:
    """Create the workspace on first use: a skeleton for every exercise not laid there yet.

    Never overwrites a file. Returns the names of the exercises laid now.
    """
    if workspace.exists() and not workspace.is_dir():
        raise WorkspaceError(t("the workspace {path} is a file, not a folder", path=workspace))
    workspace.mkdir(parents=True, exist_ok=True)
    laid = _laid(workspace)
    new = []
    for name in catalog.names():
        target = workspace / f"{name}.py"
        if name in laid:
            continue
        if not target.exists():
            shutil.copyfile(skeleton_path(name), target)
        new.append(name)
    if new or not (workspace / MARKER).is_file():
        marker = workspace / MARKER
        tmp = marker.with_suffix(".tmp")
        tmp.write_text(json.dumps({"laid": laid + new}, indent=1), encoding="utf-8")
        os.replace(tmp, marker)
    return new


def exercise_file(workspace: Path, name: str) -> Path:
    """The learner's file for an exercise; WorkspaceError when it has gone missing."""
    path = workspace / f"{name}.py"
    if not path.is_file():
        raise WorkspaceError(t("{path} is missing: run `bpdrill reset {name}` for a fresh skeleton",
                               path=path, name=name))
    return path


def content_hash(path: Path) -> str | None:
    """A fingerprint of the file's content (sha256), or None when it cannot be read."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def is_untouched(workspace: Path, name: str) -> bool:
    path = workspace / f"{name}.py"
    return path.is_file() and path.read_bytes() == skeleton_path(name).read_bytes()


def reset(workspace: Path, name: str) -> Path | None:
    """Lay a fresh skeleton for name; the old file is kept in .attempts/. Returns where it went."""
    path = workspace / f"{name}.py"
    kept = None
    if path.is_file() and not is_untouched(workspace, name):
        folder = workspace / ATTEMPTS
        folder.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        kept = folder / f"{name}-{stamp}.py"
        n = 1
        while kept.exists():
            n += 1
            kept = folder / f"{name}-{stamp}-{n}.py"
        shutil.copy2(path, kept)
    tmp = path.with_suffix(".py.tmp")
    shutil.copyfile(skeleton_path(name), tmp)
    os.replace(tmp, path)
    return kept
