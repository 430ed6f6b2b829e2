"""Small built-in graphs to draw, list and step through (`tinygrad-bn draw lecture`, `draw bn`).

Each returns the loss after `loss.backward()`, so every node already holds its gradient. The
`example` and `--layout` arguments that name one are shared by `draw` and `step` (the end of this file).
"""
from __future__ import annotations

import numpy as np

from .functional import _LAYOUTS, batch_norm
from .tensor import Tensor
from .value import Value

LECTURE_INPUTS = (3.0, 5.0, 8.0, 9.0, 11.0, 24.0)

# Input shapes for batch_norm_example, named after the PyTorch module that takes them.
LAYOUTS = {"1d": (4, 3), "1d-seq": (2, 3, 4), "2d": (2, 3, 2, 2)}


def lecture_example() -> Value:
    """The lecture's six numbers through batch norm on the scalar engine, then a loss, then backward.

        x = 3, 5, 8, 9, 11, 24   mean 10, var 46, x_hat = -1.03, -0.74, -0.29, -0.15, 0.15, 2.06
        y_i = gamma * x_hat_i + beta        gamma = 2, beta = 0.5 (not 1 and 0, so that neither
                                            step can hide a wrong gradient)
        loss = 1 y_1 + 2 y_2 + ... + 6 y_6  (weights make dloss/dy_i = i: every x gets a
                                            different, non-zero gradient)
    """
    xs = [Value(x, label=f"x{i + 1}") for i, x in enumerate(LECTURE_INPUTS)]
    gamma, beta = Value(2.0, label="gamma"), Value(0.5, label="beta")
    ys = batch_norm(xs, gamma, beta)
    loss = ys[0] * 1.0
    for weight, y in enumerate(ys[1:], start=2):
        loss = loss + y * float(weight)
    loss.label = "loss"
    loss.backward()
    return loss


def batch_norm_example(layout: str = "1d", seed: int = 0) -> Tensor:
    """A small batch through the composed batch norm on the tensor engine, a weighted-sum loss, backward.

    layout: "1d" an (N, C) = (4, 3) batch (BatchNorm1d), "1d-seq" (N, C, L) = (2, 3, 4) (BatchNorm1d
    on sequences), "2d" (N, C, H, W) = (2, 3, 2, 2) (BatchNorm2d). gamma and beta are not 1 and 0.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"batch_norm_example: layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    rng = np.random.default_rng(seed)
    shape = LAYOUTS[layout]
    channels = shape[1]
    x = Tensor(rng.normal(2.0, 3.0, size=shape), requires_grad=True, label="x")
    gamma = Tensor(rng.uniform(0.5, 1.5, size=channels), requires_grad=True, label="gamma")
    beta = Tensor(rng.uniform(-0.5, 0.5, size=channels), requires_grad=True, label="beta")
    y = batch_norm(x, gamma, beta)
    loss = (y * np.linspace(-1.0, 1.0, y.numel()).reshape(shape)).sum()
    loss.label = "loss"
    loss.backward()
    return loss


def example(name: str, layout: str | None = None):
    """The built-in example called `name` ("lecture" or "bn", the latter in `layout`, default 1d)."""
    return lecture_example() if name == "lecture" else batch_norm_example(layout or "1d")


# ---------------------------------------------------------------- the command-line arguments naming one

def add_example_arguments(parser) -> None:
    """Add the `example` and `--layout` arguments (for `draw` and `step`)."""
    parser.add_argument("example", choices=("lecture", "bn"),
                        help="lecture: the lecture's six numbers on the scalar engine; bn: a small Tensor batch norm")
    layouts = ", ".join(f"{name} {_LAYOUTS[len(shape)]}" for name, shape in LAYOUTS.items())
    parser.add_argument("--layout", choices=tuple(LAYOUTS), help=f"input layout for bn: {layouts} (default 1d)")


def example_from_args(args, parser):
    """The example the arguments name; --layout with the lecture example is a usage error (parser.error:
    usage and message on stderr, exit status 2)."""
    if args.layout is not None and args.example != "bn":
        parser.error("--layout applies to the bn example only")
    return example(args.example, args.layout)
