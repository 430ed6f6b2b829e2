"""check_nodes: every node's gradient vs a finite difference by replay, and the root cause named.

A planted mistake is a real op's backward, monkeypatched to scale its first gradient by 1.5 (the
op's own forward stays right). The checker must name the op's first input as `first_bad` and the
op's node as the only culprit, although every node upstream of it is wrong too.
"""
import numpy as np
import pytest

from tinygrad_bn import Function, NodeReport, Tensor, Value, check_nodes, ops, optim
from tinygrad_bn.check_nodes import ChangedInPlace
from tinygrad_bn.functional import BatchNormFn, batch_norm, cross_entropy
from tinygrad_bn.graph import topological_order

LECTURE = [3.0, 5.0, 8.0, 9.0, 11.0, 24.0]


def plant_mistake(monkeypatch, fn):
    """Make fn.backward wrong: its first gradient comes out 1.5 times too big."""
    right = fn.backward

    def wrong(ctx, grad):
        grads = right(ctx, grad)
        if type(grads) is not tuple:
            return grads * 1.5
        return (grads[0] * 1.5,) + grads[1:]
    monkeypatch.setattr(fn, "backward", staticmethod(wrong))


def tensor(rng, shape, positive=False, label=None):
    data = rng.uniform(0.5, 2.0, size=shape) if positive else rng.normal(size=shape)
    return Tensor(data, requires_grad=True, label=label)


# each case: the op's node built from h (a (3, 4) non-leaf made from the leaf x) and a leaf y
TENSOR_BODIES = {
    "Add": lambda h, y: h + y,
    "Sub": lambda h, y: h - y,
    "Mul": lambda h, y: h * y,
    "Div": lambda h, y: h / y,
    "Pow": lambda h, y: h ** 1.7,
    "Neg": lambda h, y: -h,
    "Exp": lambda h, y: h.exp(),
    "Log": lambda h, y: h.log(),
    "Tanh": lambda h, y: h.tanh(),
    "ReLU": lambda h, y: (h + (-1.2)).relu(),
    "Sigmoid": lambda h, y: h.sigmoid(),
    "Sqrt": lambda h, y: h.sqrt(),
    "Sum": lambda h, y: h.sum(axis=0),
    "Mean": lambda h, y: h.mean(axis=1, keepdims=True),
    "Var": lambda h, y: h.var(axis=0),
    "Max": lambda h, y: h.max(axis=1),
    "Reshape": lambda h, y: h.reshape(4, 3),
    "Transpose": lambda h, y: h.T,
    "MatMul": lambda h, y: h @ y.T,
}
SCALAR_OPS = ["Add", "Sub", "Mul", "Div", "Pow", "Neg", "Exp", "Log", "Tanh", "ReLU", "Sigmoid", "Sqrt"]


def planted_graph(name, engine, seed=0):
    """loss = tail(op(pre(x), y)) with the op named `name` used exactly once; returns (loss, op node, x)."""
    rng = np.random.default_rng(seed)
    if engine == "tensor":
        x, y = tensor(rng, (3, 4), label="x"), tensor(rng, (3, 4), positive=True, label="y")
    else:
        x, y = Value(0.4, label="x"), Value(1.3, label="y")
    h = x.sigmoid() if name == "Exp" else x.exp()
    out = TENSOR_BODIES[name](h, y)
    w = rng.normal(size=np.shape(out.data)) if engine == "tensor" else -0.8
    if engine == "scalar":
        return (out / w if name == "Mul" else out * w), out, x
    if name == "Mul":
        return (out / (np.abs(w) + 0.5)).sum(), out, x
    return ((out * w).mean() if name == "Sum" else (out * w).sum()), out, x


def op_count(output, name):
    return sum(node.op == name for node in topological_order(output))


