"""The zygote's entry point: `python -I -m bpdrill.grading.zygote FD [NAME,NAME...]` (see
bpdrill.grading.isolation); the names are the exercises to import before the first fork.

Started afresh, with a minimal environment, so that nothing of the grader's memory (kept
references, the seed, other exercises' hidden inputs, the helper's whereabouts, secrets in the
environment) is in the process every worker is forked from.
"""
import os
import sys

if __name__ == "__main__":
    from bpdrill.grading import isolation
    names = [n for n in (sys.argv[2] if len(sys.argv) > 2 else "").split(",") if n]
    code = isolation.zygote_serve(int(sys.argv[1]), names or None)
    sys.stdout.flush()
    os._exit(code)
