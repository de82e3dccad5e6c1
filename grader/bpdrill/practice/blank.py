"""Blank pages for interview mode: the skeleton with signatures, shapes and the task only.

Generated from the solution, the single source (through skeleton.make_skeleton, so the TODO
regions become `raise NotImplementedError` exactly as in practice), then stripped:

- the module docstring keeps its first paragraph and the "Your task" paragraph;
- class and function docstrings keep their first sentence and the items that state shapes
  or name the API (Inputs:, Returns:, Parameters:, "- W: (in, out)", "grad: ...", anything
  naming a shape like (N, D));
- every comment goes (the formulas and derivation hints live there), and so does the text of
  the TODO: an interviewer hands over a blank page, not a worked hint;
- code is kept as it is: forward, __init__ and every given helper.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize

from bpdrill.practice import skeleton
from bpdrill.practice.workspace import solution_path

HEADER = "# Interview mode: a blank page generated from solutions/{name}.py. No hints: derive it yourself.\n"
HEADER_ZH = "# 面试模式：由 solutions/{name}.py 生成的空白页。没有提示：自己推导。\n"
TODO = 'raise NotImplementedError("TODO")'

SHAPE = re.compile(r"\((?:[A-Za-z_0-9.*+ ]+,\s*)+(?:[A-Za-z_0-9.*+ ]+)?\)|\bshape\b|\(any shape\)")
LABEL = re.compile(r"^\s*(Inputs?\b|Returns?\b|Parameters?\b|Attributes?\b|After backward\b|Sets\b|Updates\b"
                   r"|输入|返回|参数|属性|backward 之后|设置|更新)")  # the Chinese skeletons' labels too
TASK = ("your task", "你的任务")
ITEM = re.compile(r"^\s*(-\s|[A-Za-z_]+:\s|\"?[A-Za-z_0-9]+\"?:)")


def make_blank(source: str, name: str, lang: str = "en") -> str:
    """The blank page for a solution's source, its docstrings in lang."""
    text = skeleton.make_skeleton(source, name, lang)
    text = text.split("\n", 1)[1]  # the practice header goes; ours comes last
    text = _strip_docstrings(text)
    text = _strip_comments(text)
    text = re.sub(r"raise NotImplementedError\((['\"]).*?\1\)", TODO, text)
    text = re.sub(r"\n{4,}", "\n\n\n", text)
    text = re.sub(r"\n\n\n(?=[ ]+\S)", "\n\n", text)  # one blank line between methods
    return (HEADER_ZH if lang == "zh" else HEADER).format(name=name) + text.lstrip("\n")


def blank_for(name: str, lang: str = "en") -> str:
    return make_blank(solution_path(name).read_text(encoding="utf-8"), name, lang)


def _strip_comments(text: str) -> str:
    lines = text.splitlines(keepends=True)
    cut = {}  # line number -> column where its comment starts
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            cut[tok.start[0]] = tok.start[1]
    out = []
    for number, line in enumerate(lines, 1):
        if number in cut:
            kept = line[:cut[number]].rstrip()
            if not kept:
                continue  # a comment on a line of its own
            line = kept + "\n"
        out.append(line)
    return "".join(out)


def _docstrings(tree: ast.Module) -> list[tuple[ast.Constant, bool, bool]]:
    """(node, is the module's, is the only statement) for the docstring of the module, every class and def."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                found.append((first.value, isinstance(node, ast.Module), len(node.body) == 1))
    return found


def _strip_docstrings(text: str) -> str:
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    # bottom-up, so earlier line numbers stay valid
    for node, is_module, alone in sorted(_docstrings(tree), key=lambda d: -d[0].lineno):
        kept = _module_doc(node.value) if is_module else _object_doc(node.value)
        if not kept and not alone:
            replacement = []
        else:
            indent = " " * node.col_offset
            kept = kept or [node.value.strip().splitlines()[0]]
            body = kept[0] if len(kept) == 1 else "\n".join(
                [kept[0], *[(indent + line) if line else "" for line in kept[1:]], indent])
            replacement = [f'{indent}"""{body}"""\n']
        lines[node.lineno - 1:node.end_lineno] = replacement
    return "".join(lines)


def _paragraphs(doc: str) -> list[list[str]]:
    import inspect
    paragraphs, current = [], []
    for line in inspect.cleandoc(doc).splitlines():
        if line.strip():
            current.append(line.rstrip())
        elif current:
            paragraphs.append(current)
            current = []
    if current:
        paragraphs.append(current)
    return paragraphs


def _module_doc(doc: str) -> list[str]:
    paragraphs = _paragraphs(doc)
    kept = paragraphs[:1] + [p for p in paragraphs[1:] if p[0].lstrip().lower().startswith(TASK)]
    return _join(kept)


def _object_doc(doc: str) -> list[str]:
    """The first line, then every item that states a shape."""
    paragraphs = _paragraphs(doc)
    if not paragraphs:
        return []
    out = []
    for number, paragraph in enumerate(paragraphs):
        head, rest = _first_sentence(paragraph) if number == 0 else ([], paragraph)
        kept = head + [line for item in _items(rest) if _states_shape(item) for line in item]
        if kept:
            out.append(kept)
    return _join(out)


def _first_sentence(paragraph: list[str]) -> tuple[list[str], list[str]]:
    """(the lines of the paragraph's first sentence, the lines after it)."""
    for end, line in enumerate(paragraph):
        if line.rstrip().endswith((".", ":", "。", "：")):
            return paragraph[:end + 1], paragraph[end + 1:]
    return paragraph, []


def _items(paragraph: list[str]) -> list[list[str]]:
    """A paragraph cut into items: a labelled line (Inputs:, "- W: ...") starts a new one."""
    items = []
    for line in paragraph:
        if not items or LABEL.match(line) or ITEM.match(line):
            items.append([line])
        else:
            items[-1].append(line)
    return items


def _states_shape(item: list[str]) -> bool:
    text = " ".join(item)
    return bool(LABEL.match(item[0]) or ITEM.match(item[0]) or SHAPE.search(text))


def _join(paragraphs: list[list[str]]) -> list[str]:
    out = []
    for p in paragraphs:
        if out:
            out.append("")
        out.extend(p)
    return out
