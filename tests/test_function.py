"""The Function API a student uses to write a new op, on both engines."""
import copy
import pickle
import traceback

import numpy as np
import pytest

from tinygrad_bn import Function, Tensor, Value, gradcheck, no_grad


class Cube(Function):
    """y = x**3;   dy/dx = 3 x**2"""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x ** 2


def cube_expression(x):
    return Cube.apply(x * 2 - 1) + x


@pytest.mark.parametrize("engine, raw", [(Value, 0.7), (Tensor, np.array([[0.7, -1.2], [0.1, 2.0]]))])
def test_a_student_function_works_on_both_engines(engine, raw, central_difference):
    x = Value(raw) if engine is Value else Tensor(raw, requires_grad=True)
    y = cube_expression(x)
    assert isinstance(y, engine) and y.parents[0].op == "Cube"
    np.testing.assert_allclose(y.data, (raw * 2 - 1) ** 3 + raw, rtol=1e-12)
    y.backward(1.0 if engine is Value else np.ones(np.shape(raw)))
    (numeric,) = central_difference(lambda a: np.sum((a * 2 - 1) ** 3 + a), [raw])
    np.testing.assert_allclose(x.grad, numeric, rtol=1e-6)
    assert gradcheck(cube_expression, [Value(raw) if engine is Value else Tensor(raw, requires_grad=True)])


class Collide(Function):
    """A student's ctx: every attribute name a node or the engine might use, set to junk."""
    NAMES = ("shape", "x", "data", "grad", "inputs", "_inputs", "parents", "op", "requires_grad", "label",
             "group", "n", "axes", "saved", "ctx", "fn", "append", "sort", "index", "count", "copy", "clear", "pop")

    @staticmethod
    def forward(ctx, a, b):
        for name in Collide.NAMES:
            setattr(ctx, name, f"junk {name}")
        ctx.junk_attributes_kept = True
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        for name in Collide.NAMES:
            assert getattr(ctx, name) == f"junk {name}"
        a, b = ctx.saved_tensors
        assert ctx.needs_input_grad == (True, False)
        return grad * b, grad * a


@pytest.mark.parametrize("engine", [Value, Tensor])
def test_ctx_attributes_collide_with_nothing(engine):
    a = Value(3.0) if engine is Value else Tensor([3.0, 1.0], requires_grad=True)
    b = Value(2.0, requires_grad=False) if engine is Value else Tensor([2.0, 5.0])
    out = Collide.apply(a, b)
    assert out.inputs == (a, b) and out.op == "Collide" and out.requires_grad and out.label is None
    out.backward(None if engine is Value else np.ones(2))
    np.testing.assert_array_equal(a.grad, b.data)


class Record(Function):
    """Remembers what forward and backward saw, for the test to inspect."""
    seen = []

    @staticmethod
    def forward(ctx, a, b, scale):
        Record.seen.append(("forward", ctx, a, b, scale, ctx.saved_tensors))
        ctx.save_for_backward(a, b)
        return (a + b) * scale

    @staticmethod
    def backward(ctx, grad):
        Record.seen.append(("backward", ctx, ctx.needs_input_grad, ctx.saved_tensors))
        return grad * 2, grad * 2, "ignored: the gradient of a constant is dropped"


@pytest.mark.parametrize("engine", [Value, Tensor])
def test_forward_sees_raw_data_and_constants_pass_through(engine):
    Record.seen.clear()
    a = Value(1.5) if engine is Value else Tensor([1.5, 2.5], requires_grad=True)
    b = Value(0.5, requires_grad=False) if engine is Value else Tensor([0.5, 1.0])
    scale = float("2.0")  # a constant: reaches forward as the very same object
    out = Record.apply(a, b, scale)
    (_, fctx, fa, fb, fscale, saved_before), = Record.seen
    assert fa is a.data and fb is b.data and fscale is scale and saved_before == ()
    assert out.inputs == (a, b, scale) and out.parents == (a, b)
    out.backward(None if engine is Value else np.ones(2))
    _, bctx, needs, saved = Record.seen[1]
    assert bctx is fctx and needs == (True, False, False)
    assert saved[0] is a.data and saved[1] is b.data
    np.testing.assert_array_equal(a.grad, 2.0 * np.ones(np.shape(a.data)))
    assert b.grad == (0.0 if engine is Value else None)  # requires_grad=False: nothing reaches it


