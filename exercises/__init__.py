"""Pristine skeletons, generated from solutions/ by `python -m bpdrill.practice.skeleton`. Never edit by hand:
practise in your workspace (`bpdrill check` creates it)."""
