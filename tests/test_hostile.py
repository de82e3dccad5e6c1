"""Hostile learner files (tests/hostile/): each scores what its own code earns, and a correct
file checked beside it keeps full marks (issue: verdicts no file can forge)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from bpdrill.grading import isolation, runner, zygote_client
from conftest import skeleton_path, solution_path
from test_isolation import SOLUTION, gone_soon, grade_pair, is_running

HOSTILE = Path(__file__).parent / "hostile"


def grade(tmp_path, source: str):
    """linear.py (source) beside a correct sigmoid, in real workers; the sigmoid must pass."""
    return grade_pair(tmp_path, source, timeout=10, seed=5)


def test_a_file_hunting_the_garbage_collector_for_answers_finds_none(tmp_path):
    """The kept references of the seed (loaded on every check after the first) never reach a
    worker: the hunt scores what zeros score, on the first check and on the next."""
    hunt = (HOSTILE / "gc_answers.py").read_text()
    # What its own code earns: the same file with the hunt finding nothing, so answering zeros.
    zeros = hunt.replace("answer = _hunt(self.forward(self.x))", "answer = None")
    assert zeros != hunt
    honest = grade(tmp_path, zeros)
    first = grade(tmp_path, hunt)
    again = grade(tmp_path, hunt)  # references kept by now
    for report in (first, again):
        assert "ANSWER True" not in report.output and "HUNT 0 " in report.output, report.output
        assert report.score == honest.score < report.max_score
    # Only its own exercise's scenarios are in its memory (linear has five), none of sigmoid's.
    assert "SCENARIOS 5 " in again.output, again.output


@pytest.mark.parametrize("how", ["rebind", "rewrite_code", "patch_helper"])
def test_a_preamble_replacing_the_trusted_driver_earns_nothing(tmp_path, how):
    source = (HOSTILE / "driver_preamble.py").read_text() + skeleton_path("linear").read_text()
    if how == "rewrite_code":  # the same lie, by rewriting the real function's code in place
        source = source.replace("    _kind.drive = _lying_drive\n",
                                "    _kind.drive.__code__ = _lying_drive.__code__\n")
        source = source.replace("_real(spec, module, s) if", "None if")
    elif how == "patch_helper":  # or a helper the real driver calls
        source = source.replace("    _kind.drive = _lying_drive\n",
                                "    _kind._backward = lambda *args, **kwargs: {}\n")
    report = grade(tmp_path, source)
    assert report.score == 0 and report.status == "error", report.message
    assert "changing the grader's code is not allowed" in report.message


def test_the_graders_environment_cannot_be_read_back_from_memory(tmp_path, monkeypatch):
    """A secret in the grader's environment is in no worker: not in os.environ, not in libc's
    environ, not in /proc/self/environ, not in the original block on the stack."""
    monkeypatch.setenv("BPDRILL_TEST_SECRET", "bpdrill-test-secret-4f1c")
    zygote_client.stop_zygote()  # the next zygote starts while the secret is in our environment
    try:
        report = grade(tmp_path, (HOSTILE / "environment_readback.py").read_text() + "\n" + SOLUTION)
    finally:
        zygote_client.stop_zygote()
    assert report.status == "passed"
    assert "SEARCHED True" in report.output, report.output  # the stack was read: the search ran
    assert "LEAK" not in report.output, report.output


# ---- the result channel -------------------------------------------------------------------

CHANNEL = {
    # A FIFO as the result file: reading it would wait for a writer forever.
    "fifo_result": "import os, numpy as np\nnp.savez('outputs.npz')\nos.mkfifo('result.json')\nos._exit(0)\n",
    # A link to /dev/zero as the arrays file: reading it would never end.
    "zero_outputs": ("import os, json\njson.dump({'import_error': None, 'scenarios': {}}, open('result.json', 'w'))\n"
                     "os.symlink('/dev/zero', 'outputs.npz')\nos._exit(0)\n"),
    "zero_result": "import os, numpy as np\nnp.savez('outputs.npz')\nos.symlink('/dev/zero', 'result.json')\nos._exit(0)\n",
    # A FIFO where the timeout report goes, then a hang.
    "fifo_timeout": "import os, time\nos.remove('timeout.txt')\nos.mkfifo('timeout.txt')\ntime.sleep(60)\n",
    "folder_result": "import os, numpy as np\nnp.savez('outputs.npz')\nos.mkdir('result.json')\nos._exit(0)\n",
}


@pytest.mark.parametrize("case", sorted(CHANNEL))
def test_a_result_file_that_is_no_regular_file_costs_one_line_no_hang(tmp_path, case, monkeypatch):
    import tempfile
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(jobs))  # the workers' folders, to see them removed
    report = grade(tmp_path, CHANNEL[case])
    assert report.status == "error" and report.score == 0
    assert "\n" not in report.message and "Traceback" not in report.message, report.message
    if case == "fifo_timeout":
        assert "timed out" in report.message
    else:
        assert "refused" in report.message or "ended the worker" in report.message, report.message
    assert not list(jobs.iterdir()), "every worker's folder is removed"


def test_the_torch_helper_dying_is_noticed_and_it_is_restarted():
    """Killed mid-run (by anything: the kernel's OOM killer, a signal), the helper is started
    again and asked again; every reference still comes back and nobody is blamed."""
    from bpdrill.grading import reference
    _, scenarios = runner.build_job("sigmoid", solution_path("sigmoid"), 77)
    server = reference.Server()
    try:
        first = server.submit("sigmoid", scenarios)
        server.proc.kill()
        server.proc.wait()
        second = server.submit("sigmoid", scenarios)
        assert set(server.result(first)) == set(server.result(second)) == {s.name for s in scenarios}
        assert server.restarts == 1
    finally:
        server.close()


# ---- what a worker can reach ----------------------------------------------------------------

def _landlock(feature: str) -> bool:
    return isolation.landlock_features()[feature]


@pytest.mark.skipif(not _landlock("scopes"), reason="signal scoping needs Landlock ABI 6")
def test_a_worker_cannot_signal_any_process_outside_its_own(tmp_path):
    """Not the grader, not the torch helper, not a sibling, not an unrelated process."""
    import subprocess
    victim = subprocess.Popen(["sleep", "60"])
    try:
        targets = {"grader": os.getpid(), "unrelated": victim.pid}
        attack = "".join(f"try:\n    os.kill({pid}, signal.SIGKILL)\n    print('KILLED {name}')\n"
                         f"except PermissionError:\n    print('REFUSED {name}')\n"
                         for name, pid in targets.items())
        report = grade(tmp_path, "import os, signal\n" + attack + SOLUTION)
        assert report.status == "passed"
        assert "KILLED" not in report.output and report.output.count("REFUSED") == 2, report.output
        assert is_running(victim.pid)
    finally:
        victim.kill()
        victim.wait()


@pytest.mark.skipif(not _landlock("network"), reason="TCP rules need Landlock ABI 4")
def test_a_worker_cannot_reach_or_open_a_tcp_port(tmp_path):
    import socket
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        attack = (f"import socket\nfor what in ('connect', 'bind'):\n    s = socket.socket()\n    try:\n"
                  f"        (s.connect if what == 'connect' else s.bind)(('127.0.0.1', {port} if what == 'connect' else 0))\n"
                  f"        print('REACHED', what)\n    except OSError:\n        print('REFUSED', what)\n")
        report = grade(tmp_path, attack + SOLUTION)
    assert report.status == "passed"
    assert "REACHED" not in report.output and report.output.count("REFUSED") == 2, report.output


@pytest.mark.skipif(not _landlock("scopes"), reason="abstract unix socket scoping needs Landlock ABI 6")
def test_a_worker_cannot_reach_an_abstract_unix_socket(tmp_path):
    import socket
    name = f"\0bpdrill-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(name)
        server.listen()
        attack = (f"import socket\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect({name!r})\n"
                  f"    print('REACHED')\nexcept OSError:\n    print('REFUSED')\n")
        report = grade(tmp_path, attack + SOLUTION)
    assert report.status == "passed"
    assert "REACHED" not in report.output and "REFUSED" in report.output, report.output


def test_a_process_in_a_session_of_its_own_does_not_outlive_its_check(tmp_path):
    """setsid leaves the worker's process group: it is still swept when the check ends."""
    marker = f"{400 + os.getpid() % 1000}.{os.getpid() % 97}"
    attack = (f"import subprocess\nchild = subprocess.Popen(['sleep', '{marker}'], start_new_session=True)\n"
              f"print('STARTED', child.pid)\n")
    report = grade(tmp_path, attack + SOLUTION)
    assert report.status == "passed"
    pid = int(report.output.split("STARTED", 1)[1].split()[0])
    assert gone_soon(pid), "the child that left the worker's session was ended with the check"


def test_a_file_larger_than_an_answer_cannot_be_written(tmp_path):
    report = grade(tmp_path, "open('big', 'wb').write(b'x' * (256 * 1024**2))\n" + SOLUTION)
    assert report.status == "error" and "File too large" in report.message, report.message


def test_memory_is_limited_for_the_worker_and_its_children_together(tmp_path):
    """Each of three children stays under the per-process limit; together they are over it."""
    hog = ("import multiprocessing, time\nimport numpy as np\n"
           "def hold():\n    a = np.ones(110 * 1024**2 // 8)\n    time.sleep(30)\n"
           "if __name__ != '__mp_main__':\n"
           "    procs = [multiprocessing.get_context('fork').Process(target=hold) for _ in range(3)]\n"
           "    [p.start() for p in procs]\n    time.sleep(30)\n")
    from bpdrill.core import protocol
    original = isolation.MEMORY_LIMIT
    isolation.MEMORY_LIMIT = 300 * 1024**2  # the grader's count (the workers' RLIMIT_AS stays 2 GiB)
    try:
        report = grade(tmp_path, hog + SOLUTION)
    finally:
        isolation.MEMORY_LIMIT = original
    assert protocol.MEMORY_LIMIT == original
    assert "processes it started held more than" in report.message, report.message


# ---- what the learner's code prints ---------------------------------------------------------

FAKE = ("print('\\x1b[2J\\x1b[H' + 'linear  13/13 passed\\ntotal 13/13\\nevery exercise checked has full marks.'"
        " + '\\x1b[8m')\nprint('\\rover\\u202eturned\\x9b31m')\n")


def test_escape_sequences_printed_or_raised_are_shown_as_text_never_acted_on(tmp_path, monkeypatch):
    import json
    from click.testing import CliRunner
    from bpdrill.cli.main import cli
    ws = tmp_path / "ws"
    monkeypatch.setenv("BPDRILL_WORKSPACE", str(ws))
    CliRunner().invoke(cli, ["list"])
    (ws / "linear.py").write_text(FAKE + "raise ValueError('\\x1b[8mhidden')\n", encoding="utf-8")
    for args in (["check", "linear", "--seed", "3"], ["check", "linear", "--seed", "3", "--json"]):
        result = CliRunner().invoke(cli, args)
        text = result.stdout if "--json" not in args else "".join(
            e["output"] + e["message"] for e in json.loads(result.stdout)["exercises"])
        for raw in ("\x1b", "\r", "\u202e", "\x9b"):
            assert raw not in text, (args, text)
        assert "\\x1b[2J" in text and "\\x1b[8mhidden" in text and "\\u202e" in text, text


# ---- workspace files read defensively -------------------------------------------------------

def _cli(ws, *args):
    import subprocess
    import sys
    env = {**os.environ, "BPDRILL_WORKSPACE": os.fsdecode(ws)}
    os.makedirs(ws, exist_ok=True)  # run from inside it
    return subprocess.run([sys.executable, "-m", "bpdrill", *args], capture_output=True, text=True,
                          errors="replace", env=env, timeout=120, cwd=os.fsdecode(ws))


def _one_clear_outcome(result) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert result.returncode in (0, 1, 2), result.returncode


ODD = {
    "fifo": lambda path: os.mkfifo(path),
    "dev_zero": lambda path: os.symlink("/dev/zero", path),
    "binary": lambda path: path.write_bytes(bytes(range(256)) * 4),
    "cp1252": lambda path: path.write_bytes("# caf\xe9\n".encode("cp1252") + SOLUTION.encode()),
    "huge": lambda path: open(path, "wb").truncate(6 * 1024**3),  # sparse: 6 GB, nothing on disk
}


@pytest.mark.parametrize("kind", sorted(ODD))
@pytest.mark.parametrize("command", [["list"], ["check", "linear"], ["reset", "linear"],
                                     ["solution", "linear", "--diff"], ["drill", "linear"]])
def test_an_odd_exercise_file_gets_one_line_never_a_hang_or_traceback(tmp_path, kind, command):
    ws = tmp_path / "ws"
    _cli(ws, "list")
    path = ws / "linear.py"
    path.unlink()
    ODD[kind](path)
    result = _cli(ws, *command)
    _one_clear_outcome(result)
    attempts = ws / ".attempts"
    kept = list(attempts.iterdir()) if attempts.is_dir() else []
    assert all(p.stat().st_size <= 1024**2 for p in kept), "nothing unbounded copied into .attempts"
    if kind == "cp1252" and command[0] == "check":
        assert "linear" in result.stdout


def test_reset_never_copies_a_links_target_into_the_attempts(tmp_path):
    ws, data = tmp_path / "ws", tmp_path / "data"
    _cli(ws, "list")
    secret = tmp_path / "history.sqlite3"
    secret.write_text("the practice record")
    (ws / "linear.py").unlink()
    (ws / "linear.py").symlink_to(secret)
    result = _cli(ws, "reset", "linear")
    _one_clear_outcome(result)
    assert "outside the workspace" in result.stdout + result.stderr
    attempts = ws / ".attempts"
    assert not attempts.exists() or not any("the practice record" in p.read_text(errors="replace")
                                            for p in attempts.iterdir())
    assert secret.read_text() == "the practice record"


def test_a_workspace_path_that_is_not_utf8(tmp_path):
    ws = os.path.join(os.fsencode(tmp_path), b"caf\xe9-ws")
    for command in (["list"], ["check", "linear"], ["stats"], ["reset", "linear"], ["hint", "linear"]):
        _one_clear_outcome(_cli(ws, *command))


def test_mock_minutes_nan_is_one_clear_line(tmp_path):
    ws = tmp_path / "ws"
    result = _cli(ws, "mock", "--minutes", "nan")
    _one_clear_outcome(result)
    assert result.returncode == 2 and "nan is not a finite number" in result.stderr, result.stderr


def test_bpdrill_run_from_a_workspace_imports_no_module_lying_there(tmp_path):
    ws = tmp_path / "ws"
    _cli(ws, "list")
    (ws / "subprocess.py").write_text("raise SystemExit('PLANTED subprocess imported')\n")
    result = _cli(ws, "check", "sigmoid")
    assert "PLANTED" not in result.stdout + result.stderr
    _one_clear_outcome(result)
