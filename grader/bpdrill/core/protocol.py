"""What passes between the trusted side and the worker, and nothing else.

The trusted side writes a job into a fresh folder: job.json (the exercise, the learner's
file, the scenarios' names, modes and plain parameters, the limits) and inputs.npz (the
hidden arrays). The worker answers with result.json (per scenario: an error, or a
description of each value) and outputs.npz (the arrays). Plain JSON and .npz with
allow_pickle=False, never a pickle: what comes back is data, whatever the learner wrote.

One module owns both directions, so the runner and the worker never parse each other's
format by hand, and a malformed or partial answer is refused here with one clear reason.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np

from bpdrill.i18n import t

MEMORY_LIMIT = 2 * 1024**3  # bytes of address space for a worker (NumPy alone maps ~0.5 GiB)

JOB, INPUTS, RESULT, OUTPUTS = "job.json", "inputs.npz", "result.json", "outputs.npz"
KINDS = ("array", "scalar", "none", "bool", "text", "other")


@dataclass(frozen=True)
class Scenario:
    """Hidden inputs for one worker run: arrays and plain (JSON) parameters.

    On the trusted side the arrays are read as they are; in the worker, `s[key]` hands the
    learner a fresh copy each time, so the grader's inputs stay pristine.
    """
    name: str
    mode: str
    arrays: dict
    params: dict = field(default_factory=dict)

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key].copy()

    def __contains__(self, key: str) -> bool:
        return key in self.arrays

    def keys_with_prefix(self, prefix: str) -> list[str]:
        return sorted(k[len(prefix):] for k in self.arrays if k.startswith(prefix))


class ProtocolError(Exception):
    """The worker's answer is not what the protocol allows (malformed, partial, wrong keys)."""


# ---- the job: trusted side -> worker ------------------------------------------------------

def write_job(folder: str, exercise: str, file: str, class_name: str, scenarios: list[Scenario],
              lang: str, limits: dict | None = None, **extra) -> None:
    """extra: more plain fields of the job (a task job's "task", "files", "classes")."""
    job = {"exercise": exercise, "file": str(file), "class": class_name, "lang": lang, "limits": limits,
           "scenarios": [{"name": s.name, "mode": s.mode, "params": s.params} for s in scenarios], **extra}
    with open(os.path.join(folder, JOB), "w", encoding="utf-8") as f:
        json.dump(job, f)
    np.savez(os.path.join(folder, INPUTS),
             **{f"{s.name}/{k}": v for s in scenarios for k, v in s.arrays.items()})


