"""What correct answers are: each exercise's computation in PyTorch float64 autograd.

The only module that touches torch, and never in the grader's own process: references are
computed by a helper process (`python -I -m bpdrill.grading.reference serve`) that imports torch,
started only when a reference is missing (bpdrill.grading.refcache keeps them), while the workers
run. Each exercise's module says what to compute (`reference(ref, scenario)`); the helper
hands it a `Ref`: torch set to float64 and the conversions every reference needs.

    python -m bpdrill.grading.reference fill [--count N] [NAME ...]   compute references for N fresh seeds
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from bpdrill.grading import helper as helper_process
from bpdrill.core import protocol
from bpdrill.grading import registry
from bpdrill.grading.refcache import POOL, flatten, fresh_count, is_used, load, mark_used, store, unflatten


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

    def backward(self, y, dout) -> None:
        """y.backward(dout), written as the gradient of sum(y * dout): the same gradients, to
        the bit, without torch importing sympy to check dout's shape (a second or more)."""
        (y * self.leaf(dout, False)).sum().backward()

    def loss(self, s, fn, x: str, y: str, grad: str, labels: bool = False) -> dict:
        """loss = fn(x, y) and the gradient of dout * loss for each call drive_loss makes: the
        first (params["dout"], default 1), dout2, and dout3 after the new forward on x3, y3."""
        out = {}
        for suffix in ("", "2", "3"):
            key = f"dout{suffix}"
            if suffix and key not in s.params:
                continue
            new = "3" if suffix == "3" else ""
            xs = self.leaf(s.arrays[f"{x}{new}"])
            ys = self.long(s.arrays[f"{y}{new}"]) if labels else self.leaf(s.arrays[f"{y}{new}"], False)
            loss = fn(xs, ys)
            (loss * s.params.get(key, 1.0)).backward()
            out.update({f"loss{suffix}": self.numpy(loss), f"{grad}{suffix}": self.numpy(xs.grad)})
        return out

    def layer(self, s, fn) -> dict:
        """out = fn(x) and dx for each backward drive_layer makes: dout, dout2, and dout3
        after the new forward on x3."""
        out = {}
        for suffix in ("", "2", "3"):
            if f"dout{suffix}" not in s.arrays:
                continue
            x = self.leaf(s.arrays["x3" if suffix == "3" else "x"])
            y = fn(x)
            self.backward(y, s.arrays[f"dout{suffix}"])
            out.update({f"out{suffix}": self.numpy(y), f"dx{suffix}": self.numpy(x.grad)})
        return out


@lru_cache(maxsize=1)
def _ref() -> Ref:
    import torch  # in the helper process only
    torch.set_default_dtype(torch.float64)
    # The references are tiny: one thread answers in microseconds where a thread pool,
    # on a busy machine, waits milliseconds for its threads on every call.
    torch.set_num_threads(1)
    return Ref(torch)


# ---- the helper process that imports torch ---------------------------------------------------

