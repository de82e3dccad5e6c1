"""How long a learner waits for `bpdrill check`, against the torch-import floor of the same run.

    python bench/check_latency.py [--repeat 5] [--exercise linear]

The floor is `python -c "import torch"`: what any design that imports torch for every check
pays. Each figure is measured in pairs with the floor (floor, then the command, repeat times)
and reported as medians in seconds and as the ratio of the medians, so figures compare
across machines and across load. Nothing here asserts a target; the README quotes the output.

What is measured (the targets of the issue "Check in a blink"):
- first check: `check NAME --solution` on a fresh install (an empty reference cache),
- re-check: `check NAME --solution` once references for a pool of seeds are kept (a fresh
  seed every run, drawn from the pool),
- check all: `check --solution` over every exercise, after a first run,
- watch: from saving the file to the new verdict on screen, in a running `bpdrill watch`,
- peak memory (max RSS) of the grader process and of any process it started.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bpdrill.grading import registry
from bpdrill.practice.workspace import solution_path

BPDRILL = [sys.executable, "-m", "bpdrill"]


def timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def paired(cmd_of, repeat: int, env_of, floor: list) -> list[float]:
    """repeat runs of cmd_of(i), each right after a run of the floor (appended to floor)."""
    times = []
    for i in range(repeat):
        floor.append(timed([sys.executable, "-c", "import torch"], env_of(i)))
        times.append(timed(cmd_of(i), env_of(i)))
    return times


def peak_rss_mb(cmd: list[str], env: dict) -> float:
    """Max RSS of one run of cmd (its own process and every process it waited for)."""
    code = ("import resource, subprocess, sys\n"
            "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, env=env).stdout
    return int(out.strip() or 0) / 1024


def fill(env: dict, names: list[str], count: int) -> None:
    subprocess.run([sys.executable, "-m", "bpdrill.grading.reference", "fill", "--count", str(count), *names],
                   env=env, check=True)


def watch_latency(env: dict, name: str, repeat: int) -> list[float]:
    """Seconds from a save to the new verdict line of a running `bpdrill watch`."""
    ws = Path(env["BPDRILL_WORKSPACE"])
    path = ws / f"{name}.py"
    path.write_text(solution_path(name).read_text())
    proc = subprocess.Popen([*BPDRILL, "watch", name], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env, bufsize=1)
    try:
        def next_verdict() -> None:
            for line in proc.stdout:
                if f"{name} " in line and "/" in line:
                    return
        next_verdict()  # the first check, on start
        times = []
        for i in range(repeat):
            time.sleep(0.5)
            start = time.perf_counter()
            tmp = path.with_suffix(".tmp")  # saved as editors save: the new content in one step
            tmp.write_text(solution_path(name).read_text() + f"\n# save {i}\n")
            os.replace(tmp, path)
            next_verdict()
            times.append(time.perf_counter() - start)
        return times
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--exercise", default="linear")
    args = parser.parse_args()
    name, repeat = args.exercise, args.repeat
    root = Path(tempfile.mkdtemp(prefix="bpdrill-bench-"))
    base = {**os.environ, "BPDRILL_DATA": str(root / "data"), "BPDRILL_PREFETCH": "0",
            "BPDRILL_WORKSPACE": str(root / "ws")}
    subprocess.run([*BPDRILL, "init", str(root / "ws")], env=base, stdout=subprocess.DEVNULL, check=True)
    rows, floor = [], []

    def fresh_cache(i):
        return {**base, "BPDRILL_CACHE": str(root / f"empty-{i}")}
    first = paired(lambda i: [*BPDRILL, "check", name, "--solution"], repeat, fresh_cache, floor)
    rows.append((f"first check {name} (no references kept)", first))

    warm = {**base, "BPDRILL_CACHE": str(root / "warm")}
    names = registry.names()
    fill(warm, names, 2 * repeat + 4)  # not timed: what the background filler does
    again = paired(lambda i: [*BPDRILL, "check", name, "--solution"], repeat, lambda i: warm, floor)
    rows.append((f"re-check {name} (fresh pooled seed)", again))
    every = paired(lambda i: [*BPDRILL, "check", "--solution"], repeat, lambda i: warm, floor)
    rows.append((f"check all {len(names)} (fresh pooled seed)", every))
    slowest = []
    for other in names:
        slowest.append((statistics.median(timed([*BPDRILL, "check", other, "--solution"], warm)
                                          for _ in range(3)), other))

    fill(warm, [name], 2 * repeat + 4)  # ready references for watch's rounds too (not timed)
    watched = watch_latency(warm, name, repeat)
    floor_s = statistics.median(floor)
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; repeat {repeat}")
    print(f"floor: python -c 'import torch'  median {floor_s:.3f} s over {len(floor)} runs\n")
    print(f"{'what':<44} {'median s':>9} {'x floor':>8}")
    for label, times in rows:
        m = statistics.median(times)
        print(f"{label:<44} {m:>9.3f} {m / floor_s:>8.2f}")
    m = statistics.median(watched)
    print(f"{'watch: save -> new verdict (' + name + ')':<44} {m:>9.3f} {'':>8}")
    print("\nre-check of each exercise, median of 3 (slowest first):")
    for seconds, other in sorted(slowest, reverse=True)[:8]:
        print(f"  {other:<16} {seconds:.3f} s  ({seconds / floor_s:.2f}x floor)")
    print("\npeak memory (max RSS of any process of the run):")
    print(f"  first check {name}: {peak_rss_mb([*BPDRILL, 'check', name, '--solution'], fresh_cache('mem')):.0f} MB"
          "  (the torch helper process)")
    print(f"  re-check {name}:    {peak_rss_mb([*BPDRILL, 'check', name, '--solution'], warm):.0f} MB")
    print(f"  python -c 'import torch': "
          f"{peak_rss_mb([sys.executable, '-c', 'import torch'], base):.0f} MB")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
