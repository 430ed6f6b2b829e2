"""check_nodes: every node's gradient against a finite difference, and the first one that is wrong.

`gradcheck` asks "are the gradients of the inputs right?". When they are not, it cannot say where
the mistake is. `check_nodes(output)` checks EVERY node of the graph, in the order backward visits
them, and points at the root cause:

    analytic[node] = node.grad after one backward pass from output
    numeric[node]  = (output(node + eps) - output(node - eps)) / (2 eps), element by element

The numeric value needs no formula: the graph remembers how each node was made (its Function and its
inputs), so the checker puts a perturbed copy of the node's value in its place and re-runs only the
ops downstream of it (`forward` on copies of their inputs; the real graph is never changed).

First, every op is re-run on its inputs as they are: it must give the node's data, or the graph was
changed after it was built (an input changed in place) and nothing can be checked (ChangedInPlace,
also raised for a backward that changes in place the gradient it was given).

Why the FIRST wrong node in backward order is the root cause: backward gives a node its gradient
only after every node that uses it (its consumers) has been handled. If a node's gradient is wrong
while all of its consumers' gradients are right, the mistake is in what one of those consumers'
Functions sent back along the edge: its `backward`. Everything upstream of that node is then wrong
too, but only because the wrong value flowed on. So the report names

    report.first_bad    the first node, in backward order, whose gradient disagrees (None if all agree)
    report.culprits     the consumer nodes whose Function's backward sent it a wrong gradient, found
                        by checking each edge on its own (perturb the node as seen by one consumer)
    report.culprit_op   the name of that Function ("Mul", "BatchNormFn", ...)

For a node whose gradient a student derived by hand, pass `grads={node: gradient}`: those claims
are checked instead of a backward pass (that is how the batch-norm exercise is graded).

Float64 only: in float32 a finite difference keeps too few digits to tell right from wrong.
"""
from __future__ import annotations

import numpy as np

from .describe import type_text
from .function import Context
from .graph import Node, backward_steps, topological_order


class ChangedInPlace(ValueError):
    """An array the graph keeps was written into, so no gradient can be checked:

    - a Function's forward changed an input (`x -= mean`): the input's data (a leaf's too) is not the
      value the op was computed from any more, and the numbers of the graph no longer fit together;
    - a Function's backward changed the gradient it was given (`grad *= 2`) instead of making a new
      array: that array is also other nodes' gradient (an Add sends the same array to both of its
      inputs, and a node keeps the array it received as its .grad), so they silently changed too."""


class NodeCheck:
    """One row of the report: a node, its analytic and numeric d(output)/d(node), and the verdict.

    `exact` is bitwise equality (as the classic `cmp` helper prints it; a finite difference is rarely
    exact, so `close` is the verdict): |analytic - numeric| <= atol + rtol * |numeric| everywhere.
    Where both are nan (a point where the function is undefined, such as log of a negative number)
    they agree; where only one is, they do not.
    """
    __slots__ = ("node", "name", "op", "shape", "type", "analytic", "numeric", "exact", "close", "max_diff", "worst")

    def __init__(self, node, name, analytic, numeric, atol, rtol):
        self.node, self.name, self.op = node, name, node.op or "leaf"
        self.shape, self.type = tuple(np.shape(node.data)), type_text(node)
        self.analytic, self.numeric = analytic, numeric
        diff = _difference(analytic, numeric)
        self.exact = bool(np.array_equal(analytic, numeric, equal_nan=True))
        self.close = not _disagree(diff, numeric, atol, rtol)
        self.max_diff = float(diff.max()) if diff.size else 0.0
        self.worst = tuple(int(i) for i in np.unravel_index(int(np.argmax(diff)), diff.shape)) if diff.size else ()

    @property
    def expected(self) -> float:
        """The numeric value at the element where the two disagree most."""
        return float(self.numeric[self.worst])

    @property
    def got(self) -> float:
        """The analytic value at that element."""
        return float(self.analytic[self.worst])

    def describe(self) -> str:
        """`%7 x_hat (Div, f64[4,3])`: how the report and the exercise checker name a node."""
        return f"{self.name} ({self.op}, {self.type})"


