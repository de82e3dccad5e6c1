"""Comparing a learner's arrays with expected ones: relative error, tolerances, numerical gradients,
and the statistics of a random draw (checks.init) against its distribution.

Every comparison the grader makes goes through here, so every check judges alike.
"""
from __future__ import annotations

import math

import numpy as np

# Central differences with step H in float64: truncation error ~ H**2 * |f'''| ~ 1e-12 and
# rounding error ~ 1e-16 * |f| / H ~ 1e-10, relative to gradients of order 1. A correct
# backward lands near 1e-9 relative error; the mildest real mistake (an eps, a 1/N with
# N = 2) is above 1e-3. NUMGRAD_TOL = 1e-6 sits 1000x away from both.
H = 1e-6
NUMGRAD_TOL = 1e-6

# Against PyTorch float64 both sides are exact up to summation order (~1e-15 relative):
# element-wise |got - expected| <= RTOL * |expected| + ATOL * max|expected|.
RTOL = 1e-7
ATOL = 1e-9


def relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    """||got - expected|| / (||got|| + ||expected||): 0 when equal, 1 when unrelated or opposite-ish."""
    if not (np.all(np.isfinite(got)) and np.all(np.isfinite(expected))):
        return float("inf")
    scale = max(float(np.max(np.abs(got), initial=0.0)), float(np.max(np.abs(expected), initial=0.0)))
    if scale == 0:
        return 0.0
    got, expected = got / scale, expected / scale  # tiny values: squares would underflow in the norms
    return float(np.linalg.norm(got - expected) / (np.linalg.norm(got) + np.linalg.norm(expected)))


def constant_ratio(got: np.ndarray, expected: np.ndarray) -> float | None:
    """c when got is c * expected for one constant c (not near 1, not 0) up to NUMGRAD_TOL, else None.

    Never claimed from fewer than two entries that matter: one factor fits any single number."""
    if got.shape != expected.shape or not (np.all(np.isfinite(got)) and np.all(np.isfinite(expected))):
        return None
    scale = float(np.max(np.abs(expected), initial=0.0))
    if scale == 0 or np.count_nonzero(np.abs(expected) > 1e-9 * scale) < 2:
        return None
    e = expected / scale
    c = float(np.vdot(got / scale, e) / np.vdot(e, e))
    # a factor shown as 1 (1.00001) would say nothing: it must read as another number
    if abs(c) < 1e-9 or abs(c - 1) <= 1e-3 or relative_error(got, c * expected) > NUMGRAD_TOL:
        return None
    return c


def numerical_gradient(plus: np.ndarray, minus: np.ndarray, shape: tuple, project) -> np.ndarray:
    """d(project(f))/d(input) by central differences.

    plus, minus: (size, *output shape) outputs of f with one input element moved by +H, -H.
    project: maps a stack of outputs (size, *output shape) to scalars (size,), e.g. the
    sum of output * dout. Returns an array of the input's shape.
    """
    return ((project(plus) - project(minus)) / (2 * H)).reshape(shape)


def weighted_sum(dout: np.ndarray):
    """The projection sum(output * dout) over every output axis, for a stack of outputs."""
    return lambda stack: (stack * dout).reshape(stack.shape[0], -1).sum(axis=1)


def element_tolerance(expected: np.ndarray) -> np.ndarray:
    """The difference each element may have: RTOL * |expected| + ATOL * max|expected|."""
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    return RTOL * np.abs(expected) + ATOL * max(scale, 1e-300)


def elementwise_mismatch(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Boolean mask of the elements outside RTOL/ATOL (scaled by the array's largest value)."""
    return np.abs(got - expected) > element_tolerance(expected)


def distinct(expected: float, got: float) -> tuple[str, str]:
    """The two numbers printed with enough digits that they read differently (6 to 17)."""
    for digits in (6, 9, 12, 17):
        a, b = f"{expected:.{digits}g}", f"{got:.{digits}g}"
        if a != b:
            return a, b
    return a, b


def worst_elements(got: np.ndarray, expected: np.ndarray, count: int = 3, excess: bool = False) -> list[tuple]:
    """The count elements that differ most: [(index tuple, expected, got), ...].

    excess: rank by how far each difference is over its element's tolerance (the torch
    check's measure), and list only elements that are over it."""
    diff = np.abs(got - expected).reshape(-1)
    if excess:
        over = diff - element_tolerance(expected).reshape(-1)
        order = [k for k in np.argsort(-over, kind="stable")[:count] if over[k] > 0]
    else:
        order = np.argsort(-diff, kind="stable")[:count]
    return [(tuple(int(i) for i in np.unravel_index(k, got.shape)),
             float(expected.reshape(-1)[k]), float(got.reshape(-1)[k]))
            for k in order if diff[k] > 0]


def format_index(index: tuple) -> str:
    return "[" + ", ".join(map(str, index)) + "]"


# ---- the statistics of a random draw (a draw has no single right value to compare with) -------

def kurtosis(W: np.ndarray) -> float:
    """E[W^4] / E[W^2]^2 (moments about 0): 1.8 for a uniform of mean 0, 3 for a normal."""
    W2 = W * W
    m2 = float(np.mean(W2))
    return float(np.mean(W2 * W2)) / (m2 * m2) if m2 > 0 else float("nan")


def rms(W: np.ndarray) -> float:
    """The root mean square: the standard deviation of a draw of mean 0."""
    return float(np.sqrt(np.mean(W * W)))


def normal_cdf(z: np.ndarray) -> np.ndarray:
    """The standard normal CDF, vectorised: erf by Abramowitz and Stegun 7.1.26 (absolute error
    under 1.5e-7, four orders of magnitude below checks.init's KS tolerances)."""
    x = np.abs(z) / math.sqrt(2.0)
    k = 1.0 / (1.0 + 0.3275911 * x)
    poly = k * (0.254829592 + k * (-0.284496736 + k * (1.421413741 + k * (-1.453152027 + k * 1.061405429))))
    erf = 1.0 - poly * np.exp(-x * x)
    return 0.5 * (1.0 + np.sign(z) * erf)


def ks_distance(W: np.ndarray, std: float, bound: float | None) -> float:
    """sup |F_n - F| between the draw and N(0, std^2), or U(-bound, bound) when bound is given."""
    x = np.sort(W.reshape(-1))
    n = x.size
    if bound is not None:
        cdf = np.clip((x + bound) / (2 * bound), 0.0, 1.0)
    else:
        cdf = normal_cdf(x / std)
    i = np.arange(1, n + 1)
    return float(max(np.max(i / n - cdf), np.max(cdf - (i - 1) / n)))
