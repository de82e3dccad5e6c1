"""Kept references: PyTorch's answers for a seed, stored so that later checks need no torch.

References depend only on the hidden inputs, which depend only on the seed, so they are kept
in the data folder (or $BPDRILL_CACHE), keyed by exercise, a fingerprint of the code that
computes them (the grader's version, torch's, the exercise module's source) and the seed. A
kept entry is trusted only when its checksum and the digest of the inputs it was computed
from match; anything else is computed again. A pool of fresh seeds is filled ahead of time,
in the background, so that a later check draws fresh hidden inputs whose references are ready.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
import importlib.util
from importlib import metadata
from pathlib import Path

from bpdrill import __version__

POOL = 8  # fresh seeds kept ready for each exercise
SEP = "/"


# ---- nested results <-> flat arrays -----------------------------------------------------------
# NumPy is imported inside the functions that use it: bpdrill.grading.helper reads the pool through
# this module before anything loads NumPy.

def flatten(value, prefix: str = "") -> dict:
    """{'grads': {'x': a}} -> {'grads/x': a}: every leaf an ndarray (numbers and flags 0-d)."""
    import numpy as np
    if isinstance(value, dict):
        flat = {}
        for key, sub in value.items():
            flat.update(flatten(sub, f"{prefix}{key}{SEP}"))
        return flat
    return {prefix[:-1]: np.asarray(value)}


def unflatten(flat: dict) -> dict:
    import numpy as np
    nested: dict = {}
    for key, array in flat.items():
        *path, last = key.split(SEP)
        node = nested
        for part in path:
            node = node.setdefault(part, {})
        node[last] = bool(array) if array.dtype == np.bool_ and array.ndim == 0 else array
    return nested


def inputs_digest(scenario) -> str:
    """What a reference was computed from: the scenario's arrays and parameters."""
    import numpy as np
    h = hashlib.sha256(json.dumps([scenario.name, scenario.mode, scenario.params], sort_keys=True,
                                  default=str).encode())
    for key in sorted(scenario.arrays):
        a = np.ascontiguousarray(scenario.arrays[key])
        h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _checksum(flat: dict) -> str:
    import numpy as np
    h = hashlib.sha256()
    for key in sorted(flat):
        a = np.ascontiguousarray(flat[key])
        h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def pack(flat: dict) -> dict:
    """Many arrays as two: a JSON index (key, dtype, shape, offset, size) and one byte buffer.
    autograd's references hold thousands of small arrays; one .npz member each took 0.8 s to
    read, the packed form a few milliseconds."""
    import numpy as np
    index, chunks, offset = [], [], 0
    for key in sorted(flat):
        a = np.asarray(flat[key])  # (not ascontiguousarray: it turns a 0-d array into 1-d)
        raw = a.tobytes()  # C order, whatever the array's layout
        index.append([key, a.dtype.str, list(a.shape), offset, len(raw)])
        chunks.append(raw)
        offset += len(raw)
    return {"index": np.array(json.dumps(index)), "data": np.frombuffer(b"".join(chunks), dtype=np.uint8)}


def unpack(index: str, data) -> dict:
    import numpy as np
    buffer = data.tobytes()
    flat = {}
    for key, dtype, shape, offset, size in json.loads(index):
        dtype = np.dtype(dtype)
        flat[key] = np.frombuffer(buffer, dtype=dtype, count=size // dtype.itemsize if dtype.itemsize else 0,
                                  offset=offset).reshape(shape).copy()
    return flat


# ---- the cache --------------------------------------------------------------------------------

def _data_dir() -> Path:
    from bpdrill.paths import data_dir
    return data_dir()


@lru_cache(maxsize=None)
def fingerprint(name: str) -> str:
    """The code that computes an exercise's references: a new grader, torch or module, a new key."""
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "none"
    h = hashlib.sha256(f"{__version__}|{torch_version}|".encode())
    for path in (*_unit_files(name), Path(__file__).with_name("reference.py")):
        h.update(Path(path).read_bytes())
    return h.hexdigest()[:16]


def _unit_files(name: str) -> list[Path]:
    """The source of an exercise's grader: its module (or every .py of its package folder) and
    its kind's.
    Found, not imported: bpdrill.grading.helper asks before NumPy is loaded."""
    from bpdrill import catalog
    spec = importlib.util.find_spec(f"bpdrill.checks.{name}")
    path = Path(spec.origin)
    kind = Path(importlib.util.find_spec(f"bpdrill.kinds.{catalog.get(name).kind}").origin)
    if path.name == "__init__.py":  # a package (checks/autograd/): all of it, in a fixed order
        return [*sorted(path.parent.rglob("*.py")), kind]
    return [path, kind]


def cache_dir() -> Path:
    """Where references are kept: $BPDRILL_CACHE, else references/ in the data folder."""
    chosen = os.environ.get("BPDRILL_CACHE")
    return Path(chosen).expanduser() if chosen else _data_dir() / "references"


