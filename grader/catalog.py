"""The exercises' metadata, loaded from catalog.toml: names, classes, tasks, difficulty."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class Exercise:
    name: str
    title: str
    class_name: str
    difficulty: int
    task: str

    @property
    def filename(self) -> str:
        return f"{self.name}.py"


@lru_cache(maxsize=None)
def exercises() -> tuple[Exercise, ...]:
    """Every exercise, in teaching order."""
    text = resources.files("bpdrill").joinpath("catalog.toml").read_text(encoding="utf-8")
    return tuple(
        Exercise(e["name"], e["title"], e["class"], e["difficulty"], e["task"])
        for e in tomllib.loads(text)["exercise"]
    )


def names() -> list[str]:
    return [e.name for e in exercises()]


def get(name: str) -> Exercise:
    """The exercise called name; KeyError when there is none."""
    for exercise in exercises():
        if exercise.name == name:
            return exercise
    raise KeyError(name)
