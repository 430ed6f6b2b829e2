"""The scalar engine's speed: one training step of micrograd's demo MLP, ours against micrograd 0.1.0.

    python benchmarks/scalar_engine.py [--repeats N] [--loop-steps N] [--loop-repeats N]

A step is micrograd's demo: zero the gradients, run an MLP(2 -> 16 -> 16 -> 1) with ReLU on 100
points (two moons), the hinge loss plus an L2 penalty, then `loss.backward()`: about 66,000 graph
nodes. The MLP below is written once, micrograd-style (Neuron, Layer, MLP), and built twice: on
`tinygrad_bn.Value` and, when micrograd is installed, on `micrograd.engine.Value`. Both start from
the same weights, so they build the same graph and must agree on the loss and every gradient (checked
before timing).

A step is timed as the second of two run from a collected heap, three ways. In micrograd's demo
loop (`total_loss, acc = loss()`, what users run) the last step's loss stays alive until the new
one replaces it, so the collector walks two graphs; and each micrograd graph is a web of reference
cycles that becomes garbage only the collector frees, while ours is freed by reference counting when
it is dropped (inside the timing). That loop is timed with Python's garbage collector on (the
default) and with `gc.disable()` around the timed step only (restored right after). The third way
drops the last loss before the step, as a loop that says `del loss` (or runs each step in a
function) would. The heap is collected (untimed) before each timed pair, so no engine pays for
another's garbage.

After one warm-up step per engine, each repeat times our step and micrograd's back to back (in
alternating order); the ratio is taken within the repeat, and medians are reported. The targets
(issue 3): at least 5x micrograd's speed with the collector on, within 2x of it with the collector off.

A last line runs the demo loop itself: `--loop-steps` consecutive steps per engine with nothing
collected in between (after two warm-up steps), the median step reported, one engine's loop after
the other's (a heap collected in between), `--loop-repeats` times in alternating order, the ratio
taken per repeat. There each micrograd graph that is dropped stays in the heap as cyclic garbage
until a full collection finds it, so micrograd's steps cost more than in the paired timing above.

Last, one more step per engine runs with a `gc.callbacks` hook that counts the collections of each
generation and the time spent in them: the why behind the first line. The collector runs whenever
700 more tracked objects are alive than at its last run; about every 85,000 it walks the whole heap,
graph included (a full collection, if the heap grew by a quarter since the last one). So the fewer
objects a node keeps, the fewer and shorter the walks; a graph with no cycles also leaves no garbage.
The line before it counts those objects per node: ours are the node and its ctx (which is also the
list of the op's inputs); a micrograd node adds its set of children and its backward closure (the
function, its tuple of cells and two or three cells).
"""
import argparse
import gc
from contextlib import contextmanager
import math
import random
import statistics
import time

import tinygrad_bn
from tinygrad_bn import topological_order

try:
    from micrograd.engine import Value as MicrogradValue
except ImportError:
    MicrogradValue = None


# ---------------------------------------------------------------- the model, micrograd's nn.py

