"""Function: the one way an op is written, for built-ins and students alike (PyTorch's API).

    class Cube(Function):
        '''y = x**3,  dy/dx = 3 x**2'''
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 3

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * 3 * x ** 2

    y = Cube.apply(x)          # x a Value or a Tensor: y is the same kind of node

`forward` and `backward` see raw data: a float for a Value, a numpy array for a Tensor. Arguments
that are not nodes (a number, an axis, a flag) pass through to `forward` unchanged and get None (or
anything: it is ignored) as their gradient. `backward` returns one gradient per argument of `forward`.
A gradient may have the broadcast shape of the output: the engine sums it back to each input's shape
(graph.unbroadcast), so no op repeats that work.
"""
from __future__ import annotations

from . import graph
from .graph import Node


class Context(list):
    """The `ctx` a Function's forward and backward share. Yours alone: set any attribute you like
    (`saved_tensors` and `needs_input_grad` are read-only, as in PyTorch).

    It offers what PyTorch's does: `save_for_backward(*values)` then `saved_tensors` (raw data, as
    forward saw it), and `needs_input_grad` (a bool per argument of forward).

    It is also the graph's record of the call: the list of what `apply` was given (nodes and
    constants, in order; forward gets their data), which a node's `inputs` are read from, so its
    items cannot change. Being that list, rather than holding one, spares an object per node (for an
    op that sets no attribute of its own on ctx: those live in a dict): with Python's garbage
    collector on, what a scalar graph costs grows with its number of objects, which the collector
    walks again and again while the graph lives (benchmarks/scalar_engine.py).
    """
    __slots__ = ("__saved", "__dict__", "__weakref__")  # __dict__: your attributes, apart from ours
    __eq__ = object.__eq__  # a list compares by its items; a ctx, one per call, equals only itself
    __ne__ = object.__ne__
    __hash__ = object.__hash__

    def _refuse(self, *args):
        raise TypeError("a ctx's items are its op's inputs, which the graph reads: they cannot change "
                        "(keep your own data on ctx as attributes, ctx.name = ..., or with save_for_backward)")

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse

    def __repr__(self):
        return f"Context(inputs={list.__repr__(self)}, saved_tensors={self.saved_tensors!r})"

    def __reduce_ex__(self, protocol):
        """copy and pickle rebuild a ctx from its inputs in one go (appending them is refused)."""
        return type(self), (list(self),), (dict(vars(self)), self.saved_tensors)

    def __setstate__(self, state):
        attributes, self.__saved = state
        vars(self).update(attributes)

    def save_for_backward(self, *values):
        """Keep raw values for backward; read them back as `ctx.saved_tensors`."""
        self.__saved = values

    @property
    def saved_tensors(self) -> tuple:
        """What save_for_backward kept: () if it was not called."""
        try:
            return self.__saved
        except AttributeError:
            return ()

    @property
    def needs_input_grad(self) -> tuple:
        """One bool per argument of forward: does backward need to compute that gradient?"""
        return tuple([isinstance(x, Node) and x.requires_grad for x in self])


class Function:
    """Subclass with static `forward(ctx, *inputs)` and `backward(ctx, grad_output)`; call `apply`."""

    @staticmethod
    def forward(ctx, *inputs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_output):
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs):
        """Run forward on the inputs' data and return a new node that remembers how it was made."""
        kind, requires_grad, raw = None, False, []
        for x in inputs:
            if isinstance(x, Node):
                if kind is not type(x):
                    kind = _engine(cls, kind, type(x))
                requires_grad = requires_grad or x.requires_grad
                raw.append(x.data)
            else:
                raw.append(x)
        if kind is None:
            raise TypeError(f"{cls.__name__}.apply needs at least one Value or Tensor argument")
        ctx = Context(inputs)
        try:
            out = cls.forward(ctx, *raw)
        except (ValueError, IndexError, ArithmeticError) as error:  # shapes, axes, 1.0 / 0 on floats
            raise ValueError(f"{cls.__name__}: {error} (inputs: {_describe(kind, raw)})") from error
        except TypeError as error:
            raise TypeError(f"{cls.__name__}: {error} (inputs: {_describe(kind, raw)})") from error
        if out is None:
            raise TypeError(f"{cls.__name__}.forward returned None (a missing return?): it returns the op's result")
        if requires_grad and graph._grad_enabled:
            return kind._from_data(out, cls, ctx, graph._current_group)
        return kind._from_data(out, cls)


def _describe(kind, raw) -> str:
    return ", ".join(kind._describe(x) for x in raw)


def _engine(fn, kind, other):
    """The node class of an op's output: the one engine its inputs share, or a TypeError."""
    if kind is not None:
        raise TypeError(f"{fn.__name__}: cannot mix a {kind.__name__} with a {other.__name__}; "
                        f"use Values (scalar engine) or Tensors (tensor engine), not both")
    return other
