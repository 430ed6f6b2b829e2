"""Every primitive op (ops.py) of both engines against finite differences in float64.

A case is an expression on engine nodes plus a numpy reference of the same math. `check_op` asserts
three things: the forward value equals the reference; the analytic gradient (backward with a random
output weight W) equals the hand-written central difference of sum(reference * W) (conftest.py);
and tinygrad_bn.gradcheck passes. Shapes, axes, broadcasting and values are drawn by hypothesis.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_bn import Function, Tensor, Value, gradcheck, ops


def make_node(engine, raw):
    return Value(float(raw)) if engine is Value else Tensor(raw, requires_grad=True)


def check_op(fn, reference, arrays, engine, central_difference, seed=0):
    """fn on fresh `engine` nodes made from `arrays` agrees with numpy `reference`, value and gradient."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    nodes = [make_node(engine, a) for a in arrays]
    out = fn(*nodes)
    expected = reference(*arrays)
    assert isinstance(out, engine)
    assert np.shape(out.data) == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)

    weight = np.random.default_rng(seed).normal(size=np.shape(expected))
    out.backward(weight if engine is Tensor else float(weight))
    numeric = central_difference(lambda *xs: np.sum(reference(*xs) * weight), arrays)
    for k, (x, grad) in enumerate(zip(nodes, numeric)):
        assert np.shape(x.grad) == np.shape(x.data), f"input {k}"
        np.testing.assert_allclose(x.grad, grad, rtol=1e-5, atol=1e-6, err_msg=f"input {k}")

    assert gradcheck(fn, [make_node(engine, a) for a in arrays])


FINITE = st.floats(-3, 3)
POSITIVE = st.floats(0.1, 5)
AWAY_FROM_ZERO = st.floats(0.1, 3) | st.floats(-3, -0.1)  # keeps relu's kink and 1/b's pole out of reach of eps

UNARY = [
    ("neg", lambda x: -x, np.negative, FINITE),
    ("exp", lambda x: x.exp(), np.exp, FINITE),
    ("log", lambda x: x.log(), np.log, POSITIVE),
    ("tanh", lambda x: x.tanh(), np.tanh, FINITE),
    ("relu", lambda x: x.relu(), lambda x: np.maximum(x, 0.0), AWAY_FROM_ZERO),
    ("sigmoid", lambda x: x.sigmoid(), lambda x: 1 / (1 + np.exp(-x)), st.floats(-8, 8)),
    ("sqrt", lambda x: x.sqrt(), np.sqrt, POSITIVE),
]

BINARY = [
    ("add", lambda a, b: a + b, np.add, FINITE, FINITE),
    ("sub", lambda a, b: a - b, np.subtract, FINITE, FINITE),
    ("mul", lambda a, b: a * b, np.multiply, FINITE, FINITE),
    ("div", lambda a, b: a / b, np.divide, FINITE, AWAY_FROM_ZERO),
    ("pow", lambda a, b: a ** b, np.power, st.floats(0.5, 3), st.floats(-2, 2)),
]


def ids(cases):
    return [case[0] for case in cases]


# ---------------------------------------------------------------- elementwise, both engines

@pytest.mark.parametrize("name, fn, reference, domain", UNARY, ids=ids(UNARY))
@given(data=st.data())
def test_unary_op_on_values(name, fn, reference, domain, data, central_difference):
    check_op(fn, reference, [data.draw(domain)], Value, central_difference)


@pytest.mark.parametrize("name, fn, reference, domain", UNARY, ids=ids(UNARY))
@given(data=st.data())
def test_unary_op_on_tensors(name, fn, reference, domain, data, central_difference):
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
    x = data.draw(hnp.arrays(np.float64, shape, elements=domain))
    check_op(fn, reference, [x], Tensor, central_difference)


@pytest.mark.parametrize("name, fn, reference, domain_a, domain_b", BINARY, ids=ids(BINARY))
@given(data=st.data())
def test_binary_op_on_values(name, fn, reference, domain_a, domain_b, data, central_difference):
    check_op(fn, reference, [data.draw(domain_a), data.draw(domain_b)], Value, central_difference)


@pytest.mark.parametrize("name, fn, reference, domain_a, domain_b", BINARY, ids=ids(BINARY))
@given(data=st.data())
def test_binary_op_broadcasts_on_tensors(name, fn, reference, domain_a, domain_b, data, central_difference):
    """Any two numpy-broadcastable shapes: each input's gradient is summed back to its own shape."""
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=4))
    a = data.draw(hnp.arrays(np.float64, shapes.input_shapes[0], elements=domain_a))
    b = data.draw(hnp.arrays(np.float64, shapes.input_shapes[1], elements=domain_b))
    check_op(fn, reference, [a, b], Tensor, central_difference)


