"""Value: the scalar engine. One Python float per node, micrograd's habits (`.data`, `.grad`).

    a = Value(2.0, label="a"); b = Value(-3.0, label="b")
    c = (a * b + 1).tanh(); c.backward()
    a.grad  # dc/da = (1 - c**2) * b

Values require grad by default (as in micrograd); `.grad` starts at 0.0 and accumulates.
"""
from __future__ import annotations

import numbers

import numpy as np

from .graph import Node
from .operators import Operators


def _real(x, where: str) -> float:
    """x as a float if it is a real number (a Python or numpy scalar), else a TypeError."""
    if isinstance(x, float):  # the common case first: np.exp, np.tanh, ... return np.float64, a float subclass
        return float(x)
    if isinstance(x, (numbers.Real, np.number)) and not isinstance(x, (complex, np.complexfloating)):
        return float(x)
    if isinstance(x, np.ndarray) and x.ndim == 0 and x.dtype.kind in "biuf":
        return float(x)
    raise TypeError(f"{where}: a Value holds one real number, got {type(x).__name__} {x!r:.60}")


class Value(Operators, Node):
    """A scalar node of the graph. `Value(data, label=None, requires_grad=True)`."""
    __slots__ = ()

    _empty_grad = 0.0

    def __init__(self, data, label: str | None = None, requires_grad: bool = True):
        super().__init__(_real(data, "Value"), requires_grad, label)

    def __repr__(self):
        """Every digit, as micrograd prints a Value (diagrams and listings round to 4 significant digits)."""
        name = f"{self.label}: " if self.label else ""
        grad = None if self.grad is None else float(self.grad)  # (p.data -= lr * p.grad may leave numpy floats)
        return f"Value({name}data={float(self.data)!r}, grad={grad!r})"

    def __format__(self, spec: str) -> str:
        """f"{loss:.4f}" formats the number (f"{loss}" is the repr)."""
        return format(self.data, spec) if spec else str(self)

    def detach(self) -> Value:
        """A new leaf with the same number and no history."""
        return Value(self.data, requires_grad=False)

    # ---- the engine's side of the node protocol (called by function.py and graph.py)

    @staticmethod
    def _result(data, fn) -> float:
        if type(data) is float:
            return data
        if isinstance(data, complex):  # (-8.0) ** (1/3) in Python
            raise ValueError(f"{fn.__name__}: the result {data:.4g} is not a real number "
                             f"(a Tensor would give nan here)")
        return _real(data, f"{fn.__name__}.forward")

    @staticmethod
    def _operand(other, op: str):
        if type(other) is float or isinstance(other, Node):
            return other
        return _real(other, f"Value {op}")

    @staticmethod
    def _describe(raw) -> str:
        return repr(raw)

    def _seed_grad(self, grad) -> float:
        return 1.0 if grad is None else _real(grad, "backward(grad)")

    def _add_to_grad(self, g) -> None:
        self.grad = g if self.grad is None else self.grad + g  # None: zeroed PyTorch's way, p.grad = None

    def _conform_grad(self, g, fn, index: int) -> float:
        if type(g) is float:
            return g
        if np.ndim(g) != 0:
            raise ValueError(f"{fn.__name__}.backward returned a gradient of shape {np.shape(g)} "
                             f"for input {index}, a Value (one number)")
        return _real(g, f"{fn.__name__}.backward")