def test_every_apply_gets_its_own_ctx():
    Record.seen.clear()
    a, b = Value(1.0), Value(2.0)
    first, second = Record.apply(a, b, 1.0), Record.apply(a, b, 1.0)
    ctx1, ctx2 = Record.seen[0][1], Record.seen[1][1]
    assert ctx1 is not ctx2
    # a ctx is also the list of what forward was called with, but it compares as an object: two calls
    # with the same inputs have two ctxs, each equal only to itself (and usable as a dict key)
    assert list(ctx1) == list(ctx2) == [a, b, 1.0]
    assert ctx1 != ctx2 and ctx1 == ctx1 and len({ctx1: 1, ctx2: 2}) == 2
    assert first.inputs == second.inputs == (a, b, 1.0)  # a tuple, not the ctx itself
    assert repr(ctx1).startswith("Context(inputs=[Value(data=1.0, grad=0.0), Value(data=2.0, grad=0.0), 1.0], "
                                 "saved_tensors=(1.0, 2.0))")


class Meddle(Function):
    """A forward that tries to change what ctx recorded: the op's inputs, or saved_tensors by hand."""
    @staticmethod
    def forward(ctx, a, how):
        if how == "append":
            ctx.append(a)
        else:
            ctx.saved_tensors = (a,)
        return a


@pytest.mark.parametrize("engine", [Value, Tensor])
def test_a_ctx_keeps_its_inputs_and_saved_tensors_read_only(engine):
    a = Value(1.5) if engine is Value else Tensor([1.5, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"Meddle: a ctx's items are its op's inputs, which the graph reads"):
        Meddle.apply(a, "append")
    with pytest.raises(AttributeError, match="saved_tensors"):  # read-only, as PyTorch's is
        Meddle.apply(a, "assign")
    out = a * 2.0
    for change in (lambda c: c.clear(), lambda c: c.__setitem__(0, a), lambda c: c.__iadd__([a]), lambda c: c.sort()):
        with pytest.raises(TypeError, match="cannot change"):
            change(out._ctx)
    assert out.inputs == (a, 2.0)
    out.backward(None if engine is Value else np.ones(2))
    np.testing.assert_array_equal(a.grad, np.full(np.shape(a.data), 2.0))


@pytest.mark.parametrize("copier", [copy.deepcopy, lambda node: pickle.loads(pickle.dumps(node))])
def test_a_graph_can_be_copied_and_pickled(copier):
    x = Tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    out = Collide.apply(x, Tensor(np.array([2.0, 3.0, 4.0])))  # a ctx with attributes and saved tensors
    twin = copier(out)
    assert twin is not out and twin._ctx is not out._ctx and twin._ctx.junk_attributes_kept is True
    np.testing.assert_array_equal(twin._ctx.saved_tensors[1], [2.0, 3.0, 4.0])
    twin.backward(np.ones(3))
    np.testing.assert_array_equal(twin.inputs[0].grad, [2.0, 3.0, 4.0])
    assert x.grad is None  # the original graph is untouched


class Scale(Function):
    """y = x * factor (factor defaults to 2, a forward argument that may be left out);   dy/dx = factor"""
    @staticmethod
    def forward(ctx, x, factor=2.0):
        ctx.factor = factor
        return x * factor

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.factor, None  # PyTorch's rule: a trailing None for the unpassed default is fine


@pytest.mark.parametrize("engine", [Value, Tensor])
def test_extra_trailing_none_gradients_are_accepted(engine):
    x = Value(1.5) if engine is Value else Tensor([1.5, -1.0], requires_grad=True)
    Scale.apply(x).backward(None if engine is Value else np.ones(2))
    np.testing.assert_array_equal(x.grad, 2.0 * np.ones(np.shape(x.data)))


def make_function(name, gradients):
    """A Function named `name`: forward is a + b, backward returns gradients(grad)."""
    return type(name, (Function,), {"forward": staticmethod(lambda ctx, a, b: a + b),
                                    "backward": staticmethod(lambda ctx, grad: gradients(grad))})


@pytest.mark.parametrize("engine", [Value, Tensor])
@pytest.mark.parametrize("gradients, count", [(lambda g: g, 1), (lambda g: (g,), 1), (lambda g: (g, g, g), 3),
                                              (lambda g: (g, g, None, g), 4), (lambda g: (g, None, g), 3)])
def test_wrong_number_of_gradients_names_the_function(engine, gradients, count):
    fn = make_function("TwoInputs", gradients)
    a = Value(1.0) if engine is Value else Tensor([1.0, 2.0], requires_grad=True)
    out = fn.apply(a, a * 2)
    with pytest.raises(ValueError, match=rf"^TwoInputs\.backward returned {count} gradient\(s\), expected 2"):
        out.backward(None if engine is Value else np.ones(2))


@pytest.mark.parametrize("engine", [Value, Tensor])
@pytest.mark.parametrize("inputs", [1, 2])
def test_a_backward_that_returns_none_is_a_missing_return(engine, inputs):
    """A student who forgets `return` in backward: an error, not a silently zero gradient."""
    fn = type("Forgot", (Function,), {"forward": staticmethod(lambda ctx, *xs: sum(xs)),
                                      "backward": staticmethod(lambda ctx, grad: None)})
    a = Value(1.0) if engine is Value else Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"^Forgot\.backward returned None \(a missing return\?\): it returns one "
                                        r"gradient per input to forward \(zeros for an op that has none\), None only "
                                        r"for an input that needs no gradient"):
        fn.apply(*[a] * inputs).backward(None if engine is Value else np.ones(2))


