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

Learner code runs only in a worker (bpdrill.grading.isolation), in the experiments of
bpdrill.explore.tasks; the curves, what each shows and the terminal's bars are in
bpdrill.explore.curves.
"""
from __future__ import annotations

import importlib.util
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bpdrill import catalog, i18n
from bpdrill.explore.curves import CURVES, PANELS, short_number, bars, panel_title, what_it_shows
from bpdrill.explore.tasks import COMPONENTS, probe_agrees, reference_files, reference_module
from bpdrill.i18n import t
from bpdrill.core.protocol import Scenario

TASK_TIMEOUT = 60.0  # seconds for an exploration's worker (a check's default is 5)
PROBE_TIMEOUT = 5.0  # seconds for one file's comparison with the reference
WIDTH = 64
BATCH = 64


# ---- which implementation: the learner's, or the reference -----------------------------------

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
    from bpdrill.grading import refcache, runner
    from bpdrill.practice import workspace
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

def _probe_all(files: dict, seed: int) -> dict[str, Choice]:
    from bpdrill.grading.isolation import run_workers
    jobs = [({"task": "bpdrill.explore.tasks:probe_task", "files": {name: str(path)},
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


# ---- the experiments: their scenarios, running them in a worker, the results ----------------

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
    return {"task": f"bpdrill.explore.tasks:{task}", "files": mine,
            "classes": {name: catalog.get(name).class_name for name in mine}, "lang": i18n.language()}


def _outcome_values(outcome, scenario: str, files: dict) -> tuple[dict | None, str | None]:
    """(values, None) or (None, what went wrong) for one scenario of a task's worker."""
    from bpdrill.core.places import place
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
    from bpdrill.core.places import learner_functions
    if not where or not where.get("function"):
        return None
    for path in files:
        for name, first, last in learner_functions(path):
            if first <= where["line"] <= last and name.split(".")[-1] == where["function"]:
                return path
    return None


def error_text(error: dict, files=()) -> str:
    """An error from a task's worker in one line: type, message, and where."""
    from bpdrill.core.places import place
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


def _run_task(task: str, choices: dict, scenarios: list, result, arrays: tuple[str, ...]):
    """result, filled from one worker running the task's scenarios: for each scenario, each of
    the arrays it answers (a dict of result's, by scenario name), or in result.errors what went
    wrong."""
    from bpdrill.grading.isolation import run_workers
    job = _task_job(task, choices)
    outcome = run_workers([(job, scenarios)], TASK_TIMEOUT, 1)[0]
    for scenario in scenarios:
        values, error = _outcome_values(outcome, scenario.name, job["files"])
        if error is not None:
            result.errors[scenario.name] = error
            continue
        for name in arrays:
            getattr(result, name)[scenario.name] = np.asarray(values[name], dtype=float)
    return result


def run_vanishing(choices: dict, depth: int = 20, width: int = WIDTH, seed: int = 0) -> Vanishing:
    x, upstream = _inputs(seed, width)
    scenarios = [Scenario(c.key, "vanishing", {"x": x, "upstream": upstream},
                          {"depth": depth, "width": width, "activation": c.activation, "init": c.init,
                           "residual": c.residual, "batchnorm": c.batchnorm, "seed": seed,
                           "references": reference_files()})
                 for c in CURVES.values()]
    return _run_task("vanishing_task", choices, scenarios, Vanishing(depth, width, seed), ("norms", "dW"))


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
    rng = np.random.default_rng([seed, 2])
    x = rng.normal(size=(BATCH, width))
    y = np.tanh(x @ rng.normal(size=(width, width)) / np.sqrt(width))  # a target the network can fit
    settings = {**EXPLODING, **({"steps": steps} if steps else {}), **({"gain": gain} if gain else {})}
    scenarios = [Scenario(key, "exploding", {"x": x, "y": y},
                          {"depth": depth, "width": width, "seed": seed, "clip": key == "clipped",
                           "references": reference_files(), **settings})
                 for key in ("plain", "clipped")]
    return _run_task("exploding_task", choices, scenarios,
                     Exploding(depth, settings["gain"], settings["lr"], settings["max_norm"]), ("losses", "norms"))


# ---- the terminal view ---------------------------------------------------------------------

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
        lines.append(f"{panel_title(title)}   [{short_number(low)} .. {short_number(high)}]")
        for key in keys:
            label = CURVES[key].label
            if key in result.errors:
                lines.append(f"  {label:<27} " + t("could not run: {error}", error=result.errors[key]))
                continue
            norms = result.norms[key]
            lines.append(f"  {label:<27} {bars(norms, low, high)}  " +
                         t("first/last {ratio}", ratio=short_number(result.ratio(key))))
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
                     t("loss {first} -> {last}", first=short_number(losses[0]), last=short_number(losses[-1])))
        lines.append("      " + exploding_sentence(result, key))
    return "\n".join(lines)


def exploding_sentence(result: Exploding, key: str) -> str:
    norms = result.norms[key]
    first = short_number(norms[0]) if norms.size else "-"
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
             "rescue (the default --gain is {gain})", first=short_number(losses[0]), last=short_number(losses[-1]),
             gain=EXPLODING["gain"])
