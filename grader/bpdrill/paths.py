"""Where bpdrill keeps the learner's data (history, kept references, plots): one place, found
the same way by every layer."""
from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    """$BPDRILL_DATA, else the platform's per-user data folder for bpdrill (platformdirs).

    On Linux that is $XDG_DATA_HOME/bpdrill, else ~/.local/share/bpdrill, and on macOS
    ~/Library/Application Support/bpdrill: where the history has always been. On Windows the
    roaming %APPDATA%\\bpdrill, as before, rather than platformdirs' local default."""
    if os.environ.get("BPDRILL_DATA"):
        return Path(os.environ["BPDRILL_DATA"]).expanduser()
    import platformdirs  # here: only what opens the data folder pays for it

    return Path(platformdirs.user_data_dir("bpdrill", appauthor=False, roaming=True))
