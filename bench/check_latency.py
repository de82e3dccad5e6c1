"""How long a learner waits for `bpdrill check`, per exercise, against baselines from the same run.

    python bench/check_latency.py [--repeat 5]

Baselines: a bare `python -c "import numpy"` (the floor any worker pays) and `bpdrill --help`
(the CLI's own start-up). Figures are medians in seconds and ratios to the numpy floor, so
they compare across machines; nothing here asserts a target.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

from bpdrill import catalog


def timed(cmd: list[str], env=None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def median_of(cmd: list[str], repeat: int, env=None) -> float:
    return statistics.median(timed(cmd, env) for _ in range(repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import os
    env = {**os.environ, "BPDRILL_DATA": tempfile.mkdtemp(prefix="bpdrill-bench-")}
    bpdrill = [sys.executable, "-m", "bpdrill"]
    floor = median_of([sys.executable, "-c", "import numpy"], args.repeat, env)
    cli = median_of([*bpdrill, "--help"], args.repeat, env)
    print(f"{'what':<34} {'median s':>9} {'x numpy floor':>14}")
    print(f"{'python -c import numpy (floor)':<34} {floor:>9.3f} {1.0:>14.1f}")
    print(f"{'bpdrill --help':<34} {cli:>9.3f} {cli / floor:>14.1f}")
    for name in catalog.names():
        seconds = median_of([*bpdrill, "check", name, "--solution", "--seed", "1"], args.repeat, env)
        print(f"{'bpdrill check ' + name + ' --solution':<34} {seconds:>9.3f} {seconds / floor:>14.1f}")
    every = median_of([*bpdrill, "check", "--solution", "--seed", "1"], args.repeat, env)
    print(f"{'bpdrill check --solution (all six)':<34} {every:>9.3f} {every / floor:>14.1f}")


if __name__ == "__main__":
    main()
