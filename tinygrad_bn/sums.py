"""Sums over axes, the reduction the engine does most: a mean's forward, the unbroadcast of every
broadcast gradient, batch norm's per-channel sums.

np.sum over axis 0 of an (N, C) array adds N rows of C numbers one after the other. A BLAS
matrix-vector product computes the same sums two to four times faster at batch norm's sizes:

    over the leading axes    a (N, M)   ->  ones(N) @ a
    over the trailing axes   a (M, L)   ->  a @ ones(L)
    over both                a (N, C, L) ->  ones(N) @ (a @ ones(L))    (batch norm's axes (0, 2, 3))

`sum_over` takes that path when the summed axes are leading, trailing or both and `a` is a
contiguous float32/float64 array (what BLAS computes in); otherwise np.add.reduce. Accuracy: over
leading axes BLAS rounds less than np.add.reduce, which adds row after row. Along one contiguous
row numpy sums pairwise, and BLAS's error grows faster with the row's length: so rows longer than
_LONGEST_ROW, and sums that leave a single number, go to numpy. (The last bits of a BLAS sum can
depend on how many threads BLAS uses, as with any BLAS product.)
"""
import math

import numpy as np

_BLAS_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_LONGEST_ROW = 1024  # float32, worst case (equal terms): BLAS ~1e-6 relative error here, numpy ~1e-7


def sum_over(a: np.ndarray, axes: tuple, keepdims: bool = False) -> np.ndarray:
    """np.sum(a, axis=axes, keepdims=keepdims), for `axes` a sorted tuple of non-negative axes.
    Returns a new array of a's dtype, as np.sum does."""
    ndim, count = a.ndim, len(axes)
    lead = 0  # how many of the summed axes are the first ones: 0, 1, ...
    while lead < count and axes[lead] == lead:
        lead += 1
    trail = count - lead  # the others must be the last ones
    middle = a.shape[lead:ndim - trail]  # the axes that are kept
    rows, size, columns = math.prod(a.shape[:lead]), math.prod(middle), math.prod(a.shape[ndim - trail:])
    if (not 0 < count < ndim or axes[lead:] != tuple(range(ndim - trail, ndim)) or size < 2
            or columns > _LONGEST_ROW or a.dtype not in _BLAS_DTYPES or not a.flags.c_contiguous):
        return np.add.reduce(a, axis=axes, keepdims=keepdims)
    out = np.empty((1,) * lead + middle + (1,) * trail if keepdims else middle, a.dtype)
    flat = out.reshape(size)  # the same memory, as a vector
    if not lead:  # trailing axes only: each kept element is the sum of one row
        np.matmul(a.reshape(size, columns), _ones(columns, a.dtype), out=flat)
        return out
    if columns != 1:  # leading and trailing axes: the trailing sums first
        a = a.reshape(rows * size, columns) @ _ones(columns, a.dtype)
    np.matmul(_ones(rows, a.dtype), a.reshape(rows, size), out=flat)
    return out


def _ones(n: int, dtype) -> np.ndarray:
    """np.ones(n, dtype), without the Python wrapper np.ones goes through (a third of its time here)."""
    ones = np.empty(n, dtype)
    ones.fill(1)
    return ones
