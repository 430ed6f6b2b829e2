"""PyTorch as an extra oracle: the same expressions give the same values and gradients, both engines.
(The finite-difference tests in test_ops.py never depend on torch.)"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_bn import Tensor, Value

torch = pytest.importorskip("torch", reason="PyTorch is not installed: the oracle tests compare against it "
                                            "(pip install torch==2.13.0, CPU)")


def scalar_expression(a, b, exp, log, tanh, relu, sigmoid, sqrt):
    """Every Value op, numbers on both sides; a > 0. exp, log, ... are the engine's functions."""
    c = tanh(a * b + 1) * 2 - a / b + b ** 2 + 2 ** a - 3 / a + log(exp(a) + sigmoid(b))
    return c + relu(a) - relu(-b) * 0.5 + sqrt(a) + a ** b - (1.5 - b) ** 3 + a ** -0.5


@given(a=st.floats(0.2, 3), b=st.floats(-2, 2).filter(lambda b: abs(b) > 0.05))
def test_value_expression_matches_torch(a, b):
    va, vb = Value(a), Value(b)
    ours = scalar_expression(va, vb, Value.exp, Value.log, Value.tanh, Value.relu, Value.sigmoid, Value.sqrt)
    ours.backward()
    ta, tb = (torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (a, b))
    theirs = scalar_expression(ta, tb, torch.exp, torch.log, torch.tanh, torch.relu, torch.sigmoid, torch.sqrt)
    theirs.backward()
    assert ours.data == pytest.approx(theirs.item(), rel=1e-12, abs=1e-12)
    assert va.grad == pytest.approx(ta.grad.item(), rel=1e-10, abs=1e-10)
    assert vb.grad == pytest.approx(tb.grad.item(), rel=1e-10, abs=1e-10)


def test_relu_gradient_at_zero_matches_torch():
    v = Value(0.0)
    v.relu().backward()
    t = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    torch.relu(t).backward()
    assert v.grad == t.grad.item()



# Each case: (ours on Tensors, theirs on torch tensors, input shapes). Inputs are positive where log,
# sqrt, pow and division need it.
TENSOR_CASES = {
    "broadcast add mul sub div": (lambda a, b: (a + b) * a - b / (a + 3), lambda a, b: (a + b) * a - b / (a + 3),
                                  [(3, 1), (1, 4)]),
    "scalar with matrix": (lambda a, b: a * b - b ** a, lambda a, b: a * b - b ** a, [(), (3, 4)]),
    "numbers on either side": (lambda a: 2 / a + 3 ** a - (1 - a) * 2 + a ** 1.5,
                               lambda a: 2 / a + 3 ** a - (1 - a) * 2 + a ** 1.5, [(2, 3)]),
    "unary": (lambda a: (-a).exp() + a.log() * a.tanh() + a.relu() + a.sigmoid() - a.sqrt(),
              lambda a: (-a).exp() + a.log() * a.tanh() + a.relu() + a.sigmoid() - a.sqrt(), [(2, 3)]),
    "sum mean": (lambda a: a.sum(axis=0) * a.mean(axis=-1, keepdims=True),
                 lambda a: a.sum(dim=0) * a.mean(dim=-1, keepdim=True), [(3, 4)]),
    "tuple axes": (lambda a: a.sum(axis=(0, 2)) + a.mean(axis=(-1, -3)),
                   lambda a: a.sum(dim=(0, 2)) + a.mean(dim=(-1, -3)), [(2, 3, 4)]),
    "var population": (lambda a: a.var(axis=0), lambda a: a.var(dim=0, correction=0), [(5, 3)]),
    "var bessel": (lambda a: a.var(axis=1, keepdims=True, correction=1),
                   lambda a: a.var(dim=1, keepdim=True, correction=1), [(3, 4)]),
    "var all": (lambda a: a.var() + a.var(correction=1), lambda a: a.var(correction=0) + a.var(correction=1),
                [(3, 4)]),
    "max": (lambda a: a.max(axis=-1) + a.max(), lambda a: torch.amax(a, dim=-1) + torch.amax(a), [(3, 4)]),
    "reshape transpose": (lambda a: a.reshape(4, 3).T * a + a.transpose(1, 0).reshape(3, 4),
                          lambda a: a.reshape(4, 3).T * a + a.permute(1, 0).reshape(3, 4), [(3, 4)]),
    "matmul 2-D": (lambda a, b: a @ b, lambda a, b: a @ b, [(2, 3), (3, 4)]),
    "matmul 1-D": (lambda a, b, c: (a @ b) @ c + c @ c, lambda a, b, c: (a @ b) @ c + c @ c, [(3,), (3, 4), (4,)]),
    "batch norm": (lambda x, g, b: g * (x - x.mean(axis=0)) / (x.var(axis=0) + 1e-5).sqrt() + b,
                   lambda x, g, b: g * (x - x.mean(dim=0)) / (x.var(dim=0, correction=0) + 1e-5).sqrt() + b,
                   [(6, 3), (3,), (3,)]),
}


