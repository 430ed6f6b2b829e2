"""Exercise 3: the backward of mean and of the population variance along an axis.

Mean over the n elements reduced into one output element (n = 4 for axis 0 of a (4, 3) array):

    out = (a[0] + a[1] + ... + a[n-1]) / n          d out / d a[i] = 1 / n

so every input element receives the gradient of ITS output element, divided by n. The only work is
shape: grad has the output's shape, (3,) for axis=0 or (1, 3) with keepdims=True. Put the reduced
axis back (np.expand_dims(grad, axis) when keepdims was False), then np.broadcast_to(..., a.shape).

Population variance (divide by n, as the lecture and batch norm do), mean = m:

    out = sum_i (a[i] - m)**2 / n
    d out / d a[j] = 2 (a[j] - m) / n  +  sum_i 2 (a[i] - m) / n * (-1/n)
                   = 2 (a[j] - m) / n                (the second term is 0: sum_i (a[i] - m) = 0)

so the gradient is grad (expanded as for the mean) times 2 (a - m) / n. Forward already saved the
centered values a - m and n for you.

`axis` arrives as a tuple of non-negative axes (the forward normalizes it); `keepdims` is a bool.
The inputs `axis` and `keepdims` are constants: return None as their gradients.

Fill in the two places marked `exercise 3`, then run `tinygrad-bn exercises check 3`.
"""
import numpy as np

from tinygrad_bn import Function


def _axes(axis, ndim):
    """Given. `axis` (None, an int or a tuple) as a tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    return tuple(sorted(a % ndim for a in ((axis,) if isinstance(axis, int) else axis)))


class Mean(Function):
    """out = a.mean(axis, keepdims);   d out / d a[i] = 1/n for each element reduced into out"""
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, _axes(axis, a.ndim), keepdims
        ctx.n = int(np.prod([a.shape[i] for i in ctx.axis]))
        return a.mean(axis=ctx.axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        # ---- exercise 3: your code here: return (d loss / d a, None, None); d loss / d a has shape ctx.shape
        raise NotImplementedError("exercise 3: Mean.backward is not written yet")


class Var(Function):
    """out = ((a - mean)**2).mean(axis, keepdims);   d out / d a[i] = 2 (a[i] - mean) / n"""
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        ctx.shape, ctx.axis, ctx.keepdims = a.shape, _axes(axis, a.ndim), keepdims
        ctx.n = int(np.prod([a.shape[i] for i in ctx.axis]))
        ctx.centered = a - a.mean(axis=ctx.axis, keepdims=True)
        return (ctx.centered ** 2).mean(axis=ctx.axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        # ---- exercise 3: your code here: return (d loss / d a, None, None), using ctx.centered and ctx.n
        raise NotImplementedError("exercise 3: Var.backward is not written yet")
