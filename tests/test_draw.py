"""Diagrams (draw.py): the DOT source has the boxes, op ellipses, edges, clusters and labels the
graph calls for; collapsed, highlighted, truncated variants; deterministic ids; clear errors.
Structure only: rendering to SVG is tested in test_render.py."""
import re

import graphviz
import numpy as np
import pytest

from tinygrad_bn import Function, Tensor, Value, draw_graph, group, topological_order
from tinygrad_bn.draw import _counted
from tinygrad_bn.examples import batch_norm_example, lecture_example
from tinygrad_bn.functional import batch_norm

NODE = re.compile(r'^\s*(\w+) \[(.*)\]$', re.M)
EDGE = re.compile(r'^\s*(\w+) -> (\w+)(?: \[(.*)\])?$', re.M)


def attributes(text: str) -> dict:
    """`label="a b" shape=record` -> {"label": "a b", "shape": "record"}."""
    return {key: quoted if quoted else plain
            for key, quoted, plain in re.findall(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|(\S+))', text)}


def nodes_of(source: str) -> dict:
    """node id -> its attributes (the graph/node/edge default lines excluded)."""
    return {name: attributes(attrs) for name, attrs in NODE.findall(source) if name not in ("graph", "node", "edge")}


def edges_of(source: str) -> list:
    return [(a, b, attributes(attrs)) for a, b, attrs in EDGE.findall(source)]


def clusters_of(source: str) -> dict:
    """cluster title -> the ids of the nodes declared inside it."""
    found = {}
    for body in re.findall(r"subgraph cluster_\d+ \{(.*?)\n\t\}", source, flags=re.S):
        title = re.search(r"label=(\"[^\"]*\"|\S+)", body).group(1).strip('"')
        found[title] = [name for name, _ in NODE.findall(body)]
    return found


def downstream(nodes, order):
    """The nodes and everything computed from them, found here by brute force over the order."""
    found = set(nodes)
    for node in order:
        if any(p in found for p in node.parents):
            found.add(node)
    return found


# ---------------------------------------------------------------- the lecture example

def test_lecture_diagram_has_a_box_per_node_an_ellipse_per_op_and_their_edges():
    loss = lecture_example()
    order = topological_order(loss)
    dot = draw_graph(loss)
    assert isinstance(dot, graphviz.Digraph)
    nodes, edges = nodes_of(dot.source), edges_of(dot.source)
    ops = [node for node in order if not node.is_leaf]
    assert len(nodes) == len(order) + len(ops) == 63 + 55
    for i, node in enumerate(order):
        box = nodes[f"n{i}"]
        assert box["shape"] == "record"
        name = f"%{i}" + (f" {node.label}" if node.label else "")
        assert box["label"] == f"{name} | data {node.data:.4g} | grad {node.grad:.4g}"
        if not node.is_leaf:
            assert nodes[f"op{i}"]["shape"] == "ellipse"
    ids = {node: i for i, node in enumerate(order)}
    expected = {(f"op{ids[n]}", f"n{ids[n]}") for n in ops}
    expected |= {(f"n{ids[p]}", f"op{ids[n]}") for n in ops for p in n.parents}
    assert {(a, b) for a, b, _ in edges} == expected
    assert len(edges) == len(ops) + sum(len(n.parents) for n in ops)  # x - mean squared: each use an edge


def test_lecture_diagram_labels_ops_with_their_constants_and_styles_roles():
    loss = lecture_example()
    order = topological_order(loss)
    nodes = nodes_of(draw_graph(loss).source)
    by_label = {node.label: i for i, node in enumerate(order) if node.label}
    assert nodes[f"op{by_label['mean']}"]["label"] == "/ 6.0"
    assert nodes[f"op{by_label['var + eps']}"]["label"] == "+ 1e-05"
    assert nodes[f"op{by_label['std']}"]["label"] == "Sqrt"
    assert nodes[f"op{ids_of_op(order, 'Pow')[0]}"]["label"] == "** 2.0"
    for name in ("gamma", "beta", "x1", "x6"):  # parameters: leaves that require grad
        assert nodes[f"n{by_label[name]}"]["fillcolor"] == "lightblue"
    assert nodes[f"n{by_label['loss']}"]["fillcolor"] == "darkseagreen1"
    assert nodes[f"n{by_label['std']}"]["fillcolor"] == "white"


def ids_of_op(order, op):
    return [i for i, node in enumerate(order) if node.op == op]


def test_the_batch_norm_ops_are_one_cluster_titled_with_the_group_name():
    loss = lecture_example()
    order = topological_order(loss)
    clusters = clusters_of(draw_graph(loss).source)
    assert list(clusters) == ["batch_norm"]
    members = [i for i, node in enumerate(order) if node.group is not None and not node.is_leaf]
    assert len(members) == 44
    assert sorted(clusters["batch_norm"]) == sorted([f"n{i}" for i in members] + [f"op{i}" for i in members])


# ---------------------------------------------------------------- a 2-D batch norm on Tensors

def test_tensor_boxes_show_type_and_a_summary_of_data_and_grad():
    loss = batch_norm_example("1d")  # x: (N, C) = (4, 3)
    order = topological_order(loss)
    source = draw_graph(loss).source
    nodes = nodes_of(source)
    by_label = {node.label: i for i, node in enumerate(order) if node.label}
    gamma = order[by_label["gamma"]]
    numbers = ", ".join(f"{v:.4g}" for v in gamma.data)
    grads = ", ".join(f"{v:.4g}" for v in gamma.grad)
    assert nodes[f"n{by_label['gamma']}"]["label"] == \
        f"%{by_label['gamma']} gamma : f64[3] | data [{numbers}] | grad [{grads}]"
    x = order[by_label["x"]]
    assert nodes[f"n{by_label['x']}"]["label"] == (f"%{by_label['x']} x : f64[4,3] | data mean {x.data.mean():.4g} "
                                                   f"std {x.data.std():.4g} | grad mean {x.grad.mean():.4g} "
                                                   f"std {x.grad.std():.4g}")
    assert nodes[f"op{by_label['mean']}"]["label"] == "Mean axis=(0,) keepdims=True"
    assert list(clusters_of(source)) == ["batch_norm"]
    assert len(clusters_of(source)["batch_norm"]) == 2 * 9  # mean ... + beta: 9 ops, box and ellipse each


def test_a_four_dimensional_batch_norm_draws_its_axes():
    loss = batch_norm_example("2d")  # (N, C, H, W)
    labels = [a["label"] for a in nodes_of(draw_graph(loss).source).values()]
    assert "Mean axis=(0, 2, 3) keepdims=True" in labels
    assert any(label.startswith("%") and ": f64[2,3,2,2]" in label for label in labels)


def test_show_grad_false_leaves_gradients_out_and_tb_puts_fields_in_braces():
    loss = lecture_example()
    source = draw_graph(loss, show_grad=False, rankdir="TB").source
    assert "grad" not in source
    assert "rankdir=TB" in source
    labels = [a["label"] for name, a in nodes_of(source).items() if name.startswith("n")]
    assert labels and all(label.startswith("{ ") and label.endswith(" }") for label in labels)


# ---------------------------------------------------------------- collapse

def test_collapse_draws_each_group_as_one_node_feeding_the_results_it_hands_out():
    loss = lecture_example()
    order = topological_order(loss)
    ids = {node: i for i, node in enumerate(order)}
    source = draw_graph(loss, collapse=("batch_norm",)).source
    nodes, edges = nodes_of(source), edges_of(source)
    assert clusters_of(source) == {}
    assert nodes["g0"]["shape"] == "box3d" and nodes["g0"]["label"] == "batch_norm\\n44 ops"
    results = [node for node in order if node.label == "gamma * x_hat + beta"]  # what the loss uses
    inputs = [node for node in order if node.is_leaf]
    hidden = [node for node in order if node.group is not None and not node.is_leaf and node not in results]
    assert all(f"n{ids[n]}" not in nodes and f"op{ids[n]}" not in nodes for n in hidden)
    assert {(a, b) for a, b, _ in edges if b == "g0"} == {(f"n{ids[n]}", "g0") for n in inputs}
    assert {(a, b) for a, b, _ in edges if a == "g0"} == {("g0", f"n{ids[n]}") for n in results}
    assert draw_graph(loss, collapse="batch_norm").source == source  # one name as a string


def test_collapse_of_two_groups_gives_two_numbered_nodes():
    rng = np.random.default_rng(2)
    x = Tensor(rng.normal(size=(4, 2)), requires_grad=True)
    loss = batch_norm(batch_norm(x).tanh()).sum()
    nodes = nodes_of(draw_graph(loss, collapse=("batch_norm",)).source)
    assert (nodes["g0"]["label"], nodes["g1"]["label"]) == ("batch_norm #1\\n7 ops", "batch_norm #2\\n7 ops")


class Scale(Function):
    """out = x * k + w (k a constant in the middle): three arguments, two of them nodes."""
    @staticmethod
    def forward(ctx, x, k, w):
        return x * k + w

    @staticmethod
    def backward(ctx, grad):
        return grad * 2.0, None, grad


def test_edges_into_an_op_whose_argument_order_matters_are_numbered():
    a, b = Value(3.0, label="a"), Value(2.0, label="b")
    out = (b - a) / (a ** b) + a * b + Scale.apply(a, 2.0, b)
    source = draw_graph(out).source
    ids = {node.label or node.op: f"n{i}" for i, node in enumerate(topological_order(out))}
    numbered = {(tail, head): attrs.get("headlabel") for tail, head, attrs in edges_of(source)}
    ops = {nodes_of(source)[head]["label"]: head for _, head in numbered if head.startswith("op")}
    assert numbered[(ids["b"], ops["-"])] == "1" and numbered[(ids["a"], ops["-"])] == "2"  # b - a
    assert numbered[(ids["a"], ops["**"])] == "1" and numbered[(ids["b"], ops["**"])] == "2"
    assert numbered[(ids["Sub"], ops["/"])] == "1" and numbered[(ids["Pow"], ops["/"])] == "2"
    assert numbered[(ids["a"], ops["Scale 2.0"])] == "1" and numbered[(ids["b"], ops["Scale 2.0"])] == "3"
    assert numbered[(ids["a"], ops["*"])] is None and numbered[(ids["b"], ops["*"])] is None  # order does not matter
    assert all(label is None for (tail, head), label in numbered.items() if nodes_of(source)[head]["label"] == "+")


def nested_layer():
    """A batch norm (its own group) inside a group "layer" of the user's, then a loss outside both."""
    rng = np.random.default_rng(7)
    x = Tensor(rng.normal(size=(4, 3)), requires_grad=True, label="x")
    with group("layer"):
        h = batch_norm(x * 2) * 3
    loss = (h * rng.normal(size=(4, 3))).sum()
    loss.backward()
    return loss


def test_a_group_inside_another_is_a_cluster_inside_its_cluster():
    source = draw_graph(nested_layer()).source
    outer = source.index('label=layer')
    inner = source.index('label=batch_norm')
    assert source.count("subgraph cluster_") == 2 and outer < inner
    assert "\t\tsubgraph cluster_1 {" in source  # the inner subgraph is written inside the outer one


def test_collapsing_the_outer_group_swallows_the_inner_one_and_draws_no_cycle():
    source = draw_graph(nested_layer(), collapse="layer").source
    nodes, edges = nodes_of(source), edges_of(source)
    assert "subgraph cluster_" not in source
    assert [n for n, a in nodes.items() if a.get("shape") == "box3d"] == ["g0"]
    assert nodes["g0"]["label"] == "layer\\n9 ops"  # x * 2, the 7 ops of batch norm, * 3
    assert all(b != "g0" for a, b, _ in edges if a != "n0")  # only x goes in: nothing comes back


def test_collapsing_the_inner_group_draws_it_inside_the_outer_cluster():
    source = draw_graph(nested_layer(), collapse="batch_norm").source
    layer = source[source.index("subgraph cluster_0 {"):source.index("\n\t}", source.index("subgraph cluster_0 {"))]
    assert "g0 [label=\"batch_norm\\n7 ops\"" in layer


# ---------------------------------------------------------------- highlight

def test_highlight_marks_the_node_red_and_its_path_to_the_output_orange():
    loss = lecture_example()
    order = topological_order(loss)
    ids = {node: i for i, node in enumerate(order)}
    target = next(node for node in order if node.label == "x - mean")  # x1 - mean
    source = draw_graph(loss, highlight=target).source
    nodes, edges = nodes_of(source), edges_of(source)
    assert nodes[f"n{ids[target]}"]["color"] == "red" and nodes[f"n{ids[target]}"]["penwidth"] == "3"
    path = downstream([target], order)
    assert len(path) > 10
    orange = {name for name, a in nodes.items() if a.get("color") == "darkorange"}
    expected = {f"n{ids[n]}" for n in path - {target}}
    expected |= {f"op{ids[n]}" for n in order if any(p in path for p in n.parents)}
    assert orange == expected
    orange_edges = {(a, b) for a, b, attrs in edges if attrs.get("color") == "darkorange"}
    assert orange_edges == {(a, b) for a, b, _ in edges if a in expected | {f"n{ids[target]}"}}
    assert f"op{ids[target]}" not in orange  # the op that made it lies upstream, off the path


def test_highlight_takes_a_list_and_marks_a_collapsed_group_holding_one():
    loss = lecture_example()
    order = topological_order(loss)
    ids = {node: i for i, node in enumerate(order)}
    std = next(node for node in order if node.label == "std")
    gamma = next(node for node in order if node.label == "gamma")
    nodes = nodes_of(draw_graph(loss, highlight=[std, gamma]).source)
    assert nodes[f"n{ids[std]}"]["color"] == nodes[f"n{ids[gamma]}"]["color"] == "red"
    collapsed = nodes_of(draw_graph(loss, highlight=std, collapse="batch_norm").source)
    assert collapsed["g0"]["color"] == "red"
    assert collapsed[f"n{ids[loss]}"]["color"] == "darkorange"


# ---------------------------------------------------------------- big graphs

def test_beyond_max_nodes_groups_collapse_and_the_title_says_so():
    loss = lecture_example()
    source = draw_graph(loss, max_nodes=40).source
    title = re.search(r'^\tlabel="(.*)"', source, flags=re.M).group(1)
    assert "max_nodes=40" in title and "collapsed" in title
    assert "g0" in nodes_of(source)
    assert len(nodes_of(source)) <= 40
    assert not re.search(r'^\tlabel=', draw_graph(loss).source, flags=re.M)  # no title when all fits


def test_still_too_big_keeps_the_nodes_nearest_the_output_and_says_so():
    loss = lecture_example()
    order = topological_order(loss)
    source = draw_graph(loss, max_nodes=12).source
    nodes, edges = nodes_of(source), edges_of(source)
    assert len(nodes) <= 12
    assert f"n{len(order) - 1}" in nodes and "cut" in nodes  # the loss, and the stand-in for the rest
    title = re.search(r'^\tlabel="(.*)"', source, flags=re.M).group(1)
    assert "nodes not drawn" in title
    drawn = set(nodes)
    assert all(a in drawn and b in drawn for a, b, _ in edges)  # no edge into the void


def test_a_highlighted_node_left_out_by_max_nodes_is_named_in_the_title():
    loss = lecture_example()
    order = topological_order(loss)
    far, near = order[14], order[-2]
    title = re.search(r'^\tlabel="(.*)"', draw_graph(loss, max_nodes=12, highlight=[far, near]).source,
                      flags=re.M).group(1)
    assert "the highlighted %14 is among them: a larger max_nodes shows it" in title  # near is drawn: not named
    assert "highlighted" not in draw_graph(loss, max_nodes=12, highlight=near).source
    both = draw_graph(loss, max_nodes=12, highlight=[order[14], order[15]]).source
    assert "the highlighted %14, %15 are among them: a larger max_nodes shows them" in both


def test_by_default_the_lecture_is_drawn_whole_and_a_long_chain_is_cut_to_a_slides_worth():
    assert "not drawn" not in draw_graph(lecture_example()).source
    x = Value(0.5)
    y = x
    for _ in range(1000):
        y = (y * 1.0001).tanh()
    source = draw_graph(y).source
    assert "not drawn" in source and len(nodes_of(source)) <= 150


def test_one_node_left_out_is_one_node_in_the_title():
    x = Value(1.0, label="x")
    y = (x * 2 + x) * 3  # leaves x, and three ops
    title = re.search(r'^\tlabel="(.*)"', draw_graph(y, max_nodes=6).source, flags=re.M).group(1)
    assert title.endswith("; 1 node not drawn")


@pytest.mark.parametrize("max_nodes", [1, 2])
def test_the_output_is_drawn_even_when_max_nodes_is_smaller_and_the_title_counts_what_is_shown(max_nodes):
    loss = lecture_example()
    source = draw_graph(loss, max_nodes=max_nodes).source
    assert set(nodes_of(source)) == {"n62", "op62", "cut"}  # the loss, the + that made it, the rest behind a note
    assert nodes_of(source)["n62"]["label"].startswith("%62 loss")
    title = re.search(r'^\tlabel="(.*)"', source, flags=re.M).group(1)
    assert title.endswith("\\nshowing the 3 shapes nearest the output; 62 nodes not drawn")
    two = [loss, topological_order(loss)[-2]]  # two outputs: both drawn, with their makers
    assert {"n61", "op61", "n62", "op62", "cut"} == set(nodes_of(draw_graph(two, max_nodes=max_nodes).source))


def test_counts_in_titles_and_notes_are_singular_for_one():
    """The title can no longer show one shape (the output and the note are two), but the wording is shared."""
    assert (_counted(1, "shape"), _counted(3, "shape"), _counted(1250, "node")) == ("1 shape", "3 shapes", "1,250 nodes")


def test_a_graph_of_thousands_of_nodes_collapses_within_max_nodes():
    x = Tensor(np.random.default_rng(3).normal(size=(3, 2)), requires_grad=True)
    h = x
    for _ in range(200):
        h = batch_norm(h).tanh()
    loss = h.sum()
    assert len(topological_order(loss)) > 1500
    source = draw_graph(loss, max_nodes=500).source
    assert len(nodes_of(source)) <= 500
    assert "collapsed" in source and "not drawn" in source


# ---------------------------------------------------------------- determinism and errors

def test_ids_follow_the_order_so_the_same_graph_draws_the_same_text():
    assert draw_graph(lecture_example()).source == draw_graph(lecture_example()).source
    first = draw_graph(batch_norm_example("1d-seq")).source
    assert first == draw_graph(batch_norm_example("1d-seq")).source
    assert list(nodes_of(first))[:3] == ["n0", "n1", "n2"]


def test_special_characters_in_labels_are_escaped():
    a = Value(1.0, label='{a|b} <c> "d" \\e')
    source = draw_graph(a * 2).source
    assert r'\{a\|b\} \<c\> \"d\" \\e' in source


def test_group_names_are_the_cluster_titles():
    x = Value(1.0, label="x")
    with group("layer 1"):
        h = (x * 3).tanh()
    assert list(clusters_of(draw_graph(h + 1).source)) == ["layer 1"]


def test_bad_arguments_get_clear_errors():
    loss = lecture_example()
    with pytest.raises(TypeError, match="draw_graph: expected a Value or a Tensor"):
        draw_graph(np.zeros(3))
    with pytest.raises(ValueError, match="draw_graph: rankdir must be one of LR, TB, RL, BT, got 'XY'"):
        draw_graph(loss, rankdir="XY")
    with pytest.raises(ValueError, match=r"collapse=\['batchnorm'\] names no group of this graph \(its groups: batch_norm\)"):
        draw_graph(loss, collapse=("batchnorm",))
    with pytest.raises(TypeError, match="draw_graph: collapse must be group names"):
        draw_graph(loss, collapse=3)
    with pytest.raises(ValueError, match="draw_graph: highlight node .* is not part of the graph"):
        draw_graph(loss, highlight=Value(1.0))
    with pytest.raises(TypeError, match="draw_graph: highlight must be a node of the graph or a list"):
        draw_graph(loss, highlight="x1")
    with pytest.raises(ValueError, match="draw_graph: max_nodes must be at least 1, got 0"):
        draw_graph(loss, max_nodes=0)
    with pytest.raises(TypeError, match="draw_graph: max_nodes must be an int"):
        draw_graph(loss, max_nodes=10.0)
    with pytest.raises(TypeError, match="draw_graph: show_grad must be True or False"):
        draw_graph(loss, show_grad="no")
