"""Batch normalization (composed from primitives, or one fused op) and the losses, PyTorch-style.

Batch norm, as the lecture computes it, for each channel c over the batch (and any spatial axes):

    mean  = sum(x) / N                      3, 5, 8, 9, 11, 24  ->  mean 10
    var   = sum((x - mean)**2) / N          (the population variance)  ->  46
    x_hat = (x - mean) / sqrt(var + eps)    ->  -1.03, -0.74, -0.29, -0.15, 0.15, 2.06
    y     = gamma * x_hat + beta            gamma (weight) and beta (bias) are learned

`fused=False` builds that as nine graph nodes you can draw and check one by one; `fused=True` is one
node, BatchNormFn, whose backward is the closed form derived in its docstring.
"""
from __future__ import annotations

import math

import numpy as np

from .function import Function
from .graph import Node, group
from .sums import sum_over
from .tensor import Tensor, _array
from .value import Value

_LAYOUTS = {2: "(N, C)", 3: "(N, C, L)", 4: "(N, C, H, W)"}  # ndim -> how that input layout is written


def _layouts_text(ndims) -> str:
    """How the layouts with these numbers of dimensions are written: "(N, C), (N, C, L) or (N, C, H, W)"."""
    *rest, last = (_LAYOUTS[ndim] for ndim in ndims)
    return f"{', '.join(rest)} or {last}" if rest else last


