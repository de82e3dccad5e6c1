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

import errno
import json
import os
import re
import stat
from dataclasses import dataclass, field

import numpy as np

from bpdrill.i18n import t

MEMORY_LIMIT = 2 * 1024**3  # bytes of address space for a worker (NumPy alone maps ~0.5 GiB)

JOB, INPUTS, RESULT, OUTPUTS = "job.json", "inputs.npz", "result.json", "outputs.npz"
RESULT_CAP = 64 * 1024**2  # bytes read of each answer file at most: a worker cannot make us read more
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


# Characters a terminal, a page or a notebook would act on rather than show: C0 controls but
# tab and newline (ESC starts every escape sequence; CR overwrites a line), DEL, C1 controls,
# and the invisible or reordering ones of Unicode (zero widths, line separators, bidi).
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def visible(text: str) -> str:
    """text with every control character and escape sequence made visible as an escape
    (ESC becomes the four characters \\x1b): what learner code printed or raised is shown as
    text, never interpreted."""
    if not isinstance(text, str):
        text = str(text)
    return _INVISIBLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                          else f"\\u{ord(m.group()):04x}", text)


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


class NotAFile(OSError):
    """An answer file that is a link, a FIFO, a device or a folder, or larger than allowed."""


def read_bounded(path: str, limit: int = RESULT_CAP) -> bytes:
    """The bytes of a regular file the worker wrote, never following a link, never blocking on
    a FIFO, never reading past limit: NotAFile (an OSError) for anything else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK):
            raise NotAFile(t("a link where a file belongs")) from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotAFile(t("not a regular file"))
        if info.st_size > limit:
            raise NotAFile(t("larger than {size} MB", size=limit // 1024**2))
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise NotAFile(t("larger than {size} MB", size=limit // 1024**2))
        return b"".join(chunks)
    finally:
        os.close(fd)


def has_result(folder: str) -> bool:
    return os.path.lexists(os.path.join(folder, RESULT))


def read_result(folder: str, scenario_names: list[str]) -> tuple[dict | None, dict]:
    """(import_error, {scenario: {"error": dict | None, "values": {key: Value}}}).

    Raises ProtocolError when the answer is malformed: not JSON, wrong keys, a reference to
    an array that is not there, a scenario missing or one that was never asked for; or when
    an answer file is not a regular file of bounded size (a FIFO, a link to /dev/zero).
    """
    import io
    try:
        result = json.loads(read_bounded(os.path.join(folder, RESULT)).decode("utf-8"))
        with np.load(io.BytesIO(read_bounded(os.path.join(folder, OUTPUTS))), allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except NotAFile as exc:
        raise ProtocolError(t("its result file was refused ({reason})", reason=exc)) from None
    except (OSError, ValueError, EOFError, RecursionError) as exc:
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
    if where is not None:
        where = {**where, "code": visible(where.get("code") or ""),
                 "function": None if where.get("function") is None else visible(where["function"])}
    return {"type": visible(error["type"]), "message": visible(error["message"]), "where": where,
            "traceback": visible(error.get("traceback", "")), "not_implemented": bool(error.get("not_implemented"))}


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
    return {"error": None if error is None else _error_record(error), "values": values,
            "trace": _decode_trace(scenario.get("trace"), arrays)}


def _decode_trace(trace, arrays: dict) -> list | None:
    """A traced run's statements, [(line, [arrays], call, parent)] in the order they finished
    (bpdrill.grading.tracer); None untraced."""
    if trace is None:
        return None
    if not isinstance(trace, list):
        raise ProtocolError(t("its result has the wrong layout"))
    events = []
    for event in trace:
        if not (isinstance(event, dict) and isinstance(event.get("line"), int) and isinstance(event.get("refs"), list)
                and isinstance(event.get("call"), int) and isinstance(event.get("parent"), int)):
            raise ProtocolError(t("its result has the wrong layout"))
        values = [arrays.get(ref) if isinstance(ref, str) else None for ref in event["refs"]]
        if any(v is None for v in values):
            raise ProtocolError(t("its result names arrays that are not there"))
        events.append((event["line"], values, event["call"], event["parent"]))
    return events
