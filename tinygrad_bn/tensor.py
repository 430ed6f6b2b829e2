"""Tensor: the tensor engine. One numpy array per node, PyTorch's habits.

    x = Tensor(np.random.randn(256, 64), requires_grad=True, label="x")
    loss = ((x - x.mean(axis=0)) ** 2).sum(); loss.backward()
    x.grad  # a numpy array of x's shape

Tensors keep float32 or float64 data (anything else real becomes float64). As in PyTorch, a Tensor
does not require grad unless asked and `.grad` is None until a backward pass reaches it; unlike
PyTorch, `.grad` is the raw numpy array (as `.data` is), and every node keeps its `.grad`. A leaf's
`.grad` is an array of its own (an optimizer may change it in place); an intermediate's is for reading:
it may be shared with another node or be a read-only view, so copy it (`h.grad.copy()`) to change it.

As in PyTorch, `x == y` compares numbers, element by element (a numpy bool array): to find a Tensor
among others, use `is` (`any(t is x for x in xs)`) or a set or dict (keys by identity), not `in`,
`.index` or `.remove` on a list, which compare numbers.

Changing a Tensor's numbers in place (`w.data -= ...`, as the optimizers do) while a graph built
from it is still to be differentiated changes that graph too: its ops keep their inputs' arrays for
backward, which then uses the new numbers. Call backward first (or give it a new array,
`w.data = w.data - ...`). PyTorch refuses such a backward, counting in-place changes; this engine
does not count (check_nodes notices: ChangedInPlace).
"""
from __future__ import annotations

import numbers
import operator
import sys

import numpy as np

from . import ops
from .graph import Node, is_grad_enabled, unbroadcast
from .operators import Operators


def _array(data, where: str, dtype=None) -> np.ndarray:
    """data as a float32/float64 array (a copy), or a TypeError naming what was wrong with it."""
    if isinstance(data, Node):
        raise TypeError(f"{where}: got a {type(data).__name__}; use its .data, or keep to one engine")
    try:
        array = np.array(data)
    except ValueError as error:  # a ragged list: a shape problem
        raise ValueError(f"{where}: cannot make an array of {type(data).__name__}: {error}") from None
    except TypeError as error:
        raise TypeError(f"{where}: cannot make an array of {type(data).__name__}: {error}") from None
    nodes = [x for x in array.flat if isinstance(x, Node)] if array.dtype == object else ()
    if nodes:
        hint = ("stack their .data with numpy, or build the sum of parts as ops" if isinstance(nodes[0], Tensor)
                else "do not mix the scalar engine with Tensors")
        raise TypeError(f"{where}: got {type(nodes[0]).__name__} elements; an array holds numbers, "
                        f"not nodes ({hint})")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{where}: data must be real numbers, got dtype {array.dtype} from {type(data).__name__}")
    if dtype is not None:
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise TypeError(f"{where}: dtype must be float32 or float64, got {np.dtype(dtype)}")
        return array.astype(dtype)
    return array if array.dtype in (np.float32, np.float64) else array.astype(np.float64)


