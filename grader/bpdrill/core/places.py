"""Where in the learner's file: paths as the learner types them, methods and lines, errors.

Parsed, never run: the learner's file is read as text here (the worker alone imports it).
"""
from __future__ import annotations

import ast
import functools
import os
import re
from stat import S_ISREG

from bpdrill.i18n import t
from bpdrill.core.protocol import MEMORY_LIMIT


def display_path(path: str) -> str:
    """A file's path as the learner would type it: relative to here when inside, else absolute."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def learner_functions(path: str) -> list[tuple[str, int, int]]:
    """(name, first line, last line) of each function and method of the learner's file:
    'unbroadcast', 'Linear.backward'. Parsed, never run; [] when it does not parse."""
    try:
        stat = os.stat(path)
    except OSError:
        return []
    if not S_ISREG(stat.st_mode) or stat.st_size > 1024**2:
        return []
    return _functions(path, stat.st_mtime_ns, stat.st_size)  # a new key once the file is saved


@functools.lru_cache(maxsize=32)
def _tree(path: str, mtime_ns: int, size: int) -> ast.Module | None:
    try:
        with open(path, "rb") as f:  # a regular file of bounded size: _parsed looked first
            return ast.parse(f.read().decode("utf-8", errors="replace"))
    except (OSError, SyntaxError, ValueError):
        return None


def source_text(path: str) -> str:
    """The learner's file as text ("" when it cannot be read), read once per saved version
    (every diagnosis of a run asks for it)."""
    try:
        stat = os.stat(path)
    except OSError:
        return ""
    return _text(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _text(path: str, mtime_ns: int, size: int) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _parsed(path: str) -> ast.Module | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    if not S_ISREG(stat.st_mode) or stat.st_size > 1024**2:  # a FIFO, a device, a huge file: no places
        return None
    return _tree(path, stat.st_mtime_ns, stat.st_size)  # a new key once the file is saved


@functools.lru_cache(maxsize=32)
def _functions(path: str, mtime_ns: int, size: int) -> list[tuple[str, int, int]]:
    tree = _tree(path, mtime_ns, size)
    if tree is None:
        return []
    found = []
    for node in tree.body:
        defs = [(node.name, node)] if isinstance(node, ast.FunctionDef) else \
            [(f"{node.name}.{item.name}", item) for item in node.body
             if isinstance(item, ast.FunctionDef)] if isinstance(node, ast.ClassDef) else []
        found += [(name, d.lineno, d.end_lineno or d.lineno) for name, d in defs]
    return found


def qualified_name(path: str, line: int, function: str | None) -> str | None:
    """'Linear.backward' for a line inside that method of the learner's file."""
    if function in (None, "<module>"):
        return None
    inside = [name for name, first, last in learner_functions(path) if first <= line <= last]
    return inside[-1] if inside else function


def place(path: str, where: dict | None) -> str:
    """' in Linear.backward (workspace/linear.py:23)', or as much of it as is known."""
    shown = display_path(path)
    if not where:
        return t(" ({file})", file=shown)
    name = qualified_name(path, where["line"], where.get("function"))
    if name:
        return t(" in {name} ({file}:{line})", name=name, file=shown, line=where["line"])
    return t(" ({file}:{line})", file=shown, line=where["line"])


def memory_text() -> str:
    return t("ran out of memory (the limit is {limit:g} GiB)", limit=MEMORY_LIMIT / 1024**3)


def describe_error(error: dict, learner_file: str) -> str:
    """An exception from the learner's code as one line: what happened, and where in their file."""
    where, kind = error.get("where"), error["type"]
    message = error["message"].strip().splitlines()[0] if error["message"].strip() else ""
    if error.get("not_implemented"):
        return t("not started: the TODO{place} still raises NotImplementedError",
                 place=place(learner_file, where))
    if kind == "SyntaxError" or kind == "IndentationError" or kind == "TabError":
        return t("syntax error at {file}:{line}: {message}", file=display_path(learner_file),
                 line=where["line"] if where else "?", message=message)
    if kind in ("ForbiddenImport", "NumpyTampered"):
        return f"{message}{place(learner_file, where) if where else ''}"
    text, advice = {
        "SystemExit": (t("called sys.exit({code})", code=message), t(": an exercise must return, not exit")),
        "KeyboardInterrupt": (t("raised KeyboardInterrupt"), ""),
        "RecursionError": (t("recursed without end (RecursionError)"), ""),
        "MemoryError": (memory_text(), ""),
    }.get(kind, (f"{kind}: {message}" if message else kind, ""))
    return text + (place(learner_file, where) if where else "") + advice