def _stat_axes(x: Tensor, where: str) -> tuple:
    """The axes batch statistics are taken over: every axis but the channel axis 1."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{where}: expected a Tensor (or a list of Values), got {type(x).__name__}")
    if x.ndim not in _LAYOUTS:
        raise ValueError(f"{where}: expected input of shape {_layouts_text(_LAYOUTS)}, got {x.shape}")
    return (0,) + tuple(range(2, x.ndim))


def _channel_shape(x: Tensor) -> tuple:
    """Shape that lines a per-channel (C,) array up with x's axis 1 under numpy's broadcasting (which
    matches trailing axes): (C,) itself for (N, C), (C, 1) for (N, C, L), (C, 1, 1) for (N, C, H, W)."""
    return (x.shape[1],) + (1,) * (x.ndim - 2)


def _check_param(p, x: Tensor, name: str, where: str):
    if p is None:
        return
    if not isinstance(p, Tensor):
        hint = ""
        if where == "batch_norm" and isinstance(p, np.ndarray):  # batch_norm(x, running_mean, running_var)?
            hint = ("; running statistics go by keyword, running_mean=..., running_var=... (PyTorch's "
                    "F.batch_norm takes them second and third)")
        raise TypeError(f"{where}: {name} must be a Tensor of shape ({x.shape[1]},), got {type(p).__name__}{hint}")
    if p.shape != (x.shape[1],):
        raise ValueError(f"{where}: {name} has shape {p.shape}, expected ({x.shape[1]},) for input of shape {x.shape}")


def _check_batch(count: int, shape, where: str):
    if count < 2:
        raise ValueError(f"{where}: expected more than 1 value per channel when training, got input of shape {shape}")


def batch_norm(x, weight=None, bias=None, *, eps: float = 1e-5, fused: bool = False,
               running_mean=None, running_var=None):
    """Normalize x with its own batch statistics (training) or with given running statistics (eval).

    x: a Tensor (N, C), (N, C, L) or (N, C, H, W), statistics per channel over every other axis;
       or a list of Values (one feature over a batch), which always takes the composed path.
    weight, bias: gamma and beta, shape (C,) (a Value each for the scalar path), or None.
    running_mean, running_var: numpy arrays or Tensors (C,); when given, they replace the batch statistics
       (what BatchNorm does in eval()); they are constants of the graph, never differentiated.
    """
    if isinstance(x, (list, tuple)):
        if running_mean is not None or running_var is not None:
            raise ValueError("batch_norm: running statistics apply to Tensors; a list of Values is always "
                             "normalized with its own batch statistics")
        return _batch_norm_values(list(x), weight, bias, eps)
    if running_mean is not None or running_var is not None:
        return _batch_norm_eval(x, weight, bias, eps, running_mean, running_var)
    out, _, _ = batch_norm_train(x, weight, bias, eps, fused)
    return out


def _check_batch_norm_args(x, weight, bias) -> tuple:
    """A Tensor of a layout batch norm knows and parameters of its channel count, or a clear error;
    returns the axes the statistics are taken over."""
    axes = _stat_axes(x, "batch_norm")
    _check_param(weight, x, "weight", "batch_norm")
    _check_param(bias, x, "bias", "batch_norm")
    return axes


def batch_norm_train(x: Tensor, weight, bias, eps: float, fused: bool):
    """Batch norm with batch statistics; returns (out, batch mean, biased batch var) for BatchNorm's
    running averages (the statistics as (C,) numpy arrays, taken from the graph, not recomputed)."""
    axes = _check_batch_norm_args(x, weight, bias)
    _check_batch(math.prod(x.shape[:1] + x.shape[2:]), x.shape, "batch_norm")
    if fused:
        out = BatchNormFn.apply(x, weight, bias, eps)
        if out._ctx is None:  # no graph was recorded (no_grad): the statistics were not kept
            return out, x.data.mean(axis=axes), x.data.var(axis=axes)
        return out, out._ctx.mean, out._ctx.var
    shape = _channel_shape(x)
    with group("batch_norm"):
        mean = _named(x.mean(axis=axes, keepdims=True), "mean")
        centered = _named(x - mean, "x - mean")
        var = _named(_named(centered ** 2, "(x - mean)^2").mean(axis=axes, keepdims=True), "var")
        std = _named(_named(var + eps, "var + eps").sqrt(), "std")
        out = _named(centered / std, "x_hat")
        out = _affine(out, weight, bias, shape)
    return out, mean.data.reshape(-1), var.data.reshape(-1)


def _named(node: Node, label: str) -> Node:
    node.label = label
    return node


def _affine(x_hat, weight, bias, shape):
    """gamma * x_hat + beta, each step its own labelled node; gamma and beta reshaped to `shape` to
    broadcast along the channel axis (a Reshape node each), except for (N, C), where (C,) already does."""
    out = x_hat
    if weight is not None:
        gamma = _named(weight.reshape(shape), "gamma") if len(shape) > 1 else weight
        out = _named(gamma * out, "gamma * x_hat")
    if bias is not None:
        beta = _named(bias.reshape(shape), "beta") if len(shape) > 1 else bias
        out = _named(out + beta, "gamma * x_hat + beta" if weight is not None else "x_hat + beta")
    return out


def _batch_norm_eval(x: Tensor, weight, bias, eps, running_mean, running_var):
    """(x - running_mean) / sqrt(running_var + eps), then the affine step; the statistics are constants."""
    _check_batch_norm_args(x, weight, bias)
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    shape = _channel_shape(x)
    stats = []
    for name, stat in (("running_mean", running_mean), ("running_var", running_var)):
        stat = np.asarray(stat.data if isinstance(stat, Tensor) else stat)
        if stat.shape != (x.shape[1],):
            raise ValueError(f"batch_norm: {name} has shape {stat.shape}, expected ({x.shape[1]},) "
                             f"for input of shape {x.shape}")
        stats.append(stat.astype(x.dtype).reshape(shape))
    mean, var = stats
    std = np.sqrt(var + eps)
    with group("batch_norm"):
        x_hat = _named(_named(x - mean, "x - running_mean") / std, "x_hat")
        return _affine(x_hat, weight, bias, shape)


def _batch_norm_values(xs: list, weight, bias, eps: float) -> list:
    """The scalar engine's batch norm: one feature, a batch of Values, the same primitive steps."""
    if not xs or not all(isinstance(v, Value) for v in xs):
        raise TypeError("batch_norm: a scalar batch must be a non-empty list of Values")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and not isinstance(p, Value):
            raise TypeError(f"batch_norm: {name} for a list of Values must be a Value, got {type(p).__name__}")
    _check_batch(len(xs), f"[{len(xs)} Values]", "batch_norm")
    n = len(xs)
    with group("batch_norm"):
        mean = _named(sum(xs[1:], xs[0]) / n, "mean")
        centered = [_named(v - mean, "x - mean") for v in xs]
        squares = [_named(c ** 2, "(x - mean)^2") for c in centered]
        var = _named(sum(squares[1:], squares[0]) / n, "var")
        std = _named(_named(var + eps, "var + eps").sqrt(), "std")
        outs = []
        for c in centered:
            out = _named(c / std, "x_hat")
            if weight is not None:
                out = _named(weight * out, "gamma * x_hat")
            if bias is not None:
                out = _named(out + bias, "gamma * x_hat + beta" if weight is not None else "x_hat + beta")
            outs.append(out)
    return outs


