"""Drill mode: timed practice, history, stats, hints, watch, solutions."""
from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from bpdrill import catalog
from bpdrill.practice import drill, history, progress, workspace
from bpdrill.cli.main import cli
from conftest import solution_path, watching


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A fresh workspace and a fresh history file for each test."""
    ws = tmp_path / "ws"
    monkeypatch.setenv("BPDRILL_WORKSPACE", str(ws))
    monkeypatch.setenv("BPDRILL_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("BPDRILL_LANG", raising=False)
    return ws


def run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def solve(ws, name):
    (ws / f"{name}.py").write_text(solution_path(name).read_text())


def stats_json() -> dict:
    return {e["exercise"]: e for e in json.loads(run("stats", "--json").output)["exercises"]}


def test_drill_solve_check_stats_round_trip(env, clock):
    result = run("drill", "linear", "--minutes", "10")
    assert result.exit_code == 0
    assert "Linear layer" in result.output and str(env / "linear.py") in result.output
    assert "10:00" in result.output  # the time limit is printed

    clock.advance(60)
    result = run("check", "linear", "--seed", "1")
    assert result.exit_code == 1
    assert "drill linear: 1:00 elapsed, 9:00 left of 10:00" in result.output

    clock.advance(240)
    solve(env, "linear")
    result = run("check", "linear", "--seed", "2")
    assert result.exit_code == 0
    assert "drill linear: solved in 5:00 (limit 10:00, within the limit)" in result.output

    clock.advance(100)  # a later check does not move the recorded time to green
    run("check", "linear", "--seed", "3")
    s = stats_json()["linear"]
    assert (s["attempts"], s["solved"], s["best_seconds"], s["median_seconds"]) == (1, 1, 300, 300)
    assert s["last_score"][0] == s["last_score"][1]

    doc = json.loads(run("check", "linear", "--json", "--seed", "4").output)
    assert "drill" not in doc  # the drill ended when it was solved


def test_running_over_time_is_recorded_not_hidden(env, clock):
    run("drill", "sigmoid", "--minutes", "1")
    clock.advance(150)
    result = run("check", "sigmoid", "--json", "--seed", "1")
    doc = json.loads(result.output)
    assert doc["drill"]["elapsed_seconds"] == 150 and doc["drill"]["limit_seconds"] == 60
    assert "over the 1:00 limit by 1:30" in doc["drill"]["line"]
    solve(env, "sigmoid")
    clock.advance(30)
    result = run("check", "sigmoid", "--seed", "2")
    assert "solved in 3:00 (limit 1:00, over the limit by 2:00)" in result.output
    s = stats_json()["sigmoid"]
    assert s["over_time"] == 1 and s["best_seconds"] == 180


def test_every_check_is_recorded_with_seed_score_and_drill(env, clock):
    run("drill", "linear")
    run("check", "linear", "sigmoid", "--seed", "77")
    hist = history.History.open()
    rows = hist.checks()
    assert [(r["exercise"], r["seed"]) for r in rows] == [("linear", 77), ("sigmoid", 77)]
    assert rows[0]["drill_id"] is not None and rows[1]["drill_id"] is None
    assert rows[0]["score"] == 0 and rows[0]["status"] == "not_started"


def test_a_new_drill_keeps_the_old_attempt(env, clock):
    run("list")
    (env / "adam.py").write_text("# my half-finished Adam\n")
    result = run("drill", "adam")
    kept = list((env / workspace.ATTEMPTS).glob("adam-*.py"))
    assert len(kept) == 1 and kept[0].read_text() == "# my half-finished Adam\n"
    assert str(kept[0]) in result.output
    assert (env / "adam.py").read_text() == workspace.skeleton_path("adam").read_text()


def test_trend_median_and_best_over_several_drills(env, clock):
    for seconds in (400, 300, 200):
        run("drill", "linear")
        clock.advance(seconds)
        solve(env, "linear")
        run("check", "linear", "--seed", "1")
    s = stats_json()["linear"]
    assert (s["attempts"], s["solved"], s["best_seconds"], s["median_seconds"]) == (3, 3, 200, 300)
    assert s["trend"] == "faster"
    assert progress.trend([100, 100, 150]) == "slower" and progress.trend([100, 104]) == "steady"


def test_random_picks_the_never_drilled_then_the_failed_and_spaces_them(env, clock):
    hist = history.History.open()
    names = catalog.names()
    seen = []
    for _ in names:  # never drilled first: every exercise once before any repeats
        name = drill.pick_random(hist)
        assert name not in seen
        seen.append(name)
        hist.start_drill(name, str(env), 600)
        clock.advance(10)
    assert sorted(seen) == sorted(names)
    # Solve all but adam, then drill two others (solved, equally fast): adam, last unsolved,
    # is now the weakest and was not among the last two drilled.
    for other in ("linear", "sigmoid"):
        clock.advance(10)
        hist.start_drill(other, str(env), 600)
    for d in hist.drills():
        if d.exercise != "adam":
            hist._write("UPDATE drills SET green_seconds = 100, ended = started + 100 WHERE id = ?", (d.id,))
    assert drill.pick_random(hist) == "adam"
    clock.advance(10)
    hist.start_drill("adam", str(env), 600)
    assert drill.pick_random(hist) != "adam"  # spaced: not straight back, though still unsolved


def test_random_prefers_the_exercise_slow_against_its_best(env, clock):
    hist = history.History.open()
    for name in catalog.names():
        for seconds in ((100, 300) if name == "mlp" else (100, 100)):
            d = hist.start_drill(name, str(env), 600)
            hist._write("UPDATE drills SET green_seconds = ?, ended = started + ? WHERE id = ?",
                        (seconds, seconds, d.id))
            clock.advance(1000)
    hist.start_drill("linear", str(env), 600)
    hist._write("UPDATE drills SET green_seconds = 10, ended = started + 10 WHERE exercise = 'linear' AND green_seconds IS NULL")
    assert drill.pick_random(hist) == "mlp"


def test_drill_random_from_the_command_line(env, clock):
    result = run("drill", "--random")
    assert result.exit_code == 0 and "Drill:" in result.output


def test_hints_go_one_level_deeper_each_call_and_each_level_is_counted_once(env, clock):
    ex = catalog.get("linear")
    assert len(ex.hints) == 3 and len(ex.hints_zh) == 3
    run("drill", "linear")
    shown = [run("hint", "linear").output for _ in range(4)]
    assert [f"Hint {i}/3" in out for i, out in zip((1, 2, 3, 3), shown)] == [True] * 4
    assert ex.hints[0].strip()[:40] in shown[0] and ex.hints[2].strip()[:40] in shown[2]
    assert "deepest hint" in shown[3]
    assert history.History.open().active_drill(str(env)).hints == 3  # the repeat is not counted
    run("drill", "linear")  # a new drill starts from the first hint again
    assert "Hint 1/3" in run("hint", "linear").output


def test_every_exercise_has_three_hints_in_both_languages():
    for ex in catalog.exercises():
        assert len(ex.hints) == 3 and len(ex.hints_zh) == 3, ex.name
        assert ex.title_zh and ex.task_zh and ex.minutes > 0


def test_solution_during_a_running_drill_asks_first(env, clock):
    run("drill", "softmax_ce")
    refused = run("solution", "softmax_ce", input="n\n")
    assert refused.exit_code == 0 and "not shown" in refused.output and "Error" not in refused.output
    assert history.History.open().active_drill(str(env)) is not None
    shown = run("solution", "softmax_ce", input="y\n")
    assert shown.exit_code == 0 and "class SoftmaxCrossEntropy" in shown.output
    drills = history.History.open().drills("softmax_ce")
    assert drills[-1].ended is not None and drills[-1].solution_seen == 1 and not drills[-1].solved


def test_solution_without_a_terminal_during_a_drill_is_not_shown(env, clock):
    run("drill", "linear")
    result = CliRunner().invoke(cli, ["solution", "linear"])  # no input at all
    assert result.exit_code == 0 and "class Linear" not in result.output and "not shown" in result.output


def test_solution_diff_shows_how_yours_differs(env, clock):
    run("list")
    mine = solution_path("linear").read_text().replace("dout.sum(axis=0)", "dout.sum(axis=1)")
    (env / "linear.py").write_text(mine)
    result = run("solution", "linear", "--diff")
    assert "-        self.db = dout.sum(axis=1)" in result.output
    assert "+        self.db = dout.sum(axis=0)" in result.output
    solve(env, "linear")
    assert "line for line" in run("solution", "linear", "--diff").output


def test_list_shows_status_best_score_best_time_and_difficulty(env, clock):
    run("drill", "linear")
    clock.advance(125)
    solve(env, "linear")
    run("check", "linear", "--seed", "1")
    (env / "sigmoid.py").write_text("# started\n")
    doc = {r["name"]: r for r in json.loads(run("list", "--json").output)["exercises"]}
    assert doc["linear"]["status"] == "passed" and doc["linear"]["best_seconds"] == 125
    assert doc["linear"]["best_score"][0] == doc["linear"]["best_score"][1]
    assert doc["sigmoid"]["status"] == "in_progress" and doc["mlp"]["status"] == "not_started"
    assert doc["autograd"]["difficulty"] > doc["linear"]["difficulty"]
    table = run("list").output
    assert "2:05" in table and "****" in table


def test_history_is_intact_after_a_kill_during_writes(tmp_path):
    """kill -9 a process that writes in transactions: the file stays whole, no half-writes."""
    db = tmp_path / "history.sqlite3"
    writer = subprocess.Popen([sys.executable, "-c", f"""
