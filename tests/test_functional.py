"""tinygrad_bn.functional: batch norm (composed, fused, scalar, eval) and the losses.

Every gradient is checked against central finite differences in float64 (gradcheck), never against
itself; the two batch norm paths are checked against each other; PyTorch is an extra oracle where
it is installed (those tests skip with a reason otherwise).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_bn import Tensor, Value, gradcheck, no_grad, topological_order
from tinygrad_bn.functional import batch_norm, batch_norm_train, cross_entropy, hinge_loss, mse_loss

TORCH_REASON = "PyTorch is the extra oracle for functional; install torch==2.13.0 to run this test"
LAYOUTS = {2: "NC", 3: "NCL", 4: "NCHW"}
layouts = pytest.mark.parametrize("ndim", sorted(LAYOUTS), ids=LAYOUTS.values())
paths = pytest.mark.parametrize("fused", [False, True], ids=["composed", "fused"])
examples = settings(max_examples=25, deadline=None)


# ---------------------------------------------------------------- strategies and helpers

def _floats(bound):
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def bn_shapes(draw, ndim):
    """(N, C) / (N, C, L) / (N, C, H, W), small enough for a finite-difference Jacobian."""
    batch = draw(st.integers(2, 4)) if ndim == 2 else draw(st.integers(1, 3))
    spatial = draw(st.lists(st.integers(1, 3), min_size=ndim - 2, max_size=ndim - 2))
    shape = (batch, draw(st.integers(1, 3)), *spatial)
    if batch * int(np.prod(shape[2:])) < 2:  # training needs 2 values per channel
        shape = (2, *shape[1:])
    return shape


@st.composite
def bn_cases(draw, ndim):
    """x, weight (or None), bias (or None) as float64 arrays, plus a seed for loss weights."""
    shape = draw(bn_shapes(ndim))
    c = shape[1]
    x = draw(hnp.arrays(np.float64, shape, elements=_floats(10)))
    weight = draw(st.none() | hnp.arrays(np.float64, (c,), elements=_floats(3)))
    bias = draw(st.none() | hnp.arrays(np.float64, (c,), elements=_floats(3)))
    return x, weight, bias, draw(st.integers(0, 2**32 - 1))


def _leaves(*arrays):
    """Fresh leaf Tensors that require grad (None stays None)."""
    return [None if a is None else Tensor(a.copy(), requires_grad=True) for a in arrays]


def _weighted_loss(out, weights):
    """sum(out * weights) with fixed random weights: a scalar whose gradient is not trivially zero
    (sum(out) alone has zero gradient with respect to x, since each x_hat channel sums to 0)."""
    return (out * weights).sum()


def _loss_weights(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def _bn_fn(fused, **kw):
    """fn(x, weight, bias) for gradcheck; absent weight/bias are passed as None (constants)."""
    return lambda x, weight, bias: batch_norm(x, weight, bias, fused=fused, **kw)


def _grads(nodes):
    return [None if n is None else n.grad for n in nodes]


# ---------------------------------------------------------------- finite differences

@layouts
@paths
@examples
@given(data=st.data())
def test_batch_norm_gradients_match_finite_differences(ndim, fused, data):
    x, weight, bias, _ = data.draw(bn_cases(ndim))
    inputs = _leaves(x, weight, bias)
    assert gradcheck(_bn_fn(fused), inputs)


@layouts
@paths
@examples
@given(data=st.data())
def test_constant_feature_variance_zero_eps_sets_the_gradient(ndim, fused, data):
    """A channel whose values are all equal has variance 0: x_hat is 0 there and only eps keeps
    1/sqrt(var + eps) finite; the gradient that reaches that channel scales with 1/sqrt(eps)."""
    x, weight, bias, seed = data.draw(bn_cases(ndim))
    channel = data.draw(st.integers(0, x.shape[1] - 1))
    x[:, channel] = data.draw(_floats(10))
    eps = data.draw(st.sampled_from([1e-5, 1e-3, 1e-1]))
    w = _loss_weights(x.shape, seed)

    def loss(x, weight, bias):
        return _weighted_loss(batch_norm(x, weight, bias, eps=eps, fused=fused), w)

    inputs = _leaves(x, weight, bias)
    assert gradcheck(loss, inputs)

    out = batch_norm(*inputs, eps=eps, fused=fused)
    beta = 0.0 if bias is None else bias[channel]
    np.testing.assert_allclose(out.data[:, channel], beta, atol=1e-10)

    grads = []
    for e in (eps, 100 * eps):
        xt = Tensor(x.copy(), requires_grad=True)
        _weighted_loss(batch_norm(xt, *_leaves(weight, bias), eps=e, fused=fused), w).backward()
        grads.append(xt.grad[:, channel])
    assert np.all(np.isfinite(grads[0]))
    # var = 0 there, so the gradient is gamma / sqrt(eps) * (g - mean g): 10x larger for 100x smaller eps
    np.testing.assert_allclose(grads[0], 10 * grads[1], rtol=1e-8, atol=1e-12)
    if weight is None or weight[channel] != 0:
        assert np.abs(grads[0]).max() > 0


# ---------------------------------------------------------------- composed == fused

@layouts
@examples
@given(data=st.data())
def test_composed_equals_fused_in_value_and_every_gradient(ndim, data):
    x, weight, bias, seed = data.draw(bn_cases(ndim))
    w = _loss_weights(x.shape, seed)
    results = []
    for fused in (False, True):
        inputs = _leaves(x, weight, bias)
        out = batch_norm(*inputs, fused=fused)
        _weighted_loss(out, w).backward()
        results.append([out.data] + _grads(inputs))
    for composed, fused in zip(*results):
        if composed is None:
            assert fused is None
        else:
            np.testing.assert_allclose(composed, fused, rtol=1e-10, atol=1e-10)


@layouts
@paths
def test_float32_stays_float32(ndim, fused):
    rng = np.random.default_rng(ndim)
    shape = (4, 3, 2, 2)[:ndim]
    x, weight, bias = (Tensor(rng.standard_normal(s), requires_grad=True, dtype=np.float32)
                       for s in (shape, (3,), (3,)))
    out = batch_norm(x, weight, bias, fused=fused)
    (out * out).sum().backward()
    assert out.dtype == np.float32
    assert {x.grad.dtype, weight.grad.dtype, bias.grad.dtype} == {np.dtype(np.float32)}
    reference = batch_norm(*(Tensor(t.data, dtype=np.float64) for t in (x, weight, bias)), fused=fused)
    np.testing.assert_allclose(out.data, reference.data, rtol=1e-4, atol=1e-5)


@layouts
@paths
def test_batch_norm_train_returns_the_batch_statistics(ndim, fused):
    rng = np.random.default_rng(10 + ndim)
    x = rng.standard_normal((5, 3, 4, 2)[:ndim]) * 3 + 1
    axes = (0,) + tuple(range(2, ndim))
    for grad_enabled in (True, False):
        xt = Tensor(x, requires_grad=True)
        if grad_enabled:
            out, mean, var = batch_norm_train(xt, None, None, 1e-5, fused)
        else:
            with no_grad():
                out, mean, var = batch_norm_train(xt, None, None, 1e-5, fused)
        np.testing.assert_allclose(mean, x.mean(axis=axes), rtol=1e-12)
        np.testing.assert_allclose(var, x.var(axis=axes), rtol=1e-12)  # biased: divide by n
        assert out.requires_grad == grad_enabled


# ---------------------------------------------------------------- the scalar engine

LECTURE = [3, 5, 8, 9, 11, 24]


def test_lecture_example_mean_variance_and_normalized_values():
    xs = [Value(v) for v in LECTURE]
    outs = batch_norm(xs)
    by_label = {}
    for node in topological_order(outs[-1]):
        by_label.setdefault(node.label, []).append(node)
    (mean,), (var,) = by_label["mean"], by_label["var"]
    assert mean.data == pytest.approx(np.mean(LECTURE)) and mean.data == pytest.approx(10)
    assert var.data == pytest.approx(np.var(LECTURE)) and var.data == pytest.approx(46)
    assert [round(o.data, 2) for o in outs] == [-1.03, -0.74, -0.29, -0.15, 0.15, 2.06]
    normalized = np.array([o.data for o in outs])
    assert abs(normalized.mean()) < 1e-12
    assert normalized.var() == pytest.approx(1, abs=1e-6)  # exactly 46 / (46 + eps)
    assert normalized.var() == pytest.approx(46 / (46 + 1e-5), rel=1e-12)


@examples
@given(values=st.lists(_floats(10), min_size=2, max_size=7),
       weight=st.none() | _floats(3), bias=st.none() | _floats(3), seed=st.integers(0, 2**32 - 1))
def test_scalar_path_equals_tensor_path(values, weight, bias, seed):
    w = _loss_weights(len(values), seed)
    xs = [Value(v) for v in values]
    gamma = None if weight is None else Value(weight)
    beta = None if bias is None else Value(bias)
    outs = batch_norm(xs, gamma, beta)
    loss = sum((o * float(wi) for o, wi in zip(outs, w)), Value(0.0))
    loss.backward()

    x, tw, tb = _leaves(np.array(values).reshape(-1, 1), None if weight is None else np.array([weight]),
                        None if bias is None else np.array([bias]))
    out = batch_norm(x, tw, tb)
    _weighted_loss(out, w.reshape(-1, 1)).backward()

    np.testing.assert_allclose([o.data for o in outs], out.data[:, 0], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose([v.grad for v in xs], x.grad[:, 0], rtol=1e-10, atol=1e-10)
    for scalar, tensor in ((gamma, tw), (beta, tb)):
        if scalar is not None:
            assert scalar.grad == pytest.approx(tensor.grad[0], rel=1e-10, abs=1e-10)


@examples
@given(values=st.lists(_floats(10), min_size=2, max_size=5), affine=st.booleans())
def test_scalar_path_gradients_match_finite_differences(values, affine):
    n = len(values)
    inputs = [Value(v) for v in values] + ([Value(1.5), Value(-0.5)] if affine else [])

    def fn(*nodes):
        return batch_norm(list(nodes[:n]), *nodes[n:])

    assert gradcheck(fn, inputs)


def test_scalar_constant_batch_eps_keeps_it_finite():
    xs = [Value(2.0) for _ in range(4)]
    outs = batch_norm(xs, eps=1e-3)
    assert [o.data for o in outs] == [0.0] * 4
    (outs[0] * 2.0 + outs[1] * -1.0).backward()
    # x_hat = (x - mean) / sqrt(eps) when var = 0: d x_hat_i/d x_j = (delta_ij - 1/n) / sqrt(eps)
    assert xs[0].grad == pytest.approx((2.0 * (1 - 0.25) - 1.0 * -0.25) / np.sqrt(1e-3))
    assert gradcheck(lambda *v: batch_norm(list(v), eps=1e-3), xs)


# ---------------------------------------------------------------- graph structure

COMPOSED_LABELS = ["mean", "x - mean", "(x - mean)^2", "var", "var + eps", "std", "x_hat", "gamma * x_hat", "gamma * x_hat + beta"]


@layouts
def test_composed_graph_has_labelled_primitive_nodes_in_one_group(ndim):
    rng = np.random.default_rng(ndim)
    x, weight, bias = _leaves(rng.standard_normal((4, 3, 2, 2)[:ndim]), np.ones(3), np.zeros(3))
    out = batch_norm(x, weight, bias)
    nodes = topological_order(out)
    labelled = {n.label: n for n in nodes if n.label}
    assert set(COMPOSED_LABELS) <= set(labelled)
    assert out.label == "gamma * x_hat + beta"
    groups = {labelled[name].group for name in COMPOSED_LABELS}
    assert len(groups) == 1 and next(iter(groups)).name == "batch_norm"
    # every node batch norm made (all but the leaves) is in the cluster
    assert {n.group for n in nodes if not n.is_leaf} == groups
    # and the nodes are wired as the formula says
    parents = {name: [p.label for p in labelled[name].parents] for name in COMPOSED_LABELS}
    assert parents["(x - mean)^2"] == ["x - mean"] and parents["var"] == ["(x - mean)^2"]
    assert parents["var + eps"] == ["var"]
    assert parents["std"] == ["var + eps"]
    assert parents["x_hat"] == ["x - mean", "std"]
    assert parents["gamma * x_hat + beta"][0] == "gamma * x_hat"
    # (C,) weight and bias broadcast along an (N, C) input's axis 1 as they are; otherwise a Reshape
    # to (C, 1) or (C, 1, 1) lines them up, labelled gamma and beta
    for name, leaf, user in [("gamma", weight, "gamma * x_hat"), ("beta", bias, "gamma * x_hat + beta")]:
        parent = next(p for p in labelled[user].parents if p is leaf or p.label == name)
        assert parent is leaf if ndim == 2 else (parent.op == "Reshape" and parent.parents == (leaf,))
    assert labelled["std"].op == "Sqrt" and labelled["mean"].op == "Mean"


def test_two_batch_norms_are_two_groups_and_fused_is_one_node():
    rng = np.random.default_rng(0)
    x, weight, bias = _leaves(rng.standard_normal((5, 2)), np.ones(2), np.zeros(2))
    first = batch_norm(x)
    second = batch_norm(first)
    assert first.group is not second.group and first.group.name == second.group.name == "batch_norm"
    fused = batch_norm(x, weight, bias, fused=True)
    assert fused.op == "BatchNormFn" and fused.parents == (x, weight, bias)
    assert [n for n in topological_order(fused) if not n.is_leaf] == [fused]


def test_scalar_graph_labels_and_group():
    outs = batch_norm([Value(v) for v in LECTURE], Value(2.0), Value(1.0))
    nodes = topological_order(outs[0])
    labels = {n.label for n in nodes if n.label}
    assert set(COMPOSED_LABELS) <= labels
    assert {n.group.name for n in nodes if not n.is_leaf} == {"batch_norm"}


# ---------------------------------------------------------------- the PyTorch oracle

def _torch_bn(torch, x, weight, bias, **kw):
    leaves = [None if a is None else torch.tensor(a, requires_grad=True) for a in (x, weight, bias)]
    out = torch.nn.functional.batch_norm(leaves[0], kw.pop("running_mean", None), kw.pop("running_var", None),
                                         leaves[1], leaves[2], **kw)
    return out, leaves


@layouts
@paths
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_batch_norm_matches_torch(ndim, fused, affine):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    rng = np.random.default_rng(ndim)
    x = rng.standard_normal((6, 4, 3, 2)[:ndim]) * 2 + 0.5
    weight, bias = (rng.standard_normal(4), rng.standard_normal(4)) if affine else (None, None)
    w = _loss_weights(x.shape, ndim)
    inputs = _leaves(x, weight, bias)
    out = batch_norm(*inputs, eps=1e-3, fused=fused)
    _weighted_loss(out, w).backward()
    expected, leaves = _torch_bn(torch, x, weight, bias, training=True, eps=1e-3)
    (expected * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    for ours, theirs in zip(inputs, leaves):
        if ours is not None:
            np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- eval: running statistics

def _running_stats(rng, c):
    return rng.standard_normal(c), rng.uniform(0.2, 3.0, c)


@layouts
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
def test_eval_matches_torch(ndim, affine):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    rng = np.random.default_rng(20 + ndim)
    x = rng.standard_normal((3, 4, 3, 2)[:ndim])
    weight, bias = (rng.standard_normal(4), rng.standard_normal(4)) if affine else (None, None)
    mean, var = _running_stats(rng, 4)
    w = _loss_weights(x.shape, ndim)
    inputs = _leaves(x, weight, bias)
    out = batch_norm(*inputs, running_mean=mean, running_var=Tensor(var))
    _weighted_loss(out, w).backward()
    expected, leaves = _torch_bn(torch, x, weight, bias, running_mean=torch.tensor(mean),
                                 running_var=torch.tensor(var), training=False)
    (expected * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    for ours, theirs in zip(inputs, leaves):
        if ours is not None:
            np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


@layouts
@examples
@given(data=st.data())
def test_eval_gradients_match_finite_differences(ndim, data):
    x, weight, bias, seed = data.draw(bn_cases(ndim))
    mean, var = _running_stats(np.random.default_rng(seed), x.shape[1])
    assert gradcheck(_bn_fn(False, running_mean=mean, running_var=var), _leaves(x, weight, bias))


def test_eval_normalizes_a_batch_of_one_with_the_running_statistics():
    mean, var = np.array([1.0, -2.0]), np.array([4.0, 0.25])
    x = Tensor(np.array([[3.0, -1.0]]), requires_grad=True)
    out = batch_norm(x, running_mean=mean, running_var=var, eps=0.0)
    np.testing.assert_allclose(out.data, (x.data - mean) / np.sqrt(var))
    out.sum().backward()
    np.testing.assert_allclose(x.grad, 1 / np.sqrt(var)[None, :])  # the statistics are constants


# ---------------------------------------------------------------- losses

@examples
@given(data=st.data())
def test_mse_loss_value_and_gradients(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3))
    a = data.draw(hnp.arrays(np.float64, shape, elements=_floats(10)))
    b = data.draw(hnp.arrays(np.float64, shape, elements=_floats(10)))
    loss = mse_loss(Tensor(a), b)
    assert loss.item() == pytest.approx(np.mean((a - b) ** 2), rel=1e-12, abs=1e-12)
    assert gradcheck(mse_loss, _leaves(a, b))
    assert gradcheck(lambda t: mse_loss(t, b.tolist()), _leaves(a))  # a plain list target is a constant


def test_mse_loss_matches_torch():
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    ours = Tensor(a, requires_grad=True)
    mse_loss(ours, b).backward()
    theirs = torch.tensor(a, requires_grad=True)
    expected = torch.nn.functional.mse_loss(theirs, torch.tensor(b))
    expected.backward()
    np.testing.assert_allclose(mse_loss(Tensor(a), b).item(), expected.item(), rtol=1e-12)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12)


@st.composite
def classification(draw, scale=10):
    n, c = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    logits = draw(hnp.arrays(np.float64, (n, c), elements=_floats(scale)))
    targets = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    return logits, targets


def _cross_entropy_reference(logits, targets):
    """Mean of logsumexp(row) - row[target], in float64 with numpy, shifted by each row's max."""
    logits = np.asarray(logits, dtype=np.float64)
    top = logits.max(axis=1)
    logsumexp = np.log(np.exp(logits - top[:, None]).sum(axis=1)) + top
    return np.mean(logsumexp - logits[np.arange(len(targets)), targets])