def _reduction(op: str, axis, keepdims, dim, keepdim) -> tuple:
    """(axis, keepdims) of a reduction, given by numpy's names or PyTorch's (dim, keepdim), not both."""
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{op}: give axis or dim (PyTorch's name for it), not both")
        axis = dim
    if keepdim is not None:
        if keepdims is not False:
            raise TypeError(f"{op}: give keepdims or keepdim (PyTorch's name for it), not both")
        keepdims = keepdim
    return axis, keepdims


def _swap(pair: tuple, shape: tuple) -> tuple:
    """The permutation of shape's axes that swaps the two in `pair` (negatives count from the end)."""
    ndim = len(shape)
    for a in pair:
        if not -ndim <= a < ndim:
            raise ValueError(f"Transpose: axis {a} is out of range for a Tensor of shape {shape}")
    order = list(range(ndim))
    first, second = pair[0] % ndim, pair[1] % ndim
    order[first], order[second] = second, first
    return tuple(order)


# How many references an array held by nothing but the backward loop has inside
# _held_by_backward_only: backward_steps' variable, _add_to_grad's and _held_by_backward_only's
# parameters, and getrefcount's own argument. Measured on CPython 3.11 to 3.13; other versions count
# differently (3.10 counts more; 3.14 skips some references to local variables, which would make a
# shared array look unshared), so there every leaf gets a copy.
_UNSHARED_REFERENCES = 4 if (3, 11) <= sys.version_info[:2] <= (3, 13) else None


def _held_by_backward_only(g: np.ndarray) -> bool:
    """Is g an array nobody but the backward loop can see, so that a leaf may keep it uncopied?

    It must own its memory (not be a view of another array), be writeable, and have no references
    but the backward loop's (_UNSHARED_REFERENCES). Any other (another node's .grad, a ctx that kept
    it, a Step someone holds, the caller's array given to backward(grad)) means a copy. PyTorch's
    AccumulateGrad decides the same way when it steals a gradient instead of copying it.
    """
    return (_UNSHARED_REFERENCES is not None and g.base is None and g.flags.writeable
            and sys.getrefcount(g) <= _UNSHARED_REFERENCES)


class Tensor(Operators, Node):
    """A numpy-array node. `Tensor(data, requires_grad=False, label=None, dtype=None)`."""
    __slots__ = ()

    def __init__(self, data, requires_grad: bool = False, label: str | None = None, dtype=None):
        super().__init__(_array(data, "Tensor", dtype), requires_grad, label)

    def __repr__(self):
        name = f", label={self.label!r}" if self.label else ""
        flag = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4, threshold=20)}{flag}{name})"

    # ---- numpy-like facts

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def size(self, dim=None):
        """As in PyTorch: the shape, or the length of axis `dim` (numpy's x.size, the element count, is numel())."""
        if dim is None:
            return self.data.shape
        if not ops.is_axis(dim) or not -self.ndim <= dim < self.ndim:
            raise IndexError(f"size: dim {dim!r} is out of range for a Tensor of shape {self.shape}")
        return self.data.shape[dim]

    def numel(self) -> int:
        """The number of elements (numpy's x.size)."""
        return self.data.size

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d Tensor")
        return len(self.data)

    # ---- comparisons and conversions: numbers and numpy booleans, not graph nodes (nothing to differentiate)

    __hash__ = Node.__hash__  # a Tensor is a key by identity (graphs are dicts and sets of nodes), as in PyTorch

    def __eq__(self, other):
        """x == y elementwise, as a numpy bool array: `(pred == y).mean()` is an accuracy."""
        return self._compare(operator.eq, other, "==")

    def __ne__(self, other):
        return self._compare(operator.ne, other, "!=")

    def __lt__(self, other):
        return self._compare(operator.lt, other, "<")

    def __le__(self, other):
        return self._compare(operator.le, other, "<=")

    def __gt__(self, other):
        return self._compare(operator.gt, other, ">")

    def __ge__(self, other):
        return self._compare(operator.ge, other, ">=")

    def _compare(self, compare, other, op: str) -> np.ndarray:
        other = other.data if isinstance(other, Tensor) else other
        try:
            return compare(self.data, other)
        except ValueError:  # numpy's message does not name the op
            raise ValueError(f"Tensor {op}: shapes {self.shape} and {np.shape(other)} do not broadcast") from None

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a Tensor of shape {self.shape} is ambiguous: "
                             f"use (x > 0).any() or .all() on it, or compare x.data")
        return bool(self.data.reshape(()))

    def __float__(self):
        return self.item()

    def __format__(self, spec: str) -> str:
        """f"{loss:.4f}" (and f"{loss}") for a 0-d Tensor formats its number, as in PyTorch."""
        if self.ndim == 0:
            return format(self.item(), spec)
        if spec:
            raise TypeError(f"format: {spec!r} formats a 0-d Tensor's number; this one has shape {self.shape} "
                            f"(format its .data, or x.item() of one element)")
        return str(self)

    def numpy(self) -> np.ndarray:
        """The data array itself (shared, as torch's .numpy() shares memory)."""
        return self.data

    def item(self) -> float:
        if self.data.size != 1:
            raise ValueError(f"item: only a one-element Tensor converts to a number, this one has shape {self.shape}")
        return float(self.data.reshape(()))

    def detach(self) -> Tensor:
        """A new leaf sharing this data, with no history (as torch.Tensor.detach)."""
        return Tensor._from_data(self.data, None)

    # ---- x op= y, PyTorch's rules as far as a graph allows

    def __iadd__(self, other):
        return self._in_place(ops.Add, other, "+=")

    def __isub__(self, other):
        return self._in_place(ops.Sub, other, "-=")

    def __imul__(self, other):
        return self._in_place(ops.Mul, other, "*=")

    def __itruediv__(self, other):
        return self._in_place(ops.Div, other, "/=")

    def __ipow__(self, other):
        return self._in_place(ops.Pow, other, "**=")

    def _in_place(self, fn, other, op: str):
        """x op= y. PyTorch changes x's own array; a graph's nodes never change here, so:

            a leaf whose result records no graph    x's array changes (views and other names of x see
              (inside no_grad(), or nothing         it, its dtype stays): `with no_grad(): p -= lr *
              requires grad)                        p.grad`, a momentum buffer `v *= 0.9`
            an op's result, outside no_grad()       x = x op y, a new node (other names of x keep the old one)
            anything else                           an error that says what to write instead

        The result must have x's shape, as in PyTorch."""
        if self.is_leaf and self.requires_grad and is_grad_enabled():
            raise RuntimeError(f"Tensor {op} on a leaf that requires grad ({self.label or 'a parameter'}) would "
                               f"make it a new node and leave the parameter as it was: do it inside `with "
                               f"no_grad():`, as an optimizer step does (PyTorch refuses it too)")
        if not self.is_leaf and not is_grad_enabled():
            raise RuntimeError(f"Tensor {op} inside no_grad() on an op's result would cut it from its graph: "
                               f"do it outside no_grad() (x = x {op[:-1]} y, a new node)")
        result = fn.apply(self, self._operand(other, op))
        if result.shape != self.shape:
            raise ValueError(f"Tensor {op}: the result has shape {result.shape}, but an in-place op keeps the "
                             f"Tensor's shape {self.shape}")
        if not self.is_leaf:
            return result
        if result.requires_grad:
            raise RuntimeError(f"Tensor {op} with a side that requires grad would make this Tensor a node of a "
                               f"graph: write x = x {op[:-1]} y (a new node), or do it inside `with no_grad():`")
        self.data[...] = result.data
        return self

    # ---- ops only the tensor engine has (the shared ones are in operators.py)

    def __matmul__(self, other):
        return ops.MatMul.apply(self, self._operand(other, "@"))

    def __rmatmul__(self, other):
        return ops.MatMul.apply(self._operand(other, "@"), self)

    def matmul(self, other):
        return self @ other

    # The reductions take numpy's names, axis and keepdims, and PyTorch's, dim and keepdim, too.

    def sum(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return ops.Sum.apply(self, *_reduction("sum", axis, keepdims, dim, keepdim))

    def mean(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        return ops.Mean.apply(self, *_reduction("mean", axis, keepdims, dim, keepdim))

    def var(self, axis=None, keepdims=False, correction=0, *, dim=None, keepdim=None, unbiased=None):
        """Variance over `axis`; correction=0 (the default, as the lecture computes it) divides by n,
        correction=1 by n - 1. PyTorch's default is n - 1: its unbiased=True is our correction=1."""
        if unbiased is not None:
            if correction != 0:
                raise TypeError("var: give correction or unbiased (PyTorch's older name), not both")
            correction = 1 if unbiased else 0
        return ops.Var.apply(self, *_reduction("var", axis, keepdims, dim, keepdim), correction)

    def max(self, axis=None, keepdims=False, *, dim=None, keepdim=None):
        """The largest values along `axis` (PyTorch's amax: no indices; x.max(1) is a Tensor, not
        torch's (values, indices)); where several elements tie, they share the gradient equally."""
        return ops.Max.apply(self, *_reduction("max", axis, keepdims, dim, keepdim))

    def reshape(self, *shape):
        return ops.Reshape.apply(self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)

    def transpose(self, *axes):
        """x.transpose(0, 1) swaps two axes, as in PyTorch. x.transpose() reverses them all (x.T), and
        x.transpose(2, 0, 1) or x.transpose((2, 0, 1)) permutes them, as numpy does (x.permute in PyTorch)."""
        if len(axes) == 2 and all(ops.is_axis(a) for a in axes):
            axes = _swap(axes, self.shape)
        return self.permute(*axes) if axes else ops.Transpose.apply(self, None)

    def permute(self, *axes):
        """The axes in a new order: x.permute(2, 0, 1) or x.permute((2, 0, 1)), as in PyTorch."""
        return ops.Transpose.apply(self, axes[0] if len(axes) == 1 and not ops.is_axis(axes[0]) else axes)

    @property
    def T(self):
        return ops.Transpose.apply(self, None)

    # ---- the engine's side of the node protocol (called by function.py and graph.py)

    @staticmethod
    def _result(data, fn) -> np.ndarray:
        if type(data) is not np.ndarray:
            data = np.asarray(data)
        if data.dtype != np.float64 and data.dtype != np.float32:
            raise TypeError(f"{fn.__name__}.forward returned {data.dtype} data; a Tensor holds float32 or float64")
        return data

    def _operand(self, other, op: str):
        """`other` as the other argument of an operator: a node, a number or an array of numbers. As in
        PyTorch, a float32 Tensor stays float32 with a numpy number or an integer array (numpy would
        make float64): a numpy scalar or 0-d array becomes a Python number, an integer array takes our dtype."""
        if type(other) is float or isinstance(other, Node):  # the common cases first: cheap checks
            return other
        if isinstance(other, (np.generic, np.ndarray)) and other.ndim == 0 and other.dtype.kind in "biuf":
            return other.item()
        if isinstance(other, numbers.Real):
            return other
        if isinstance(other, np.ndarray) and other.dtype.kind in "biuf":
            return other if other.dtype.kind == "f" else other.astype(self.data.dtype)
        if isinstance(other, np.ndarray):  # strings, objects (Values?), complex: _array's TypeError says which
            _array(other, f"Tensor {op}")
        raise TypeError(f"Tensor {op}: cannot combine a Tensor with {type(other).__name__} {other!r:.60}")

    @staticmethod
    def _describe(raw) -> str:
        return f"shape {raw.shape} {raw.dtype}" if isinstance(raw, np.ndarray) else repr(raw)

    def _seed_grad(self, grad) -> np.ndarray:
        if grad is None:
            if self.data.size != 1:
                raise ValueError(f"backward: the output has shape {self.shape}; a non-scalar output needs "
                                 f"a gradient of that shape: out.backward(grad)")
            return np.ones_like(self.data)
        grad = grad.data if isinstance(grad, Tensor) else grad
        if type(grad) is not np.ndarray or grad.dtype.kind != "f":
            grad = _array(grad, "backward(grad)")  # a list, ints, ...: checked and converted
        if grad.shape != self.shape:
            raise ValueError(f"backward: grad has shape {grad.shape}, the output has shape {self.shape}")
        return grad.astype(self.dtype, copy=False)

    def _add_to_grad(self, g) -> None:
        """Keep g as .grad (summing from the second backward on, never in place). An op's result keeps
        g itself when it is an array of its dtype: every full-size copy costs as much as the op's
        arithmetic. It may then share memory with another node's .grad (a + b sends the same gradient
        to a and b), with the array given to backward(grad), or be a read-only broadcast view (what a
        mean sends back): an intermediate's .grad is for reading. A leaf (a parameter, an input) gets
        an array of its own, which optimizers and users may change in place: g itself if nothing else
        holds it (`_held_by_backward_only`), else a copy. Either way, the node's own Step (what
        backward_steps yields for it) shows the array it kept, as an intermediate's does."""
        if self.grad is not None:
            self.grad = self.grad + g
        elif type(g) is np.ndarray and g.dtype == self.data.dtype and (
                self._fn is not None or _held_by_backward_only(g)):
            self.grad = g
        else:
            self.grad = np.array(g, dtype=self.data.dtype)

    def _conform_grad(self, g, fn, index: int) -> np.ndarray:
        if type(g) is not np.ndarray:
            returned, g = g, np.asarray(g)
            if g.dtype.kind not in "biuf":
                raise TypeError(f"{fn.__name__}.backward returned {type(returned).__name__} {returned!r:.60} "
                                f"for input {index}; a gradient is numbers, an array of shape {self.data.shape}")
        if g.shape != self.data.shape:
            reduced = unbroadcast(g, self.data.shape)
            if reduced is None:
                raise ValueError(f"{fn.__name__}.backward returned a gradient of shape {g.shape} "
                                 f"for input {index} of shape {self.data.shape}")
            g = reduced
        return g if g.dtype == self.data.dtype else g.astype(self.data.dtype)
