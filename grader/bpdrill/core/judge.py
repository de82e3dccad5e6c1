"""Checks: small declarative units, and the shared judges every exercise uses.

A Check names what it proves (a stable `id`, never its display text), its kind, the gradient
it is about, its points, the scenario it reads and its judge. A judge reads the worker's raw
results through an Evidence object and raises Failed with a message in the learner's terms.
The shared judges below are the only comparison logic, so every exercise judges alike.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from bpdrill.core import compare
from bpdrill.i18n import language, t
from bpdrill.core.places import describe_error
from bpdrill.core.protocol import Value

KINDS = ("numgrad", "torch", "shape", "edge", "purity", "train")
CALLS = ("first", "second", "new_forward")  # which call of the learner's code a check judges
ID = re.compile(r"^[a-z][A-Za-z0-9_.]*$")


@dataclass(frozen=True)
class Check:
    id: str  # stable: reports, diagnoses and history key on it; never reworded
    kind: str
    target: str | tuple | None  # the gradient or output it is about; a tuple: whichever fails
    points: int
    scenario: str
    judge: Callable
    title: str  # what it proves, in English: display text only ({placeholders} from title_args)
    call: str = "first"  # a second backward, or backward after a new forward
    title_args: tuple = ()  # (name, value) pairs for the title's placeholders

    def __post_init__(self):
        assert self.kind in KINDS, self.kind
        assert self.call in CALLS, self.call
        assert ID.match(self.id), self.id

    @property
    def english(self) -> str:
        """The display text in English (the JSON report's `name`)."""
        return self.title.format(**dict(self.title_args))

    @property
    def name(self) -> str:
        """The display text in the current language."""
        template = t(self.title) if language() == "zh" else self.title
        return template.format(**dict(self.title_args))

    @property
    def targets(self) -> tuple:
        if self.target is None:
            return ()
        return self.target if isinstance(self.target, tuple) else (self.target,)


class Failed(Exception):
    """A check's failure: a message for the learner, the target at fault, detail lines for -v.

    got/expected: the arrays compared, when there were any (diagnosis starts from them);
    label: what was compared ('dW', 'b.grad'); mistake: (name, text) when the check itself
    already names the mistake (an input modified in place, requires_grad not propagated);
    compared: values were compared and differ, though no got/expected pair is given (an
    optimiser's parameters after several steps): a trace may still find where they go wrong.
    """

    def __init__(self, message: str, target: str | None = None, details: list[str] | None = None,
                 got=None, expected=None, label: str | None = None, mistake: tuple | None = None,
                 nonfinite: str | None = None, compared: bool = False):
        super().__init__(message)
        self.message, self.target, self.details = message, target, details or []
        self.got, self.expected, self.label, self.mistake = got, expected, label or target, mistake
        self.nonfinite = nonfinite  # "nan" or "inf" when the learner's array held one
        self.compared = compared or (got is not None and expected is not None)


class ScenarioError(Failed):
    """The learner's code raised (or the worker died) while running the scenario."""

    def __init__(self, message: str, error: dict | None = None):
        lines = (error or {}).get("traceback", "").rstrip().splitlines()
        super().__init__(message, details=[t("your code's traceback:"), *lines] if lines else [])
        self.error = error


class Evidence:
    """What one exercise's run produced, plus the trusted side's references, computed lazily."""

    def __init__(self, exercise: str, scenarios: dict, results: dict, reference: Callable, learner_file: str):
        self.exercise = exercise
        self.scenarios = scenarios  # name -> Scenario
        self.results = results  # name -> {"error": dict | None, "values": {key: Value}}
        self._reference = reference
        self._references: dict = {}
        self.learner_file = learner_file

    # -- raw values -------------------------------------------------------------------
    def inputs(self, scenario: str) -> dict:
        return self.scenarios[scenario].arrays

    def params(self, scenario: str) -> dict:
        return self.scenarios[scenario].params

    def values(self, scenario: str) -> dict:
        result = self.results.get(scenario)
        if result is None:
            raise ScenarioError(t("the worker returned nothing for this check"))
        if result["error"] is not None:
            raise ScenarioError(describe_error(result["error"], self.learner_file), result["error"])
        return result["values"]

    def value(self, scenario: str, key: str) -> Value:
        values = self.values(scenario)
        if key not in values:
            raise Failed(t("{name}: nothing came back", name=key), target=key)
        return values[key]

    def array(self, scenario: str, key: str, name: str | None = None) -> np.ndarray:
        """The learner's array, only if it is an exact float64 ndarray with finite values."""
        name = name or key
        v = self.value(scenario, key)
        # A number (a 0-d grad that became np.float64) is judged as a 0-d array: same checks.
        if v.kind not in ("array", "scalar") or v.array.dtype != np.float64:
            raise Failed(t("{name}: expected a float64 array, got {got}", name=name, got=v.describe()),
                         target=name)
        a = v.array
        bad = ~np.isfinite(a)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise Failed(t("{name}: {value} at {index} ({count} non-finite of {size})", name=name,
                           value=a[index], index=compare.format_index(index), count=int(bad.sum()),
                           size=a.size), target=name, got=a,
                         nonfinite="nan" if np.isnan(a).any() else "inf")
        return a

    def number(self, scenario: str, key: str, name: str | None = None) -> float:
        name = name or key
        v = self.value(scenario, key)
        if v.kind == "scalar" or (v.kind == "array" and v.array.size == 1):
            x = float(v.array.reshape(()))
            if not np.isfinite(x):
                raise Failed(t("{name}: got {value}, expected a finite number", name=name, value=x),
                             target=name)
            return x
        raise Failed(t("{name}: expected a number, got {got}", name=name, got=v.describe()), target=name)

    # -- trusted references -----------------------------------------------------------
    def reference(self, scenario: str) -> dict:
        if scenario not in self._references:
            self._references[scenario] = self._reference(self.scenarios[scenario])
        return self._references[scenario]


# ---- shared judges ---------------------------------------------------------------------
# Each returns judge(evidence, check) -> None, raising Failed.

def compare_arrays(name: str, got: np.ndarray, expected: np.ndarray, tolerance: str) -> None:
    """Raise Failed unless got matches expected. The message states the measure that failed
    (never an aggregate that would read as under tolerance): for numgrad the relative error
    and its tolerance; for torch the elements outside their tolerance and the worst of them."""
    if got.shape != expected.shape:
        raise Failed(t("{name}: expected shape {expected}, got {got}", name=name, expected=expected.shape,
                       got=got.shape), target=name, got=got, expected=expected)
    if tolerance == "numgrad":
        error = compare.relative_error(got, expected)
        if error <= compare.NUMGRAD_TOL:
            return
        message = t("{name}: relative error {error:.2g} (tolerance {tolerance:g})", name=name, error=error,
                    tolerance=compare.NUMGRAD_TOL)
        worst = compare.worst_elements(got, expected)
    else:
        mask = compare.elementwise_mismatch(got, expected)
        if not mask.any():
            return
        worst = compare.worst_elements(got, expected, excess=True)
        index, e, g = worst[0]
        allowed = float(compare.element_tolerance(expected)[index])
        shown_e, shown_g = compare.distinct(e, g)
        if got.size == 1:
            message = t("{name}: expected {expected}, got {got} (differs by {diff:.2g}, allowed {allowed:.2g})",
                        name=name, expected=shown_e, got=shown_g, diff=abs(g - e), allowed=allowed)
        else:
            message = t("{name}: {count} of {size} elements outside the tolerance; worst {name}{index}: "
                        "expected {expected}, got {got} (differs by {diff:.2g}, allowed {allowed:.2g})",
                        name=name, count=int(mask.sum()), size=mask.size, index=compare.format_index(index),
                        expected=shown_e, got=shown_g, diff=abs(g - e), allowed=allowed)
        error = compare.relative_error(got, expected)
        if error > compare.NUMGRAD_TOL:  # an aggregate under tolerance would read like a pass
            message += t("; relative error {error:.2g}", error=error)
    ratio = compare.constant_ratio(got, expected)
    if ratio is not None:  # the one number that says what is wrong, more than any error measure
        message += ratio_words(ratio)
    raise Failed(message, target=name, details=element_lines(name, worst), got=got, expected=expected)


def ratio_words(c: float) -> str:
    """'; every entry is 2 times the expected value', said of an array off by one constant factor."""
    if abs(c + 1) <= 1e-6:
        return t("; every entry is -1 times the expected value: the sign is flipped")
    return t("; every entry is {c} times the expected value", c=f"{c:.4g}")


def element_lines(name: str, worst: list) -> list[str]:
    """-v lines for the worst elements, each printed with digits enough to differ (equal-looking
    pairs are skipped)."""
    lines = []
    for i, e, g in worst:
        shown_e, shown_g = compare.distinct(e, g)
        if shown_e != shown_g:
            lines.append(t("{name}{index}: expected {expected}, got {got}", name=name,
                           index=compare.format_index(i), expected=shown_e, got=shown_g))
    return lines


def matches_reference(*keys):
    """Each key (or (got_key, expected_key, name)) equals the PyTorch reference element-wise."""
    def judge(ev: Evidence, check: Check) -> None:
        ref = ev.reference(check.scenario)
        for key in keys:
            got_key, ref_key, name = (key, key, key) if isinstance(key, str) else key
            compare_arrays(name, ev.array(check.scenario, got_key, name), ref[ref_key], "torch")
    return judge


def matches_numgrad(key: str, wrt: str, project: Callable, name: str | None = None):
    """key equals central differences of the learner's own forward with respect to `wrt`.

    project(evidence, scenario) gives the map from a stack of forward outputs to scalars.
    The perturbed outputs come from the scenario called '<check.scenario>.perturb'.
    """
    def judge(ev: Evidence, check: Check) -> None:
        target = name or key
        got = ev.array(check.scenario, key, target)
        perturb = check.scenario + ".perturb"
        values = ev.values(perturb)
        plus, minus = values[f"plus.{wrt}"], values[f"minus.{wrt}"]
        if plus.kind != "array" or minus.kind != "array":
            raise Failed(t("{name}: the forward pass did not return numbers ({got})", name=target,
                           got=plus.describe()), target=target)
        shape = ev.inputs(perturb)[wrt].shape
        expected = compare.numerical_gradient(plus.array, minus.array, shape, project(ev, perturb))
        compare_arrays(target, got, expected, "numgrad")
    return judge


def same_shape(key: str, like: str):
    """key has the shape of the input `like`."""
    def judge(ev: Evidence, check: Check) -> None:
        v = ev.value(check.scenario, key)
        expected = ev.inputs(check.scenario)[like].shape
        if v.kind != "array":
            raise Failed(t("{name}: expected an array of shape {expected}, got {got}", name=key,
                           expected=expected, got=v.describe()), target=key)
        if v.array.shape != expected:
            raise Failed(t("{name}: expected shape {expected}, got {got}", name=key, expected=expected,
                           got=v.array.shape), target=key, got=v.array)
    return judge


def unchanged(*names: str, what: str = "backward"):
    """The arrays handed to the learner (returned as after.<name>) still hold the inputs."""
    def judge(ev: Evidence, check: Check) -> None:
        inputs = ev.inputs(check.scenario)
        for name in names:
            v = ev.value(check.scenario, f"after.{name}")
            if v.kind != "array" or v.array.shape != inputs[name].shape or \
                    not np.array_equal(v.array, inputs[name]):
                raise Failed(t("{name} was modified in place by {what}: work on a copy", name=name, what=what),
                             target=name,
                             mistake=("input_modified_in_place",
                                      t("{what} wrote into its input {name}: compute into a new array "
                                        "(dout * s, not dout *= s) or copy first", what=what, name=name)))
    return judge


# ---- checks every exercise has: the same title, the same id, in every exercise ---------

def shape_check(key: str, like: str, scenario: str = "basic", points: int = 1) -> Check:
    return Check(f"shape.{key}", "shape", key, points, scenario, same_shape(key, like=like),
                 "{key} has the shape of {like}", title_args=(("key", key), ("like", like)))


def numgrad_check(key: str, wrt: str, project: Callable, scenario: str = "basic", points: int = 1,
                  target: str | None = None) -> Check:
    """key equals central differences of the learner's forward with respect to the input wrt."""
    return Check(f"numgrad.{key}", "numgrad", target or key, points, scenario,
                 matches_numgrad(key, wrt, project), "{key} matches the numerical gradient",
                 title_args=(("key", key),))


def unchanged_check(*names: str, scenario: str = "basic", what: str = "backward", points: int = 1) -> Check:
    """The arrays handed to the learner's code (returned as after.<name>) still hold the inputs."""
    shown = ", ".join(names)
    return Check("purity.inputs", "purity", names, points, scenario, unchanged(*names, what=what),
                 "{what} leaves {names} unchanged", title_args=(("what", what), ("names", shown)))
