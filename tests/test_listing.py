"""The listing (listing.py: format_graph, Node.graph) and the order it shows, which is the order of
the backward pass (graph.topological_order): valid on random graphs, each group one block."""
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_bn import Group, Tensor, Value, backward_steps, draw_graph, format_graph, group, topological_order
from tinygrad_bn.examples import LECTURE_INPUTS, batch_norm_example, lecture_example
from tinygrad_bn.functional import batch_norm

# The lecture's example: [3, 5, 8, 9, 11, 24] has mean 10 and variance 46 and normalizes to
# -1.03, -0.74, -0.29, -0.15, 0.15, 2.06 (the lecture's figures), here times gamma = 2, plus beta = 0.5,
# and loss = 1 y1 + 2 y2 + ... + 6 y6. Every number below can be checked by hand (and is, below).
LECTURE_LISTING = """\
%0 x1 : f64[] = 3
%1 x2 : f64[] = 5
%2 x3 : f64[] = 8
%3 x4 : f64[] = 9
%4 x5 : f64[] = 11
%5 x6 : f64[] = 24
%6 gamma : f64[] = 2
%7 beta : f64[] = 0.5
batch_norm {
  %8 : f64[] = Add %0 %1  # 8
  %9 : f64[] = Add %8 %2  # 16
  %10 : f64[] = Add %9 %3  # 25
  %11 : f64[] = Add %10 %4  # 36
  %12 : f64[] = Add %11 %5  # 60
  %13 mean : f64[] = Div %12 6.0  # 10
  %14 x - mean : f64[] = Sub %0 %13  # -7
  %15 x - mean : f64[] = Sub %1 %13  # -5
  %16 x - mean : f64[] = Sub %2 %13  # -2
  %17 x - mean : f64[] = Sub %3 %13  # -1
  %18 x - mean : f64[] = Sub %4 %13  # 1
  %19 x - mean : f64[] = Sub %5 %13  # 14
  %20 (x - mean)^2 : f64[] = Pow %14 2.0  # 49
  %21 (x - mean)^2 : f64[] = Pow %15 2.0  # 25
  %22 (x - mean)^2 : f64[] = Pow %16 2.0  # 4
  %23 (x - mean)^2 : f64[] = Pow %17 2.0  # 1
  %24 (x - mean)^2 : f64[] = Pow %18 2.0  # 1
  %25 (x - mean)^2 : f64[] = Pow %19 2.0  # 196
  %26 : f64[] = Add %20 %21  # 74
  %27 : f64[] = Add %26 %22  # 78
  %28 : f64[] = Add %27 %23  # 79
  %29 : f64[] = Add %28 %24  # 80
  %30 : f64[] = Add %29 %25  # 276
  %31 var : f64[] = Div %30 6.0  # 46
  %32 var + eps : f64[] = Add %31 1e-05  # 46
  %33 std : f64[] = Sqrt %32  # 6.782
  %34 x_hat : f64[] = Div %14 %33  # -1.032
  %35 gamma * x_hat : f64[] = Mul %6 %34  # -2.064
  %36 gamma * x_hat + beta : f64[] = Add %35 %7  # -1.564
  %37 x_hat : f64[] = Div %15 %33  # -0.7372
  %38 gamma * x_hat : f64[] = Mul %6 %37  # -1.474
  %39 gamma * x_hat + beta : f64[] = Add %38 %7  # -0.9744
  %40 x_hat : f64[] = Div %16 %33  # -0.2949
  %41 gamma * x_hat : f64[] = Mul %6 %40  # -0.5898
  %42 gamma * x_hat + beta : f64[] = Add %41 %7  # -0.08977
  %43 x_hat : f64[] = Div %17 %33  # -0.1474
  %44 gamma * x_hat : f64[] = Mul %6 %43  # -0.2949
  %45 gamma * x_hat + beta : f64[] = Add %44 %7  # 0.2051
  %46 x_hat : f64[] = Div %18 %33  # 0.1474
  %47 gamma * x_hat : f64[] = Mul %6 %46  # 0.2949
  %48 gamma * x_hat + beta : f64[] = Add %47 %7  # 0.7949
  %49 x_hat : f64[] = Div %19 %33  # 2.064
  %50 gamma * x_hat : f64[] = Mul %6 %49  # 4.128
  %51 gamma * x_hat + beta : f64[] = Add %50 %7  # 4.628
}
%52 : f64[] = Mul %36 1.0  # -1.564
%53 : f64[] = Mul %39 2.0  # -1.949
%54 : f64[] = Add %52 %53  # -3.513
%55 : f64[] = Mul %42 3.0  # -0.2693
%56 : f64[] = Add %54 %55  # -3.782
%57 : f64[] = Mul %45 4.0  # 0.8205
%58 : f64[] = Add %56 %57  # -2.962
%59 : f64[] = Mul %48 5.0  # 3.974
%60 : f64[] = Add %58 %59  # 1.013
%61 : f64[] = Mul %51 6.0  # 27.77
%62 loss : f64[] = Add %60 %61  # 28.78"""

