"""The statement at fault: the first statement of the learner's whose value no right
computation takes.

The worker traces the learner's code on one scenario (bpdrill.grading.tracer): every float
value each statement wrote, in order. Here, on the trusted side, the reference solution runs on
the same scenario with every sub-expression recorded (and the sub-products and sub-sums of each
chain, so `dout * s` is known whether a right answer writes `dout * s * (1 - s)` or
`s * (1 - s) * dout`): the values a right computation takes. Walking the learner's statements
that lead to the gradient at fault, in the order they ran, the first whose value is none of
those is where the wrong value starts. Where the solution writes the same name (dx, self.dW,
self.v[name], a loop's t), the learner's value must be one the solution's takes there: a right
value in the wrong role (dc = dc_next where dc = dc_next + ...) is wrong too, and integers,
masks and slices (n = x.shape[1], rows = slice(i, i + H)) are judged that way alone. When every
one of them takes a right value, the statement that writes the gradient is (a term is missing
there).

Roles go further than names: a function's return is judged against what the solution's function
of that name returns (unbroadcast, Tensor.exp.backward); a call's value is what its callee
computed, so the callee's statements are walked before the caller's; a `for` that leaves out
values of its variable the solution's visits is wrong; and a statement written exactly as one
of the solution's cannot be at fault by itself: the statement that wrote its wrong input is.
Only trusted code runs here: the solution is ours; the learner's values are data.
"""
from __future__ import annotations

import ast
import itertools
from functools import lru_cache
from importlib import resources
from types import ModuleType

import numpy as np

from bpdrill.core.places import SIMPLE
from bpdrill.grading import tracer

_RECORD, _CHAIN = "__bpdrill_record__", "__bpdrill_chain__"
_KEEP_ANY = 20_000  # values kept per shape at most


@lru_cache(maxsize=64)
def _weights(size: int) -> np.ndarray:
    return np.cos(np.arange(size) * 0.7 + 0.3)


class Values:
    """A set of float arrays, found again up to rounding: by shape, then by a projection.
    exact: integers too (counts, indices, masks, slices), which only a value of the same name
    judges (a right computation need not take a learner's N = x.shape[0] anywhere).

    reads: what each statement of the solution read, by the statement's text and the name read.

    named: where the solution keeps each value, "dx", "self.dW" -> the values its statements
    that write that name took (filled by right_values)."""

    def __init__(self, exact: bool = False):
        self.exact = exact
        self.named: dict[str, Values] = {}
        self.texts: set[str] = set()  # the solution's simple statements, as code
        # what each statement of the solution read: (its text, "g" or "self.t") -> the values,
        # and the same in the order the statement ran (its k-th run read in_order[...][k])
        self.reads: dict[tuple[str, str], Values] = {}
        self.in_order: dict[tuple[str, str], list] = {}
        self._by_shape: dict[tuple, list[np.ndarray]] = {}
        self._keys: dict[tuple, list[float]] = {}

    def add(self, value) -> None:
        self.add_numbers(tracer.numbers(value))

    def add_numbers(self, arrays: list[np.ndarray]) -> None:
        """add() for the numbers of a value already taken (tracer.numbers)."""
        for array in arrays:
            if array.dtype.kind != "f" and not self.exact:
                continue
            kept = self._by_shape.setdefault(array.shape, [])
            if len(kept) < _KEEP_ANY:
                kept.append(array)
                self._keys.setdefault(array.shape, []).append(self._key(array))

    @staticmethod
    def _key(array: np.ndarray) -> float:
        weights = _weights(array.size)  # a fixed projection: equal arrays, equal keys
        finite = np.nan_to_num(array.reshape(-1), nan=0.5, posinf=1e300, neginf=-1e300) / 1e150
        return float(finite @ weights)

    def kept_any(self) -> bool:
        return any(self._by_shape.values())

    def kept(self, shape: tuple) -> list[np.ndarray]:
        """The values of one shape held."""
        return list(self._by_shape.get(shape, ()))

    def __contains__(self, array: np.ndarray) -> bool:
        kept = self._by_shape.get(array.shape)
        if not kept:
            return False
        key = self._key(array)
        scale = float(np.abs(np.nan_to_num(array, nan=0.5, posinf=1e300, neginf=-1e300) / 1e150).sum())
        keys = np.asarray(self._keys[array.shape])
        for index in np.flatnonzero(np.abs(keys - key) <= 1e-6 * scale + 1e-300):
            other = kept[index]
            finite = np.isfinite(other)
            top = float(np.abs(other[finite]).max(initial=0.0))
            if np.allclose(array, other, rtol=1e-6, atol=1e-9 * max(1.0, top), equal_nan=True):
                return True
        return False


