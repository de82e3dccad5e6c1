"""The console script's first steps: start the torch helper early when a check will need it.

`bpdrill check` spends most of its first run importing torch (in the reference helper
process). Started here, before the grader itself is imported (NumPy, Click, the exercises),
that import overlaps the grader's own start-up and workers. Only cheap facts decide: the
command, the exercises named, and whether kept references (bpdrill.grading.refcache) cover them. A
helper that turns out unneeded is stopped (bpdrill.grading.reference adopts it, or stops it at exit).
This module imports nothing heavy.
"""
from __future__ import annotations

import atexit
import os
import re
import subprocess
import sys

_helper = None  # the early helper (a subprocess.Popen), until bpdrill.grading.reference takes it

VALUED = {"--seed", "--timeout", "--workspace", "--lang"}  # check's options that take a value


def start_helper() -> subprocess.Popen:
    """The reference helper process: it imports torch at once, then answers requests on stdin
    (bpdrill.grading.reference.serve)."""
    return subprocess.Popen([sys.executable, "-I", "-m", "bpdrill.grading.reference", "serve"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env={**os.environ, "BPDRILL_PREFETCH": "0"})


def take_helper():
    """The helper started early, handed over once (then None)."""
    global _helper
    helper, _helper = _helper, None
    return helper


def _stop() -> None:
    helper = take_helper()
    if helper is not None:
        helper.kill()
        helper.wait()


def _names_and_seed(args: list[str]) -> tuple[list[str], int | None] | None:
    """The exercises a `check` names (all when none) and its --seed; None when unclear."""
    from bpdrill import catalog
    known = catalog.names()
    names, seed, i = [], None, 0
    while i < len(args):
        arg = args[i]
        if arg in ("-h", "--help"):
            return None
        if arg in VALUED or any(arg.startswith(v + "=") for v in VALUED):
            value = arg.split("=", 1)[1] if "=" in arg else (args[i + 1] if i + 1 < len(args) else "")
            if arg.startswith("--seed"):
                if not re.fullmatch(r"\d+", value):
                    return None
                seed = int(value)
            i += 1 if "=" in arg else 2
            continue
        if not arg.startswith("-"):
            if arg not in known:
                return None  # a typo: the CLI will say so, no torch needed
            names.append(arg)
        i += 1
    return names or known, seed


def maybe_start_helper(argv: list[str]) -> None:
    """Start the reference helper now if `argv` is a check whose references are not kept."""
    global _helper
    if argv[:1] != ["check"]:
        return
    try:
        found = _names_and_seed(argv[1:])
        if found is None:
            return
        from bpdrill.grading import refcache
        names, seed = found
        if refcache.covered(names, seed):
            return
        _helper = start_helper()
        atexit.register(_stop)
    except Exception:  # noqa: BLE001 - only a head start: the check itself decides later
        return


def main() -> None:
    maybe_start_helper(sys.argv[1:])
    from bpdrill.cli.main import main as cli_main
    cli_main()
