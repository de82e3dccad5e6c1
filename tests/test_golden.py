"""Every fixture's report (verdicts, check ids, diagnosis names, messages, lines) is the one
recorded in tests/golden/reports.json: a refactoring changes none of them. A change made on
purpose is recorded again with `python tests/golden/record.py`, and shows in the diff."""
from __future__ import annotations

import json

import pytest

from golden import record


@pytest.mark.sweep
def test_every_fixture_report_is_the_recorded_one():
    old = json.loads(record.GOLDEN.read_text(encoding="utf-8"))
    lines = record.differences(old, record.record())
    assert not lines, "reports changed:\n" + "\n".join(lines[:40])