@pytest.mark.parametrize("shape_a, shape_b", [((), (3, 4)), ((3, 4), ()), ((3, 1), (1, 4)), ((4,), (3, 4)),
                                              ((2, 1, 3), (4, 1)), ((1,), (2, 3))])
@pytest.mark.parametrize("name, fn, reference, domain_a, domain_b", BINARY, ids=ids(BINARY))
def test_binary_op_named_broadcasting_cases(shape_a, shape_b, name, fn, reference, domain_a, domain_b,
                                            central_difference):
    rng = np.random.default_rng(1)
    a = rng.uniform(0.5, 2.0, shape_a)
    b = rng.uniform(0.5, 2.0, shape_b) * rng.choice([-1.0, 1.0], shape_b)
    check_op(fn, reference, [a, b], Tensor, central_difference)


NUMBER_CASES = [  # a Python number on either side is a constant: the node is the only input
    ("x + 2", lambda x: x + 2, lambda x: x + 2),
    ("2 + x", lambda x: 2 + x, lambda x: 2 + x),
    ("x - 2.5", lambda x: x - 2.5, lambda x: x - 2.5),
    ("2.5 - x", lambda x: 2.5 - x, lambda x: 2.5 - x),
    ("x * -3", lambda x: x * -3, lambda x: x * -3),
    ("-3 * x", lambda x: -3 * x, lambda x: -3 * x),
    ("x / 4", lambda x: x / 4, lambda x: x / 4),
    ("4 / x", lambda x: 4 / x, lambda x: 4 / x),
    ("x ** 3", lambda x: x ** 3, lambda x: x ** 3),
    ("x ** -1.5", lambda x: x ** -1.5, lambda x: x ** -1.5),
    ("x ** 0.5", lambda x: x ** 0.5, lambda x: x ** 0.5),
    ("2 ** x", lambda x: 2 ** x, lambda x: 2 ** x),
    ("0.5 ** x", lambda x: 0.5 ** x, lambda x: 0.5 ** x),
    ("-x", lambda x: -x, lambda x: -x),
    ("numpy scalar * x", lambda x: np.float64(1.5) * x, lambda x: 1.5 * x),
]


@pytest.mark.parametrize("engine", [Value, Tensor])
@pytest.mark.parametrize("name, fn, reference", NUMBER_CASES, ids=ids(NUMBER_CASES))
def test_python_numbers_on_either_side(engine, name, fn, reference, central_difference):
    raw = 1.7 if engine is Value else np.array([[0.6, 1.3, 2.2], [1.1, 0.9, 2.7]])
    check_op(fn, reference, [raw], engine, central_difference)
    out = fn(make_node(engine, raw))
    assert len(out.parents) == 1  # the number got no node


def test_relu_gradient_at_zero_is_zero():
    """The kink, where finite differences cannot decide: 0, PyTorch's convention."""
    v = Value(0.0)
    v.relu().backward()
    assert v.grad == 0.0
    t = Tensor([-1.0, 0.0, 2.0], requires_grad=True)
    t.relu().sum().backward()
    np.testing.assert_array_equal(t.grad, [0.0, 0.0, 1.0])


# ---------------------------------------------------------------- reductions (Tensor engine)

def distinct_data(shape, seed):
    """Values at least ~0.15 apart, so max has no ties within reach of the finite-difference eps."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    return (rng.permutation(size) * 0.25 + rng.uniform(-0.05, 0.05, size) - size / 8).reshape(shape)


REDUCTIONS = [
    ("sum", lambda x, axis, keep: x.sum(axis=axis, keepdims=keep), np.sum, 0),
    ("mean", lambda x, axis, keep: x.mean(axis=axis, keepdims=keep), np.mean, 0),
    ("var", lambda x, axis, keep: x.var(axis=axis, keepdims=keep), np.var, 0),
    ("var correction=1", lambda x, axis, keep: x.var(axis=axis, keepdims=keep, correction=1),
     lambda a, axis, keepdims: np.var(a, axis=axis, keepdims=keepdims, ddof=1), 1),
    ("max", lambda x, axis, keep: x.max(axis=axis, keepdims=keep), np.max, 0),
]


@st.composite
def shapes_and_axes(draw):
    """A shape, then an axis for it: None, an int (negative too) or a tuple of axes; and keepdims."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    ndim = len(shape)
    axis = draw(st.none() | st.integers(-ndim, ndim - 1) | hnp.valid_tuple_axes(ndim, min_size=1))
    return shape, axis, draw(st.booleans())


