"""Skeletons from solutions: the one source of every exercise file.

In a solution, a region

    # BEGIN TODO: what to write
    ...the reference code...
    # END TODO

becomes, in the skeleton, the same indentation with

    # TODO: what to write
    raise NotImplementedError("TODO: what to write")

    python -m bpdrill.practice.skeleton          rewrite exercises/ from solutions/
    python -m bpdrill.practice.skeleton --check  exit 1 when exercises/ is out of date

In Chinese (`--lang zh`) the same skeleton has its docstrings and TODO texts in Chinese, from
practice/skeleton_zh/NAME.toml: [docstrings] keyed by the docstring's owner ("" the module,
"Linear", "Linear.backward") and [todos] keyed by the English TODO text. Code, identifiers
and comments are the solution's, unchanged. `untranslated` names what that file lacks.
"""
from __future__ import annotations

import ast
import re
import sys
from functools import lru_cache
from importlib import resources

from pathlib import Path

from bpdrill import catalog

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

BEGIN = re.compile(r"^(?P<indent>[ ]*)# BEGIN TODO: (?P<what>.+?)\s*$")
END = re.compile(r"^[ ]*# END TODO\s*$")
HEADER = '# Generated from solutions/{name}.py by `python -m bpdrill.practice.skeleton`: edit your workspace copy.\n'
HEADER_ZH = '# 由 solutions/{name}.py 经 `python -m bpdrill.practice.skeleton` 生成：请编辑工作区里的副本。\n'


class SkeletonError(ValueError):
    pass


def skeleton_path(name: str) -> Path:
    return Path(str(resources.files("bpdrill.exercises").joinpath(f"{name}.py")))


def solution_path(name: str) -> Path:
    return Path(str(resources.files("bpdrill.solutions").joinpath(f"{name}.py")))


@lru_cache(maxsize=None)
def chinese(name: str) -> dict:
    """{"docstrings": {owner: text}, "todos": {English: Chinese}} for name (empty when none)."""
    found = resources.files("bpdrill.practice").joinpath("skeleton_zh", f"{name}.toml")
    if not found.is_file():
        return {"docstrings": {}, "todos": {}}
    table = tomllib.loads(found.read_text(encoding="utf-8"))
    return {"docstrings": table.get("docstrings", {}), "todos": table.get("todos", {})}


def docstrings(source: str) -> list[tuple[str, ast.Constant]]:
    """(owner, node) of every docstring: "" for the module, "Class", "Class.method", "function"."""
    found = []

    def visit(node, prefix):
        body = getattr(node, "body", None) or []
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            found.append((prefix, body[0].value))
        for child in body:
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, f"{prefix}.{child.name}" if prefix else child.name)
    visit(ast.parse(source), "")
    return found


def todo_texts(source: str) -> list[str]:
    return [m["what"] for m in map(BEGIN.match, source.splitlines()) if m]


def untranslated(name: str) -> list[str]:
    """What solutions/NAME.py has that skeleton_zh/NAME.toml does not translate."""
    source = solution_path(name).read_text(encoding="utf-8")
    table = chinese(name)
    missing = [f"the docstring of {owner or 'the module'}" for owner, _ in docstrings(source)
               if owner not in table["docstrings"]]
    return missing + [f"the TODO {what!r}" for what in todo_texts(source) if what not in table["todos"]]


def _in_chinese(source: str, name: str) -> str:
    """The solution with its docstrings in Chinese (where translated); code untouched."""
    table = chinese(name)["docstrings"]
    lines = source.splitlines(keepends=True)
    for owner, node in sorted(docstrings(source), key=lambda d: -d[1].lineno):  # bottom-up
        if owner not in table:
            continue
        indent = " " * node.col_offset
        text = table[owner].strip("\n").replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
        body = "\n".join(indent + line if line.strip() and number else line
                         for number, line in enumerate(text.splitlines()))
        closing = f"\n{indent}" if "\n" in body else ""
        lines[node.lineno - 1:node.end_lineno] = [f'{indent}"""{body}{closing}"""\n']
    return "".join(lines)


def make_skeleton(source: str, name: str, lang: str = "en") -> str:
    """The skeleton text for a solution's source, its docstrings and TODOs in lang."""
    todos = {}
    if lang == "zh":
        source, todos = _in_chinese(source, name), chinese(name)["todos"]
    out, inside, line_no = [], False, 0
    for line_no, line in enumerate(source.splitlines(keepends=True), 1):
        begin = BEGIN.match(line)
        if begin:
            if inside:
                raise SkeletonError(f"{name}.py:{line_no}: BEGIN TODO inside another")
            inside = True
            indent, what = begin["indent"], begin["what"]
            what = todos.get(what, what)
            out.append(f"{indent}# TODO: {what}\n")
            out.append(f"{indent}raise NotImplementedError({('TODO: ' + what)!r})\n")
        elif END.match(line):
            if not inside:
                raise SkeletonError(f"{name}.py:{line_no}: END TODO without BEGIN")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise SkeletonError(f"{name}.py: BEGIN TODO never ended")
    if not any(line.lstrip().startswith("raise NotImplementedError") for line in out):
        raise SkeletonError(f"{name}.py has no TODO region")
    return (HEADER_ZH if lang == "zh" else HEADER).format(name=name) + "".join(out)


def for_exercise(name: str, lang: str = "en") -> str:
    """The skeleton of name in lang: the file in exercises/ for English, generated for Chinese."""
    if lang != "zh":
        return skeleton_path(name).read_text(encoding="utf-8")
    return _chinese_skeleton(name)


@lru_cache(maxsize=None)
def _chinese_skeleton(name: str) -> str:
    return make_skeleton(solution_path(name).read_text(encoding="utf-8"), name, "zh")


def expected_skeletons() -> dict:
    return {name: make_skeleton(solution_path(name).read_text(encoding="utf-8"), name)
            for name in catalog.names()}


def stale() -> list[str]:
    """The exercises whose file in exercises/ differs from what its solution generates."""
    return [name for name, text in expected_skeletons().items()
            if not skeleton_path(name).is_file() or skeleton_path(name).read_text(encoding="utf-8") != text]


def main(argv: list[str]) -> int:
    if "--check" in argv:
        out_of_date = stale()
        for name in out_of_date:
            print(f"exercises/{name}.py is out of date: run `python -m bpdrill.practice.skeleton`")
        return 1 if out_of_date else 0
    for name, text in expected_skeletons().items():
        skeleton_path(name).write_text(text, encoding="utf-8")
        print(f"wrote exercises/{name}.py")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
