"""Exercise 2: unbroadcasting a gradient back to an input's shape.

numpy broadcasts: adding a bias b of shape (4,) to x of shape (3, 4) adds the SAME b[j] to each of
the 3 rows. The output, and so grad = d(loss)/d(out), has shape (3, 4). Each b[j] was used 3 times,
once per row, and a value used several times collects the gradient of every use (the multivariate
chain rule adds them):

    d loss / d b[j] = grad[0, j] + grad[1, j] + grad[2, j]       = grad.sum(axis=0)

The general rule, for an input of shape `shape` and a gradient of the broadcast shape:
  1. broadcasting first puts new axes in FRONT: (4,) acts as (1, 4). Sum away the
     `grad.ndim - len(shape)` leading axes.
  2. an axis that is 1 in `shape` but not in the gradient was stretched: sum over it and KEEP it
     (keepdims=True), so (3, 4) becomes (3, 1) for an input of shape (3, 1).

Examples:   grad (2, 3, 4) -> shape (3, 1):  sum axis 0 -> (3, 4), then axis 1 kept -> (3, 1)
            grad (3, 4)    -> shape (1, 4):  sum axis 0 kept -> (1, 4)
            grad (3, 4)    -> shape (3, 4):  nothing to do

Summing, not averaging: the mean would give each use a weight of 1/3 instead of 1.

Write `unbroadcast` below (the place marked `exercise 2`). BroadcastAdd and BroadcastMul are given:
they call your function, as the engine's own ops call graph.unbroadcast. Check with
`tinygrad-bn exercises check 2`.
"""
import numpy as np

from tinygrad_bn import Function


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum `grad` (of the broadcast output's shape) down to `shape` (an input's shape)."""
    # ---- exercise 2: your code here: return an array of exactly `shape`
    raise NotImplementedError("exercise 2: unbroadcast is not written yet")


class BroadcastAdd(Function):
    """Given. out = a + b (broadcast);   d out/d a = 1 and d out/d b = 1, at every use"""
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = np.shape(a), np.shape(b)
        return a + b

    @staticmethod
    def backward(ctx, grad):
        a_shape, b_shape = ctx.shapes
        return unbroadcast(grad, a_shape), unbroadcast(grad, b_shape)


class BroadcastMul(Function):
    """Given. out = a * b (broadcast);   d out/d a = b and d out/d b = a, at every use"""
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return unbroadcast(grad * b, np.shape(a)), unbroadcast(grad * a, np.shape(b))
