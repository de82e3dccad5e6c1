"""`bpdrill grade` on a generated class: time per learner, and one hostile file's reach.

    python bench/grade_class.py [--learners 100] [--exercises linear,sigmoid,mlp] [--jobs N]

Generates LEARNERS workspaces (right answers, known mistakes, untouched skeletons, crashes),
grades them with classroom.grade (the code behind `bpdrill grade`: real isolated workers, as
many at once as there are cores), and reports seconds per learner. Then adds one hostile
learner, graded first, whose file overwrites every file it can reach in the class folder,
floods its output and never returns, grades the class again, and compares every other
learner's rows with the first run: any difference is printed and the exit status is 1.
Nothing here asserts a time; the README quotes the output.
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from bpdrill.grading import classroom
from bpdrill.practice.workspace import skeleton_path, solution_path

# Small wrong edits of the solutions (old -> new): mistakes a class makes.
MISTAKES = {
    "linear": [("self.db = dout.sum(axis=0)", "self.db = dout.mean(axis=0)"),
               ("self.dW = self.x.T @ dout", "self.dW = dout.T @ self.x")],
    "sigmoid": [("dx = dout * s * (1.0 - s)", "dx = dout * s * (1.0 + s)")],
    "mlp": [("dscores /= n", "pass")],
}

# The learner file that attacks the others (overwrites, floods its output, never returns).
HOSTILE = (Path(__file__).resolve().parent.parent / "tests" / "hostile" / "overwrites_the_class.py").read_text()


def learner_file(name: str, kind: str) -> str:
    source = solution_path(name).read_text(encoding="utf-8")
    if kind == "right":
        return source
    if kind == "skeleton":
        return skeleton_path(name).read_text(encoding="utf-8")
    if kind == "crash":
        return source + "\nraise RuntimeError('half-finished edit')\n"
    old, new = random.choice(MISTAKES[name])
    assert old in source, (name, old)
    return source.replace(old, new)


def make_class(room: Path, learners: int, names: list[str], seed: int) -> list[Path]:
    random.seed(seed)
    folders = []
    for i in range(learners):
        folder = room / f"learner{i:03d}"
        folder.mkdir(parents=True)
        for name in names:
            kind = random.choices(["right", "wrong", "skeleton", "crash"], weights=[5, 3, 1, 1])[0]
            (folder / f"{name}.py").write_text(learner_file(name, kind), encoding="utf-8")
        folders.append(folder)
    return folders


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=100)
    parser.add_argument("--exercises", default="linear,sigmoid,mlp")
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args()
    names = args.exercises.split(",")
    with tempfile.TemporaryDirectory() as scratch:
        os.environ.setdefault("BPDRILL_CACHE", str(Path(scratch) / "cache"))
        room = Path(scratch) / "class"
        folders = make_class(room, args.learners, names, seed=1)

        start = time.perf_counter()
        clean = classroom.grade(folders, names, seed=7, timeout=args.timeout, jobs=args.jobs)
        seconds = time.perf_counter() - start
        print(f"{args.learners} learners x {len(names)} exercises ({', '.join(names)}), "
              f"{os.cpu_count()} cores: {seconds:.1f} s, {seconds / args.learners:.2f} s per learner")

        before = {p: p.read_bytes() for p in room.glob("*/*.py")}
        hostile = room / "aaa-hostile"
        hostile.mkdir()
        for name in names:
            (hostile / f"{name}.py").write_text(HOSTILE, encoding="utf-8")
        start = time.perf_counter()
        attacked = classroom.grade([hostile, *folders], names, seed=7, timeout=args.timeout, jobs=args.jobs)
        seconds = time.perf_counter() - start
        print(f"with a hostile learner graded first: {seconds:.1f} s; its rows: "
              + ", ".join(f"{r.exercise} {r.status} {r.score}/{r.max_score}" for r in attacked[:len(names)]))
        others = attacked[len(names):]
        changed = [(a, b) for a, b in zip(clean, others) if asdict(a) != asdict(b)]
        for a, b in changed:
            print(f"CHANGED {a.learner} {a.exercise}: {asdict(a)} -> {asdict(b)}")
        intact = {p: p.read_bytes() for p in room.glob("learner*/*.py")} == before
        print(f"other learners' rows changed by the hostile file: {len(changed)} of {len(clean)}; "
              f"their files intact: {intact}")
        return 0 if not changed and intact else 1


if __name__ == "__main__":
    sys.exit(main())
