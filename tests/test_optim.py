"""tinygrad_bn.optim: SGD and Adam against their defining properties and PyTorch's trajectories."""
import numpy as np
import pytest

from tinygrad_bn import Tensor, functional as F, nn, optim

TORCH = "PyTorch is the oracle for these comparisons; install torch==2.13.0 (CPU) to run them"


def linear_loss(p, c):
    """sum(c * p): its gradient is c whatever p is, so every step sees the same gradient."""
    return (p * c).sum()


def step_with_constant_gradient(opt, p, c):
    opt.zero_grad()
    linear_loss(p, c).backward()
    opt.step()


# ---------------------------------------------------------------- SGD

def test_sgd_step_is_p_minus_lr_times_gradient_plus_weight_decay():
    p0 = np.array([1.0, -2.0, 0.5])
    c = np.array([0.3, 0.1, -4.0])
    p = Tensor(p0.copy(), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, weight_decay=0.01)
    data = p.data
    step_with_constant_gradient(opt, p, c)
    np.testing.assert_allclose(p.data, p0 - 0.1 * (c + 0.01 * p0), rtol=1e-15)
    assert p.data is data  # updated in place, as in PyTorch: views of the array see the step
    np.testing.assert_array_equal(p.grad, c)  # weight decay does not touch .grad


def test_sgd_momentum_accumulates_a_geometric_sum_of_a_constant_gradient():
    c = np.array([0.5, -1.0])
    p = Tensor(np.zeros(2), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    for k in range(1, 6):
        step_with_constant_gradient(opt, p, c)
        # step j moved p by -lr * c * (1 + 0.9 + ... + 0.9**(j-1)): the buffer starts at the first gradient
        moved = sum(sum(0.9 ** i for i in range(j)) for j in range(1, k + 1))
        np.testing.assert_allclose(p.data, -0.1 * c * moved, rtol=1e-13)


def test_a_parameter_without_gradient_is_skipped_and_keeps_no_state():
    used, unused = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(2), requires_grad=True)
    for opt in (optim.SGD([used, unused], lr=0.1, momentum=0.9), optim.Adam([used, unused])):
        step_with_constant_gradient(opt, used, np.ones(2))
        np.testing.assert_array_equal(unused.data, np.ones(2))
        assert unused.grad is None
    assert opt.steps == [1, 0] and opt.exp_avg[1] is None


def test_zero_grad_forgets_the_gradients():
    p = Tensor(np.ones(3), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    linear_loss(p, np.ones(3)).backward()
    opt.zero_grad()
    assert p.grad is None


# ---------------------------------------------------------------- Adam

def test_adam_bias_correction_makes_every_step_lr_sized_under_a_constant_gradient():
    """With g constant, m_hat = g and v_hat = g**2 exactly (that is what bias correction is for), so
    every step moves each element by lr * g / (|g| + eps), from the first step on."""
    c = np.array([3.0, -0.02, 1e-3])
    p0 = np.array([0.5, 0.5, -1.0])
    p = Tensor(p0.copy(), requires_grad=True)
    opt = optim.Adam([p], lr=0.01, eps=1e-8)
    for k in range(1, 8):
        step_with_constant_gradient(opt, p, c)
        np.testing.assert_allclose(p.data, p0 - k * 0.01 * c / (np.abs(c) + 1e-8), rtol=1e-12)
    assert opt.steps == [7]


def test_optimizers_keep_float32_parameters_float32():
    p = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    for opt in (optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1), optim.Adam([p], weight_decay=0.1)):
        for _ in range(2):
            step_with_constant_gradient(opt, p, np.ones(3, dtype=np.float32))
        assert p.data.dtype == np.float32


# ---------------------------------------------------------------- against PyTorch

