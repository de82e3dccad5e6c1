"""Where bpdrill keeps the learner's data (history, kept references, plots): one place, found
the same way by every layer."""
from __future__ import annotations

import os
import sys
from pathlib import Path


def data_dir() -> Path:
    """$BPDRILL_DATA, else the platform's per-user data folder for bpdrill."""
    if os.environ.get("BPDRILL_DATA"):
        return Path(os.environ["BPDRILL_DATA"]).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA", Path.home() / "AppData" / "Roaming"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "bpdrill"
