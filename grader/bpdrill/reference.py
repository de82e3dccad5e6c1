"""What correct answers are: each exercise's computation in PyTorch float64 autograd.

The only module that imports torch, and only when a reference is first asked for, so the
worker and the CLI start without it. Each exercise's module says what to compute
(`reference(ref, scenario)`); this layer hands it a `Ref`: torch itself, set to float64,
and the two conversions every reference needs.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np


class Ref:
    """torch, set to float64, and conversions between NumPy arrays and torch tensors."""

    def __init__(self, torch):
        self.torch = torch

    def leaf(self, array, requires_grad: bool = True):
        """A float64 tensor of array (a fresh copy), a leaf that collects .grad by default."""
        return self.torch.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)

    def long(self, array):
        """An int64 tensor (class labels, indices)."""
        return self.torch.tensor(np.asarray(array), dtype=self.torch.long)

    @staticmethod
    def numpy(tensor) -> np.ndarray:
        return tensor.detach().numpy().copy()


@lru_cache(maxsize=1)
def ref() -> Ref:
    import torch  # lazy: about a second and a half to import
    torch.set_default_dtype(torch.float64)
    return Ref(torch)


def for_unit(unit) -> Callable:
    """The reference function of an exercise unit: Scenario -> dict of expected values."""
    return lambda scenario: unit.reference(ref(), scenario)
