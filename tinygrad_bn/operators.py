"""The Python operators and elementwise methods, written once for Value and Tensor.

Each method is one line that calls the op's Function (ops.py): `a * b` is `Mul.apply(a, b)`. A
number on either side is passed to the Function as a constant, not turned into a node: it shows in
listings as a literal and gets no gradient.
"""
from . import ops


class Operators:
    """Mixed into Value and Tensor. `_operand(other, op)` (defined by each engine) checks `other`."""
    __slots__ = ()
    __array_ufunc__ = None  # numpy must hand `array + node` to our __radd__, not loop over elements

    def __add__(self, other):
        return ops.Add.apply(self, self._operand(other, "+"))

    def __radd__(self, other):
        return ops.Add.apply(self._operand(other, "+"), self)

    def __sub__(self, other):
        return ops.Sub.apply(self, self._operand(other, "-"))

    def __rsub__(self, other):
        return ops.Sub.apply(self._operand(other, "-"), self)

    def __mul__(self, other):
        return ops.Mul.apply(self, self._operand(other, "*"))

    def __rmul__(self, other):
        return ops.Mul.apply(self._operand(other, "*"), self)

    def __truediv__(self, other):
        return ops.Div.apply(self, self._operand(other, "/"))

    def __rtruediv__(self, other):
        return ops.Div.apply(self._operand(other, "/"), self)

    def __pow__(self, other):
        return ops.Pow.apply(self, self._operand(other, "**"))

    def __rpow__(self, other):
        return ops.Pow.apply(self._operand(other, "**"), self)

    def __neg__(self):
        return ops.Neg.apply(self)

    def exp(self):
        return ops.Exp.apply(self)

    def log(self):
        return ops.Log.apply(self)

    def tanh(self):
        return ops.Tanh.apply(self)

    def relu(self):
        return ops.ReLU.apply(self)

    def sigmoid(self):
        return ops.Sigmoid.apply(self)

    def sqrt(self):
        return ops.Sqrt.apply(self)
