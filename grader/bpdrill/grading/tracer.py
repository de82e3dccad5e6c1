"""What each statement of a file computed: line by line, the values its statements assign.

Runs in the worker around the learner's code (and on the trusted side around a reference
solution): sys.settrace follows the frames of one file and, each time one of its statements
finishes, keeps a copy of the float arrays and numbers it assigned (the names, attributes and
items it wrote, the value it returned). Nothing here judges: the trusted side compares the
values with those a right computation takes (bpdrill.grading.locate).
"""
from __future__ import annotations

import ast
import itertools
import sys

import numpy as np

PER_LINE = 64  # executions of one statement kept (a loop's first ones)
MAX_ELEMENTS = 4_000_000  # numbers kept in all: about 32 MB of float64


def statements(source: str | ast.Module) -> dict[int, ast.stmt]:
    """Every simple statement of the file (its text, or its parsed tree) by each line it covers
    (a statement over several lines is found from any of them), and each `for` by the lines of
    its header (it assigns the loop variable); other compound statements (def, if ...) are not."""
    found: dict[int, ast.stmt] = {}
    for node in ast.walk(ast.parse(source) if isinstance(source, str) else source):
        if isinstance(node, ast.For):  # its header alone: it writes the loop variable
            for line in range(node.lineno, (node.iter.end_lineno or node.lineno) + 1):
                found.setdefault(line, node)
        elif isinstance(node, ast.stmt) and not isinstance(node, (
                ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.AsyncFor, ast.While,
                ast.If, ast.With, ast.AsyncWith, ast.Try, ast.Match)):
            for line in range(node.lineno, (node.end_lineno or node.lineno) + 1):
                found.setdefault(line, node)
    return found


def written(statement: ast.stmt) -> list[ast.expr]:
    """The places a statement writes: its targets (the base of a subscript written with a
    computed index; a subscript by a variable stays, for a dict's item), a `for`'s loop variable, or for a call such as np.add.at(dW, idx, g) its
    first argument."""
    if isinstance(statement, ast.For):
        targets = [statement.target]
    elif isinstance(statement, ast.Assign):
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
        elif isinstance(target, ast.Subscript) and not isinstance(target.slice, (ast.Constant, ast.Name)):
            places.append(target.value)
        elif isinstance(target, (ast.Name, ast.Attribute, ast.Subscript)):
            places.append(target)
    return places


_MISSING = object()


def _read(place: ast.expr, frame_locals: dict, frame_globals: dict):
    """The value a written place holds now: a name, an attribute chain, a constant item, or an
    item of a plain dict by a key held in a variable (self.m[name])."""
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
    if isinstance(place, ast.Subscript) and isinstance(place.slice, (ast.Constant, ast.Name)):
        owner = _read(place.value, frame_locals, frame_globals)
        if isinstance(place.slice, ast.Name):  # grads[name] = ...; dW[idx] += ...: the whole array
            if type(owner) is not dict:
                return owner
            key = frame_locals.get(place.slice.id, _MISSING)
            if type(key) not in (str, int):  # an object's key (grads[node]): found by identity,
                # so no __hash__ or __eq__ of the learner's runs here
                return next((v for k, v in owner.items() if k is key), _MISSING)
            return owner.get(key, _MISSING)
        if type(owner) is dict:  # only a plain dict: no __getitem__ of the learner's runs here
            return owner.get(place.slice.value, _MISSING)
    return _MISSING


_INT = 2**53  # integers a float64 holds exactly
_LEFT_OUT = -2**52  # a slice's bound left out (x[:n]): no index a learner writes


def numbers(value) -> list[np.ndarray]:
    """The numbers in a value (a tuple's or list's items too): float arrays and numbers as float64
    copies; integers, integer and boolean arrays and slices (a count, an index, a mask, a range
    of rows) as int64 copies, a slice as [start, stop, step]."""
    if isinstance(value, (tuple, list)):
        return [a for item in value[:8] for a in numbers(item)]
    if type(value) is np.ndarray:
        if value.dtype.kind in "fc":
            return [np.array(value.real if value.dtype.kind == "c" else value, dtype=np.float64)]
        if value.dtype.kind in "iub" and (value.dtype.kind == "b" or value.size == 0 or
                                          -_INT < int(value.min()) and int(value.max()) < _INT):
            return [np.array(value, dtype=np.int64)]
        return []
    if isinstance(value, (float, np.floating)):
        return [np.array(float(value))]
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return [np.array(int(value), dtype=np.int64)] if -_INT < value < _INT else []
    if type(value) is slice:
        bounds = [value.start, value.stop, value.step]
        if all(b is None or (type(b) is int and -_INT < b < _INT) for b in bounds):
            return [np.array([_LEFT_OUT if b is None else b for b in bounds], dtype=np.int64)]
    return []


class Tracer:
    """Follows one file's frames while fn runs; events: [(line, [arrays], frame, parent)], one
    per finished statement, with the float values it wrote, in the order they finished; frame
    numbers the call of the file's function it ran in, parent the call of the file's function
    that made that call (-1: called from outside the file, by the grader)."""

    def __init__(self, filename: str, source: str | ast.Module):
        self.filename = filename
        self.by_line = statements(source)
        self.places = {id(s): written(s) for s in set(self.by_line.values())}
        self.events: list[tuple[int, list[np.ndarray], int, int]] = []
        self.counts: dict[int, int] = {}
        self.elements = 0
        self._live: dict[int, tuple] = {}  # id(frame) -> (frame, its number) while it runs
        self._calls = 0

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
        pending, call = [None], self._calls
        self._calls += 1
        outer = frame.f_back
        while outer is not None and id(outer) not in self._live:
            outer = outer.f_back
        parent = self._live[id(outer)][1] if outer is not None else -1
        self._live[id(frame)] = (frame, call)  # the frame kept alive: its id is not reused

        def local(frame, event, arg):
            statement = pending[0]
            if event == "line":
                now = self.by_line.get(frame.f_lineno)
                if now is statement:
                    return local  # still inside a statement over several lines
                if statement is not None:
                    self._keep(statement, frame, None, call, parent)
                pending[0] = now
            elif event == "return":
                if statement is not None:
                    self._keep(statement, frame, arg if isinstance(statement, ast.Return) else None, call, parent)
                pending[0] = None
                self._live.pop(id(frame), None)
            return local
        return local(frame, event, arg) if event != "call" else local

    def _keep(self, statement: ast.stmt, frame, returned, call: int, parent: int) -> None:
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
                if type(value) is dict and isinstance(place, ast.Name):  # grads = {self: grad}
                    value = list(itertools.islice(value.values(), 8))
                if value is not _MISSING:
                    values += numbers(value)
        self.counts[line] = count + 1  # kept even with no float value: the flow passes through it
        self.elements += sum(v.size for v in values) + 1
        self.events.append((line, values, call, parent))