@pytest.mark.parametrize("name, method, np_fn, correction", REDUCTIONS, ids=ids(REDUCTIONS))
@given(case=shapes_and_axes(), seed=st.integers(0, 2 ** 32 - 1))
def test_reduction_with_axis_and_keepdims(name, method, np_fn, correction, case, seed, central_difference):
    shape, axis, keepdims = case
    x = distinct_data(shape, seed)
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
    if np.prod([shape[a] for a in axes]) <= correction:
        with pytest.raises(ValueError, match=r"^Var: variance with correction=1 needs more than 1 element"):
            method(Tensor(x), axis, keepdims)
        return
    check_op(lambda t: method(t, axis, keepdims), lambda a: np_fn(a, axis=axis, keepdims=keepdims),
             [x], Tensor, central_difference, seed=seed % 1000)


@pytest.mark.parametrize("axis, keepdims", [(-1, True), (-2, False), ((0, 2), False), ((-1, 0), True), (None, True)])
@pytest.mark.parametrize("name, method, np_fn, correction", REDUCTIONS, ids=ids(REDUCTIONS))
def test_reduction_named_axis_cases(axis, keepdims, name, method, np_fn, correction, central_difference):
    x = distinct_data((2, 3, 4), seed=3)
    reference = (lambda a: np.var(a, axis=axis, keepdims=keepdims, ddof=1)) if correction else \
        (lambda a: np_fn(a, axis=axis, keepdims=keepdims))
    check_op(lambda t: method(t, axis, keepdims), reference, [x], Tensor, central_difference)


def test_var_is_the_population_variance_by_default():
    x = np.array([1.0, 2.0, 4.0, 7.0])
    assert Tensor(x).var().item() == pytest.approx(np.var(x, ddof=0))
    assert Tensor(x).var(correction=1).item() == pytest.approx(np.var(x, ddof=1))
    assert np.var(x, ddof=0) != pytest.approx(np.var(x, ddof=1))


def test_max_splits_the_gradient_evenly_among_ties():
    x = Tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 0.5, 0.5], [0.5, 0.5, 0.0]])


# ---------------------------------------------------------------- shape ops and matmul (Tensor engine)

@pytest.mark.parametrize("shape, fn, reference", [
    ((2, 3), lambda t: t.reshape(3, 2), lambda a: a.reshape(3, 2)),
    ((2, 3), lambda t: t.reshape((6,)), lambda a: a.reshape(6)),
    ((2, 3), lambda t: t.reshape(-1), lambda a: a.reshape(-1)),
    ((6,), lambda t: t.reshape([1, 2, -1]), lambda a: a.reshape(1, 2, 3)),
    ((2, 3, 4), lambda t: t.reshape(4, -1), lambda a: a.reshape(4, 6)),
    ((2, 3), lambda t: t.T, lambda a: a.T),
    ((2, 3, 4), lambda t: t.T, lambda a: a.transpose(2, 1, 0)),
    ((2, 3, 4), lambda t: t.transpose(), lambda a: a.transpose()),
    ((2, 3, 4), lambda t: t.transpose(1, 0, 2), lambda a: a.transpose(1, 0, 2)),
    ((2, 3, 4), lambda t: t.transpose((2, 0, 1)), lambda a: a.transpose(2, 0, 1)),
    ((2, 3, 4), lambda t: t.transpose(-1, 0, -2), lambda a: a.transpose(2, 0, 1)),
    ((2, 3), lambda t: (t.T * t.T).reshape(2, 3), lambda a: (a.T * a.T).reshape(2, 3)),
    ((2, 3), lambda t: t.transpose(0, 1), lambda a: a.swapaxes(0, 1)),  # two axes: swapped, as in PyTorch
    ((2, 3, 4), lambda t: t.transpose(0, 2), lambda a: a.swapaxes(0, 2)),
    ((2, 3, 4), lambda t: t.transpose(-1, 1), lambda a: a.swapaxes(2, 1)),
    ((2, 3, 4), lambda t: t.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1)),
    ((2, 3, 4), lambda t: t.permute((1, 2, 0)), lambda a: a.transpose(1, 2, 0)),
])
def test_reshape_and_transpose(shape, fn, reference, central_difference):
    check_op(fn, reference, [distinct_data(shape, seed=4)], Tensor, central_difference)


