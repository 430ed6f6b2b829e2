"""The graph both engines share (graph.py): the node protocol, topological order, the backward loop
and its accumulation semantics, no_grad, groups, unbroadcast, and a deep chain."""
import contextlib
import copy
import itertools
import pickle
import sys
import weakref

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_bn import (Function, Group, Step, Tensor, Value, backward_steps, gradcheck, group, is_grad_enabled, no_grad,
                         topological_order, unbroadcast)
from tinygrad_bn import graph as graph_module
from tinygrad_bn import tensor as tensor_module


# ---------------------------------------------------------------- the node protocol

def test_a_node_knows_its_op_parents_inputs_and_label():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    c = a * b
    d = c + 1
    assert (a.op, c.op, d.op) == (None, "Mul", "Add")
    assert c.parents == (a, b) and d.parents == (c,)
    assert d.inputs == (c, 1.0)  # the constant is an input but not a parent
    assert a.is_leaf and not c.is_leaf and a.label == "a" and c.label is None
    t = Tensor([1.0], requires_grad=True, label="t")
    s = (t * 2).sum()
    assert s.op == "Sum" and s.parents[0].op == "Mul" and s.inputs[1:] == (None, False) and t.label == "t"


# ---------------------------------------------------------------- topological order

def diamond():
    """x feeds y and z directly and through y; the output w uses everything."""
    x = Value(0.5, label="x")
    y = (x * 2).tanh()
    z = y * x + y.exp()
    w = z / y - x
    return x, y, z, w


def test_topological_order_lists_every_node_once_after_its_parents():
    x, y, z, w = diamond()
    order = topological_order(w)
    assert order[-1] is w and len(order) == len(set(map(id, order)))
    position = {id(n): i for i, n in enumerate(order)}
    seen = set()
    stack = [w]
    while stack:  # every node reachable from w, found independently
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            stack.extend(node.parents)
            for parent in node.parents:
                assert position[id(parent)] < position[id(node)]
    assert seen == set(position)


def test_topological_order_follows_argument_order_and_is_deterministic():
    a, b = Value(1.0, label="a"), Value(2.0, label="b")
    c = a + b
    assert topological_order(c) == [a, b, c]
    assert topological_order(b + a)[:2] == [b, a]
    orders = [[(n.op, n.label, n.data) for n in topological_order(diamond()[-1])] for _ in range(2)]
    assert orders[0] == orders[1]


# ---------------------------------------------------------------- the backward loop

def test_backward_steps_yields_final_gradients_and_what_each_node_sent():
    x = Value(3.0, label="x")
    c = Value(5.0, requires_grad=False, label="c")
    y = x * c
    out = y + 2.0
    steps = list(backward_steps(out))
    assert all(isinstance(s, Step) for s in steps)
    assert [s.node for s in steps] == [out, y, x]  # c needs no grad: no step
    node, grad, sends = steps[0]
    assert node is out and grad == 1.0 and sends == (1.0, None)  # None for the constant 2.0
    assert steps[1].sends == (5.0, None)  # c does not require grad: nothing sent
    assert steps[2].sends == ()
    for s in steps:
        assert s.node.grad == s.grad  # one backward: each step's gradient is the node's final .grad
    assert c.grad == 0.0


def test_every_intermediate_keeps_its_grad(central_difference):
    """Unlike PyTorch, intermediates keep .grad: d(loss)/d(y) for the intermediate y = x * w."""
    xs = np.array([[0.3, -1.2], [0.8, 0.1]])
    x = Tensor(xs, requires_grad=True)
    y = x * np.array([2.0, -0.5])
    z = y.tanh()
    loss = (z * z).sum()
    loss.backward()
    (dy,) = central_difference(lambda y: np.sum(np.tanh(y) ** 2), [y.data])
    (dz,) = central_difference(lambda z: np.sum(z * z), [z.data])
    np.testing.assert_allclose(y.grad, dy, rtol=1e-6)
    np.testing.assert_allclose(z.grad, dz, rtol=1e-6)
    assert loss.grad == 1.0


class _Twice(Function):
    """y = 2 x; its backward returns a fresh array, and may keep a reference to it on ctx."""
    returned = []  # weak references to what backward returned, newest last

    @staticmethod
    def forward(ctx, x, keep=False):
        ctx.keep = keep
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        out = grad * 2
        _Twice.returned.append(weakref.ref(out))
        if ctx.keep:
            ctx.kept = out
        return out, None


