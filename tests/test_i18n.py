"""Every learner-facing text exists in English and Chinese; --lang, $BPDRILL_LANG or the locale choose."""
from __future__ import annotations

import ast
import json
import re
import string
from pathlib import Path

import pytest
from click.testing import CliRunner

from bpdrill import catalog, i18n
from bpdrill.grading import registry
from bpdrill.cli.main import cli
from conftest import wrong_fixture

GRADER = Path(i18n.__file__).parent
CJK = re.compile(r"[\u4e00-\u9fff]")


def templates() -> set[str]:
    """Every literal passed to t(...) in the grader, and every check's name."""
    found = set()
    for path in GRADER.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "t" and node.args \
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    for name in catalog.names():
        found |= {c.title for c in registry.get(name).checks if not c.title_zh}
    return found


def inline_pairs() -> list[tuple[str, str]]:
    """(English, Chinese) written side by side: check titles and mistake sentences."""
    from bpdrill.core import diagnose, mistakes
    pairs = []
    for name in catalog.names():
        unit = registry.get(name)
        pairs += [(c.title, c.title_zh) for c in unit.checks]
        pairs += [(m.says, m.says_zh) for m in unit.mistakes]
    pairs += [(m.says, m.says_zh) for m in mistakes.GENERIC]
    return pairs


def test_every_check_title_and_mistake_sentence_has_chinese_with_the_same_placeholders():
    found = templates()  # registers every exercise module's table
    zh = i18n._zh()
    for english, chinese in inline_pairs():
        chinese = chinese or zh.get(english)
        assert chinese, f"no Chinese for {english!r}"
        assert placeholders(chinese) == placeholders(english), english
        assert CJK.search(chinese) or not prose(english), english
    assert found


def placeholders(template: str) -> set[str]:
    return {f"{name}!{conv}:{spec}" for _, name, spec, conv in string.Formatter().parse(template) if name}


def test_every_template_has_a_chinese_translation_with_the_same_placeholders():
    found = templates()  # imports every exercise module: their own tables are registered
    zh = i18n._zh()
    missing = sorted(t for t in found if t not in zh)
    assert not missing, f"{len(missing)} without Chinese, e.g. {missing[:5]}"
    for english in found:
        assert placeholders(zh[english]) == placeholders(english), english
        assert CJK.search(zh[english]) or not prose(english), english


def prose(text: str) -> bool:
    """Words a reader reads (not code like x.reshape(3, 4).T or {placeholders})."""
    words = [w for w in re.sub(r"\{[^}]*\}", " ", text).split() if not re.search(r"[._()=\[\]*@0-9]", w)]
    return any(re.fullmatch(r"[A-Za-z,;:'-]{4,}", w) for w in words)


@pytest.mark.parametrize("environment,expected", [
    ({"BPDRILL_LANG": "zh"}, "zh"), ({"LANG": "zh_CN.UTF-8"}, "zh"), ({"LC_ALL": "zh_TW"}, "zh"),
    ({"LANG": "en_US.UTF-8"}, "en"), ({}, "en"), ({"BPDRILL_LANG": "en", "LANG": "zh_CN"}, "en"),
])
def test_the_language_comes_from_the_option_the_variable_or_the_locale(monkeypatch, environment, expected):
    for var in ("BPDRILL_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    for var, value in environment.items():
        monkeypatch.setenv(var, value)
    assert i18n.choose(None) == expected
    assert i18n.choose("zh") == "zh" and i18n.choose("en") == "en"


@pytest.fixture
def ws(tmp_path, monkeypatch):
    monkeypatch.setenv("BPDRILL_WORKSPACE", str(tmp_path / "ws"))
    monkeypatch.setenv("BPDRILL_DATA", str(tmp_path / "data"))
    yield tmp_path / "ws"
    i18n.set_language("en")


def test_check_in_chinese_keeps_json_identifiers(ws):
    table = CliRunner().invoke(cli, ["check", "linear", "--lang", "zh", "--seed", "1"]).output
    assert CJK.search(table), table
    assert "not started" not in table and "total" not in table
    doc = json.loads(CliRunner().invoke(cli, ["check", "linear", "--json", "--lang", "zh", "--seed", "1"]).output)
    exercise = doc["exercises"][0]
    assert exercise["status"] == "not_started"  # identifiers stay as the contract names them
    assert exercise["checks"][0]["name"] == "dx has the shape of x" and exercise["checks"][0]["kind"] == "shape"
    assert CJK.search(exercise["message"])


def test_a_wrong_answer_is_explained_in_chinese(ws):
    CliRunner().invoke(cli, ["list"])
    (ws / "linear.py").write_text(wrong_fixture("linear", "dW_transposed").read_text())
    out = CliRunner().invoke(cli, ["check", "linear", "--seed", "2"], env={"BPDRILL_LANG": "zh"}).output
    failing = [line for line in out.splitlines() if "dW" in line]
    assert failing and all(CJK.search(line) for line in failing), out


def test_list_stats_drill_and_hints_in_chinese(ws):
    for args in (["list"], ["stats"], ["drill", "linear"], ["hint", "linear"]):
        out = CliRunner().invoke(cli, [*args, "--lang", "zh"]).output
        assert CJK.search(out), (args, out)
    hint = CliRunner().invoke(cli, ["hint", "linear", "--lang", "zh"]).output
    assert catalog.get("linear").hints_zh[1].strip()[:20] in hint
