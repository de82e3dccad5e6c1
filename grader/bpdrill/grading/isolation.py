"""Running learner code in worker processes: limits, sandbox, process groups, captured output.

Learner code never runs in the grader's process. Each job runs in a worker forked from the
grader (which has NumPy and the grader already imported, and never torch), so a worker costs
milliseconds rather than an interpreter start. Before any learner code runs, the worker:
- leaves the grader's session (its own process group, killed as one with all it started),
- reads no stdin and writes stdout and stderr into pipes the grader drains and trims,
- closes every other descriptor it inherited, runs in a fresh temporary folder with a
  scrubbed environment,
- where Linux offers Landlock without privileges, can read only the interpreter, its
  libraries and the learner's workspace, and write only its temporary folder: the kit's
  solutions, the practice history and the grader's own stdout (/proc/PPID/fd/1) are out of
  its reach,
- runs under a wall-clock, CPU and memory limit.
Whatever happens there comes back as a WorkerOutcome: plain data, never a pickled object.
Up to `parallel` workers run at once; one thread of the grader waits for them all.
"""
from __future__ import annotations

import importlib
import io
import os
import re
import select
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bpdrill.core import protocol
from bpdrill.grading import registry, worker  # imported by the zygote before it forks
from bpdrill.i18n import t
from bpdrill.core.protocol import MEMORY_LIMIT
from bpdrill.grading import zygote_client

OUTPUT_CAP = 16 * 1024  # bytes kept of each of the learner's stdout and stderr
KILL_GRACE = 1.5  # seconds between the worker's own timeout report and a hard kill

_live: set = set()  # process groups of the workers running now, so an interrupt can end them all


@dataclass
class WorkerOutcome:
    import_error: dict | None = None  # the learner's file could not be imported
    results: dict | None = None  # scenario -> {"error", "values"}, decoded by bpdrill.core.protocol
    output: str = ""  # what the learner's code printed (stdout then stderr), trimmed
    failure: str | None = None  # why there is no result: timed out, crashed, malformed ...
    hang: dict | None = None  # for a timeout: where the learner's code was (line, function)