def test_a_leaf_gets_a_gradient_array_no_other_node_step_or_ctx_sees():
    """A leaf's .grad may be changed in place (optimizers, clipping): it must share memory with no
    other node's .grad, nothing another node's Step sent, no ctx, and not the array given to backward(grad)."""
    a, b = (Tensor(np.ones((2, 3)), requires_grad=True) for _ in range(2))
    seed = np.full((2, 3), 0.5)
    out = a + b  # Add sends the same array to a and b, and out keeps it too
    out.backward(seed)
    for x, y in [(a, b), (a, out), (b, out)]:
        assert not np.shares_memory(x.grad, y.grad)
    assert not np.shares_memory(a.grad, seed) and a.grad.flags.writeable

    m = Tensor(np.ones((2, 3)), requires_grad=True)
    m.mean(axis=0).sum().backward()  # Mean sends back a read-only broadcast view
    assert m.grad.flags.writeable and m.grad.base is None

    x = Tensor(np.ones(3), requires_grad=True)
    node = _Twice.apply(x, True)
    node.sum().backward()
    assert not np.shares_memory(x.grad, node._ctx.kept)  # the ctx kept what backward returned

    x.grad = None
    steps = list(backward_steps(_Twice.apply(x).sum()))
    assert not np.shares_memory(x.grad, steps[1].sends[0])  # the Step that sent it is still held

    y = Tensor(np.ones(3), requires_grad=True)
    steps = list(backward_steps((y * 3.0).sum() + (y * y).sum()))  # y used three times: a sum
    sent = [g for step in steps for parent, g in zip(step.node.inputs, step.sends) if parent is y]
    assert len(sent) == 3 and not any(np.shares_memory(y.grad, g) for g in sent)
    np.testing.assert_array_equal(y.grad, 3.0 + 2 * y.data)


def test_a_leaf_keeps_a_gradient_only_the_backward_loop_holds_without_copying_it():
    """On the CPython versions whose reference counts tensor.py knows (3.11 to 3.13); elsewhere a
    leaf always gets a copy, which is checked instead."""
    _Twice.returned.clear()
    x = Tensor(np.ones(3), requires_grad=True)
    _Twice.apply(x).sum().backward()
    returned = _Twice.returned[-1]()
    if tensor_module._UNSHARED_REFERENCES is None:
        assert x.grad is not returned and not np.shares_memory(x.grad, returned)
    else:
        assert x.grad is returned  # the array backward returned, not a copy of it
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])


@pytest.mark.parametrize("engine", [Value, Tensor])
def test_gradients_accumulate_across_uses_in_one_graph(engine):
    x = Value(3.0) if engine is Value else Tensor(3.0, requires_grad=True)
    out = x * x + x + x.exp() / x  # d/dx = 2x + 1 + e^x (x - 1) / x^2
    out.backward()
    assert x.grad == pytest.approx(2 * 3.0 + 1 + np.exp(3.0) * 2 / 9)


def test_gradients_accumulate_across_a_broadcast_use():
    b = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    x = Tensor(np.ones((4, 3)))
    ((x + b) * b).sum().backward()  # each b[j] is used 4 times, twice in each: d/db = sum_i (x + 2b)
    np.testing.assert_array_equal(b.grad, 4 * (1 + 2 * b.data))


@pytest.mark.parametrize("engine", [Value, Tensor])
def test_gradients_accumulate_across_backward_calls_and_zero_grad_resets(engine):
    x = Value(2.0) if engine is Value else Tensor(2.0, requires_grad=True)
    y = x * x
    out = y * 3
    out.backward()
    once = (float(x.grad), float(y.grad), float(out.grad))
    out.backward()
    assert (x.grad, y.grad, out.grad) == tuple(2 * g for g in once)  # every node accumulates, as .grad does in torch
    assert once == (12.0, 3.0, 1.0)
    x.zero_grad()
    assert x.grad == (0.0 if engine is Value else None)
    out.backward()
    assert x.grad == 12.0
    x.grad = None  # PyTorch's way of zeroing works on both engines
    out.backward()
    assert x.grad == 12.0 and "grad=" in repr(x)
    x.grad = None
    assert repr(x) == ("Value(data=2.0, grad=None)" if engine is Value else repr(x))