# A 2-D (N, C) = (4, 3) batch norm on the tensor engine: structure only (types, ops, options).
TENSOR_LISTING = """\
%0 x : f64[4,3] = param
%1 gamma : f64[3] = param
%2 beta : f64[3] = param
batch_norm {
  %3 mean : f64[1,3] = Mean %0 axis=(0,) keepdims=True
  %4 x - mean : f64[4,3] = Sub %0 %3
  %5 (x - mean)^2 : f64[4,3] = Pow %4 2
  %6 var : f64[1,3] = Mean %5 axis=(0,) keepdims=True
  %7 var + eps : f64[1,3] = Add %6 1e-05
  %8 std : f64[1,3] = Sqrt %7
  %9 x_hat : f64[4,3] = Div %4 %8
  %10 gamma * x_hat : f64[4,3] = Mul %1 %9
  %11 gamma * x_hat + beta : f64[4,3] = Add %10 %2
}
%12 : f64[4,3] = Mul %11 const f64[4,3]
%13 loss : f64[] = Sum %12  # {loss}"""


def test_the_lecture_listing_matches_the_golden_text():
    loss = lecture_example()
    assert format_graph(loss) == LECTURE_LISTING
    assert loss.graph() == LECTURE_LISTING  # the convenience method prints the same


def test_the_golden_lecture_numbers_are_the_lectures():
    """The figures in LECTURE_LISTING, recomputed here with plain Python."""
    xs = LECTURE_INPUTS
    mean = sum(xs) / 6
    var = sum((x - mean) ** 2 for x in xs) / 6
    x_hat = [(x - mean) / (var + 1e-5) ** 0.5 for x in xs]
    assert (mean, var) == (10, 46)
    assert [round(v, 2) for v in x_hat] == [-1.03, -0.74, -0.29, -0.15, 0.15, 2.06]
    loss = sum((i + 1) * (2 * v + 0.5) for i, v in enumerate(x_hat))
    for line, value in [("%13 mean", mean), ("%31 var", var), ("%33 std", (var + 1e-5) ** 0.5),
                        ("%49 x_hat", x_hat[5]), ("%36 gamma * x_hat + beta", 2 * x_hat[0] + 0.5),
                        ("%62 loss", loss)]:
        shown = re.search(re.escape(line) + r" : .*# (\S+)", LECTURE_LISTING).group(1)
        assert shown == f"{value:.4g}"


def test_a_tensor_batch_norm_lists_types_ops_and_options():
    loss = batch_norm_example("1d")
    assert format_graph(loss) == TENSOR_LISTING.replace("{loss}", f"{loss.data:.4g}")