@examples
@given(case=classification(), offset=st.sampled_from([0.0, 1000.0, -1000.0]))
def test_cross_entropy_value_and_gradient(case, offset):
    logits, targets = case
    logits = logits + offset
    loss = cross_entropy(Tensor(logits), targets)
    assert np.isfinite(loss.item())
    assert loss.item() == pytest.approx(_cross_entropy_reference(logits, targets), rel=1e-9, abs=1e-9)
    assert gradcheck(lambda z: cross_entropy(z, targets), _leaves(logits))


@pytest.mark.parametrize("offset", [0.0, 1000.0, -1000.0])
def test_cross_entropy_matches_torch_and_is_stable(offset):
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((8, 5)) * 30 + offset
    targets = rng.integers(0, 5, 8)
    ours = Tensor(logits, requires_grad=True)
    loss = cross_entropy(ours, targets)
    loss.backward()
    theirs = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(theirs, torch.tensor(targets))
    expected.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(ours.grad))
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-10)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-15)


def test_cross_entropy_float32_logits_of_1000():
    logits = np.array([[1000.0, 999.0, 0.0], [-1000.0, -1001.0, -999.0]], dtype=np.float32)
    targets = np.array([0, 2])
    z = Tensor(logits, requires_grad=True)
    loss = cross_entropy(z, targets)
    loss.backward()
    assert loss.dtype == np.float32 and np.isfinite(loss.item()) and np.all(np.isfinite(z.grad))
    assert loss.item() == pytest.approx(_cross_entropy_reference(logits, targets), rel=1e-5)
    softmax = np.exp(logits - logits.max(axis=1, keepdims=True).astype(np.float64))
    softmax /= softmax.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(z.grad, (softmax - np.eye(3)[targets]) / 2, atol=1e-6)