@pytest.mark.parametrize("engine", [Value, Tensor])
def test_backward_on_a_node_that_does_not_require_grad_raises(engine):
    def make(raw, requires_grad):
        return Value(raw, requires_grad=requires_grad) if engine is Value else Tensor(raw, requires_grad=requires_grad)

    with no_grad():
        under_no_grad = make(2.0, True) * 3
    for node in (make(2.0, False), make(2.0, False) * make(3.0, False), under_no_grad, (make(2.0, True) * 2).detach()):
        with pytest.raises(RuntimeError, match=rf"^backward: this {engine.__name__} does not require grad"):
            node.backward()


@pytest.mark.parametrize("engine", [Value, Tensor])
def test_leaves_that_do_not_require_grad_get_no_grad(engine):
    a = Value(2.0, requires_grad=False) if engine is Value else Tensor(2.0)
    b = Value(3.0) if engine is Value else Tensor(3.0, requires_grad=True)
    out = a * b
    assert out.requires_grad
    out.backward()
    assert a.grad == (0.0 if engine is Value else None) and b.grad == 2.0


# ---------------------------------------------------------------- no_grad and groups

def test_no_grad_restores_the_previous_state_even_after_an_error():
    x = Value(1.0)
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        with no_grad():
            pass
        assert not is_grad_enabled()
    assert is_grad_enabled() and (x * 2).requires_grad
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            1 / 0
    assert is_grad_enabled() and (x * 2).requires_grad


def test_group_tags_the_nodes_ops_create_inside_it():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with group("bn") as first:
        y = x - x.mean()
        with group("inner") as inner:
            z = y * 2
        w = z + 1
    with group("bn") as second:
        v = w.sum()
    assert first.name == second.name == "bn" and first is not second
    assert first.number < inner.number < second.number
    assert (x.group, y.group, z.group, w.group, v.group) == (None, first, inner, first, second)
    assert (w * 1).group is None


def test_a_group_open_inside_itself_is_refused_and_the_outer_one_still_closes():
    x = Value(1.0)
    block = group("bn")
    with block:
        with pytest.raises(RuntimeError, match=r"Group\('bn', number=\d+\) is already open"):
            with block:
                pass
        assert (x * 2).group is block
    assert (x * 2).group is None
    with block:  # closed again: it may be reopened
        assert (x * 3).group is block


def test_a_group_reopened_inside_another_group_is_refused():
    """Its nodes are drawn inside the group it was first opened in: reopening it elsewhere would move them."""
    block = group("bn")
    with group("layer"):
        with block:
            pass
    with pytest.raises(RuntimeError, match=r"^Group\('bn', number=\d+\) was opened inside Group\('layer', "
                                           r"number=\d+\), not at the top: reopen it there, or make a new group"):
        with block:
            pass
    assert block.parent.name == "layer"


@pytest.mark.parametrize("make", [group, Group])
def test_a_group_name_that_is_not_a_string_is_refused_naming_its_type(make):
    """A loop's `with group(i):` would otherwise fail later, inside draw_graph, far from the mistake."""
    with pytest.raises(TypeError, match=r'^group: the name must be a str, got int 0 \(write group\(f"layer \{i\}"\) '
                                        r'for a numbered one\)$'):
        make(0)
    assert make("").name == ""  # any string will do, the empty one too


# ---------------------------------------------------------------- deep chains
# (that a dropped graph, a 100,000-deep chain too, is freed without cycles or a crash: test_memory.py)

@pytest.mark.parametrize("engine", [Value, Tensor])
def test_a_graph_loaded_in_another_process_backpropagates_right(engine, monkeypatch):
    """Nodes count their creation in each process: a loaded graph's nodes get new numbers as they
    are loaded (parents first), so nodes made after the load still come after them."""
    a = Value(2.0, label="a") if engine is Value else Tensor([2.0], requires_grad=True, label="a")
    b = Value(3.0) if engine is Value else Tensor([3.0], requires_grad=True)
    saved = pickle.dumps(a * b + a)
    monkeypatch.setattr(graph_module, "_next_seq", itertools.count().__next__)  # a new process counts from 0
    g = pickle.loads(saved)
    loss = g * g if engine is Value else (g * g).sum()
    loss.backward()
    loaded_a = g.parents[1]
    assert loaded_a.label == "a" and np.asarray(loaded_a.grad).item() == 2 * 8.0 * (3.0 + 1.0)  # d(g^2)/da = 2 g (b + 1)
    assert np.asarray(g.grad).item() == 16.0
    copied = copy.deepcopy(g)
    assert copied._seq > g._seq and all(p._seq < copied._seq for p in copied.parents)