class NodeReport:
    """What `check_nodes` found: `rows` in backward order, `first_bad`, `culprits`, `culprit_op`."""

    def __init__(self, rows, first_bad, culprits, names, claimed, eps, atol, rtol):
        self.rows = rows
        self.names = names  # {node: the name rows use}, for every node of the graph
        self.first_bad = first_bad
        self.culprits = culprits
        self.culprit_op = culprits[0].op if culprits else None
        self.claimed = claimed
        self.eps, self.atol, self.rtol = eps, atol, rtol

    @property
    def ok(self) -> bool:
        return self.first_bad is None

    def row(self, node) -> NodeCheck:
        """The row of one node (a KeyError if the node was not checked)."""
        for r in self.rows:
            if r.node is node:
                return r
        raise KeyError(f"check_nodes: {node!r} is not in this report")

    @property
    def max_diff(self) -> float:
        return max((r.max_diff for r in self.rows), default=0.0)

    def verdict(self) -> str:
        """One paragraph: all agree, or which node is first wrong and which op's backward sent it."""
        if self.ok:
            return (f"every gradient agrees with its finite difference ({len(self.rows)} nodes, "
                    f"largest difference {self.max_diff:.3g})")
        bad = self.row(self.first_bad)
        where = f" at element {list(bad.worst)}" if bad.shape else ""
        lines = [f"first wrong gradient, in backward order: {bad.describe()}",
                 f"  expected (finite difference) {bad.expected:.10g}, got {bad.got:.10g}{where}; "
                 f"largest difference {bad.max_diff:.3g}"]
        if np.isnan(bad.expected) and not np.isnan(bad.got):
            where = ("the output is not a number at this point" if np.isnan(self.rows[0].node.data).any() else
                     f"the point is within eps={self.eps:g} of where the output is not defined")
            lines.append(f"  its finite difference is nan: {where} (a log or a square root of a negative number, "
                         f"0 / 0, ...), so no gradient can be checked here; move the point, or use a smaller eps")
        elif self.claimed:
            lines.append(f"  the gradient you derived for {bad.name} is wrong; the ones before it are right")
        elif self.culprits:
            names = ", ".join(self.names[c] for c in self.culprits)
            lines.append(f"  it was sent by {self.culprit_op}.backward (at node {names}): every gradient "
                         f"before it is right, so that backward is the mistake")
        else:
            lines.append("  each edge into it agrees on its own, only their sum does not (a tolerance "
                         "edge case): loosen atol/rtol or change eps")
        return "\n".join(lines)

    def table(self) -> str:
        """The rows as the classic `cmp` table: name, op, shape, exact?, close?, max difference."""
        head = ("node", "op", "shape", "exact", "close", "max diff", "analytic", "numeric")
        body = []
        for r in self.rows:
            mark = "  <- first wrong" if r.node is self.first_bad else ""
            body.append((r.name, r.op, r.type, str(r.exact), str(r.close), f"{r.max_diff:.2e}",
                         f"{r.got:.6g}", f"{r.expected:.6g}" + mark))
        widths = [max(len(row[i]) for row in [head] + body) for i in range(len(head) - 1)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
        return "\n".join(fmt.format(*row).rstrip() for row in [head] + body)

    def __str__(self):
        return (f"check_nodes: {len(self.rows)} nodes in backward order (eps={self.eps:g}, atol={self.atol:g}, "
                f"rtol={self.rtol:g}; analytic and numeric at each node's worst element)\n"
                f"{self.table()}\n{self.verdict()}")

    def __repr__(self):
        first = "None" if self.ok else self.row(self.first_bad).describe()
        return f"<NodeReport {len(self.rows)} nodes, first_bad={first}, culprit_op={self.culprit_op}>"


def check_nodes(output: Node, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                grads: dict | None = None) -> NodeReport:
    """Check d(output)/d(node) for every node of output's graph against central finite differences.

    output: a Value, or a Tensor with one element (a loss), built in float64.
    grads:  optional {node: gradient}; when given, exactly these claimed gradients are checked
            (no backward pass), e.g. gradients derived by hand.
    Returns a NodeReport. The graph's data and every node's .grad are left as they were.
    """
    if not isinstance(output, Node):
        raise TypeError(f"check_nodes: output must be a Value or a Tensor, got {type(output).__name__}")
    if np.size(output.data) != 1:
        raise ValueError(f"check_nodes: the output must be one number (a loss), got shape {np.shape(output.data)}; "
                         f"reduce it first, e.g. (out * weights).sum()")
    if not eps > 0:
        raise ValueError(f"check_nodes: eps must be positive, got {eps!r}")
    order = topological_order(output)
    names = _node_names(order)
    for node in order:
        if np.asarray(node.data).dtype != np.float64:
            raise TypeError(f"check_nodes: node {names[node]} ({node.op or 'leaf'}) holds "
                            f"{np.asarray(node.data).dtype} data; finite differences need float64 "
                            f"(build the graph from Tensor(..., dtype=np.float64))")
    _check_forwards(order, names)
    if grads is None:
        analytic, sends = _backward_pass(output, order, names)
        declined = _declined(sends)
        checked = [n for n in reversed(order) if n.requires_grad or n not in declined]
    else:
        analytic, sends = _claimed(grads, order, names), None
        checked = [n for n in reversed(order) if n in analytic]
    position = {node: i for i, node in enumerate(order)}
    rows = [NodeCheck(node, names[node], analytic[node], _numeric(order, position[node], node, eps), atol, rtol)
            for node in checked]
    first_bad = next((r.node for r in rows if not r.close), None)
    culprits = ()
    if first_bad is not None and sends is not None:
        culprits = tuple(c for c in order if _edge_is_wrong(order, position, first_bad, c, sends, eps, atol, rtol))
    return NodeReport(rows, first_bad, culprits, names, grads is not None, eps, atol, rtol)


# ---------------------------------------------------------------- the two sides of the comparison

def _check_forwards(order, names):
    """Re-run each op's forward on copies of its inputs' data: it must leave the copies as they were
    and give the data the node holds (ChangedInPlace if not, naming the node and its inputs)."""
    for node in order:
        if node._fn is None:
            continue
        raw = _copies(node, lambda p: p.data)
        again = _rerun(node, raw)
        for p, given in zip(node._inputs, raw):
            if isinstance(p, Node) and not np.array_equal(given, p.data, equal_nan=True):
                raise ChangedInPlace(
                    f"check_nodes: {names[node]} ({node.op}): its forward changes its input {names[p]} in place "
                    f"(x -= ..., x *= ..., x[...] = ...): that array is the input node's data, which changes with "
                    f"it; make a new array instead (x = x - ...)")
        if not np.allclose(again, node.data, rtol=1e-12, atol=0, equal_nan=True):
            inputs = ", ".join(names[p] for p in node._inputs if isinstance(p, Node))
            raise ChangedInPlace(
                f"check_nodes: {names[node]} ({node.op}) is not what its op gives when re-run on its inputs "
                f"({inputs}): their numbers changed after the op ran (x -= ... in a forward, an optimizer step, "
                f"x.data changed) or its forward is not deterministic, so the graph's numbers no longer fit "
                f"together; build the graph again (and in a forward, make new arrays: x = x - ...)")


def _backward_pass(output, order, names):
    """One backward pass on the real graph with every node treated as requiring grad; returns each
    node's gradient and what each node sent to its inputs. Every .grad and requires_grad is restored.

    What each op sends is copied as it is sent, so that a node's gradient can be compared, at its own
    step, with the sum of the copies: if they differ, the node's Function changed in place the
    gradient it was given (ChangedInPlace, naming it), which would mislead every check after."""
    saved = [(node.grad, node.requires_grad) for node in order]
    try:
        for node in order:
            node.requires_grad = True
            node.zero_grad()
        sends, received = {}, {}
        for node, grad, sent in backward_steps(output):
            if node in received and not np.array_equal(received.pop(node), grad, equal_nan=True):
                raise ChangedInPlace(
                    f"check_nodes: {node.op}.backward (at node {names[node]}) changed the gradient it was given "
                    f"in place (grad *= ..., grad += ..., grad[...] = ...): that array is also the gradient of "
                    f"other nodes, which changed with it; make a new array instead (grad = grad * ...)")
            sends[node] = sent
            for parent, g in zip(node._inputs, sent):
                if g is not None:  # summed in the order backward_steps sums them, so equal means unchanged
                    received[parent] = received[parent] + _copy(g) if parent in received else _copy(g)
        analytic = {node: _as_array(node.grad, node) for node in order}
    finally:
        for node, (grad, requires_grad) in zip(order, saved):
            node.grad, node.requires_grad = grad, requires_grad
    return analytic, sends


def _declined(sends) -> set:
    """The nodes that an op using them sent None, as a Function may for an input that does not
    require grad (a constant): such a node's gradient is not checked, unless it requires grad."""
    return {p for consumer, sent in sends.items() for p, s in zip(consumer._inputs, sent)
            if s is None and isinstance(p, Node)}


def _claimed(grads, order, names):
    """The gradients given by hand, as arrays of their nodes' shapes."""
    in_graph = set(order)
    claimed = {}
    for node, grad in grads.items():
        if node not in in_graph:
            raise ValueError(f"check_nodes: grads has a key that is not a node of this graph: {node!r}")
        array = _as_array(grad, node)
        if array.shape != np.shape(node.data):
            raise ValueError(f"check_nodes: the gradient given for {names[node]} has shape {array.shape}, "
                             f"the node has shape {np.shape(node.data)}")
        claimed[node] = array
    return claimed


def _as_array(grad, node) -> np.ndarray:
    """A gradient as a float64 array of the node's shape (None, a backward that never reached it, is 0)."""
    if grad is None:
        return np.zeros(np.shape(node.data))
    return np.array(grad.data if isinstance(grad, Node) else grad, dtype=np.float64)


def _numeric(order, start, node, eps, consumer=None) -> np.ndarray:
    """Central difference of the output with respect to every element of `node` (order[start])."""
    value = np.array(node.data, dtype=np.float64)
    grad = np.zeros(value.shape)
    for i in np.ndindex(value.shape):
        plus, minus = value.copy(), value.copy()
        plus[i] += eps
        minus[i] -= eps
        up = _replay(order, start, node, _like(plus, node), consumer)
        down = _replay(order, start, node, _like(minus, node), consumer)
        grad[i] = (up - down) / (2 * eps)
    return grad


def _like(array, node):
    """A perturbed value in the node's own form: a float for a Value, an array for a Tensor."""
    return float(array) if not isinstance(node.data, np.ndarray) else array


def _replay(order, start, node, value, consumer=None) -> float:
    """The output's value when `node` holds `value` (as seen by every consumer, or only by
    `consumer`): re-run, in topological order, exactly the ops whose inputs changed."""
    output = order[-1]
    changed = {output: value} if node is output else {}
    for n in order[start + 1:]:
        direct = (consumer is None or n is consumer) and any(p is node for p in n._inputs)
        if not direct and not any(isinstance(p, Node) and p in changed for p in n._inputs):
            continue
        sees_value = consumer is None or n is consumer
        changed[n] = _rerun(n, _copies(n, lambda p: value if p is node and sees_value else changed.get(p, p.data)))
    return float(np.asarray(changed.get(output, output.data), dtype=np.float64).reshape(-1)[0])


def _copies(n, value_of) -> list:
    """What to run n's op on again: a copy of value_of(p) for each node input p, of each constant too."""
    return [_copy(value_of(p) if isinstance(p, Node) else p) for p in n._inputs]


def _rerun(n, raw):
    """n's op run again on `raw` (_copies), with a new ctx as Function.apply makes it (needs_input_grad works)."""
    return n._fn.forward(Context(n._inputs), *raw)


def _copy(x):
    """A private copy of an array for a replayed forward (which may write into its inputs)."""
    return np.array(x) if isinstance(x, np.ndarray) else x


def _edge_is_wrong(order, position, node, consumer, sends, eps, atol, rtol) -> bool:
    """Did `consumer`'s backward send `node` a wrong gradient? Compare what it sent (summed over the
    argument positions where node appears) with the finite difference through that consumer alone."""
    indexes = [i for i, p in enumerate(consumer._inputs) if p is node]
    if not indexes:
        return False
    sent = np.zeros(np.shape(node.data))
    for i in indexes:
        if consumer in sends and sends[consumer][i] is not None:
            sent = sent + _as_array(sends[consumer][i], node)
    numeric = _numeric(order, position[node], node, eps, consumer)
    return _disagree(_difference(sent, numeric), numeric, atol, rtol)


def _difference(analytic, numeric) -> np.ndarray:
    """|analytic - numeric| element by element: 0 where both are nan, inf where only one is."""
    with np.errstate(invalid="ignore"):
        diff = np.abs(analytic - numeric)
    both, one = np.isnan(analytic) & np.isnan(numeric), np.isnan(analytic) ^ np.isnan(numeric)
    return np.where(both, 0.0, np.where(one, np.inf, diff))


def _disagree(diff, numeric, atol, rtol) -> bool:
    """Is any element outside the tolerance atol + rtol * |numeric|?"""
    return bool(np.any(diff > atol + rtol * np.nan_to_num(np.abs(numeric))))


# ---------------------------------------------------------------- names

def _node_names(order) -> dict:
    """`%k label` (k = the node's place in topological order), the name listings and diagrams use."""
    return {node: f"%{k}" + (f" {node.label}" if node.label else "") for k, node in enumerate(order)}