@st.composite
def hinge_cases(draw):
    """Scores at least 1e-3 away from the kink 1 - y * s = 0, where the loss has no derivative."""
    n = draw(st.integers(1, 6))
    targets = draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n))
    scores = draw(st.lists(_floats(3).filter(lambda s: min(abs(1 - s), abs(1 + s)) > 1e-3), min_size=n, max_size=n))
    return np.array(scores), np.array(targets)


@examples
@given(case=hinge_cases())
def test_hinge_loss_tensor_and_values(case):
    scores, targets = case
    expected = np.mean(np.maximum(0.0, 1 - targets * scores))
    tensor_loss = hinge_loss(Tensor(scores), targets)
    values = [Value(s) for s in scores]
    value_loss = hinge_loss(values, targets.tolist())
    assert tensor_loss.item() == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert value_loss.data == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert gradcheck(lambda s: hinge_loss(s, targets), _leaves(scores))
    assert gradcheck(lambda *v: hinge_loss(list(v), targets), values)


def test_hinge_loss_matches_torch():
    torch = pytest.importorskip("torch", reason=TORCH_REASON)
    scores, targets = np.array([2.0, 0.3, -0.5, -3.0, 0.9]), np.array([1.0, 1.0, 1.0, -1.0, -1.0])
    ours = Tensor(scores, requires_grad=True)
    hinge_loss(ours, targets).backward()
    theirs = torch.tensor(scores, requires_grad=True)
    expected = torch.clamp(1 - theirs * torch.tensor(targets), min=0).mean()
    expected.backward()
    assert hinge_loss(Tensor(scores), targets).item() == pytest.approx(expected.item(), rel=1e-12)
    np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-12)


