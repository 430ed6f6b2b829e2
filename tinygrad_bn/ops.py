"""The primitive ops: one Function each, forward beside backward, the derivative in the docstring.

`forward` gets raw data (a float for a Value, a numpy array for a Tensor) and returns raw data;
`backward` gets d(output)/d(out) as `grad` and returns d(output)/d(input) for each input. The same
class serves both engines wherever the formula is the same. Gradients may keep the broadcast shape:
the engine unbroadcasts them (graph.unbroadcast).
"""
import functools
import math

import numpy as np

from .function import Function
from .sums import sum_over


# ---------------------------------------------------------------- elementwise, both engines

class Add(Function):
    """out = a + b;   d/da = 1,  d/db = 1"""
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    """out = a - b;   d/da = 1,  d/db = -1"""
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad):
        return grad, -grad


class Mul(Function):
    """out = a * b;   d/da = b,  d/db = a"""
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad * b, grad * a


class Div(Function):
    """out = a / b;   d/da = 1/b,  d/db = -a/b**2 = -out/b, so grad_b = -grad_a * out"""
    @staticmethod
    def forward(ctx, a, b):
        out = a / b
        ctx.save_for_backward(b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        b, out = ctx.saved_tensors
        grad_a = grad / b
        if not ctx.needs_input_grad[1]:
            return grad_a, None
        grad_b = grad_a * out
        grad_b *= -1  # in place: one array of grad's size, not two (for a float, a new float)
        return grad_a, grad_b


class Pow(Function):
    """out = a ** b;   d/da = b * a**(b-1),  d/db = a**b * log(a)  (only asked for when b needs grad)

    At a = 0 the formulas give 0 * inf = nan where the true derivative is 0, so (as PyTorch does):
    d/da = 0 where b = 0 (a**0 = 1 for every a), and d/db = 0 where a = 0 and b >= 0."""
    @staticmethod
    def forward(ctx, a, b):
        out = a ** b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        grad_a = grad_b = None
        if ctx.needs_input_grad[0]:
            if type(b) in (int, float) and b == 2:  # a square (every variance has one): d/da = 2 a,
                grad_a = a * 2.0                     # no power to compute
            elif type(b) in (int, float):
                grad_a = a ** (b - 1) if b != 0 else out * 0.0  # has the output's shape: the two
                grad_a *= b                                      # products can be in place
            else:  # an array of exponents: where one is 0, the base is taken as 1 (then b * 1**-1 = 0)
                grad_a = b * np.where(b == 0, 1.0, a) ** (b - 1)
            grad_a *= grad  # (for a float, each product is a new float)
        if ctx.needs_input_grad[1]:  # where a = 0 and b >= 0, log(1) = 0 stands in for log(0)
            grad_b = grad * out * np.log(np.where((a == 0) & (b >= 0), 1.0, a))
        return grad_a, grad_b


class Neg(Function):
    """out = -a;   d/da = -1"""
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Exp(Function):
    """out = e**a;   d/da = e**a = out"""
    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


class Log(Function):
    """out = ln(a);   d/da = 1/a"""
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / a


class Tanh(Function):
    """out = tanh(a);   d/da = 1 - tanh(a)**2 = 1 - out**2"""
    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 - out * out)


class ReLU(Function):
    """out = max(a, 0);   d/da = 1 where a > 0, else 0"""
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.maximum(a, 0.0)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * (a > 0)


class Sigmoid(Function):
    """out = 1 / (1 + e**-a);   d/da = out * (1 - out).
    Computed with e = e**-|a|, which never overflows: 1 / (1 + e) for a >= 0, and e / (1 + e) for a < 0,
    the same number written so that it keeps its digits far in the left tail (1 + tanh(a/2) would not)."""
    @staticmethod
    def forward(ctx, a):
        e = np.exp(-np.abs(a))
        out = np.where(a >= 0, 1.0, e) / (1 + e)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * (1 - out)


class Sqrt(Function):
    """out = sqrt(a);   d/da = 1 / (2 sqrt(a)) = 1 / (2 out)"""
    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad / (2 * out)


# ---------------------------------------------------------------- reductions (Tensor engine)

def is_axis(a) -> bool:
    """An int (Python's or numpy's), but not a bool: True is an int to Python, not an axis (numpy agrees)."""
    return isinstance(a, (int, np.integer)) and not isinstance(a, bool)


def _normalize_axis(axis, ndim):
    """axis (None, an int or a tuple, negatives allowed) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else axis
    if not isinstance(axes, (tuple, list)) or not all([is_axis(a) for a in axes]):
        raise TypeError(f"axis must be None, an int or a tuple of ints, got {axis!r}")
    normalized = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for an array of {ndim} dimension(s)")
        normalized.append(a % ndim)
    return tuple(sorted(normalized))


def _reduction(shape: tuple, axis) -> tuple:
    """What reducing an array of `shape` over `axis` means: (axes, a sorted tuple of non-negative
    ints; kept, the result's shape with keepdims=True, each reduced axis 1; n, how many elements
    are reduced into each result element). (4, 3) over axis -2: ((0,), (1, 3), 4)."""
    if type(axis) is int:
        axis = (axis,)
    elif type(axis) is not tuple:  # None, a list, or a mistake that gets its clear error here
        axis = _normalize_axis(axis, len(shape))
    try:
        return _reduction_of(shape, axis, tuple(map(type, axis)))
    except TypeError:  # a tuple holding a mistake, hashable or not, ([0],): the clear error
        _normalize_axis(axis, len(shape))
        raise


@functools.lru_cache(maxsize=1024)  # a training loop reduces the same shapes at every step
def _reduction_of(shape: tuple, axis: tuple, types: tuple) -> tuple:
    """_reduction's answer, worked out once per key. `types` is part of the key so that a wrong
    axis is never served a right one's answer: (1.0,) == (1,) but is refused (a TypeError)."""
    axes = _normalize_axis(axis, len(shape))
    kept = tuple([1 if i in axes else n for i, n in enumerate(shape)])
    return axes, kept, math.prod([shape[a] for a in axes])


