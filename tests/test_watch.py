"""`bpdrill watch` sees saves through watchfiles (inotify), also an editor's save by rename."""
from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time

from conftest import solution_path


def test_watch_sees_a_save_by_rename(tmp_path):
    ws = tmp_path / "ws"
    environment = {**os.environ, "BPDRILL_WORKSPACE": str(ws)}
    proc = subprocess.Popen([sys.executable, "-m", "bpdrill", "watch", "sigmoid"], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    ready = selectors.DefaultSelector()
    ready.register(proc.stdout, selectors.EVENT_READ)

    def wait_for(text: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not ready.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = proc.stdout.readline()
            lines.append(line)
            if text in line:
                return
        raise AssertionError(f"no {text!r} within {seconds} s: {lines}")

    try:
        wait_for("sigmoid 0/")  # the first round: the skeleton
        # As vim and many editors save: a new file beside it, renamed over the old one.
        fresh = ws / ".sigmoid.py.swp-new"
        fresh.write_text(solution_path("sigmoid").read_text())
        os.replace(fresh, ws / "sigmoid.py")
        wait_for("full marks")
        # Touched without a change: no new round.
        os.utime(ws / "sigmoid.py")
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "stopped watching" in out and "Traceback" not in err
    assert "".join(lines + [out]).count("sigmoid ") == 2, "one round at the start, one for the save"