# ---------------------------------------------------------------- errors

def _x(*shape):
    return Tensor(np.zeros(shape))


@pytest.mark.parametrize("shape", [(4,), (2, 3, 2, 2, 2)])
@paths
def test_batch_norm_rejects_a_bad_layout(shape, fused):
    with pytest.raises(ValueError, match=r"batch_norm: expected input of shape \(N, C\), \(N, C, L\) or "
                                         r"\(N, C, H, W\), got \(" + ", ".join(map(str, shape))):
        batch_norm(_x(*shape), fused=fused)


def test_batch_norm_rejects_an_array_input():
    with pytest.raises(TypeError, match="batch_norm: expected a Tensor .* got ndarray"):
        batch_norm(np.zeros((4, 3)))


@pytest.mark.parametrize("name", ["weight", "bias"])
@paths
def test_batch_norm_rejects_bad_weight_and_bias(name, fused):
    x = _x(4, 3, 2)
    with pytest.raises(ValueError, match=rf"batch_norm: {name} has shape \(4,\), expected \(3,\) "
                                         rf"for input of shape \(4, 3, 2\)"):
        batch_norm(x, fused=fused, **{name: _x(4)})
    with pytest.raises(ValueError, match=rf"batch_norm: {name} has shape \(1, 3\), expected \(3,\)"):
        batch_norm(x, fused=fused, **{name: _x(1, 3)})
    with pytest.raises(TypeError, match=rf"batch_norm: {name} must be a Tensor of shape \(3,\), got ndarray"):
        batch_norm(x, fused=fused, **{name: np.ones(3)})
    with pytest.raises(TypeError, match=r"running statistics go by keyword, running_mean=\.\.\., running_var=\.\.\. "
                                        r"\(PyTorch's F\.batch_norm takes them second and third\)"):
        batch_norm(x, np.zeros(3), np.ones(3), fused=fused)  # PyTorch's order: x, running_mean, running_var
    with pytest.raises(TypeError, match=rf"batch_norm: {name} for a list of Values must be a Value, got Tensor"):
        batch_norm([Value(1.0), Value(2.0)], **{name: _x(1)})


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1), (1, 3, 1, 1)])
@paths
def test_batch_norm_rejects_one_value_per_channel_in_training(shape, fused):
    with pytest.raises(ValueError, match=r"batch_norm: expected more than 1 value per channel when training, "
                                         r"got input of shape \(1, 3"):
        batch_norm(_x(*shape), fused=fused)
    with pytest.raises(ValueError, match=r"more than 1 value per channel when training, got input of shape \[1 Values\]"):
        batch_norm([Value(1.0)])


