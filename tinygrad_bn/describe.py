"""How the tracer names and summarizes a node, shared by the diagrams (draw.py) and the listing
(listing.py), so that `%13 mean` in one is `%13 mean` in the other.

Everything here reads only the node protocol (graph.py): `data`, `grad`, `op`, `inputs`, `label`,
`group`, `requires_grad`, so Values and Tensors are described by the same code. A Value's data is a
Python float, which numpy sees as a 0-d float64: `f64[]`.

    type_text(node)        "f64[256,64]", "f32[3]", "f64[]"
    one_line(text)         "line1\\nline2": a label or group name for one line of the listing or a step
    summary_text(array)    "2.06" (one number), "[0.1, -2, 3]" or "[[1], [2]]" (a few), "mean 0.01 std 1" (many)
    op_arguments(node)     [(None, parent), (None, 1e-05), ("axis", (0,))]: what the op was given
    operands(node)         [(x, "1"), (y, "2")]: the nodes the op was given, numbered where order matters
"""
from __future__ import annotations

import inspect
import unicodedata

import numpy as np

from .graph import Group, Node

FEW = 6  # arrays of at most this many numbers are shown whole; bigger ones as mean and std

_DTYPES = {"float64": "f64", "float32": "f32"}


def outputs_of(output, where: str) -> tuple:
    """`output` (a node, or a list or tuple of nodes) as a non-empty tuple of nodes."""
    outputs = (output,) if isinstance(output, Node) else tuple(output) if isinstance(output, (list, tuple)) else None
    if not outputs or not all(isinstance(node, Node) for node in outputs):
        got = type(output).__name__ if outputs is None else f"{type(output).__name__} of " \
            f"{sorted({type(node).__name__ for node in outputs}) or 'nothing'}"
        raise TypeError(f"{where}: expected a Value or a Tensor (or a non-empty list of them), got {got}")
    return outputs


def number_text(x) -> str:
    """A number to 4 significant digits: 3, -1.026, 1e-05, 0.0002345."""
    return f"{float(x):.4g}"


def one_line(text: str) -> str:
    """`text` for one line of a text output (the listing, a step): each control character or line
    break shown escaped as in a Python string (a newline as \\n, a tab as \\t); diagrams show labels as they are."""
    return "".join(repr(c)[1:-1] if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in str(text))


def type_text(node: Node) -> str:
    """dtype and shape, JAX-style: f64[256,64]; a Value (one float) is f64[]."""
    data = node.data
    dtype = getattr(data, "dtype", np.dtype(np.float64))
    return f"{_DTYPES.get(dtype.name, dtype.name)}[{','.join(map(str, np.shape(data)))}]"


def holds_one_number(node: Node) -> bool:
    """A Value, or a 0-d Tensor: its number can be written out in full."""
    return np.ndim(node.data) == 0


def summary_text(array) -> str:
    """A number, a few numbers in brackets nested as the array's axes are (a column [[1], [2]] is not
    a row [[1, 2]]), or the mean and std of many."""
    array = np.asarray(array)
    if array.ndim == 0:
        return number_text(array)
    if array.size <= FEW:
        return "[" + ", ".join(map(summary_text, array)) + "]"
    return f"mean {number_text(array.mean())} std {number_text(array.std())}"


def is_parameter(node: Node) -> bool:
    """A leaf that requires grad: what an optimizer updates (weights, gamma, beta)."""
    return node.is_leaf and node.requires_grad


def block_of(node: Node) -> Group | None:
    """The group a node is drawn and listed inside: its group, unless it is a leaf (a leaf such as
    gamma is an input of the block, not a step of it)."""
    return None if node.is_leaf else node.group


def blocks_of(node: Node) -> list:
    """The groups a node is drawn and listed inside, outermost first ([] for none): block_of(node)
    and the groups it was opened in (Group.lineage)."""
    block = block_of(node)
    return [] if block is None else block.lineage()