class BatchNormFn(Function):
    """Batch norm as one op, with the closed-form backward.

    Forward, per channel over the n values reduced together (N, or N*L, or N*H*W):
        mu = mean(x),  var = mean((x - mu)**2),  r = 1 / sqrt(var + eps)
        x_hat = (x - mu) * r,   y = gamma * x_hat + beta

    Backward, with g = dL/dy (means and sums per channel):
        dL/dbeta  = sum(g)              dL/dgamma = sum(g * x_hat)
        dL/dx     = gamma * r * (g - mean(g) - x_hat * mean(g * x_hat))
    Derivation: x_hat_i depends on x_j directly and through mu and var. With d mu/d x_j = 1/n and
    d var/d x_j = 2 (x_j - mu)/n,  d x_hat_i/d x_j = r * (delta_ij - 1/n - x_hat_i x_hat_j / n).
    Then dL/dx_j = sum_i (g_i gamma) d x_hat_i/d x_j, which is the line above.

    Computed for speed (benchmarks/batch_norm.py), the same formulas: x is viewed as (N, C, L), with
    L = 1 or the spatial size, so a per-channel sum is `sum_over(a, (0, 2))` and a per-channel sum of
    products one np.einsum, each reading its arrays once and allocating nothing of their size.
    x_hat is never stored: with c = x - mu, gamma * x_hat = c * (gamma r) is one pass over c, and
    sum(g * x_hat) = r * sum(g * c). Forward allocates two arrays of x's size (c, saved; y, shifted in
    place by beta); backward one (dL/dx, built in place). Fewer arrays and passes is the point: fresh
    memory costs a page fault per page on first touch, more than the arithmetic done in it.
    """
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        ctx.shape = x.shape
        x = x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))  # (N, C, L): a view of x
        n = x.shape[0] * x.shape[2]
        mean = sum_over(x, (0, 2)) / n
        centered = x - mean[:, None]                               # c = x - mu
        var = np.einsum("ncl,ncl->c", centered, centered) / n
        r = 1.0 / np.sqrt(var + eps)
        ctx.centered, ctx.r, ctx.n, ctx.gamma, ctx.mean, ctx.var = centered, r, n, weight, mean, var
        scale = r if weight is None else weight * r                # gamma * r, per channel
        out = centered * scale[:, None]                            # gamma * x_hat
        if bias is not None:
            if out.dtype != np.promote_types(out.dtype, bias.dtype):
                out = out + bias[:, None]
            else:
                out += bias[:, None]                               # in place: no third array
        return out.reshape(ctx.shape)

    @staticmethod
    def backward(ctx, grad):
        centered, r, n = ctx.centered, ctx.r, ctx.n
        grad = grad.reshape(centered.shape)
        grad_bias = sum_over(grad, (0, 2))                         # sum(g)
        grad_weight = np.einsum("ncl,ncl->c", grad, centered) * r  # sum(g * x_hat) = r sum(g * c)
        scale = r if ctx.gamma is None else ctx.gamma * r          # gamma * r
        grad_x = np.empty(ctx.shape, np.result_type(grad, centered, scale))
        dx = grad_x.reshape(centered.shape)                        # the same memory, as (N, C, L)
        np.multiply(centered, (grad_weight * r / n)[:, None], out=dx)  # x_hat * mean(g * x_hat)
        np.subtract(grad, dx, out=dx)                              # g - x_hat * mean(g * x_hat)
        dx -= (grad_bias / n)[:, None]                             #   - mean(g)
        dx *= scale[:, None]                                       # times gamma * r
        return grad_x, grad_weight, grad_bias, None


