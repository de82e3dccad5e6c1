"""Skeletons are generated from the solutions, and every exercise file stays self-contained."""
from __future__ import annotations

import ast
import re
import sys

import pytest

from bpdrill.practice import skeleton
from conftest import EXERCISES, FIXTURES, skeleton_path, solution_path


def test_exercises_folder_is_up_to_date_with_the_solutions():
    assert skeleton.stale() == [], "run `python -m bpdrill.practice.skeleton` and commit exercises/"


def test_a_todo_region_becomes_a_raise_with_the_same_indentation():
    source = "def f(x):\n    # BEGIN TODO: return 2x\n    return 2 * x\n    # END TODO\n"
    text = skeleton.make_skeleton(source, "demo")
    assert "return 2 * x" not in text
    assert "    # TODO: return 2x\n    raise NotImplementedError('TODO: return 2x')\n" in text
    compile(text, "demo.py", "exec")


@pytest.mark.parametrize("source", [
    "# BEGIN TODO: a\nx = 1\n",  # never ended
    "x = 1\n# END TODO\n",  # ended, never begun
    "# BEGIN TODO: a\n# BEGIN TODO: b\n# END TODO\n",  # nested
    "x = 1\n",  # nothing to do
])
def test_malformed_markers_are_refused(source):
    with pytest.raises(skeleton.SkeletonError):
        skeleton.make_skeleton(source, "demo")


def _imported_roots(path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    return roots


EXERCISE_FILES = [skeleton_path(n) for n in EXERCISES] + [solution_path(n) for n in EXERCISES] + \
    sorted(FIXTURES.glob("*/*/*.py"))


@pytest.mark.parametrize("path", EXERCISE_FILES, ids=lambda p: "/".join(p.parts[-3:]))
def test_exercise_files_import_only_numpy_and_the_standard_library(path):
    allowed = {"numpy"} | set(sys.stdlib_module_names)
    assert _imported_roots(path) <= allowed


def _public_functions(tree):
    """Top-level functions and class methods (not nested closures), public or special."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    yield f"{node.name}.{item.name}", item


@pytest.mark.parametrize("name", EXERCISES)
def test_every_api_function_has_a_docstring_and_the_todo_is_left(name):
    tree = ast.parse(skeleton_path(name).read_text(encoding="utf-8"))
    missing = [qual for qual, node in _public_functions(tree)
               if not qual.split(".")[-1].startswith("_") and not ast.get_docstring(node)
               and not isinstance(node.body[0], ast.Return)]  # one-line derived ops explain themselves
    assert missing == []
    assert ast.get_docstring(tree) or skeleton_path(name).read_text().count('"""') >= 2
    assert "raise NotImplementedError" in skeleton_path(name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", [n for n in EXERCISES if n != "autograd"])
def test_forward_and_backward_docstrings_state_shapes(name):
    tree = ast.parse(skeleton_path(name).read_text(encoding="utf-8"))
    for qual, node in _public_functions(tree):
        if qual.split(".")[-1] in ("forward", "backward", "step"):
            doc = ast.get_docstring(node) or ""
            assert re.search(r"\([A-Za-z_]+[,)]|shape", doc), f"{qual} states no shape"


# ---- Chinese skeletons and blank pages (--lang zh) ----------------------------------------

from bpdrill import catalog  # noqa: E402
from bpdrill.practice import blank, workspace  # noqa: E402
from bpdrill import devcheck  # noqa: E402

HAN = re.compile(r"[\u4e00-\u9fff]")


def _code_only(text: str) -> str:
    """What a file computes: its syntax tree without docstrings."""
    tree = ast.parse(text)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    for node in ast.walk(tree):  # the TODO's message is translated text, not code
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            node.exc.args = []
    return ast.dump(tree)


@pytest.mark.parametrize("name", catalog.names())
def test_a_chinese_skeleton_is_the_english_one_with_chinese_docstrings_and_todos(name):
    english, chinese = skeleton.for_exercise(name, "en"), skeleton.for_exercise(name, "zh")
    assert _code_only(chinese) == _code_only(english), "code and identifiers unchanged"
    assert skeleton.untranslated(name) == []
    tree = ast.parse(chinese)
    assert HAN.search(ast.get_docstring(tree)), "the task text is Chinese"
    assert "你的任务" in ast.get_docstring(tree)
    todos = [line for line in chinese.splitlines() if line.lstrip().startswith("# TODO:")]
    assert todos and all(HAN.search(line) for line in todos)


@pytest.mark.parametrize("name", catalog.names())
def test_a_chinese_blank_page_keeps_the_code_of_the_english_one_and_the_task(name):
    english, chinese = blank.blank_for(name, "en"), blank.blank_for(name, "zh")
    assert _code_only(chinese) == _code_only(english)
    assert "你的任务" in ast.get_docstring(ast.parse(chinese))


def test_a_workspace_made_in_chinese_has_chinese_skeletons_that_count_as_untouched(tmp_path, monkeypatch):
    from bpdrill import i18n
    monkeypatch.setattr(i18n, "_lang", "zh")
    workspace.ensure(tmp_path)
    assert "你的任务" in (tmp_path / "linear.py").read_text(encoding="utf-8")
    assert workspace.is_untouched(tmp_path, "linear")
    assert workspace.reset(tmp_path, "linear") is None, "a fresh skeleton is not kept as an attempt"


def test_the_consistency_check_names_a_docstring_without_chinese(monkeypatch):
    original = skeleton.chinese
    table = original("relu")
    trimmed = {"docstrings": {k: v for k, v in table["docstrings"].items() if k != "ReLU.forward"},
               "todos": table["todos"]}
    monkeypatch.setattr(skeleton, "chinese", lambda name: trimmed if name == "relu" else original(name))
    assert [p for p in devcheck.problems() if "skeleton_zh" in p] == \
        ["relu: practice/skeleton_zh/relu.toml lacks the docstring of ReLU.forward"]
