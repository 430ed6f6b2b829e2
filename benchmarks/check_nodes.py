"""What checking every node costs: check_nodes against gradcheck on the same batch-norm graphs.

    python benchmarks/check_nodes.py [--repeats N]

gradcheck perturbs the inputs only and re-runs the whole function per element; check_nodes perturbs
EVERY node, element by element, and re-runs only the ops downstream of it (replay), then checks each
edge into the first wrong node (not timed here: every graph below is right). For composed batch
norms (N, C) with weight and bias on the tensor engine, and the lecture's six numbers on the scalar
engine, each repeat times both checkers back to back (the order alternating) and takes the ratio
within the repeat; the table shows medians over repeats, CPU time (time.process_time).
"""
import argparse
import statistics
import time

import numpy as np

from tinygrad_bn import Tensor, Value, check_nodes, gradcheck
from tinygrad_bn.examples import LECTURE_INPUTS
from tinygrad_bn.functional import batch_norm
from tinygrad_bn.graph import topological_order

SHAPES = [(4, 3), (16, 8), (64, 16)]


def tensor_case(shape):
    rng = np.random.default_rng(0)
    x = Tensor(rng.normal(size=shape), requires_grad=True, label="x")
    w = Tensor(rng.uniform(0.5, 1.5, size=shape[1]), requires_grad=True, label="weight")
    b = Tensor(rng.normal(size=shape[1]), requires_grad=True, label="bias")
    weights = rng.normal(size=shape)

    def fn(x, w, b):
        return (batch_norm(x, w, b) * weights).sum()
    return f"tensor {shape}", fn, [x, w, b]


def lecture_case():
    xs = [Value(v, label=f"x{i + 1}") for i, v in enumerate(LECTURE_INPUTS)]
    gamma, beta = Value(2.0, label="gamma"), Value(0.5, label="beta")

    def fn(gamma, beta, *xs):
        ys = batch_norm(list(xs), gamma, beta)
        return sum((y * float(i + 1) for i, y in enumerate(ys[1:], start=1)), ys[0] * 1.0)
    return "lecture (Values)", fn, [gamma, beta] + xs


def timed(call):
    start = time.process_time()
    result = call()
    return time.process_time() - start, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"{'graph':<18} {'nodes':>5} {'elements':>8} {'check_nodes s':>13} {'gradcheck s':>11} {'ratio':>6}")
    for name, fn, inputs in [lecture_case()] + [tensor_case(s) for s in SHAPES]:
        loss = fn(*inputs)
        order = topological_order(loss)
        elements = sum(int(np.size(n.data)) for n in order)
        ours, theirs, ratios = [], [], []
        for repeat in range(args.repeats):
            runs = {}
            for which in (("nodes", "grad") if repeat % 2 == 0 else ("grad", "nodes")):
                if which == "nodes":
                    runs[which], report = timed(lambda: check_nodes(loss))
                    assert report.ok, report
                else:
                    runs[which], ok = timed(lambda: gradcheck(fn, inputs))
                    assert ok
            ours.append(runs["nodes"])
            theirs.append(runs["grad"])
            ratios.append(runs["nodes"] / runs["grad"])
        print(f"{name:<18} {len(order):>5} {elements:>8} {statistics.median(ours):>13.4f} "
              f"{statistics.median(theirs):>11.4f} {statistics.median(ratios):>6.2f}")


if __name__ == "__main__":
    main()