@pytest.mark.parametrize("shape_a, shape_b", [((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,)),
                                              ((1, 3), (3, 1)), ((4, 1), (1, 2))])
def test_matmul_one_and_two_dimensional(shape_a, shape_b, central_difference):
    rng = np.random.default_rng(5)
    check_op(lambda a, b: a @ b, np.matmul, [rng.normal(size=shape_a), rng.normal(size=shape_b)], Tensor,
             central_difference)
    check_op(lambda a, b: a.matmul(b), np.matmul, [rng.normal(size=shape_a), rng.normal(size=shape_b)], Tensor,
             central_difference)


def test_matmul_with_a_constant_array_on_either_side(central_difference):
    rng = np.random.default_rng(6)
    w = rng.normal(size=(3, 3))
    x = rng.normal(size=(3, 2))
    check_op(lambda t: t @ w[:, :2].T, lambda a: a @ w[:, :2].T, [x], Tensor, central_difference)
    check_op(lambda t: w @ t, lambda a: w @ a, [x], Tensor, central_difference)  # numpy defers to __rmatmul__


# ---------------------------------------------------------------- composite expressions

def test_softmax_variance_from_the_readme(central_difference):
    x = np.random.default_rng(7).normal(size=(4, 3))
    check_op(lambda t: (t.exp() / t.exp().sum()).var(),
             lambda a: np.var(np.exp(a) / np.exp(a).sum()), [x], Tensor, central_difference)


def test_batch_norm_written_with_primitives(central_difference):
    """The lecture's batch norm: every broadcast and reduction of it at once."""
    rng = np.random.default_rng(8)
    x, gamma, beta = rng.normal(size=(5, 3)), rng.uniform(0.5, 2, (1, 3)), rng.normal(size=(3,))

    def ours(x, gamma, beta):
        return gamma * (x - x.mean(axis=0, keepdims=True)) / (x.var(axis=0, keepdims=True) + 1e-5).sqrt() + beta

    def numpy_bn(x, gamma, beta):
        return gamma * (x - x.mean(axis=0, keepdims=True)) / np.sqrt(x.var(axis=0, keepdims=True) + 1e-5) + beta

    check_op(ours, numpy_bn, [x, gamma, beta], Tensor, central_difference)


def test_scalar_neuron_on_values(central_difference):
    def neuron(x1, x2, w1, w2, b):
        return (x1 * w1 + x2 * w2 + b).tanh()

    def numpy_neuron(x1, x2, w1, w2, b):
        return np.tanh(x1 * w1 + x2 * w2 + b)

    check_op(neuron, numpy_neuron, [2.0, 0.0, -3.0, 1.0, 6.8813735870195432], Value, central_difference)


# ---------------------------------------------------------------- every op is a Function, reachable by name

OP_EXPRESSIONS = {
    "Add": lambda t: t + 1, "Sub": lambda t: t - 1, "Mul": lambda t: t * 2, "Div": lambda t: t / 2,
    "Pow": lambda t: t ** 2, "Neg": lambda t: -t, "Exp": lambda t: t.exp(), "Log": lambda t: t.log(),
    "Tanh": lambda t: t.tanh(), "ReLU": lambda t: t.relu(), "Sigmoid": lambda t: t.sigmoid(),
    "Sqrt": lambda t: t.sqrt(), "Sum": lambda t: t.sum(), "Mean": lambda t: t.mean(), "Var": lambda t: t.var(),
    "Max": lambda t: t.max(), "Reshape": lambda t: t.reshape(-1), "Transpose": lambda t: t.T,
    "MatMul": lambda t: t @ np.eye(2),
}


def test_every_op_in_ops_py_is_a_function_tested_here():
    in_module = {name for name, obj in vars(ops).items()
                 if isinstance(obj, type) and issubclass(obj, Function) and obj is not Function}
    assert in_module == set(OP_EXPRESSIONS)


@pytest.mark.parametrize("name", sorted(OP_EXPRESSIONS))
def test_public_method_builds_its_op_node(name):
    x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    out = OP_EXPRESSIONS[name](x)
    assert out.op == name and out.parents == (x,) and not out.is_leaf
    assert getattr(ops, name).__doc__  # the derivative formula sits beside the code


# ---------------------------------------------------------------- bad input: clear errors naming the op