def test_show_grad_adds_each_nodes_gradient():
    loss = lecture_example()
    order = topological_order(loss)
    lines = [line.strip() for line in format_graph(loss, show_grad=True).splitlines() if line.strip()[0] == "%"]
    assert len(lines) == len(order)
    for node, line in zip(order, lines):
        assert line.endswith(f"grad {node.grad:.4g}"), line
    tensor_loss = batch_norm_example("1d")
    text = format_graph(tensor_loss, show_grad=True)
    x, gamma = topological_order(tensor_loss)[:2]
    assert (x.label, gamma.label) == ("x", "gamma")
    assert "%1 gamma : f64[3] = param  # grad [" + ", ".join(f"{g:.4g}" for g in gamma.grad) + "]" in text
    assert re.search(r"%0 x : f64\[4,3\] = param  # grad mean \S+ std \S+", text)  # 12 numbers: summarized


def test_the_listing_is_the_backward_order_reversed():
    for loss in (lecture_example(), batch_norm_example("2d")):
        loss.zero_grad()
        order = topological_order(loss)
        stepped = [step.node for step in backward_steps(loss)]
        assert stepped == order[::-1]
        ids = [int(m) for m in re.findall(r"^\s*%(\d+)", format_graph(loss), flags=re.M)]
        assert ids == list(range(len(order)))


def test_leaves_come_before_the_block_that_uses_them_and_the_block_is_contiguous():
    text = format_graph(batch_norm_example("1d"))
    lines = text.splitlines()
    header, end = lines.index("batch_norm {"), lines.index("}")
    assert lines.count("batch_norm {") == 1
    assert all(line.startswith("  %") for line in lines[header + 1:end])
    leaves = [i for i, line in enumerate(lines) if line.endswith("= param")]
    assert leaves and max(leaves) < header


def test_in_a_deep_network_each_leaf_comes_just_before_its_first_user():
    """Layer after layer: W, MatMul, gamma and beta, the batch_norm block, Tanh; not all the weights
    at the top (where a plain depth-first order would put the gammas, gamma being a first argument)."""
    rng = np.random.default_rng(4)
    h = Tensor(rng.normal(size=(4, 3)), requires_grad=True, label="x")
    for _ in range(5):
        w = Tensor(rng.normal(size=(3, 3)), requires_grad=True, label="W")
        gamma = Tensor(np.ones(3), requires_grad=True, label="gamma")
        beta = Tensor(np.zeros(3), requires_grad=True, label="beta")
        h = batch_norm(h @ w, gamma, beta).tanh()
    order = topological_order(h.sum())
    start = {}  # node -> where the line (or block) that holds it starts
    for i, node in enumerate(order):
        block = node.group if not node.is_leaf else None
        start[node] = start.setdefault(block, i) if block is not None else i
    for i, leaf in enumerate(order):
        if leaf.is_leaf:
            user = next(n for n in order if any(p is leaf for p in n.parents))
            assert all(n.is_leaf for n in order[i + 1:start[user]]), (i, leaf.label)
    lines = [line.split(" = ")[1].split()[0] if " = " in line else line for line in format_graph(h.sum()).splitlines()]
    assert lines[:8] == ["param", "param", "MatMul", "param", "param", "batch_norm #1 {", "Mean", "Sub"]


def test_two_batch_norms_are_two_blocks_numbered_apart():
    rng = np.random.default_rng(1)
    x = Tensor(rng.normal(size=(5, 3)), requires_grad=True, label="x")
    w = Tensor(rng.normal(size=(3, 3)), requires_grad=True, label="w")
    h = batch_norm(x).relu() @ w
    loss = batch_norm(h).sum()
    lines = format_graph(loss).splitlines()
    assert [line for line in lines if line.endswith("{")] == ["batch_norm #1 {", "batch_norm #2 {"]
    assert lines.count("}") == 2
    relu = next(line for line in lines if "= ReLU" in line)
    assert not relu.startswith(" ")  # between the blocks, not inside either