@pytest.mark.parametrize("engine", [Value, Tensor])
def test_a_list_of_gradients_is_said_to_be_a_list(engine):
    fn = make_function("Listed", lambda g: [g, g])
    a = Value(1.0) if engine is Value else Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"^Listed\.backward returned a list; return a tuple, one gradient per input "
                                        r"to forward \(return ga, gb\)"):
        fn.apply(a, a * 2).backward(None if engine is Value else np.ones(2))


@pytest.mark.parametrize("engine", [Value, Tensor])
def test_a_forward_that_returns_none_is_a_missing_return(engine):
    fn = type("NoReturn", (Function,), {"forward": staticmethod(lambda ctx, x: None),
                                        "backward": staticmethod(lambda ctx, grad: grad)})
    with pytest.raises(TypeError, match=r"^NoReturn\.forward returned None \(a missing return\?\)"):
        fn.apply(Value(1.0) if engine is Value else Tensor([1.0]))


@pytest.mark.parametrize("bad", [lambda g: np.ones(3), lambda g: np.ones((2, 3)), lambda g: np.ones(1),
                                 lambda g: np.float64(1.0)])
def test_wrong_gradient_shape_names_the_function_and_the_input(bad):
    """Wrong means: the input's shape does not broadcast to it (a broadcast shape is summed back, as in PyTorch)."""
    fn = make_function("BadShape", lambda g: (g, bad(g)))
    a, b = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0], requires_grad=True)
    with pytest.raises(ValueError,
                       match=r"^BadShape\.backward returned a gradient of shape \(.*\) for input 1 of shape \(2,\)"):
        fn.apply(a, b).backward(np.ones(2))


def test_a_value_gradient_must_be_one_number():
    fn = make_function("BadValueGrad", lambda g: (g, np.ones(2)))
    with pytest.raises(ValueError, match=r"^BadValueGrad\.backward returned a gradient of shape \(2,\) for input 1, "
                                         r"a Value \(one number\)"):
        fn.apply(Value(1.0), Value(2.0)).backward()
    fn = make_function("StringGrad", lambda g: (g, "1"))
    with pytest.raises(TypeError, match=r"^StringGrad\.backward: a Value holds one real number, got str"):
        fn.apply(Value(1.0), Value(2.0)).backward()


def test_a_non_numeric_tensor_gradient_is_a_type_error_naming_the_function():
    fn = make_function("StringGrad", lambda g: (g, "abc"))
    a, b = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"^StringGrad\.backward returned str 'abc' for input 1; a gradient is "
                                        r"numbers, an array of shape \(2,\)"):
        fn.apply(a, b).backward(np.ones(2))


