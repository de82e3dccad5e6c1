"""bpdrill: drill backpropagation by hand, graded by hidden numerical and PyTorch checks."""

__version__ = "0.1.0"
