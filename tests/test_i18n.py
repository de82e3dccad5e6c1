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
        found |= {c.title for c in registry.get(name).checks}
    return found


def sentences() -> list[str]:
    """Every check title and mistake sentence, in English (their Chinese is in the tables)."""
    from bpdrill.core import mistakes
    found = []
    for name in catalog.names():
        unit = registry.get(name)
        found += [c.title for c in unit.checks] + [m.says for m in unit.mistakes]
    return found + [m.says for m in mistakes.GENERIC]


def test_every_check_title_and_mistake_sentence_has_chinese_with_the_same_placeholders():
    found = templates()  # registers every exercise module's table
    zh = i18n._zh()
    for english in sentences():
        chinese = zh.get(english)
        assert chinese, f"no Chinese for {english!r}"
        assert placeholders(chinese) == placeholders(english), english
        assert CJK.search(chinese) or not prose(english), english
    assert found


def evidence_phrases() -> dict[str, str]:
    """The English evidence of the check modules' formula-style mistake tests, by where it is
    written: the first argument of formula(...), the `evidence` argument of a module's own helpers
    (and the first element of each (evidence, ...) row handed to one), and the `evidence` column of
    (name, says, evidence) rows. Their Chinese lives in the tables, as the titles' does."""
    found = {}
    for path in sorted((GRADER / "checks").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = {"formula": 0}
        for f in ast.walk(tree):
            if isinstance(f, ast.FunctionDef):
                params = [a.arg for a in f.args.args]
                if "evidence" in params:
                    where[f.name] = params.index("evidence")
                elif f.args.vararg is not None and "evidence" in ast.unparse(f):
                    where[f.name] = "rows"
        for node in ast.walk(tree):
            texts = []
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                i = where.get(name)
                if i == "rows":
                    texts = [row.elts[0] for row in node.args if isinstance(row, ast.Tuple) and row.elts]
                elif i is not None and len(node.args) > i:
                    texts = [node.args[i]]
            elif isinstance(node, ast.comprehension) and isinstance(node.target, ast.Tuple):
                names = [getattr(e, "id", None) for e in node.target.elts]
                if "evidence" in names:
                    texts = [row.elts[names.index("evidence")] for row in getattr(node.iter, "elts", ())
                             if isinstance(row, ast.Tuple) and len(row.elts) == len(names)]
            for text in texts:
                if isinstance(text, ast.Constant) and isinstance(text.value, str):
                    found[text.value] = f"{path.relative_to(GRADER)}:{text.lineno}"
    return found


def test_every_evidence_phrase_has_chinese_with_the_same_placeholders():
    found = evidence_phrases()
    assert len(found) > 100  # the walk above still finds them
    zh = i18n._zh()
    missing = [f"{where}: {english!r}" for english, where in found.items()
               if english not in zh and where.split(":")[0] not in STILL_INLINE]
    assert not missing, f"{len(missing)} without an entry (a formula reads the same: write it twice), e.g. {missing[:5]}"
    for english in found:
        if english in zh:
            assert placeholders(zh[english]) == placeholders(english), english


def placeholders(template: str) -> set[str]:
    return {f"{name}!{conv}:{spec}" for _, name, spec, conv in string.Formatter().parse(template) if name}


# Check modules that still write their Chinese inline (says_zh=, a Chinese title, zh=): being
# moved to locale/zh/ by their owners. The list can only shrink: the test below fails when a
# listed module no longer holds Chinese, as when an unlisted one does.
STILL_INLINE: set[str] = set()


def chinese_in_code() -> dict[str, list[int]]:
    """The check modules, kinds and core files holding a Chinese string, with its lines."""
    found = {}
    for folder in ("checks", "kinds", "core"):
        for path in sorted((GRADER / folder).rglob("*.py")):
            lines = [node.lineno for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                     if isinstance(node, ast.Constant) and isinstance(node.value, str) and CJK.search(node.value)]
            if lines:
                found[path.relative_to(GRADER).as_posix()] = lines
    return found


def test_code_holds_english_only_its_chinese_lives_in_the_tables():
    """One way to translate: an exercise's words in locale/zh/<exercise>.toml, the shared ones in
    zh.toml; no Chinese string in the check modules, the kinds or core."""
    assert set(chinese_in_code()) == STILL_INLINE


def test_an_english_template_has_one_translation_in_all_the_tables():
    """zh.toml and locale/zh/*.toml form one table keyed by the English: a key written in two of
    them with two translations would show one of them wherever either is used."""
    import tomllib
    seen, twice = {}, []
    for path in [GRADER / "zh.toml", *sorted((GRADER / "locale" / "zh").glob("*.toml"))]:
        for english, chinese in tomllib.loads(path.read_text(encoding="utf-8"))["messages"].items():
            if seen.setdefault(english, (chinese, path.name))[0] != chinese:
                twice.append(f"{english!r} in {seen[english][1]} and {path.name}")
    assert not twice, twice


def test_every_template_has_a_chinese_translation_with_the_same_placeholders():
    found = templates()  # imports every exercise module: their own tables are registered
    zh = i18n._zh()
    missing = sorted(t for t in found if t not in zh)
    assert not missing, f"{len(missing)} without Chinese, e.g. {missing[:5]}"
    for english in found:
        if english in zh:
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
