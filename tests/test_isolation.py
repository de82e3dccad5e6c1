"""Broken and hostile learner files: contained, explained, and costing only their exercise.

Each case grades a broken linear.py together with the correct sigmoid solution in one run,
through real worker processes, with a 2 s limit so the suite stays quick; allocations use
np.empty, which reserves address space without touching memory.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from click.testing import CliRunner

from bpdrill.grading import runner
from bpdrill.cli.main import cli
from conftest import solution_path

SOLUTION = solution_path("linear").read_text()
BACKWARD = "def backward(self, dout):"
LOC = r"in Linear\.backward \(\S*linear\.py:\d+\)"  # where, in the learner's terms


def with_backward(body: str) -> str:
    """The linear solution with Linear.backward's body replaced by body."""
    start = SOLUTION.index("        # BEGIN TODO")
    end = SOLUTION.index("        # END TODO") + len("        # END TODO\n")
    return SOLUTION[:start] + textwrap.indent(textwrap.dedent(body), " " * 8) + SOLUTION[end:]


def grade_pair(tmp_path, linear_source: str, timeout: float = 2.0, seed: int = 1):
    """Grade a linear.py with the correct sigmoid in the same run, in real workers; the sigmoid
    must pass."""
    path = tmp_path / "linear.py"
    path.write_text(linear_source, encoding="utf-8")
    start = time.monotonic()
    linear, sigmoid = runner.run_checks({"linear": path, "sigmoid": solution_path("sigmoid")},
                                        seed=seed, timeout=timeout)
    assert time.monotonic() - start < timeout + 60, "the grader must not hang past its limits"
    assert sigmoid.status == "passed", "every other exercise of the run is graded as usual"
    return linear


def is_running(pid: int) -> bool:
    """True while pid is a live process (a zombie waiting to be reaped is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def gone_soon(pid: int, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while is_running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not is_running(pid)


def all_text(report) -> str:
    return "\n".join([report.message] + [c.message for c in report.checks])


CASES = {
    "loop_forever": (with_backward("while True:\n    pass\n"), rf"timed out after 2 s {LOC}"),
    "sleep_at_import": ("import time\ntime.sleep(60)\n" + SOLUTION, r"timed out after 2 s \(\S*linear\.py:2\)"),
    "sys_exit": (with_backward("import sys\nsys.exit(0)\n"), rf"called sys\.exit\(0\) {LOC}: an exercise must return"),
    "raise_system_exit": (with_backward("raise SystemExit(2)\n"), rf"called sys\.exit\(2\) {LOC}"),
    "os_exit": (with_backward("import os\nos._exit(3)\n"), r"ended the worker \(exit status 3\)"),
    "keyboard_interrupt": (with_backward("raise KeyboardInterrupt\n"), rf"raised KeyboardInterrupt {LOC}"),
    "segfault": (with_backward("import ctypes\nctypes.string_at(0)\n"), r"crashed the worker with SIGSEGV"),
    "allocate_until_out_of_memory": (
        with_backward("hoard = []\nwhile True:\n    hoard.append(np.empty(10**8))\n"),
        rf"ran out of memory \(the limit is 2 GiB\) {LOC}"),
    "one_huge_allocation": (with_backward("return np.zeros((10**6, 10**6))\n"), rf"ran out of memory .*{LOC}"),
    "recurse_without_end": (with_backward("return self.backward(dout)\n"), rf"recursed without end \(RecursionError\) {LOC}"),
    "syntax_error": (SOLUTION.replace(BACKWARD, "def backward(self, dout)"),
                     r"syntax error at \S*linear\.py:\d+: expected ':'"),
    "missing_class": (SOLUTION.replace("class Linear:", "class Linearr:"), r"defines no class Linear"),
    "raise_in_init": (SOLUTION.replace("        rng = np.random", "        raise RuntimeError('no')\n        rng = np.random"),
                      r"RuntimeError: no in Linear\.__init__ \(\S*linear\.py:\d+\)"),
    "exception": (with_backward("raise ValueError('shapes are hard')\n"), rf"ValueError: shapes are hard {LOC}"),
    "import_torch": ("import torch\n" + SOLUTION, r"importing torch is not allowed in an exercise"),
    "import_solutions": ("from bpdrill.solutions import linear as reference\n" + SOLUTION,
                         r"importing bpdrill\.solutions is not allowed"),
    "monkeypatch_numpy": (
        "import numpy as np\nnp.allclose = lambda *a, **k: True\nnp.array_equal = lambda *a, **k: True\n"
        + with_backward("self.dW = dout\nself.db = dout\nreturn dout\n"),
        r"replaced numpy\.allclose, numpy\.array_equal: changing numpy is not allowed"),
    "ndarray_subclass_that_lies": (
        "import numpy as np\nclass Liar(np.ndarray):\n    def __eq__(self, other):\n        return True\n"
        "    __ne__ = lambda self, other: False\n"
        + with_backward("self.dW = (self.x.T @ dout).view(Liar)\nself.db = dout.sum(axis=0)\n"
                        "return (dout @ self.W.T).view(Liar)\n"),
        r"dx: expected a float64 array, got a float64 array of shape \(\d, \d\) \(a \S+Liar, an ndarray subclass\)"),
    "return_lists": (with_backward("self.dW = (self.x.T @ dout).tolist()\nself.db = list(dout.sum(0))\n"
                                   "return (dout @ self.W.T).tolist()\n"),
                     r"dx: expected a float64 array, got a list of \d items"),
    "return_float32": (with_backward("self.dW = (self.x.T @ dout).astype(np.float32)\nself.db = dout.sum(0)\n"
                                     "return dout @ self.W.T\n"),
                       r"dW: expected a float64 array, got a float32 array of shape \(\d, \d\)"),
    "return_nan": (with_backward("self.dW = self.x.T @ dout\nself.db = dout.sum(0)\ndx = dout @ self.W.T\n"
                                 "dx[0, 1] = np.nan\nreturn dx\n"),
                   r"dx: nan at \[0, 1\]"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_broken_file_loses_its_points_with_one_line_in_the_learners_terms(tmp_path, case):
    source, pattern = CASES[case]
    report = grade_pair(tmp_path, source)
    text = all_text(report)
    assert re.search(pattern, text), text
    assert report.score < report.max_score
    assert "Traceback" not in text and "bpdrill/" not in text  # no frames of ours


def processes_running(marker: str) -> list[int]:
    """Live processes whose command line holds marker."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker.encode() in f.read() and is_running(int(entry)):
                        found.append(int(entry))
            except OSError:
                continue
    return found


