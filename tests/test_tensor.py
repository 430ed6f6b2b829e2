"""Tensor, the numpy engine: dtypes, the numpy-like facts, and the errors it raises.
(Gradients of every op against finite differences are in test_ops.py.)"""
import re

import numpy as np
import pytest

from tinygrad_bn import Tensor, Value, no_grad


def every_op(x, y):
    """One expression through every op, x and y of shape (2, 3)."""
    z = ((x * y + 1.5) / (y - 3.0) + x ** 2 + 2.0 ** x - (-y)).exp().log().tanh().relu().sigmoid().sqrt()
    z = z.reshape(3, 2).T + z.max(axis=0) + z.var(axis=1, keepdims=True, correction=1) + z.mean()
    return (z @ z.T).sum()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_through_every_op_in_data_and_grad(dtype):
    rng = np.random.default_rng(0)
    x = Tensor(rng.uniform(0.1, 1, (2, 3)).astype(dtype), requires_grad=True)
    y = Tensor(rng.uniform(0.1, 1, (2, 3)).astype(dtype), requires_grad=True)
    out = every_op(x, y)
    out.backward()
    assert x.dtype == y.dtype == dtype
    nodes, stack = [], [out]
    while stack:  # every node of the graph, intermediates included
        node = stack.pop()
        nodes.append(node)
        stack.extend(node.parents)
    assert len(nodes) > 30
    for node in nodes:
        assert node.dtype == dtype, node.op
        assert node.grad.dtype == dtype and node.grad.shape == node.shape, node.op


def test_mixed_precision_promotes_the_result_but_each_grad_keeps_its_input_dtype():
    a = Tensor(np.ones(3, np.float32), requires_grad=True)
    b = Tensor(np.ones(3, np.float64), requires_grad=True)
    out = (a * b).sum()
    out.backward()
    assert out.dtype == np.float64 and a.grad.dtype == np.float32 and b.grad.dtype == np.float64


@pytest.mark.parametrize("other", [np.float64(2.0), np.sqrt(2.0), np.int64(3), np.array(2.0), np.arange(1, 4),
                                   np.array([True, True, True]), np.uint8([1, 2, 3])])
@pytest.mark.parametrize("op", [lambda t, c: t * c, lambda t, c: c * t, lambda t, c: t / c, lambda t, c: c - t,
                                lambda t, c: t ** c])
def test_float32_stays_float32_with_numpy_numbers_and_integer_arrays(op, other):
    """PyTorch's rule, not numpy's: a numpy scalar counts as a plain number and an integer array takes
    the Tensor's dtype, so neither turns float32 into float64."""
    t = Tensor(np.array([1.0, 2.0, 3.0], np.float32), requires_grad=True)
    out = op(t, other)
    out.sum().backward()
    assert out.dtype == np.float32 and t.grad.dtype == np.float32
    np.testing.assert_allclose(out.data, op(t.data.astype(np.float64), np.asarray(other, np.float64)), rtol=1e-6)


def test_a_float64_array_still_promotes_float32_as_in_numpy_and_pytorch():
    assert (Tensor(np.ones(3, np.float32)) + np.ones(3)).dtype == np.float64


@pytest.mark.parametrize("raw", [[1, 2, 3], np.arange(3, dtype=np.int32), np.array([True, False, True]),
                                 np.ones(3, np.float16), np.uint8([1, 2, 3]), 7])
def test_other_real_data_becomes_float64(raw):
    t = Tensor(raw)
    assert t.dtype == np.float64
    np.testing.assert_array_equal(t.data, np.asarray(raw, dtype=np.float64))


def test_dtype_argument():
    assert Tensor([1, 2], dtype=np.float32).dtype == np.float32
    with pytest.raises(TypeError, match=r"^Tensor: dtype must be float32 or float64, got int64"):
        Tensor([1, 2], dtype=np.int64)


def test_size_is_pytorchs_and_numel_counts_the_elements():
    t = Tensor(np.zeros((2, 3)))
    assert t.size() == (2, 3) and t.size(0) == 2 and t.size(-1) == 3 and t.numel() == 6
    for dim, shape in [(2, (2, 3)), (-3, (2, 3)), (0, ())]:
        with pytest.raises(IndexError, match=rf"^size: dim {dim} is out of range for a Tensor of shape {re.escape(str(shape))}"):
            Tensor(np.zeros(shape)).size(dim)


