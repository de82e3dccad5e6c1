"""The grader's end of the zygote (bpdrill.grading.isolation forks workers through it).

Kept light, with no NumPy, so that a command can start the zygote as it begins, before the
grader itself is imported: the zygote's own start (an interpreter, NumPy, the exercises of the
run) then overlaps the grader's.
"""
from __future__ import annotations

import atexit
import os
import subprocess
import sys

CAN_FORK = hasattr(os, "fork")


def zygote_environment() -> dict:
    """The zygote's whole environment (a worker can read its original block back from memory):
    nothing of the grader's but the locale and the path."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
    return {**keep, "HOME": "/nonexistent", "PYTHONDONTWRITEBYTECODE": "1",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class Zygote:
    """The grader's end of the zygote: spawn a worker for a job folder, reap it."""

    def __init__(self, names: list[str] | None = None):
        import socket
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-m", "bpdrill.grading.zygote", str(theirs.fileno()), ",".join(names or [])],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),), env=zygote_environment(), cwd="/", start_new_session=True)
        finally:
            theirs.close()

    def _ask(self, request: dict, fds: list | None = None) -> dict:
        import json
        import socket
        socket.send_fds(self.sock, [json.dumps(request).encode()], fds or [])
        answer = self.sock.recv(4096)
        if not answer:
            raise OSError("the zygote ended")
        return json.loads(answer)

    def spawn(self, job_dir: str, out_w: int, err_w: int, preload: str = "", exercise: str = "") -> int:
        """preload: a trusted module the job's task lives in; exercise: the exercise whose module
        the worker drives (both imported before the fork, where the package can be read)."""
        return int(self._ask({"op": "spawn", "dir": job_dir, "preload": preload, "exercise": exercise},
                             [out_w, err_w])["pid"])

    def reap(self, pid: int) -> int | None:
        return self._ask({"op": "reap", "pid": pid})["code"]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        self.sock.close()  # the zygote sees the end of its socket, ends its workers and exits
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_zygote: Zygote | None = None


def zygote(names: list[str] | None = None) -> Zygote | None:
    """The running zygote (started on first use, again if it died); None where it cannot run.
    names: the exercises it imports before its first fork (default: every exercise). A command
    starts it as early as it can (start_zygote), so that its imports overlap the grader's own."""
    global _zygote
    if not CAN_FORK:
        return None
    if _zygote is not None and _zygote.alive():
        return _zygote
    try:
        _zygote = Zygote(names)
    except (OSError, AttributeError, ValueError):
        _zygote = None
        return None
    atexit.register(stop_zygote)
    return _zygote


def start_zygote(names: list[str]) -> None:
    """Start the zygote now, importing just these exercises (a run's first step: its imports
    overlap drawing the hidden inputs and loading the references)."""
    zygote(names)


def stop_zygote() -> None:
    global _zygote
    if _zygote is not None:
        _zygote.close()
        _zygote = None


