"""The PyTorch reference helper process, started as early as a command can know it is needed.

`bpdrill check` spends most of its first run importing torch (in the helper process). The
check command starts the helper before it imports the grader (NumPy, the exercises), so that
import overlaps the grader's own start and its workers, and hands it to the run explicitly
(bpdrill.grading.runner.run_checks(helper=...)). Only cheap facts decide: the exercises, the
seed, and whether kept references (bpdrill.grading.refcache) cover them. This module imports
nothing heavy.
"""
from __future__ import annotations

import atexit
import os
import subprocess
import sys


def start() -> subprocess.Popen:
    """The reference helper process: it imports torch at once, then answers requests on stdin
    (bpdrill.grading.reference.serve)."""
    return subprocess.Popen([sys.executable, "-I", "-m", "bpdrill.grading.reference", "serve"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env={**os.environ, "BPDRILL_PREFETCH": "0"})


def stop(helper: subprocess.Popen | None) -> None:
    if helper is not None and helper.poll() is None:
        helper.kill()
        helper.wait()


def early(names: list[str], seed: int | None) -> subprocess.Popen | None:
    """A helper started now when a check of these exercises will need references that are not
    kept; None when they are kept (or that cannot be told cheaply: the run starts one later)."""
    try:
        from bpdrill.grading import refcache
        if refcache.covered(names, seed):
            return None
        helper = start()
    except Exception:  # noqa: BLE001 - only a head start: the run itself decides later
        return None
    atexit.register(stop, helper)
    return helper