def test_one_sample_with_two_positions_per_channel_is_a_valid_batch():
    out = batch_norm(Tensor(np.array([[[1.0, 3.0]]])))  # (N, C, L) = (1, 1, 2): 2 values per channel
    np.testing.assert_allclose(out.data, [[[-1.0, 1.0]]], rtol=1e-5)


def test_batch_norm_rejects_a_bad_scalar_batch():
    with pytest.raises(TypeError, match="batch_norm: a scalar batch must be a non-empty list of Values"):
        batch_norm([Value(1.0), 2.0])
    with pytest.raises(TypeError, match="batch_norm: a scalar batch must be a non-empty list of Values"):
        batch_norm([])
    with pytest.raises(ValueError, match="batch_norm: running statistics apply to Tensors"):
        batch_norm([Value(1.0), Value(2.0)], running_mean=0.0, running_var=1.0)


def test_batch_norm_rejects_bad_running_statistics():
    x = _x(2, 3)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean has shape \(4,\), expected \(3,\) "
                                         r"for input of shape \(2, 3\)"):
        batch_norm(x, running_mean=np.zeros(4), running_var=np.ones(3))
    with pytest.raises(ValueError, match=r"batch_norm: running_var has shape \(1, 3\), expected \(3,\)"):
        batch_norm(x, running_mean=np.zeros(3), running_var=Tensor(np.ones((1, 3))))
    with pytest.raises(ValueError, match="batch_norm: give both running_mean and running_var, or neither"):
        batch_norm(x, running_mean=np.zeros(3))


