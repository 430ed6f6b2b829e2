"""Value, the scalar engine: what it holds, how numbers combine with it, and the errors it raises.
(Gradients of every op against finite differences are in test_ops.py.)"""
import math
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_bn import Tensor, Value, no_grad


@pytest.mark.parametrize("raw", [3, 2.5, np.float32(0.25), np.int64(-4), np.array(1.5), True, Fraction(1, 4)])
def test_data_is_a_python_float(raw):
    v = Value(raw)
    assert type(v.data) is float and v.data == float(raw)


def test_defaults_micrograd_habits():
    v = Value(2.0, label="a")
    assert v.grad == 0.0 and type(v.grad) is float
    assert v.requires_grad and v.is_leaf and v.op is None and v.parents == () and v.label == "a"
    assert Value(1.0, requires_grad=False).requires_grad is False


def test_repr_shows_label_data_and_grad():
    v = Value(2.0, label="a")
    (v * 3).backward()
    assert repr(v) == "Value(a: data=2.0, grad=3.0)"


@given(a=st.floats(-3, 3), b=st.floats(0.5, 3))
def test_every_result_and_gradient_stays_a_python_float(a, b):
    x, y = Value(a), Value(b)
    results = [x + y, x - y, x * y, x / y, y ** x, x ** 2, -x, x.exp(), y.log(), x.tanh(), x.relu(),
               x.sigmoid(), y.sqrt(), 2 - x, 3 / y, 2 ** x]
    for r in results:
        assert type(r.data) is float, r.op
    sum(results, Value(0.0)).backward()
    assert type(x.grad) is float and type(y.grad) is float
    assert math.isfinite(x.grad) and math.isfinite(y.grad)


def test_numpy_scalar_on_the_left_gives_a_value():
    """numpy must hand `np.float64(2) * v` to Value.__rmul__, not make a numpy object."""
    v = Value(3.0)
    for out in (np.float64(2.0) * v, np.float32(2.0) + v, np.int64(2) - v):
        assert isinstance(out, Value)
    out = np.float64(2.0) * v
    out.backward()
    assert out.data == 6.0 and v.grad == 2.0


def test_detach_is_a_leaf_with_the_same_number():
    a = Value(2.0)
    b = a * 3
    d = b.detach()
    assert d.data == b.data and d.is_leaf and not d.requires_grad
    (d * a).backward()  # the gradient reaches a only through the second factor
    assert a.grad == d.data


def test_no_grad_results_are_plain_leaves():
    a = Value(2.0)
    with no_grad():
        b = a * a + 1
    assert b.data == 5.0 and b.is_leaf and not b.requires_grad and b.parents == ()


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("raw, what", [("1.0", "str '1.0'"), (1 + 2j, "complex"), (np.complex128(1), "complex128"),
                                       ([1.0], "list"), (None, "NoneType"), (np.array([1.0, 2.0]), "ndarray"),
                                       (np.array("1"), "ndarray"), (object(), "object")])
def test_non_numeric_input_is_a_type_error(raw, what):
    with pytest.raises(TypeError, match=rf"^Value: a Value holds one real number, got {what}"):
        Value(raw)


@pytest.mark.parametrize("op, fn", [("+", lambda v, o: v + o), ("+", lambda v, o: o + v), ("-", lambda v, o: o - v),
                                    ("*", lambda v, o: v * o), ("/", lambda v, o: o / v),
                                    ("**", lambda v, o: v ** o), ("**", lambda v, o: o ** v)])
@pytest.mark.parametrize("other, what", [("2", "str"), (1j, "complex"), ([2.0], "list"), (None, "NoneType"),
                                         (np.ones(2), "ndarray")])
def test_operator_with_a_non_number_names_the_operator(op, fn, other, what):
    with pytest.raises(TypeError, match=rf"^Value {re.escape(op)}: a Value holds one real number, got {what}"):
        fn(Value(2.0), other)


@pytest.mark.parametrize("fn, first, second", [(lambda v, t: v + t, "Value", "Tensor"),
                                               (lambda v, t: t + v, "Tensor", "Value"),
                                               (lambda v, t: v * t, "Value", "Tensor"),
                                               (lambda v, t: t ** v, "Tensor", "Value"),
                                               (lambda v, t: t @ v, "Tensor", "Value")])
def test_mixing_a_value_with_a_tensor_is_a_type_error(fn, first, second):
    with pytest.raises(TypeError, match=rf"cannot mix a {first} with a {second}; use Values .* or Tensors"):
        fn(Value(2.0), Tensor([1.0, 2.0], requires_grad=True))


def test_backward_grad_must_be_a_number():
    out = Value(2.0) * 3
    with pytest.raises(TypeError, match=r"^backward\(grad\): a Value holds one real number, got ndarray"):
        out.backward(np.ones(2))
    out.backward(2.0)  # a number is fine: the seed is d(loss)/d(out)
    assert out.grad == 2.0


def test_a_value_formats_as_its_number():
    loss = Value(2.0) * Value(1.25)
    assert f"{loss:.3f}" == "2.500" and f"{loss:>6.1f}" == "   2.5" and f"{loss}" == repr(loss)


def test_a_value_prints_every_digit_as_micrograd_does():
    x = Value(0.1, label="x") + 0.2
    assert repr(x) == "Value(data=0.30000000000000004, grad=0.0)"
    assert repr(Value(1.00001, label="w")) == "Value(w: data=1.00001, grad=0.0)"
    p = Value(2.0)
    p.grad = np.float64(0.5)
    p.data -= np.float64(0.2) * p.grad  # a numpy learning rate leaves numpy floats behind
    assert repr(p) == "Value(data=1.9, grad=0.5)"