@pytest.mark.parametrize("name, fn", [("Add", lambda a, b: a + b), ("Sub", lambda a, b: a - b),
                                      ("Mul", lambda a, b: a * b), ("Div", lambda a, b: a / b),
                                      ("Pow", lambda a, b: a ** b)])
def test_mismatched_shapes_name_the_op_and_both_shapes(name, fn):
    a, b = Tensor(np.ones((2, 3)), requires_grad=True), Tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=rf"^{name}: .*shape \(2, 3\) float64, shape \(4, 5\) float64"):
        fn(a, b)
    with pytest.raises(ValueError, match=rf"^{name}: .*shape \(2, 3\) float64, shape \(4, 5\) float64"):
        fn(a, np.ones((4, 5)))


@pytest.mark.parametrize("shape_a, shape_b, inner", [((2, 3), (4, 5), "3 != 4"), ((3,), (4,), "3 != 4"),
                                                     ((2, 3), (2,), "3 != 2"), ((5,), (3, 5), "5 != 3")])
def test_matmul_shape_mismatch_names_the_op_and_both_shapes(shape_a, shape_b, inner):
    shapes = rf"shape {shape_a} float64, shape {shape_b} float64".replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(ValueError, match=rf"^MatMul: inner dimensions differ: {inner} \(inputs: {shapes}\)"):
        Tensor(np.ones(shape_a)) @ Tensor(np.ones(shape_b))


@pytest.mark.parametrize("other", [np.ones((2, 3, 3)), 2.0])
def test_matmul_refuses_other_than_one_or_two_dimensions(other):
    with pytest.raises(ValueError,
                       match=r"^MatMul: matmul supports 1-D and 2-D operands only \(inputs: shape \(2, 3\)"):
        Tensor(np.ones((2, 3))) @ other


@pytest.mark.parametrize("method", ["sum", "mean", "var", "max"])
@pytest.mark.parametrize("axis, bad", [(2, 2), (-3, -3), ((0, 5), 5)])
def test_out_of_range_axis(method, axis, bad):
    with pytest.raises(ValueError, match=rf"^{method.capitalize()}: axis {bad} is out of range for an array of 2 dim"):
        getattr(Tensor(np.ones((2, 3))), method)(axis=axis)


@pytest.mark.parametrize("method", ["sum", "mean", "var", "max"])
def test_a_float_axis_is_refused_even_after_the_equal_int_axis_was_used(method):
    """Reductions remember what an axis means for a shape; (1.0,) == (1,) in Python, yet only the
    ints are axes (as in numpy)."""
    x = Tensor(np.ones((2, 3)))
    for good in [(1,), 1, (0, 1), [1]]:
        getattr(x, method)(axis=good)
    for bad in [(1.0,), 1.0, (0, 1.0), [1.0], ([0],), True, (True,), (0, False)]:  # bools too, as numpy
        with pytest.raises(TypeError, match=r"axis must be None, an int or a tuple of ints"):
            getattr(x, method)(axis=bad)


def test_bad_reshape_and_transpose_name_the_op():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"^Reshape: .*size 6.*\(inputs: shape \(2, 3\) float64, \(4,\)\)"):
        x.reshape(4)
    with pytest.raises(ValueError, match=r"^Transpose: axes \(0, 0\) are not a permutation of the 2 axes"):
        x.permute(0, 0)
    with pytest.raises(ValueError, match=r"^Transpose: axis 2 is out of range for a Tensor of shape \(2, 3\)"):
        x.transpose(0, 2)


def test_max_of_an_empty_tensor_and_too_few_elements_for_var():
    with pytest.raises(ValueError, match=r"^Max: max of an empty array"):
        Tensor(np.ones((0, 3))).max()
    with pytest.raises(ValueError,
                       match=r"^Var: variance with correction=1 needs more than 1 element\(s\) per output, got 1"):
        Tensor(np.ones((1, 3))).var(axis=0, correction=1)