@pytest.mark.parametrize("engine", [Value, Tensor])
def test_a_label_and_requires_grad_of_the_wrong_type_are_refused(engine):
    if engine is Value:
        with pytest.raises(TypeError, match=r"^Value: label must be a str, got tuple .* \(a node with parents is made "
                                            r"by an op, a \* b, not by Value\(data, parents, op\)\)"):
            Value(6.0, (Value(1.0),), "*")  # micrograd's inner constructor: here it would be a leaf named (a,)
    with pytest.raises(TypeError, match=rf"^{engine.__name__}: label must be a str, got int 5$"):
        engine(1.0, label=5)
    with pytest.raises(TypeError, match=rf"^{engine.__name__}: requires_grad must be True or False, got str 'yes'"):
        engine(1.0, requires_grad="yes")


def test_an_in_place_step_under_no_grad_changes_the_parameter_itself():
    """PyTorch's hand-written optimizer step: `with no_grad(): p -= lr * p.grad` changes p, not a copy."""
    p = Tensor(np.array([1.5, -2.0], dtype=np.float32), requires_grad=True, label="w")
    view, start = p.data, np.array(p.data)
    (p * p).sum().backward()
    parameter = p
    with no_grad():
        p -= 0.25 * p.grad  # p - 0.25 * 2p = p / 2
        p *= 3.0
    assert p is parameter and p.is_leaf and p.requires_grad
    np.testing.assert_allclose(p.data, start * 0.5 * 3.0)
    assert p.dtype == np.float32 and view is p.data  # the same array, its dtype kept
    with no_grad(), pytest.raises(ValueError, match=r"^Tensor \+=: the result has shape \(2, 2\), but an in-place "
                                                     r"op keeps the Tensor's shape \(2,\)"):
        p += np.ones((2, 2))
    with pytest.raises(RuntimeError, match=r"^Tensor -= on a leaf that requires grad \(w\) would make it a new node "
                                           r"and leave the parameter as it was: do it inside `with no_grad\(\):`"):
        p -= 0.25 * p.grad  # outside no_grad: PyTorch refuses too (Python would silently rebind p)
    np.testing.assert_allclose(p.data, start * 0.5 * 3.0)


def test_x_op_equals_y_on_a_value_is_a_new_node_as_in_micrograd():
    """act = self.b; act += w * x (micrograd's Neuron) must not change the bias, under no_grad too."""
    b = Value(0.5)
    for context in (contextlib.nullcontext(), no_grad()):
        with context:
            act = b
            act += 2.0
            act -= 1.0
        assert act is not b and act.data == 1.5 and b.data == 0.5


def test_x_op_equals_y_on_a_tensor_follows_pytorch():
    """A leaf whose result records no graph changes in place (a buffer); a result that needs a graph is a new node."""
    v = Tensor(np.zeros(2))  # a momentum buffer: requires no grad
    alias = v
    for _ in range(3):
        v *= 0.9
        v += Tensor(np.ones(2))
    assert v is alias and np.allclose(alias.data, 1 + 0.9 + 0.81)
    x = Tensor([2.0, 3.0], requires_grad=True)
    h = x * 1.0
    h += 1.0  # an op's result: a new node, a graph's nodes never change
    assert h.op == "Add" and list(x.data) == [2.0, 3.0]
    h.sum().backward()
    assert list(x.grad) == [1.0, 1.0]
    with pytest.raises(ValueError, match=r"^Tensor \+=: the result has shape \(3, 2\), but an in-place op keeps the "
                                         r"Tensor's shape \(2,\)"):
        h += np.ones((3, 2))


def test_x_op_equals_y_that_a_graph_cannot_do_says_what_to_write():
    total, loss = Tensor(0.0), (Tensor([1.0, 2.0], requires_grad=True) ** 2).sum()
    with pytest.raises(RuntimeError, match=r"^Tensor \+= with a side that requires grad would make this Tensor a node "
                                           r"of a graph: write x = x \+ y \(a new node\)"):
        total += loss  # PyTorch would make total a node; here: total = total + loss
    assert float(total.data) == 0.0
    h = Tensor([1.0], requires_grad=True) * 2
    with no_grad(), pytest.raises(RuntimeError, match=r"^Tensor \+= inside no_grad\(\) on an op's result would cut "
                                                       r"it from its graph"):
        h += 1.0
    p = Tensor([3.0, 3.0], requires_grad=True)
    alias = p
    with no_grad():
        p **= 2  # in place on a parameter, as the other operators
    assert alias is p and list(p.data) == [9.0, 9.0]


