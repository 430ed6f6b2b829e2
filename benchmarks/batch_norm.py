"""Batch norm's speed: forward + backward of the composed graph, the fused op, plain numpy and torch.

    python benchmarks/batch_norm.py [--repeats N] [--calls N] [--clock cpu|wall] [--no-torch]

For (256, 64) and (32, 16, 16, 16), in float32 and float64, one call is a batch norm with weight and
bias in training mode, forward and then backward of a fixed upstream gradient, four ways:

    composed  tinygrad_bn.functional.batch_norm(x, w, b): the graph of primitive ops (about a dozen nodes)
    fused     batch_norm(..., fused=True): one BatchNormFn node, the closed-form backward
    numpy     the same closed form written plainly in numpy below: no graph, no nodes
    torch     torch.nn.functional.batch_norm on 1 thread (torch.set_num_threads(1)), when installed

numpy's BLAS (which the fused op's per-channel sums use) is held to 1 thread as well, through
OPENBLAS_NUM_THREADS=1 unless the environment sets it: on a busy 2-core machine a second BLAS thread
waiting for a core can cost more than the work.

All four are checked to agree before timing. After a warm-up, each repeat times `--calls` calls of
every variant back to back (the order rotating from repeat to repeat), and ratios are taken within
the repeat; the table shows medians over repeats. Taking ratios within a repeat matters here: the
allocator's and the machine's state swing single timings by up to 3x, and mostly move every variant
together.

Time is the process's CPU time (time.process_time, all threads, user + system) by default: on a
shared 2-core machine, wall time also counts the moments another process held the CPU. `--clock
wall` uses time.perf_counter instead. The second table counts minor page faults per call: memory
that the allocator handed back to the system and that the next call touches again, page by page.
When a variant's time jumps, that column says whether fresh memory is why.

Which memory is fresh depends on the process's history, not only on the code timed: glibc's malloc
serves a large block with mmap (fresh pages, a fault each) until a block that size has been freed,
and hands the top of its heap back to the system when enough of it is free; both limits move with
what the process allocated and freed before. Importing and running torch in the same process moves
them too, and at these sizes that usually means fewer faults for every variant. `--no-torch` runs
without importing torch (no torch column), as a user without it would: then the composed graph, which
keeps every node's data and grad alive until the call ends, can pay hundreds of faults per call,
and its times swing from run to run. Compare the two runs' fault tables before comparing times.
"""
import argparse
import os
import resource
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's BLAS on 1 thread, as torch: read when numpy loads

import numpy as np  # noqa: E402 (after the thread setting)

from tinygrad_bn import Tensor
from tinygrad_bn.functional import batch_norm

torch = None  # imported by main() unless --no-torch; then make_variants adds a torch column

SHAPES = [(256, 64), (32, 16, 16, 16)]
DTYPES = [np.float32, np.float64]
EPS = 1e-5


def numpy_batch_norm(x, gamma, beta, grad, eps=EPS):
    """Forward and backward of batch norm in plain numpy, the textbook closed form (no graph).
    Returns (out, dx, dgamma, dbeta)."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    n = x.size // x.shape[1]
    gamma, beta = gamma.reshape(shape), beta.reshape(shape)
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    var = (centered ** 2).mean(axis=axes, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    x_hat = centered * rstd
    out = gamma * x_hat + beta
    dbeta = grad.sum(axis=axes)
    dgamma = (grad * x_hat).sum(axis=axes)
    dx = gamma * rstd / n * (n * grad - dbeta.reshape(shape) - x_hat * dgamma.reshape(shape))
    return out, dx, dgamma, dbeta


def make_variants(shape, dtype, seed=0):
    """{name: call} where call() runs forward + backward once and returns (out, dx, dgamma, dbeta)."""
    rng = np.random.default_rng(seed)
    x_data = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    gamma_data = rng.uniform(0.5, 1.5, shape[1]).astype(dtype)
    beta_data = rng.standard_normal(shape[1]).astype(dtype)
    grad = rng.standard_normal(shape).astype(dtype)
    leaves = [Tensor(a, requires_grad=True) for a in (x_data, gamma_data, beta_data)]

    def ours(fused):
        def call():
            for leaf in leaves:
                leaf.grad = None
            out = batch_norm(*leaves, eps=EPS, fused=fused)
            out.backward(grad)
            return (out.data,) + tuple(leaf.grad for leaf in leaves)
        return call

    variants = {"composed": ours(False), "fused": ours(True),
                "numpy": lambda: numpy_batch_norm(x_data, gamma_data, beta_data, grad)}
    if torch is not None:
        t_leaves = [torch.tensor(a, requires_grad=True) for a in (x_data, gamma_data, beta_data)]
        t_grad = torch.tensor(grad)

        def torch_call():
            for leaf in t_leaves:
                leaf.grad = None
            out = torch.nn.functional.batch_norm(t_leaves[0], None, None, t_leaves[1], t_leaves[2],
                                                 training=True, eps=EPS)
            out.backward(t_grad)
            return (out.detach().numpy(),) + tuple(leaf.grad.numpy() for leaf in t_leaves)
        variants["torch"] = torch_call
    return variants


def check_agreement(variants, dtype):
    """Every variant's output and gradients match numpy's, or the timing would compare different work."""
    reference = variants["numpy"]()
    tolerance = 1e-3 if dtype == np.float32 else 1e-9
    for name, call in variants.items():
        for what, ours, theirs in zip(("out", "dx", "dgamma", "dbeta"), call(), reference):
            scale = max(1.0, float(np.abs(theirs).max()))
            worst = float(np.abs(ours - theirs).max()) / scale
            if not worst <= tolerance:
                raise SystemExit(f"{name} disagrees with numpy on {what}: relative difference {worst:.2g}")


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def minor_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_calls(call, calls, clock):
    """(seconds, minor page faults) per call, averaged over `calls` calls."""
    faults, start = minor_faults(), clock()
    for _ in range(calls):
        call()
    return (clock() - start) / calls, (minor_faults() - faults) / calls


def measure(variants, repeats, calls, clock):
    """{name: [seconds per call, one per repeat]} and {name: [faults per call, ...]}: the variants
    interleaved within each repeat."""
    names = list(variants)
    for name in names:  # warm-up
        time_calls(variants[name], calls, clock)
    times, faults = {name: [] for name in names}, {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            seconds, count = time_calls(variants[name], calls, clock)
            times[name].append(seconds)
            faults[name].append(count)
    return times, faults


def median_ratio(times, top, bottom):
    return statistics.median(a / b for a, b in zip(times[top], times[bottom]))


def print_header(label, columns, ratios, width):
    """The time table's header: `label`, then a column per variant and per ratio, and a rule."""
    header = label + "".join(f"{name + ' us':>{width}}" for name in columns)
    header += "".join(f"{a + '/' + b:>{width + 4}}" for a, b in ratios)
    print(header)
    print("-" * len(header))


