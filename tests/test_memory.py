"""A graph holds no reference cycles: a dropped graph is freed by reference counting alone.

A node points to its inputs and to its Context, and nothing points back, so when the last reference
to the output goes, every node and every ctx is freed at once, with Python's garbage collector off.
This is why the scalar engine stays fast with the collector on: micrograd's backward closures put
every node in a cycle, and the collector then walks the whole growing graph again and again.

Two independent checks, each shown able to fail on a graph with a cycle built on purpose:
- `_survivors`: with the collector disabled, drop the graph and list the nodes and contexts that
  weak references show are still alive;
- `_cyclic_garbage`: with the collector disabled, build and drop the graph, then let `gc.collect()`
  find what only it could free (kept in `gc.garbage` through `gc.DEBUG_SAVEALL`, so a failure names it).
"""
import gc
import weakref
from contextlib import contextmanager

import numpy as np
import pytest

from test_function import Cube  # a student's Function
from tinygrad_bn import Tensor, Value, backward_steps, group, topological_order


@contextmanager
def _collector_off():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _describe(obj) -> str:
    return " ".join(str(part) for part in (type(obj).__name__, getattr(obj, "op", None), getattr(obj, "label", None)) if part)


def _survivors(build) -> list:
    """build() makes a graph and returns its output. With the collector off, drop the output and
    return a description of every node and ctx of the graph that is still alive."""
    gc.collect()
    with _collector_off():
        out = build()
        refs = [weakref.ref(x) for node in topological_order(out) for x in (node, node._ctx) if x is not None]
        assert len(refs) > 1, "the graph should have more than one node"
        del out
        return [_describe(r()) for r in refs if r() is not None]


def _cyclic_garbage(build) -> list:
    """Run build() with the collector off and drop what it returns; then return the type names of
    the objects that `gc.collect()` finds unreachable: what reference counting could not free."""
    gc.collect()
    with _collector_off():
        build()
    flags = gc.get_debug()
    already = len(gc.garbage)
    gc.set_debug(flags | gc.DEBUG_SAVEALL)
    try:
        found = gc.collect()
        garbage = gc.garbage[already:]
        names = sorted(type(x).__name__ for x in garbage)
        assert found == len(garbage)
    finally:
        del gc.garbage[already:], garbage
        gc.set_debug(flags)
        gc.collect()  # now free them for real
    return names


# ---------------------------------------------------------------- graphs of both engines

def _value_graph():
    """Every Value op, numbers on either side, a backward pass run twice (gradients accumulate)."""
    a, b = Value(1.5, label="a"), Value(-0.7, label="b")
    c = a * b + 2.0 - a / b
    d = (c ** 2).exp().log() + (-c).tanh() + c.relu() + c.sigmoid() + (a * a).sqrt() + 3.0 ** b
    out = 1 - d * 0.5 + 2 / a
    out.backward()
    out.backward()
    assert a.grad != 0.0
    return out


def _tensor_graph():
    """A batch of Tensor ops (matmul, broadcasting, reductions, reshapes) inside groups (one nested in
    the other: a group knows its parent), and backward."""
    rng = np.random.default_rng(0)
    x = Tensor(rng.normal(size=(8, 3)), requires_grad=True, label="x")
    w = Tensor(rng.normal(size=(3, 4)), requires_grad=True, label="w")
    b = Tensor(rng.normal(size=(4,)), requires_grad=True, label="b")
    with group("layer"):
        h = x @ w + b
        with group("normalize"):
            centered = h - h.mean(axis=0, keepdims=True)
            normalized = centered / (h.var(axis=0, keepdims=True) + 1e-5).sqrt()
    y = normalized.tanh() + normalized.relu() * 2 + normalized.sigmoid() - (h * h + 1).log() + (-h).exp()
    y = y.reshape(4, 8).T.transpose() ** 2 / 3
    out = y.max(axis=1).sum() + y.sum(axis=(0, 1)) + (w.T @ x.T).mean()
    out.backward()
    assert x.grad.shape == (8, 3)
    return out


def _deep_chain():
    """100,000 Values in a chain: freeing it must not recurse once per node (CPython's trashcan)."""
    x = Value(0.5, label="x")
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 0.0
    y.backward()
    return y


def test_a_dropped_value_graph_is_freed_by_reference_counting():
    assert _survivors(_value_graph) == []


def test_a_dropped_tensor_graph_is_freed_by_reference_counting():
    assert _survivors(_tensor_graph) == []


def test_a_dropped_deep_chain_is_freed_by_reference_counting():
    assert _survivors(_deep_chain) == []


def test_the_collector_finds_no_garbage_after_our_graphs():
    for build in (_value_graph, _tensor_graph, _deep_chain):
        assert _cyclic_garbage(build) == [], build.__name__


def test_stopping_a_backward_walk_half_way_leaves_no_cycle():
    """A debugger that steps through backward_steps and stops: the generator's frame goes too."""
    def half_a_walk():
        out = _value_graph()
        steps = backward_steps(out)
        for _ in range(3):
            next(steps)
        return steps

    assert _cyclic_garbage(half_a_walk) == []
    assert _survivors(lambda: next(backward_steps(_value_graph())).node) == []


# ---------------------------------------------------------------- the checks can fail

def _graph_with_a_cycle():
    """A student's mistake: keeping the output node in its own ctx (node -> ctx -> node)."""
    x = Value(2.0, label="x")
    y = Cube.apply(x)
    y.label = "y"
    y._ctx.output = y
    out = y * 2.0
    out.backward()
    return out


def test_the_checks_catch_a_cycle_built_on_purpose():
    survivors = _survivors(_graph_with_a_cycle)
    assert "Value Cube y" in survivors and "Context" in survivors
    assert "Value Mul" not in survivors  # out itself is not on the cycle: it was freed
    garbage = _cyclic_garbage(_graph_with_a_cycle)
    assert "Value" in garbage and "Context" in garbage


def test_the_checks_pass_on_the_same_graph_without_the_cycle():
    def no_cycle():
        x = Value(2.0)
        out = Cube.apply(x) * 2.0
        out.backward()
        assert x.grad == 24.0  # d(2 x**3)/dx = 6 x**2
        return out

    assert _survivors(no_cycle) == []
    assert _cyclic_garbage(no_cycle) == []


@pytest.mark.parametrize("op", ["add", "mul"])
def test_a_value_op_leaves_two_tracked_objects_per_node(op):
    """What the collector pays for is the number of objects it tracks: a Value op node keeps two,
    the node and its ctx, which is itself the list of the op's inputs (no separate tuple). Mul's
    saved (a, b) is a tuple of floats, which the collector stops tracking the first time it sees it
    (as it does any tuple of untracked objects). More objects would make every collection slower."""
    x = Value(1.0)
    gc.collect()
    with _collector_off():
        before = len(gc.get_objects())
        y = x
        for _ in range(1000):
            y = y + x if op == "add" else y * x
        gc.collect(0)
        per_node = (len(gc.get_objects()) - before) / 1000
    assert per_node <= 2.0, per_node
    assert per_node > 1.99  # the count is real: each node and ctx is tracked
