"""bpdrill: drill backpropagation by hand, graded by hidden numerical and PyTorch checks.

As a library: `bpdrill.check(name) -> bpdrill.Report`; in Jupyter: `%load_ext bpdrill`, then
a cell that starts with `%%bpdrill NAME`. Both are loaded on first use, so `import bpdrill`
stays light (no NumPy, no torch).
"""

__version__ = "0.1.0"

_LAZY = {"check": "bpdrill.api", "Report": "bpdrill.api", "Check": "bpdrill.api", "BpdrillError": "bpdrill.api"}
__all__ = ["check", "Report", "Check", "BpdrillError", "load_ipython_extension"]


def __getattr__(name):
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bpdrill' has no attribute {name!r}")


def load_ipython_extension(ipython):
    """`%load_ext bpdrill`: the cell magic %%bpdrill NAME (bpdrill.notebook)."""
    from bpdrill import notebook
    notebook.load_ipython_extension(ipython)
