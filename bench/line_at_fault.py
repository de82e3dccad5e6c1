"""How often a diagnosis points at the statement that was edited: every wrong fixture (a small
named edit of a solution) graded under a few seeds; for each diagnosed failure, is the line the
diagnosis names one of the lines the edit wrote?

    python bench/line_at_fault.py [--seeds 2] [NAME ...]

Prints, per exercise and in total, the share of first diagnoses (the first diagnosed check of
each fixture and seed) that name an edited statement (an edited line, or the first line of a
statement over several lines that holds one), and lists the misses.
"""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def edited_lines(mistake, solution: str) -> set[int]:
    """The line numbers, in the wrong file, of the text each edit wrote."""
    text = solution
    lines: set[int] = set()
    for old, new in mistake.edits:
        start = text.index(old)
        text = text.replace(old, new)
        first = text[:start].count("\n") + 1
        lines |= set(range(first, first + max(new.count("\n"), 0) + 1))
    return lines


def statement_starts(path, lines: set[int]) -> set[int]:
    """The first lines of the statements that hold an edited line (a statement over several
    lines is named by its first): a diagnosis there names the edited statement."""
    import ast
    starts = set(lines)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.For,
                                                                 ast.While, ast.If, ast.With, ast.Try)):
            if any(node.lineno <= n <= (node.end_lineno or node.lineno) for n in lines):
                starts.add(node.lineno)
    return starts


def main(argv: list[str]) -> int:
    os.environ.setdefault("BPDRILL_DATA", tempfile.mkdtemp(prefix="bpdrill-bench-"))
    os.environ.setdefault("BPDRILL_CACHE", tempfile.mkdtemp(prefix="bpdrill-bench-refs-"))
    os.environ["BPDRILL_PREFETCH"] = "0"
    import conftest
    seeds = int(argv[argv.index("--seeds") + 1]) if "--seeds" in argv else 2
    names = [a for a in argv if not a.startswith("-") and not a.isdigit()] or conftest.EXERCISES
    hits = misses = 0
    for name in names:
        solution = conftest.solution_path(name).read_text(encoding="utf-8")
        h = m = 0
        for mistake in conftest.mistakes(name):
            path = conftest.wrong_fixture(name, mistake.id)
            lines = statement_starts(path, edited_lines(mistake, solution))
            for seed in range(seeds):
                report = conftest.grade_fresh(name, path, seed)
                first = next((c.diagnosis for c in report.checks if not c.passed and c.diagnosis), None)
                if first is None:
                    continue
                if first.line in lines:
                    h += 1
                else:
                    m += 1
                    print(f"  miss {name}/{mistake.id} seed {seed}: {first.name} at line {first.line}, "
                          f"edited {sorted(lines)}")
        if h + m:
            print(f"{name:16} {h}/{h + m} first diagnoses at an edited line")
        hits, misses = hits + h, misses + m
    print(f"total: {hits}/{hits + misses} = {hits / max(hits + misses, 1):.0%} of first diagnoses name an edited line")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
