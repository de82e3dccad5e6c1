"""The worker: the only code that imports a learner's file. Runs in its own process.

    python -m bpdrill.grading.worker JOB_DIR

The job folder holds what bpdrill.core.protocol writes: the exercise, the learner's file, the
scenarios. The worker runs each scenario through the exercise's `drive` and answers with
plain data through the same protocol (what came back, errors, arrays). Nothing is pickled;
the trusted side judges.
"""
from __future__ import annotations

import faulthandler
import importlib
import importlib.abc
import importlib.util
import json
import os
import sys
import traceback

import numpy as np

from bpdrill import i18n
from bpdrill.core import protocol
from bpdrill.grading import registry, tracer
from bpdrill.i18n import t

# Learner files must compute their own gradients: these packages (and everything in them)
# are refused. Autodiff libraries, and our reference solutions.
FORBIDDEN_PACKAGES = ("torch", "jax", "tensorflow", "autograd", "solutions", "bpdrill.solutions")


class ForbiddenImport(ImportError):
    pass


def _forbidden(fullname: str) -> str | None:
    """The forbidden package fullname belongs to, or None."""
    return next((p for p in FORBIDDEN_PACKAGES if fullname == p or fullname.startswith(p + ".")), None)


class _RefuseForbidden(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        package = _forbidden(fullname)
        if package is not None:
            raise ForbiddenImport(
                t("importing {module} is not allowed in an exercise: compute the gradients yourself",
                  module=package))
        return None


def error_record(exc: BaseException, learner_file: str) -> dict:
    """An exception in the learner's terms: type, message, where in their file, their frames."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.abspath(f.filename) == learner_file]
    where = None
    if isinstance(exc, SyntaxError) and exc.filename and os.path.abspath(exc.filename) == learner_file:
        where = {"line": exc.lineno, "function": None, "code": (exc.text or "").strip()}
    elif frames:
        f = frames[-1]
        where = {"line": f.lineno, "function": f.name, "code": (f.line or "").strip()}
    message = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    return {
        "type": type(exc).__name__,
        "message": message[:2000],
        "where": where,
        "traceback": "".join(traceback.format_list(frames))[-4000:],
        "not_implemented": isinstance(exc, NotImplementedError) and bool(frames),
    }


def _numpy_namespaces() -> dict:
    return {"numpy": np, "numpy.linalg": np.linalg, "numpy.random": np.random}


def _trusted_namespaces() -> dict:
    """numpy's public faces and every module of ours loaded now (the drivers, the exercises'
    checks, the protocol): what a learner file could patch to make a trusted driver lie."""
    spaces = {space: (module, True) for space, module in _numpy_namespaces().items()}
    spaces.update({name: (module, False) for name, module in list(sys.modules.items())
                   if module is not None and (name == "bpdrill" or name.startswith("bpdrill."))})
    return spaces


def _faces(value) -> tuple:
    """What a function or class can be changed in without being replaced: its code, defaults,
    and (for a class of ours) its own attributes."""
    code = getattr(value, "__code__", None)
    if code is not None:
        return (code, getattr(value, "__defaults__", None), getattr(value, "__kwdefaults__", None))
    if isinstance(value, type) and value.__module__.startswith("bpdrill"):
        return tuple(sorted(((k, id(v)) for k, v in vars(value).items()), key=lambda kv: kv[0]))
    return ()


def numpy_snapshot() -> dict:
    """What numpy's public names and our own modules' names refer to (and the code of our
    functions), to notice a learner file that replaces or rewrites any of them."""
    snapshot = {}
    for space, (module, public_only) in _trusted_namespaces().items():
        for name, value in list(vars(module).items()):
            if public_only and name.startswith("_"):
                continue
            if not public_only and name.startswith("__"):
                continue
            snapshot[(space, name)] = (value, _faces(value)) if not public_only else (value, ())
    return snapshot


def numpy_changes(before: dict) -> list[str]:
    spaces = _trusted_namespaces()
    changed = []
    for (space, name), (value, faces) in before.items():
        module = spaces.get(space, (None, True))[0]
        now = vars(module).get(name, _MISSING) if module is not None else _MISSING
        if now is not value or (faces and _faces(now) != faces):
            changed.append(f"{space}.{name}")
    return sorted(changed)[:3]


_MISSING = object()


class NumpyTampered(Exception):
    """The learner's file replaced part of numpy (np.allclose = ...) or of the grader's code."""


def load_learner_module(path: str, class_name: str):
    spec = importlib.util.spec_from_file_location(f"bpdrill_learner_{class_name.lower()}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    if not hasattr(module, class_name):
        raise AttributeError(t("{file} defines no class {name}", file=os.path.basename(path), name=class_name))
    return module


def resolve_task(spec: str):
    """The trusted function a task job names, "module:function" (imported before the fork)."""
    module_name, _, function = spec.partition(":")
    module = sys.modules.get(module_name) or importlib.import_module(module_name)
    return getattr(module, function)


def _at_fault(exc: BaseException, files: list[str]) -> str:
    """Of several learner files, the one holding the innermost frame of exc (else the first)."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if os.path.abspath(frame.filename) in files:
            return os.path.abspath(frame.filename)
    return files[0] if files else ""


