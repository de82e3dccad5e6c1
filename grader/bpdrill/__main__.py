import os
import sys

# `python -m bpdrill` puts the current folder first on sys.path: run from a workspace, a
# subprocess.py (or numpy.py ...) lying there would be imported in place of the real one.
if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from bpdrill.cli.main import main  # noqa: E402 - after the path is cleaned

main()
