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

A training loop sums the same shapes over the same axes at every step, so the plan for a (shape,
axes, keepdims, dtype) -- which path, the matrix shapes, the ones vectors -- is worked out once
(`_plan`, cached as the reductions in ops.py are): working it out again cost as much as the
product itself.
"""
import functools
import math

import numpy as np

_BLAS_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_LONGEST_ROW = 1024  # float32, worst case (equal terms): BLAS ~1e-6 relative error here, numpy ~1e-7


def sum_over(a: np.ndarray, axes: tuple, keepdims: bool = False) -> np.ndarray:
    """np.sum(a, axis=axes, keepdims=keepdims), for `axes` a sorted tuple of non-negative axes.
    Returns a new array of a's dtype, as np.sum does."""
    plan = _plan(a.shape, axes, keepdims, a.dtype)
    if plan is _NUMPY or not a.flags.c_contiguous:
        return np.add.reduce(a, axis=axes, keepdims=keepdims)
    out_shape, rows, size, columns, row_ones, column_ones = plan
    out = np.empty(out_shape, a.dtype)
    flat = out.reshape(size)  # the same memory, as a vector
    if row_ones is None:  # trailing axes only: each kept element is the sum of one row
        np.matmul(a.reshape(size, columns), column_ones, out=flat)
        return out
    if column_ones is not None:  # leading and trailing axes: the trailing sums first
        a = a.reshape(rows * size, columns) @ column_ones
    np.matmul(row_ones, a.reshape(rows, size), out=flat)
    return out


_NUMPY = "numpy"  # the plan that says: np.add.reduce


@functools.lru_cache(maxsize=1024)  # a training loop sums the same shapes at every step
def _plan(shape: tuple, axes: tuple, keepdims: bool, dtype) -> tuple:
    """How sum_over sums a contiguous array of this shape and dtype over `axes`: _NUMPY, or
    (result's shape, rows, kept size, columns, ones(rows) or None, ones(columns) or None) for
    a viewed as (rows, kept size, columns) and summed over its first axis, its last, or both (where
    a ones vector is None, that axis is not summed)."""
    ndim, count = len(shape), len(axes)
    lead = 0  # how many of the summed axes are the first ones: 0, 1, ...
    while lead < count and axes[lead] == lead:
        lead += 1
    trail = count - lead  # the others must be the last ones
    middle = shape[lead:ndim - trail]  # the axes that are kept
    rows, size, columns = math.prod(shape[:lead]), math.prod(middle), math.prod(shape[ndim - trail:])
    if (not 0 < count < ndim or axes[lead:] != tuple(range(ndim - trail, ndim)) or size < 2
            or columns > _LONGEST_ROW or dtype not in _BLAS_DTYPES):
        return _NUMPY
    out_shape = (1,) * lead + middle + (1,) * trail if keepdims else middle
    row_ones = _ones(rows, dtype) if lead else None
    column_ones = None if lead and columns == 1 else _ones(columns, dtype)  # rows of length 1: no sum
    return out_shape, rows, size, columns, row_ones, column_ones


def _ones(n: int, dtype) -> np.ndarray:
    """A read-only vector of n ones: kept in a plan and shared by every sum that uses it."""
    ones = np.ones(n, dtype)
    ones.flags.writeable = False
    return ones