def _folder(name: str) -> Path:
    return cache_dir() / name / fingerprint(name)


def load(name: str, seed: int, scenarios: list) -> dict | None:
    """{scenario: reference} kept for this exercise and seed, or None: missing, corrupted
    (checksum), or computed from other inputs (digest). A bad entry is removed."""
    import numpy as np
    path = _folder(name) / f"{seed}.npz"
    try:
        with np.load(path, allow_pickle=False) as data:
            flat = unpack(str(data["index"]), data["data"])
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - any unreadable entry is recomputed, never trusted
        _discard(path)
        return None
    stored = str(flat.pop("__checksum__", ""))
    digests = {k[len("__inputs__/"):]: str(flat.pop(k)) for k in list(flat) if k.startswith("__inputs__/")}
    if stored != _checksum(flat) or digests != {s.name: inputs_digest(s) for s in scenarios}:
        _discard(path)
        return None
    nested = unflatten(flat)
    return {s.name: nested.get(s.name, {}) for s in scenarios}


def store(name: str, seed: int, scenarios: list, references: dict) -> None:
    """Keep every scenario's reference for this exercise and seed (atomically: a reader never
    sees half a file). Failing to write is not an error: the next run computes them again."""
    import numpy as np
    try:
        folder = _folder(name)
        folder.mkdir(parents=True, exist_ok=True)
        flat = flatten({s.name: references[s.name] for s in scenarios})
        flat["__checksum__"] = np.array(_checksum(flat))
        flat.update({f"__inputs__/{s.name}": np.array(inputs_digest(s)) for s in scenarios})
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp.npz")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **pack(flat))
        os.replace(tmp, folder / f"{seed}.npz")
    except OSError:
        pass


def _discard(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def pooled_seed(names: list[str]) -> int | None:
    """A seed whose references are ready for every exercise named and that none of them has
    used yet (its file is in the pool, not yet marked used), or None."""
    try:
        common = None
        for name in names:
            folder = _folder(name)
            fresh = {int(p.name[:-4]) for p in folder.glob("*.npz") if p.name[:-4].isdigit()
                     and not (folder / f"{p.name[:-4]}.used").exists()}
            common = fresh if common is None else common & fresh
        return min(common) if common else None
    except OSError:
        return None


def covered(names: list[str], seed: int | None) -> bool:
    """Will a check of these exercises find every reference kept? With a seed, its files; without,
    a fresh pooled seed for all of them."""
    if seed is None:
        return pooled_seed(names) is not None
    return all((_folder(name) / f"{seed}.npz").is_file() for name in names)


def mark_used(names: list[str], seed: int) -> None:
    """These exercises have seen this seed's inputs (a check drew it, pooled or given with
    --seed): later runs draw another (a --seed run still finds its references)."""
    for name in names:
        try:
            (_folder(name) / f"{seed}.used").touch()
        except OSError:
            pass


def is_used(name: str, seed: int) -> bool:
    try:
        return (_folder(name) / f"{seed}.used").exists()
    except OSError:
        return False


def fresh_count(name: str) -> int:
    try:
        folder = _folder(name)
        return sum(1 for p in folder.glob("*.npz") if not (folder / f"{p.name[:-4]}.used").exists())
    except OSError:
        return 0


def prefetch(names: list[str]) -> None:
    """Start computing the pool in the background, detached, when it is running low.

    Off with BPDRILL_PREFETCH=0 (the project's tests set it)."""
    if os.environ.get("BPDRILL_PREFETCH", "1") == "0":
        return
    low = [name for name in names if fresh_count(name) < POOL // 2]
    if not low:
        return
    lock = cache_dir() / "filling.lock"
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # one filler at a time
        os.close(fd)
    except FileExistsError:
        if _stale(lock):
            _discard(lock)
        return
    except OSError:
        return
    subprocess.Popen([sys.executable, "-I", "-m", "bpdrill.grading.reference", "fill", "--lock", str(lock), *low],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, env={**os.environ, "BPDRILL_PREFETCH": "0"})


def _stale(lock: Path, seconds: float = 600) -> bool:
    try:
        return time.time() - lock.stat().st_mtime > seconds
    except OSError:
        return False


def draw_seed(seed: int | None, names: list[str]) -> tuple[int, bool]:
    """The seed of a run: the one asked for, else a fresh one whose references are ready (the
    pool computed in the background), else any fresh one. (seed, taken from the pool)."""
    if seed is not None:
        return seed, False
    import secrets
    pooled = pooled_seed(names)
    return (pooled, True) if pooled is not None else (secrets.randbelow(2**31), False)


def after_run(names: list[str], seed: int, pooled: bool) -> None:
    """After a run: a pooled seed is used up (the next run draws other hidden inputs), and the
    pool is topped up in the background."""
    if pooled:
        mark_used(names, seed)
    prefetch(names)