# ---------------------------------------------------------------- losses

def mse_loss(input: Tensor, target) -> Tensor:
    """mean((input - target)**2) over every element, as torch.nn.functional.mse_loss."""
    if not isinstance(input, Tensor):
        raise TypeError(f"mse_loss: input must be a Tensor, got {type(input).__name__}")
    if not isinstance(target, Tensor):
        target = _array(target, "mse_loss: target", input.dtype)
    if target.shape != input.shape:
        raise ValueError(f"mse_loss: input has shape {input.shape}, target has shape {target.shape}")
    return ((input - target) ** 2).mean()


def cross_entropy(logits: Tensor, targets) -> Tensor:
    """Mean over the batch of -log softmax(logits)[target]; logits (N, C), targets N class indices.

    log softmax(z)_k = z_k - m - log(sum_j exp(z_j - m)), with m = max_j z_j held constant: shifting by
    m changes nothing mathematically and keeps exp from overflowing.
    """
    if not isinstance(logits, Tensor):
        raise TypeError(f"cross_entropy: logits must be a Tensor of shape (N, C), got {type(logits).__name__}")
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got {logits.shape}")
    targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    n, c = logits.shape
    if targets.shape != (n,):
        raise ValueError(f"cross_entropy: targets must have shape ({n},) for logits of shape {logits.shape}, "
                         f"got {targets.shape}")
    if targets.dtype.kind not in "iu" and not (targets.dtype.kind == "f" and np.all(targets == np.round(targets))):
        raise TypeError(f"cross_entropy: targets must be integer class indices, got dtype {targets.dtype}")
    targets = targets.astype(np.int64)
    if n and (targets.min() < 0 or targets.max() >= c):
        raise ValueError(f"cross_entropy: target class out of range [0, {c}): got {targets.min()}..{targets.max()}")
    one_hot = np.zeros(logits.shape, dtype=logits.dtype)
    one_hot[np.arange(n), targets] = 1
    shifted = logits - logits.data.max(axis=1, keepdims=True)
    log_probs = shifted - shifted.exp().sum(axis=1, keepdims=True).log()
    return -(log_probs * one_hot).sum() / n


def hinge_loss(scores, targets) -> Node:
    """mean(max(0, 1 - y * score)) with labels y in {-1, +1}: the SVM loss micrograd's demo uses.

    scores: a Tensor (N,) or a list of Values; targets: N labels, each -1 or +1.
    """
    targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets, dtype=np.float64)
    if targets.size == 0:
        raise ValueError("hinge_loss: needs at least one score and target, got none")
    if not np.all(np.abs(targets) == 1):
        raise ValueError(f"hinge_loss: targets must be -1 or +1, got values {np.unique(targets)[:5]}")
    if isinstance(scores, Tensor):
        if scores.shape != targets.shape:
            raise ValueError(f"hinge_loss: scores have shape {scores.shape}, targets {targets.shape}")
        return (1 - scores * targets.astype(scores.dtype)).relu().mean()
    given = type(scores).__name__
    try:
        scores = list(scores)
    except TypeError:
        scores = None
    if scores is None or not all(isinstance(s, Value) for s in scores):
        what = given if scores is None else f"{given} of {sorted({type(s).__name__ for s in scores})}"
        raise TypeError(f"hinge_loss: scores must be a Tensor (N,) or a list of Values, got {what}")
    if len(scores) != len(targets):
        raise ValueError(f"hinge_loss: {len(scores)} scores but {len(targets)} targets")
    losses = [(1 - s * float(y)).relu() for s, y in zip(scores, targets)]
    return sum(losses[1:], losses[0]) * (1.0 / len(losses))
