"""Grading: the registry of exercises, the worker and its isolation, the PyTorch references
and their cache, the run, the report."""