def test_comparisons_are_elementwise_numpy_booleans_and_tensors_stay_keys_by_identity():
    pred, y = Tensor([1.0, 0.0, 1.0, 1.0]), np.array([1.0, 0.0, 0.0, 1.0])
    assert np.mean(pred == y) == 0.75 and np.mean(y == pred) == 0.75  # an accuracy, either way round
    np.testing.assert_array_equal(pred != Tensor(y), [False, False, True, False])
    np.testing.assert_array_equal(pred > 0.5, [True, False, True, True])
    np.testing.assert_array_equal(pred <= Tensor([0.0]), [False, True, False, False])
    assert (pred < 2).all() and (pred >= 0).all() and type(pred == y) is np.ndarray
    same = Tensor([1.0, 0.0, 1.0, 1.0])
    assert {pred: "a", same: "b"}[same] == "b" and len({pred, same}) == 2  # equal data, two nodes
    with pytest.raises(ValueError, match=r"^Tensor ==: shapes \(4,\) and \(3,\) do not broadcast$"):
        pred == np.ones(3)


def test_truth_float_and_format_of_a_one_number_tensor():
    assert bool(Tensor([0.0])) is False and bool(Tensor(2.0)) is True
    with pytest.raises(ValueError, match=r"^the truth value of a Tensor of shape \(2,\) is ambiguous"):
        bool(Tensor([1.0, 2.0]))
    loss = (Tensor([1.0, 2.0], requires_grad=True) ** 2).mean()
    assert float(loss) == 2.5 and f"{loss:.3f}" == "2.500" and f"{loss}" == "2.5"  # as in PyTorch
    with pytest.raises(TypeError, match=r"^format: '\.2f' formats a 0-d Tensor's number; this one has shape \(2,\)"):
        f"{Tensor([1.0, 2.0]):.2f}"


def test_numpy_like_facts():
    raw = np.arange(6.0).reshape(2, 3)
    t = Tensor(raw, label="t")
    assert t.shape == (2, 3) and t.ndim == 2 and len(t) == 2 and t.label == "t"
    assert t.dtype == np.float64
    assert isinstance(t.numpy(), np.ndarray) and t.numpy() is t.data
    np.testing.assert_array_equal(t.numpy(), raw)
    assert Tensor([[2.5]]).item() == 2.5 and type(Tensor(3.0).item()) is float
    with pytest.raises(ValueError, match=r"^item: only a one-element Tensor converts to a number, .*shape \(2, 3\)"):
        t.item()
    with pytest.raises(TypeError, match=r"^len\(\) of a 0-d Tensor"):
        len(Tensor(3.0))


def test_the_constructor_copies_its_data():
    raw = np.ones(3)
    t = Tensor(raw)
    raw[0] = 5.0
    assert t.data[0] == 1.0


def test_defaults_pytorch_habits():
    t = Tensor([1.0, 2.0])
    assert not t.requires_grad and t.grad is None and t.is_leaf and t.op is None
    assert Tensor([1.0], requires_grad=True).requires_grad


def test_detach_shares_data_and_drops_history():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.grad is None and np.shares_memory(d.data, y.data)
    (d * x).sum().backward()
    np.testing.assert_array_equal(x.grad, d.data)


def test_no_grad_results_are_leaves():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        y = (x * x).sum()
    assert y.item() == 5.0 and y.is_leaf and not y.requires_grad and y.parents == ()


def test_backward_with_an_explicit_gradient():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * x).backward(np.array([1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 12.0])
    x.zero_grad()
    (x * x).backward(Tensor([1.0, 1.0, 1.0]))  # a Tensor works as the gradient too
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])
    x.zero_grad()
    (x * x).backward([0.0, 1.0, 0.0])
    np.testing.assert_array_equal(x.grad, [0.0, 4.0, 0.0])


def test_a_one_element_output_needs_no_gradient():
    x = Tensor([[3.0]], requires_grad=True)
    (x * x).backward()
    np.testing.assert_array_equal(x.grad, [[6.0]])


# ---------------------------------------------------------------- bad input

def test_backward_on_a_non_scalar_needs_a_gradient():
    y = Tensor(np.ones((2, 3)), requires_grad=True) * 2
    with pytest.raises(ValueError, match=r"^backward: the output has shape \(2, 3\); a non-scalar output needs a grad"):
        y.backward()


@pytest.mark.parametrize("grad", [np.ones(3), np.ones((3, 2)), Tensor(np.ones((1, 3)))])
def test_backward_gradient_of_the_wrong_shape(grad):
    y = Tensor(np.ones((2, 3)), requires_grad=True) * 2
    shape = str(np.shape(grad.data if isinstance(grad, Tensor) else grad)).replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(ValueError, match=rf"^backward: grad has shape {shape}, the output has shape \(2, 3\)"):
        y.backward(grad)