def test_cross_entropy_errors():
    z = _x(3, 4)
    with pytest.raises(TypeError, match=r"cross_entropy: logits must be a Tensor of shape \(N, C\), got ndarray"):
        cross_entropy(np.zeros((3, 4)), [0, 1, 2])
    with pytest.raises(ValueError, match=r"cross_entropy: logits must have shape \(N, C\), got \(12,\)"):
        cross_entropy(_x(12), [0])
    with pytest.raises(ValueError, match=r"cross_entropy: targets must have shape \(3,\) for logits of shape "
                                         r"\(3, 4\), got \(3, 1\)"):
        cross_entropy(z, [[0], [1], [2]])
    with pytest.raises(TypeError, match="cross_entropy: targets must be integer class indices, got dtype float64"):
        cross_entropy(z, [0, 1.5, 2])
    with pytest.raises(TypeError, match="cross_entropy: targets must be integer class indices, got dtype bool"):
        cross_entropy(z, [True, False, True])
    with pytest.raises(ValueError, match=r"cross_entropy: target class out of range \[0, 4\): got 0..4"):
        cross_entropy(z, [0, 4, 1])
    with pytest.raises(ValueError, match=r"cross_entropy: target class out of range \[0, 4\): got -1..2"):
        cross_entropy(z, [-1, 2, 1])


