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


def test_checks_in_another_order_are_a_difference():
    checks = [{"id": "shape.dx", "passed": True, "score": 1}, {"id": "torch.dx", "passed": True, "score": 1}]
    report = {"score": 2, "max_score": 2, "status": "passed", "message": "", "checks": checks}
    moved = dict(report, checks=checks[::-1])
    assert record.differences({"linear": report}, {"linear": moved})
    assert record.differences({"linear": report}, {"linear": moved}, verdicts_only=True)
    assert not record.differences({"linear": report}, {"linear": dict(report)})
