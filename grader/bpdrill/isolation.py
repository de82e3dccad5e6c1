"""Running the worker in its own process: limits, process group, captured output.

Learner code never runs in the grader's process. A job goes to `python -m bpdrill.worker`
in a fresh temporary folder, with no stdin, in a process group of its own, under a
wall-clock, CPU and memory limit. Whatever happens there (an exception, a crash, a hang,
a flood of output, a child process left behind) comes back as a WorkerOutcome: plain
data, never a pickled object.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass

from bpdrill import protocol
from bpdrill.i18n import t
from bpdrill.protocol import MEMORY_LIMIT

OUTPUT_CAP = 16 * 1024  # bytes kept of each of the learner's stdout and stderr
KILL_GRACE = 1.5  # seconds between the worker's own timeout report and a hard kill

_live: set = set()  # the worker processes running now, so an interrupt can end them all
_live_lock = threading.Lock()


@dataclass
class WorkerOutcome:
    import_error: dict | None = None  # the learner's file could not be imported
    results: dict | None = None  # scenario -> {"error", "values"}, decoded by bpdrill.protocol
    output: str = ""  # what the learner's code printed (stdout then stderr), trimmed
    failure: str | None = None  # why there is no result: timed out, crashed, malformed ...
    hang: dict | None = None  # for a timeout: where the learner's code was (line, function)


class _CappedReader(threading.Thread):
    """Drains a pipe to its end, keeping only the first OUTPUT_CAP bytes."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe, self.kept, self.total = pipe, bytearray(), 0

    def run(self):
        while chunk := self.pipe.read(65536):
            self.total += len(chunk)
            if len(self.kept) < OUTPUT_CAP:
                self.kept += chunk[: OUTPUT_CAP - len(self.kept)]
        self.pipe.close()

    def text(self) -> str:
        text = self.kept.decode("utf-8", errors="replace")  # bytes that are not UTF-8 become U+FFFD
        if self.total > len(self.kept):
            text += "\n" + t("... ({count} more bytes not shown)", count=self.total - len(self.kept)) + "\n"
        return text


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        extra = {"SIGSEGV": t(" (a segmentation fault)"), "SIGKILL": t(" (killed)"), "SIGABRT": t(" (aborted)"),
                 "SIGXCPU": t(" (over its CPU time limit)"), "SIGBUS": t(" (a bus error)")}.get(name, "")
        return t("the exercise crashed the worker with {signal}{extra}", signal=name, extra=extra)
    return t("the exercise file ended the worker (exit status {code}) before it could report", code=code)


def _hang_location(dump: str, learner_file: str) -> dict | None:
    """The innermost frame in the learner's file of faulthandler's dump of the main thread."""
    frames = re.findall(r'File "(.+?)", line (\d+) in (\S+)', dump)
    for filename, line, function in frames:  # faulthandler lists the innermost frame first
        if os.path.abspath(filename) == learner_file:
            return {"line": int(line), "function": function}
    return None


def _worker_env() -> dict:
    env = dict(os.environ)
    env.update({
        "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ beside the learner's file
        "PYTHONUNBUFFERED": "1",  # what was printed before a crash is still seen
        # One BLAS thread: exercises are tiny, two workers share two cores, and each thread
        # would reserve address space against the memory limit.
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    })
    return env


def kill_all() -> None:
    """End every running worker and whatever it started (used on Ctrl-C)."""
    with _live_lock:
        procs = list(_live)
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def run_worker(job: dict, scenarios: list, timeout: float) -> WorkerOutcome:
    """Run one exercise's scenarios in a separate process and collect what came back.

    job: exercise, file, class and lang (see bpdrill.protocol.write_job)."""
    learner_file = os.path.abspath(job["file"])
    with tempfile.TemporaryDirectory(prefix="bpdrill-") as job_dir:
        protocol.write_job(job_dir, job["exercise"], learner_file, job["class"], scenarios, job["lang"],
                           limits={"seconds": timeout, "memory": MEMORY_LIMIT})
        proc = subprocess.Popen(
            [sys.executable, "-m", "bpdrill.worker", job_dir],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=job_dir, env=_worker_env(),
            start_new_session=True,  # its own process group: killed as one, children included
        )
        with _live_lock:
            _live.add(proc)
        readers = [_CappedReader(proc.stdout), _CappedReader(proc.stderr)]
        for reader in readers:
            reader.start()
        failure = hang = None
        try:
            code = proc.wait(timeout=timeout + KILL_GRACE)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the worker's group: anything it started too
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
            with _live_lock:
                _live.discard(proc)
        for reader in readers:
            reader.join(timeout=2)  # a grandchild outside the group may hold a pipe open
        output = readers[0].text() + readers[1].text()
        dump_path = os.path.join(job_dir, "timeout.txt")
        if code is None or (os.path.exists(dump_path) and os.path.getsize(dump_path) > 0):
            failure = t("timed out after {seconds:g} s", seconds=timeout)
            if os.path.exists(dump_path):
                with open(dump_path, encoding="utf-8", errors="replace") as f:
                    hang = _hang_location(f.read(), learner_file)
        elif code != 0 or not protocol.has_result(job_dir):
            failure = _describe_exit(code)
        if failure is not None:
            return WorkerOutcome(output=output, failure=failure, hang=hang)
        try:
            import_error, results = protocol.read_result(job_dir, [s.name for s in scenarios])
        except protocol.ProtocolError as exc:
            return WorkerOutcome(output=output, failure=t("the worker's answer was refused: {reason}",
                                                          reason=exc))
        return WorkerOutcome(import_error, results, output=output)
