"""draw_graph: a graph as a Graphviz diagram, micrograd's and torchviz's drawings in one.

    dot = draw_graph(loss)            # a graphviz.Digraph: dot.source is the DOT text
    dot                               # in Jupyter: drawn inline (SVG)
    render(dot, "loss.svg")           # or dot.render(outfile="loss.svg")

What is drawn:
- one box per node (a record): `%id label` (the id the listing uses), then for a Value its data and
  grad, for a Tensor its type (`f64[4,3]`) and a summary of data and grad (the numbers of a tiny
  tensor, mean and std of a big one). Parameters (leaves that require grad) are blue, the outputs
  green, other leaves grey;
- one ellipse per op, between its inputs and its result, naming the op and its constants
  (`+ 1e-05`, `Mean axis=(0,) keepdims=True`); where two nodes go into an op whose order matters
  (`-`, `/`, `**`, `@`, your own Function), each edge says which argument it is: 1, 2, ...;
- the ops of a group (one batch norm) inside a cluster titled with the group's name;
  `collapse=("batch_norm",)` draws each such group as one box3d node whose results are the group's
  members that something outside it uses;
- `highlight=node` (or a list): the node gets a thick red border, and every node, op and edge on
  the path(s) from it to the output is orange: where its gradient comes from.

Big graphs: when more than `max_nodes` shapes (boxes, ellipses, collapsed groups) would be drawn,
every group is collapsed; if that is still too many, only the `max_nodes` shapes nearest the output
are drawn, the rest standing behind one "... not drawn" node (the outputs, with the ops that made
them, are drawn even when they alone are more). The graph's title says which happened.

Node ids in the DOT text follow the topological order (n13 is %13, op13 is the op that made it,
g0 the first collapsed group), never id(), so the same graph gives the same text on every run.
"""
from __future__ import annotations

import itertools

import graphviz

from .describe import blocks_of, group_titles, is_parameter, number_text, op_arguments, operands, \
    constant_text, outputs_of, summary_text, type_text
from .graph import Node, topological_order
from .render import Diagram

MAX_NODES = 150  # shapes: the lecture's batch norm (118) fits; 500 drew a chain 58,000 points wide
QUICK_LAYOUT = 200  # beyond this many shapes, ask dot for a quicker, rougher layout
RANKDIRS = ("LR", "TB", "RL", "BT")

PARAMETER, OUTPUT, INPUT, STEP = "lightblue", "darkseagreen1", "gray92", "white"
OP, GROUP, CUT = "lightyellow", "lavender", "white"
PATH, MARK = "darkorange", "red"

_SYMBOLS = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Pow": "**"}


def draw_graph(output, *, show_grad: bool = True, rankdir: str = "LR", collapse=(), highlight=None,
               max_nodes: int = MAX_NODES) -> Diagram:
    """Draw the graph that `output` (a node, or a list of nodes) depends on; returns a Diagram (a
    graphviz.Digraph that renders SVG without a system Graphviz: see render.py).

    show_grad: show each node's grad beside its data.   rankdir: "LR" (inputs left), "TB", "RL", "BT".
    collapse: group names (or one name) to draw as one node each.
    highlight: a node of the graph, or a list of them, to mark with the path(s) to the output.
    max_nodes: the most shapes to draw before collapsing groups, then truncating.
    """
    outputs = outputs_of(output, "draw_graph")
    _check_options(show_grad, rankdir, max_nodes)
    order = topological_order(outputs)
    titles = group_titles(order)
    collapsed = _collapse_names(collapse, titles)
    marked = _highlighted(highlight, set(order))
    plan = _Plan(order, outputs, collapsed)
    notes = []
    if plan.size > max_nodes and len(plan.collapsed) < len(titles):
        before = plan.size
        plan = _Plan(order, outputs, set(titles))
        notes.append(f"{len(order):,} nodes: {before:,} shapes > max_nodes={max_nodes}, so every group is collapsed")
    if plan.size > max_nodes:
        plan.truncate(max_nodes)
        notes.append(f"showing the {_counted(plan.size, 'shape')} nearest the output; "
                     f"{_counted(plan.hidden_count, 'node')} not drawn")
        position = {node: index for index, node in enumerate(order)}  # a node's %id: its place in the order
        cut = [f"%{position[node]}" for node in marked if not plan.drawn(node)]
        if cut:
            notes.append(f"the highlighted {', '.join(cut)} {'is' if len(cut) == 1 else 'are'} among them: "
                         f"a larger max_nodes shows {'it' if len(cut) == 1 else 'them'}")
    return _Writer(plan, titles, show_grad, marked, rankdir).diagram(notes)