def result_rows(label, times, faults, columns, ratios, width):
    """One configuration's row of the time table (median us per variant, then median ratios) and
    its row of the page-fault table."""
    row = label + "".join(f"{statistics.median(times[name]) * 1e6:{width}.1f}" for name in columns)
    row += "".join(f"{median_ratio(times, a, b):{width + 3}.2f}x" for a, b in ratios)
    return row, label + "".join(f"{statistics.median(faults[name]):{width}.0f}" for name in columns)


def timing_parser(description, what, calls):
    """The options both benchmarks take: --repeats, --calls, --clock (check them with parse_timing)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeats", type=int, default=21, help=f"timed repeats per {what} (default 21)")
    parser.add_argument("--calls", type=int, default=calls, help=f"calls per variant per repeat (default {calls})")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="cpu: process CPU time (default); wall: elapsed time")
    return parser


def parse_timing(parser, argv):
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.calls < 1:
        parser.error("--repeats and --calls must be at least 1")
    return args


def import_torch():
    """torch if it is installed, else None."""
    try:
        import torch as module
    except ImportError:
        return None
    return module


def torch_on_one_thread(module, without):
    """Say which torch runs (on 1 thread, as our numpy does), or what is left out without it."""
    if module is None:
        print(f"torch is not imported (not installed, or --no-torch): {without}")
    else:
        module.set_num_threads(1)
        print(f"torch {module.__version__} on {module.get_num_threads()} thread")


def main(argv=None):
    global torch
    parser = timing_parser(__doc__.splitlines()[0], "configuration", 20)
    parser.add_argument("--no-torch", action="store_true",
                        help="do not import torch: no torch column, and the allocator as a torch-free process has it")
    args = parse_timing(parser, argv)
    torch = None if args.no_torch else import_torch()
    torch_on_one_thread(torch, "no torch column")
    print(f"forward + backward, weight and bias, training mode; {args.clock} time; "
          f"medians of {args.repeats} repeats x {args.calls} calls")
    columns = ["numpy", "fused", "composed"] + (["torch"] if torch is not None else [])
    ratios = [("fused", "numpy"), ("composed", "fused")]
    if torch is not None:
        ratios += [("numpy", "torch"), ("fused", "torch"), ("composed", "torch")]
    print_header(f"{'shape':<18}{'dtype':<9}", columns, ratios, 12)
    fault_lines = []
    for shape in SHAPES:
        for dtype in DTYPES:
            variants = make_variants(shape, dtype)
            check_agreement(variants, dtype)
            times, faults = measure(variants, args.repeats, args.calls, CLOCKS[args.clock])
            row, fault_row = result_rows(f"{str(shape):<18}{np.dtype(dtype).name:<9}", times, faults, columns,
                                         ratios, 12)
            print(row, flush=True)
            fault_lines.append(fault_row)
    print("targets: fused/numpy <= 1.00x; composed/fused <= 2.20x")
    print()
    print(f"{'minor page faults per call':<27}" + "".join(f"{name:>12}" for name in columns))
    print("\n".join(fault_lines))


if __name__ == "__main__":
    main()
