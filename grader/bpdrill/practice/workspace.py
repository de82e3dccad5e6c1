"""Where the learner's files live: finding and creating the workspace, fresh skeletons, kept attempts."""
from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import tempfile
import time
from pathlib import Path

from bpdrill import catalog
from bpdrill.i18n import language, t
from bpdrill.practice import skeleton
from bpdrill.practice.skeleton import skeleton_path

solution_path = skeleton.solution_path  # defined beside the skeletons; callers have always found it here

MARKER = ".bpdrill-workspace"  # a workspace's own file: what was laid there, so it can be found
ENV_VAR = "BPDRILL_WORKSPACE"
ATTEMPTS = ".attempts"  # earlier attempts, kept by reset: never deleted


class WorkspaceError(Exception):
    """A problem with the workspace, said in one line for the learner."""


def kit_root() -> Path | None:
    """The clone this bpdrill runs from, or None for an install from a wheel."""
    root = Path(__file__).resolve().parents[3]  # grader/bpdrill/practice/workspace.py in a clone
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
        return _utf8(Path(chosen).expanduser().resolve())
    found = find((cwd or Path.cwd()).resolve())
    if found is not None:
        return _utf8(found)
    root = kit_root()
    if root is not None:
        return root / "workspace"
    raise WorkspaceError(t("no workspace here: create one with `bpdrill init DIR`, "
                           "or name one with --workspace DIR or {variable}", variable=ENV_VAR))


def skeleton_text(name: str, lang: str | None = None) -> bytes:
    """The fresh skeleton of name in lang (default: the current language): English is the file
    in exercises/; Chinese is generated from the solution (docstrings and TODOs translated)."""
    lang = lang or language()
    if lang != "zh":
        return skeleton_path(name).read_bytes()
    return skeleton.for_exercise(name, lang).encode("utf-8")


def _fresh(name: str, content: bytes | None) -> bool:
    """content is a fresh skeleton of name, in any language."""
    return content is not None and any(content == skeleton_text(name, lang) for lang in ("en", "zh"))


def _utf8(workspace: Path) -> Path:
    """workspace, if its path can be written down (the history records it as text)."""
    try:
        str(workspace).encode("utf-8")
    except UnicodeEncodeError:
        raise WorkspaceError(t("the workspace path {path} is not valid UTF-8: rename the folder, or name another "
                               "with --workspace DIR", path=_shown(workspace))) from None
    return workspace


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
    laid = _laid(workspace)
    new = [name for name in catalog.names() if name not in laid]
    if not new and (workspace / MARKER).is_file():
        return []  # nothing to lay: nothing written (a read-only workspace still reads)
    try:
        workspace.mkdir(parents=True, exist_ok=True)
        for name in new:
            _create(workspace / f"{name}.py", skeleton_text(name))
        _replace(workspace / MARKER, json.dumps({"laid": laid + new}, indent=1).encode("utf-8"))
    except OSError as exc:
        raise WorkspaceError(_explain(exc, workspace)) from None
    return new


FILE_CAP = 1024**2  # bytes: an exercise file is a few kB; anything larger is not one


