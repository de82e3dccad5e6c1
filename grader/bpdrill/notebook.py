"""Jupyter: `%load_ext bpdrill` adds the cell magic `%%bpdrill NAME`.

The cell holds the whole exercise file. It is written to the workspace (the file it replaces
kept in .attempts/ when it held something else), graded by bpdrill.api.check (in an isolated
worker process: the cell's code never runs in the kernel) and the report shown under the cell.

    %%bpdrill sigmoid [--seed N] [--workspace DIR]
"""
from __future__ import annotations

import argparse
import shlex
import sys

from bpdrill import api
from bpdrill.i18n import t
from bpdrill.practice import workspace as workspaces


class _Refusal(Exception):
    pass


class _Arguments(argparse.ArgumentParser):
    def error(self, message):  # one line for the learner, never SystemExit in a kernel
        raise _Refusal(message)


def _parser() -> _Arguments:
    parser = _Arguments(prog="%%bpdrill", add_help=False)
    parser.add_argument("name")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--workspace")
    return parser


def bpdrill_magic(line: str, cell: str):
    """%%bpdrill NAME [--seed N] [--workspace DIR]: save the cell as NAME's file, grade it, show the report."""
    from IPython.display import display

    try:
        args = _parser().parse_args(shlex.split(line))
        name = api.exercise_name(args.name)
        ws = api.open_workspace(args.workspace)
        try:
            kept = workspaces.save(ws, name, cell.encode("utf-8"))
        except workspaces.WorkspaceError as exc:
            raise api.BpdrillError(str(exc)) from None
    except (_Refusal, ValueError) as exc:
        print(f"bpdrill: {exc}", file=sys.stderr)
        return None
    saved = t("saved to {path}", path=ws / f"{name}.py")
    if kept is not None:
        saved += t(" (your attempt is kept at {path})", path=kept)
    print(saved)
    try:
        report = api.check(name, workspace=ws, seed=args.seed)
    except api.BpdrillError as exc:
        print(f"bpdrill: {exc}", file=sys.stderr)
        return None
    display(report)
    return None


def load_ipython_extension(ipython) -> None:
    ipython.register_magic_function(bpdrill_magic, magic_kind="cell", magic_name="bpdrill")
