"""See it: vanishing and exploding gradients through the learner's own layers.

    bpdrill explore vanishing [--depth 20]   the gradient reaching each layer at initialisation
    bpdrill explore exploding [--depth 20]   large initial weights, a few SGD steps, with and
                                             without clip_grad_norm

The network is built from the learner's workspace files (Linear, Sigmoid, ReLU, Tanh,
BatchNorm1d, the init functions, clip_grad_norm). A file that does not pass yet is replaced
by the reference solution, and the command says so. Whether a file passes comes from the
practice history (the last check, when it is newer than the file), else from running its
checks now (runner.run_checks), else, for an exercise this build has no grader module for,
from comparing it with the reference on one hidden input.

Learner code runs only in a worker (bpdrill.isolation): the experiments below named
`*_task` are trusted functions the worker calls with the learner's modules (a task job).
The reference solutions a task falls back on are loaded here, before the worker is forked,
under private names: the worker never reads the kit's solutions from disk, and a learner's
`import bpdrill.solutions` stays refused.
"""
from __future__ import annotations

import importlib.util
import math
import os
import secrets
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from bpdrill import catalog, i18n
from bpdrill.i18n import t
from bpdrill.protocol import Scenario

COMPONENTS = ("linear", "sigmoid", "relu", "tanh", "batchnorm", "init", "clip_grad_norm")
ACTIVATIONS = {"sigmoid": ("sigmoid", "Sigmoid"), "tanh": ("tanh", "Tanh"), "relu": ("relu", "ReLU")}
TASK_TIMEOUT = 60.0  # seconds for an exploration's worker (a check's default is 5)
PROBE_TIMEOUT = 5.0  # seconds for one file's comparison with the reference
WIDTH = 64
BATCH = 64


# ---- which implementation: the learner's, or the reference -----------------------------------

_REFERENCE_FILES: dict = {}  # name -> the reference's file, for a worker started afresh (no fork)