def group_titles(order: list) -> dict:
    """Group -> title: its name, numbered `batch_norm #2` when a name occurs more than once."""
    groups = list(dict.fromkeys(g for node in order for g in blocks_of(node)))
    counts, seen = {}, {}
    for g in groups:
        counts[g.name] = counts.get(g.name, 0) + 1
    titles = {}
    for g in groups:
        seen[g.name] = seen.get(g.name, 0) + 1
        titles[g] = g.name if counts[g.name] == 1 else f"{g.name} #{seen[g.name]}"
    return titles


def constant_text(x) -> str:
    """A constant as the listing shows it: 1e-05, 6, (0,), True, None, [1, 2], const f64[4,3]."""
    if isinstance(x, (bool, np.bool_)) or x is None:
        return str(x)
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        text = repr(float(x))
        return text if len(text) <= 10 else f"{float(x):.6g}"
    if isinstance(x, tuple):
        return "(" + ", ".join(map(constant_text, x)) + ("," if len(x) == 1 else "") + ")"
    if isinstance(x, np.ndarray):
        if x.size <= FEW and x.dtype.kind in "biuf":
            return summary_text(x).replace(" ", "") if x.ndim else constant_text(x.item())
        return f"const {_DTYPES.get(x.dtype.name, x.dtype.name)}[{','.join(map(str, x.shape))}]"
    return repr(x) if len(repr(x)) <= 30 else type(x).__name__


_SIGNATURES: dict = {}


def _forward_parameters(fn) -> list:
    """The parameters of fn.forward after ctx, as inspect.Parameter objects (cached per op)."""
    if fn not in _SIGNATURES:
        try:
            parameters = list(inspect.signature(fn.forward).parameters.values())[1:]
        except (TypeError, ValueError):
            parameters = []
        _SIGNATURES[fn] = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return _SIGNATURES[fn]


def op_arguments(node: Node) -> list:
    """What the op that made `node` was given, in order: (None, parent node), (None, constant) for an
    operand (`+ 1e-05`), ("axis", (0,)) for an option. An option left at its default is omitted.

    An option is a constant passed for a parameter of forward that has a default, or that is not a
    number or an array (a shape, an axis): `Mean %3 axis=(0,) keepdims=True`, `Reshape %0 shape=(1,3)`.
    """
    parameters = _forward_parameters(node._fn)
    arguments = []
    for index, x in enumerate(node.inputs):
        if isinstance(x, Node):
            arguments.append((None, x))
            continue
        parameter = parameters[index] if index < len(parameters) else None
        has_default = parameter is not None and parameter.default is not parameter.empty
        if has_default and _same(x, parameter.default):
            continue
        operand = isinstance(x, (int, float, np.number, np.ndarray)) and not isinstance(x, (bool, np.bool_))
        named = parameter is not None and (has_default or not operand)
        arguments.append((parameter.name if named else None, x))
    return arguments


ORDERLESS = ("Add", "Mul")  # ops whose two inputs can swap without changing anything


def operands(node: Node) -> list:
    """(parent, position) for each node the op that made `node` was given, in order. Where two or more
    nodes go in and their order matters (a - b, a / b, a ** b, a @ b, a Function of your own),
    position is "1", "2", ...: which argument of forward it is (counting constants too); otherwise "".
    Numbers, not forward's parameter names: a node labelled "b" drawn as the parameter "a" would confuse."""
    given = [(index, x) for index, x in enumerate(node.inputs) if isinstance(x, Node)]
    if len(given) < 2 or node.op in ORDERLESS:
        return [(x, "") for _, x in given]
    return [(x, str(index + 1)) for index, x in given]


def _same(x, default) -> bool:
    """Is x the parameter's default (None, False, 0...)? Arrays never are."""
    if isinstance(x, np.ndarray) or isinstance(default, np.ndarray):
        return False
    return type(x) is type(default) and x == default
