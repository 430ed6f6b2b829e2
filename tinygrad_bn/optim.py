"""Optimizers: SGD and Adam with PyTorch's exact update rules.

    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for x, y in batches:
        opt.zero_grad()                   # forget last step's gradients (they would add up)
        loss = functional.cross_entropy(model(x), y)
        loss.backward()                   # fill every parameter's .grad
        opt.step()                        # move every parameter's .data against its gradient

An optimizer keeps the list of parameter Tensors it was given and updates their `.data` in place, as
PyTorch does, so the model (which holds the same Tensors) and any view of the arrays (`w.numpy()`)
see the new values. A graph built before a step holds the same arrays: build it again after the step
before calling its backward (PyTorch refuses such a backward; this engine would use the new values).
A parameter whose `.grad` is None (no backward pass reached it) is skipped, and its optimizer state
does not advance. Only leaves can be optimized: a Tensor that an op made is refused, as in PyTorch.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .tensor import Tensor


def _hyperparameter(where: str, name: str, value, below: float | None = None) -> float:
    """value as a float if 0 <= value (and value < below, when given), else an error naming it."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{where}: {name} must be a number, got {type(value).__name__} {value!r}")
    if not (value >= 0 and (below is None or value < below)):
        bound = ">= 0" if below is None else f"in [0, {below})"
        raise ValueError(f"{where}: invalid {name} {value!r}: it must be {bound}")
    return float(value)


class Optimizer:
    """What SGD and Adam share: the parameter list (and the checks on it), weight decay, zero_grad(),
    and the walk over the parameters that have a gradient."""

    def __init__(self, params, where: str, weight_decay: float):
        if isinstance(params, Tensor):
            raise TypeError(f"{where}: params must be an iterable of Tensors (e.g. model.parameters()), "
                            f"got a single Tensor; wrap it in a list")
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"{where}: params must be an iterable of Tensors, got {type(params).__name__}") from None
        if not params:
            raise ValueError(f"{where}: got an empty parameter list")
        seen = set()
        for index, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{where}: parameter {index} is a {type(p).__name__}, not a Tensor")
            if not p.is_leaf:
                raise ValueError(f"{where}: parameter {index} ({p.label or 'unlabelled'}) was made by an op "
                                 f"({p.op}), not a leaf: make it a leaf, Tensor(data, requires_grad=True)")
            if id(p) in seen:
                raise ValueError(f"{where}: parameter {index} ({p.label or 'unlabelled'}) appears more than once")
            seen.add(id(p))
        self.params = params
        self.weight_decay = _hyperparameter(where, "weight_decay", weight_decay)

    def zero_grad(self) -> None:
        """Set every parameter's .grad to None (as PyTorch does by default)."""
        for p in self.params:
            p.zero_grad()

    def step(self) -> None:
        raise NotImplementedError

    def _gradients(self):
        """(index, p, g) for every parameter p with a gradient, g including weight decay:
        g = p.grad + weight_decay * p, the gradient of an L2 penalty weight_decay/2 * |p|**2."""
        for index, p in enumerate(self.params):
            if p.grad is not None:
                yield index, p, (p.grad + self.weight_decay * p.data if self.weight_decay else p.grad)


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum and weight decay as PyTorch writes them.

    For each parameter p with gradient g, every step:
        g = g + weight_decay * p            (the gradient of an L2 penalty weight_decay/2 * |p|**2)
        buf = g                             on p's first step (if momentum)
        buf = momentum * buf + g            on later steps    (dampening 0)
        g = buf
        p = p - lr * g
    This is PyTorch's form: the momentum buffer is in units of gradient and lr applies after it, not
    the v = momentum * v - lr * g of Sutskever et al. (the two agree while lr stays constant).
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params, "SGD", weight_decay)
        self.lr = _hyperparameter("SGD", "lr", lr)
        self.momentum = _hyperparameter("SGD", "momentum", momentum)
        self.momentum_buffers = [None] * len(self.params)  # one per parameter, made on its first step

    def step(self) -> None:
        for index, p, g in self._gradients():
            if self.momentum:
                buf = self.momentum_buffers[index]
                if buf is None:
                    buf = self.momentum_buffers[index] = g.copy()
                else:
                    buf *= self.momentum
                    buf += g
                g = buf
            p.data -= self.lr * g


class Adam(Optimizer):
    """Adam (Kingma and Ba), as PyTorch computes it, with L2 weight decay (not AdamW's).

    For each parameter p with gradient g, on its step t = 1, 2, ...:
        g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g             running mean of gradients     (m starts at 0)
        v = beta2 * v + (1 - beta2) * g**2          running mean of their squares (v starts at 0)
        m_hat = m / (1 - beta1**t)                  bias correction: m and v start at 0, so early
        v_hat = v / (1 - beta2**t)                  averages are too small by exactly this factor
        p = p - lr * m_hat / (sqrt(v_hat) + eps)
    Like PyTorch, eps is added to sqrt(v) / sqrt(1 - beta2**t), and t counts the steps on which p had
    a gradient. On the first step m_hat / sqrt(v_hat) = g / |g|: every element moves by about lr.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, "Adam", weight_decay)
        self.lr = _hyperparameter("Adam", "lr", lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"Adam: betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (_hyperparameter("Adam", "beta1 (betas[0])", betas[0], below=1.0),
                      _hyperparameter("Adam", "beta2 (betas[1])", betas[1], below=1.0))
        self.eps = _hyperparameter("Adam", "eps", eps)
        self.steps = [0] * len(self.params)       # t, per parameter
        self.exp_avg = [None] * len(self.params)     # m, per parameter
        self.exp_avg_sq = [None] * len(self.params)  # v, per parameter

    def step(self) -> None:
        beta1, beta2 = self.betas
        for index, p, g in self._gradients():
            if self.exp_avg[index] is None:
                self.exp_avg[index] = np.zeros_like(p.data)
                self.exp_avg_sq[index] = np.zeros_like(p.data)
            self.steps[index] += 1
            t = self.steps[index]
            m, v = self.exp_avg[index], self.exp_avg_sq[index]
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * (g * g)
            step_size = self.lr / (1 - beta1 ** t)
            denom = np.sqrt(v) / math.sqrt(1 - beta2 ** t) + self.eps  # a Python float: float32 stays float32
            p.data -= step_size * (m / denom)
