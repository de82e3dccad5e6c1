"""Learner code runs in a worker process: its failures cost that exercise only."""
from __future__ import annotations

import re
import textwrap

import pytest

from bpdrill import runner
from conftest import solution_path

SOLUTION = solution_path("linear").read_text()


def _with_backward(body: str) -> str:
    """The linear solution with Linear.backward's body replaced."""
    start = SOLUTION.index("        # BEGIN TODO")
    end = SOLUTION.index("        # END TODO") + len("        # END TODO\n")
    return SOLUTION[:start] + textwrap.indent(textwrap.dedent(body), " " * 8) + SOLUTION[end:]


def grade_pair(tmp_path, linear_source: str, timeout: float = 5.0):
    """Grade a broken linear.py together with the correct sigmoid solution, in real workers."""
    path = tmp_path / "linear.py"
    path.write_text(linear_source)
    linear, sigmoid = runner.run_checks({"linear": path, "sigmoid": solution_path("sigmoid")},
                                        seed=1, timeout=timeout)
    assert sigmoid.status == "passed", "the other exercise of the run must be graded as usual"
    return linear


CASES = {
    "exception": (_with_backward("raise ValueError('shapes are hard')\n"),
                  r"ValueError: shapes are hard \(at \S*linear.py:\d+ in backward\)"),
    "syntax_error": (SOLUTION.replace("def backward(self, dout):", "def backward(self, dout)"),
                     r"syntax error at \S*linear.py:\d+: expected ':'"),
    "missing_class": (SOLUTION.replace("class Linear:", "class Linearr:"), r"defines no class Linear"),
    "raise_in_init": (SOLUTION.replace("        rng = np.random", "        raise RuntimeError('no')\n        rng = np.random"),
                      r"RuntimeError: no \(at \S*linear.py:\d+ in __init__\)"),
    "hang": (_with_backward("while True:\n    pass\n"), r"timed out after 2 s"),
    "sleep_at_import": ("import time\ntime.sleep(60)\n" + SOLUTION, r"timed out after 2 s"),
    "os_exit": (_with_backward("import os\nos._exit(3)\n"), r"exit status 3"),
    "sys_exit": (_with_backward("import sys\nsys.exit(0)\n"), r"SystemExit"),
    "segfault": (_with_backward("import ctypes\nctypes.string_at(0)\n"), r"SIGSEGV"),
    "import_torch": ("import torch\n" + SOLUTION, r"importing torch is not allowed"),
    "import_solution": ("from bpdrill.solutions import linear as ref\n" + SOLUTION,
                        r"importing bpdrill\.solutions is not allowed"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_a_broken_file_costs_only_its_own_exercise(tmp_path, case):
    source, needle = CASES[case]
    report = grade_pair(tmp_path, source, timeout=2.0)
    text = report.message + "\n" + "\n".join(c.message for c in report.checks)
    assert re.search(needle, text), text
    assert report.score == 0


def test_printed_output_is_captured_under_the_exercise(tmp_path):
    report = grade_pair(tmp_path, 'print("debugging dW")\n' + SOLUTION)
    assert report.status == "passed"
    assert "debugging dW" in report.output
