"""The spoken-question bank (questions.toml): what `bpdrill ask` puts to a learner.

A typed answer is matched against each key point as questions.toml's header says: the answer
is lowercased and every run of whitespace collapsed to one space; a pattern starting with
"re:" is a regular expression searched anywhere, any other pattern a plain substring. A point
counts as named when any one of its patterns matches.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

GENERAL_TOPICS = ("interview", "backprop", "vanishing", "optim")  # not one exercise's


@dataclass(frozen=True)
class KeyPoint:
    en: str
    zh: str
    match: tuple

    def text(self, lang: str) -> str:
        return self.zh if lang == "zh" and self.zh else self.en

    def named_in(self, answer: str) -> bool:
        said = normalise(answer)
        for pattern in self.match:
            if pattern.startswith("re:"):
                if re.search(pattern[3:], said):
                    return True
            elif pattern in said:
                return True
        return False


@dataclass(frozen=True)
class Question:
    id: str
    topic: str
    kind: str
    level: int
    question: str
    question_zh: str
    answer: str
    answer_zh: str
    key_points: tuple

    def text(self, field: str, lang: str) -> str:
        """question or answer in lang, falling back to English."""
        return ((getattr(self, f"{field}_zh") if lang == "zh" else "") or getattr(self, field)).strip()

    def ticks(self, answer: str) -> list[bool]:
        """For each key point, whether the typed answer names it."""
        return [point.named_in(answer) for point in self.key_points]


def normalise(answer: str) -> str:
    return " ".join(answer.lower().split())


def _point(table: dict) -> KeyPoint:
    return KeyPoint(table["en"], table["zh"], tuple(table["match"]))


@lru_cache(maxsize=None)
def questions() -> tuple[Question, ...]:
    """Every question, in the file's order."""
    text = resources.files("bpdrill.practice").joinpath("questions.toml").read_text(encoding="utf-8")
    return tuple(
        Question(q["id"], q["topic"], q["kind"], q["level"], q["question"], q.get("question_zh", ""),
                 q["answer"], q.get("answer_zh", ""), tuple(_point(k) for k in q.get("key_points", ())))
        for q in tomllib.loads(text)["question"])


def ids() -> list[str]:
    return [q.id for q in questions()]


def topics() -> list[str]:
    return list(dict.fromkeys(q.topic for q in questions()))


def get(question_id: str) -> Question:
    """The question with this id; KeyError when there is none."""
    for q in questions():
        if q.id == question_id:
            return q
    raise KeyError(question_id)


def about(topic: str) -> list[Question]:
    return [q for q in questions() if q.topic == topic]