def test_a_list_of_outputs_is_listed_once_each():
    xs = [Value(v, label=f"x{i}") for i, v in enumerate(LECTURE_INPUTS)]
    ys = batch_norm(xs)
    text = format_graph(ys)
    assert len(re.findall(r"^  %\d+ x_hat :", text, flags=re.M)) == 6
    assert text.count("batch_norm {") == 1
    with pytest.raises(TypeError, match="format_graph: expected a Value or a Tensor"):
        format_graph([ys[0], 3.0])
    with pytest.raises(TypeError, match="format_graph: expected a Value or a Tensor"):
        format_graph([])


def test_constants_and_options_are_shown_inline():
    t = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, label="t")
    out = (1 - t.sum(axis=1) / 2).var(axis=0, correction=1).reshape(1)
    text = format_graph(out)
    assert "Sum %0 axis=1" in text
    assert "Div %1 2" in text
    assert "Sub 1 %2" in text
    assert "Var %3 axis=0 correction=1" in text  # keepdims=False is the default: left out
    assert re.search(r"= Reshape %4 shape=\(1,\)$", text, flags=re.M)



def test_a_label_set_later_to_a_number_is_listed_as_text():
    x = Value(1.0, label="x")
    y = x * 2
    y.label = 5  # not checked on assignment: the listing shows it as text rather than failing
    assert "%1 5 : f64[] = Mul %0 2" in format_graph(y)


def test_a_small_constant_array_shows_its_shape_in_its_brackets():
    """A column scales rows, a row scales columns: the listing and the diagram must tell them apart."""
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    assert "Mul %0 [[1],[2]]" in format_graph(x * np.array([[1.0], [2.0]]))
    assert "Mul %0 [[1,2]]" in format_graph(x * np.array([[1.0, 2.0]]))
    assert "Mul %0 [1,2]" in format_graph(x * np.array([1.0, 2.0]))
    assert "* [[1,2],[3,4]]" in draw_graph(x * np.array([[1.0, 2.0], [3.0, 4.0]])).source

# ---------------------------------------------------------------- the order itself, on random graphs

OPS = ("add", "mul", "sub", "tanh", "leaf", "open", "close")


@st.composite
def programs(draw, nested=False):
    """A random straight-line program over Values: ops on earlier results, leaves made anywhere,
    and `with group(...)` blocks opened and closed at random (nested ones too when nested=True)."""
    return draw(st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 10 ** 6), st.integers(0, 10 ** 6)),
                         min_size=1, max_size=60)), nested


def build(program):
    steps, nested = program
    nodes = [Value(0.5, label="x0"), Value(-1.5, label="x1")]
    blocks = []  # the open `with group(...)` blocks, innermost last
    try:
        for op, i, j in steps:
            a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
            if op == "open" and (nested or not blocks):
                blocks.append(group(f"g{len(nodes)}"))
                blocks[-1].__enter__()
            elif op == "close" and blocks:
                blocks.pop().__exit__(None, None, None)
            elif op == "leaf":
                nodes.append(Value(float(i % 7) - 3, label=f"x{len(nodes)}"))
            elif op in ("add", "mul", "sub"):
                nodes.append(a + b if op == "add" else a * b if op == "mul" else a - b)
            elif op == "tanh":
                nodes.append(a.tanh())
    finally:
        while blocks:
            blocks.pop().__exit__(None, None, None)
    return nodes[-4:]  # several outputs: the list form


def check_valid(outputs, order):
    position = {node: i for i, node in enumerate(order)}
    assert len(position) == len(order)  # each node once
    reachable, stack = set(), list(outputs)
    while stack:
        node = stack.pop()
        if node not in reachable:
            reachable.add(node)
            stack.extend(node.parents)
    assert set(order) == reachable  # every node the outputs depend on, and nothing else
    for node in order:
        assert all(position[p] < position[node] for p in node.parents)


def blocks_of(order):
    """group -> the positions of its non-leaf members in the order (an outer group's include those of
    the groups opened inside it)."""
    found = {}
    for i, node in enumerate(order):
        if node.group is not None and not node.is_leaf:
            for g in node.group.lineage():
                found.setdefault(g, []).append(i)
    return found