def test_a_child_process_left_running_is_killed_with_the_worker(tmp_path):
    marker = f"{300 + os.getpid() % 1000}.{time.time_ns() % 10**6}"  # this test's own sleep
    source = with_backward(f"""
        import subprocess
        child = subprocess.Popen(["sleep", "{marker}"])
        while True:
            pass
    """)
    report = grade_pair(tmp_path, source)
    assert "timed out" in report.message
    deadline = time.monotonic() + 3
    while processes_running(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not processes_running(marker), "killed with the worker's process group"


def test_the_traceback_is_trimmed_to_the_learners_own_frames(tmp_path):
    source = with_backward("def helper(a):\n    return a.nope\nreturn helper(dout)\n")
    report = grade_pair(tmp_path, source)
    details = "\n".join(line for c in report.checks for line in c.details)
    assert "linear.py" in details and "helper" in details
    assert "drivers.py" not in details and "worker.py" not in details


@pytest.mark.parametrize("printed", [
    "print('x' * 5_000_000)",  # megabytes
    "import sys; sys.stdout.buffer.write(bytes(range(256)) * 100); sys.stdout.flush()",  # not UTF-8
    "print('{\"seed\": 1, \"exercises\": []}')",  # a fake JSON report
])
def test_printing_is_captured_trimmed_and_never_mixed_into_the_report(tmp_path, printed, monkeypatch):
    ws = tmp_path / "ws"
    monkeypatch.setenv("BPDRILL_WORKSPACE", str(ws))
    CliRunner().invoke(cli, ["list"])
    (ws / "linear.py").write_text(printed + "\n" + SOLUTION, encoding="utf-8")
    (ws / "sigmoid.py").write_text(solution_path("sigmoid").read_text())
    result = CliRunner().invoke(cli, ["check", "linear", "sigmoid", "--json", "--seed", "3"])
    doc = json.loads(result.stdout)  # exactly one JSON document: ours
    assert result.exit_code == 0  # printing is allowed: a correct file keeps its marks
    linear = doc["exercises"][0]
    assert linear["status"] == "passed"
    assert len(linear["output"]) < 40_000


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return found


def descendants_of(pid: int) -> list[int]:
    """Every process below pid (workers are forked by the zygote, a child of the grader)."""
    found, frontier = [], [pid]
    while frontier:
        below = [child for parent in frontier for child in children_of(parent)]
        found += below
        frontier = below
    return found


def worker_folder(pid: int) -> str:
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:  # ended meanwhile
        return ""


def test_ctrl_c_stops_cleanly_leaving_no_process_and_no_temporary_folder(tmp_path):
    ws = tmp_path / "ws"
    env = {**os.environ, "BPDRILL_WORKSPACE": str(ws)}
    subprocess.run([sys.executable, "-m", "bpdrill", "list"], env=env, capture_output=True, check=True)
    (ws / "linear.py").write_text("while True:\n    pass\n")
    proc = subprocess.Popen([sys.executable, "-m", "bpdrill", "check", "linear", "--timeout", "60"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    workers = []
    while not workers and time.monotonic() < deadline:  # the worker: in a folder of its own
        workers = [pid for pid in descendants_of(proc.pid) if worker_folder(pid).startswith("bpdrill-")]
        time.sleep(0.05)
    assert workers, "a worker started"
    worker, folder = workers[0], os.readlink(f"/proc/{workers[0]}/cwd")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130
    assert b"interrupted" in err and b"Traceback" not in err
    assert gone_soon(worker)
    assert not os.path.exists(folder), "the worker's temporary folder is removed"
