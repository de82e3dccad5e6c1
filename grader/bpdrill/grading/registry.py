"""The one registry of exercises: catalog.toml's entries, each with its grader module.

An exercise is one unit: its entry in catalog.toml (texts, hints, its kind), its solution
(solutions/NAME.py, the source of its skeleton), its kind (bpdrill.kinds.KIND: the life cycle
every exercise of that kind shares) and one grader module (or package folder),
bpdrill.checks.NAME, which says what is particular to it:

    SPEC                                 the kind's spec (class, arrays, gradients, the torch call)
    draw(rng, n) or scenarios(rng)       the hidden inputs, drawn from a seeded generator
    CHECKS                               declarative checks, each with a stable id
    MISTAKES                             its own known mistakes (the kind adds the lifecycle ones)
    drive, reference, where, sizes       only where the kind's do not fit

What is missing or disagrees is said by `python -m bpdrill.devcheck` (like rustlings' dev check).
"""
from __future__ import annotations

import importlib
import zlib
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType

import numpy as np

from bpdrill import catalog



@dataclass(frozen=True)
class Unit:
    """One exercise: its catalog entry, its kind (bpdrill.kinds.<kind>, which owns the life
    cycle) and its module (bpdrill.checks.<name>, what is particular to it). A module that
    defines SPEC gets the kind's driver, reference, scenarios, place and sizes unless it
    defines its own; its MISTAKES come before the kind's lifecycle mistakes."""
    meta: catalog.Exercise
    module: ModuleType
    kind: ModuleType

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def spec(self):
        return getattr(self.module, "SPEC", None)

    def _own(self, attribute: str):
        """The module's own function, else the kind's bound to the module's SPEC, else None."""
        own = getattr(self.module, attribute, None)
        if own is not None or self.spec is None:
            return own
        generic = getattr(self.kind, attribute, None)
        return (lambda *args: generic(self.spec, *args)) if generic is not None else None

    @property
    def checks(self) -> list:
        return self.module.CHECKS

    @property
    def mistakes(self) -> list:
        lifecycle = getattr(self.kind, "MISTAKES", []) if self.spec is not None else []
        return [*getattr(self.module, "MISTAKES", []), *lifecycle]

    def scenarios(self, rng) -> list:
        own = getattr(self.module, "scenarios", None)
        if own is not None:
            return own(rng)
        return self.kind.standard(self.spec, self.module.draw, rng)

    def scenarios_for(self, seed: int) -> list:
        """The hidden inputs of this seed: they depend on the seed and the exercise's name, not
        on what else runs."""
        return self.scenarios(np.random.default_rng([seed, zlib.crc32(self.name.encode())]))

    def drive(self, learner_module, scenario) -> dict:
        return self._own("drive")(learner_module, scenario)

    def reference(self, ref, scenario) -> dict:
        return self._own("reference")(ref, scenario)

    def where(self, probe) -> str | None:
        own = getattr(self.module, "where", None)
        if own is None and self.spec is not None and hasattr(self.kind, "where"):
            own = self.kind.where(self.spec)
        return own(probe) if own else None

    def sizes(self, ev, scenario: str) -> dict:
        own = getattr(self.module, "sizes", None)
        if own is None and self.spec is not None and hasattr(self.kind, "sizes"):
            own = self.kind.sizes(self.spec)
        return own(ev, scenario) if own else {}

    def missing(self) -> list[str]:
        """What the module lacks to be graded: its own, or its kind's through SPEC."""
        needs = {"scenarios": self.spec is not None and hasattr(self.module, "draw"),
                 "drive": self._own("drive") is not None, "reference": self._own("reference") is not None,
                 "CHECKS": False}
        return [name for name, by_kind in needs.items() if not hasattr(self.module, name) and not by_kind]


def names() -> list[str]:
    return catalog.names()


@lru_cache(maxsize=None)
def get(name: str) -> Unit:
    """The unit called name; KeyError when the catalog has no such exercise."""
    meta = catalog.get(name)
    return Unit(meta, importlib.import_module(f"bpdrill.checks.{name}"),
                importlib.import_module(f"bpdrill.kinds.{meta.kind}"))
