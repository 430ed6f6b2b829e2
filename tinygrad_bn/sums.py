"""Sums over axes, the reduction the engine does most: a mean's forward, the unbroadcast of every
broadcast gradient, batch norm's per-channel sums.

np.sum over axis 0 of an (N, C) array adds N rows of C numbers one after the other. A BLAS
matrix-vector product computes the same sums two to three times faster at batch norm's sizes:

    over the leading axes    a (N, M)   ->  ones(N) @ a
    over the trailing axes   a (M, L)   ->  a @ ones(L)
    over both                a (N, C, L) ->  ones(N) @ (a @ ones(L))    (batch norm's axes (0, 2, 3))

`sum_over` takes that path when the summed axes are leading, trailing or both and `a` is a
contiguous float32/float64 array (what BLAS computes in), and np.add.reduce otherwise.
"""
import math

import numpy as np

_BLAS_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def sum_over(a: np.ndarray, axes: tuple, keepdims: bool = False) -> np.ndarray:
    """np.sum(a, axis=axes, keepdims=keepdims), for `axes` a sorted tuple of non-negative axes."""
    ndim, count = a.ndim, len(axes)
    lead = 0  # how many of the summed axes are the first ones: 0, 1, ...
    while lead < count and axes[lead] == lead:
        lead += 1
    trail = count - lead  # the others must be the last ones
    if (not 0 < count < ndim or axes[lead:] != tuple(range(ndim - trail, ndim))
            or a.dtype not in _BLAS_DTYPES or not a.flags.c_contiguous):
        return np.add.reduce(a, axis=axes, keepdims=keepdims)
    middle = a.shape[lead:ndim - trail]  # the axes that are kept
    rows, size, columns = math.prod(a.shape[:lead]), math.prod(middle), math.prod(a.shape[ndim - trail:])
    if columns != 1:  # (summing trailing axes of length 1 leaves the numbers as they are)
        a = a.reshape(rows * size, columns) @ np.ones(columns, a.dtype)
    if lead:
        a = np.ones(rows, a.dtype) @ a.reshape(rows, size)
    return a.reshape((1,) * lead + middle + (1,) * trail if keepdims else middle)
