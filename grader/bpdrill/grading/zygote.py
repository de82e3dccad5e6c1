"""The zygote's entry point: `python -I -m bpdrill.grading.zygote FD` (see bpdrill.grading.isolation).

Started afresh, with a minimal environment, so that nothing of the grader's memory (kept
references, the seed, other exercises' hidden inputs, the helper's whereabouts, secrets in the
environment) is in the process every worker is forked from.
"""
import os
import sys

if __name__ == "__main__":
    from bpdrill.grading import isolation
    code = isolation.zygote_serve(int(sys.argv[1]))
    sys.stdout.flush()
    os._exit(code)
