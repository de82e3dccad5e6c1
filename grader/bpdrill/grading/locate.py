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
there). Only trusted code runs here: the solution is ours; the learner's values are data.
"""
from __future__ import annotations

import ast
import itertools
from functools import lru_cache
from importlib import resources
from types import ModuleType

import numpy as np

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

    named: where the solution keeps each value, "dx", "self.dW" -> the values its statements
    that write that name took (filled by right_values)."""

    def __init__(self, exact: bool = False):
        self.exact = exact
        self.named: dict[str, Values] = {}
        self._by_shape: dict[tuple, list[np.ndarray]] = {}
        self._keys: dict[tuple, list[float]] = {}

    def add(self, value) -> None:
        for array in tracer.numbers(value):
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
        self.generic_visit(node)
        return self._wrap(node) if self.depth and isinstance(node.ctx, ast.Load) else node

    def visit_Name(self, node):
        return self._wrap(node) if self.depth and isinstance(node.ctx, ast.Load) else node

    def visit_Attribute(self, node):
        if self.depth and isinstance(node.ctx, ast.Load):
            self.generic_visit(node)
            return self._wrap(node)
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

    def record(self, value):
        if type(value) is np.ndarray or isinstance(value, (float, np.floating)):
            self.values.add(value)
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
        trace = tracer.Tracer(path, f.read())
    try:
        with np.errstate(all="ignore"):
            exec(code, module.__dict__)  # noqa: S102 - our own reference solution
            trace.run(lambda: unit.drive(module, scenario))
    except Exception:  # noqa: BLE001 - no right values to compare with: no place found
        return None
    for line, arrays in trace.events:
        for array in arrays:
            values.add(array)
        if trace.elements < tracer.MAX_ELEMENTS:  # all of them kept: a name's values are complete
            for place, array in _named(trace.by_line[line], arrays):
                values.named.setdefault(place, Values(exact=True)).add(array)
    for array in scenario.arrays.values():
        values.add(np.asarray(array, dtype=np.float64) if np.asarray(array).dtype.kind in "fc" else None)
    return values


def _named(statement: ast.stmt, arrays: list) -> list[tuple[str, np.ndarray]]:
    """(where it was written, value) for each value a traced statement wrote, when each place
    it writes holds one number: dx = ..., self.dW = ..., for t in ..., a, b = ..."""
    places = tracer.written(statement)
    if isinstance(statement, ast.Return) or len(places) != len(arrays):
        return []
    return [(ast.unparse(place), array) for place, array in zip(places, arrays)]


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
def _layout(source: str) -> tuple[dict, set[int]]:
    """The file parsed once per saved version (every diagnosis of a run asks): its statements
    by line, and the lines of its __init__ methods (their random parameters are replaced
    before any call)."""
    tree = ast.parse(source)
    built = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "__init__":
            built |= set(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return tracer.statements(tree), built


def at_fault(source: str, events: list, right: Values, label: str | None,
             first_pass: bool = False) -> tuple[int | None, bool]:
    """(line, found): the first line of the learner's statement where the wrong value starts
    (found), or, where every value is one a right computation takes, the statement that
    computes the gradient (not found: a term is missing there); (None, False) when the trace
    does not reach the gradient.

    events: the traced run, [(line, [arrays])]; label: the gradient at fault (dx, dW, W1 ...).
    first_pass: a statement's value counts only the first time it runs (a value that goes wrong
    only on a later step or call is what an aliased or rebound array does: not a formula's slip)."""
    try:
        by_line, built = _layout(source)
    except (SyntaxError, ValueError):
        return None, False
    name = (label or "").split(".")[0].split("[")[0]
    steps = [(line, arrays, by_line.get(line)) for line, arrays in events
             if by_line.get(line) is not None and line not in built]
    if not steps:
        return None, False
    kept = [i for i, (_, _, s) in enumerate(steps) if name and name in _defines(s, kept_only=True)]
    plain = [i for i, (_, _, s) in enumerate(steps) if name and name in _defines(s)]
    returns = [i for i, (_, arrays, s) in enumerate(steps) if isinstance(s, ast.Return) and arrays]
    if kept:  # self.dW = ..., grads["W1"] = ..., return {"W1": ...}: the last of them
        last = kept[-1]
    elif returns and (not plain or returns[-1] > plain[-1]):  # dx = ...; return dx (or return dx / n)
        last = returns[-1]
    elif plain:
        last = plain[-1]
    else:  # no statement writes it by name (an optimiser's p -= ... updates params): what ran last
        last = max(i for i, (_, _, s) in enumerate(steps) if not isinstance(s, ast.For)) if any(
            not isinstance(s, ast.For) for _, _, s in steps) else len(steps) - 1
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
    judged = set()
    for i in sorted(chosen):
        line, arrays, statement = steps[i]
        if _allocates(statement) or not _settled(steps, i) or first_pass and line in judged:
            continue
        judged.add(line)
        if _wrong(statement, arrays, right):
            return line, True
    if not (kept or plain or returns):
        return None, False  # nothing names the gradient: no statement to call the place
    # every value is one a right computation takes: a term or a factor is missing where the
    # gradient is computed (the last statement that computes, not one that passes a name on)
    return next((steps[i][0] for i in sorted(chosen, reverse=True) if not _passes_on(steps[i][2])), steps[last][0]), False


def ran_right(source: str, events: list, right: Values, line: int) -> bool:
    """Did the statement at line run, and was every value it wrote one a right computation
    takes? (A code pattern named it; a trace that saw it right may name another.) False for a
    line that is no traced statement (an `if`, a `def`), that never ran, or whose values a trace
    cannot judge (a mask the solution has no name for)."""
    try:
        by_line, _ = _layout(source)
    except (SyntaxError, ValueError):
        return False
    statement = by_line.get(line)
    if statement is None or isinstance(statement, ast.For):
        return False
    ran = [arrays for at, arrays in events if by_line.get(at) is statement]
    seen = any(place in right.named or array.dtype.kind == "f"  # a value a trace can judge
               for arrays in ran for place, array in _named(statement, arrays) or [(None, a) for a in arrays])
    return seen and not any(_wrong(statement, arrays, right) for arrays in ran)


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
    that reads it is another one (the loop that fills it block by block is over)."""
    base = _partial(steps[i][2])
    if base is None:
        return True
    for line, _, statement in steps[i + 1:]:
        if base in _names(statement) or base == _partial(statement):
            return line != steps[i][0]
    return True


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
