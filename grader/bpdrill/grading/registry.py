"""The one registry of exercises: catalog.toml's entries, each with its grader module.

An exercise is one unit: its entry in catalog.toml (texts and hints, English and Chinese),
its solution (solutions/NAME.py, the source of its skeleton) and one grader module (or package
folder), bpdrill.checks.NAME, which holds everything the grader knows about it:

    scenarios(rng) -> [Scenario]         the hidden inputs, drawn from a seeded generator
    drive(module, scenario) -> dict      run in the worker: call the learner's code, return raw values
    reference(ref, scenario) -> dict     the same computation in PyTorch float64 (ref.torch, ref.leaf ...)
    CHECKS                               declarative checks, each with a stable id
    MISTAKES, where(probe), sizes(ev, scenario)   the known mistakes, for diagnoses

    python -m bpdrill.grading.registry          says what is missing or disagrees (exit 1), like rustlings' dev check
"""
from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType

from bpdrill import catalog

REQUIRED = ("scenarios", "drive", "reference", "CHECKS")


@dataclass(frozen=True)
class Unit:
    meta: catalog.Exercise
    module: ModuleType

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def checks(self) -> list:
        return self.module.CHECKS

    @property
    def mistakes(self) -> list:
        return getattr(self.module, "MISTAKES", [])

    def scenarios(self, rng) -> list:
        return self.module.scenarios(rng)

    def drive(self, learner_module, scenario) -> dict:
        return self.module.drive(learner_module, scenario)

    def reference(self, ref, scenario) -> dict:
        return self.module.reference(ref, scenario)

    def where(self, probe) -> str | None:
        locate = getattr(self.module, "where", None)
        return locate(probe) if locate else None

    def sizes(self, ev, scenario: str) -> dict:
        sizes = getattr(self.module, "sizes", None)
        return sizes(ev, scenario) if sizes else {}


def names() -> list[str]:
    return catalog.names()


@lru_cache(maxsize=None)
def get(name: str) -> Unit:
    """The unit called name; KeyError when the catalog has no such exercise."""
    meta = catalog.get(name)
    return Unit(meta, importlib.import_module(f"bpdrill.checks.{name}"))


def problems() -> list[str]:
    """Everything missing or disagreeing, one line each: the registry's consistency check."""
    from importlib import resources

    from bpdrill.practice import explain, skeleton
    from bpdrill.core.judge import Check
    found = []
    listed = set(names())
    for kind, package in (("solution", "bpdrill.solutions"), ("grader module", "bpdrill.checks")):
        on_disk = {p.name[:-3] for p in resources.files(package).iterdir()
                   if p.name.endswith(".py") and not p.name.startswith("_")}
        on_disk |= {p.name for p in resources.files(package).iterdir()  # a unit grown into a folder
                    if p.is_dir() and p.joinpath("__init__.py").is_file()}
        found += [f"{name}: a {kind} with no catalog.toml entry" for name in sorted(on_disk - listed)]
    for name in names():
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
            unit = get(name)
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
        found += [f"{name}: practice/skeleton_zh/{name}.toml lacks {what}" for what in skeleton.untranslated(name)]
        if name in skeleton.stale():
            found.append(f"{name}: exercises/{name}.py is out of date: run `python -m bpdrill.practice.skeleton`")
    return found


def main() -> int:
    found = problems()
    for line in found:
        print(line)
    print(f"{len(names())} exercises, {'no problems' if not found else f'{len(found)} problems'}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