def _check_options(show_grad, rankdir, max_nodes):
    if not isinstance(show_grad, bool):
        raise TypeError(f"draw_graph: show_grad must be True or False, got {show_grad!r}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"draw_graph: rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    if isinstance(max_nodes, bool) or not isinstance(max_nodes, int):
        raise TypeError(f"draw_graph: max_nodes must be an int, got {type(max_nodes).__name__}")
    if max_nodes < 1:
        raise ValueError(f"draw_graph: max_nodes must be at least 1, got {max_nodes}")


def _collapse_names(collapse, titles: dict) -> set:
    """The groups to collapse, from group names; an unknown name is an error that lists the known ones."""
    names = (collapse,) if isinstance(collapse, str) else collapse
    try:
        names = tuple(names)
    except TypeError:
        raise TypeError(f"draw_graph: collapse must be group names, got {type(collapse).__name__}") from None
    if not all(isinstance(name, str) for name in names):
        raise TypeError(f"draw_graph: collapse must be group names (strings), got {names!r}")
    known = sorted({g.name for g in titles})
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"draw_graph: collapse={unknown!r} names no group of this graph "
                         f"(its groups: {', '.join(known) or 'none'})")
    return {g for g in titles if g.name in names}


def _highlighted(highlight, nodes: set) -> list:
    """The nodes to mark, as a list; each must be in the graph."""
    if highlight is None:
        return []
    if isinstance(highlight, Node):
        marked = [highlight]
    elif isinstance(highlight, (list, tuple)) and all(isinstance(node, Node) for node in highlight):
        marked = list(highlight)
    else:
        raise TypeError(f"draw_graph: highlight must be a node of the graph or a list of them, "
                        f"got {type(highlight).__name__}")
    for node in marked:
        if node not in nodes:
            raise ValueError(f"draw_graph: highlight node {node!r} is not part of the graph being drawn")
    return marked


class _Plan:
    """What will be drawn: which nodes get a box, which ops an ellipse, which groups one node."""

    def __init__(self, order: list, outputs: tuple, collapsed: set):
        self.order, self.outputs, self.collapsed = order, set(outputs), collapsed
        self.consumers = {}
        for node in order:
            for parent in node.parents:
                self.consumers.setdefault(parent, []).append(node)
        self.members = {}  # collapsed group -> its members (those of groups inside it too), in order
        self._into = {}  # member -> the collapsed group that stands for it (the outermost, when groups nest)
        for node in order if collapsed else ():
            g = next((g for g in blocks_of(node) if g in collapsed), None)
            if g is not None:
                self._into[node] = g
                self.members.setdefault(g, []).append(node)
        self.shown = [node for node in order if self._shown(node)]
        self.cut = set()  # nodes (and collapsed groups) left out by truncate()
        self.size = len(self.shown) + sum(1 for node in self.shown if self.own_op(node)) + len(self.members)

    def collapsed_into(self, node):
        """The collapsed group that stands for the node (the outermost, when groups nest), or None."""
        return self._into.get(node)

    def _shown(self, node) -> bool:
        """Does the node get a box? Inside a collapsed group only the results it hands out do."""
        g = self.collapsed_into(node)
        if g is None:
            return True
        return node in self.outputs or any(self.collapsed_into(c) is not g for c in self.consumers.get(node, ()))

    def own_op(self, node) -> bool:
        """Does the node's op get its own ellipse (not a leaf, not made inside a collapsed group)?"""
        return not node.is_leaf and self.collapsed_into(node) is None

    def drawn(self, node) -> bool:
        """Is the node on the drawing: as its own box, or inside a collapsed group that is drawn?"""
        return any(n is node for n in self.shown) or self.collapsed_into(node) in self.members

    def maker(self, node):
        """The unit drawn as making `node`: its own op (the node), a collapsed group, or None for a leaf."""
        g = self.collapsed_into(node)
        return g if g is not None else None if node.is_leaf else node

    def sources(self, unit) -> list:
        """The boxes feeding a unit: the parents of a node's op, or every outside input of a group."""
        if unit in self.members:
            inside = set(self.members[unit])
            return list(dict.fromkeys(p for m in self.members[unit] for p in m.parents if p not in inside))
        return list(unit.parents)

    def truncate(self, max_nodes: int):
        """Keep the shapes nearest the outputs (breadth first, backwards), at most max_nodes of them
        with the "not drawn" node: a box costs one shape, and the op (or collapsed group) that made it
        one more, once. The outputs and their makers are kept even beyond max_nodes: a drawing
        without its output would show nothing of the graph."""
        boxes, makers, size, max_nodes = set(), set(), 0, max_nodes - 1
        frontier = [node for node in self.order if node in self.outputs]
        while frontier:
            upstream = []
            for node in frontier:
                if node in boxes:
                    continue
                maker = self.maker(node)
                new_maker = maker is not None and maker not in makers
                if size + 1 + new_maker > max_nodes and node not in self.outputs:
                    continue
                boxes.add(node)
                size += 1 + new_maker
                if new_maker:
                    makers.add(maker)
                    upstream.extend(self.sources(maker))
            frontier = upstream
        self.cut = {node for node in self.shown if node not in boxes} | {g for g in self.members if g not in makers}
        self.hidden_count = len(self.order) - len(boxes)
        self.shown = [node for node in self.shown if node in boxes]
        self.members = {g: m for g, m in self.members.items() if g in makers}
        self.size = size + 1  # and the "not drawn" node


