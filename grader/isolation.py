"""Running the worker in its own process: time limit, process group, captured output.

Learner code never runs in the grader's process. A job goes to `python -m bpdrill.worker`
in a fresh temporary folder; whatever happens there (an exception, a crash, a hang, a
flood of output) comes back as a WorkerOutcome: plain data, never a pickled object.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

import numpy as np

OUTPUT_CAP = 64 * 1024  # bytes of the learner's stdout/stderr kept per exercise


@dataclass
class WorkerOutcome:
    result: dict | None  # result.json, or None when the worker never reported
    arrays: dict = field(default_factory=dict)  # ref -> array, from outputs.npz
    output: str = ""  # what the learner's code printed (stdout then stderr), trimmed
    failure: str | None = None  # why there is no result: timed out, crashed ...


def _read_capped(path: str) -> str:
    with open(path, "rb") as f:
        data = f.read(OUTPUT_CAP + 1)
    text = data[:OUTPUT_CAP].decode("utf-8", errors="replace")
    return text + ("\n... (output trimmed)" if len(data) > OUTPUT_CAP else "")


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        extra = {"SIGSEGV": " (segmentation fault)", "SIGKILL": " (killed: out of memory?)",
                 "SIGABRT": " (aborted)"}.get(name, "")
        return f"the worker crashed with {name}{extra}"
    return f"the exercise file ended the worker (exit status {code}) before it could report"


def run_worker(job: dict, arrays: dict, timeout: float) -> WorkerOutcome:
    """Run one exercise's scenarios in a separate process and collect what came back."""
    with tempfile.TemporaryDirectory(prefix="bpdrill-") as job_dir:
        with open(os.path.join(job_dir, "job.json"), "w", encoding="utf-8") as f:
            json.dump(job, f)
        np.savez(os.path.join(job_dir, "inputs.npz"), **arrays)
        out_path, err_path = os.path.join(job_dir, "stdout"), os.path.join(job_dir, "stderr")
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bpdrill.worker", job_dir],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=job_dir,
                start_new_session=True,  # its own process group: killed as one, children included
            )
            failure = None
            try:
                code = proc.wait(timeout=timeout)
                if code != 0:
                    failure = _describe_exit(code)
            except subprocess.TimeoutExpired:
                failure = f"timed out after {timeout:g} s"
            finally:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # and anything it started
                except ProcessLookupError:
                    pass
                proc.wait()
        output = _read_capped(out_path) + _read_capped(err_path)
        result_path = os.path.join(job_dir, "result.json")
        if failure is not None or not os.path.exists(result_path):
            return WorkerOutcome(None, output=output, failure=failure or _describe_exit(proc.returncode))
        with open(result_path, encoding="utf-8") as f:
            result = json.load(f)
        with np.load(os.path.join(job_dir, "outputs.npz"), allow_pickle=False) as data:
            out_arrays = {k: data[k] for k in data.files}
        return WorkerOutcome(result, out_arrays, output=output)