@pytest.mark.parametrize("engine,name", [("tensor", n) for n in TENSOR_BODIES] + [("scalar", n) for n in SCALAR_OPS])
def test_a_planted_wrong_backward_is_named_and_only_its_op_is_blamed(monkeypatch, engine, name):
    loss, out, x = planted_graph(name, engine)
    assert op_count(loss, name) == 1
    assert check_nodes(loss).ok  # the same graph passes before the mistake is planted
    plant_mistake(monkeypatch, getattr(ops, name))

    report = check_nodes(loss)

    assert not report.ok
    assert report.first_bad is out.inputs[0]
    assert report.culprits == (out,)
    assert report.culprit_op == name
    rows = [r.node for r in report.rows]
    before = rows[:next(i for i, node in enumerate(rows) if node is report.first_bad)]
    assert all(report.row(n).close for n in before), "every gradient before the first wrong one is right"
    assert not report.row(x).close, "the leaf upstream is wrong too, yet it is not the one blamed"
    assert f"sent by {name}.backward" in str(report)


def test_a_planted_wrong_fused_batch_norm_backward_is_named(monkeypatch):
    rng = np.random.default_rng(3)
    x, gamma, beta = tensor(rng, (6, 3), label="x"), tensor(rng, (3,), label="gamma"), tensor(rng, (3,), label="beta")
    h = x.exp()
    out = BatchNormFn.apply(h, gamma, beta, 1e-5)
    loss = (out * rng.normal(size=out.shape)).sum()
    assert check_nodes(loss).ok
    plant_mistake(monkeypatch, BatchNormFn)
    report = check_nodes(loss)
    assert report.first_bad is h and report.culprits == (out,) and report.culprit_op == "BatchNormFn"
    assert report.row(gamma).close and report.row(beta).close  # the other two gradients were left right


def test_with_two_consumers_only_the_wrong_one_is_blamed(monkeypatch):
    rng = np.random.default_rng(4)
    x = tensor(rng, (2, 3), label="x")
    h = x.tanh()
    a, b = h * 1.7, h.exp()  # h feeds a Mul and an Exp; only Exp's backward will be wrong
    loss = ((a + b) * rng.normal(size=(2, 3))).sum()
    plant_mistake(monkeypatch, ops.Exp)
    report = check_nodes(loss)
    assert report.first_bad is h
    assert report.culprits == (b,)


def test_classic_mistakes_are_caught(monkeypatch):
    """Not only a scaled gradient: swapped Mul, a lost minus sign in Div, Bessel's n-1 in Var. Each
    mistake is written around the op's real backward, so it holds whatever the op saves."""
    rng = np.random.default_rng(5)
    a, b = tensor(rng, (4,), label="a"), tensor(rng, (4,), positive=True, label="b")
    ab = a * b
    loss = (ab / b.exp() + (a.reshape(2, 2).var(axis=0)).sum()).sum()
    assert check_nodes(loss).ok
    mul, div, var = ops.Mul.backward, ops.Div.backward, ops.Var.backward

    def swapped_mul(ctx, grad):  # d(ab)/da = b, d(ab)/db = a: sent the other way round
        grad_a, grad_b = mul(ctx, grad)
        return grad_b, grad_a
    monkeypatch.setattr(ops.Mul, "backward", staticmethod(swapped_mul))
    assert check_nodes(loss).culprits == (ab,)
    monkeypatch.undo()

    def unsigned_div(ctx, grad):  # d(x/y)/dy = -x/y**2, sent without its minus sign
        grad_x, grad_y = div(ctx, grad)
        return grad_x, -grad_y
    monkeypatch.setattr(ops.Div, "backward", staticmethod(unsigned_div))
    report = check_nodes(loss)
    assert report.culprit_op == "Div" and report.first_bad.op == "Exp"  # only d/d(denominator) is wrong
    assert report.row(ab).close
    monkeypatch.undo()

    def bessel_var(ctx, grad):  # divides by n - 1 = 1 instead of n = 2: twice too big
        grads = var(ctx, grad)
        return (grads[0] * 2.0,) + grads[1:]
    monkeypatch.setattr(ops.Var, "backward", staticmethod(bessel_var))
    assert check_nodes(loss).culprit_op == "Var"


# ---------------------------------------------------------------- correct graphs pass

