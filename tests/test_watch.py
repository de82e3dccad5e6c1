"""`bpdrill watch` sees saves through watchfiles (inotify), also an editor's save by rename."""
from __future__ import annotations

import os
import re
import time

from conftest import solution_path, watching


def test_watch_sees_a_save_by_rename(tmp_path):
    ws = tmp_path / "ws"
    with watching(ws, "sigmoid") as watch:
        watch.wait_for("sigmoid 0/")  # the first round: the skeleton
        # As vim and many editors save: a new file beside it, renamed over the old one.
        fresh = ws / ".sigmoid.py.swp-new"
        fresh.write_text(solution_path("sigmoid").read_text())
        os.replace(fresh, ws / "sigmoid.py")
        watch.wait_for("full marks")
        # Touched without a change: no new round.
        os.utime(ws / "sigmoid.py")
        time.sleep(1.0)
    assert watch.proc.returncode == 0, watch.err
    assert "stopped watching" in watch.out and "Traceback" not in watch.err
    rounds = re.findall(r"^\S+  sigmoid \d+/\d+", "".join(watch.lines) + watch.out, re.M)  # "12:00:01  sigmoid 8/8"
    assert len(rounds) == 2, "one round at the start, one for the save"