@pytest.mark.parametrize("raw, message", [
    ("abc", r"data must be real numbers, got dtype <U3 from str"),
    (["1", "2"], r"data must be real numbers, got dtype <U1 from list"),
    (np.array([1, 2], dtype=object), r"data must be real numbers, got dtype object from ndarray"),
    ([1 + 2j], r"data must be real numbers, got dtype complex128 from list"),
    (np.complex64(1), r"data must be real numbers, got dtype complex64"),
    (None, r"data must be real numbers, got dtype object from NoneType"),
    ({"a": 1}, r"data must be real numbers, got dtype object from dict"),
])
def test_non_numeric_data_is_a_type_error(raw, message):
    with pytest.raises(TypeError, match=rf"^Tensor: {message}"):
        Tensor(raw)


@pytest.mark.parametrize("raw, kind", [([Value(1.0), Value(2.0)], "Value"), ([[Value(1.0)], [2.0]], "Value"),
                                       (np.array([Value(1.0)]), "Value"), ([Tensor([1.0])], "Tensor")])
def test_a_tensor_of_nodes_is_a_type_error(raw, kind):
    hint = r"stack their \.data with numpy" if kind == "Tensor" else "do not mix the scalar engine with Tensors"
    with pytest.raises(TypeError, match=rf"^Tensor: got {kind} elements; an array holds numbers, not nodes \({hint}"):
        Tensor(raw)


@pytest.mark.parametrize("raw, kind", [(Value(1.0), "Value"), (Tensor([1.0]), "Tensor")])
def test_a_node_as_data_is_a_type_error(raw, kind):
    with pytest.raises(TypeError, match=rf"^Tensor: got a {kind}; use its \.data"):
        Tensor(raw)


@pytest.mark.parametrize("op, fn", [("+", lambda t, o: t + o), ("+", lambda t, o: o + t), ("-", lambda t, o: t - o),
                                    ("*", lambda t, o: o * t), ("/", lambda t, o: t / o), ("**", lambda t, o: t ** o),
                                    ("@", lambda t, o: t @ o), ("@", lambda t, o: o @ t)])
@pytest.mark.parametrize("other, message", [
    ("2", r"cannot combine a Tensor with str '2'"),
    ([1.0, 2.0], r"cannot combine a Tensor with list"),
    (1j, r"cannot combine a Tensor with complex"),
    (None, r"cannot combine a Tensor with NoneType"),
    (np.array(["a", "b"]), r"data must be real numbers, got dtype <U1"),
    (np.array([1, 2], dtype=object), r"data must be real numbers, got dtype object"),
    (np.array([1j, 2]), r"data must be real numbers, got dtype complex128"),
    (np.array([Value(1.0), Value(2.0)]), r"got Value elements"),
])
def test_operator_with_a_non_numeric_operand_names_the_operator(op, fn, other, message):
    with pytest.raises(TypeError, match=rf"^Tensor {re.escape(op)}: {message}"):
        fn(Tensor([1.0, 2.0], requires_grad=True), other)


def test_reductions_take_pytorchs_names_too():
    x = Tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    for name in ("sum", "mean", "max"):
        np.testing.assert_array_equal(getattr(x, name)(dim=0, keepdim=True).data, getattr(x, name)(axis=0, keepdims=True).data)
    np.testing.assert_array_equal(x.var(dim=1, unbiased=True).data, x.var(axis=1, correction=1).data)
    np.testing.assert_array_equal(x.var(0, keepdim=True, unbiased=False).data, x.var(0, keepdims=True).data)
    with pytest.raises(TypeError, match=r"^sum: give axis or dim \(PyTorch's name for it\), not both$"):
        x.sum(axis=0, dim=0)
    with pytest.raises(TypeError, match=r"^mean: give keepdims or keepdim \(PyTorch's name for it\), not both$"):
        x.mean(0, True, keepdim=True)
    with pytest.raises(TypeError, match=r"^var: give correction or unbiased \(PyTorch's older name\), not both$"):
        x.var(0, correction=1, unbiased=True)


def test_backward_takes_pytorchs_keywords_too():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.backward(gradient=np.array([1.0, 10.0]), retain_graph=True)
    y.backward(np.array([1.0, 10.0]))  # again: the graph is always kept
    np.testing.assert_array_equal(x.grad, 2 * np.array([2.0, 40.0]))
    with pytest.raises(TypeError, match=r"^backward: give grad or gradient \(PyTorch's name for it\), not both$"):
        y.backward(np.ones(2), gradient=np.ones(2))
