"""Limits a command states before it imports the grader (kept light: no NumPy)."""

DEFAULT_TIMEOUT = 5.0  # seconds per exercise: a correct file needs under 0.5