class Neuron:
    def __init__(self, Value, nin, rng, nonlin=True):
        self.w = [Value(rng.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin

    def __call__(self, x):
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return act.relu() if self.nonlin else act

    def parameters(self):
        return self.w + [self.b]


class Layer:
    def __init__(self, Value, nin, nout, rng, nonlin=True):
        self.neurons = [Neuron(Value, nin, rng, nonlin) for _ in range(nout)]

    def __call__(self, x):
        out = [n(x) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def parameters(self):
        return [p for n in self.neurons for p in n.parameters()]


class MLP:
    def __init__(self, Value, nin, nouts, seed=1337):
        rng = random.Random(seed)
        sizes = [nin] + nouts
        self.layers = [Layer(Value, sizes[i], sizes[i + 1], rng, nonlin=i != len(nouts) - 1)
                       for i in range(len(nouts))]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]


def two_moons(n=100, noise=0.1, seed=0):
    """n points of two interleaved half circles, labels -1 and +1 (sklearn's make_moons, by hand)."""
    rng = random.Random(seed)
    points, labels = [], []
    for i in range(n):
        upper = i < n // 2
        angle = math.pi * rng.random()
        x, y = (math.cos(angle), math.sin(angle)) if upper else (1 - math.cos(angle), 0.5 - math.sin(angle))
        points.append([x + rng.gauss(0, noise), y + rng.gauss(0, noise)])
        labels.append(1.0 if upper else -1.0)
    return points, labels


def step(Value, model, points, labels):
    """micrograd's demo step: zero grads, forward, hinge loss + L2 penalty, backward. Returns the loss."""
    for p in model.parameters():
        p.grad = 0.0
    inputs = [list(map(Value, row)) for row in points]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * si).relu() for yi, si in zip(labels, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = 1e-4 * sum(p * p for p in model.parameters())
    loss = data_loss + reg_loss
    loss.backward()
    return loss


# ---------------------------------------------------------------- measuring

def count_micrograd_nodes(output):
    seen, stack = {output}, [output]
    while stack:
        for child in stack.pop()._prev:
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return len(seen)


# The three ways a step is timed: (name, collector on?, does the last step's loss stay alive?)
MODES = [
    ("collector on,  last loss alive", True, True),     # micrograd's demo loop: what users run
    ("collector off, last loss alive", False, True),
    ("collector on,  last loss dropped", True, False),  # `del loss` (or a function scope) between steps
]


def one_step(run, collector_on=True, keep_last=True, during=None):
    """Seconds for the second of two steps run from a collected heap, the collector on or off.

    keep_last: the first step's loss stays alive during the second and is dropped when the new loss
    replaces it, as `total_loss` is in micrograd's demo loop (`total_loss, acc = loss()`): the
    collector then walks two graphs, and a micrograd graph, a web of reference cycles, becomes
    garbage only it can free. Otherwise the first loss is dropped before the second step, which
    drops its own loss before the clock stops. `during` is a gc.callbacks hook for the timed step.
    """
    gc.collect()
    losses = [run()]  # the last step's loss
    if not keep_last:
        losses.clear()
    if during is not None:
        gc.callbacks.append(during)
    try:
        with collector(collector_on):
            start = time.perf_counter()
            losses[:] = [run()]  # the new loss replaces the last one, which is dropped here
            if not keep_last:
                losses.clear()
            return time.perf_counter() - start
    finally:
        if during is not None:
            gc.callbacks.remove(during)


@contextmanager
def collector(on):
    """Inside the block, Python's garbage collector is off unless `on`; after it, on again if it was."""
    was_enabled = gc.isenabled()
    if not on:
        gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def demo_loop(run, steps):
    """Median seconds per step over `steps` consecutive steps after two warm-up ones, as micrograd's
    demo loop runs them: the collector on, nothing collected in between, each new loss replacing
    the last one."""
    gc.collect()
    times, loss = [], None
    for _ in range(steps + 2):
        start = time.perf_counter()
        loss = run()
        times.append(time.perf_counter() - start)
    del loss
    gc.collect()
    return statistics.median(times[2:])


def collector_work(run):
    """What the collector did in one step of the demo loop: the number of collections of each
    generation, the seconds spent in all of them and in the full ones."""
    counts, seconds, started = [0, 0, 0], [0.0, 0.0], [0.0]

    def watch(phase, info):
        if phase == "start":
            started[0] = time.perf_counter()
            return
        spent = time.perf_counter() - started[0]
        counts[info["generation"]] += 1
        seconds[0] += spent
        if info["generation"] == 2:
            seconds[1] += spent

    one_step(run, during=watch)
    return counts, seconds[0], seconds[1]


def objects_per_node(run, count_nodes):
    """The objects the collector tracks per node of one step's graph: what the graph keeps alive
    (after a young collection, which stops tracking tuples of plain numbers), over its nodes."""
    gc.collect()
    with collector(False):
        before = len(gc.get_objects())
        loss = run()
        gc.collect(0)
        return (len(gc.get_objects()) - before) / count_nodes(loss)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed steps per engine and mode (default 7)")
    parser.add_argument("--loop-steps", type=int, default=8, help="timed steps of each demo loop (default 8)")
    parser.add_argument("--loop-repeats", type=int, default=3, help="demo loops per engine (default 3)")
    args = parser.parse_args(argv)
    for name in ("repeats", "loop_steps", "loop_repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")

    points, labels = two_moons()
    engines = {"tinygrad_bn": tinygrad_bn.Value}
    if MicrogradValue is not None:
        engines["micrograd"] = MicrogradValue
    models = {name: MLP(Value, 2, [16, 16, 1]) for name, Value in engines.items()}
    runs = {name: (lambda V=Value, m=models[name]: step(V, m, points, labels)) for name, Value in engines.items()}

    loss = runs["tinygrad_bn"]()  # also the warm-up
    nodes = len(topological_order(loss))
    print(f"MLP(2 -> 16 -> 16 -> 1), {len(points)} points, hinge loss + L2: one step is forward + backward")
    print(f"tinygrad_bn: {nodes} nodes per step, loss {loss.data:.6f}")
    del loss
    if MicrogradValue is None:
        print("micrograd is not installed (pip install micrograd==0.1.0): our numbers only")
    else:
        reference = runs["micrograd"]()
        micrograd_nodes = count_micrograd_nodes(reference)
        grads = [(p.grad, q.grad) for p, q in zip(*(models[name].parameters() for name in engines))]
        worst = max(abs(g - h) for g, h in grads)
        print(f"micrograd:   {micrograd_nodes} nodes per step, loss {reference.data:.6f}, "
              f"largest gradient difference from ours {worst:.1e}")
        del reference
        if worst > 1e-9:
            raise SystemExit("the two engines disagree on the gradients: the comparison would be meaningless")

    def report(mode, times):
        """One line: our median step, and micrograd's with the median per-repeat ratio."""
        ours = statistics.median(times["tinygrad_bn"])
        line = f"{mode:33s}: tinygrad_bn {ours * 1e3:6.1f} ms/step {ours / nodes * 1e6:5.2f} us/node"
        if MicrogradValue is not None:
            theirs = statistics.median(times["micrograd"])
            ratio = statistics.median(m / t for m, t in zip(times["micrograd"], times["tinygrad_bn"]))
            verdict = f"ours {ratio:.2f}x faster" if ratio >= 1 else f"ours {1 / ratio:.2f}x slower"
            line += (f" | micrograd {theirs * 1e3:6.1f} ms/step {theirs / micrograd_nodes * 1e6:5.2f} us/node"
                     f" | micrograd/ours {ratio:.2f}: {verdict}")
        print(line, flush=True)

    for mode, collector_on, keep_last in MODES:
        times = {name: [] for name in engines}
        for repeat in range(args.repeats):
            order = list(engines) if repeat % 2 == 0 else list(reversed(engines))
            for name in order:
                times[name].append(one_step(runs[name], collector_on, keep_last))
        gc.collect()
        report(mode, times)
    times = {name: [] for name in engines}
    for repeat in range(args.loop_repeats):
        for name in (list(engines) if repeat % 2 == 0 else list(reversed(engines))):
            times[name].append(demo_loop(runs[name], args.loop_steps))
    report(f"demo loop, {args.loop_steps} steps in a row", times)
    if MicrogradValue is not None:
        print(f"(ratios: median of per-repeat ratios, {args.repeats} repeats, {args.loop_repeats} for the loop; "
              f"targets: at least 5 with the collector on, at least 0.5 with it off)")

    counters = {"tinygrad_bn": lambda loss: len(topological_order(loss)), "micrograd": count_micrograd_nodes}
    print("objects the collector tracks per graph node: "
          + ", ".join(f"{name} {objects_per_node(runs[name], counters[name]):.2f}" for name in engines))
    print("the collector's work in one step of the demo loop, gen0/gen1/gen2 collections:")
    for name in engines:
        counts, seconds, full_seconds = collector_work(runs[name])
        print(f"  {name:11s} {counts[0]}/{counts[1]}/{counts[2]}, {seconds * 1e3:.1f} ms in all, "
              f"{full_seconds * 1e3:.1f} ms in the {counts[2]} full collection(s)")

if __name__ == "__main__":
    main()
