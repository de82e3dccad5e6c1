"""`bpdrill serve`: the local page, served by the real command and driven in a real browser
(Debian's chromium through Playwright's Python client).

The screenshot in the README (docs/serve.png) is taken here: set BPDRILL_SCREENSHOTS to a
folder to keep it.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from bpdrill import catalog
from bpdrill.practice import workspace
from conftest import grade_inline, solution_path, wrong_fixture

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def served(tmp_path):
    """`bpdrill serve` on a fresh workspace: (base address, token, workspace), stopped after."""
    ws = tmp_path / "ws"
    proc = subprocess.Popen([sys.executable, "-m", "bpdrill", "serve", "--workspace", str(ws)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            found = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=(\S+)", line)
            if found:
                break
        else:
            pytest.fail("bpdrill serve printed no address:\n" + "".join(lines))
        yield found.group(1), found.group(2), ws
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_only_127_0_0_1_and_only_with_the_token(served):
    base, token, ws = served
    port = int(base.rsplit(":", 1)[1])
    assert httpx.get(base + "/").status_code == 403
    assert httpx.get(base + "/?token=" + "x" * len(token)).status_code == 403
    assert httpx.get(base + "/api/exercises").status_code == 403
    assert httpx.get(f"{base}/?token={token}").status_code == 200
    assert httpx.get(f"{base}/static/editor.js?token={token}").status_code == 200
    # A change needs the token in a header, which a cross-site form cannot send ...
    before = (ws / "sigmoid.py").read_bytes()
    refused = httpx.put(f"{base}/api/exercises/sigmoid/file?token={token}", json={"text": "x = 1\n", "force": True})
    assert refused.status_code == 403
    assert httpx.post(f"{base}/api/exercises/sigmoid/check?token={token}").status_code == 403
    # ... nor from another site's page, even with the token.
    assert httpx.put(f"{base}/api/exercises/sigmoid/file", json={"text": "x = 1\n", "force": True},
                     headers={"X-Bpdrill-Token": token, "Origin": "http://evil.example"}).status_code == 403
    assert (ws / "sigmoid.py").read_bytes() == before
    # A name that resolves to 127.0.0.1 by DNS rebinding is not this server.
    assert httpx.get(f"{base}/?token={token}", headers={"Host": f"evil.example:{port}"}).status_code == 403
    # Bound to 127.0.0.1 alone: another loopback address (and so any other interface) has nothing.
    with socket.socket() as other:
        other.settimeout(2)
        assert other.connect_ex(("127.0.0.2", port)) != 0


def test_every_route_about_an_exercise_names_an_unknown_one_and_says_a_workspace_error(served):
    base, token, ws = served
    api = httpx.Client(base_url=base, headers={"X-Bpdrill-Token": token}, timeout=60)
    routes = [("GET", ""), ("PUT", "/file"), ("POST", "/check"), ("POST", "/hint"), ("POST", "/drill")]
    for method, route in routes:
        answer = api.request(method, f"/api/exercises/lineer{route}", json={"text": "x = 1\n"})
        assert answer.status_code == 404 and "'lineer'" in answer.json()["error"], (method, route)
    # A FIFO where the learner's file should be: a 500 that says so, never a hang.
    (ws / "sigmoid.py").unlink()
    os.mkfifo(ws / "sigmoid.py")
    answer = api.get("/api/exercises/sigmoid")
    assert answer.status_code == 500 and "FIFO" in answer.json()["error"]


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run installs it)")
    profile = tempfile.mkdtemp(prefix="bpdrill-chromium-")
    with playwright_api.sync_playwright() as p:
        # A fresh profile of its own (Playwright passes it as --user-data-dir).
        context = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                       headless=True, viewport={"width": 1400, "height": 900})
        yield context
        context.close()
    shutil.rmtree(profile, ignore_errors=True)


def editor_text(page) -> str:
    return page.evaluate("BpdrillEditor.text(window.bpdrillView)")


def test_the_page_lists_checks_and_shows_the_diagnosis_at_its_line(served, browser, tmp_path):
    base, token, ws = served
    page = browser.new_page()
    page.set_default_timeout(120_000)  # a shared, loaded machine: waits are for events, not for speed
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{base}/?token={token}")

    # The list: every exercise, with its progress.
    page.wait_for_selector("#exercises tbody tr")
    names = page.eval_on_selector_all("#exercises tbody tr", "rows => rows.map(r => r.dataset.name)")
    assert names == catalog.names()
    assert "not started" in page.inner_text("#exercises tbody tr[data-name=sigmoid]")

    # An exercise: the task and an editor holding the workspace file.
    page.click("#exercises a[href='#/sigmoid']")
    page.wait_for_selector("#editor .cm-content")
    assert editor_text(page) == (ws / "sigmoid.py").read_text(encoding="utf-8")
    assert catalog.get("sigmoid").task.split()[0] in page.inner_text("#task")

    # Edit: a known mistake, then a keystroke typed into the editor; Ctrl+Enter saves and checks.
    wrong = wrong_fixture("sigmoid", "derivative_on_preactivation").read_text(encoding="utf-8")
    page.evaluate("text => BpdrillEditor.replace(window.bpdrillView, text)", wrong)
    page.click("#editor .cm-content")
    page.keyboard.press("Control+End")
    page.keyboard.type("# checked from the page\n")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#report .bpdrill-report", timeout=120_000)
    on_disk = (ws / "sigmoid.py").read_text(encoding="utf-8")
    assert on_disk == editor_text(page) and on_disk.startswith(wrong.rstrip("\n"))
    assert "checked from the page" in on_disk

    # The diagnosis is drawn at its line in the editor: the line the grader names.
    expected = grade_inline("sigmoid", wrong_fixture("sigmoid", "derivative_on_preactivation"), 1)
    lines = {c.diagnosis.line for c in expected.checks if c.diagnosis is not None}
    assert lines, "the fixture's mistake is diagnosed"
    page.wait_for_selector(".cm-lintRange-error")
    marked = page.evaluate("""() => [...document.querySelectorAll('.cm-lintRange-error')].map(
        el => window.bpdrillView.state.doc.lineAt(window.bpdrillView.posAtDOM(el)).number)""")
    assert set(marked) == lines
    assert "looks like:" in page.inner_text("#report")
    shot = tmp_path / "serve.png"
    page.screenshot(path=str(shot))
    if os.environ.get("BPDRILL_SCREENSHOTS"):
        shutil.copy(shot, Path(os.environ["BPDRILL_SCREENSHOTS"]) / "serve.png")

    # A save in the terminal is seen by the page (nothing unsaved here: it loads it) ...
    right = solution_path("sigmoid").read_text(encoding="utf-8")
    (ws / "sigmoid.py").write_text(right, encoding="utf-8")
    page.wait_for_function("text => BpdrillEditor.text(window.bpdrillView) === text", arg=right, timeout=120_000)
    page.keyboard.press("Control+Enter")
    page.wait_for_function("() => document.querySelector('#state').textContent === '8/8'", timeout=120_000)

    # ... and a stale page never overwrites it: unsaved edits here, a save there.
    page.click("#editor .cm-content")
    page.keyboard.press("Control+End")
    page.keyboard.type("# typed in the page\n")
    elsewhere = right + "# saved in the terminal\n"
    (ws / "sigmoid.py").write_text(elsewhere, encoding="utf-8")
    page.wait_for_selector("#conflict", state="visible", timeout=120_000)
    with page.expect_response(lambda r: r.url.endswith("/api/exercises/sigmoid/file")) as answer:
        page.click("#save")
    assert answer.value.status == 409  # refused: the file changed since the page loaded it
    assert (ws / "sigmoid.py").read_text(encoding="utf-8") == elsewhere
    page.click("#keep")  # the learner's choice: the page's text, the terminal's version kept
    page.wait_for_selector("#conflict", state="hidden")
    assert "# typed in the page" in (ws / "sigmoid.py").read_text(encoding="utf-8")
    kept = [p.read_text(encoding="utf-8") for p in (ws / ".attempts").glob("sigmoid-*.py")]
    assert elsewhere in kept
    page.close()


def test_drills_interview_mode_and_hints_through_the_page(served):
    base, token, ws = served
    api = httpx.Client(base_url=base, headers={"X-Bpdrill-Token": token}, timeout=60)
    first = api.post("/api/exercises/linear/hint").json()
    assert first["level"] == 1 and first["text"]

    (ws / "linear.py").write_text("# my attempt\n" + (ws / "linear.py").read_text())
    started = api.post("/api/exercises/linear/drill", json={"interview": True}).json()
    assert started["kept"] and "# my attempt" in Path(started["kept"]).read_text()
    shown = api.get("/api/exercises/linear").json()
    assert shown["interview"] and shown["hints"] == 0
    assert shown["clock"]["limit_seconds"] == 60 * catalog.get("linear").minutes
    assert shown["text"] != workspace.skeleton_path("linear").read_text()  # a blank page, not the skeleton
    refused = api.post("/api/exercises/linear/hint")
    assert refused.status_code == 403 and "interview" in refused.json()["error"]

    # In interview mode the editor's marks name the mistake and its place, never the fix.
    wrong = wrong_fixture("linear", "db_not_summed").read_text()
    saved = api.put("/api/exercises/linear/file", json={"text": wrong, "base": shown["hash"]})
    assert saved.status_code == 200
    checked = api.post("/api/exercises/linear/check").json()
    full = {c["diagnosis"]["message"] for c in checked["report"]["exercises"][0]["checks"] if c["diagnosis"]}
    assert full and checked["marks"] and checked["interview"]
    assert not any(message in mark["message"] for mark in checked["marks"] for message in full)

    # A plain drill solved from the page: its time to green is in the history the plot draws.
    # (An interview drill turned green at once by pasting the solution counts as restored.)
    assert api.post("/api/exercises/linear/drill", json={"interview": False}).status_code == 200
    shown = api.get("/api/exercises/linear").json()
    assert not shown["interview"] and shown["hints"] > 0
    right = solution_path("linear").read_text()
    saved = api.put("/api/exercises/linear/file", json={"text": right, "base": shown["hash"]})
    assert saved.status_code == 200
    checked = api.post("/api/exercises/linear/check").json()
    assert checked["report"]["exercises"][0]["status"] == "passed"
    assert checked["clock"]["solved"]
    drills = api.get("/api/exercises/linear").json()["drills"]
    assert [d["interview"] for d in drills] == [True, False]
    assert drills[1]["green_seconds"] is not None
