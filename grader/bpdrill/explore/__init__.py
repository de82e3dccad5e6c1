"""Explorations: gradients through deep stacks of the learner's layers, plots, the capstone."""
