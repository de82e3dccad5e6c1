"""What correct answers are: each exercise's computation in PyTorch float64 autograd.

The only module that touches torch, and never in the grader's own process: references are
computed by a helper process (`python -I -m bpdrill.reference serve`) that imports torch,
started only when a reference is missing, while the workers run. Each exercise's module
says what to compute (`reference(ref, scenario)`); the helper hands it a `Ref`: torch set to
float64 and the conversions every reference needs.

References depend only on the hidden inputs, which depend only on the seed, so they are kept
in the data folder, keyed by exercise, a fingerprint of the code that computes them (the
grader's version, torch's, the exercise module's source) and the seed. A kept entry is
trusted only when its checksum and the digest of the inputs it was computed from match;
anything else is computed again. A pool of seeds is computed ahead of time, in the
background, so that a later check draws fresh hidden inputs whose references are ready.

    python -m bpdrill.reference fill [--count N] [NAME ...]   compute references for N fresh seeds
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from bpdrill import __version__, protocol, registry

POOL = 8  # fresh seeds kept ready for each exercise
SEP = "/"


# ---- what the helper process hands an exercise's reference function -------------------------

class Ref:
    """torch, set to float64, and conversions between NumPy arrays and torch tensors."""

    def __init__(self, torch):
        self.torch = torch

    def leaf(self, array, requires_grad: bool = True):
        """A float64 tensor of array (a fresh copy), a leaf that collects .grad by default."""
        return self.torch.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)

    def long(self, array):
        """An int64 tensor (class labels, indices)."""
        return self.torch.tensor(np.asarray(array), dtype=self.torch.long)

    @staticmethod
    def numpy(tensor) -> np.ndarray:
        return tensor.detach().numpy().copy()


@lru_cache(maxsize=1)
def _ref() -> Ref:
    import torch  # in the helper process only
    torch.set_default_dtype(torch.float64)
    return Ref(torch)


# ---- nested results <-> flat arrays -----------------------------------------------------------

def flatten(value, prefix: str = "") -> dict:
    """{'grads': {'x': a}} -> {'grads/x': a}: every leaf an ndarray (numbers and flags 0-d)."""
    if isinstance(value, dict):
        flat = {}
        for key, sub in value.items():
            flat.update(flatten(sub, f"{prefix}{key}{SEP}"))
        return flat
    return {prefix[:-1]: np.asarray(value)}


def unflatten(flat: dict) -> dict:
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
    h = hashlib.sha256(json.dumps([scenario.name, scenario.mode, scenario.params], sort_keys=True,
                                  default=str).encode())
    for key in sorted(scenario.arrays):
        a = np.ascontiguousarray(scenario.arrays[key])
        h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _checksum(flat: dict) -> str:
    h = hashlib.sha256()
    for key in sorted(flat):
        a = np.ascontiguousarray(flat[key])
        h.update(f"{key}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


# ---- the cache --------------------------------------------------------------------------------

def _data_dir() -> Path:
    from bpdrill.history import data_dir
    return data_dir()


@lru_cache(maxsize=None)
def fingerprint(name: str) -> str:
    """The code that computes an exercise's references: a new grader, torch or module, a new key."""
    try:
        torch_version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "none"
    module_file = registry.get(name).module.__file__
    h = hashlib.sha256(f"{__version__}|{torch_version}|".encode())
    for path in (module_file, __file__):
        h.update(Path(path).read_bytes())
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    """Where references are kept: $BPDRILL_CACHE, else references/ in the data folder."""
    chosen = os.environ.get("BPDRILL_CACHE")
    return Path(chosen).expanduser() if chosen else _data_dir() / "references"


def _folder(name: str) -> Path:
    return cache_dir() / name / fingerprint(name)


def load(name: str, seed: int, scenarios: list) -> dict | None:
    """{scenario: reference} kept for this exercise and seed, or None: missing, corrupted
    (checksum), or computed from other inputs (digest). A bad entry is removed."""
    path = _folder(name) / f"{seed}.npz"
    try:
        with np.load(path, allow_pickle=False) as data:
            flat = {k: data[k] for k in data.files}
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
    try:
        folder = _folder(name)
        folder.mkdir(parents=True, exist_ok=True)
        flat = flatten({s.name: references[s.name] for s in scenarios})
        flat["__checksum__"] = np.array(_checksum(flat))
        flat.update({f"__inputs__/{s.name}": np.array(inputs_digest(s)) for s in scenarios})
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp.npz")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **flat)
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


def mark_used(names: list[str], seed: int) -> None:
    """These exercises have seen this seed's inputs: later runs draw another (a --seed run still
    finds its references)."""
    for name in names:
        try:
            (_folder(name) / f"{seed}.used").touch()
        except OSError:
            pass


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
    subprocess.Popen([sys.executable, "-I", "-m", "bpdrill.reference", "fill", "--lock", str(lock), *low],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, env={**os.environ, "BPDRILL_PREFETCH": "0"})


def _stale(lock: Path, seconds: float = 600) -> bool:
    import time
    try:
        return time.time() - lock.stat().st_mtime > seconds
    except OSError:
        return False


# ---- the helper process that imports torch ---------------------------------------------------