def _method(path: str, qualname: str):
    tree = _parsed(path)
    if tree is None:
        return None
    owner, _, name = qualname.rpartition(".")
    for node in tree.body:
        if owner and isinstance(node, ast.ClassDef) and node.name == owner:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == name:
                    return item
        elif not owner and isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    return None


def _assigns(target, label: str) -> bool:
    """Is `target` (of an assignment) the gradient called label: self.dW, dx, grads["W1"]?"""
    if isinstance(target, (ast.Tuple, ast.List)):
        return any(_assigns(e, label) for e in target.elts)
    if isinstance(target, ast.Attribute):
        return target.attr == label
    if isinstance(target, ast.Name):
        return target.id == label
    if isinstance(target, ast.Subscript):
        key = target.slice
        return isinstance(key, ast.Constant) and key.value == label
    return False


SIMPLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Return, ast.Expr)  # statements that are no block
_HEADERS = (ast.If, ast.For, ast.While)


# An at_code that names no text but a shape of code: where a cached array is changed in place
# (bpdrill.core.places.modified_alias).
MODIFIED_ALIAS = "(?#a cached array modified in place)"


def code_line(path: str, qualname: str | None, pattern: str, label: str | None = None) -> int | None:
    """The line of the first statement in `qualname` whose text matches `pattern` (a regular
    expression). Compound statements are matched on their header (if, for, while) alone. None
    when no statement matches. MODIFIED_ALIAS: the line modified_alias finds."""
    method = _method(path, qualname) if qualname else None
    if method is None or not pattern:
        return None
    if pattern == MODIFIED_ALIAS:
        return modified_alias(method)
    source = source_text(path)
    regex = re.compile(pattern)
    found = []
    for node in ast.walk(method):
        if isinstance(node, SIMPLE):
            text = ast.get_source_segment(source, node) or ""
        elif isinstance(node, _HEADERS):
            text = ast.get_source_segment(source, node.test if not isinstance(node, ast.For) else node.iter) or ""
        else:
            continue
        if regex.search(text):
            found.append(node.lineno)
    return min(found) if found else None


def loop_calling(path: str, qualname: str, attribute: str) -> int | None:
    """The header line of the innermost loop in `qualname` whose body calls `.attribute(...)`
    (for node in reversed(order): node._backward()): where an order of calls is decided.
    None when there is none."""
    method = _method(path, qualname)
    if method is None:
        return None
    found = [loop.lineno for loop in ast.walk(method) if isinstance(loop, (ast.For, ast.While)) and any(
        isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == attribute
        for statement in loop.body for call in ast.walk(statement))]
    return max(found) if found else None


def _modifies(statement, name: str) -> bool:
    """d -= ..., d[i] -= ..., d[i] = ...: does the statement change the array `name` in place?"""
    if isinstance(statement, ast.AugAssign):
        target = statement.target
    elif isinstance(statement, ast.Assign) and len(statement.targets) == 1 and \
            isinstance(statement.targets[0], ast.Subscript):
        target = statement.targets[0]
    else:
        return False
    while isinstance(target, ast.Subscript):
        target = target.value
    return isinstance(target, ast.Name) and target.id == name


