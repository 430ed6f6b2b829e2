"""format_graph: a graph as text, one line per node, in the spirit of JAX's make_jaxpr printout.

    >>> print(format_graph(loss))
    %0 x : f64[4,3] = input
    %1 weight : f64[3] = param
    batch_norm {
      %2 mean : f64[1,3] = Mean %0 axis=(0,) keepdims=True
      %3 x - mean : f64[4,3] = Sub %0 %2
      ...
    }
    %12 loss : f64[] = Sum %11

A line reads `%id label : type = Op arguments`: `%id` is the node's place in the topological order
(the same id the diagrams show), arguments are other nodes' ids and the op's constants (`Add %5
1e-05`, `axis=(0,)`). A leaf shows its number when it holds one, else `param` (it requires grad)
or `input`. A node holding one number (a Value) gets it as a comment: `# 10`; `show_grad=True` adds
each gradient. The members of a group (one batch norm) are indented under a `name {` header, a
group opened inside another one level further.

The order is `topological_order`, the order the backward pass walks backwards: read the listing
from the bottom up beside a debugger stepping through `backward()` and the lines come in step order.
"""
from __future__ import annotations

from .describe import block_of, blocks_of, constant_text, group_titles, holds_one_number, number_text, one_line, \
    op_arguments, outputs_of, summary_text, type_text
from .graph import Node, topological_order


def format_graph(output, *, show_grad: bool = False) -> str:
    """The graph that `output` (a node or a list of nodes) depends on, one line per node."""
    outputs = outputs_of(output, "format_graph")
    if not isinstance(show_grad, bool):
        raise TypeError(f"format_graph: show_grad must be True or False, got {show_grad!r}")
    order = topological_order(outputs)
    ids = {node: index for index, node in enumerate(order)}
    titles = group_titles(order)
    lines, block, open_blocks = [], None, []  # the last line's group, and the blocks it is in, outermost first
    for node in order:
        if block_of(node) is not block:  # blocks close and open only where the group changes
            block = block_of(node)
            blocks = blocks_of(node)
            same = 0
            while same < min(len(blocks), len(open_blocks)) and blocks[same] is open_blocks[same]:
                same += 1
            lines += ["  " * depth + "}" for depth in reversed(range(same, len(open_blocks)))]
            lines += ["  " * depth + f"{one_line(titles[blocks[depth]])} {{" for depth in range(same, len(blocks))]
            open_blocks = blocks
        lines.append("  " * len(open_blocks) + node_line(node, ids, show_grad))
    lines += ["  " * depth + "}" for depth in reversed(range(len(open_blocks)))]
    return "\n".join(lines)


def node_line(node: Node, ids: dict, show_grad: bool = False) -> str:
    """`%id label : type = Op arguments  # number, grad g` for one node (ids: node -> number)."""
    name = f"%{ids[node]}" + (f" {one_line(node.label)}" if node.label else "")
    if node.is_leaf:
        rhs = number_text(node.data) if holds_one_number(node) else "param" if node.requires_grad else "input"
    else:
        rhs = " ".join([node.op] + [_argument_text(key, x, ids) for key, x in op_arguments(node)])
    notes = []
    if holds_one_number(node) and not node.is_leaf:
        notes.append(number_text(node.data))
    if show_grad and node.requires_grad and node.grad is not None:
        notes.append(f"grad {summary_text(node.grad)}")
    return f"{name} : {type_text(node)} = {rhs}" + (f"  # {', '.join(notes)}" if notes else "")


def _argument_text(key, x, ids: dict) -> str:
    text = f"%{ids[x]}" if isinstance(x, Node) else constant_text(x)
    return text if key is None else f"{key}={text}"