class Server:
    """A helper process with torch: takes batches of scenarios, answers with references.

    Requests are answered in order; `submit` returns at once, `result` waits for the answer.
    """

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="bpdrill-ref-")
        self.proc = subprocess.Popen([sys.executable, "-I", "-m", "bpdrill.reference", "serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env={**os.environ, "BPDRILL_PREFETCH": "0"})
        self.sent = 0
        self.answered: dict[int, dict] = {}

    def submit(self, name: str, scenarios: list) -> int:
        ticket = self.sent
        folder = os.path.join(self.dir, str(ticket))
        os.mkdir(folder)
        protocol.write_job(folder, name, "", "", scenarios, "en")
        self.proc.stdin.write(folder + "\n")
        self.proc.stdin.flush()
        self.sent += 1
        return ticket

    def result(self, ticket: int) -> dict:
        """{scenario: reference} for a ticket; RuntimeError when the helper could not answer."""
        while ticket not in self.answered:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the reference process ended: " + str(self.proc.poll()))
            index, status = line.split(" ", 1)
            folder = os.path.join(self.dir, index)
            if status.strip() != "ok":
                raise RuntimeError(status.strip())
            with np.load(os.path.join(folder, "references.npz"), allow_pickle=False) as data:
                self.answered[int(index)] = unflatten({k: data[k] for k in data.files})
        return self.answered[ticket]

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def compute(name: str, scenarios: list) -> dict:
    """{scenario: reference}, computed here (in the helper process: this imports torch)."""
    unit, ref = registry.get(name), _ref()
    return {s.name: unit.reference(ref, s) for s in scenarios}


def serve() -> int:
    """The helper's loop: a folder per line on stdin, 'INDEX ok' (or a reason) per line out."""
    for line in sys.stdin:
        folder = line.strip()
        index = os.path.basename(folder)
        try:
            job, scenarios = protocol.read_job(folder)
            np.savez(os.path.join(folder, "references.npz"), **flatten(compute(job["exercise"], scenarios)))
            print(index, "ok", flush=True)
        except Exception as exc:  # noqa: BLE001 - said to the grader, which reports the check as unjudged
            print(index, f"{type(exc).__name__}: {exc}".replace("\n", " "), flush=True)
    return 0


def fill(names: list[str], count: int = POOL) -> int:
    """Compute references for fresh seeds until each exercise has `count` ready. The exercises
    filled together share their seeds, so that a later `check` of all of them finds one."""
    from bpdrill import runner
    os.nice(10)
    names = names or registry.names()
    while True:
        low = [name for name in names if fresh_count(name) < count]
        if not low:
            return 0
        seed = secrets.randbelow(2**31)
        for name in low:
            scenarios = registry.get(name).scenarios(runner.exercise_rng(seed, name))
            store(name, seed, scenarios, compute(name, scenarios))


class References:
    """The references of one run: kept ones, else computed by the helper process, which is
    started (and its work submitted) before the workers so that importing torch overlaps them.

    inline=True computes them in this process instead (the project's tests: trusted code only).
    """

    def __init__(self, seed: int, prepared: dict, inline: bool = False, keep: bool = True):
        self.seed, self.inline, self.keep = seed, inline, keep
        self.scenarios = {name: scenarios for name, (_, scenarios) in prepared.items()}
        self.known = {name: load(name, seed, scenarios) if keep else None
                      for name, scenarios in self.scenarios.items()}
        self.computed: set = set()
        self.server: Server | None = None
        self.tickets: dict = {}
        missing = [name for name, refs in self.known.items() if refs is None]
        if missing and not inline:
            self.server = Server()
            self.tickets = {name: self.server.submit(name, self.scenarios[name]) for name in missing}

    def _all(self, name: str) -> dict:
        if self.known[name] is None:
            if self.inline:
                self.known[name] = compute(name, self.scenarios[name])
            else:
                self.known[name] = self.server.result(self.tickets[name])
            self.computed.add(name)
        return self.known[name]

    def for_exercise(self, name: str):
        """Scenario -> reference: this run's scenarios from the batch, others (a probe's variant
        of a scenario) computed one by one."""
        own = {s.name: s for s in self.scenarios[name]}

        def reference(scenario) -> dict:
            if own.get(scenario.name) is scenario:
                return self._all(name)[scenario.name]
            if self.inline:
                return compute(name, [scenario])[scenario.name]
            if self.server is None:
                self.server = Server()
            return self.server.result(self.server.submit(name, [scenario]))[scenario.name]
        return reference

    def close(self) -> None:
        """Keep what was computed; stop the helper (killed if its answers were never needed)."""
        if self.keep:
            for name in self.computed:
                store(name, self.seed, self.scenarios[name], self.known[name])
        if self.server is not None:
            if len(self.server.answered) < self.server.sent:
                self.server.proc.kill()
            self.server.close()


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        return serve()
    if argv[:1] == ["fill"]:
        args, lock, count = argv[1:], None, POOL
        if "--lock" in args:
            i = args.index("--lock")
            lock, args = args[i + 1], args[:i] + args[i + 2:]
        if "--count" in args:
            i = args.index("--count")
            count, args = int(args[i + 1]), args[:i] + args[i + 2:]
        try:
            return fill(args, count)
        finally:
            if lock:
                _discard(Path(lock))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
