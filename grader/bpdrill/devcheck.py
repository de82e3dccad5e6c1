"""The one gate for adding an exercise: everything still missing or disagreeing, one line each.

    python -m bpdrill.devcheck      exit 1 with the list, or "N exercises, no problems"

Like rustlings' `dev check`. The tests run the same function (tests/test_registry.py), so it
can never say "no problems" while the tests still fail for a missing piece.
"""
from __future__ import annotations

import sys
from importlib import resources

from bpdrill import catalog
from bpdrill.core.judge import Check
from bpdrill.grading import registry
from bpdrill.practice import skeleton

REQUIRED = registry.REQUIRED


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
        if not resources.files("bpdrill.solutions").joinpath(f"{name}.py").is_file():
            found.append(f"{name}: solutions/{name}.py is missing")
            continue
        try:
            unit = registry.get(name)
        except ImportError as exc:
            found.append(f"{name}: grader module bpdrill.checks.{name} cannot be imported ({exc})")
            continue
        missing = [attr for attr in REQUIRED if not hasattr(unit.module, attr)]
        if missing:
            found.append(f"{name}: bpdrill/checks/{name}.py lacks {', '.join(missing)}")
            continue
        ids = [c.id for c in unit.checks]
        if len(ids) != len(set(ids)):
            found.append(f"{name}: check ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
        if not all(isinstance(c, Check) for c in unit.checks):
            found.append(f"{name}: CHECKS holds something that is not a Check")
        if name in skeleton.stale():
            found.append(f"{name}: exercises/{name}.py is out of date: run `python -m bpdrill.practice.skeleton`")
    return found


def main() -> int:
    found = problems()
    for line in found:
        print(line)
    print(f"{len(registry.names())} exercises, {'no problems' if not found else f'{len(found)} problems'}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
