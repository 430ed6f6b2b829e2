"""sums.sum_over: np.sum over axes, through BLAS when the axes are leading, trailing or both."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_bn import sums
from tinygrad_bn.sums import sum_over


@st.composite
def blas_cases(draw):
    """Contiguous float arrays with leading and/or trailing axes summed: the matrix-product path
    (and, where a case leaves one number or a long row, numpy's)."""
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))
    a = draw(hnp.arrays(dtype, shape, elements={"min_value": -100, "max_value": 100}))
    lead, trail = draw(st.integers(0, a.ndim)), draw(st.integers(0, a.ndim))
    axes = tuple(sorted(set(range(min(lead, a.ndim))) | set(range(a.ndim - min(trail, a.ndim), a.ndim))))
    return a, axes, draw(st.booleans())


@st.composite
def other_cases(draw):
    """Any axes; int arrays and non-contiguous views too: numpy's path."""
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int64]))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))
    a = draw(hnp.arrays(dtype, shape, elements={"min_value": -100, "max_value": 100}))
    if draw(st.booleans()) and a.ndim > 1:
        a = a.swapaxes(0, -1)
    axes = tuple(sorted(draw(st.sets(st.integers(0, a.ndim - 1)))))
    return a, axes, draw(st.booleans())


def check_like_np_sum(a, axes, keepdims):
    expected = np.sum(a, axis=axes, keepdims=keepdims)
    result = sum_over(a, axes, keepdims)
    assert np.shape(result) == expected.shape and np.asarray(result).dtype == expected.dtype
    exact = np.sum(a.astype(np.float64), axis=axes, keepdims=keepdims)
    np.testing.assert_allclose(result, exact, rtol=1e-5, atol=1e-3)
    if isinstance(result, np.ndarray) and result.ndim:
        assert result.base is None and not np.shares_memory(result, a)  # a new array, like np.sum's


@settings(max_examples=300)  # cheap, and the shapes that matter (a trailing length of 2, ...) are many
@given(blas_cases())
def test_sum_over_leading_and_trailing_axes_is_numpys_sum(case):
    check_like_np_sum(*case)


@given(other_cases())
def test_sum_over_any_axes_is_numpys_sum(case):
    check_like_np_sum(*case)


@pytest.mark.parametrize("shape, axes", [
    ((6, 4), (0,)), ((4, 6), (1,)), ((2, 3, 4, 5), (0, 2, 3)), ((2, 3, 4, 5), (2, 3)), ((2, 3, 4, 5), (0, 1)),
    ((5, 3, 1), (0, 2)), ((4, 3, 2), (0, 2)), ((3, 1), (0,)), ((0, 3), (0,)), ((3, 0), (1,)), ((2, 3, 1), (2,)),
])
@pytest.mark.parametrize("keepdims", [False, True])
def test_named_cases_match_np_sum(shape, axes, keepdims):
    for dtype in (np.float32, np.float64):
        check_like_np_sum(np.arange(np.prod(shape), dtype=dtype).reshape(shape) - 7, axes, keepdims)


def test_batch_norm_axes_of_a_contiguous_float_array_take_the_matrix_product_path(monkeypatch):
    """(0,), (0, 2, 3) and (2, 3) are leading and/or trailing: no np.add.reduce call at all."""
    def refuse(*args, **kwargs):
        raise AssertionError("np.add.reduce was called")
    a = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    expected = {axes: np.sum(a, axis=axes, keepdims=True) for axes in [(0,), (0, 2, 3), (2, 3)]}
    monkeypatch.setattr(np.add, "reduce", refuse, raising=False)
    for axes, value in expected.items():
        np.testing.assert_array_equal(sum_over(a, axes, keepdims=True), value)


def test_long_float32_rows_and_single_sums_are_as_accurate_as_numpys():
    """Equal terms are BLAS's worst case: a row longer than _LONGEST_ROW, or a sum that leaves one
    number, goes to numpy's pairwise summation."""
    for shape, axes in [((2, 100_000), (1,)), ((100_000, 1), (0,)), ((1, 100_000), (1,))]:
        a = np.full(shape, 0.1, np.float32)
        exact = np.sum(a.astype(np.float64), axis=axes)
        assert np.abs(sum_over(a, axes) - exact).max() <= np.abs(np.sum(a, axis=axes) - exact).max()
    assert sums._LONGEST_ROW < 100_000


def test_plans_are_reused_and_their_table_stays_bounded():
    """The same (shape, axes, keepdims, dtype) reuses its plan; ever new shapes never grow the
    table past 1024 plans, and sums stay right as old plans are dropped."""
    a = np.arange(12.0).reshape(4, 3)
    sum_over(a, (0,))
    plan = sums._plan(a.shape, (0,), False, a.dtype)
    hits = sums._plan.cache_info().hits
    sum_over(a + 1, (0,))
    assert sums._plan(a.shape, (0,), False, a.dtype) is plan and sums._plan.cache_info().hits == hits + 2
    for n in range(2, 1200):
        b = np.arange(n * 3.0).reshape(n, 3)
        np.testing.assert_array_equal(sum_over(b, (0,), keepdims=True), b.sum(axis=0, keepdims=True))
    info = sums._plan.cache_info()
    assert info.maxsize == 1024 and info.currsize <= 1024
    square = np.arange(9.0).reshape(3, 3)
    sum_over(square, (0,))  # the plan for (3, 3) is a matrix product, for contiguous arrays only:
    np.testing.assert_array_equal(sum_over(square.T, (0,)), square.T.sum(axis=0))  # a view takes numpy's path
