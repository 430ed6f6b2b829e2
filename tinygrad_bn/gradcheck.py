"""gradcheck: analytic gradients against central finite differences, PyTorch's signature and meaning.

For every input that requires grad, every element i of it, and every output element j:

    analytic[j, i] = d out[j] / d x[i]                      from out[j].backward()
    numeric[j, i]  = (out[j](x + eps e_i) - out[j](x - eps e_i)) / (2 eps)

and each pair must satisfy |analytic - numeric| <= atol + rtol * |numeric|. Works on Values and
Tensors alike (float64 only: in float32 a finite difference has too few digits to mean anything).
An output that requires no grad (built from no input that does) has analytic gradient 0, so its
finite differences must be 0 too (within atol).
"""
from __future__ import annotations

import numpy as np

from .graph import Node, is_grad_enabled


class GradcheckError(ValueError):
    """An analytic gradient disagrees with its finite-difference estimate."""


def _outputs(result) -> list:
    nodes = list(result) if isinstance(result, (list, tuple)) else [result]
    for n in nodes:
        if not isinstance(n, Node):
            raise TypeError(f"gradcheck: fn must return a Value, a Tensor, or a list of them, got {type(n).__name__}")
    return nodes


def _flat(data) -> np.ndarray:
    """A node's data or grad as a flat float64 array (a Value's float becomes one element)."""
    return np.ravel(np.asarray(data, dtype=np.float64))


def _set_element(node: Node, i: int, x: float) -> None:
    if isinstance(node.data, np.ndarray):  # index, not reshape(-1): that copies a non-contiguous array
        node.data[np.unravel_index(i, node.data.shape)] = x
    else:
        node.data = x


def _numeric(fn, inputs, node: Node, i: int, eps: float) -> np.ndarray:
    """Central difference of every output element with respect to element i of `node`. fn runs as in
    the analytic pass, recording its graph (not under no_grad()), so that what it does means the same
    in both: an in-place `x += y` in it is a new node in one and in the other."""
    x = _flat(node.data)[i]
    try:
        _set_element(node, i, x + eps)
        plus = np.concatenate([_flat(o.data) for o in _outputs(fn(*inputs))])
        _set_element(node, i, x - eps)
        minus = np.concatenate([_flat(o.data) for o in _outputs(fn(*inputs))])
    finally:
        _set_element(node, i, x)
    return (plus - minus) / (2 * eps)


def _analytic(fn, inputs, checked) -> np.ndarray:
    """Rows: output elements; columns: the elements of the checked inputs, one after the other."""
    rows = []
    width = sum(np.size(n.data) for n in checked)
    for out in _outputs(fn(*inputs)):
        if not out.requires_grad:  # no graph to run backward on: every derivative is 0
            rows += [np.zeros(width)] * np.size(out.data)
            continue
        for j in range(np.size(out.data)):
            for node in checked:
                node.zero_grad()
            seed = np.zeros(np.shape(out.data))
            seed.reshape(-1)[j] = 1.0
            out.backward(seed if isinstance(out.data, np.ndarray) else 1.0)
            rows.append(np.concatenate([_flat(0.0 if n.grad is None else n.grad) * np.ones(np.size(n.data))
                                        for n in checked]))
    return np.array(rows)


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, *,
              raise_exception: bool = True) -> bool:
    """Check fn's analytic gradients with respect to `inputs` (one Value or Tensor, or a sequence
    of them) against finite differences.

    Returns True, or raises GradcheckError naming the input index, the element index, the output
    element, and the analytic and numeric values; with raise_exception=False it returns False
    instead, as torch.autograd.gradcheck does. Misuse (float32 inputs, no input that requires grad,
    fn returning anything but Values or Tensors, a call under no_grad()) raises either way. Inputs'
    `.grad` are left as they were.
    """
    if not is_grad_enabled():
        raise RuntimeError("gradcheck: called under no_grad(), where no graph is recorded: there is no analytic "
                           "gradient to check")
    inputs = (inputs,) if isinstance(inputs, Node) else tuple(inputs)
    for k, x in enumerate(inputs):
        if isinstance(x, Node) and np.asarray(x.data).dtype != np.float64:
            raise TypeError(f"gradcheck: input {k} is {np.asarray(x.data).dtype}; finite differences need float64")
    checked = [x for x in inputs if isinstance(x, Node) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    saved = [x.grad for x in checked]
    try:
        analytic = _analytic(fn, inputs, checked)
    finally:
        for x, g in zip(checked, saved):
            x.grad = g
    column = 0
    for node in checked:
        k = next(index for index, x in enumerate(inputs) if x is node)
        for i in range(np.size(node.data)):
            numeric = _numeric(fn, inputs, node, i, eps)
            a = analytic[:, column]
            bad = np.abs(a - numeric) > atol + rtol * np.abs(numeric)
            if bad.any():
                if not raise_exception:
                    return False
                j = int(np.argmax(bad))
                where = tuple(int(n) for n in np.unravel_index(i, np.shape(node.data)))
                raise GradcheckError(
                    f"gradcheck: gradient of output element {j} with respect to input {k}, element {where}: "
                    f"analytic {a[j]:.10g} vs numeric {numeric[j]:.10g} (difference {abs(a[j] - numeric[j]):.3g}, "
                    f"allowed {atol + rtol * abs(numeric[j]):.3g})")
            column += 1
    return True
