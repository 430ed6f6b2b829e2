"""The graph both engines share: the node protocol, topological order, and the ONE backward loop.

A node (a `Value` or a `Tensor`) knows

    data           its value: a Python float (Value) or a numpy array (Tensor)
    grad           d(output)/d(node) summed over backward calls: a float, or an array of data's shape
    op             the name of the Function that made it ("Mul", "Sum", ...), None for a leaf
    parents        the nodes it was computed from, in argument order
    label          an optional name that diagrams and listings show
    group          the Group (e.g. one batch norm) it was built inside, or None
    requires_grad  whether gradients flow into it

Every tool (backward, backward_steps, the tracer, gradcheck) is written against these attributes
only, so it works on both engines. The graph holds no reference cycles: a node points to its Context,
which lists its inputs, and nothing points back, so a dropped graph is freed by reference counting alone.

The path a gradient takes: `out.backward()` -> `backward_steps(out)` -> for each node in reverse
topological order, its Function's `backward(ctx, grad)` -> `unbroadcast` to each input's shape ->
added into that input's pending gradient -> stored in `.grad` when the input's own turn comes.
"""
from __future__ import annotations

import functools
import itertools
import operator
from contextlib import contextmanager
from typing import Iterator

import numpy as np

from .sums import sum_over

_grad_enabled = True


@contextmanager
def no_grad():
    """Inside `with no_grad():` ops record no graph: their results are leaves (as in PyTorch)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    return _grad_enabled


class Group:
    """A named set of nodes built together (one batch norm, say): a diagram draws it as a cluster.

    Each `with group(name):` block makes a new Group, so two batch norms are two clusters, told
    apart in a debugger by `number`, which counts groups in creation order. Inside the block, every
    node an op creates has `.group` set to it. Blocks nest: a group opened inside another has it as
    its `parent` (a batch norm inside your `with group("layer 1"):`), and the diagram draws the inner
    cluster inside the outer one; on exit the parent is the current group again.
    """
    _count = itertools.count()

    def __init__(self, name: str):
        """name: a string, the cluster's title (diagrams and listings sort and escape it as text)."""
        if not isinstance(name, str):
            raise TypeError(f"group: the name must be a str, got {type(name).__name__} {name!r} "
                            f"(write group(f\"layer {{i}}\") for a numbered one)")
        self.name = name
        self.number = next(Group._count)
        self.parent, self._open, self._opened = None, False, False

    def __repr__(self):
        return f"Group({self.name!r}, number={self.number})"

    def __enter__(self) -> Group:
        global _current_group
        if self._open:
            raise RuntimeError(f"{self!r} is already open: each `with group(name):` makes a new Group")
        if self._opened and self.parent is not _current_group:  # its nodes' place would change
            where = {None: "at the top"}
            raise RuntimeError(f"{self!r} was opened {where.get(self.parent, f'inside {self.parent!r}')}, not "
                               f"{where.get(_current_group, f'inside {_current_group!r}')}: reopen it there, "
                               f"or make a new group")
        self.parent, _current_group, self._open, self._opened = _current_group, self, True, True
        return self

    def __exit__(self, *error) -> None:
        global _current_group
        _current_group, self._open = self.parent, False

    @property
    def outermost(self) -> Group:
        """The group at the top of the nesting this one is in (itself when it is not nested)."""
        group = self
        while group.parent is not None:
            group = group.parent
        return group

    def lineage(self) -> list:
        """The groups this one is inside, outermost first, then itself: [layer 1, batch_norm]."""
        groups = [self]
        while groups[-1].parent is not None and groups[-1].parent not in groups:
            groups.append(groups[-1].parent)
        return groups[::-1]


_current_group: Group | None = None


def group(name: str) -> Group:
    """`with group(name): ...` tags every node that ops create inside the block with one new Group(name)."""
    return Group(name)


_next_seq = itertools.count().__next__  # creation numbers: the order topological_order lists ops in