def test_mse_loss_errors():
    with pytest.raises(ValueError, match=r"mse_loss: input has shape \(2, 3\), target has shape \(3,\)"):
        mse_loss(_x(2, 3), np.zeros(3))
    with pytest.raises(ValueError, match=r"mse_loss: input has shape \(2, 3\), target has shape \(3, 2\)"):
        mse_loss(_x(2, 3), _x(3, 2))
    with pytest.raises(TypeError, match="mse_loss: input must be a Tensor, got list"):
        mse_loss([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(TypeError, match="mse_loss: target: data must be real numbers, got dtype <U3 from str"):
        mse_loss(_x(3), "abc")


def test_hinge_loss_errors():
    with pytest.raises(ValueError, match=r"hinge_loss: targets must be -1 or \+1, got values \[0. 1.\]"):
        hinge_loss(_x(3), [1, 0, 1])
    with pytest.raises(ValueError, match=r"hinge_loss: targets must be -1 or \+1, got values \[-2.  1.\]"):
        hinge_loss([Value(0.5), Value(0.1)], [1, -2])
    with pytest.raises(ValueError, match=r"hinge_loss: scores have shape \(3,\), targets \(2,\)"):
        hinge_loss(_x(3), [1, -1])
    with pytest.raises(ValueError, match="hinge_loss: 1 scores but 2 targets"):
        hinge_loss([Value(0.5)], [1, -1])
    with pytest.raises(ValueError, match="hinge_loss: needs at least one score and target, got none"):
        hinge_loss([], [])
    with pytest.raises(TypeError, match=r"hinge_loss: scores must be a Tensor \(N,\) or a list of Values, got float"):
        hinge_loss(3.0, [1])
    with pytest.raises(TypeError, match=r"hinge_loss: scores must be .* got ndarray of \['float64'\]$"):
        hinge_loss(np.array([0.5, -0.2]), [1, -1])
    with pytest.raises(TypeError, match=r"hinge_loss: scores must be .* got list of \['Value', 'float'\]$"):
        hinge_loss([Value(0.5), -0.2], [1, -1])
