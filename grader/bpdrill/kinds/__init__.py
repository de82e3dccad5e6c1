"""Kinds of exercise: each owns the life cycle of its exercises (how the worker drives the
learner's object, how the reference is called, the standard checks, the lifecycle mistakes)."""