def modified_alias(method) -> int | None:
    """Where a method changes an array it did not make: a name bound to another (d = self.probs,
    d = probs) and later changed in place (d[rows, y] -= 1). The line to edit is the binding (it
    wants a copy) when the name serves only to have items changed; where the method reads it
    first as it is (s = self.out; row = (dout * s).sum(...); s *= ...), or changes it whole
    (s *= 1 - s, t **= 2: arithmetic meant to make a new array), the change in place. None when
    no such name is found."""
    body = sorted((n for n in ast.walk(method) if isinstance(n, SIMPLE)), key=lambda n: n.lineno)
    for i, statement in enumerate(body):
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1 and
                isinstance(statement.targets[0], ast.Name) and isinstance(statement.value, (ast.Name, ast.Attribute))):
            continue
        name = statement.targets[0].id
        for j, later in enumerate(body[i + 1:], i + 1):
            if _modifies(later, name):
                read = any(isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
                           for between in body[i + 1:j] for n in ast.walk(between))
                whole = isinstance(later, ast.AugAssign) and isinstance(later.target, ast.Name)
                return later.lineno if read or whole else statement.lineno
            if any(isinstance(t, ast.Name) and t.id == name for t in getattr(later, "targets", [])):
                break  # bound anew: no longer the alias
    return None


def statement_line(path: str, qualname: str | None, label: str | None) -> int | None:
    """The line of the learner's file that computes `label` inside `qualname`: the last
    assignment to it (self.dW = ..., grads["W1"] = ...); for a returned gradient, the `return`
    that computes it, or, where it returns a name (return dx), the last statement that assigns
    or updates that name; else the method's last `return`, else the method's first line. None
    when the method is not found."""
    if not qualname:
        return None
    method = _method(path, qualname)
    if method is None:
        return None
    name = (label or "").split(".")[0].split("[")[0]
    kept, plain, returns, returned = None, None, None, None
    for node in ast.walk(method):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)) and name:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if _assigns(target, name):  # self.dW = ..., grads["W1"] = ... (kept) or dx = ... (plain)
                    if isinstance(target, ast.Name):
                        plain = node.lineno if plain is None else max(plain, node.lineno)
                    else:
                        kept = node.lineno if kept is None else max(kept, node.lineno)
        elif isinstance(node, ast.Return) and node.value is not None and (returns is None or node.lineno > returns):
            returns, returned = node.lineno, node.value
    if kept is not None:
        return kept
    rule = _closure_rule(method)
    if rule is not None and plain is None:  # an op whose backward rule is a closure: the rule
        return rule
    if isinstance(returned, ast.Dict):  # return {"W1": dW1, ...}
        returned = next((v for k, v in zip(returned.keys, returned.values)
                         if isinstance(k, ast.Constant) and k.value == name), returned)
    if isinstance(returned, ast.Tuple):  # return dQ, dK, dV
        returned = next((e for e in returned.elts if isinstance(e, ast.Name) and e.id == name), returned)
    if isinstance(returned, ast.Name):  # return dx: where dx was last written
        return _last_write(method, returned.id) or returns
    if returned is not None and not isinstance(returned, (ast.Tuple, ast.Dict)) and plain is None:
        return returns  # return dout * d / n: computed right there
    if returned is not None and not isinstance(returned, (ast.Tuple, ast.Dict)) and \
            any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(returned)):
        return returns  # return dout * dlogits / n: the label's last step is the return
    return plain or returns or method.lineno


def _closure_rule(method) -> int | None:
    """The first statement of a function defined inside the method (an engine's op keeps its
    backward rule there: def backward(grad): return ..., or def _backward(): self.grad += ...)."""
    for node in ast.walk(method):
        if node is not method and isinstance(node, ast.FunctionDef):
            body = [b for b in node.body if not (isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant))]
            if body:
                return body[0].lineno
    return None


def _last_write(method, variable: str) -> int | None:
    """The last statement that assigns or updates `variable` (d = ..., d -= ..., d[i] = ...)."""
    last = None
    for node in ast.walk(method):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                base = target
                while isinstance(base, (ast.Subscript, ast.Attribute)) and not (
                        isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name) and base.value.id == "self"):
                    base = base.value
                if isinstance(base, ast.Name) and base.id == variable and (last is None or node.lineno > last):
                    last = node.lineno
    return last