def run_both(case, dtype, seed=0):
    ours_fn, theirs_fn, shapes = TENSOR_CASES[case]
    rng = np.random.default_rng(seed)
    raws = [rng.uniform(0.2, 2.0, shape).astype(dtype) for shape in shapes]
    ours_in = [Tensor(r, requires_grad=True) for r in raws]
    theirs_in = [torch.tensor(r, requires_grad=True) for r in raws]
    ours, theirs = ours_fn(*ours_in), theirs_fn(*theirs_in)
    weight = rng.normal(size=ours.shape).astype(dtype)
    ours.backward(weight)
    theirs.backward(torch.tensor(weight))
    return ours, theirs, ours_in, theirs_in


@pytest.mark.parametrize("case", sorted(TENSOR_CASES))
def test_tensor_expression_matches_torch_in_float64(case):
    ours, theirs, ours_in, theirs_in = run_both(case, np.float64)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
    for k, (x, t) in enumerate(zip(ours_in, theirs_in)):
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=f"input {k}")


@pytest.mark.parametrize("case", sorted(TENSOR_CASES))
def test_tensor_expression_matches_torch_in_float32(case):
    ours, theirs, ours_in, theirs_in = run_both(case, np.float32)
    assert ours.dtype == np.float32 and theirs.dtype == torch.float32
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-5, atol=1e-5)
    for k, (x, t) in enumerate(zip(ours_in, theirs_in)):
        assert x.grad.dtype == np.float32
        np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=f"input {k}")


def test_max_ties_split_the_gradient_like_torch_amax():
    raw = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0], [5.0, 5.0, 5.0]])
    x, t = Tensor(raw, requires_grad=True), torch.tensor(raw, requires_grad=True)
    (x.max(axis=1).sum() + x.max()).backward()
    (torch.amax(t, dim=1).sum() + torch.amax(t)).backward()
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-15)


@pytest.mark.parametrize("engine", [Value, Tensor])
def test_accumulation_over_repeated_backward_matches_torch(engine):
    x = Value(1.5) if engine is Value else Tensor([1.5, -0.5], requires_grad=True)
    t = torch.tensor(np.asarray(x.data, dtype=np.float64), requires_grad=True)
    out = (x * x).exp() + x
    theirs = (t * t).exp() + t
    seed = None if engine is Value else np.ones(2)
    for _ in range(3):
        out.backward(seed)
        theirs.backward(None if engine is Value else torch.ones(2), retain_graph=True)
    np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=1e-12)


def test_makemore_style_reductions_match_torch():
    """Code written for torch (dim=, keepdim=, unbiased=) gives torch's numbers."""
    x = np.random.default_rng(3).normal(size=(5, 4))
    ours, theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    outs = [t.mean(0, keepdim=True) + t.var(0, keepdim=True, unbiased=True) + t.sum(dim=0) for t in (ours, theirs)]
    np.testing.assert_allclose(outs[0].data, outs[1].detach().numpy(), rtol=1e-12)
    weights = np.arange(1.0, 5.0)
    (outs[0] * weights).sum().backward()
    (outs[1] * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10)
