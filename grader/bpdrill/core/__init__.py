"""The grading core: what passes to and from the worker, the comparison, the judges, the
diagnoses. Imports nothing exercise-specific and nothing above it."""