def lecture_graph():
    xs = [Value(v, label=f"x{i}") for i, v in enumerate(LECTURE)]
    gamma, beta = Value(1.3, label="gamma"), Value(-0.4, label="beta")
    ys = batch_norm(xs, gamma, beta)
    weights = [0.3, -1.2, 0.7, 2.0, -0.5, 1.1]
    return sum((y * w for y, w in zip(ys, weights[1:] + weights[:1])), ys[0] * 0.0), xs


@pytest.mark.parametrize("shape,fused", [((6, 3), False), ((6, 3), True), ((3, 2, 2, 2), False), ((4, 2, 3), True)])
def test_batch_norm_graphs_pass(shape, fused):
    rng = np.random.default_rng(6)
    x = tensor(rng, shape, label="x")
    gamma, beta = tensor(rng, (shape[1],), label="gamma"), tensor(rng, (shape[1],), label="beta")
    out = batch_norm(x, gamma, beta, fused=fused)
    report = check_nodes((out * rng.normal(size=shape)).sum())
    assert report.ok and report.first_bad is None and report.culprits == ()
    assert len(report.rows) == len(topological_order(out)) + 2  # every node, plus the Mul and Sum of the loss
    assert report.max_diff < 1e-6


def test_the_lecture_example_on_the_scalar_engine_passes():
    loss, xs = lecture_graph()
    report = check_nodes(loss)
    assert report.ok
    assert [r.node for r in report.rows] == list(reversed(topological_order(loss)))


def test_a_small_network_with_cross_entropy_passes():
    rng = np.random.default_rng(7)
    x = Tensor(rng.normal(size=(5, 2)))
    w1, w2 = tensor(rng, (2, 4), label="w1"), tensor(rng, (4, 3), label="w2")
    hidden = batch_norm(x @ w1, fused=False).relu()
    loss = cross_entropy(hidden @ w2, [0, 2, 1, 1, 0])
    assert check_nodes(loss).ok


# ---------------------------------------------------------------- the numbers themselves

def test_numeric_values_match_an_independent_finite_difference(central_difference):
    """The replayed difference at leaf x equals a plain-numpy batch norm's central difference."""
    rng = np.random.default_rng(8)
    x_data, w = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    x = Tensor(x_data.copy(), requires_grad=True, label="x")
    report = check_nodes((batch_norm(x) * w).sum())

    def loss(a):
        return (((a - a.mean(0)) / np.sqrt(a.var(0) + 1e-5)) * w).sum()
    (expected,) = central_difference(loss, [x_data])
    np.testing.assert_allclose(report.row(x).numeric, expected, atol=1e-7)
    np.testing.assert_allclose(report.row(x).analytic, expected, atol=1e-5)


def test_leaves_that_do_not_require_grad_are_checked_and_left_alone():
    rng = np.random.default_rng(9)
    x = Tensor(rng.normal(size=(4, 3)), label="x")  # requires_grad=False, as a data batch is
    scale = tensor(rng, (3,), label="scale")
    loss = (batch_norm(x * scale) * rng.normal(size=(4, 3))).sum()  # x is an input of the Mul node
    report = check_nodes(loss)
    assert report.ok
    assert np.any(report.row(x).analytic != 0)  # its gradient was computed for the check ...
    assert x.requires_grad is False and x.grad is None  # ... and not left behind


class ScaleBy(Function):
    """y = x * w for a constant w: backward returns None for w, PyTorch's convention for an input that
    needs no gradient."""
    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(w)
        return x * w

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        return grad * w, None


def test_a_constant_that_its_op_sends_none_is_not_checked():
    x, w = Tensor([1.0, 2.0, 3.0], requires_grad=True, label="x"), Tensor([2.0, -1.0, 0.5], label="w")
    report = check_nodes((ScaleBy.apply(x, w) * np.array([1.0, 2.0, 3.0])).sum())
    assert report.ok, report
    assert all(r.node is not w for r in report.rows) and report.row(x).close


class Double(Function):
    """y = 2 x, with a backward that doubles the gradient it was given in place."""
    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, grad):
        grad *= 2
        return grad


