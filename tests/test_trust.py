"""Trust holes a new user finds: the tests leave your history alone; progress belongs to a
workspace and to the file as it is now; bad numbers, a locked, damaged or read-only history,
and a broken workspace each get one clear line; messages you act on say the right thing;
the README is enough to start."""
from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner

from bpdrill import catalog
from bpdrill.practice import history, progress, workspace
from bpdrill.cli.main import cli
from conftest import wrong_fixture, REAL_DATA, skeleton_path, solution_path

ROOT = Path(__file__).resolve().parent.parent
ROOTED = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def ws(tmp_path, monkeypatch):
    """A fresh workspace named by $BPDRILL_WORKSPACE (the data folder is the autouse one)."""
    folder = tmp_path / "ws"
    monkeypatch.setenv("BPDRILL_WORKSPACE", str(folder))
    monkeypatch.delenv("BPDRILL_LANG", raising=False)
    CliRunner().invoke(cli, ["list"], catch_exceptions=False)  # lays the skeletons
    return folder


def run(*args, input=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def bpdrill(*args, env=None, cwd=None, **kwargs):
    """bpdrill in a process of its own, as a learner runs it."""
    return subprocess.run([sys.executable, "-m", "bpdrill", *map(str, args)], capture_output=True, text=True,
                          env=env or dict(os.environ), cwd=cwd, timeout=120, **kwargs)


def solve(folder: Path, name: str) -> None:
    (folder / f"{name}.py").write_text(solution_path(name).read_text())


def listed(*args) -> dict:
    return {r["name"]: r for r in json.loads(run("list", "--json", *args).output)["exercises"]}


def records(data: Path) -> list[dict]:
    """The checks recorded in the history file in data (read from a copy: the file is not touched)."""
    original = data / "history.sqlite3"
    if not original.exists():
        return []
    with tempfile.TemporaryDirectory() as scratch:
        for suffix in ("", "-wal"):
            if Path(f"{original}{suffix}").exists():
                shutil.copyfile(f"{original}{suffix}", f"{scratch}/h.sqlite3{suffix}")
        db = sqlite3.connect(f"{scratch}/h.sqlite3")
        db.row_factory = sqlite3.Row
        rows = [dict(r) for r in db.execute("SELECT * FROM checks")]
        db.close()
    return rows


# ---- the project's tests never touch the learner's own history ---------------------------

def test_the_tests_never_touch_the_learners_real_history(tmp_path, private_data_folder):
    mine = tmp_path / "ws"
    run("check", "linear", "--seed", "1", "--workspace", mine)
    bpdrill("check", "linear", "--seed", "1", "--workspace", mine)
    # A subprocess that drops BPDRILL_DATA falls back to HOME / XDG_DATA_HOME: moved as well.
    without = {k: v for k, v in os.environ.items() if k != "BPDRILL_DATA"}
    bpdrill("check", "linear", "--seed", "1", "--workspace", mine, env=without)
    assert private_data_folder != REAL_DATA and not private_data_folder.is_relative_to(REAL_DATA)
    assert len(records(private_data_folder)) == 2  # the runs did record, in the test's own folder
    assert [r for r in records(REAL_DATA) if r["workspace"] == str(mine.resolve())] == []


# ---- progress belongs to a workspace and to the file as it is now ------------------------

def test_progress_belongs_to_its_workspace(ws, tmp_path):
    solve(ws, "sigmoid")
    assert run("check", "sigmoid", "--seed", "1").exit_code == 0
    assert listed()["sigmoid"]["progress"] == "passes_now"
    other = listed("--workspace", tmp_path / "B")["sigmoid"]
    assert (other["status"], other["progress"], other["passes_now"], other["solved_before"]) == \
        ("not_started", "not_started", False, False)
    assert other["best_score"] is None
    assert "not started" in run("list", "--workspace", tmp_path / "B").output.split("sigmoid")[1].splitlines()[0]


def test_reset_drill_and_edits_turn_passes_now_into_solved_before(ws, clock):
    solve(ws, "linear")
    run("check", "linear", "--seed", "1")
    row = listed()["linear"]
    assert (row["status"], row["progress"], row["passes_now"]) == ("passed", "passes_now", True)

    run("reset", "linear")
    row = listed()["linear"]
    assert (row["status"], row["progress"], row["passes_now"], row["solved_before"]) == \
        ("not_started", "solved_before", False, True)
    table = run("list").output
    assert "solved before" in table and "passes now" not in table

    solve(ws, "linear")  # the same content as the passing check: it passes now, no re-check needed
    assert listed()["linear"]["progress"] == "passes_now"
    with open(ws / "linear.py", "a") as f:
        f.write("# changed since\n")
    assert listed()["linear"]["progress"] == "solved_before"

    solve(ws, "linear")
    run("drill", "linear")
    assert listed()["linear"]["progress"] == "solved_before"


def test_list_json_keeps_the_old_keys(ws):
    doc = json.loads(run("list", "--json").output)
    assert doc["workspace"] == str(ws.resolve())
    for row in doc["exercises"]:
        assert set(row) >= {"name", "title", "difficulty", "status", "best_score", "best_seconds", "file",
                            "progress", "passes_now", "solved_before"}
        assert row["status"] in ("passed", "in_progress", "not_started")
        assert row["progress"] in progress.PROGRESS


def test_stats_are_per_workspace_and_say_which(ws, tmp_path, clock):
    run("drill", "linear")
    clock.now += 100
    solve(ws, "linear")
    run("check", "linear", "--seed", "1")
    here = json.loads(run("stats", "--json").output)
    elsewhere = json.loads(run("stats", "--json", "--workspace", tmp_path / "B").output)
    assert here["workspace"] == str(ws.resolve()) and elsewhere["workspace"] == str((tmp_path / "B").resolve())
    assert here["exercises"][0]["attempts"] == 1 and here["exercises"][0]["best_seconds"] == 100
    assert elsewhere["exercises"][0]["attempts"] == 0 and elsewhere["exercises"][0]["last_score"] is None
    assert str(ws.resolve()) in run("stats").output


# ---- no traceback from bad options -------------------------------------------------------

@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
@pytest.mark.parametrize("args", [("check", "linear", "--timeout"), ("drill", "linear", "--minutes"),
                                  ("watch", "linear", "--interval"), ("watch", "linear", "--timeout")])
def test_non_finite_numbers_are_usage_errors_before_anything_is_touched(ws, private_data_folder, args, value):
    solve(ws, "linear")
    before = (ws / "linear.py").read_bytes()
    result = CliRunner().invoke(cli, [*args, value])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and isinstance(result.exception, (SystemExit, type(None)))
    assert "finite" in result.output or "range" in result.output
    assert (ws / "linear.py").read_bytes() == before and not (ws / workspace.ATTEMPTS).exists()
    assert records(private_data_folder) == []


# ---- history errors in one place ---------------------------------------------------------

@pytest.fixture
def locked_history(private_data_folder):
    """Another process holds the history's write lock for as long as the test runs."""
    path = private_data_folder / "history.sqlite3"
    history.History.open(path).close()
    holder = subprocess.Popen([sys.executable, "-c", f"""
import sqlite3, sys, time
db = sqlite3.connect({str(path)!r}, isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
"""], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    yield path
    holder.stdin.close()
    holder.wait(timeout=10)


def test_a_locked_history_never_stops_the_report(ws, locked_history, monkeypatch):
    monkeypatch.setattr(history, "LOCK_TIMEOUT", 0.3)
    result = CliRunner().invoke(cli, ["check", "linear", "--json", "--seed", "1"])
    assert result.exit_code == 1, result.output
    assert json.loads(result.stdout)["exercises"][0]["status"] == "not_started"  # the report, whole
    assert str(locked_history) in result.stderr and "locked" in result.stderr
    assert result.stderr.count("warning") == 1 and "Traceback" not in result.output

    (ws / "linear.py").write_text("# my attempt\n")
    refused = CliRunner().invoke(cli, ["drill", "linear"])
    assert refused.exit_code == 1 and "no drill started" in refused.output and "Traceback" not in refused.output
    assert (ws / "linear.py").read_text() == "# my attempt\n"  # nothing touched


def test_a_damaged_history_is_set_aside_kept_and_a_new_one_started(ws, private_data_folder):
    for old in private_data_folder.glob("history.sqlite3*"):  # written by the fixture's `list`
        old.unlink()
    damaged = private_data_folder / "history.sqlite3"
    damaged.write_bytes(b"not a database, whatever it was " * 100)
    result = CliRunner().invoke(cli, ["check", "linear", "--seed", "1"])
    assert result.exit_code == 1 and "not started" in result.stdout  # the report is printed
    kept = [p for p in private_data_folder.iterdir() if p.name.startswith("history.sqlite3.damaged")]
    assert len(kept) == 1 and kept[0].read_bytes() == b"not a database, whatever it was " * 100
    assert str(damaged) in result.stderr and str(kept[0]) in result.stderr
    assert [r["exercise"] for r in records(private_data_folder)] == ["linear"]  # the new one records
    assert CliRunner().invoke(cli, ["check", "linear", "--seed", "1"]).stderr == ""  # said once, then fine


def as_learner(folder: Path, args, env: dict | None = None):
    """bpdrill run by a learner who cannot write in folder (it and its files made read-only for
    the call). Root
    writes anyway, so as root it runs without the capability to override file permissions."""
    prefix = []
    if ROOTED:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("as root, this needs setpriv to give up the override of file permissions")
        prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"]
    files = [f for f in folder.iterdir() if f.is_file()]
    for path in (folder, *files):
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        return subprocess.run([*prefix, sys.executable, "-m", "bpdrill", *map(str, args)], capture_output=True,
                              text=True, env=env or dict(os.environ), timeout=120)
    finally:
        for path in (folder, *files):
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_a_read_only_data_folder_still_lets_stats_and_list_read(ws, private_data_folder):
    solve(ws, "sigmoid")
    assert run("check", "sigmoid", "--seed", "1").exit_code == 0

    listed_now = as_learner(private_data_folder, ["list", "--json"])
    assert listed_now.returncode == 0, listed_now.stderr
    row = {r["name"]: r for r in json.loads(listed_now.stdout)["exercises"]}["sigmoid"]
    assert row["progress"] == "passes_now" and row["best_score"][0] == row["best_score"][1] > 0
    stats = as_learner(private_data_folder, ["stats", "--json"])
    assert stats.returncode == 0, stats.stderr
    assert {e["exercise"]: e for e in json.loads(stats.stdout)["exercises"]}["sigmoid"]["last_score"] == \
        row["best_score"]
    assert listed_now.stderr + stats.stderr == ""  # reading needs no warning

    checked = as_learner(private_data_folder, ["check", "sigmoid", "--seed", "2"])
    assert checked.returncode == 0 and "full marks" in checked.stdout, checked.stdout + checked.stderr
    assert "cannot write the practice history" in checked.stderr and "BPDRILL_DATA" in checked.stderr
    assert str(private_data_folder / "history.sqlite3") in checked.stderr and "Traceback" not in checked.stderr
    assert len(records(private_data_folder)) == 1  # read, not written


# ---- reset / drill robustness ------------------------------------------------------------

def test_reset_and_drill_in_a_read_only_workspace_say_so_in_one_line(ws):
    (ws / "linear.py").write_text("# my attempt\n")
    for args in (["reset", "linear"], ["drill", "linear"], ["reset", "--all"]):
        result = as_learner(ws, args)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr and "cannot write" in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == "", result.stderr
    assert (ws / "linear.py").read_text() == "# my attempt\n"
    assert not (ws / workspace.ATTEMPTS).exists()
    assert not history.History.open().drills()  # no drill was started


def test_reset_when_attempts_is_a_file_says_so_and_loses_nothing(ws):
    (ws / workspace.ATTEMPTS).write_text("my notes\n")
    (ws / "linear.py").write_text("# my attempt\n")
    for args in (("reset", "linear"), ("drill", "linear")):
        result = CliRunner().invoke(cli, list(args))
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert "is a file, not a folder" in result.output and len(result.output.strip().splitlines()) == 1
    assert (ws / workspace.ATTEMPTS).read_text() == "my notes\n"
    assert (ws / "linear.py").read_text() == "# my attempt\n"


def test_an_exercise_file_that_is_a_directory_is_called_a_directory(ws):
    (ws / "linear.py").unlink()
    (ws / "linear.py").mkdir()
    (ws / "linear.py" / "inside.txt").write_text("kept\n")
    for args in (("reset", "linear"), ("drill", "linear"), ("check", "linear"), ("solution", "linear", "--diff")):
        result = CliRunner().invoke(cli, list(args))
        assert result.exit_code == 2, (args, result.output)
        assert "is a directory" in result.output and "Traceback" not in result.output, result.output
    assert (ws / "linear.py" / "inside.txt").read_text() == "kept\n"
    assert not history.History.open().drills()


def test_ten_resets_at_once_lose_nothing(ws):
    (ws / "linear.py").write_text("# my attempt, the only copy\n")
    procs = [subprocess.Popen([sys.executable, "-m", "bpdrill", "reset", "linear"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(10)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    assert all(code == 0 and "Traceback" not in err for code, _, err in results), results
    assert (ws / "linear.py").read_bytes() == skeleton_path("linear").read_bytes()
    kept = list((ws / workspace.ATTEMPTS).iterdir())
    assert kept and all(p.read_text() == "# my attempt, the only copy\n" for p in kept)
    assert [p.name for p in ws.iterdir() if p.name.endswith(".tmp")] == []


# ---- messages a learner acts on ----------------------------------------------------------

def test_solution_diff_ignores_comments_and_the_todo_markers(ws):
    answer = "\n".join(line.split("  #")[0] for line in [
        "        self.dW = self.x.T @ dout  # my note",
        "",
        "        self.db = dout.sum(axis=0)",
        "        dx = dout @ self.W.T",
        "        return dx"])
    skeleton = skeleton_path("linear").read_text()
    todo = re.search(r"\n        raise NotImplementedError\(.*\)", skeleton)
    mine = skeleton[:todo.start()] + "\n" + answer + "   # done!\n\n" + skeleton[todo.end():]
    (ws / "linear.py").write_text(mine)
    same = run("solution", "linear", "--diff")
    assert same.exit_code == 0 and "line for line" in same.output
    assert not re.search(r"^[+-] ", same.output, re.M), same.output

    (ws / "linear.py").write_text(mine.replace("dout.sum(axis=0)", "dout.sum(axis=1)"))
    differs = run("solution", "linear", "--diff").output
    assert "-        self.db = dout.sum(axis=1)" in differs and "+        self.db = dout.sum(axis=0)" in differs
    assert "BEGIN TODO" not in differs and "TODO" not in differs.split("@@", 1)[1]


def test_declining_the_reveal_prompt_is_not_an_error(ws, clock):
    run("drill", "linear")
    for answer in ("n\n", "\n"):
        result = CliRunner().invoke(cli, ["solution", "linear"], input=answer)
        assert result.exit_code == 0 and "Error" not in result.output, result.output
        assert "not shown; the drill goes on" in result.output and "class Linear" not in result.output
    assert history.History.open().active_drill(str(ws.resolve())) is not None


def width(text: str) -> int:
    """Terminal columns: a CJK character takes two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def display_cells(line: str) -> list[tuple[int, int]]:
    """(first, last + 1) terminal column of each cell; cells are parted by two or more spaces."""
    return [(width(line[:m.start()]), width(line[:m.end()])) for m in re.finditer(r"\S+(?: \S+)*", line)]


def assert_aligned(lines: list[str], columns: int) -> None:
    """Every column starts (left-aligned) or ends (right-aligned) at one terminal column."""
    cells = [display_cells(line)[:columns] for line in lines]
    assert all(len(c) == columns for c in cells), lines
    for i in range(columns):
        starts, ends = {c[i][0] for c in cells}, {c[i][1] for c in cells}
        assert len(starts) == 1 or len(ends) == 1, (i, "\n".join(lines))


def test_chinese_tables_line_up_in_list_stats_and_check(ws, clock):
    for seconds in (300, 200):
        run("drill", "linear")
        clock.now += seconds
        solve(ws, "linear")
        run("check", "linear", "--seed", "1")
    solve(ws, "sigmoid")
    run("check", "sigmoid", "--seed", "1")
    run("reset", "sigmoid")
    (ws / "mlp.py").write_text("# started\n")
    names = catalog.names()

    table = run("list", "--lang", "zh").output.splitlines()
    header = next(i for i, line in enumerate(table) if line.startswith("练习"))
    rows = table[header:header + 1 + len(names)]
    assert_aligned(rows, 5)  # the title, last, is not padded
    assert {"当前通过", "曾经解出", "未开始", "进行中"} <= set(re.findall(r"[\u4e00-\u9fff]+", "\n".join(rows)))

    table = run("stats", "--lang", "zh").output.splitlines()
    header = next(i for i, line in enumerate(table) if line.startswith("练习"))
    assert_aligned(table[header:header + 1 + len(names)], 8)
    assert "变快" in "\n".join(table)

    wrong = wrong_fixture("linear", "dW_transposed").read_text()
    (ws / "linear.py").write_text(wrong)
    report = run("check", "linear", "-v", "--seed", "2", "--lang", "zh").output.splitlines()
    marked = [re.match(r"    (通过|失败) +", line) for line in report]
    name_columns = {width(m.group()) for m in marked if m}
    assert sum(1 for m in marked if m) > 2 and len(name_columns) == 1, report


def test_hint_past_the_deepest_level_repeats_the_last_and_is_not_counted(ws, clock):
    run("drill", "linear")
    shown = [run("hint", "linear").output for _ in range(5)]
    deepest = catalog.get("linear").hints[2].strip()[:40]
    assert all("Hint 3/3" in out and deepest in out for out in shown[2:])
    assert json.loads(run("stats", "--json").output)["exercises"][0]["hints"] == 3


# ---- a newcomer follows the README without guessing --------------------------------------

def test_the_readme_is_enough_to_start():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    assert first == ("python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/bpdrill check linear\n"
                     ".venv/bin/python -m pytest\n")
    assert "SPEC.md" not in readme  # the README describes the JSON itself
    for field in ("seed", "workspace", "exercises", "file", "score", "max_score", "status", "checks", "id",
                  "kind", "target", "passed", "message", "diagnosis", "line", "not_started"):
        assert f"`{field}`" in readme or f'"{field}"' in readme, field
    assert "source .venv/bin/activate" in readme and ".venv/bin" in readme
    assert "torch==2.13.0" in readme and "--index-url https://download.pytorch.org/whl/cpu" in readme
    intro = readme[readme.index("```", readme.index("```sh") + 3):readme.index("## A tour")]
    assert "not started" in intro and "status 1" in intro


def test_the_readme_names_every_field_of_the_json_report(ws):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    wrong = wrong_fixture("linear", "dW_transposed").read_text()
    (ws / "linear.py").write_text(wrong)
    doc = json.loads(run("check", "linear", "--json", "--seed", "3").output)
    keys = set(doc) | set(doc["exercises"][0])
    for c in doc["exercises"][0]["checks"]:
        keys |= set(c) | set(c.get("diagnosis") or {})
    missing = sorted(k for k in keys if f"`{k}`" not in readme and f'"{k}"' not in readme)
    assert not missing, f"the README does not describe {missing}"