@lru_cache(maxsize=None)
def reference_module(name: str):
    """The reference solution of an exercise, loaded under a private name (not in sys.modules)."""
    path = _REFERENCE_FILES.get(name)
    if path is None:
        from bpdrill.workspace import solution_path
        path = solution_path(name)
    spec = importlib.util.spec_from_file_location(f"_bpdrill_reference_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shown_name(name: str) -> str:
    """How an exercise's code is named in a sentence: Linear, ReLU, the init functions ..."""
    return {"init": t("init functions"), "clip_grad_norm": "clip_grad_norm"}.get(
        name, catalog.get(name).class_name)


@dataclass
class Choice:
    name: str
    mine: bool  # the learner's file is used
    reason: str  # why, in the learner's language
    file: str = ""

    def sentence(self) -> str:
        if self.mine:
            return t("using your {what} ({reason})", what=shown_name(self.name), reason=self.reason)
        return t("using the reference {what}: yours does not pass yet ({reason})", what=shown_name(self.name),
                 reason=self.reason)


def _has_grader(name: str) -> bool:
    try:
        return importlib.util.find_spec(f"bpdrill.checks.{name}") is not None
    except ImportError:
        return False


def choose(ws: Path, names, seed: int = 0, history=None) -> dict[str, Choice]:
    """For each exercise named: use the learner's file, or the reference, and why.

    seed: the hidden input of the comparison with the reference (exercises with no grader
    module); checks draw their own fresh seed. A check run here is recorded in the history."""
    from bpdrill import refcache, runner, workspace
    choices, to_check, to_probe = {}, {}, {}
    for name in names:
        path = ws / f"{name}.py"
        if not path.is_file():
            choices[name] = Choice(name, False, t("your file is missing"))
        elif workspace.is_untouched(ws, name):
            choices[name] = Choice(name, False, t("not started"))
        else:
            last = _last_check(history, name, ws, path)
            if last is not None:
                passed = last == "passed"
                choices[name] = Choice(name, passed, t("it passed your last check") if passed
                                       else t("your last check of this file did not pass"), str(path))
            elif _has_grader(name):
                to_check[name] = path
            else:
                to_probe[name] = path
    if to_check:  # fresh hidden inputs, as `bpdrill check` draws them (ready ones from the pool first)
        check_seed = refcache.pooled_seed(list(to_check))
        if check_seed is None:
            check_seed = secrets.randbelow(2**31)
        else:
            refcache.mark_used(list(to_check), check_seed)
        for report in runner.run_checks(to_check, check_seed):
            passed = report.status == "passed"
            choices[report.name] = Choice(report.name, passed, t("it passes its checks") if passed else
                                          t("{score}/{possible} in its checks", score=report.score,
                                            possible=report.max_score), str(to_check[report.name]))
            if history is not None:
                history.record_check(report.name, str(ws), report.score, report.max_score, report.status,
                                     check_seed, None)
    if to_probe:
        choices.update(_probe_all(to_probe, seed))
    return {name: choices[name] for name in names}


def _last_check(history, name: str, ws: Path, path: Path) -> str | None:
    """The status of the last check of this exercise in this workspace, if it is newer than the file."""
    if history is None:
        return None
    rows = [r for r in history.checks(name) if r["workspace"] == str(ws)]
    if not rows or rows[-1]["at"] < path.stat().st_mtime:
        return None
    return rows[-1]["status"]


# ---- a quick comparison with the reference, for an exercise with no grader module here --------

def probe(name: str, module, seed: int) -> dict:
    """One hidden input through an exercise's code: the outputs to compare with the reference's."""
    rng = np.random.default_rng(seed)
    if name == "linear":
        layer = module.Linear(5, 4, rng=np.random.default_rng(0))
        layer.W, layer.b = rng.normal(size=(5, 4)), rng.normal(size=4)
        out = layer.forward(rng.normal(size=(3, 5)))
        dx = layer.backward(rng.normal(size=(3, 4)))
        return {"out": out, "dx": dx, "dW": layer.dW, "db": layer.db}
    if name in ACTIVATIONS:
        act = getattr(module, ACTIVATIONS[name][1])()
        x = 3 * rng.normal(size=(4, 6))
        x[0, :3] = 0.0  # exactly 0: ReLU's derivative there is 0, as in PyTorch
        out = act.forward(x)
        return {"out": out, "dx": act.backward(rng.normal(size=(4, 6)))}
    if name == "batchnorm":
        bn = module.BatchNorm1d(5)
        bn.gamma, bn.beta = rng.normal(size=5), rng.normal(size=5)
        out = bn.forward(2 * rng.normal(size=(6, 5)) + 1)
        dx = bn.backward(rng.normal(size=(6, 5)))
        return {"out": out, "dx": dx, "dgamma": bn.dgamma, "dbeta": bn.dbeta}
    if name == "clip_grad_norm":
        grads = {"a": 5 * rng.normal(size=(3, 4)), "b": 5 * rng.normal(size=7)}
        total = module.clip_grad_norm(grads, 1.0)
        small = {"c": 1e-3 * rng.normal(size=4)}
        kept = module.clip_grad_norm(small, 1.0)
        return {"total": float(total), "a": grads["a"], "b": grads["b"], "kept": float(kept), "c": small["c"]}
    if name == "init":
        # Statistics against the theory, not a draw against the reference's (any correct sampler passes).
        found = {}
        for scheme, fans in (("xavier", (300, 200)), ("kaiming", (300, 200))):
            std = math.sqrt(2 / sum(fans)) if scheme == "xavier" else math.sqrt(2 / fans[0])
            for kind in ("uniform", "normal"):
                w = np.asarray(getattr(module, f"{scheme}_{kind}")(*fans, np.random.default_rng(seed)))
                again = np.asarray(getattr(module, f"{scheme}_{kind}")(*fans, np.random.default_rng(seed)))
                found[f"{scheme}_{kind}"] = np.array([
                    w.shape == fans, float(np.std(w)) / std, float(np.abs(w).max()) / (math.sqrt(3) * std),
                    abs(float(np.mean(w))) / std, np.array_equal(w, again)], dtype=float)
        return found
    raise KeyError(name)


def probe_task(modules: dict, scenario: Scenario) -> dict:
    """In the worker: the probe of one learner module."""
    name = scenario.params["exercise"]
    return probe(name, modules[name], scenario.params["seed"])


def probe_agrees(name: str, values: dict, seed: int) -> bool:
    if name == "init":
        for key in ("xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal"):
            shape_ok, std_ratio, max_ratio, mean_ratio, repeat = values[key]
            if not (shape_ok and repeat and abs(std_ratio - 1) < 0.03 and mean_ratio < 0.03):
                return False
            if key.endswith("uniform") and not 0.98 < max_ratio <= 1 + 1e-9:
                return False
        return True
    expected = probe(name, reference_module(name), seed)
    for key, want in expected.items():
        got = values.get(key)
        if got is None or np.shape(got) != np.shape(want) or not np.allclose(got, want, rtol=1e-6, atol=1e-9):
            return False
    return True


def _probe_all(files: dict, seed: int) -> dict[str, Choice]:
    from bpdrill.isolation import run_workers
    jobs = [({"task": "bpdrill.explore:probe_task", "files": {name: str(path)},
              "classes": {name: catalog.get(name).class_name}, "lang": i18n.language()},
             [Scenario("probe", "probe", {}, {"exercise": name, "seed": seed})]) for name, path in files.items()]
    outcomes = run_workers(jobs, PROBE_TIMEOUT, os.cpu_count() or 1)
    choices = {}
    for (name, path), outcome in zip(files.items(), outcomes):
        result = (outcome.results or {}).get("probe")
        if outcome.failure or outcome.import_error or result is None or result["error"] is not None:
            error = outcome.import_error or (result or {}).get("error") or {}
            reason = outcome.failure or (t("not started") if error.get("not_implemented") else t(
                "it raised an error on a test input"))
            choices[name] = Choice(name, False, reason, str(path))
            continue
        values = {k: v.array if v.array is not None else v.value for k, v in result["values"].items()}
        try:
            agrees = probe_agrees(name, values, seed)
        except Exception:  # noqa: BLE001 - whatever came back, it is not the reference's answer
            agrees = False
        choices[name] = Choice(name, agrees, t("it matches the reference on a test input") if agrees
                               else t("it differs from the reference on a test input"), str(path))
    return choices


# ---- the experiments (trusted code, run in the worker with the learner's modules) -------------

def _impl(modules: dict, name: str):
    return modules[name] if name in modules else reference_module(name)


def reference_files() -> dict:
    """Where each reference is, for a task's scenarios: a worker that is not forked (and so has
    not inherited them) loads them from there, without importing bpdrill.solutions."""
    from bpdrill.workspace import solution_path
    return {name: str(solution_path(name)) for name in COMPONENTS}


def _weights(modules: dict, scheme: str, width: int, rng, gain: float = 1.0) -> np.ndarray:
    if scheme == "naive":
        return gain * rng.standard_normal((width, width))
    init = _impl(modules, "init")
    draw = init.xavier_normal if scheme == "xavier" else init.kaiming_normal
    return gain * np.asarray(draw(width, width, rng), dtype=np.float64)


class _Net:
    """depth blocks: Linear, [BatchNorm1d], the activation, and (residual) added to the block's
    input; with head=True the last block is a Linear alone (a regression output)."""

    def __init__(self, modules, depth, width, activation, scheme, residual, batchnorm, rng, gain=1.0,
                 head=False):
        self.blocks = []
        for i in range(depth):
            last = head and i == depth - 1
            lin = _impl(modules, "linear").Linear(width, width, rng=rng)
            lin.W, lin.b = _weights(modules, scheme, width, rng, gain), np.zeros(width)
            bn = _impl(modules, "batchnorm").BatchNorm1d(width) if batchnorm and not last else None
            file, cls = ACTIVATIONS[activation]
            act = None if last else getattr(_impl(modules, file), cls)()
            self.blocks.append((lin, bn, act, residual and not last))

    def forward(self, x):
        h = x
        for lin, bn, act, residual in self.blocks:
            z = lin.forward(h)
            if bn is not None:
                z = bn.forward(z)
            a = act.forward(z) if act is not None else z
            h = h + a if residual else a
        return h

    def backward(self, g):
        """Returns the norm of the gradient reaching each Linear's output, first layer first."""
        norms = []
        for lin, bn, act, residual in reversed(self.blocks):
            d = act.backward(g) if act is not None else g
            if bn is not None:
                d = bn.backward(d)
            norms.append(float(np.linalg.norm(d)))
            dx = lin.backward(d)
            g = g + dx if residual else dx
        return np.array(norms[::-1])


def vanishing_task(modules: dict, scenario: Scenario) -> dict:
    p = scenario.params
    _REFERENCE_FILES.update(p.get("references", {}))
    net = _Net(modules, p["depth"], p["width"], p["activation"], p["init"], p["residual"], p["batchnorm"],
               np.random.default_rng(p["seed"]))
    with np.errstate(all="ignore"):
        net.forward(scenario["x"])
        norms = net.backward(scenario["upstream"])
    return {"norms": norms, "dW": np.array([float(np.linalg.norm(b[0].dW)) for b in net.blocks])}


def exploding_task(modules: dict, scenario: Scenario) -> dict:
    p = scenario.params
    _REFERENCE_FILES.update(p.get("references", {}))
    net = _Net(modules, p["depth"], p["width"], "relu", "he", False, False, np.random.default_rng(p["seed"]),
               gain=p["gain"], head=True)
    clip = _impl(modules, "clip_grad_norm").clip_grad_norm
    x, y = scenario["x"], scenario["y"]
    losses, norms = [], []
    with np.errstate(all="ignore"):
        for _ in range(p["steps"]):
            out = net.forward(x)
            losses.append(0.5 * float(np.mean(np.sum((out - y) ** 2, axis=1))))
            if not np.isfinite(losses[-1]):
                break
            net.backward((out - y) / len(x))
            grads = {}
            for i, (lin, _, _, _) in enumerate(net.blocks):
                grads[f"W{i}"], grads[f"b{i}"] = lin.dW, lin.db
            if p["clip"]:
                norms.append(float(clip(grads, p["max_norm"])))
            else:
                norms.append(float(np.sqrt(sum(float(np.sum(g * g)) for g in grads.values()))))
            for i, (lin, _, _, _) in enumerate(net.blocks):
                lin.W = lin.W - p["lr"] * grads[f"W{i}"]
                lin.b = lin.b - p["lr"] * grads[f"b{i}"]
    return {"losses": np.array(losses), "norms": np.array(norms)}


# ---- the trusted side: scenarios, running them, the verdicts ---------------------------------

@dataclass(frozen=True)
class Curve:
    key: str
    activation: str
    init: str
    residual: bool = False
    batchnorm: bool = False

    @property
    def label(self) -> str:
        """The curve's name in the learner's language."""
        return self.english_label.replace(" + residual", " + " + t("residual"))

    @property
    def english_label(self) -> str:
        """The curve's name on a plot (the default fonts have no Chinese)."""
        init = {"naive": "N(0, 1)", "xavier": "Xavier", "he": "He"}[self.init]
        name = {"sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU"}[self.activation]
        extra = (" + residual" if self.residual else "") + (" + BatchNorm" if self.batchnorm else "")
        return f"{name}, {init}{extra}"


CURVES = {c.key: c for c in (
    Curve("sigmoid", "sigmoid", "xavier"), Curve("tanh", "tanh", "xavier"), Curve("relu", "relu", "xavier"),
    Curve("relu_naive", "relu", "naive"), Curve("relu_he", "relu", "he"),
    Curve("sigmoid_residual", "sigmoid", "xavier", residual=True),
    Curve("relu_residual", "relu", "xavier", residual=True),
    Curve("tanh_naive", "tanh", "naive"), Curve("tanh_naive_bn", "tanh", "naive", batchnorm=True),
    Curve("relu_naive_bn", "relu", "naive", batchnorm=True),
)}
# (title, curves) of each panel: one question each
PANELS = (
    ("activation (Xavier init: variance 1/fan_in)", ("sigmoid", "tanh", "relu")),
    ("initialisation (ReLU)", ("relu_naive", "relu", "relu_he")),
    ("residual connections", ("sigmoid", "sigmoid_residual", "relu", "relu_residual")),
    ("BatchNorm (N(0, 1) init)", ("tanh_naive", "tanh_naive_bn", "relu_naive", "relu_naive_bn")),
)


def panel_title(title: str) -> str:
    return {"activation (Xavier init: variance 1/fan_in)": t("activation (Xavier init: variance 1/fan_in)"),
            "initialisation (ReLU)": t("initialisation (ReLU)"),
            "residual connections": t("residual connections"),
            "BatchNorm (N(0, 1) init)": t("BatchNorm (N(0, 1) init)")}[title]


def what_it_shows(key: str, ratio: float, level: float) -> str:
    """One sentence per curve: what it shows (ratio: first layer's norm over the last layer's)."""
    r, v = _num(ratio), _num(level)
    return {
        "sigmoid": t("the first layer gets {ratio} of the last layer's gradient: every sigmoid multiplies it "
                     "by its slope, at most 1/4, so it vanishes layer after layer", ratio=r),
        "tanh": t("tanh's slope is near 1 around 0, so with Xavier init the gradient shrinks only mildly "
                  "(first/last {ratio})", ratio=r),
        "relu": t("ReLU zeroes half the units, and Xavier's variance 1/fan_in does not make up for it: the "
                  "gradient halves in variance at each layer (first/last {ratio})", ratio=r),
        "relu_naive": t("N(0, 1) weights multiply the gradient by about sqrt(fan_in / 2) at each layer: it "
                        "explodes toward the input (first/last {ratio})", ratio=r),
        "relu_he": t("He init (variance 2/fan_in) makes up for the half ReLU zeroes: the gradient keeps its "
                     "size through every layer (first/last {ratio})", ratio=r),
        "sigmoid_residual": t("with x + f(x) the gradient has a path that skips every sigmoid: it no longer "
                              "vanishes (first/last {ratio})", ratio=r),
        "relu_residual": t("the same ReLU layers with x + f(x): the identity path carries the gradient down "
                           "whole and every branch adds to it, so it grows toward the input instead of "
                           "shrinking (first/last {ratio})", ratio=r),
        "tanh_naive": t("N(0, 1) weights saturate most tanh units, but multiply the gradient by about "
                        "sqrt(fan_in) at each layer; the weights win, and it explodes toward the input "
                        "(first/last {ratio})", ratio=r),
        "tanh_naive_bn": t("BatchNorm rescales every pre-activation to variance 1 whatever the weights: tanh "
                           "stays in its linear range (first/last {ratio})", ratio=r),
        "relu_naive_bn": t("BatchNorm divides out the N(0, 1) weights' scale: across the whole depth the "
                           "gradient now changes by a factor {ratio}, around {level}", ratio=r, level=v),
    }[key]


def _num(value: float) -> str:
    if not np.isfinite(value):
        return t("overflow")
    return f"{value:.0e}" if value and (abs(value) >= 1e3 or abs(value) < 1e-2) else f"{value:.3g}"


@dataclass
class Vanishing:
    depth: int
    width: int
    seed: int
    norms: dict = field(default_factory=dict)  # curve key -> (depth,) gradient reaching each Linear
    dW: dict = field(default_factory=dict)  # curve key -> (depth,) ||dW|| of each Linear
    errors: dict = field(default_factory=dict)  # curve key -> what went wrong, in words

    def ratio(self, key: str) -> float:
        """The first layer's gradient norm over the last layer's."""
        n = self.norms[key]
        return float(n[0] / n[-1]) if n[-1] else float("inf")

    def spread(self, key: str) -> float:
        """The largest norm across depth over the smallest."""
        n = self.norms[key]
        return float(n.max() / n.min()) if n.min() > 0 else float("inf")


def _inputs(seed: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([seed, 1])
    return rng.normal(size=(BATCH, width)), rng.normal(size=(BATCH, width)) / BATCH


def _task_job(task: str, choices: dict) -> dict:
    mine = {name: c.file for name, c in choices.items() if c.mine}
    for name in COMPONENTS:
        if name not in mine:
            reference_module(name)  # loaded now, before the fork: the worker cannot read solutions/
    return {"task": f"bpdrill.explore:{task}", "files": mine,
            "classes": {name: catalog.get(name).class_name for name in mine}, "lang": i18n.language()}


def _outcome_values(outcome, scenario: str, files: dict) -> tuple[dict | None, str | None]:
    """(values, None) or (None, what went wrong) for one scenario of a task's worker."""
    from bpdrill.places import place
    if outcome.failure is not None:
        path = which_file(outcome.hang, files.values())
        return None, outcome.failure + (place(path, outcome.hang) if path else "")
    if outcome.import_error is not None:
        return None, error_text(outcome.import_error, files.values())
    result = (outcome.results or {}).get(scenario)
    if result is None:
        return None, t("no answer")
    if result["error"] is not None:
        return None, error_text(result["error"], files.values())
    return {k: (v.array if v.array is not None else v.value) for k, v in result["values"].items()}, None


def which_file(where: dict | None, files) -> str | None:
    """Of a task's learner files, the one with that function at that line (a worker's error or
    hang names the function and the line, not the file)."""
    from bpdrill.places import learner_functions
    if not where or not where.get("function"):
        return None
    for path in files:
        for name, first, last in learner_functions(path):
            if first <= where["line"] <= last and name.split(".")[-1] == where["function"]:
                return path
    return None


def error_text(error: dict, files=()) -> str:
    """An error from a task's worker in one line: type, message, and where."""
    from bpdrill.places import place
    if error.get("not_implemented"):
        text = t("a TODO is not written yet")
    else:
        text = f"{error['type']}: {error['message']}"
    where = error.get("where") or {}
    path = which_file(where, files)
    if path:
        return text + place(path, where)
    if where.get("function"):
        text += " " + t("(in {function}, line {line})", function=where["function"], line=where["line"])
    return text


def run_vanishing(choices: dict, depth: int = 20, width: int = WIDTH, seed: int = 0) -> Vanishing:
    from bpdrill.isolation import run_workers
    x, upstream = _inputs(seed, width)
    scenarios = [Scenario(c.key, "vanishing", {"x": x, "upstream": upstream},
                          {"depth": depth, "width": width, "activation": c.activation, "init": c.init,
                           "residual": c.residual, "batchnorm": c.batchnorm, "seed": seed,
                           "references": reference_files()})
                 for c in CURVES.values()]
    job = _task_job("vanishing_task", choices)
    outcome = run_workers([(job, scenarios)], TASK_TIMEOUT, 1)[0]
    result = Vanishing(depth, width, seed)
    for key in CURVES:
        values, error = _outcome_values(outcome, key, job["files"])
        if error is not None:
            result.errors[key] = error
            continue
        result.norms[key] = np.asarray(values["norms"], dtype=float)
        result.dW[key] = np.asarray(values["dW"], dtype=float)
    return result


@dataclass
class Exploding:
    depth: int
    gain: float
    lr: float
    max_norm: float
    losses: dict = field(default_factory=dict)  # "plain" / "clipped" -> losses per step
    norms: dict = field(default_factory=dict)  # gradient norm before clipping, per step
    errors: dict = field(default_factory=dict)

    def diverged(self, key: str) -> bool:
        losses = self.losses[key]
        return not np.all(np.isfinite(losses)) or losses[-1] > losses[0]

    def trains(self, key: str) -> bool:
        losses = self.losses[key]
        return bool(np.all(np.isfinite(losses)) and losses[-1] < losses[0] / 10)


EXPLODING = {"gain": 1.2, "lr": 0.05, "max_norm": 1.0, "steps": 40}


def run_exploding(choices: dict, depth: int = 20, width: int = WIDTH, seed: int = 0, steps: int | None = None,
                  gain: float | None = None) -> Exploding:
    from bpdrill.isolation import run_workers
    rng = np.random.default_rng([seed, 2])
    x = rng.normal(size=(BATCH, width))
    y = np.tanh(x @ rng.normal(size=(width, width)) / np.sqrt(width))  # a target the network can fit
    settings = {**EXPLODING, **({"steps": steps} if steps else {}), **({"gain": gain} if gain else {})}
    scenarios = [Scenario(key, "exploding", {"x": x, "y": y},
                          {"depth": depth, "width": width, "seed": seed, "clip": key == "clipped",
                           "references": reference_files(), **settings})
                 for key in ("plain", "clipped")]
    job = _task_job("exploding_task", choices)
    outcome = run_workers([(job, scenarios)], TASK_TIMEOUT, 1)[0]
    result = Exploding(depth, settings["gain"], settings["lr"], settings["max_norm"])
    for key in ("plain", "clipped"):
        values, error = _outcome_values(outcome, key, job["files"])
        if error is not None:
            result.errors[key] = error
            continue
        result.losses[key] = np.asarray(values["losses"], dtype=float)
        result.norms[key] = np.asarray(values["norms"], dtype=float)
    return result


# ---- the terminal view ---------------------------------------------------------------------

def _unicode_ok() -> bool:
    encoding = getattr(sys.stdout, "encoding", None) or ""
    return encoding.lower().replace("-", "") in ("utf8", "utf16", "utf32")


COLUMNS = 40  # at most this many bars a row: deeper networks share a bar between layers


def _columns(values: np.ndarray) -> np.ndarray:
    """values, or for more than COLUMNS of them the geometric mean of each run of neighbours."""
    values = np.asarray(values, dtype=float)
    if len(values) <= COLUMNS:
        return values
    with np.errstate(all="ignore"):
        return np.array([np.exp(np.mean(np.log(g))) if np.all(np.isfinite(g) & (g > 0)) else
                         (np.inf if not np.all(np.isfinite(g)) else 0.0)
                         for g in np.array_split(values, COLUMNS)])


def bars(values: np.ndarray, low: float, high: float) -> str:
    """One character per value (per run of values beyond COLUMNS), its height on a log scale
    from low to high."""
    values = _columns(values)
    ramp = "▁▂▃▄▅▆▇█" if _unicode_ok() else "_.-:=+*#"
    span = math.log10(high) - math.log10(low) if high > low > 0 else 0.0
    out = []
    for v in values:
        if not np.isfinite(v) or v <= 0:
            out.append("!" if not np.isfinite(v) else " ")
            continue
        level = 0 if span == 0 else (math.log10(v) - math.log10(low)) / span
        out.append(ramp[min(len(ramp) - 1, max(0, int(round(level * (len(ramp) - 1)))))])
    return "".join(out)


def render_vanishing(result: Vanishing) -> str:
    lines = [t("The gradient reaching each of {depth} layers at initialisation (width {width}, batch {batch}, "
               "seed {seed}), first layer on the left; log scale per panel.", depth=result.depth,
               width=result.width, batch=BATCH, seed=result.seed)]
    for title, keys in PANELS:
        shown = [k for k in keys if k in result.norms]
        values = np.concatenate([result.norms[k] for k in shown]) if shown else np.array([])
        finite = values[np.isfinite(values) & (values > 0)]
        low, high = (finite.min(), finite.max()) if finite.size else (1.0, 1.0)
        lines.append("")
        lines.append(f"{panel_title(title)}   [{_num(low)} .. {_num(high)}]")
        for key in keys:
            label = CURVES[key].label
            if key in result.errors:
                lines.append(f"  {label:<27} " + t("could not run: {error}", error=result.errors[key]))
                continue
            norms = result.norms[key]
            lines.append(f"  {label:<27} {bars(norms, low, high)}  " +
                         t("first/last {ratio}", ratio=_num(result.ratio(key))))
            lines.append("      " + what_it_shows(key, result.ratio(key), float(np.median(norms))))
    return "\n".join(lines)


def render_exploding(result: Exploding) -> str:
    lines = [t("ReLU network, {depth} layers, He init times {gain}, plain SGD (lr {lr}); loss per step, log "
               "scale:", depth=result.depth, gain=result.gain, lr=result.lr)]
    labels = {"plain": t("without clipping"), "clipped": t("clip_grad_norm({max_norm})", max_norm=result.max_norm)}
    for key in ("plain", "clipped"):
        if key in result.errors:
            lines.append(f"  {labels[key]:<22} " + t("could not run: {error}", error=result.errors[key]))
            continue
        losses = result.losses[key]
        finite = losses[np.isfinite(losses) & (losses > 0)]  # each row on its own log scale
        low, high = (finite.min(), finite.max()) if finite.size else (1.0, 1.0)
        lines.append(f"  {labels[key]:<22} {bars(losses, low, high)}  " +
                     t("loss {first} -> {last}", first=_num(losses[0]), last=_num(losses[-1])))
        lines.append("      " + exploding_sentence(result, key))
    return "\n".join(lines)


def exploding_sentence(result: Exploding, key: str) -> str:
    norms = result.norms[key]
    first = _num(norms[0]) if norms.size else "-"
    if key == "plain":
        if result.diverged(key):
            step = int(np.argmax(~np.isfinite(result.losses[key]))) if not np.all(
                np.isfinite(result.losses[key])) else len(result.losses[key])
            return t("a gradient of norm {norm} makes one step far too long: the loss diverges (overflow at "
                     "step {step})", norm=first, step=step)
        return t("with these settings the loss did not diverge (gradient norm {norm} at the start)", norm=first)
    if result.trains(key):
        return t("the same gradients, rescaled to norm {max_norm}: every step is short, and the loss falls",
                 max_norm=result.max_norm)
    losses = result.losses[key]
    return t("clipped, the loss went from {first} to {last}: with weights this small there is little to "
             "rescue (the default --gain is {gain})", first=_num(losses[0]), last=_num(losses[-1]),
             gain=EXPLODING["gain"])
