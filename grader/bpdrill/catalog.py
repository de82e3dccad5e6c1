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
    kind: str = ""  # the kind of exercise (bpdrill.kinds.<kind>): layer, loss, optimizer, ...
    minutes: int = 15  # a drill's default time limit
    hints: tuple = ()  # progressively deeper, English
    title_zh: str = ""
    task_zh: str = ""
    hints_zh: tuple = ()

    @property
    def filename(self) -> str:
        return f"{self.name}.py"

    def text(self, field: str, lang: str) -> str:
        """title or task in lang, falling back to English."""
        return (getattr(self, f"{field}_zh") if lang == "zh" else "") or getattr(self, field)

    def hint(self, level: int, lang: str) -> str:
        """Hint number level (1-based) in lang, falling back to English."""
        hints = (self.hints_zh if lang == "zh" else ()) or self.hints
        return hints[level - 1].strip()


@lru_cache(maxsize=None)
def exercises() -> tuple[Exercise, ...]:
    """Every exercise, in teaching order."""
    text = resources.files("bpdrill").joinpath("catalog.toml").read_text(encoding="utf-8")
    return tuple(
        Exercise(e["name"], e["title"], e["class"], e["difficulty"], e["task"], kind=e.get("kind", ""),
                 minutes=e.get("minutes", 15), hints=tuple(e.get("hints", ())),
                 title_zh=e.get("title_zh", ""), task_zh=e.get("task_zh", ""),
                 hints_zh=tuple(e.get("hints_zh", ())))
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
