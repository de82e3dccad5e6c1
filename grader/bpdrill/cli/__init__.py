"""The front ends: the command line (and, beside it, the notebook and the local page)."""
