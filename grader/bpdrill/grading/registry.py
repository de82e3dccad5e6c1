"""The one registry of exercises: catalog.toml's entries, each with its grader module.

An exercise is one unit: its entry in catalog.toml (texts and hints, English and Chinese),
its solution (solutions/NAME.py, the source of its skeleton) and one grader module (or package
folder), bpdrill.checks.NAME, which holds everything the grader knows about it:

    scenarios(rng) -> [Scenario]         the hidden inputs, drawn from a seeded generator
    drive(module, scenario) -> dict      run in the worker: call the learner's code, return raw values
    reference(ref, scenario) -> dict     the same computation in PyTorch float64 (ref.torch, ref.leaf ...)
    CHECKS                               declarative checks, each with a stable id
    MISTAKES, where(probe), sizes(ev, scenario)   the known mistakes, for diagnoses


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

    def draw(self, seed: int) -> list:
        """The hidden inputs of this seed: they depend on the seed and the exercise's name, not
        on what else runs."""
        return self.scenarios(np.random.default_rng([seed, zlib.crc32(self.name.encode())]))

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