def run_job(job: dict, scenarios: list, numpy_before: dict | None = None) -> tuple[dict, dict]:
    """Run every scenario of a job; returns (result, arrays) ready to be written.

    A job is one exercise's `drive` on one learner file ("exercise", "file", "class"), or a
    task: a trusted function ("task": "module:function") given several learner modules
    ("files" and "classes", keyed by exercise), called as task(modules, scenario).
    numpy_before: numpy_snapshot() from before the learner's import, to refuse results
    computed after the file replaced part of numpy.
    """
    encoder = protocol.Encoder()
    result = {"import_error": None, "scenarios": {}}
    if job.get("task"):
        task = resolve_task(job["task"])  # trusted, found before the learner's files are imported
        files = {name: os.path.abspath(path) for name, path in job["files"].items()}
        classes = job["classes"]
    else:
        unit = registry.get(job["exercise"])  # imported before the learner's file: it cannot replace it
        drive = unit.drive  # bound now; what it calls (kinds, checks, drivers) is in the trusted snapshot
        files = {job["exercise"]: os.path.abspath(job["file"])}
        classes = {job["exercise"]: job["class"]}
    modules = {}
    for name, path in files.items():
        try:
            modules[name] = load_learner_module(path, classes[name])
        except BaseException as exc:  # noqa: BLE001 - anything the learner's import does is reported
            result["import_error"] = error_record(exc, path)
            return result, encoder.arrays
    paths = list(files.values())
    for scenario in scenarios:
        tracer = _tracer(paths[0]) if job.get("trace") and not job.get("task") else None
        try:
            if job.get("task"):
                values = task(modules, scenario)
            elif tracer is not None:  # which statement computed what: where a wrong value starts
                values = tracer.run(lambda: drive(modules[job["exercise"]], scenario))
            else:
                values = drive(modules[job["exercise"]], scenario)
            encoded = {k: encoder.encode(v) for k, v in values.items()}
        except BaseException as exc:  # noqa: BLE001 - one scenario's failure is that scenario's
            result["scenarios"][scenario.name] = {"error": error_record(exc, _at_fault(exc, paths)),
                                                  "values": {}}
            continue
        result["scenarios"][scenario.name] = {"error": None, "values": encoded}
        if tracer is not None:
            result["scenarios"][scenario.name]["trace"] = [
                {"line": line, "refs": [encoder.encode(v)["ref"] for v in values], "call": call, "parent": parent}
                for line, values, call, parent in tracer.events]
    if numpy_before is not None:
        changed = numpy_changes(numpy_before)
        if changed:  # results computed with a patched numpy cannot be trusted: none count
            exc = NumpyTampered(
                t("the exercise file replaced {names}: changing the grader's code is not allowed in an exercise",
                  names=", ".join(changed)) if any(c.startswith("bpdrill") for c in changed) else
                t("the exercise file replaced {names}: changing numpy is not allowed in an exercise",
                  names=", ".join(changed)))
            result = {"import_error": error_record(exc, paths[0] if paths else ""), "scenarios": {}}
    return result, encoder.arrays


def _tracer(path: str) -> tracer.Tracer | None:
    try:
        with open(path, encoding="utf-8") as f:
            return tracer.Tracer(path, f.read())
    except (OSError, SyntaxError, ValueError):
        return None


def apply_limits(limits: dict, job_dir: str) -> None:
    """Memory and CPU limits for this process, and a report of where it is when time runs out."""
    import resource
    # The limit is on top of what the process already maps (a forked worker starts with the
    # grader's NumPy): a huge allocation raises MemoryError, an ordinary one never does.
    memory = _mapped_bytes() + int(limits["memory"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # No file written larger than an answer may be (the job folder would fill the disk).
    resource.setrlimit(resource.RLIMIT_FSIZE, (protocol.RESULT_CAP, protocol.RESULT_CAP))
    cpu = int(limits["seconds"]) + 2
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU, should the clock fail
    # When the wall-clock limit passes, write every thread's stack (where the learner's code
    # is stuck, even inside C) and exit; the parent kills the process group soon after anyway.
    dump = open(os.path.join(job_dir, "timeout.txt"), "w")  # noqa: SIM115 - open until exit
    faulthandler.dump_traceback_later(limits["seconds"], exit=True, file=dump)


def _mapped_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def serve(job: dict, scenarios: list, job_dir: str) -> int:
    """Everything the worker does once it is in its own process: limits, import guard, run, answer."""
    i18n.set_language(job.get("lang", "en"))  # before any learner code runs: the table is read now
    # Keep the real functions before learner code can patch them.
    savez, dump, replace = np.savez, json.dump, os.replace
    if job.get("limits"):
        apply_limits(job["limits"], job_dir)
    # A forbidden package already loaded (a process that computed references in-process, as the
    # project's tests do, then forked) must be imported again, through the refusing finder.
    for loaded in [m for m in sys.modules if _forbidden(m)]:
        del sys.modules[loaded]
    sys.meta_path.insert(0, _RefuseForbidden())
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 3000))
    result, out_arrays = run_job(job, scenarios, numpy_snapshot())
    faulthandler.cancel_dump_traceback_later()
    protocol.write_result(job_dir, result, out_arrays, savez=savez, dump=dump, replace=replace)
    return 0


def main(job_dir: str) -> int:
    """A worker started as its own interpreter (where fork is not available)."""
    job, scenarios = protocol.read_job(job_dir)
    return serve(job, scenarios, job_dir)


if __name__ == "__main__":
    sys.stdout.flush()
    os._exit(main(sys.argv[1]))