class Node:
    """What a Value and a Tensor have in common: the attributes above and the backward entry point.
    The ops are in ops.py, the methods that call them in operators.py and tensor.py."""
    __slots__ = ("data", "grad", "requires_grad", "label", "group", "_fn", "_ctx", "_inputs", "_seq", "__weakref__")
    _empty_grad = None  # .grad before any backward pass reaches the node (a Value says 0.0)

    def __init__(self, data, requires_grad: bool, label: str | None):
        """A leaf; each engine's constructor checks and converts `data` first."""
        kind = type(self).__name__
        if label is not None and not isinstance(label, str):
            children = isinstance(label, (tuple, list, set))  # Value(6.0, (a, b), "*"): micrograd's inner form
            raise TypeError(f"{kind}: label must be a str, got {type(label).__name__} {label!r:.40}"
                            + (f" (a node with parents is made by an op, a * b, not by {kind}(data, parents, op))"
                               if children else ""))
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise TypeError(f"{kind}: requires_grad must be True or False, got {type(requires_grad).__name__} "
                            f"{requires_grad!r:.40}")
        self.data = data
        self.grad = self._empty_grad
        self.requires_grad = requires_grad
        self.label = label
        self.group = self._fn = self._ctx = None
        self._inputs = ()
        self._seq = _next_seq()

    @classmethod
    def _from_data(cls, data, fn, ctx=None, group=None):
        """The node for an op's result: a leaf when ctx is None, else it records fn and ctx, which is
        also the list of its inputs (function.Context). `_result` (each engine's) checks what forward
        returned."""
        node = cls.__new__(cls)
        node.data = cls._result(data, fn)
        node.grad = cls._empty_grad
        node.requires_grad = ctx is not None
        node.label = None
        node.group = group
        node._fn = fn if ctx is not None else None
        node._ctx = ctx
        node._inputs = () if ctx is None else ctx
        node._seq = _next_seq()
        return node

    def __setstate__(self, state):
        """pickle and copy.deepcopy restore a node's slots, then give it a new creation number: the old
        one counted in another process (or before the copy), where it could come after nodes made here
        since. Loading builds a node after the nodes its state refers to, its parents, so the new numbers
        keep every node after its parents (topological_order relies on that)."""
        attributes, slots = state  # how an object with slots is saved: (its __dict__ or None, {slot: value})
        if attributes:  # a subclass of yours without __slots__ has a __dict__
            vars(self).update(attributes)
        for name, value in slots.items():
            setattr(self, name, value)
        self._seq = _next_seq()

    @property
    def op(self) -> str | None:
        """Name of the Function that produced this node, None for a leaf."""
        return None if self._fn is None else self._fn.__name__

    @property
    def parents(self) -> tuple:
        """The nodes this one was computed from, in the order they were passed to the op."""
        return tuple(x for x in self._inputs if isinstance(x, Node))

    @property
    def inputs(self) -> tuple:
        """Everything passed to the op: parent nodes and constants (numbers, axes, ...)."""
        return tuple(self._inputs)

    @property
    def is_leaf(self) -> bool:
        return self._fn is None

    def backward(self, grad=None, *, gradient=None, retain_graph=None) -> None:
        """Fill `.grad` of every node that leads to this one, by exhausting `backward_steps`.
        PyTorch's keywords work too: gradient= (grad's name there), and retain_graph=, which changes
        nothing here: a graph is always kept, and backward may run on it again."""
        if gradient is not None:
            if grad is not None:
                raise TypeError("backward: give grad or gradient (PyTorch's name for it), not both")
            grad = gradient
        for _ in backward_steps(self, grad):
            del _  # hold no step while the next one runs: a leaf may then keep its gradient uncopied

    def zero_grad(self) -> None:
        """Forget this node's accumulated gradient."""
        self.grad = self._empty_grad

    def graph(self, show_grad: bool = False) -> str:
        """The listing of the graph this node depends on, one line per node: `print(loss.graph())`.
        (listing.format_graph; imported here, not at the top, because listing.py imports this module.)"""
        from .listing import format_graph
        return format_graph(self, show_grad=show_grad)


class Step(tuple):
    """One step of backprop: `node` received `grad` and sent `sends[i]` to `node.inputs[i]`
    (None for a constant or an input that needs no grad). A tuple: `node, grad, sends = step`."""
    __slots__ = ()

    node = property(lambda self: self[0], doc="the node whose gradient is now final")
    grad = property(lambda self: self[1], doc="d(output)/d(node), summed over all of node's uses")
    sends = property(lambda self: self[2], doc="what this node sent to each of its inputs")

    def __repr__(self):
        return f"Step(node={self[0]!r}, grad={self[1]!r}, sends={self[2]!r})"


_new_step = tuple.__new__


_creation = operator.attrgetter("_seq")


def topological_order(output) -> list:
    """Every node that `output` (a node, or a list of nodes) depends on, each after its parents.

    Ops come in the order they were created (`_seq`): an op's inputs always exist before it, so that
    order is valid, and the ops of one `with group(...)` block were created together, so a group is
    one block per `with` (with any group opened inside it, one block within it). Each leaf comes
    just before the first op that uses it, or before the outermost block of the first group that
    uses it. backward_steps walks this list from the end: backprop undoes the ops in the reverse of
    the order they were done (PyTorch's engine orders its work by such sequence numbers too). No
    recursion, so a 100,000-deep chain is fine.
    """
    outputs = (output,) if isinstance(output, Node) else tuple(output)
    for node in outputs:
        if not isinstance(node, Node):
            raise TypeError(f"topological_order: expected a Value or Tensor (or a list of them), "
                            f"got {type(node).__name__}")
    seen, stack, ops = set(outputs), list(outputs), []
    while stack:
        node = stack.pop()
        if node._fn is not None:
            ops.append(node)
            for parent in node._inputs:
                if isinstance(parent, Node) and parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
    ops.sort(key=_creation)
    block = {}  # group -> the outermost group it is inside (itself unless groups nest), found once per group
    members = {}  # that outermost group -> its ops (inner groups' too): the first one places the leaves of all
    for op in ops:
        if op.group is not None:
            if op.group not in block:
                block[op.group] = op.group.outermost
            members.setdefault(block[op.group], []).append(op)
    order, placed = [], set()
    for op in ops:
        for user in (members.pop(block[op.group], ()) if op.group is not None else (op,)):
            for parent in user._inputs:
                if isinstance(parent, Node) and parent._fn is None and parent not in placed:
                    placed.add(parent)
                    order.append(parent)
        order.append(op)
    for node in outputs:  # an output that is itself a leaf
        if node._fn is None and node not in placed:
            placed.add(node)
            order.append(node)
    return order


