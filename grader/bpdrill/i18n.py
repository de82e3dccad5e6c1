"""Learner-facing text in English or Chinese.

English text is the key (as in gettext): t("total {score}/{possible}", score=3, possible=8)
looks the template up in zh.toml when the language is Chinese, and formats it. The language
comes from --lang, else $BPDRILL_LANG, else the locale ($LC_ALL, $LC_MESSAGES, $LANG).
"""
from __future__ import annotations

import os
import sys
from functools import lru_cache
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

LANGS = ("en", "zh")
_lang = "en"


def choose(option: str | None = None) -> str:
    """The language to use: the option, $BPDRILL_LANG, or the locale; English by default."""
    for value in (option, os.environ.get("BPDRILL_LANG")):
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def set_language(lang: str) -> None:
    global _lang
    _lang = lang if lang in LANGS else "en"
    if _lang == "zh":
        _shared()  # read the table now: in the worker, before any learner code runs


def language() -> str:
    return _lang


@lru_cache(maxsize=None)
def _shared() -> dict:
    """zh.toml (the shared messages) and locale/zh/<exercise>.toml (each exercise's own words:
    check titles, mistakes, evidence), one table keyed by the English text."""
    package = resources.files("bpdrill")
    table = dict(tomllib.loads(package.joinpath("zh.toml").read_text(encoding="utf-8"))["messages"])
    folder = package.joinpath("locale", "zh")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name) if folder.is_dir() else ():
        if entry.name.endswith(".toml"):
            table.update(tomllib.loads(entry.read_text(encoding="utf-8")).get("messages", {}))
    return table


def _zh() -> dict:
    """Every Chinese template: zh.toml (shared messages) and locale/zh/<exercise>.toml."""
    return dict(_shared())


def t(text: str, **values) -> str:
    """text in the current language, formatted with values."""
    template = _shared().get(text, text) if _lang == "zh" else text
    return template.format(**values) if values else template


def has(text: str) -> bool:
    """Is there Chinese for this English template (zh.toml or locale/zh/)?"""
    return text in _shared()
