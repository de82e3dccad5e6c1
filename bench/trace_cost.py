"""What finding the line at fault costs a learner whose answer is wrong: `check` of one wrong
file with and without the traced second round (grading/runner.place_at_fault), in this process,
with real workers and warm references.

    python bench/trace_cost.py [--repeat 5] [NAME ...]

For each exercise, its first wrong fixture (tests/fixtures/wrong/<name>.toml) is checked
`repeat` times each way under one seed; prints the medians and their ratio. A right answer is
never traced (nothing fails), so it pays nothing.
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def main(argv: list[str]) -> int:
    os.environ.setdefault("BPDRILL_DATA", tempfile.mkdtemp(prefix="bpdrill-bench-"))
    os.environ.setdefault("BPDRILL_CACHE", tempfile.mkdtemp(prefix="bpdrill-bench-refs-"))
    import conftest
    from bpdrill.grading import runner
    repeat = int(argv[argv.index("--repeat") + 1]) if "--repeat" in argv else 5
    names = [a for a in argv if not a.startswith("-") and not a.isdigit()] or conftest.EXERCISES
    traced_at_fault = runner.place_at_fault
    ratios = []
    print(f"{'exercise':18} {'untraced':>9} {'traced':>9} {'ratio':>6}")
    for name in names:
        wrong = conftest.mistakes(name)
        if not wrong:
            continue
        path = conftest.wrong_fixture(name, wrong[0].id)
        runner.run_checks({name: path}, 7)  # warm: references computed, the zygote started
        times = {}
        for label, place in (("untraced", lambda judged, run: None), ("traced", traced_at_fault)):
            runner.place_at_fault = place
            runs = []
            for _ in range(repeat):
                start = time.perf_counter()
                runner.run_checks({name: path}, 7)
                runs.append(time.perf_counter() - start)
            times[label] = statistics.median(runs)
        runner.place_at_fault = traced_at_fault
        ratio = times["traced"] / times["untraced"]
        ratios.append(ratio)
        print(f"{name:18} {times['untraced']:9.3f} {times['traced']:9.3f} {ratio:6.2f}")
    if ratios:
        print(f"median ratio traced / untraced: {statistics.median(ratios):.2f} (max {max(ratios):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
