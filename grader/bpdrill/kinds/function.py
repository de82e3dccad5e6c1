"""The function kind: plain functions of arrays, graded on what they return and on what they
do to their arguments (clip_grad_norm scales gradients in place; init draws from a seeded
generator and is judged by statistics over large draws). Each exercise drives and references
its own calls; no shared life cycle beyond the checks' judges."""

MISTAKES: list = []
