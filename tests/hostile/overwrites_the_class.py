# A hostile learner file in a class folder (`bpdrill grade`): it overwrites every file it can
# reach in the other learners' folders, floods its output, then never returns. It must cost
# its own row and nothing else (tests/test_classroom.py; bench/grade_class.py measures it).
import glob
import os

if os.path.basename(__file__) == "overwrites_the_class.py":  # here, its neighbours are the test suite
    raise SystemExit("a hostile learner file: graded as a learner's, never run where it is kept")
for path in glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "*", "*.py")):
    try:
        with open(path, "w") as f:
            f.write("raise SystemExit('overwritten')\n")
    except OSError:
        pass
for _ in range(10 ** 6):
    print("x" * 1000)
while True:
    pass