@pytest.mark.parametrize("engine", [Value, Tensor])
@pytest.mark.parametrize("a, b", [(0.0, 0.0), (0.0, 1.0), (0.0, 2.0), (0.0, 3.0), (2.0, 0.0)])
def test_pow_where_the_formula_divides_zero_by_zero(engine, a, b, central_difference):
    """a**0 = 1 for every a, so d/da = 0 (b * a**(b-1) would give 0 * inf = nan at a = 0), and 0**b = 0
    for b > 0, so d/db = 0 there (a**b log a would give 0 * -inf = nan). Both against central
    differences, taken only in the directions where the function is smooth around the point."""
    x, y = make_node(engine, a), make_node(engine, b)
    (x ** y).backward()
    z = make_node(engine, a)
    (z ** b).backward()  # a number as the exponent takes its own path in Pow.backward
    d_da = central_difference(lambda u: np.power(u, b), [np.float64(a)])[0]
    assert float(x.grad) == float(z.grad) == pytest.approx(float(d_da), abs=1e-9)
    if a != 0 or b > 0:  # 0**b jumps to inf for b < 0: no two-sided difference at b = 0
        d_db = central_difference(lambda v: np.power(a, v), [np.float64(b)])[0]
        assert float(y.grad) == pytest.approx(float(d_db), abs=1e-9)
    else:
        assert float(y.grad) == 0.0  # PyTorch's value there


def test_pow_with_an_array_of_exponents_at_zero(central_difference):
    a, b = np.array([0.0, 0.0, 2.0, 0.0]), np.array([0.0, 2.0, 0.0, 1.0])
    x, y = Tensor(a, requires_grad=True), Tensor(b, requires_grad=True)
    (x ** y).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0, 1.0])
    np.testing.assert_array_equal(y.grad, [0.0, 0.0, np.log(2.0), 0.0])


@pytest.mark.parametrize("engine", [Value, Tensor])
def test_sigmoid_keeps_its_digits_in_both_tails(engine):
    """For a < 0, sigmoid(a) = e**a / (1 + e**a) with no cancellation: the reference to 1e-15, and
    log(sigmoid(-40)) is -40, not -inf."""
    for a in [-800.0, -745.0, -100.0, -40.0, -37.0, -30.0, -5.0, 0.0, 5.0, 30.0, 40.0, 800.0]:
        reference = np.exp(a) / (1 + np.exp(a)) if a < 0 else 1 / (1 + np.exp(-a))
        got = float(make_node(engine, a).sigmoid().data)
        assert got == pytest.approx(reference, rel=1e-15, abs=0), a
    assert float(make_node(engine, -40.0).sigmoid().log().data) == pytest.approx(-40.0, rel=1e-15)


def test_sigmoid_keeps_float32():
    x = Tensor(np.array([-80.0, -40.0, 0.0, 40.0], np.float32), requires_grad=True)  # e**-80: a normal float32
    out = x.sigmoid()
    out.sum().backward()
    assert out.dtype == np.float32 and x.grad.dtype == np.float32
    reference = np.exp(-np.abs(x.data.astype(np.float64)))
    reference = np.where(x.data >= 0, 1, reference) / (1 + reference)
    np.testing.assert_allclose(out.data, reference, rtol=1e-6, atol=0)


def test_pow_at_zero_warns_only_where_numpy_would(recwarn):
    """The masked 0 * inf places give 0 quietly; a log of a negative base still warns, as numpy does."""
    x = Tensor(np.array([0.0, 0.0, 2.0]), requires_grad=True)
    y = Tensor(np.array([0.0, 2.0, 1.0]), requires_grad=True)
    (x ** y).sum().backward()
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    a, b = Value(-2.0), Value(2.0)
    with pytest.warns(RuntimeWarning, match="invalid value encountered in log"):
        (a ** b).backward()
    assert np.isnan(b.grad)


@pytest.mark.parametrize("call, error, message", [
    (lambda t: t.transpose(True, False), TypeError, r"^Transpose: axes must be ints, got \(True, False\)"),
    (lambda t: t.transpose(0, 1.0), TypeError, r"^Transpose: axes must be ints, got \(0, 1\.0\)"),
    (lambda t: t.permute((0, 1, True)), TypeError, r"^Transpose: axes must be ints"),
    (lambda t: t.permute(True), TypeError, r"^Transpose: axes must be ints, got \(True,\)"),
])
def test_transpose_and_permute_refuse_axes_that_are_not_ints(call, error, message):
    with pytest.raises(error, match=message):
        call(Tensor(np.ones((2, 3, 4))))


def test_a_numpy_integer_is_an_axis_for_transpose_and_permute():
    t = Tensor(np.arange(6.0).reshape(2, 3))
    assert t.permute(np.int64(1), np.int64(0)).shape == (3, 2)
    assert t.transpose(np.int64(0), np.int64(1)).shape == (3, 2)
    assert Tensor(np.arange(3.0)).permute(np.int64(0)).shape == (3,)