def _expand(grad, ctx):
    """Spread the gradient of a reduced result back over the input: each input element gets the
    gradient of the output element it was reduced into. (N, C) summed over axis 0 gives (C,):
    grad (C,) -> (1, C) -> a read-only view of it as (N, C), each row the same memory.

    That is np.broadcast_to(grad.reshape(ctx.kept), ctx.shape), built directly: a stride of 0
    along a reduced axis repeats the data along it. (np.broadcast_to takes 1.6 us of Python to do
    this, more than summing a batch norm's (256, 64) input does.)"""
    kept = np.ascontiguousarray(grad).reshape(ctx.kept)
    if kept.size == 0:
        return np.broadcast_to(kept, ctx.shape)
    strides = tuple([0 if n == 1 else stride for n, stride in zip(ctx.kept, kept.strides)])
    view = np.ndarray(ctx.shape, kept.dtype, kept, 0, strides)
    view.flags.writeable = False
    return view


class Sum(Function):
    """out = sum of a over `axis`;   d out / d a[i] = 1 for every i reduced into out"""
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        axes, ctx.kept, _ = _reduction(a.shape, axis)
        ctx.shape = a.shape
        return sum_over(a, axes, keepdims)

    @staticmethod
    def backward(ctx, grad):
        return _expand(grad, ctx), None, None


class Mean(Function):
    """out = sum(a) / n over `axis` (n elements reduced into each out);   d out / d a[i] = 1/n"""
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        axes, ctx.kept, ctx.n = _reduction(a.shape, axis)
        ctx.shape = a.shape
        return sum_over(a, axes, keepdims) / ctx.n

    @staticmethod
    def backward(ctx, grad):
        return _expand(grad / ctx.n, ctx), None, None


class Var(Function):
    """out = sum((a - mean)**2) / (n - correction) over `axis`; correction=0 is the population
    variance (the lecture's, and batch norm's), correction=1 Bessel's unbiased estimate.
    d out / d a[i] = 2 (a[i] - mean) / (n - correction)   (the terms through `mean` sum to zero)"""
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False, correction=0):
        axes, ctx.kept, n = _reduction(a.shape, axis)
        ctx.dof = n - correction
        if ctx.dof <= 0:
            raise ValueError(f"variance with correction={correction} needs more than {correction} "
                             f"element(s) per output, got {ctx.dof + correction}")
        ctx.centered = a - sum_over(a, axes, keepdims=True) / n  # a - mean
        return sum_over(ctx.centered * ctx.centered, axes, keepdims) / ctx.dof

    @staticmethod
    def backward(ctx, grad):  # grad with the reduced axes as 1s broadcasts over centered
        return grad.reshape(ctx.kept) * (2.0 / ctx.dof) * ctx.centered, None, None, None


class Max(Function):
    """out = max of a over `axis`;   d out / d a[i] = 1 where a[i] is the max (split evenly among
    ties, as torch.amax does), else 0"""
    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        axes = _reduction(a.shape, axis)[0]
        if a.size == 0:
            raise ValueError("max of an empty array")
        out = a.max(axis=axes, keepdims=True)
        is_max = a == out
        ctx.kept, ctx.share = out.shape, is_max / is_max.sum(axis=axes, keepdims=True)
        return out if keepdims else out.squeeze(axes)

    @staticmethod
    def backward(ctx, grad):  # grad with the reduced axes as 1s broadcasts over share
        return grad.reshape(ctx.kept) * ctx.share, None, None


# ---------------------------------------------------------------- shape and matmul (Tensor engine)

class Reshape(Function):
    """out = a viewed with a new shape (same elements, same order);   grad reshaped back"""
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape), None


class Transpose(Function):
    """out = a with its axes permuted (reversed when axes is None);   grad permuted back"""
    @staticmethod
    def forward(ctx, a, axes=None):
        ctx.axes = tuple(reversed(range(a.ndim))) if axes is None else _permutation(axes, a.ndim)
        return a.transpose(ctx.axes)

    @staticmethod
    def backward(ctx, grad):
        return grad.transpose(np.argsort(ctx.axes)), None


def _permutation(axes, ndim):
    axes = tuple(axes) if np.iterable(axes) else (axes,)
    if not all(is_axis(a) for a in axes):
        raise TypeError(f"axes must be ints, got {tuple(axes)!r}")
    axes = tuple(a % ndim if -ndim <= a < ndim else a for a in axes)
    if sorted(axes) != list(range(ndim)):
        raise ValueError(f"axes {axes} are not a permutation of the {ndim} axes")
    return axes


class MatMul(Function):
    """out = a @ b (each 1-D or 2-D);   d/da = grad @ b.T,  d/db = a.T @ grad
    (a 1-D a is a row (1, n) and a 1-D b a column (n, 1) for the formula, then reshaped back)"""
    @staticmethod
    def forward(ctx, a, b):
        if not (1 <= np.ndim(a) <= 2 and 1 <= np.ndim(b) <= 2):
            raise ValueError("matmul supports 1-D and 2-D operands only")
        if a.shape[-1] != b.shape[0]:
            raise ValueError(f"inner dimensions differ: {a.shape[-1]} != {b.shape[0]}")
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        a2 = a.reshape(1, -1) if a.ndim == 1 else a
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b
        grad2 = grad.reshape(a2.shape[0], b2.shape[1])
        return (grad2 @ b2.T).reshape(a.shape), (a2.T @ grad2).reshape(b.shape)