def read_job(folder: str) -> tuple[dict, list[Scenario]]:
    """(job, scenarios) as the worker sees them."""
    with open(os.path.join(folder, JOB), encoding="utf-8") as f:
        job = json.load(f)
    with np.load(os.path.join(folder, INPUTS), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    scenarios = []
    for spec in job["scenarios"]:
        prefix = spec["name"] + "/"
        inputs = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        scenarios.append(Scenario(spec["name"], spec["mode"], inputs, spec["params"]))
    return job, scenarios


# ---- the result: worker -> trusted side ---------------------------------------------------

@dataclass
class Value:
    """One raw result from the worker: an array, a number, None, a flag, or a description."""
    kind: str  # one of KINDS
    array: np.ndarray | None = None
    value: object = None
    desc: str = ""

    def describe(self) -> str:
        if self.kind == "array":
            return t("a {dtype} array of shape {shape}", dtype=self.array.dtype, shape=self.array.shape)
        if self.kind == "scalar":
            return t("the number {value}", value=float(self.array))
        if self.kind == "none":
            return "None"
        if self.kind in ("bool", "text"):
            return repr(self.value)
        return self.desc


def describe(value) -> str:
    """What a value is, in a learner's words: 'a list of 3 items', 'a float32 array of shape (3, 5)'."""
    if isinstance(value, np.ndarray):
        kind = t("a {dtype} array of shape {shape}", dtype=value.dtype, shape=value.shape)
        if type(value) is not np.ndarray:
            kind += t(" (a {type}, an ndarray subclass)", type=f"{type(value).__module__}.{type(value).__name__}")
        return kind
    if isinstance(value, (list, tuple)):
        return t("a {type} of {count} items", type=type(value).__name__, count=len(value))
    if value is None:
        return "None"
    name = f"{type(value).__module__}.{type(value).__qualname__}"
    return t("a {type}", type=name[len("builtins."):] if name.startswith("builtins.") else name)


class Encoder:
    """Turns a driver's results into JSON-able descriptions plus arrays for the .npz file."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}

    def _ref(self, array: np.ndarray) -> str:
        ref = f"a{len(self.arrays)}"
        self.arrays[ref] = array
        return ref

    def encode(self, value) -> dict:
        if isinstance(value, (bool, np.bool_)):
            return {"kind": "bool", "value": bool(value)}
        if isinstance(value, str):
            return {"kind": "text", "value": value[:2000]}
        if value is None:
            return {"kind": "none"}
        if type(value) is np.ndarray and value.dtype.kind in "fiucb":
            return {"kind": "array", "ref": self._ref(np.array(value))}
        if isinstance(value, (int, float, np.integer, np.floating)):
            try:
                number = float(value)
            except (OverflowError, ValueError):  # an int too large for a float
                return {"kind": "other", "desc": t("an integer too large for a float")}
            return {"kind": "scalar", "ref": self._ref(np.array(number))}
        return {"kind": "other", "desc": describe(value)}


def write_result(folder: str, result: dict, arrays: dict, savez=np.savez, dump=json.dump,
                 replace=os.replace) -> None:
    """Write atomically (temporary names, then rename): a half-written answer is never read.

    savez, dump and replace may be the real functions saved before learner code ran.
    """
    tmp = os.path.join(folder, "outputs.tmp.npz")
    savez(tmp, **arrays)
    replace(tmp, os.path.join(folder, OUTPUTS))
    tmp = os.path.join(folder, "result.tmp.json")
    with open(tmp, "w", encoding="utf-8") as f:
        dump(result, f)
    replace(tmp, os.path.join(folder, RESULT))


def has_result(folder: str) -> bool:
    return os.path.exists(os.path.join(folder, RESULT))


def read_result(folder: str, scenario_names: list[str]) -> tuple[dict | None, dict]:
    """(import_error, {scenario: {"error": dict | None, "values": {key: Value}}}).

    Raises ProtocolError when the answer is malformed: not JSON, wrong keys, a reference to
    an array that is not there, a scenario missing or one that was never asked for.
    """
    try:
        with open(os.path.join(folder, RESULT), encoding="utf-8") as f:
            result = json.load(f)
        with np.load(os.path.join(folder, OUTPUTS), allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise ProtocolError(t("its result could not be read ({error})", error=type(exc).__name__)) from None
    return decode_result(result, arrays, scenario_names)


def decode_result(result, arrays: dict, scenario_names: list[str]) -> tuple[dict | None, dict]:
    """read_result's checks and decoding, for a result already in memory."""
    if not isinstance(result, dict) or set(result) != {"import_error", "scenarios"}:
        raise ProtocolError(t("its result has the wrong layout"))
    import_error = result["import_error"]
    if import_error is not None:
        return _error_record(import_error), {}
    scenarios = result["scenarios"]
    if not isinstance(scenarios, dict) or set(scenarios) != set(scenario_names):
        raise ProtocolError(t("its result does not answer the scenarios it was given"))
    return None, {name: _decode_scenario(scenarios[name], arrays) for name in scenario_names}


def _error_record(error) -> dict:
    if not isinstance(error, dict) or not isinstance(error.get("type"), str) or \
            not isinstance(error.get("message"), str):
        raise ProtocolError(t("its result has the wrong layout"))
    where = error.get("where")
    if where is not None and not (isinstance(where, dict) and isinstance(where.get("line"), int)):
        raise ProtocolError(t("its result has the wrong layout"))
    return {"type": error["type"], "message": error["message"], "where": where,
            "traceback": str(error.get("traceback", "")), "not_implemented": bool(error.get("not_implemented"))}


def _decode_scenario(scenario, arrays: dict) -> dict:
    if not isinstance(scenario, dict) or not isinstance(scenario.get("values"), dict):
        raise ProtocolError(t("its result has the wrong layout"))
    error = scenario.get("error")
    values = {}
    for key, v in scenario["values"].items():
        if not isinstance(v, dict) or v.get("kind") not in KINDS:
            raise ProtocolError(t("its result has the wrong layout"))
        if v["kind"] in ("array", "scalar"):
            array = arrays.get(v.get("ref"))
            if array is None:
                raise ProtocolError(t("its result names arrays that are not there"))
            values[key] = Value(v["kind"], array=array)
        else:
            values[key] = Value(v["kind"], value=v.get("value"), desc=str(v.get("desc", "")))
    return {"error": None if error is None else _error_record(error), "values": values}
