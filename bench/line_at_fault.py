"""How often a diagnosis points at the statement that was edited: every mistake of a set (a small
named edit of a solution) graded under a few seeds; for each diagnosed failure, is the line the
diagnosis names one of the lines the edit wrote?

    python bench/line_at_fault.py [--set fixtures|heldout] [--seeds N] [NAME ...]

--set fixtures (the default): the grader's own wrong fixtures (tests/fixtures/wrong/*.toml), two
seeds each. Prints, per exercise and in total, the share of first diagnoses (the first diagnosed
check of each fixture and seed) that name an edited statement (an edited line, or the first line
of a statement over several lines that holds one), and lists the misses.

--set heldout: the independent set in bench/heldout/<name>.toml (realistic single-statement
mistakes written from SPEC and the solutions alone, never from the checks or the fixtures), one
seed each unless --seeds. For every mistake it also says whether the grader caught it (a score
below the maximum under every seed) and whether a caught one got a diagnosis at all; totals per
exercise and overall, then the mistakes not caught (grader bugs) and those caught without any
diagnosis.
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
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
    from bpdrill.grading.tracer import statements
    by_line = statements(path.read_text(encoding="utf-8"))
    return set(lines) | {by_line[n].lineno for n in lines if n in by_line}


HELDOUT = Path(__file__).resolve().parent / "heldout"


class HeldoutError(Exception):
    """A held-out mistake that cannot be applied as written (its file names where)."""


@dataclass(frozen=True)
class HeldoutMistake:
    """One held-out mistake: edits (old, new) of solutions/<exercise>.py, one statement."""
    exercise: str
    id: str
    why: str
    edits: tuple[tuple[str, str], ...]

    def apply(self, text: str) -> str:
        for number, (old, new) in enumerate(self.edits, 1):
            count = text.count(old)
            if count != 1:
                raise HeldoutError(f"bench/heldout/{self.exercise}.toml, mistake {self.id!r}, edit {number}: "
                                   f"the old text occurs {count} times in solutions/{self.exercise}.py "
                                   f"(exactly once expected): {old!r}")
            if old == new:
                raise HeldoutError(f"bench/heldout/{self.exercise}.toml, mistake {self.id!r}, edit {number}: "
                                   "the new text is the old one")
            text = text.replace(old, new)
        return text


def changed_lines(solution: str, edited: str) -> set[int]:
    """The line numbers, in the edited file, of the lines the edits changed (an `old` may carry
    unchanged lines around the statement it edits, to be found exactly once)."""
    import difflib
    lines: set[int] = set()
    matcher = difflib.SequenceMatcher(None, solution.splitlines(), edited.splitlines(), autojunk=False)
    for tag, _, _, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            lines |= set(range(j1 + 1, max(j2, j1 + 1) + 1))
    return lines


def statements_of(path: Path, lines: set[int]) -> set[int]:
    """The first line of the simple statement holding each line (a line of a compound
    statement's header, such as a `for`, stands for itself)."""
    from bpdrill.grading.tracer import statements
    by_line = statements(path.read_text(encoding="utf-8"))
    return {by_line[n].lineno if n in by_line else n for n in lines}


def heldout_mistakes(name: str) -> list[HeldoutMistake]:
    """The held-out mistakes of exercise name, in the order of bench/heldout/<name>.toml."""
    import tomllib
    path = HELDOUT / f"{name}.toml"
    if not path.exists():
        return []
    table = tomllib.loads(path.read_text(encoding="utf-8"))
    return [HeldoutMistake(name, m["id"], m.get("why", ""), tuple((e["old"], e["new"]) for e in m["edit"]))
            for m in table.get("mistake", [])]


def write_heldout(name: str, solution: str, folder: Path) -> list[tuple[HeldoutMistake, Path, set[int]]]:
    """Every held-out mistake of name applied to its solution and written as folder/<name>/<id>.py,
    with the first lines of the statements it edited; HeldoutError unless it edits exactly one."""
    import ast
    out = []
    (folder / name).mkdir(parents=True, exist_ok=True)
    for mistake in heldout_mistakes(name):
        path = folder / name / f"{mistake.id}.py"
        path.write_text(mistake.apply(solution), encoding="utf-8")
        try:
            ast.parse(path.read_text(encoding="utf-8"))
        except SyntaxError as error:
            raise HeldoutError(f"bench/heldout/{name}.toml, mistake {mistake.id!r}: "
                               f"the edited file does not parse ({error.msg}, line {error.lineno})") from None
        changed = changed_lines(solution, path.read_text(encoding="utf-8"))
        statements = statements_of(path, changed)
        if len(statements) != 1:
            raise HeldoutError(f"bench/heldout/{name}.toml, mistake {mistake.id!r}: it edits "
                               f"{len(statements)} statements (at lines {sorted(statements)}); one expected")
        out.append((mistake, path, statement_starts(path, changed)))
    return out


def share(part: int, whole: int) -> str:
    return f"{part}/{whole} = {part / whole:.0%}" if whole else "0/0"


def run_heldout(names: list[str], seeds: int, conftest) -> int:
    """Grade every held-out mistake of names under seeds 0 .. seeds - 1 and print what was caught,
    where the first diagnosis points, and the totals."""
    from bpdrill.practice.workspace import solution_path
    folder = Path(tempfile.mkdtemp(prefix="bpdrill-heldout-"))
    totals = {"mistakes": 0, "caught": 0, "at": 0, "diagnosed": 0, "none": 0}
    uncaught: list[str] = []
    undiagnosed: list[str] = []
    for name in names:
        solution = solution_path(name).read_text(encoding="utf-8")
        count = {"mistakes": 0, "caught": 0, "at": 0, "diagnosed": 0, "none": 0}
        for mistake, path, lines in write_heldout(name, solution, folder):
            count["mistakes"] += 1
            missed_under = []
            for seed in range(seeds):
                report = conftest.grade_fresh(name, path, seed)
                if report.score >= report.max_score:
                    missed_under.append(seed)
                    continue
                first = next((c.diagnosis for c in report.checks if not c.passed and c.diagnosis), None)
                if first is None:
                    count["none"] += 1
                    failed = sorted({c.target or c.name for c in report.checks if not c.passed})
                    undiagnosed.append(f"{name}/{mistake.id} seed {seed}: {report.score}/{report.max_score}, "
                                       f"failed {', '.join(map(str, failed)) or report.status}")
                    continue
                count["diagnosed"] += 1
                if first.line in lines:
                    count["at"] += 1
                else:
                    at = f"line {first.line}" if first.line else "no line"
                    print(f"  elsewhere {name}/{mistake.id} seed {seed}: {first.name} at {at}, "
                          f"edited {sorted(lines)}")
            if missed_under:
                uncaught.append(f"{name}/{mistake.id} (full marks under seed "
                                f"{', '.join(map(str, missed_under))}): {mistake.why}")
            else:
                count["caught"] += 1
        print(f"{name:18} caught {count['caught']}/{count['mistakes']}; first diagnosis at the edited "
              f"statement {share(count['at'], count['diagnosed'])}; no diagnosis {count['none']}")
        for key in totals:
            totals[key] += count[key]
    print(f"total: caught {totals['caught']}/{totals['mistakes']}; first diagnosis at the edited statement "
          f"{share(totals['at'], totals['diagnosed'])}; no diagnosis {totals['none']}")
    if uncaught:
        print(f"not caught ({len(uncaught)}):")
        for line in uncaught:
            print(f"  {line}")
    if undiagnosed:
        print(f"caught without a diagnosis ({len(undiagnosed)}):")
        for line in undiagnosed:
            print(f"  {line}")
    shutil.rmtree(folder, ignore_errors=True)
    return 0


def main(argv: list[str]) -> int:
    os.environ.setdefault("BPDRILL_DATA", tempfile.mkdtemp(prefix="bpdrill-bench-"))
    os.environ.setdefault("BPDRILL_CACHE", tempfile.mkdtemp(prefix="bpdrill-bench-refs-"))
    os.environ["BPDRILL_PREFETCH"] = "0"
    import conftest
    which = argv[argv.index("--set") + 1] if "--set" in argv else "fixtures"
    if which not in ("fixtures", "heldout"):
        print(f"--set must be fixtures or heldout, not {which!r}", file=sys.stderr)
        return 2
    seeds = int(argv[argv.index("--seeds") + 1]) if "--seeds" in argv else (2 if which == "fixtures" else 1)
    options = {argv[i + 1] for i, a in enumerate(argv[:-1]) if a in ("--set", "--seeds")}
    names = [a for a in argv if not a.startswith("-") and a not in options] or conftest.EXERCISES
    if which == "heldout":
        try:
            return run_heldout(names, seeds, conftest)
        except HeldoutError as error:
            print(error, file=sys.stderr)
            return 2
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