@pytest.mark.parametrize("engine", ["tensor", "value"])
def test_a_backward_that_changes_its_gradient_in_place_is_named(engine):
    """Add sends one array to both of its inputs: Double's `grad *= 2` changes b's gradient too."""
    if engine == "value":  # a float cannot change in place: nothing to catch, and the check passes
        a, b = Value(1.0), Value(3.0)
        assert check_nodes(Double.apply(a) + b * b).ok
        return
    a, b = Tensor([1.0, 2.0], requires_grad=True), Tensor([3.0, 4.0], requires_grad=True, label="b")
    y = Double.apply(a)
    y.label = "y"
    loss = ((y + b * b) * np.array([1.0, 10.0])).sum()
    with pytest.raises(ChangedInPlace, match=r"^check_nodes: Double\.backward \(at node %\d+ y\) changed the "
                                                     r"gradient it was given in place"):
        check_nodes(loss)
    assert a.grad is None and b.grad is None  # the graph's gradients are left as they were


class Shifted(Function):
    """y = 2 (x - 1), with a forward that subtracts in place: the leaf's own data changes."""
    @staticmethod
    def forward(ctx, x):
        x -= 1.0
        return 2 * x

    @staticmethod
    def backward(ctx, grad):
        return 2 * grad


def test_a_forward_that_changes_its_input_in_place_is_named():
    x = Tensor([1.0, 2.0], requires_grad=True, label="x")
    y = Shifted.apply(x)
    y.label = "y"
    assert list(x.data) == [0.0, 1.0]  # the leaf changed under the graph
    with pytest.raises(ChangedInPlace, match=r"^check_nodes: %1 y \(Shifted\): its forward changes its input %0 x in "
                                             r"place \(x -= \.\.\., x \*= \.\.\., x\[\.\.\.\] = \.\.\.\)"):
        check_nodes((y * np.array([1.0, 3.0])).sum())


def test_a_graph_whose_leaf_changed_after_it_was_built_is_refused():
    """An optimizer step (in place, as PyTorch's) between building a graph and checking it."""
    w = Tensor([1.0, 2.0], requires_grad=True, label="w")
    loss = (w * w).sum()
    loss.backward()
    optim.SGD([w], lr=0.1).step()
    with pytest.raises(ChangedInPlace, match=r"^check_nodes: %1 \(Mul\) is not what its op gives when re-run on its "
                                             r"inputs \(%0 w, %0 w\): their numbers changed after the op ran"):
        check_nodes(loss)


class ScaleInPlace(ScaleBy):
    """ScaleBy, with a forward that doubles its constant array w in place first: y = x * 2w."""
    @staticmethod
    def forward(ctx, x, w):
        w *= 2
        return ScaleBy.forward(ctx, x, w)


def test_the_checks_re_runs_never_change_a_constant_the_graph_holds():
    x, w = Tensor([1.0, 2.0], requires_grad=True), np.array([1.0, 3.0])
    loss = (ScaleInPlace.apply(x, w) * np.array([1.0, 10.0])).sum()
    assert list(w) == [2.0, 6.0]
    with pytest.raises(ChangedInPlace):  # the op's constant changed after it ran: the re-run gives 4 x, not 2 x
        check_nodes(loss)
    assert list(w) == [2.0, 6.0]  # the re-run doubled a copy, not the caller's array


def test_the_graph_data_and_grads_are_left_as_they_were():
    rng = np.random.default_rng(10)
    x, gamma = tensor(rng, (4, 3), label="x"), tensor(rng, (3,), label="gamma")
    loss = (batch_norm(x, gamma) * rng.normal(size=(4, 3))).sum()
    loss.backward()
    nodes = topological_order(loss)
    data = [np.array(n.data, copy=True) for n in nodes]
    grads = [np.array(n.grad, copy=True) for n in nodes]
    check_nodes(loss)
    for n, d, g in zip(nodes, data, grads):
        assert np.array_equal(n.data, d) and np.array_equal(n.grad, g)


