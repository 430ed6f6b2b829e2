"""One training step of a batch-normalized MLP: ours (fused and composed batch norm) against torch.

    python benchmarks/training_step.py [--repeats N] [--calls N] [--clock cpu|wall]

The network is 2 -> 64 -> BN -> ReLU -> 64 -> BN -> ReLU -> 2 on 256 points of two spirals; a step
is zero_grad, forward, cross-entropy, backward and SGD with momentum 0.9, written with the same
PyTorch-style API three times:

    fused     tinygrad_bn.nn with BatchNorm1d(fused=True): one BatchNormFn node per batch norm
    composed  the same with BatchNorm1d(fused=False): each batch norm a cluster of primitive nodes
    torch     torch.nn on 1 thread (torch.set_num_threads(1)), when installed

numpy's BLAS (the Linear layers' matrix products) is held to 1 thread as well (OPENBLAS_NUM_THREADS=1
unless the environment sets it), so both sides compute on one thread.

All three start from the same weights, and one step is checked to give the same loss and the same
updated weights before timing. Timing works as in batch_norm.py (whose helpers it uses): after a
warm-up, each repeat runs `--calls` steps of every variant back to back, order rotating, ratios taken
within the repeat, medians reported. Steps keep training the same models, as a training loop would.

The second table counts minor page faults per step. In float64, each (256, 64) activation and
gradient is 128 KiB, exactly glibc malloc's initial mmap threshold, and the composed graph keeps a
few dozen of them alive until the step ends; whether the allocator then hands that memory back to the
system (to fault it in again next step) depends on the process's history, so the composed time can
differ by 2x from one run to the next. When it does, that table shows why.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's BLAS on 1 thread, as torch: read when numpy loads

import numpy as np  # noqa: E402 (after the thread setting)

from batch_norm import (CLOCKS, import_torch, measure, parse_timing, print_header, result_rows, timing_parser,
                        torch_on_one_thread)
from tinygrad_bn import Tensor, nn, optim
from tinygrad_bn.functional import cross_entropy

torch = import_torch()

POINTS, HIDDEN, LR, MOMENTUM = 256, 64, 0.1, 0.9


def spirals(n=POINTS, seed=0):
    """n points of two interleaved spirals in the plane, labels 0 and 1."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    radius = rng.uniform(0.1, 1.0, n)
    angle = 3 * np.pi * radius + np.pi * labels
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return points + rng.normal(0, 0.03, points.shape), labels


def our_model(fused, dtype, seed=0):
    return nn.Sequential(
        nn.Linear(2, HIDDEN, rng=seed, dtype=dtype), nn.BatchNorm1d(HIDDEN, fused=fused, dtype=dtype), nn.ReLU(),
        nn.Linear(HIDDEN, HIDDEN, rng=seed + 1, dtype=dtype), nn.BatchNorm1d(HIDDEN, fused=fused, dtype=dtype),
        nn.ReLU(), nn.Linear(HIDDEN, 2, rng=seed + 2, dtype=dtype))


def torch_model(like):
    """The same network in torch.nn, with `like`'s parameters copied in (same order, same shapes)."""
    model = torch.nn.Sequential(
        torch.nn.Linear(2, HIDDEN), torch.nn.BatchNorm1d(HIDDEN), torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.BatchNorm1d(HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 2))
    dtype = torch.float32 if like.parameters()[0].dtype == np.float32 else torch.float64
    model.to(dtype)
    with torch.no_grad():
        for theirs, ours in zip(model.parameters(), like.parameters(), strict=True):
            theirs.copy_(torch.from_numpy(ours.data))
    return model


def make_steps(dtype):
    """{name: (step, parameters)}: step() runs one training step and returns the loss (a float)."""
    points, labels = spirals()
    steps = {}
    for name, fused in (("fused", True), ("composed", False)):
        model = our_model(fused, dtype)
        opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
        x = Tensor(points, dtype=dtype)

        def step(model=model, opt=opt, x=x):
            opt.zero_grad()
            loss = cross_entropy(model(x), labels)
            loss.backward()
            opt.step()
            return loss.item()
        steps[name] = (step, lambda model=model: [p.data for p in model.parameters()])
    if torch is not None:
        model = torch_model(our_model(True, dtype))
        opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
        x = torch.from_numpy(points.astype(dtype))
        y = torch.from_numpy(labels)

        def torch_step():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss.item()
        steps["torch"] = (torch_step, lambda: [p.detach().numpy() for p in model.parameters()])
    return steps


def check_agreement(steps, dtype):
    """One step from the same weights: the same loss and the same new weights, or timing means nothing."""
    tolerance = 1e-4 if dtype == np.float32 else 1e-10
    results = {name: (step(), [p.copy() for p in parameters()]) for name, (step, parameters) in steps.items()}
    loss, weights = results["fused"]
    for name, (other_loss, other_weights) in results.items():
        worst = max([abs(other_loss - loss)] + [float(np.abs(a - b).max()) for a, b in zip(weights, other_weights)])
        if not worst <= tolerance:
            raise SystemExit(f"{name} disagrees with fused after one step: largest difference {worst:.2g}")


def main(argv=None):
    args = parse_timing(timing_parser(__doc__.splitlines()[0], "dtype", 10), argv)
    torch_on_one_thread(torch, "no torch column, no ratios to torch")
    print(f"training step: 2 -> {HIDDEN} -> BN -> ReLU -> {HIDDEN} -> BN -> ReLU -> 2, {POINTS} points, "
          f"cross-entropy, SGD momentum {MOMENTUM}; {args.clock} time; medians of {args.repeats} repeats x "
          f"{args.calls} steps")
    columns = ["fused", "composed"] + (["torch"] if torch is not None else [])
    ratios = [("composed", "fused")] + ([("fused", "torch"), ("composed", "torch")] if torch is not None else [])
    print_header(f"{'dtype':<9}", columns, ratios, 13)
    fault_lines = []
    for dtype in (np.float32, np.float64):
        steps = make_steps(dtype)
        check_agreement(steps, dtype)
        times, faults = measure({name: step for name, (step, _) in steps.items()}, args.repeats, args.calls,
                                CLOCKS[args.clock])
        row, fault_row = result_rows(f"{np.dtype(dtype).name:<9}", times, faults, columns, ratios, 13)
        print(row, flush=True)
        fault_lines.append(fault_row)
    print("targets: fused/torch <= 1.30x; composed/torch <= 2.00x")
    print()
    print("minor page faults per step")
    print(f"{'dtype':<9}" + "".join(f"{name:>13}" for name in columns))
    print("\n".join(fault_lines))


if __name__ == "__main__":
    main()
