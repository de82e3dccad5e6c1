"""The comparison maths every check relies on, over generated shapes and values."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bpdrill.core import compare

shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5)
finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), shape=shapes)
def test_numerical_gradient_of_a_smooth_function_matches_its_derivative(data, shape):
    x = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-2, 2)))
    dout = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-2, 2)))
    f = lambda a: np.sin(a) * a  # element-wise, so its derivative is known exactly
    flat = x.reshape(-1)
    plus = np.stack([f(x + compare.H * np.eye(flat.size)[i].reshape(shape)) for i in range(flat.size)])
    minus = np.stack([f(x - compare.H * np.eye(flat.size)[i].reshape(shape)) for i in range(flat.size)])
    numeric = compare.numerical_gradient(plus, minus, shape, compare.weighted_sum(dout))
    analytic = dout * (np.cos(x) * x + np.sin(x))
    assert compare.relative_error(numeric, analytic) < compare.NUMGRAD_TOL or \
        np.abs(numeric - analytic).max() < 1e-8


@given(hnp.arrays(np.float64, shapes, elements=finite))
def test_relative_error_is_zero_for_equal_arrays_and_at_most_one(a):
    assert compare.relative_error(a, a.copy()) == 0.0
    assert compare.relative_error(a, -a) <= 1.0 + 1e-12
    assert compare.relative_error(a, np.zeros_like(a)) in (0.0, 1.0)


@given(hnp.arrays(np.float64, shapes, elements=st.floats(0.1, 10)), st.floats(1.001, 100))
def test_a_scaled_gradient_is_always_caught(a, factor):
    # The smallest real mistake the checks must catch: off by a constant factor.
    assert compare.relative_error(a * factor, a) > compare.NUMGRAD_TOL
    assert compare.elementwise_mismatch(a * factor, a).any()


@given(hnp.arrays(np.float64, shapes, elements=finite))
def test_summation_order_noise_is_never_a_mismatch(a):
    noisy = a * (1 + 1e-15)
    assert not compare.elementwise_mismatch(noisy, a).any()


def test_worst_elements_are_ordered_and_indexed():
    expected = np.zeros((2, 3))
    got = expected.copy()
    got[1, 2], got[0, 1] = 5.0, -1.0
    assert compare.worst_elements(got, expected) == [((1, 2), 0.0, 5.0), ((0, 1), 0.0, -1.0)]


def test_a_nan_number_from_the_learner_never_passes_a_comparison():
    """A 0-d result that comes back as a number is checked for NaN like any array."""
    from bpdrill.core.judge import Evidence, Failed, Value
    ev = Evidence("autograd", {}, {"s": {"error": None, "values": {
        "grad.x": Value("scalar", array=np.array(np.nan)),
        "ok": Value("scalar", array=np.array(2.0))}}}, lambda s: {}, "x.py")
    with pytest.raises(Failed, match="nan"):
        ev.array("s", "grad.x")
    assert ev.array("s", "ok") == 2.0