def test_a_broadcast_shaped_gradient_is_summed_back_by_the_engine():
    """A student's backward may return the output's (broadcast) shape: unbroadcast does the rest."""
    fn = make_function("Plus", lambda g: (g, g * 3))
    a, b = Tensor(np.ones((3, 1)), requires_grad=True), Tensor(np.ones((1, 4)), requires_grad=True)
    fn.apply(a, b).backward(np.ones((3, 4)))
    np.testing.assert_array_equal(a.grad, np.full((3, 1), 4.0))
    np.testing.assert_array_equal(b.grad, np.full((1, 4), 9.0))


def test_apply_needs_a_node_and_one_engine():
    with pytest.raises(TypeError, match=r"^Cube\.apply needs at least one Value or Tensor argument"):
        Cube.apply(2.0)
    with pytest.raises(TypeError, match=r"^Plus: cannot mix a Value with a Tensor"):
        make_function("Plus", lambda g: (g, g)).apply(Value(1.0), Tensor([1.0]))


def test_forward_errors_are_reported_with_the_function_name_and_inputs():
    class Picky(Function):
        @staticmethod
        def forward(ctx, x):
            raise ValueError("x must be sorted")

    with pytest.raises(ValueError, match=r"^Picky: x must be sorted \(inputs: shape \(2,\) float64\)"):
        Picky.apply(Tensor([2.0, 1.0]))


@pytest.mark.parametrize("engine, result, message", [
    (Tensor, lambda x: x.astype(np.int64), r"^ToInt\.forward returned int64 data; a Tensor holds float32 or float64"),
    (Tensor, lambda x: x.astype(complex), r"^ToInt\.forward returned complex128 data"),
    (Value, lambda x: "3", r"^ToInt\.forward: a Value holds one real number, got str"),
])
def test_forward_returning_non_real_data_is_a_type_error(engine, result, message):
    fn = type("ToInt", (Function,), {"forward": staticmethod(lambda ctx, x: result(x))})
    with pytest.raises(TypeError, match=message):
        fn.apply(Value(1.0) if engine is Value else Tensor([1.0]))


def test_a_complex_result_on_the_scalar_engine_is_a_value_error_naming_the_op():
    with pytest.raises(ValueError, match=r"^Pow: the result 1\+1\.732j is not a real number"):
        Value(-8.0) ** (1 / 3)
    fn = type("ToComplex", (Function,), {"forward": staticmethod(lambda ctx, x: complex(x))})
    with pytest.raises(ValueError, match=r"^ToComplex: the result 1\+0j is not a real number"):
        fn.apply(Value(1.0))


def test_arithmetic_errors_on_floats_name_the_op():
    with pytest.raises(ValueError, match=r"^Div: float division by zero \(inputs: 1\.0, 0\.0\)"):
        Value(1.0) / 0


def test_a_bad_axis_type_names_the_op():
    with pytest.raises(TypeError, match=r"^Sum: axis must be None, an int or a tuple of ints, got 1\.0"):
        Tensor([1.0, 2.0]).sum(axis=1.0)


def test_a_ragged_list_is_a_value_error():
    with pytest.raises(ValueError, match=r"^Tensor: cannot make an array of list: .*inhomogeneous"):
        Tensor([[1.0, 2.0], [3.0]])


def test_under_no_grad_a_function_result_is_a_leaf():
    x = Value(2.0)
    with no_grad():
        y = Cube.apply(x)
    assert y.data == 8.0 and y.is_leaf and not y.requires_grad and y.op is None


def test_an_error_in_forward_keeps_the_line_it_came_from():
    class Picky(Function):
        @staticmethod
        def forward(ctx, x):
            return x[:, 5]  # too many indices for a 1-D array

    with pytest.raises(ValueError, match=r"^Picky: too many indices") as info:
        Picky.apply(Tensor([1.0, 2.0]))
    cause = info.value.__cause__
    assert isinstance(cause, IndexError)
    assert any("return x[:, 5]" in frame.line for frame in traceback.extract_tb(cause.__traceback__))
