"""What each statement of a file computed: line by line, the values its statements assign.

Runs in the worker around the learner's code (and on the trusted side around a reference
solution): sys.settrace follows the frames of one file and, each time one of its statements
finishes, keeps a copy of the float arrays and numbers it assigned (the names, attributes and
items it wrote, the value it returned). Nothing here judges: the trusted side compares the
values with those a right computation takes (bpdrill.grading.locate).
"""
from __future__ import annotations

import ast
import sys

import numpy as np

PER_LINE = 64  # executions of one statement kept (a loop's first ones)
MAX_ELEMENTS = 4_000_000  # numbers kept in all: about 32 MB of float64


def statements(source: str | ast.Module) -> dict[int, ast.stmt]:
    """Every simple statement of the file (its text, or its parsed tree) by each line it covers
    (a statement over several lines is found from any of them); compound statements (def, for,
    if ...) are not."""
    found: dict[int, ast.stmt] = {}
    for node in ast.walk(ast.parse(source) if isinstance(source, str) else source):
        if isinstance(node, ast.stmt) and not isinstance(node, (
                ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.AsyncFor, ast.While,
                ast.If, ast.With, ast.AsyncWith, ast.Try, ast.Match)):
            for line in range(node.lineno, (node.end_lineno or node.lineno) + 1):
                found.setdefault(line, node)
    return found


def written(statement: ast.stmt) -> list[ast.expr]:
    """The places a statement writes: its targets (the base of a subscript written with a
    computed index), or for a call such as np.add.at(dW, idx, g) its first argument."""
    if isinstance(statement, ast.Assign):
        targets = list(statement.targets)
    elif isinstance(statement, (ast.AugAssign, ast.AnnAssign)):
        targets = [statement.target]
    elif isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call) and statement.value.args:
        targets = [statement.value.args[0]]
    else:
        return []
    places = []
    while targets:
        target = targets.pop(0)
        if isinstance(target, (ast.Tuple, ast.List)):
            targets[:0] = list(target.elts)
        elif isinstance(target, ast.Starred):
            targets.insert(0, target.value)
        elif isinstance(target, ast.Subscript) and not isinstance(target.slice, ast.Constant):
            places.append(target.value)
        elif isinstance(target, (ast.Name, ast.Attribute, ast.Subscript)):
            places.append(target)
    return places


_MISSING = object()


def _read(place: ast.expr, frame_locals: dict, frame_globals: dict):
    """The value a written place holds now: a name, an attribute chain or a constant item."""
    if isinstance(place, ast.Name):
        value = frame_locals.get(place.id, _MISSING)
        return frame_globals.get(place.id, _MISSING) if value is _MISSING else value
    if isinstance(place, ast.Attribute):
        owner = _read(place.value, frame_locals, frame_globals)
        if owner is _MISSING:
            return _MISSING
        try:
            return object.__getattribute__(owner, "__dict__").get(place.attr, _MISSING)  # no property runs
        except (AttributeError, TypeError):
            return _MISSING
    if isinstance(place, ast.Subscript) and isinstance(place.slice, ast.Constant):
        owner = _read(place.value, frame_locals, frame_globals)
        if type(owner) is dict:  # only a plain dict: no __getitem__ of the learner's runs here
            return owner.get(place.slice.value, _MISSING)
    return _MISSING


def numbers(value) -> list[np.ndarray]:
    """The float arrays and numbers in a value (a tuple's or list's items too), as float64 copies."""
    if isinstance(value, (tuple, list)):
        return [a for item in value[:8] for a in numbers(item)]
    if type(value) is np.ndarray and value.dtype.kind in "fc":
        return [np.array(value.real if value.dtype.kind == "c" else value, dtype=np.float64)]
    if isinstance(value, (float, np.floating)) and not isinstance(value, bool):
        return [np.array(float(value))]
    return []


class Tracer:
    """Follows one file's frames while fn runs; events: [(line, [arrays])], one per finished
    statement, with the float values it wrote, in the order they finished."""

    def __init__(self, filename: str, source: str):
        self.filename = filename
        self.by_line = statements(source)
        self.places = {id(s): written(s) for s in set(self.by_line.values())}
        self.events: list[tuple[int, list[np.ndarray]]] = []
        self.counts: dict[int, int] = {}
        self.elements = 0

    def run(self, fn):
        previous = sys.gettrace()
        sys.settrace(self._call)
        try:
            return fn()
        finally:
            sys.settrace(previous)

    def _call(self, frame, event, arg):
        if frame.f_code.co_filename != self.filename or frame.f_code.co_name.startswith("<"):
            return None  # not this file (or a comprehension's frame, part of its statement)
        pending = [None]

        def local(frame, event, arg):
            statement = pending[0]
            if event == "line":
                now = self.by_line.get(frame.f_lineno)
                if now is statement:
                    return local  # still inside a statement over several lines
                if statement is not None:
                    self._keep(statement, frame, None)
                pending[0] = now
            elif event == "return":
                if statement is not None:
                    self._keep(statement, frame, arg if isinstance(statement, ast.Return) else None)
                pending[0] = None
            return local
        return local(frame, event, arg) if event != "call" else local

    def _keep(self, statement: ast.stmt, frame, returned) -> None:
        line = statement.lineno
        count = self.counts.get(line, 0)
        if count >= PER_LINE or self.elements >= MAX_ELEMENTS:
            return
        values: list[np.ndarray] = []
        if returned is not None:
            values = numbers(returned)
        else:
            f_locals, f_globals = frame.f_locals, frame.f_globals
            for place in self.places[id(statement)]:
                value = _read(place, f_locals, f_globals)
                if value is not _MISSING:
                    values += numbers(value)
        self.counts[line] = count + 1  # kept even with no float value: the flow passes through it
        self.elements += sum(v.size for v in values) + 1
        self.events.append((line, values))