def test_claimed_gradients_are_checked_instead_of_a_backward_pass():
    rng = np.random.default_rng(11)
    x = tensor(rng, (3,), label="x")
    y = (x * x).sum()
    right = check_nodes(y, grads={x: 2 * x.data})
    assert right.ok and [r.node for r in right.rows] == [x]
    wrong = check_nodes(y, grads={x: x.data})
    assert wrong.first_bad is x and wrong.culprits == ()
    assert "the gradient you derived for %0 x is wrong" in str(wrong)
    with pytest.raises(ValueError, match=r"gradient given for %0 x has shape \(2,\), the node has shape \(3,\)"):
        check_nodes(y, grads={x: np.zeros(2)})
    with pytest.raises(ValueError, match="not a node of this graph"):
        check_nodes(y, grads={Tensor(np.zeros(3)): np.zeros(3)})


def test_the_printed_report_is_a_table_that_names_the_culprit(monkeypatch):
    loss, out, x = planted_graph("Tanh", "tensor")
    plant_mistake(monkeypatch, ops.Tanh)
    text = str(check_nodes(loss))
    lines = text.splitlines()
    assert lines[1].split() == ["node", "op", "shape", "exact", "close", "max", "diff", "analytic", "numeric"]
    assert "<- first wrong" in text and "f64[3,4]" in text
    assert "first wrong gradient, in backward order: %1 (Exp, f64[3,4])" in text
    assert "sent by Tanh.backward" in text
    assert isinstance(check_nodes(loss), NodeReport)


# ---------------------------------------------------------------- refusals

def test_float32_is_refused():
    x = Tensor(np.ones((2, 2)), requires_grad=True, dtype=np.float32, label="x")
    with pytest.raises(TypeError, match=r"check_nodes: node %0 x \(leaf\) holds float32 data; finite differences need float64"):
        check_nodes((x * 2).sum())


def test_bad_arguments_are_refused():
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    with pytest.raises(ValueError, match=r"output must be one number \(a loss\), got shape \(2, 2\)"):
        check_nodes(x * 2)
    with pytest.raises(TypeError, match="output must be a Value or a Tensor, got float"):
        check_nodes(1.0)
    with pytest.raises(ValueError, match="eps must be positive"):
        check_nodes((x * 2).sum(), eps=0.0)


def test_nan_gradients_agree_only_with_nan():
    """Where a derivative is undefined on both sides (d/db of a**b at a < 0) that is no mistake;
    where only one side is (sqrt at 0: inf analytically, nan numerically) the node is not agreed."""
    a, b = Tensor(np.array([-2.0]), label="a"), Tensor(np.array([2.0]), requires_grad=True, label="b")
    with np.errstate(all="ignore"):
        report = check_nodes((a ** b).sum())  # (-2)**2 = 4; d/db = 4 log(-2) is nan, so is its difference
    assert np.isnan(report.row(b).analytic[0]) and np.isnan(report.row(b).numeric[0])
    assert report.row(b).close and report.row(b).exact and report.ok
    x = Tensor(np.array([0.0, 4.0]), requires_grad=True, label="x")
    with np.errstate(all="ignore"):
        report = check_nodes((x ** 0.5).sum())
    row = report.row(x)
    assert np.isinf(row.analytic[0]) and np.isnan(row.numeric[0])
    assert not row.close and report.first_bad is x and row.max_diff == np.inf


def test_an_output_that_is_nan_is_said_to_be_undefined_not_a_tolerance_problem():
    with np.errstate(invalid="ignore"):  # log(-1) is nan, as numpy warns
        report = check_nodes(Tensor([1.0, -1.0], requires_grad=True).log().sum())
    assert not report.ok and report.first_bad.op == "Sum"
    assert "its finite difference is nan: the output is not a number at this point" in report.verdict()
    assert "tolerance" not in report.verdict()


def test_a_point_within_eps_of_the_edge_of_the_domain_is_said_to_be_so():
    with np.errstate(invalid="ignore"):  # log(1e-7 - 1e-6) is nan, as numpy warns
        report = check_nodes(Tensor([1e-7, 2.0], requires_grad=True).log().sum())
    assert np.isfinite(report.rows[0].node.data)
    assert "the point is within eps=1e-06 of where the output is not defined" in report.verdict()