class _Instrument(ast.NodeTransformer):
    """Every value-producing expression inside a function body recorded as it is computed; a
    chain a * b * c (or a + b - c) also records each sub-product (sub-sum) of its terms."""

    def __init__(self):
        self.depth = 0
        self.statement: str | None = None  # the simple statement being visited, as text

    def visit(self, node):
        if not isinstance(node, ast.stmt):
            return super().visit(node)
        outer = self.statement
        self.statement = ast.unparse(node) if isinstance(node, SIMPLE) else None
        try:
            return super().visit(node)
        finally:
            self.statement = outer

    def _read(self, node, text: str):
        """node recorded as a value, and as what the statement being visited reads as `text`."""
        if self.statement is None:
            return self._wrap(node)
        return ast.copy_location(ast.Call(ast.Name(_RECORD, ast.Load()),
                                          [node, ast.Constant(self.statement), ast.Constant(text)], []), node)

    def visit_FunctionDef(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1
        return node

    def visit_Lambda(self, node):
        return node

    def _wrap(self, node):
        return ast.copy_location(ast.Call(ast.Name(_RECORD, ast.Load()), [node], []), node)

    def visit_BinOp(self, node):
        if self.depth == 0:
            return node
        op = type(node.op)
        if op in (ast.Mult, ast.Add, ast.Sub):
            terms = _chain(node)
            if len(terms) >= 3:
                signs = [ast.Constant(sign) for sign, _ in terms]
                kind = "mul" if op is ast.Mult else "add"
                values = [self.visit(term) for _, term in terms]
                call = ast.Call(ast.Name(_CHAIN, ast.Load()),
                                [ast.Constant(kind), ast.Tuple(signs, ast.Load()), ast.Tuple(values, ast.Load())], [])
                return ast.copy_location(call, node)
        self.generic_visit(node)
        return self._wrap(node)

    def _visit_value(self, node):
        if self.depth == 0:
            return node
        self.generic_visit(node)
        return self._wrap(node)

    visit_UnaryOp = visit_Call = _visit_value

    def visit_Subscript(self, node):
        text = ast.unparse(node)
        self.generic_visit(node)
        return self._read(node, text) if self.depth and isinstance(node.ctx, ast.Load) else node

    def visit_Name(self, node):
        return self._read(node, node.id) if self.depth and isinstance(node.ctx, ast.Load) else node

    def visit_Attribute(self, node):
        if self.depth and isinstance(node.ctx, ast.Load):
            text = ast.unparse(node)
            self.generic_visit(node)
            return self._read(node, text)
        self.generic_visit(node)
        return node


def _chain(node) -> list[tuple[int, ast.expr]]:
    """The terms of a left-nested chain of one operator: a * b * c -> [(1, a), (1, b), (1, c)];
    a + b - c -> [(1, a), (1, b), (-1, c)]."""
    mult = isinstance(node.op, ast.Mult)
    terms = []
    while isinstance(node, ast.BinOp) and (isinstance(node.op, ast.Mult) if mult else isinstance(node.op, (ast.Add, ast.Sub))):
        terms.insert(0, (-1 if isinstance(node.op, ast.Sub) else 1, node.right))
        node = node.left
    return [(1, node), *terms]


class _Recorder:
    def __init__(self, values: Values):
        self.values = values

    def record(self, value, statement: str | None = None, text: str | None = None):
        computed = type(value) is np.ndarray or isinstance(value, (float, np.floating))
        if not computed and statement is None:
            return value
        found = tracer.numbers(value)  # copied once, kept by each record below
        if computed:
            self.values.add_numbers(found)
        if statement is not None:  # what this statement of the solution reads as `text`
            self.values.reads.setdefault((statement, text), Values(exact=True)).add_numbers(found)
            runs = self.values.in_order.setdefault((statement, text), [])
            if len(runs) < tracer.PER_LINE:
                runs.append(found[0] if len(found) == 1 else None)
        return value

    def chain(self, kind: str, signs: tuple, terms: tuple):
        """The chain's value, computed left to right as Python would, and each sub-product
        (sub-sum) of up to four of its terms, in any grouping."""
        result = terms[0]
        for sign, term in zip(signs[1:], terms[1:]):
            result = result * term if kind == "mul" else (result + term if sign > 0 else result - term)
        for size in range(2, min(len(terms), 5)):
            for picked in itertools.combinations(range(len(terms)), size):
                try:
                    part = terms[picked[0]] if signs[picked[0]] > 0 or kind == "mul" else -terms[picked[0]]
                    for i in picked[1:]:
                        part = part * terms[i] if kind == "mul" else (part + terms[i] if signs[i] > 0 else part - terms[i])
                    self.record(part)
                except Exception:  # noqa: BLE001 - terms that do not combine alone (shapes)
                    pass
        return self.record(result)


@lru_cache(maxsize=64)
def _instrumented(name: str) -> tuple[str, object] | None:
    """(path, code) of the solution, compiled with every sub-expression recorded."""
    path = str(resources.files("bpdrill.solutions").joinpath(f"{name}.py"))
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        tree = ast.fix_missing_locations(_Instrument().visit(tree))
        return path, compile(tree, path, "exec")
    except (OSError, SyntaxError, ValueError):
        return None


def right_values(unit, scenario) -> Values | None:
    """Every value the reference solution computes on the scenario (sub-expressions, and each
    statement's result as the learner's are traced); None when it cannot run."""
    found = _instrumented(unit.name)
    if found is None:
        return None
    path, code = found
    values = Values()
    recorder = _Recorder(values)
    module = ModuleType(f"bpdrill_right_{unit.name}")
    module.__file__ = path
    module.__dict__.update({_RECORD: recorder.record, _CHAIN: recorder.chain})
    with open(path, encoding="utf-8") as f:
        source = f.read()
    tree = ast.parse(source)
    trace = tracer.Tracer(path, tree)
    _mark_functions(tree, trace.by_line)
    try:
        with np.errstate(all="ignore"):
            exec(code, module.__dict__)  # noqa: S102 - our own reference solution
            trace.run(lambda: unit.drive(module, scenario))
    except Exception:  # noqa: BLE001 - no right values to compare with: no place found
        return None
    values.texts = {_text(s) for s in trace.by_line.values() if isinstance(s, SIMPLE)}
    for line, arrays, *_ in trace.events:
        if _allocates(trace.by_line[line]):  # np.empty: whatever memory held, no value of ours
            continue
        for array in arrays:
            values.add(array)
        if trace.elements < tracer.MAX_ELEMENTS:  # all of them kept: a name's values are complete
            for place, array in _named(trace.by_line[line], arrays):
                values.named.setdefault(place, Values(exact=True)).add(array)
    for array in scenario.arrays.values():
        values.add(np.asarray(array, dtype=np.float64) if np.asarray(array).dtype.kind in "fc" else None)
    return values


_OWNER = "_bpdrill_function"  # on a traced statement: the function it belongs to


def _mark_functions(tree: ast.Module, by_line: dict) -> dict[int, str]:
    """Mark each statement by_line holds with the innermost function it belongs to, by name:
    unbroadcast, Linear.backward, Tensor.exp.backward (a closure by its enclosing method, as the
    skeletons name them). A return is judged against what the solution's function of that name
    returns, and a call's callees are told from the caller by it. Returns each function's name
    by the line of its def."""
    defs: dict[int, str] = {}

    def visit(node: ast.AST, scope: str, owner: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{scope}{child.name}.", owner)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                defs[child.lineno] = f"{scope}{child.name}"
                visit(child, f"{scope}{child.name}.", f"{scope}{child.name}")
            else:
                if owner and isinstance(child, ast.stmt) and by_line.get(child.lineno) is child:
                    setattr(child, _OWNER, owner)
                visit(child, scope, owner)
    visit(tree, "", None)
    return defs


def _named(statement: ast.stmt, arrays: list) -> list[tuple[str, np.ndarray]]:
    """(where it was written, value) for each value a traced statement wrote, when each place
    it writes holds one number: dx = ..., self.dW = ..., for t in ..., a, b = ...; a method's
    return, by its function and position (return of unbroadcast, return of Linear.backward[1])."""
    if isinstance(statement, ast.Return):
        function = getattr(statement, _OWNER, None)
        if function is None or not arrays:
            return []
        return [(f"return of {function}" + (f"[{i}]" if len(arrays) > 1 else ""), array)
                for i, array in enumerate(arrays)]
    places = _places(statement)
    if len(places) == 1 and len(arrays) > 1 and isinstance(
            getattr(statement, "value", None), (ast.List, ast.ListComp, ast.Tuple)):  # norms = [...]
        return [(f"{places[0]}[{i}]", array) for i, array in enumerate(arrays)]
    if len(places) != len(arrays):
        return []
    return list(zip(places, arrays))


@lru_cache(maxsize=4096)
def _places(statement: ast.stmt) -> tuple[str, ...]:
    """The places a statement writes, as code (dx, self.v[name]): asked for each run of it."""
    return tuple(ast.unparse(place) for place in tracer.written(statement))


def _wrong(statement: ast.stmt, arrays: list, right: Values) -> bool:
    """Does a value the statement wrote differ from every value a right computation takes?
    Where the solution writes the same name, from every value it takes there: a right value
    in the wrong role (dc = dc_next where dc = dc_next + ...) is wrong too."""
    pairs = _named(statement, arrays) or [(None, array) for array in arrays]
    for place, array in pairs:
        if place in right.named:
            if array not in right.named[place]:
                return True
        elif array.dtype.kind == "f" and array not in right:
            return True
    return False


# ---- the learner's statements that lead to a gradient -------------------------------------

def _names(node) -> set[str]:
    """The names a statement reads: variables, and attributes by their name (self.x -> x); a
    `for`, in its header alone."""
    found = set()
    for sub in ast.walk(node.iter if isinstance(node, ast.For) else node):
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            found.add(sub.id)
        elif isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Load):
            found.add(sub.attr)
        elif isinstance(sub, ast.Subscript) and isinstance(sub.slice, ast.Constant) and isinstance(sub.slice.value, str):
            found.add(sub.slice.value)
    return found


def _defines(statement: ast.stmt, kept_only: bool = False) -> set[str]:
    """The names a statement writes: dx, self.dW -> dW, grads["W1"] -> W1 (and grads); a
    return of a dict, its keys (return {"W1": dW1})."""
    found = set()
    if isinstance(statement, ast.Return) and isinstance(statement.value, ast.Dict):
        found |= {k.value for k in statement.value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    for place in tracer.written(statement):
        top = place  # a plain name written (dx = ...) is not kept where a caller reads it
        while True:
            if isinstance(place, ast.Name):
                if not kept_only or place is not top:
                    found.add(place.id)
                break
            if isinstance(place, ast.Attribute):
                found.add(place.attr)
                break
            if isinstance(place, ast.Subscript):
                if isinstance(place.slice, ast.Constant) and isinstance(place.slice.value, str):
                    found.add(place.slice.value)
                place = place.value
                continue
            break
    return found


@lru_cache(maxsize=8)
def _layout(source: str) -> tuple[dict, set[int], dict[int, str]]:
    """The file parsed once per saved version (every diagnosis of a run asks): its statements
    by line (each marked with its function), the lines of its __init__ methods (their random
    parameters are replaced before any call) and its functions' names by the lines of their
    defs."""
    tree = ast.parse(source)
    by_line = tracer.statements(tree)
    defs = _mark_functions(tree, by_line)
    built = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            built |= set(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return by_line, built, defs


def at_fault(source: str, events: list, right: Values, label: str | None,
             first_pass: bool = False) -> tuple[int | None, bool]:
    """(line, found): the first line of the learner's statement where the wrong value starts
    (found), or, where every value is one a right computation takes, the statement that
    computes the gradient (not found: a term is missing there); (None, False) when the trace
    does not reach the gradient.

    events: the traced run, [(line, [arrays], call, parent)]; label: the gradient at fault (dx, dW, W1 ...).
    first_pass: a statement's value counts only the first time it runs (a value that goes wrong
    only on a later step or call is what an aliased or rebound array does: not a formula's slip)."""
    try:
        by_line, built, _ = _layout(source)
    except (SyntaxError, ValueError):
        return None, False
    name = (label or "").split(".")[0].split("[")[0]
    callers = {call: parent for _, _, call, parent in events}
    steps = [(line, arrays, by_line.get(line), call) for line, arrays, call, _ in events
             if by_line.get(line) is not None and line not in built]
    if not steps:
        return None, False
    kept = [i for i, (_, _, s, _) in enumerate(steps) if name and name in _defines(s, kept_only=True)]
    if name and not kept:  # for g in grads.values(): g *= coef: the caller's arrays, changed in place
        aliases = {target.id for _, _, s, _ in steps if isinstance(s, ast.For) and name in _names(s)
                   for target in ast.walk(s.target) if isinstance(target, ast.Name)}
        kept = [i for i, (_, _, s, _) in enumerate(steps) if _in_place(s) & aliases]
    plain = [i for i, (_, _, s, _) in enumerate(steps) if name and name in _defines(s)]
    returns = [i for i, (_, arrays, s, _) in enumerate(steps) if isinstance(s, ast.Return) and arrays]
    if kept:  # self.dW = ..., grads["W1"] = ..., return {"W1": ...}: the last of them
        last = kept[-1]
    elif returns and (not plain or returns[-1] > plain[-1]):  # dx = ...; return dx (or return dx / n)
        last = returns[-1]
    elif plain:
        last = plain[-1]
    else:  # no statement writes it by name (an optimiser's p -= ... updates params): what ran last
        last = max(i for i, (_, _, s, _) in enumerate(steps) if not isinstance(s, ast.For)) if any(
            not isinstance(s, ast.For) for _, _, s, _ in steps) else len(steps) - 1
    writes = set(kept or plain)
    needed, chosen = set(), set()
    for i in range(last, -1, -1):  # the statements whose values flow into the gradient
        statement = steps[i][2]
        if i == last and _returns_name(statement, name):  # return dx, dh, dc: only dc's path
            chosen.add(i)
            needed.add(name)
        elif i == last or i in writes or _defines(statement) & needed:
            chosen.add(i)
            needed |= _names(statement) | (_defines(statement) if isinstance(statement, ast.AugAssign) else set())
    for i in sorted(chosen):  # a call's value is what its callees computed: their statements too
        j = i - 1
        while j >= 0 and _within(steps[j][3], steps[i][3], callers):  # run inside this statement
            chosen.add(j)
            j -= 1
    judged = set()
    for i in sorted(chosen):
        line, arrays, statement, _ = steps[i]
        if _allocates(statement) or not _settled(steps, i) or first_pass and line in judged:
            continue
        if _wrong(statement, arrays, right) or line not in judged and _skips(steps, statement, right):
            return steps[_input_at_fault(steps, _part_at_fault(steps, i, right), right, callers)][0], True
        judged.add(line)
    if not (kept or plain or returns):
        return None, False  # nothing names the gradient: no statement to call the place
    # every value is one a right computation takes: a term or a factor is missing where the
    # gradient is computed (the last statement that computes, not one that passes a name on)
    return next((steps[i][0] for i in sorted(chosen, reverse=True) if not _passes_on(steps[i][2])), steps[last][0]), False


def first_wrong_within(source: str, events: list, right: Values, line: int, label: str | None) -> int | None:
    """The first statement, in the order they ran, of the function that holds line (a statement
    of it, or its def) whose value no right computation takes; None when each is right. When
    that statement is written exactly as the solution's, the function only passed a wrong value
    on (unbroadcast given an unreduced gradient), and when the function never ran, it was not
    called where it should have been: the first wrong value on the way to the gradient (label)
    is named instead, if one is found."""
    try:
        by_line, _, defs = _layout(source)
    except (SyntaxError, ValueError):
        return None
    statement = by_line.get(line)
    function = getattr(statement, _OWNER, None) if statement is not None else defs.get(line)
    if function is None:
        return None
    ran = False
    for at, arrays, *_ in events:
        statement = by_line.get(at)
        if statement is None or getattr(statement, _OWNER, None) != function:
            continue
        ran = True
        if not _allocates(statement) and _wrong(statement, arrays, right):
            if _text(statement) in right.texts:
                elsewhere, found = at_fault(source, events, right, label)
                if found:
                    return elsewhere
            return statement.lineno
    if not ran:  # the function was never called (unbroadcast left out): where the values go wrong
        elsewhere, found = at_fault(source, events, right, label)
        return elsewhere if found else None
    return None


def ran_right(source: str, events: list, right: Values, line: int) -> bool:
    """Did the statement at line run, and was every value it wrote one a right computation
    takes? (A code pattern named it; a trace that saw it right may name another.) False for a
    line that is no traced statement (an `if`, a `def`), that never ran, or whose values a trace
    cannot judge (a mask the solution has no name for)."""
    try:
        by_line, _, _ = _layout(source)
    except (SyntaxError, ValueError):
        return False
    statement = by_line.get(line)
    if statement is None or isinstance(statement, ast.For):
        return False
    ran = [arrays for at, arrays, *_ in events if by_line.get(at) is statement]
    seen = any(place in right.named or array.dtype.kind == "f"  # a value a trace can judge
               for arrays in ran for place, array in _named(statement, arrays) or [(None, a) for a in arrays])
    return seen and not any(_wrong(statement, arrays, right) for arrays in ran)


def _within(call: int, outer: int, callers: dict) -> bool:
    """Did call run inside the call outer (made by it, or by one it made)?"""
    while call != outer and call in callers:
        call = callers[call]
        if call == outer:
            return True
    return False


def _input_at_fault(steps: list, i: int, right: Values, callers: dict) -> int:
    """The step to blame for the wrong value of step i. A statement written exactly as one of the
    solution's computes what the solution's would from the same inputs, so one of them is wrong:
    - an input it reads (g, self.t, self.m[name]) holds a value the solution's statement did not
      read on the same run: the statement that wrote it is at fault, and if that one too is
      written as the solution's, in turn its inputs; but when that one read right inputs
      itself and the solution ran it too, what is missing lies between the two (a statement
      left out), and step i, the first to read the value, is named;
    - none does, step i ran inside a call (a helper) and the solution never ran that statement
      here: the helper should not have been called so, and the calling statement is followed.
    Otherwise (a statement of the learner's own) step i itself."""
    ran = {text for text, _ in right.reads}
    seen = set()
    while i not in seen:
        seen.add(i)
        text = _text(steps[i][2])
        if text not in right.texts:
            return i
        j = _wrong_input(steps, i, right)
        if j is None:
            parent = callers.get(steps[i][3], -1)
            caller = next((k for k in range(i + 1, len(steps)) if steps[k][3] == parent), None)
            if caller is None or text in ran:  # (the grader called it: no statement of the file)
                return i
            i = caller
        elif _text(steps[j][2]) in ran and _wrong_input(steps, j, right) is None:
            return i
        else:
            i = j
    return i


@lru_cache(maxsize=4096)
def _text(statement: ast.stmt) -> str | None:
    """A simple statement as code, without comments or layout (None for an if, a for ...)."""
    return ast.unparse(statement) if isinstance(statement, SIMPLE) else None


def _wrong_input(steps: list, i: int, right: Values) -> int | None:
    """The step that last wrote, in the same function, an input of step i that the solution's
    statement of the same text read otherwise on the same run (or, runs apart, never); None
    when there is none."""
    statement = steps[i][2]
    text, function = _text(statement), getattr(statement, _OWNER, None)
    run = sum(1 for step in steps[:i] if step[0] == steps[i][0])  # this statement's run
    wrong = []
    for node in ast.walk(statement):
        if not (isinstance(node, (ast.Name, ast.Attribute, ast.Subscript)) and isinstance(node.ctx, ast.Load)):
            continue
        read = ast.unparse(node)
        solution = right.reads.get((text, read))
        if solution is None or not solution.kept_any():
            continue
        in_order = right.in_order.get((text, read), [])
        expected = in_order[run] if run < len(in_order) else None
        for j in range(i - 1, -1, -1):  # the statement of the same function that wrote it last
            writer = steps[j][2]
            if getattr(writer, _OWNER, None) != function or read not in _places(writer):
                continue
            value = next((a for place, a in _named(writer, steps[j][1]) if place == read), None)
            if value is not None and (value not in solution if expected is None else not _same(value, expected)):
                wrong.append(j)
            break
    return min(wrong) if wrong else None


def _same(value: np.ndarray, expected: np.ndarray) -> bool:
    """The value the solution's statement read on the same run (the driver calls both alike)."""
    return value.shape == expected.shape and bool(np.allclose(value, expected, rtol=1e-6, atol=1e-9, equal_nan=True))


def _skips(steps: list, statement: ast.stmt, right: Values) -> bool:
    """Does the `for` statement leave out values of its loop variable that the solution's takes
    (reversed(range(1, T)) where every t down to 0 is visited)? Each value it took is right,
    but a step is missing."""
    if not isinstance(statement, ast.For) or not isinstance(statement.target, ast.Name):
        return False
    solution = right.named.get(statement.target.id)
    if solution is None:
        return False
    took = {int(a) for _, arrays, s, _ in steps if s is statement for a in arrays if a.shape == () and a.dtype.kind == "i"}
    wanted = {int(a) for a in solution.kept(()) if a.dtype.kind == "i"}
    return bool(took) and took < wanted


def _in_place(statement: ast.stmt) -> set[str]:
    """The names a statement changes in place: g *= c, g[...] = ..."""
    if isinstance(statement, ast.AugAssign) and isinstance(statement.target, ast.Name):
        return {statement.target.id}
    targets = statement.targets if isinstance(statement, ast.Assign) else []
    return {t.value.id for t in targets if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name)}


def _partial(statement: ast.stmt) -> str | None:
    """The array a statement writes only part of (O[:, q0:q1] = ..., dW[idx] += ...), or None."""
    targets = statement.targets if isinstance(statement, ast.Assign) else \
        [statement.target] if isinstance(statement, ast.AugAssign) else []
    for target in targets:
        if isinstance(target, ast.Subscript) and not isinstance(target.slice, ast.Constant):
            base = target.value
            return base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else None
    return None


def _settled(steps: list, i: int) -> bool:
    """Is the array a partial write fills complete enough to judge? Only once the next statement
    that touches it reads it (the loop that fills it block by block is over, and so are the
    statements that fill it part by part: dx[..., 0::2] = ...; dx[..., 1::2] = ...)."""
    base = _partial(steps[i][2])
    if base is None:
        return True
    for _, _, statement, _ in steps[i + 1:]:
        if base == _partial(statement):
            return False
        if base in _names(statement):
            return True
    return True


def _part_at_fault(steps: list, i: int, right: Values) -> int:
    """Of the partial writes that filled the array step i completed, the first that was the last
    to write one of its wrong elements (those that differ from the nearest value the solution's
    array of that name takes), one not written as a statement of the solution's first; step i
    when that cannot be told."""
    statement = steps[i][2]
    base = _partial(statement)
    places = _places(statement)
    solution = right.named.get(places[0]) if len(places) == 1 and len(steps[i][1]) == 1 else None
    if base is None or solution is None:
        return i
    final = steps[i][1][0]
    fill, before = [i], None
    for j in range(i - 1, -1, -1):
        s = steps[j][2]
        if _partial(s) == base:
            fill.insert(0, j)
        elif base in _names(s) or base in _defines(s):
            if base in _defines(s) and len(steps[j][1]) == 1:
                before = steps[j][1][0]
            break
    candidates = [c for c in solution.kept(final.shape) if c.dtype == final.dtype]
    if len(fill) < 2 or before is None or before.shape != final.shape or not candidates:
        return i
    wrong = min((~np.isclose(final, c, rtol=1e-6, atol=1e-9, equal_nan=True) for c in candidates),
                key=lambda mask: int(mask.sum()))
    last_writer, previous = np.full(final.shape, -1), before
    for j in fill:  # which statement wrote each element last
        after = steps[j][1][0]
        if after.shape != final.shape:
            return i
        last_writer[(after != previous) & ~(np.isnan(after) & np.isnan(previous))] = j
        previous = after
    writers = sorted(set(last_writer[wrong & (last_writer >= 0)].tolist()))
    own = [j for j in writers if _text(steps[j][2]) not in right.texts]  # not written as the solution's
    return (own or writers or [i])[0]


def _allocates(statement: ast.stmt) -> bool:
    """O = np.empty(...): memory whose values mean nothing yet."""
    value = getattr(statement, "value", None)
    func = value.func if isinstance(value, ast.Call) else None
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    return name in ("empty", "empty_like")


def _returns_name(statement: ast.stmt, name: str) -> bool:
    """return dx, dh, dc (or {"dc": dc, ...}) where one of the names is the gradient's."""
    value = getattr(statement, "value", None)
    if not isinstance(statement, ast.Return) or not isinstance(value, (ast.Tuple, ast.Dict)):
        return False
    items = value.elts if isinstance(value, ast.Tuple) else value.values
    return any(isinstance(e, ast.Name) and e.id == name for e in items)


def _passes_on(statement: ast.stmt) -> bool:
    """return dx, return dx, dh, self.dW = dW: a statement that hands a value on (to the caller,
    or into the object) without computing it. dx = local is not one: it may be the mistake."""
    value = getattr(statement, "value", None)
    names = value.elts if isinstance(value, ast.Tuple) else value.values if isinstance(value, ast.Dict) else [value]
    if not all(isinstance(e, (ast.Name, ast.Attribute)) for e in names):
        return False
    return isinstance(statement, ast.Return) or (
        isinstance(statement, ast.Assign) and all(isinstance(t, (ast.Attribute, ast.Subscript)) for t in statement.targets))