def read_file(path: Path, workspace: Path | None = None, limit: int = FILE_CAP) -> bytes:
    """The bytes of a learner's file, read defensively: a regular file only (never waiting on a
    FIFO or reading a device), at most limit bytes, never through a link out of the workspace
    (workspace: the folder it must stay in, by default its own). WorkspaceError in one line
    otherwise; FileNotFoundError when it is not there."""
    path = Path(path)
    folder = Path(workspace) if workspace is not None else path.parent
    try:
        real = path.resolve(strict=True)
        inside = real.is_relative_to(folder.resolve())
    except FileNotFoundError:
        raise
    except (OSError, RuntimeError) as exc:  # a loop of links, a folder we may not enter
        raise WorkspaceError(t("cannot read {path}: {error}", path=_shown(path),
                               error=getattr(exc, "strerror", None) or exc)) from None
    if not inside:
        raise WorkspaceError(t("{path} is a link to a file outside the workspace: put the file itself there",
                               path=_shown(path)))
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise WorkspaceError(t("cannot read {path}: {error}", path=_shown(path), error=exc.strerror or exc)) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise WorkspaceError(t("{path} is a directory, not a file: move it out of the way, then try again",
                                   path=_shown(path)))
        if not stat.S_ISREG(info.st_mode):
            raise WorkspaceError(t("{path} is not a regular file (a FIFO, a device or a socket): "
                                   "move it out of the way, then run `bpdrill reset`", path=_shown(path)))
        if info.st_size > limit:
            raise WorkspaceError(t("{path} is larger than {size} MB, far larger than an exercise file: "
                                   "move it out of the way, then run `bpdrill reset`",
                                   path=_shown(path), size=limit // 1024**2))
        data = os.read(fd, limit + 1)
        if len(data) > limit:  # grew while we looked
            raise WorkspaceError(t("{path} is larger than {size} MB, far larger than an exercise file: "
                                   "move it out of the way, then run `bpdrill reset`",
                                   path=_shown(path), size=limit // 1024**2))
        return data
    except OSError as exc:
        raise WorkspaceError(t("cannot read {path}: {error}", path=_shown(path), error=exc.strerror or exc)) from None
    finally:
        os.close(fd)


def read_text(path: Path, workspace: Path | None = None) -> str:
    """A learner's file as text, whatever its encoding (bytes that are not UTF-8 shown as U+FFFD)."""
    return read_file(path, workspace).decode("utf-8", errors="replace")


def _shown(path) -> str:
    """A path as printed: bytes that are not UTF-8 (a workspace named in Latin-1) escaped."""
    return os.fsdecode(path).encode("utf-8", errors="backslashreplace").decode("utf-8")


def exercise_file(workspace: Path, name: str) -> Path:
    """The learner's file for an exercise, checked readable (read_file); WorkspaceError when it
    has gone missing or is no file a worker should import."""
    path = workspace / f"{name}.py"
    if path.is_dir():
        raise WorkspaceError(_is_a_directory(path, name))
    try:
        read_file(path, workspace)
    except FileNotFoundError:
        raise WorkspaceError(t("{path} is missing: run `bpdrill reset {name}` for a fresh skeleton",
                               path=_shown(path), name=name)) from None
    return path


def content_hash(path: Path) -> str | None:
    """A fingerprint of the file's content (sha256), or None when it cannot be read."""
    try:
        return hashlib.sha256(read_file(path)).hexdigest()
    except (OSError, WorkspaceError):
        return None


def is_untouched(workspace: Path, name: str) -> bool:
    try:
        return _fresh(name, read_file(workspace / f"{name}.py", workspace))
    except (OSError, WorkspaceError):
        return False


def reset(workspace: Path, name: str) -> Path | None:
    """Lay a fresh skeleton for name; the old file is kept in .attempts/. Returns where it went.

    Safe to run many times at once: every temporary file and every kept attempt gets a name of
    its own, and the skeleton replaces the file in one step. Trouble (a read-only workspace,
    .attempts/ a file, NAME.py a folder) is a WorkspaceError saying what to do, raised before
    the learner's file is touched.
    """
    path = workspace / f"{name}.py"
    if path.is_dir():
        raise WorkspaceError(_is_a_directory(path, name))
    skeleton = skeleton_text(name)
    kept = None
    try:
        try:
            mine = read_file(path, workspace)  # never a link's target, a FIFO or a device copied
        except FileNotFoundError:
            mine = None
        if mine is not None and not _fresh(name, mine):
            kept = _keep(workspace / ATTEMPTS, name, mine)
    except OSError as exc:
        raise WorkspaceError(_explain(exc, exc.filename or path)) from None
    try:
        _replace(path, skeleton)
    except OSError as exc:
        raise WorkspaceError(_explain(exc, path)) from None
    return kept


def _keep(folder: Path, name: str, content: bytes) -> Path:
    """content saved as a new file in folder, never over another one; its path."""
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(folder))
    folder.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 10_000):
        kept = folder / (f"{name}-{stamp}.py" if n == 1 else f"{name}-{stamp}-{n}.py")
        try:
            with open(kept, "xb") as out:  # x: claimed by this process alone, or FileExistsError
                out.write(content)
            return kept
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "No free name", str(folder))


def _replace(target: Path, content: bytes) -> None:
    """target holds content, written under a temporary name of its own and renamed in one step."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _create(target: Path, content: bytes) -> None:
    """target created whole with content unless it exists (a learner's file is never overwritten)."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        try:
            os.link(tmp, target)  # appears whole, and only if nothing is there yet
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            with open(target, "xb") as out:
                out.write(content)
    except FileExistsError:
        pass
    finally:
        Path(tmp).unlink(missing_ok=True)


def _is_a_directory(path: Path, name: str) -> str:
    return t("{path} is a directory, not a file: move it out of the way, then run `bpdrill reset {name}`",
             path=path, name=name)


def _explain(exc: OSError, where) -> str:
    """One line for the learner: what could not be written (where), and what to do."""
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return t("cannot write {path}: permission denied (make the workspace writable, or use another "
                 "with --workspace DIR)", path=where)
    if isinstance(exc, NotADirectoryError) or isinstance(exc, FileExistsError):
        return t("{path} is a file, not a folder: bpdrill keeps your earlier attempts there; "
                 "rename that file, then try again", path=where)
    if isinstance(exc, IsADirectoryError):
        return t("{path} is a directory, not a file: move it out of the way, then try again", path=where)
    return t("cannot write {path}: {error}", path=where, error=exc.strerror or exc)
