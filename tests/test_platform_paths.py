"""The data folder comes from platformdirs, and an existing history stays where it was found."""
from __future__ import annotations

import sys

import pytest

from bpdrill.practice import history


def test_bpdrill_data_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("BPDRILL_DATA", str(tmp_path / "mine"))
    assert history.data_dir() == tmp_path / "mine"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the XDG layout is Linux's")
def test_an_existing_linux_history_is_found_where_it_is(monkeypatch, tmp_path):
    """Before platformdirs the folder was built by hand from XDG_DATA_HOME, else
    ~/.local/share: a history written there is the one opened now."""
    monkeypatch.delenv("BPDRILL_DATA")
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    old = tmp_path / ".local" / "share" / "bpdrill"
    hist = history.History.open(old / history.FILENAME)
    hist.record_check("linear", "/ws", 8, 8, "passed", 1, None, None)
    hist.close()
    assert history.data_dir() == old
    assert len(history.History.open().checks("linear")) == 1

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert history.data_dir() == tmp_path / "xdg" / "bpdrill"