class _Writer:
    """Turns a plan into DOT: boxes, ellipses, clusters, edges, and the highlighted path."""

    def __init__(self, plan: _Plan, titles: dict, show_grad: bool, marked: list, rankdir: str):
        self.plan, self.titles, self.show_grad = plan, titles, show_grad
        self.ids = {node: index for index, node in enumerate(plan.order)}
        self.group_ids = {g: index for index, g in enumerate(plan.members)}
        self.marked, self.rankdir = set(marked), rankdir
        self.fields_stack = rankdir in ("LR", "RL")  # a record's fields stack across the rank direction
        self.path = _downstream(marked, plan.consumers)

    def diagram(self, notes: list) -> Diagram:
        dot = Diagram(name="graph", graph_attr={"rankdir": self.rankdir, "fontname": "Helvetica", "fontsize": "11"},
                      node_attr={"fontname": "Courier", "fontsize": "10", "style": "filled"},
                      edge_attr={"arrowsize": "0.7"})
        if notes:
            dot.attr(label=graphviz.nohtml(_escape("\n".join(notes))), labelloc="t")
        if self.plan.size > QUICK_LAYOUT:  # cap dot's network-simplex passes: seconds, not minutes
            dot.attr(nslimit="1", nslimit1="1")
        inside, placed = {}, set()  # a group (None: the top) -> the boxes and groups drawn directly in it
        for unit in [*self.plan.shown, *self.plan.members]:  # the boxes, then the collapsed groups
            # the groups it is drawn in, outermost first; a collapsed group's results sit beside its box3d
            group = self.plan.collapsed_into(unit) if isinstance(unit, Node) else unit
            chain = blocks_of(unit) if group is None else group.lineage()[:-1]
            for outer, inner in zip([None, *chain], [*chain, unit]):
                if id(inner) not in placed:
                    placed.add(id(inner))
                    inside.setdefault(outer, []).append(inner)
        self._contents(dot, None, inside, itertools.count())
        self._edges(dot)
        return dot

    def _contents(self, dot, block, inside: dict, clusters):
        """Draw what lies directly in `block` (None: the whole graph): boxes, collapsed groups, and a
        cluster for each group inside it, recursively (a batch norm inside your "layer 1" group)."""
        for unit in inside.get(block, ()):
            if isinstance(unit, Node):
                self._node(dot, unit)
            elif unit in self.plan.members:
                self._group(dot, unit, self.plan.members[unit])
            else:
                with dot.subgraph(name=f"cluster_{next(clusters)}") as cluster:
                    cluster.attr(label=graphviz.nohtml(_escape(self.titles[unit])), style="rounded,dashed",
                                 color="gray40", fontname="Helvetica")
                    self._contents(cluster, unit, inside, clusters)

    # ---- shapes

    def _node(self, dot, node):
        """A node's box, and the ellipse of the op that made it."""
        index = self.ids[node]
        fill = PARAMETER if is_parameter(node) else OUTPUT if node in self.plan.outputs else \
            INPUT if node.is_leaf else STEP
        dot.node(f"n{index}", graphviz.nohtml(self._record(node)), shape="record", fillcolor=fill,
                 **self._mark(node))
        if self.plan.own_op(node):
            dot.node(f"op{index}", graphviz.nohtml(_escape(op_label(node))), shape="ellipse", fillcolor=OP,
                     **self._style(self._fed_from_path(node)))

    def _record(self, node) -> str:
        """`%13 mean | data 10 | grad -6.193` (`%5 x_hat : f64[4,3] | ...` for a Tensor), one field under the
        other: in a left-to-right drawing record fields stack as they are, top-down they need braces."""
        name = f"%{self.ids[node]}" + (f" {node.label}" if node.label else "")
        if type(node.data) is float:  # a Value: its type, f64[], goes without saying
            fields = [name, f"data {number_text(node.data)}"]
        else:
            fields = [f"{name} : {type_text(node)}", f"data {summary_text(node.data)}"]
        if self.show_grad and node.requires_grad and node.grad is not None:
            fields.append(f"grad {summary_text(node.grad)}")
        text = " | ".join(_escape(field, record=True) for field in fields)
        return text if self.fields_stack else "{ " + text + " }"

    def _group(self, dot, g, members):
        """A collapsed group: one box3d node. It is marked when a highlighted node is inside it."""
        marked = any(node in self.marked for node in members)
        on_path = any(node in self.path for node in members)
        dot.node(f"g{self.group_ids[g]}", graphviz.nohtml(_escape(f"{self.titles[g]}\n{len(members)} ops")),
                 shape="box3d", fillcolor=GROUP, fontname="Helvetica",
                 **({"color": MARK, "penwidth": "3"} if marked else self._style(on_path)))

    def _mark(self, node) -> dict:
        """A box's border: red for a highlighted node, orange on the path from one to the output."""
        return {"color": MARK, "penwidth": "3"} if node in self.marked else self._style(node in self.path)

    def _fed_from_path(self, node) -> bool:
        """Is the op that made `node` on a highlighted path (does one of its inputs lie on it)?"""
        return any(parent in self.path for parent in node.parents)

    @staticmethod
    def _style(on_path: bool) -> dict:
        return {"color": PATH, "penwidth": "2"} if on_path else {}

    # ---- edges

    def _edges(self, dot):
        """Input box -> op ellipse (or collapsed group) -> result box; cut inputs from one "cut" node.
        An edge is on the highlighted path when the box it leaves is."""
        plan, cut_edges = self.plan, []
        for node in plan.shown:
            maker = plan.maker(node)
            if maker is None:
                continue
            if maker is node:
                target = f"op{self.ids[node]}"
                for parent, name in operands(node):
                    self._input_edge(dot, parent, target, cut_edges, name)
                dot.edge(target, f"n{self.ids[node]}", **self._style(self._fed_from_path(node)))
            else:
                dot.edge(f"g{self.group_ids[maker]}", f"n{self.ids[node]}", **self._style(node in self.path))
        for g in plan.members:
            for parent in plan.sources(g):
                self._input_edge(dot, parent, f"g{self.group_ids[g]}", cut_edges)
        if plan.cut:
            dot.node("cut", graphviz.nohtml(f"... {_counted(plan.hidden_count, 'node')} not drawn"), shape="note",
                     fillcolor=CUT, fontname="Helvetica")
            for target in dict.fromkeys(cut_edges):
                dot.edge("cut", target, style="dashed")

    def _input_edge(self, dot, parent, target, cut_edges, name=""):
        """An edge into an op (or a group), labelled with the operand's position where order matters."""
        if parent in self.plan.cut:
            cut_edges.append(target)
        else:
            label = {"headlabel": name, "labelfontsize": "9", "labelfontcolor": "gray30"} if name else {}
            dot.edge(f"n{self.ids[parent]}", target, **label, **self._style(parent in self.path))