def torch_twin(torch, model):
    """The same network in torch. (BN comes after Tanh: a Linear bias right before a BN has a zero
    gradient, whose rounding noise Adam would blow up to steps of size lr.)"""
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.BatchNorm1d(4),
                                 torch.nn.Linear(4, 2)).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items()})
    return theirs


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.8, weight_decay=0.01)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
])
def test_trajectory_matches_torch(name, kwargs):
    torch = pytest.importorskip("torch", reason=TORCH)
    rng = np.random.default_rng(0)
    ours = nn.Sequential(nn.Linear(3, 4, rng=1), nn.Tanh(), nn.BatchNorm1d(4), nn.Linear(4, 2, rng=2))
    theirs = torch_twin(torch, ours)
    opt = getattr(optim, name)(ours.parameters(), **kwargs)
    topt = getattr(torch.optim, name)(theirs.parameters(), **kwargs)
    x, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    for _ in range(10):
        opt.zero_grad(), topt.zero_grad()
        F.mse_loss(ours(Tensor(x)), y).backward()
        torch.nn.functional.mse_loss(theirs(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        opt.step(), topt.step()
        for (label, p), tp in zip(ours.named_parameters(), theirs.parameters()):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=0, atol=1e-10, err_msg=label)
    start = nn.Sequential(nn.Linear(3, 4, rng=1), nn.Tanh(), nn.BatchNorm1d(4), nn.Linear(4, 2, rng=2))
    assert not np.allclose(ours[0].weight.data, start[0].weight.data)  # the test moved something


@pytest.mark.parametrize("name, kwargs", [("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.1)),
                                          ("Adam", dict(lr=0.1, weight_decay=0.1))])
def test_a_parameter_that_gets_gradients_late_matches_torch(name, kwargs):
    """b has no gradient for its first 4 steps: skipped, its state (momentum buffer, Adam's t) starts late."""
    torch = pytest.importorskip("torch", reason=TORCH)
    rng = np.random.default_rng(1)
    a0, b0, c = rng.normal(size=3), rng.normal(size=3), rng.normal(size=3)
    a, b = Tensor(a0.copy(), requires_grad=True), Tensor(b0.copy(), requires_grad=True)
    ta, tb = torch.tensor(a0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    opt, topt = getattr(optim, name)([a, b], **kwargs), getattr(torch.optim, name)([ta, tb], **kwargs)
    for step in range(10):
        opt.zero_grad(), topt.zero_grad()
        loss = ((a * c).tanh() * a).sum() + (((b * a).sum() ** 2) if step >= 4 else 0)
        tloss = (torch.tanh(ta * torch.from_numpy(c)) * ta).sum() + (((tb * ta).sum() ** 2) if step >= 4 else 0)
        loss.backward(), tloss.backward()
        opt.step(), topt.step()
        np.testing.assert_allclose(a.data, ta.detach().numpy(), rtol=0, atol=1e-10)
        np.testing.assert_allclose(b.data, tb.detach().numpy(), rtol=0, atol=1e-10)
        if step < 4:
            np.testing.assert_array_equal(b.data, b0)


# ---------------------------------------------------------------- errors

def test_bad_hyperparameters_are_named():
    p = [Tensor(np.ones(2), requires_grad=True)]
    with pytest.raises(ValueError, match=r"SGD: invalid lr -0.1: it must be >= 0"):
        optim.SGD(p, lr=-0.1)
    with pytest.raises(ValueError, match=r"SGD: invalid momentum -0.5: it must be >= 0"):
        optim.SGD(p, lr=0.1, momentum=-0.5)
    with pytest.raises(ValueError, match=r"SGD: invalid weight_decay -1: it must be >= 0"):
        optim.SGD(p, lr=0.1, weight_decay=-1)
    with pytest.raises(TypeError, match=r"SGD: lr must be a number, got str '0.1'"):
        optim.SGD(p, lr="0.1")
    with pytest.raises(ValueError, match=r"Adam: invalid lr -0.001: it must be >= 0"):
        optim.Adam(p, lr=-1e-3)
    with pytest.raises(ValueError, match=r"Adam: invalid beta1 \(betas\[0\]\) 1.0: it must be in \[0, 1.0\)"):
        optim.Adam(p, betas=(1.0, 0.999))
    with pytest.raises(ValueError, match=r"Adam: invalid beta2 \(betas\[1\]\) -0.1: it must be in \[0, 1.0\)"):
        optim.Adam(p, betas=(0.9, -0.1))
    with pytest.raises(TypeError, match=r"Adam: betas must be a pair \(beta1, beta2\), got 0.9"):
        optim.Adam(p, betas=0.9)
    with pytest.raises(ValueError, match=r"Adam: invalid eps -1e-08: it must be >= 0"):
        optim.Adam(p, eps=-1e-8)
    with pytest.raises(ValueError, match=r"Adam: invalid weight_decay nan"):
        optim.Adam(p, weight_decay=float("nan"))


def test_bad_parameter_lists_are_named():
    p = Tensor(np.ones(2), requires_grad=True, label="w")
    with pytest.raises(TypeError, match="SGD: params must be an iterable of Tensors .* got a single Tensor"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="Adam: got an empty parameter list"):
        optim.Adam([])
    with pytest.raises(TypeError, match="SGD: parameter 1 is a ndarray, not a Tensor"):
        optim.SGD([p, np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match=r"Adam: parameter 1 \(w\) appears more than once"):
        optim.Adam([p, p])
    with pytest.raises(TypeError, match="SGD: params must be an iterable of Tensors, got float"):
        optim.SGD(1.0, lr=0.1)
    scaled = Tensor(np.ones(2), requires_grad=True) * 0.5  # an op's result: never updated by a step of its own leaf
    with pytest.raises(ValueError, match=r"SGD: parameter 1 \(unlabelled\) was made by an op \(Mul\), not a leaf"):
        optim.SGD([p, scaled], lr=0.1)