@given(programs())
def test_topological_order_is_valid_and_groups_are_contiguous(program):
    outputs = build(program)
    order = topological_order(outputs)
    check_valid(outputs, order)
    for g, positions in blocks_of(order).items():
        assert positions == list(range(positions[0], positions[0] + len(positions))), g
    assert topological_order(outputs) == order  # deterministic


@given(programs(nested=True))
def test_topological_order_stays_valid_with_nested_groups_each_one_block(program):
    outputs = build(program)
    order = topological_order(outputs)
    check_valid(outputs, order)
    for g, positions in blocks_of(order).items():  # an outer group with its inner ones: one block
        assert positions == list(range(positions[0], positions[0] + len(positions))), g
    assert topological_order(outputs) == order


@given(st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 10 ** 6), st.integers(0, 3)),
                min_size=1, max_size=40))
def test_topological_order_stays_valid_when_groups_are_assigned_arbitrarily(steps):
    """Groups set by hand on any nodes (not by `with group`), even interleaved: still a valid order."""
    groups = [None, Group("a"), Group("b"), Group("c")]
    nodes = [Value(1.0), Value(2.0)]
    for i, j, k in steps:
        node = nodes[i % len(nodes)] * nodes[j % len(nodes)]
        node.group = groups[k]
        nodes.append(node)
    order = topological_order(nodes[-3:])
    check_valid(nodes[-3:], order)


def test_an_inner_group_stays_one_block_inside_an_outer_one():
    x = Value(1.0, label="x")
    with group("layer"):
        h = x * 2
        with group("inner"):
            h = (h + 1) * (h - 1)  # three ops
        out = h.tanh() + x
    order = topological_order(out)
    check_valid([out], order)
    inner = blocks_of(order)[next(g for g in blocks_of(order) if g.name == "inner")]
    assert inner == list(range(inner[0], inner[0] + 3))


def test_a_group_opened_inside_another_is_listed_inside_it_and_its_leaves_come_before_the_outer_block():
    x, gamma, beta = Value(3.0, label="x"), Value(2.0, label="gamma"), Value(0.5, label="beta")
    with group("layer") as layer:
        h = x * 2
        with group("inner") as inner:
            h = h * gamma + beta  # gamma and beta are first used in here
        h = h.tanh()
    assert (inner.parent, layer.parent) == (layer, None) and inner.lineage() == [layer, inner]
    lines = format_graph(h + 1).splitlines()
    assert [line.split(" :")[0] for line in lines[:3]] == ["%0 x", "%1 gamma", "%2 beta"]  # then one layer block
    assert [line.split(" :")[0] for line in lines[3:]] == [
        "layer {", "  %3", "  inner {", "    %4", "    %5", "  }", "  %6", "}", "%7"]


def test_a_label_or_group_name_with_a_newline_stays_on_its_one_line_escaped():
    x = Value(1.0, label="line1\nline2\ttab")
    with group("layer\n1"):
        y = x * 2
    y.label = "out\r"
    assert format_graph(y).splitlines() == [
        "%0 line1\\nline2\\ttab : f64[] = 1",
        "layer\\n1 {",
        "  %1 out\\r : f64[] = Mul %0 2.0  # 2",
        "}"]
    assert "%0 line1\\nline2\ttab" in draw_graph(y).source  # a diagram: a newline is DOT's \n, a tab a tab, as before


def test_show_grad_must_be_a_bool_as_in_draw_graph():
    with pytest.raises(TypeError, match=r"^format_graph: show_grad must be True or False, got 'yes'"):
        format_graph(Value(1.0) * 2, show_grad="yes")


def test_topological_order_rejects_what_is_not_a_node():
    with pytest.raises(TypeError, match="topological_order: expected a Value or Tensor"):
        topological_order([Value(1.0), "x"])