def test_gradcheck_of_a_function_with_augmented_assignment_leaves_its_inputs_alone():
    def f(a, b):
        s = a
        s += a * b  # on Values: a new node, in both of gradcheck's passes
        return s

    a, b = Value(0.5), Value(-1.5)
    assert gradcheck(f, [a, b]) and (a.data, b.data) == (0.5, -1.5)


def test_a_subclass_keeps_its_own_attributes_through_pickle_and_deepcopy():
    p = Named([1.0, 2.0])
    p.name = "w"
    assert pickle.loads(pickle.dumps(p)).name == "w" and copy.deepcopy(p).name == "w"


class Named(Tensor):
    """A Tensor subclass without __slots__: it has a __dict__ for attributes of its own."""


def test_a_100000_deep_chain_of_values_backpropagates_without_recursion():
    x = Value(1.0)
    y = x
    for _ in range(100_000):
        y = y * 1.00001
    assert sys.getrecursionlimit() < 100_000  # a recursive topological sort would fail here
    y.backward()
    assert x.grad == pytest.approx(1.00001 ** 100_000, rel=1e-9)
    assert len(topological_order(y)) == 100_001


# ---------------------------------------------------------------- unbroadcast

@pytest.mark.parametrize("grad_shape, shape", [((3, 4), (3, 1)), ((3, 4), (1, 4)), ((3, 4), (4,)), ((3, 4), ()),
                                               ((2, 3, 4), (3, 1)), ((2, 3, 4), (1, 1, 1)), ((5,), (1,)),
                                               ((2, 3), (2, 3))])
def test_unbroadcast_sums_the_broadcast_axes(grad_shape, shape):
    grad = np.arange(np.prod(grad_shape), dtype=np.float64).reshape(grad_shape)
    reduced = unbroadcast(grad, shape)
    assert reduced.shape == shape
    # each element of the input collects the gradient of every output element it was copied to
    copies_of = np.broadcast_to(np.arange(int(np.prod(shape))).reshape(shape), grad_shape)
    expected = np.bincount(copies_of.ravel(), weights=grad.ravel(), minlength=int(np.prod(shape)))
    np.testing.assert_array_equal(reduced.ravel(), expected)


@given(data=st.data())
def test_unbroadcast_is_the_adjoint_of_broadcasting(data):
    """<broadcast(x), g> == <x, unbroadcast(g)> for every x and g: the definition of the gradient."""
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=1, min_dims=0, max_dims=4, max_side=3))
    (shape,), grad_shape = shapes.input_shapes, shapes.result_shape
    x = data.draw(hnp.arrays(np.float64, shape, elements=st.integers(-5, 5)))
    g = data.draw(hnp.arrays(np.float64, grad_shape, elements=st.integers(-5, 5)))
    reduced = unbroadcast(g, shape)
    assert reduced.shape == shape
    assert np.sum(np.broadcast_to(x, grad_shape) * g) == np.sum(x * reduced)


@pytest.mark.parametrize("grad_shape, shape", [((3,), (2, 3)), ((1,), (3,)), ((2, 3), (3, 2)), ((4, 3), (2, 3)),
                                               ((), (1,))])
def test_unbroadcast_returns_none_when_the_shape_cannot_have_been_broadcast(grad_shape, shape):
    assert unbroadcast(np.ones(grad_shape), shape) is None


def test_unbroadcast_takes_a_shape_as_a_list_as_well_as_a_tuple():
    """Its answers are remembered per (grad shape, shape): a list is looked up as the equal tuple."""
    grad = np.arange(24.0).reshape(2, 4, 3)
    for shape in [(1, 3), [1, 3], (1, 3)]:
        np.testing.assert_array_equal(unbroadcast(grad, shape), grad.sum(axis=(0, 1)).reshape(1, 3))
    assert unbroadcast(grad, [2, 3]) is None


def test_an_infinite_derivative_on_the_scalar_engine_is_a_value_error_naming_the_op():
    root = Value(0.0) ** 0.5  # d/dx sqrt(x) = 1 / (2 sqrt(x)): infinite at 0
    with pytest.raises(ValueError, match=r"^Pow\.backward: .*the derivative is infinite here"):
        root.backward()
    with np.errstate(divide="ignore"):  # log(0) = -inf on the way forward, as numpy says
        log_of_zero = Value(0.0).log()
    with pytest.raises(ValueError, match=r"^Log\.backward: float division by zero"):
        log_of_zero.backward()