class _Capped:
    """One of the worker's output pipes, drained to its end, keeping only OUTPUT_CAP bytes."""

    def __init__(self, fd: int):
        self.fd, self.kept, self.total = fd, bytearray(), 0
        os.set_blocking(fd, False)

    def drain(self) -> bool:
        """Read what is there; False at the end of the pipe."""
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:
                return False
            self.total += len(chunk)
            if len(self.kept) < OUTPUT_CAP:
                self.kept += chunk[: OUTPUT_CAP - len(self.kept)]

    def text(self) -> str:
        text = self.kept.decode("utf-8", errors="replace")  # bytes that are not UTF-8 become U+FFFD
        text = protocol.visible(text)  # ESC[2J and the like shown as text, never acted on
        if self.total > len(self.kept):
            text += "\n" + t("... ({count} more bytes not shown)", count=self.total - len(self.kept)) + "\n"
        return text


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        extra = {"SIGSEGV": t(" (a segmentation fault)"), "SIGKILL": t(" (killed)"), "SIGABRT": t(" (aborted)"),
                 "SIGXCPU": t(" (over its CPU time limit)"), "SIGBUS": t(" (a bus error)"),
                 "SIGXFSZ": t(" (it wrote a file larger than {size} MB)", size=protocol.RESULT_CAP // 1024**2)}.get(name, "")
        return t("the exercise crashed the worker with {signal}{extra}", signal=name, extra=extra)
    return t("the exercise file ended the worker (exit status {code}) before it could report", code=code)


def learner_files(job: dict) -> list[str]:
    """The learner's files a job imports: its "file", or a task's "files"."""
    return list(job["files"].values()) if "files" in job else [job["file"]]


def _hang_location(dump: str, learner_file) -> dict | None:
    """The innermost frame in the learner's file (or files) of faulthandler's dump of the main thread."""
    files = {learner_file} if isinstance(learner_file, str) else set(learner_file)
    frames = re.findall(r'File "(.+?)", line (\d+) in (\S+)', dump)
    for filename, line, function in frames:  # faulthandler lists the innermost frame first
        if os.path.abspath(filename) in files:
            return {"line": int(line), "function": function}
    return None


def _clean_environment(job_dir: str) -> dict:
    """What a worker may see of the environment: no BPDRILL_*, no PYTHON*, no secrets."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
    return {**keep, "HOME": job_dir, "TMPDIR": job_dir, "PYTHONDONTWRITEBYTECODE": "1",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# ---- the sandbox ---------------------------------------------------------------------------

def _readable_roots(learner_file) -> list[str]:
    """What a worker may read: the interpreter and its libraries (never bpdrill's own folder,
    where the solutions are), system libraries, and the learner's workspace."""
    kit = Path(__file__).resolve().parents[3]  # a clone's root, or site-packages for a wheel
    package = Path(__file__).resolve().parents[1]
    files = [learner_file] if isinstance(learner_file, str) else learner_file
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, "/usr", "/lib", "/lib64", "/bin", "/etc",
             *(os.path.dirname(f) for f in files)}
    roots.update(p for p in sys.path if p and os.path.isdir(p))
    readable = []
    for root in sorted(roots):
        path = Path(root).resolve()
        if not path.exists():
            continue
        if path == kit or kit.is_relative_to(path) or package.is_relative_to(path):
            # a folder holding the kit: everything in it but the kit's own package and solutions
            readable += [str(entry) for entry in path.iterdir()
                         if not (entry.resolve() == package or entry.name.startswith("bpdrill")
                                 or entry.resolve() in (kit / "solutions", kit / "grader"))]
        else:
            readable.append(str(path))
    return readable


# Landlock beyond the file system (the `landlock` package knows only the file system part):
# ABI 4 handles TCP bind and connect (handled with no rule allowing any port: both denied),
# ABI 6 scopes signals and abstract unix sockets to the worker's own domain.
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same number on every architecture
_PR_SET_NO_NEW_PRIVS = 38


def landlock_features() -> dict:
    """What the kernel's Landlock holds here: {"abi", "files", "network", "scopes"}."""
    try:
        import landlock
        abi = int(landlock.landlock_abi_version())
    except Exception:  # noqa: BLE001 - no Landlock (kernel, boot options, or the package)
        abi = 0
    return {"abi": abi, "files": abi >= 1, "network": abi >= 4, "scopes": abi >= 6}


def sandbox(job_dir: str, learner_file) -> None:
    """Landlock: read-only outside job_dir, nothing of the kit's own; where the kernel has them,
    no TCP bind or connect, and signals and abstract unix sockets only within the worker's own
    processes. Silently less where the kernel or the landlock package lacks a part (the
    README's threat model says what holds then)."""
    import ctypes
    try:
        from landlock import FSAccess
    except Exception:  # noqa: BLE001 - no Landlock here: the other limits still hold
        return
    abi = landlock_features()["abi"]
    if abi < 1:
        return
    handled = FSAccess.all()
    if abi < 3:
        handled &= ~FSAccess.TRUNCATE
    if abi < 5:
        handled &= ~FSAccess.IOCTL_DEV

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    libc = ctypes.CDLL(None, use_errno=True)
    syscall = libc.syscall
    syscall.restype = ctypes.c_long
    net = (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (_SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL) if abi >= 6 else 0
    attr = RulesetAttr(int(handled), net, scoped)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = syscall(ctypes.c_long(_CREATE_RULESET), ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return

    def allow(path: str, rules) -> None:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return
        try:
            rule = PathBeneath(int(rules), fd)
            syscall(ctypes.c_long(_ADD_RULE), ctypes.c_int(ruleset), ctypes.c_int(1), ctypes.byref(rule),
                    ctypes.c_uint32(0))
        finally:
            os.close(fd)

    read_dir = FSAccess.EXECUTE | FSAccess.READ_FILE | FSAccess.READ_DIR
    read_file = FSAccess.EXECUTE | FSAccess.READ_FILE
    for path in _readable_roots(learner_file):
        allow(path, read_dir if os.path.isdir(path) else read_file)
    allow(os.devnull, FSAccess.READ_FILE | FSAccess.WRITE_FILE)
    allow(job_dir, handled)
    try:
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if syscall(ctypes.c_long(_RESTRICT_SELF), ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(ruleset)


# ---- one worker --------------------------------------------------------------------------------

def _child(job_dir: str, out_w: int, err_w: int) -> None:
    """In a worker forked by the zygote: cut every tie, read its own job, run it. Never returns."""
    code = 70
    try:
        os.setsid()  # its own session and process group
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, 1 << 16)  # the zygote's socket, the pipes of other workers
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                      errors="backslashreplace", write_through=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                      errors="backslashreplace", write_through=True)
        os.chdir(job_dir)
        os.environ.clear()
        os.environ.update(_clean_environment(job_dir))
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        job, scenarios = protocol.read_job(job_dir)  # its own scenario inputs, and nothing else
        sandbox(job_dir, learner_files(job))
        code = worker.serve(job, scenarios, job_dir)
    except BaseException:  # noqa: BLE001 - the worker reports nothing: the grader says it ended early
        code = 70
    finally:
        os._exit(code)


# ---- the zygote: a clean process that forks the workers -------------------------------------

PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> None:
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except Exception:  # noqa: BLE001 - no prctl: orphans are then swept by process group only
        pass


def _descendants(roots: set) -> list[int]:
    """Every process below the pids in roots (from /proc), deepest last."""
    parents = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                parents[int(entry)] = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [], set(roots)
    while frontier:
        below = {pid for pid, ppid in parents.items() if ppid in frontier and pid not in found}
        found += sorted(below)
        frontier = below
    return found


def _end(pid: int) -> int | None:
    """Kill a worker and its process group, and reap it: its exit code (None when it was
    reaped already)."""
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return None
    return os.waitstatus_to_exitcode(status)


def _sweep(workers: set) -> None:
    """Kill what outlived its worker: the orphans the kernel handed to this zygote (its
    sub-reaper) and all below them; then reap them. Repeated, for a process that forks fast."""
    me = os.getpid()
    for _ in range(5):
        stray = [pid for pid in _descendants({me}) if pid not in workers]
        own = set(_descendants(workers))
        stray = [pid for pid in stray if pid not in own]
        if not stray:
            break
        for pid in stray:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap_strays(workers)
    _reap_strays(workers)


def _reap_strays(workers: set) -> None:
    me = str(os.getpid())
    try:
        with open(f"/proc/{me}/task/{me}/children") as f:
            children = [int(p) for p in f.read().split()]
    except (OSError, ValueError):
        return
    for pid in children:
        if pid in workers:
            continue
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def zygote_serve(fd: int, names: list[str] | None = None) -> int:
    """The zygote's loop (python -I -m bpdrill.grading.zygote FD): started with a minimal
    environment before any reference, seed or hidden input exists, it imports what a worker
    needs, then forks one worker per request. A worker's memory is the zygote's plus its own
    job folder: no answers, no other exercise's inputs, no helper, no grader environment."""
    import json
    import socket
    for name in names or registry_names():
        _import_exercise(name)  # the exercises of this run, imported once here rather than per worker
    from bpdrill import i18n
    for lang in i18n.LANGS:  # every table read now: a sandboxed worker cannot read the package's files
        i18n.set_language(lang)
        t("ok")
    i18n.set_language("en")
    _prctl(PR_SET_CHILD_SUBREAPER, 1)  # what a worker starts and leaves behind comes back here
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader decides; Ctrl-C reaches it alone
    sock = socket.socket(fileno=fd)
    workers: set = set()
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, 4096, 2)
        except (OSError, ValueError):
            break
        if not data:
            break
        request = json.loads(data)
        if request["op"] == "spawn":
            if request.get("exercise"):
                _import_exercise(request["exercise"])  # another exercise than the zygote began with
            preload = request.get("preload") or ""
            if preload.startswith("bpdrill."):  # a task's trusted module: imported here, where files can be read
                try:
                    importlib.import_module(preload)
                except Exception:  # noqa: BLE001 - the worker says what is wrong when it looks it up
                    pass
            pid = os.fork()
            if pid == 0:
                job_dir = request["dir"]
                workers.clear()  # siblings' pids: not this worker's business
                sock.close()
                del request, data
                _child(job_dir, fds[0], fds[1])
            for f in fds:
                os.close(f)
            workers.add(pid)
            answer = {"pid": pid}
        else:  # "reap": end the worker, all it started, and collect its exit status
            pid = request["pid"]
            code = _end(pid)
            workers.discard(pid)
            _sweep(workers)
            answer = {"code": code}
        try:
            sock.send(json.dumps(answer).encode())
        except OSError:
            break
    for pid in workers:  # the grader is gone: so are its workers
        _end(pid)
    _sweep(set())
    return 0


def registry_names() -> list[str]:
    return registry.names()


def _import_exercise(name: str) -> None:
    try:
        registry.get(name)
    except Exception:  # noqa: BLE001 - that exercise's worker will say what is wrong
        pass


def _with_local_references(scenario, job_dir: str):
    """A task scenario naming reference files (explore's stand-ins for a learner's component
    that does not pass yet), with copies of them in the job folder: the sandboxed worker reads
    its own folder, never the kit's."""
    references = scenario.params.get("references") if isinstance(scenario.params, dict) else None
    if not isinstance(references, dict) or not references:
        return scenario
    folder = os.path.join(job_dir, "references")
    os.makedirs(folder, exist_ok=True)
    local = {}
    for name, path in references.items():
        target = os.path.join(folder, f"{name}.py")
        try:
            shutil.copyfile(path, target)
        except OSError:
            continue
        local[name] = target
    return protocol.Scenario(scenario.name, scenario.mode, scenario.arrays, {**scenario.params, "references": local})


class _Worker:
    """A running worker: its process group, its output pipes, its deadline."""

    def __init__(self, job: dict, scenarios: list, timeout: float, selector):
        self.job = {**job, "limits": {"seconds": timeout, "memory": MEMORY_LIMIT}}
        if "files" in job:  # a task job: several learner files (maybe none)
            self.job["files"] = {k: os.path.abspath(v) for k, v in job["files"].items()}
        else:
            self.job["file"] = os.path.abspath(job["file"])
        self.scenarios, self.timeout, self.selector = scenarios, timeout, selector
        self.dir = tempfile.mkdtemp(prefix="bpdrill-")
        self.code, self.gone = None, False
        self.has_children = self.over_memory = False
        self.started = time.monotonic()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        scenarios = [_with_local_references(s, self.dir) for s in scenarios]
        protocol.write_job(self.dir, self.job.get("exercise", ""), self.job.get("file", ""),
                           self.job.get("class", ""), scenarios, self.job["lang"], self.job["limits"],
                           **{k: self.job[k] for k in ("task", "files", "classes", "trace") if k in self.job})
        self.proc, self.zygote = None, None
        for _ in range(2):  # a zygote found dead is started again, once
            self.zygote = zygote_client.zygote()
            if self.zygote is None:
                break
            try:
                self.pid = self.zygote.spawn(self.dir, out_w, err_w, self.job.get("task", "").partition(":")[0],
                                             self.job.get("exercise", ""))
                break
            except (OSError, ValueError, KeyError):
                self.zygote = None
                zygote_client.stop_zygote()
        if self.zygote is None:  # no zygote here: a fresh interpreter reads the job from files
            self.proc = subprocess.Popen([sys.executable, "-I", "-m", "bpdrill.grading.worker", self.dir],
                                         stdin=subprocess.DEVNULL, stdout=out_w, stderr=err_w, cwd=self.dir,
                                         env=_clean_environment(self.dir), start_new_session=True)
            self.pid = self.proc.pid
        _live.add(self.pid)
        os.close(out_w)
        os.close(err_w)
        self.streams = [_Capped(out_r), _Capped(err_r)]
        for stream in self.streams:
            selector.register(stream.fd, selectors.EVENT_READ, stream)
        try:
            self.pidfd = os.pidfd_open(self.pid)
            selector.register(self.pidfd, selectors.EVENT_READ, self)
        except (AttributeError, OSError):
            self.pidfd = None

    def count_memory(self) -> None:
        """RLIMIT_AS holds per process: the worker and what it started are counted together here
        (resident memory of the whole tree), and ended together past MEMORY_LIMIT."""
        if self.gone or self.code is not None:
            return
        tree = _tree(self.pid)
        self.has_children = len(tree) > 1
        if self.has_children and sum(_resident(pid) for pid in tree) > MEMORY_LIMIT:
            self.over_memory = True

    @property
    def deadline(self) -> float:
        return self.started + self.timeout + KILL_GRACE

    def exited(self) -> bool:
        if self.code is not None or self.gone:
            return True
        if self.proc is not None:
            self.code = self.proc.poll()
            return self.code is not None
        if self.pidfd is not None:  # readable once the worker has ended (a zombie, until reaped)
            self.gone = bool(select.select([self.pidfd], [], [], 0)[0])
        else:
            self.gone = not _running(self.pid)
        return self.gone

    def stop(self) -> None:
        """Kill its whole process group (anything it started too, and what escaped it) and reap it."""
        self.ended = time.monotonic()
        _kill_group(self.pid)
        if self.proc is not None:
            self.code = self.proc.wait()
        elif self.code is None:
            try:
                self.code = self.zygote.reap(self.pid)
            except (OSError, ValueError, KeyError):  # the zygote is gone: the worker with it
                self.code = None
                zygote_client.stop_zygote()
        _live.discard(self.pid)
        for stream in self.streams:
            _unregister(self.selector, stream.fd)
            stream.drain()
            os.close(stream.fd)
        if self.pidfd is not None:
            _unregister(self.selector, self.pidfd)
            os.close(self.pidfd)

    def outcome(self, timed_out: bool) -> WorkerOutcome:
        output = self.streams[0].text() + self.streams[1].text()
        dump_path = os.path.join(self.dir, "timeout.txt")
        learner_file = learner_files(self.job)
        try:
            try:
                dump = protocol.read_bounded(dump_path, 1024**2).decode("utf-8", errors="replace")
            except OSError:  # none, or not a file the worker's faulthandler wrote: no place to name
                dump = ""
            ran_out = self.ended - self.started >= self.timeout and not protocol.has_result(self.dir)
            if timed_out or dump or ran_out:  # ran_out: its own timeout report, written where we cannot read
                hang = _hang_location(dump, learner_file) if dump else None
                return WorkerOutcome(output=output, hang=hang,
                                     failure=t("timed out after {seconds:g} s", seconds=self.timeout))
            if self.over_memory:
                return WorkerOutcome(output=output, failure=t(
                    "ran out of memory: the exercise and the processes it started held more than {limit:g} GiB "
                    "together", limit=MEMORY_LIMIT / 1024**3))
            if self.code != 0 or not protocol.has_result(self.dir):
                return WorkerOutcome(output=output, failure=_describe_exit(self.code))
            try:
                import_error, results = protocol.read_result(self.dir, [s.name for s in self.scenarios])
            except protocol.ProtocolError as exc:
                return WorkerOutcome(output=output, failure=t("the worker's answer was refused: {reason}",
                                                              reason=exc))
            return WorkerOutcome(import_error, results, output=output)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def _unregister(selector, fd: int) -> None:
    try:
        selector.unregister(fd)
    except (KeyError, ValueError):
        pass


def _tree(pid: int) -> list[int]:
    """pid and every process below it, from /proc/PID/task/TID/children."""
    found, frontier = [], [pid]
    while frontier and len(found) < 10000:
        found += frontier
        below = []
        for parent in frontier:
            try:
                for task in os.listdir(f"/proc/{parent}/task"):
                    with open(f"/proc/{parent}/task/{task}/children", "rb") as f:
                        below += [int(p) for p in f.read().split()]
            except (OSError, ValueError):
                continue
        frontier = below
    return found


def _resident(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _running(pid: int) -> bool:
    """True while pid is a live process (a zombie waiting to be reaped is not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return False


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_all() -> None:
    """End every running worker and whatever it started (used on Ctrl-C)."""
    for pid in list(_live):
        _kill_group(pid)


def run_workers(tasks: list, timeout: float, parallel: int = 2, tick=None) -> list[WorkerOutcome]:
    """Run each (job, scenarios) in its own worker, `parallel` at a time; outcomes in order.

    tick(index, folder), when given, is called about ten times a second for each running
    worker, with its job folder (where a long task may leave word of its progress)."""
    outcomes: list = [None] * len(tasks)
    pending = list(enumerate(tasks))
    running: dict[int, _Worker] = {}
    with selectors.DefaultSelector() as selector:
        try:
            while pending or running:
                while pending and len(running) < max(1, parallel):
                    index, (job, scenarios) = pending.pop(0)
                    running[index] = _Worker(job, scenarios, timeout, selector)
                wait = max(0.0, min(w.deadline for w in running.values()) - time.monotonic())
                wait = min(wait, 0.1)  # ten times a second: the memory of each worker's process tree
                for w in running.values():
                    w.count_memory()
                if tick is not None:
                    for index, w in running.items():
                        tick(index, w.dir)
                for key, _ in selector.select(timeout=min(wait, 0.05 if any(
                        w.pidfd is None for w in running.values()) else wait)):
                    if isinstance(key.data, _Capped) and not key.data.drain():
                        _unregister(selector, key.fd)
                for index, w in list(running.items()):
                    ended = w.exited()
                    if ended or w.over_memory or time.monotonic() >= w.deadline:
                        hung = not ended and not w.over_memory  # still running at its deadline
                        w.stop()
                        outcomes[index] = w.outcome(timed_out=hung)
                        del running[index]
        except BaseException:
            for w in running.values():
                w.stop()
                shutil.rmtree(w.dir, ignore_errors=True)
            raise
    return outcomes
