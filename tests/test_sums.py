"""sums.sum_over: np.sum over axes, through BLAS when the axes are leading, trailing or both."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_bn.sums import sum_over


@st.composite
def arrays_and_axes(draw):
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int64]))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))
    a = draw(hnp.arrays(dtype, shape, elements={"min_value": -100, "max_value": 100}))
    if draw(st.booleans()) and a.ndim > 1:
        a = a.swapaxes(0, -1)  # not contiguous: the np.add.reduce path
    axes = tuple(sorted(draw(st.sets(st.integers(0, a.ndim - 1)))))
    return a, axes, draw(st.booleans())


@given(arrays_and_axes())
def test_sum_over_is_numpys_sum(case):
    a, axes, keepdims = case
    expected = np.sum(a.astype(np.float64), axis=axes, keepdims=keepdims)
    result = sum_over(a, axes, keepdims)
    assert np.shape(result) == expected.shape
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-3)


def test_batch_norm_axes_of_a_contiguous_float_array_take_the_matrix_product_path(monkeypatch):
    """(0,), (0, 2, 3) and (2, 3) are leading and/or trailing: no np.add.reduce call at all."""
    def refuse(*args, **kwargs):
        raise AssertionError("np.add.reduce was called")
    a = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    expected = {axes: np.sum(a, axis=axes, keepdims=True) for axes in [(0,), (0, 2, 3), (2, 3)]}
    monkeypatch.setattr(np.add, "reduce", refuse, raising=False)
    for axes, value in expected.items():
        np.testing.assert_array_equal(sum_over(a, axes, keepdims=True), value)