def _counted(count: int, noun: str) -> str:
    """`1 node`, `1,250 nodes`."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def _downstream(marked: list, consumers: dict) -> set:
    """The marked nodes and every node that depends on them: the path(s) to the output."""
    path, stack = set(marked), list(marked)
    while stack:
        for child in consumers.get(stack.pop(), ()):
            if child not in path:
                path.add(child)
                stack.append(child)
    return path


def op_label(node: Node) -> str:
    """The text of an op's ellipse: `+ 1e-05`, `*`, `1 -`, `Sqrt`, `Mean axis=(0,) keepdims=True`."""
    arguments = op_arguments(node)
    constants = [(key, x) for key, x in arguments if not isinstance(x, Node)]
    symbol = _SYMBOLS.get(node.op)
    if symbol is not None and len(node.inputs) == 2 and all(key is None for key, _ in constants):
        if not constants:
            return symbol
        text = constant_text(constants[0][1])
        return f"{symbol} {text}" if isinstance(node.inputs[0], Node) else f"{text} {symbol}"
    return " ".join([node.op] + [constant_text(x) if key is None else f"{key}={constant_text(x)}"
                                 for key, x in constants])


_RECORD_SPECIALS = str.maketrans({c: "\\" + c for c in "{}|<>"})


def _escape(text: str, record: bool = False) -> str:
    """Text for a DOT label: backslashes and quotes escaped, newlines as \\n, and in a record the
    characters that would start a field or a port ({ } | < >) escaped too."""
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return text.translate(_RECORD_SPECIALS) if record else text
