"""Exercise 1: the backward of mul, div and pow on the scalar engine.

An op is a Function: `forward` turns raw numbers into a result, `backward` receives
grad = d(loss)/d(out) and returns d(loss)/d(input) for each input. That is the chain rule:

    d loss / d a  =  d loss / d out  *  d out / d a  =  grad * (d out / d a)

so each backward is "grad times the local derivative", once per input:

    out = a * b      d out / d a = b                  d out / d b = a
    out = a / b      d out / d a = 1 / b              d out / d b = -a / b**2
    out = a ** b     d out / d a = b * a**(b - 1)     d out / d b = a**b * ln(a)

Worked example: a = 2, b = -3, out = a * b = -6, and say grad = 0.5. Then d loss / d a = 0.5 * -3 = -1.5
and d loss / d b = 0.5 * 2 = 1.0: each input's gradient is the OTHER input times grad.

`forward` keeps what `backward` will need with `ctx.save_for_backward(...)`; `backward` reads it back
from `ctx.saved_tensors`. An exponent is often a plain number (x ** 2): then b is a constant, not a
node, and needs no gradient; `ctx.needs_input_grad[1]` is False and you return None for it.

Fill in the three `backward`s below (the places marked `exercise 1`), then run
`tinygrad-bn exercises check 1`. The checker builds a graph of Values with YOUR classes and compares
every node's gradient with a finite difference; if one is wrong it names the first wrong node and
the op whose backward sent it.
"""
import math

from tinygrad_bn import Function


class Mul(Function):
    """out = a * b;   d out/d a = b,   d out/d b = a"""
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        # ---- exercise 1: your code here: return (d loss / d a, d loss / d b)
        raise NotImplementedError("exercise 1: Mul.backward is not written yet")


class Div(Function):
    """out = a / b;   d out/d a = 1/b,   d out/d b = -a / b**2"""
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        # ---- exercise 1: your code here: return (d loss / d a, d loss / d b)
        raise NotImplementedError("exercise 1: Div.backward is not written yet")


class Pow(Function):
    """out = a ** b;   d out/d a = b * a**(b-1),   d out/d b = a**b * ln(a)
    (ln(a) needs a > 0, which holds where b is a node; with a plain-number b, a may be negative)"""
    @staticmethod
    def forward(ctx, a, b):
        out = a ** b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved_tensors
        # ---- exercise 1: your code here: return (d loss / d a, d loss / d b), with None for d loss / d b
        #      when b is a plain number (ctx.needs_input_grad[1] is False); math.log is imported for you
        raise NotImplementedError("exercise 1: Pow.backward is not written yet")