class Server:
    """A helper process with torch: takes batches of scenarios, answers with references.

    Requests are answered in order; `submit` returns at once, `result` waits for the answer.
    """

    RESTARTS = 2  # a helper that dies is started again this many times before a check is left unjudged

    def __init__(self, proc: subprocess.Popen | None = None):
        """proc: a helper already started (bpdrill.grading.helper.early starts one as the command begins)."""
        self.dir = tempfile.mkdtemp(prefix="bpdrill-ref-")
        self.proc = proc or helper_process.start()
        self.sent = 0
        self.answered: dict[int, dict] = {}
        self.restarts = 0

    def submit(self, name: str, scenarios: list) -> int:
        ticket = self.sent
        folder = os.path.join(self.dir, str(ticket))
        os.mkdir(folder)
        protocol.write_job(folder, name, "", "", scenarios, "en")
        self.sent += 1
        self._send(folder)
        return ticket

    def _send(self, folder: str) -> None:
        try:
            self.proc.stdin.write(folder + "\n")
            self.proc.stdin.flush()
        except (OSError, ValueError):  # the helper is gone: result() notices and starts another
            pass

    def _restart(self) -> None:
        """The helper died (killed, out of memory): start another and ask it again for every
        answer still owed. Nobody's file is blamed for it."""
        if self.restarts >= self.RESTARTS:
            raise RuntimeError("the reference process ended: " + str(self.proc.poll()))
        self.restarts += 1
        self._stop_proc()
        self.proc = helper_process.start()
        for ticket in range(self.sent):
            if ticket not in self.answered:
                self._send(os.path.join(self.dir, str(ticket)))

    def result(self, ticket: int) -> dict:
        """{scenario: reference} for a ticket; RuntimeError when the helper could not answer."""
        while ticket not in self.answered:
            try:
                line = self.proc.stdout.readline()
            except (OSError, ValueError):
                line = ""
            if not line:
                self._restart()
                continue
            index, status = line.split(" ", 1)
            folder = os.path.join(self.dir, index)
            if status.strip() != "ok":
                raise RuntimeError(status.strip())
            if int(index) in self.answered:
                continue
            with np.load(os.path.join(folder, "references.npz"), allow_pickle=False) as data:
                self.answered[int(index)] = unflatten({k: data[k] for k in data.files})
        return self.answered[ticket]

    def _stop_proc(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass

    def close(self) -> None:
        """Stop the helper at once: it holds nothing to save, and an interpreter with torch
        loaded takes a noticeable while to shut down politely."""
        self._stop_proc()
        shutil.rmtree(self.dir, ignore_errors=True)


def compute(name: str, scenarios: list) -> dict:
    """{scenario: reference}, computed here (in the helper process: this imports torch)."""
    unit, ref = registry.get(name), _ref()
    return {s.name: unit.reference(ref, s) for s in scenarios}


def serve() -> int:
    """The helper's loop: a folder per line on stdin, 'INDEX ok' (or a reason) per line out.
    torch is imported first, while the grader is still starting and running its workers."""
    _ref()
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
    os.nice(10)
    names = names or registry.names()
    while True:
        low = [name for name in names if fresh_count(name) < count]
        if not low:
            return 0
        seed = secrets.randbelow(2**31)
        if any(is_used(name, seed) for name in low):  # a check has drawn it: never served as fresh
            continue
        for name in low:
            scenarios = registry.get(name).scenarios_for(seed)
            store(name, seed, scenarios, compute(name, scenarios))


class References:
    """The references of one run: kept ones, else computed by the helper process.

    When the command started the helper as it began (helper: bpdrill.grading.helper.early), the
    missing work is submitted
    at once, so that importing torch overlaps the grader's start and its workers. Otherwise the
    helper starts when a reference is first needed: a run where nothing needs one (skeletons,
    crashes) never starts torch. inline=True computes them in this process instead (the
    project's tests: trusted code only).
    """

    def __init__(self, seed: int, prepared: dict, inline: bool = False, keep: bool = True, helper=None):
        self.seed, self.inline, self.keep = seed, inline, keep
        self.scenarios = {name: scenarios for name, (_, scenarios) in prepared.items()}
        self.known = {name: load(name, seed, scenarios) if keep else None
                      for name, scenarios in self.scenarios.items()}
        self.computed: set = set()
        self.server: Server | None = None
        self.tickets: dict = {}
        if helper is not None and self._missing() and not inline:
            self._submit(Server(helper))
        else:  # every reference was kept after all
            helper_process.stop(helper)

    def _missing(self) -> list[str]:
        return [name for name, refs in self.known.items() if refs is None]

    def _submit(self, server: Server) -> None:
        """Send every missing batch to the helper (answers are read when needed)."""
        self.server = server
        self.tickets = {name: server.submit(name, self.scenarios[name]) for name in self._missing()}

    def _all(self, name: str) -> dict:
        if self.known[name] is None:
            if self.inline:
                self.known[name] = compute(name, self.scenarios[name])
            else:
                if self.server is None:
                    self._submit(Server())
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
                self._submit(Server())
            return self.server.result(self.server.submit(name, [scenario]))[scenario.name]
        return reference

    def close(self) -> None:
        """Keep what was computed, and mark this run's seed used (kept, its references serve a
        later --seed run of it, never a check that asks for a fresh seed); stop the helper
        (killed if its answers were never needed)."""
        if self.keep:
            for name in self.computed:
                store(name, self.seed, self.scenarios[name], self.known[name])
            mark_used(list(self.scenarios), self.seed)
        if self.server is not None:
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
                Path(lock).unlink(missing_ok=True)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