import itertools
from pathlib import Path
from bpdrill.practice import history
h = history.History.open(Path({str(db)!r}))
print("ready", flush=True)
for i in itertools.count():
    d = h.start_drill("linear", "/ws", 600)
    h.record_check("linear", "/ws", 13, 13, "passed", i, d)
"""], stdout=subprocess.PIPE)
    assert writer.stdout.readline().strip() == b"ready"
    time.sleep(1.0)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    con = sqlite3.connect(str(db))
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    drills = con.execute("SELECT COUNT(*) FROM drills").fetchone()[0]
    solved = con.execute("SELECT COUNT(*) FROM drills WHERE green_seconds IS NOT NULL").fetchone()[0]
    checks = con.execute("SELECT COUNT(*) FROM checks").fetchone()[0]
    assert drills > 10
    assert checks in (drills, drills - 1) and solved == checks  # each write whole or not at all
    history.History.open(db).start_drill("sigmoid", "/ws", 60)  # and it still takes new writes


def test_watch_rechecks_on_save_shows_syntax_errors_and_stops_cleanly(env):
    run("list")
    with watching(env, "linear", "--interval", "0.1") as watch:
        watch.wait_for("linear 0/")  # the first round: the skeleton
        time.sleep(0.2)
        (env / "linear.py").write_text(solution_path("linear").read_text().replace("def backward(self, dout):",
                                                                                    "def backward(self, dout)"))
        watch.wait_for("syntax error")  # shown, and watching goes on
        time.sleep(0.2)
        solve(env, "linear")
        watch.wait_for("full marks")
    assert watch.proc.returncode == 0, watch.err
    assert "stopped watching" in watch.out and "Traceback" not in watch.err


def test_reset_all_keeps_every_edited_attempt(env, clock):
    run("list")
    for name in ("linear", "mlp"):
        (env / f"{name}.py").write_text(f"# mine: {name}\n")
    assert run("reset", "--all").exit_code == 0
    kept = sorted(p.name.split("-")[0] for p in (env / workspace.ATTEMPTS).iterdir())
    assert kept == ["linear", "mlp"]
