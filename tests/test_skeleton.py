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
