"""The one gate for adding an exercise: everything still missing or disagreeing, one line each.

    python -m bpdrill.devcheck      exit 1 with the list, or "N exercises, no problems"

Like rustlings' `dev check`. The tests run the same function (tests/test_registry.py), so it
can never say "no problems" while the tests still fail for a missing piece.
"""
from __future__ import annotations

import re
import sys
from importlib import resources

from bpdrill import catalog, i18n
from bpdrill.core.judge import Check
from bpdrill.grading import registry
from bpdrill.practice import explain, skeleton, workspace


def problems() -> list[str]:
    """Everything missing or disagreeing, one line each: the registry's consistency check."""
    found = []
    listed = set(registry.names())
    for kind, package in (("solution", "bpdrill.solutions"), ("grader module", "bpdrill.checks")):
        on_disk = {p.name[:-3] for p in resources.files(package).iterdir()
                   if p.name.endswith(".py") and not p.name.startswith("_")}
        on_disk |= {p.name for p in resources.files(package).iterdir()  # a unit grown into a folder
                    if p.is_dir() and p.joinpath("__init__.py").is_file()}
        found += [f"{name}: a {kind} with no catalog.toml entry" for name in sorted(on_disk - listed)]
    for name in registry.names():
        meta = catalog.get(name)
        for field in ("title", "title_zh", "task", "task_zh"):
            if not getattr(meta, field):
                found.append(f"{name}: catalog.toml has no {field}")
        if len(meta.hints) != 3 or len(meta.hints_zh) != 3:
            found.append(f"{name}: catalog.toml needs three hints and three hints_zh")
        found += explain.missing([name])
        if not resources.files("bpdrill.solutions").joinpath(f"{name}.py").is_file():
            found.append(f"{name}: solutions/{name}.py is missing")
            continue
        try:
            unit = registry.get(name)
        except ImportError as exc:
            found.append(f"{name}: grader module bpdrill.checks.{name} cannot be imported ({exc})")
            continue
        missing = unit.missing()
        if missing:
            found.append(f"{name}: bpdrill/checks/{name}.py lacks {', '.join(missing)}")
            continue
        ids = [c.id for c in unit.checks]
        if len(ids) != len(set(ids)):
            found.append(f"{name}: check ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
        if not all(isinstance(c, Check) for c in unit.checks):
            found.append(f"{name}: CHECKS holds something that is not a Check")
        found += [f"{name}: practice/skeleton_zh/{name}.toml lacks {what}" for what in skeleton.untranslated(name)]
        if name in skeleton.stale():
            found.append(f"{name}: exercises/{name}.py is out of date: run `python -m bpdrill.practice.skeleton`")
        found += _untranslated(name, unit)
    root = workspace.kit_root()
    if root is not None:  # a clone: the fixtures and the README are here too
        found += _clone_problems(root)
    return found


def _untranslated(name: str, unit) -> list[str]:
    """Check titles and mistake sentences with no Chinese (inline or in a registered table)."""
    found = []
    for check in unit.checks:
        if not i18n.has(check.title):
            found.append(f"{name}: check {check.id}: no Chinese for its title {check.title!r}")
    for mistake in unit.mistakes:
        if not i18n.has(mistake.says):
            found.append(f"{name}: mistake {mistake.name}: no Chinese for {mistake.says[:60]!r}...")
    return found


def _clone_problems(root) -> list[str]:
    """Fixtures and README rows every exercise needs (only where the kit is a clone)."""
    found = []
    readme = (root / "README.md").read_text(encoding="utf-8")
    exercise_rows = set(re.findall(r"^\| `(\w+)` \| .* \| \*+ \|$", readme, flags=re.M))
    mistake_section = readme.split("### The mistakes bpdrill recognises")[-1].split("\n## ")[0]
    mistake_rows = set(re.findall(r"^\| `(\w+)` \|", mistake_section, flags=re.M))
    fixtures = root / "tests" / "fixtures"
    for name in registry.names():
        correct = sorted((fixtures / "correct" / name).glob("*.py"))
        if len(correct) < 2:
            found.append(f"{name}: {len(correct)} correct variants in tests/fixtures/correct/{name}/ (two or more)")
        wrong = fixtures / "wrong" / f"{name}.toml"
        count = wrong.read_text(encoding="utf-8").count("[[mistake]]") if wrong.is_file() else 0
        if count < 4:
            found.append(f"{name}: {count} wrong fixtures in tests/fixtures/wrong/{name}.toml (four or more)")
        if name not in exercise_rows:
            found.append(f"{name}: no row in the README's exercise table")
        try:
            names = {m.name for m in registry.get(name).mistakes}
        except ImportError:
            continue
        for mistake in sorted(names - mistake_rows):
            found.append(f"{name}: mistake {mistake} has no row in the README's mistakes table")
    return found


def main() -> int:
    found = problems()
    for line in found:
        print(line)
    print(f"{len(registry.names())} exercises, {'no problems' if not found else f'{len(found)} problems'}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