def backward_steps(output: Node, grad=None) -> Iterator[Step]:
    """Backpropagate from `output`, yielding one Step per node in the order gradients are final.

    for each node, last to first in topological order:
        g = the gradient that reached it (summed over all of its uses); node.grad += g
        ask its Function for d(output)/d(input) = backward(ctx, g), one per input
        unbroadcast each to its input's shape and add it to that input's pending gradient
    """
    if not output.requires_grad:
        raise RuntimeError(f"backward: this {type(output).__name__} does not require grad and has no graph "
                           f"(create leaves with requires_grad=True, and do not call it under no_grad())")
    pending = {output: output._seed_grad(grad)}
    for node in reversed(topological_order(output)):
        g = pending.pop(node, None)
        if g is None:  # nothing flows here: the node does not require grad
            continue
        node._add_to_grad(g)
        yield _new_step(Step, (node, g, () if node._fn is None else _send(node, g, pending)))


def _send(node: Node, g, pending: dict) -> tuple:
    """One node's step of backprop: run its Function's backward on g and add what comes back for
    each input to that input's pending gradient. Returns what was sent to each input (None where
    nothing was). A function of its own, so that no gradient outlives it in the loop's variables."""
    fn = node._fn
    try:
        grads = fn.backward(node._ctx, g)
    except ArithmeticError as error:  # 1.0 / 0.0 on floats: a Value at a point where d/dx is infinite
        raise ValueError(f"{fn.__name__}.backward: {error} (the derivative is infinite here; "
                         f"a Tensor would give inf)") from error
    inputs = node._inputs
    if grads is None and any(isinstance(x, Node) and x.requires_grad for x in inputs):
        raise TypeError(f"{fn.__name__}.backward returned None (a missing return?): it returns one gradient "
                        f"per input to forward (zeros for an op that has none), None only for an input that needs "
                        f"no gradient")
    if type(grads) is list and len(inputs) > 1:  # `return [ga, gb]` would count as one gradient, an array
        raise TypeError(f"{fn.__name__}.backward returned a list; return a tuple, one gradient per input "
                        f"to forward (return ga, gb)")
    if type(grads) is not tuple:
        grads = (grads,)
    if len(grads) != len(inputs) and not _only_extra_nones(grads, len(inputs)):
        raise ValueError(f"{fn.__name__}.backward returned {len(grads)} gradient(s), "
                         f"expected {len(inputs)} (one per input to forward, None for a constant)")
    sends = []
    for index, parent in enumerate(inputs):
        pg = grads[index]
        if pg is None or not isinstance(parent, Node) or not parent.requires_grad:
            sends.append(None)
            continue
        pg = parent._conform_grad(pg, fn, index)
        sends.append(pg)
        pending[parent] = pending[parent] + pg if parent in pending else pg
    return tuple(sends)


def _only_extra_nones(grads, n_inputs):
    """PyTorch's rule: backward may return more gradients than inputs if the extra ones are None
    (the gradients of forward's defaulted arguments that were not passed)."""
    return len(grads) > n_inputs and all(g is None for g in grads[n_inputs:])


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a gradient back to the shape of the input that numpy broadcast up to grad.shape.

    Broadcasting (3,1) with (1,4) gives (3,4): each input element was used once per copy, so its
    gradient is the sum over the copies. Sum the extra leading axes and every axis that was 1 in
    `shape` (sums.sum_over, keeping the axes), then drop the extra ones. Returns None when
    grad.shape cannot have come from `shape`.
    """
    shape = tuple(shape)
    plan = _unbroadcast_plan(grad.shape, shape)
    if plan is None:
        return None
    axes, extra = plan
    if axes:
        grad = sum_over(grad, axes, keepdims=True)
        if extra:
            grad = grad.reshape(grad.shape[extra:])
    return grad


@functools.lru_cache(maxsize=1024)  # the same broadcasts come back at every training step
def _unbroadcast_plan(grad_shape: tuple, shape: tuple):
    """(the axes of grad_shape to sum, how many of them are extra leading axes to drop), or None
    when numpy's broadcasting cannot make grad_shape from shape."""
    extra = len(grad_shape) - len(shape)
    if extra < 0 or any(n != 1 and n != m for n, m in zip(shape, grad_shape[extra:])):
        return None
    axes = [*range(extra)] + [extra + i for i, n in enumerate(shape) if n == 1 and grad_shape[extra + i] != 1]
    return tuple(axes), extra
