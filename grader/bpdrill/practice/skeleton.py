"""Skeletons from solutions: the one source of every exercise file.

In a solution, a region

    # BEGIN TODO: what to write
    ...the reference code...
    # END TODO

becomes, in the skeleton, the same indentation with

    # TODO: what to write
    raise NotImplementedError("TODO: what to write")

    python -m bpdrill.practice.skeleton          rewrite exercises/ from solutions/
    python -m bpdrill.practice.skeleton --check  exit 1 when exercises/ is out of date
"""
from __future__ import annotations

import re
import sys

from bpdrill import catalog
from bpdrill.practice.workspace import skeleton_path, solution_path

BEGIN = re.compile(r"^(?P<indent>[ ]*)# BEGIN TODO: (?P<what>.+?)\s*$")
END = re.compile(r"^[ ]*# END TODO\s*$")
HEADER = '# Generated from solutions/{name}.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.\n'


class SkeletonError(ValueError):
    pass


def make_skeleton(source: str, name: str) -> str:
    """The skeleton text for a solution's source."""
    out, inside, line_no = [], False, 0
    for line_no, line in enumerate(source.splitlines(keepends=True), 1):
        begin = BEGIN.match(line)
        if begin:
            if inside:
                raise SkeletonError(f"{name}.py:{line_no}: BEGIN TODO inside another")
            inside = True
            indent, what = begin["indent"], begin["what"]
            out.append(f"{indent}# TODO: {what}\n")
            out.append(f"{indent}raise NotImplementedError({('TODO: ' + what)!r})\n")
        elif END.match(line):
            if not inside:
                raise SkeletonError(f"{name}.py:{line_no}: END TODO without BEGIN")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise SkeletonError(f"{name}.py: BEGIN TODO never ended")
    if not any(line.lstrip().startswith("raise NotImplementedError") for line in out):
        raise SkeletonError(f"{name}.py has no TODO region")
    return HEADER.format(name=name) + "".join(out)


def expected_skeletons() -> dict:
    return {name: make_skeleton(solution_path(name).read_text(encoding="utf-8"), name)
            for name in catalog.names()}


def stale() -> list[str]:
    """The exercises whose file in exercises/ differs from what its solution generates."""
    return [name for name, text in expected_skeletons().items()
            if not skeleton_path(name).is_file() or skeleton_path(name).read_text(encoding="utf-8") != text]


def main(argv: list[str]) -> int:
    if "--check" in argv:
        out_of_date = stale()
        for name in out_of_date:
            print(f"exercises/{name}.py is out of date: run `python -m bpdrill.practice.skeleton`")
        return 1 if out_of_date else 0
    for name, text in expected_skeletons().items():
        skeleton_path(name).write_text(text, encoding="utf-8")
        print(f"wrote exercises/{name}.py")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
