"""The training demo: the same network with and without batch norm, the lecture's claims measured.

    tinygrad-bn demo            (or: python demos/train_batchnorm.py)

Two interleaved spirals (made with numpy, nothing downloaded), an MLP 2 -> 64 -> 64 -> 64 -> 2 whose
Linear layers start from the same deliberately poor initialization (weights at half PyTorch's
scale, so the signal shrinks layer after layer), trained from the same seed with and without BatchNorm1d after each
hidden Linear. The table reports what the lecture claims: batch norm reaches the same accuracy in
fewer epochs, and each epoch costs more. Then the BN network, in eval(), classifies points one at a
time with its running statistics.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np

from . import nn, optim
from .functional import cross_entropy
from .graph import no_grad
from .render import write_atomic
from .tensor import Tensor


def make_spirals(n_per_class: int = 256, noise: float = 0.15, seed: int = 0):
    """Two interleaved spirals in 2-D: x (2n, 2) float64, labels y (2n,) in {0, 1}."""
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0.05, 1, n_per_class)) * 3 * np.pi
    arm = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (3 * np.pi)
    x = np.concatenate([arm, -arm]) + rng.normal(0, noise / 3, (2 * n_per_class, 2))
    y = np.concatenate([np.zeros(n_per_class, dtype=np.int64), np.ones(n_per_class, dtype=np.int64)])
    return x, y


def make_model(batch_norm: bool, seed: int, width: int = 64, init_scale: float = 0.5) -> nn.Sequential:
    """2 -> width -> width -> width -> 2, ReLU between; BatchNorm1d after each hidden Linear if asked.
    Every Linear weight is multiplied by init_scale: the same poor start for both networks."""
    rng = np.random.default_rng(seed)
    sizes = [2, width, width, width, 2]
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        linear = nn.Linear(n_in, n_out, rng=rng)
        linear.weight.data *= init_scale
        layers.append(linear)
        if i < len(sizes) - 2:
            if batch_norm:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with no_grad():
        return float((model(Tensor(x)).data.argmax(axis=1) == y).mean())


def _progress(name: str, epoch: int, epochs: int, loss: float, acc: float, out) -> None:
    done = int(30 * epoch / epochs)
    line = f"{name:>10} [{'#' * done}{'.' * (30 - done)}] epoch {epoch:3d}/{epochs}  loss {loss:.3f}  acc {acc:.3f}"
    if out.isatty():
        out.write("\r" + line + ("\n" if epoch == epochs else ""))
    else:
        out.write(line + "\n")
    out.flush()


def train(model, x, y, *, epochs: int, batch_size: int, lr: float, seed: int, target: float, name: str, out):
    """SGD with momentum on shuffled mini-batches; returns the per-epoch history and timing."""
    rng = np.random.default_rng(seed)
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    history = {"loss": [], "accuracy": [], "seconds": []}
    for epoch in range(1, epochs + 1):
        model.train()
        start, losses = time.perf_counter(), []
        order = rng.permutation(len(x))
        for i in range(0, len(x), batch_size):
            batch = order[i:i + batch_size]
            loss = cross_entropy(model(Tensor(x[batch])), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        history["seconds"].append(time.perf_counter() - start)
        model.eval()
        history["loss"].append(float(np.mean(losses)))
        history["accuracy"].append(accuracy(model, x, y))
        _progress(name, epoch, epochs, history["loss"][-1], history["accuracy"][-1], out)
    reached = [e + 1 for e, a in enumerate(history["accuracy"]) if a >= target]
    history["epochs_to_target"] = reached[0] if reached else None
    return history


def _table(results: dict, target: float) -> str:
    """The lecture's claims side by side: fewer epochs to the target, longer epochs, and what the two
    make together, the time to the target."""
    goal = format(target, ".0%")
    rows = [f"{'':12}{'epochs to ' + goal:>16}{'time to ' + goal:>14}{'ms / epoch':>12}{'final accuracy':>16}"]
    for name, h in results.items():
        epochs = h["epochs_to_target"]
        reached, took = (str(epochs), f"{1000 * sum(h['seconds'][:epochs]):.0f} ms") if epochs else ("not reached", "-")
        rows.append(f"{name:12}{reached:>16}{took:>14}{1000 * np.median(h['seconds']):>12.1f}{h['accuracy'][-1]:>16.3f}")
    rows.append(f"(accuracy on the training points; epochs to {goal}: the first epoch that reaches it; "
                f"ms / epoch: the median epoch, which varies from run to run)")
    return "\n".join(rows)


PLOT_FORMATS = ("png", "svg", "pdf")  # what the plot's suffix may be: matplotlib writes each of them


def _plot_format(path: str) -> str | None:
    """The plot's format, from its suffix (.png, .svg, .pdf, in any case), or None for any other."""
    format = Path(path).suffix.lower().lstrip(".")
    return format if format in PLOT_FORMATS else None


def _write_plot(results: dict, path: str, out) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        out.write("(no plot: matplotlib is not installed; pip install 'tinygrad_bn[plot]' to get a loss/accuracy plot)\n")
        return
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for name, h in results.items():
        epochs = range(1, len(h["loss"]) + 1)
        ax_loss.plot(epochs, h["loss"], label=name)
        ax_acc.plot(epochs, h["accuracy"], label=name)
    ax_loss.set(xlabel="epoch", ylabel="training loss", yscale="log")
    ax_acc.set(xlabel="epoch", ylabel="accuracy")
    ax_acc.legend()
    picture = io.BytesIO()
    fig.savefig(picture, format=_plot_format(path), dpi=100)
    plt.close(fig)
    try:
        write_atomic(path, picture.getvalue())
    except OSError as error:
        out.write(f"(no plot: cannot write {path}: {error.strerror or error})\n")
        return
    out.write(f"wrote {path}\n")


def one_at_a_time(model: nn.Sequential, x: np.ndarray, y: np.ndarray, out, shown: int = 5) -> None:
    """eval(): every input alone (a batch of one), normalized with the running statistics. Prints
    `shown` of them (all if there are fewer), evenly spaced through the set."""
    model.eval()
    bn = next(m for m in model if isinstance(m, nn.BatchNorm1d))
    out.write(f"\nIn eval(), one input at a time. The first BatchNorm1d normalizes with its running statistics "
              f"(after {bn.num_batches_tracked} batches), e.g. channel 0: mean {bn.running_mean[0]:+.4f}, "
              f"var {bn.running_var[0]:.4f}\n")
    count = min(shown, len(x))
    sample = {k * len(x) // count for k in range(count)}
    correct = 0
    with no_grad():
        for i in range(len(x)):
            logits = model(Tensor(x[i:i + 1])).data[0]
            correct += int(logits.argmax() == y[i])
            if i in sample:
                out.write(f"  input ({x[i, 0]:+.2f}, {x[i, 1]:+.2f})  label {y[i]}  predicted {logits.argmax()}\n")
    single, batch = correct / len(x), accuracy(model, x, y)
    verdict = ("the same: in eval() an input's output does not depend on the rest of the batch" if single == batch
               else "they differ: eval() should not depend on the batch")
    out.write(f"accuracy one at a time: {single:.3f}; the whole set as one batch in eval(): {batch:.3f} ({verdict})\n")


def main(argv=None, out=None) -> int:
    parser = argparse.ArgumentParser(prog="tinygrad-bn demo", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv), out)


def _accuracy(text: str) -> float:
    """--target's type: an accuracy, a number with 0 < accuracy <= 1 (argparse says what was wrong)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 1:  # NaN is refused too: it is not in the range
        raise argparse.ArgumentTypeError(f"{text} is not an accuracy: it must be more than 0 and at most 1 "
                                         f"(0.95 is 95%)")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epochs", type=int, default=60, help="epochs per network (default 60)")
    parser.add_argument("--target", type=_accuracy, default=0.95, help="accuracy to reach, 0 to 1 (default 0.95)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data, the initialization and the batches (default 0)")
    parser.add_argument("--plot", metavar="FILE", default="tinygrad_bn_demo.png",
                        help="where to write the loss/accuracy plot when matplotlib is installed; its suffix, "
                             ".png, .svg or .pdf, chooses the format (default tinygrad_bn_demo.png)")
    parser.add_argument("--no-plot", action="store_true", help="do not write a plot")
    parser.set_defaults(run=run, demo_parser=parser)


def run(args, out=None) -> int:
    out = out or sys.stdout
    if args.epochs < 1:
        args.demo_parser.error("--epochs must be at least 1")
    if not args.no_plot and _plot_format(args.plot) is None:  # said now, not after training
        args.demo_parser.error(f"--plot {args.plot}: the suffix must be one of "
                               f"{', '.join('.' + f for f in PLOT_FORMATS)} (it chooses the format)")
    x, y = make_spirals(seed=args.seed)
    out.write(f"Two spirals, {len(x)} points; MLP 2-64-64-64-2 with weights at half the standard scale "
              f"(a deliberately poor start, the case the lecture says batch norm rescues); "
              f"SGD momentum 0.9, batches of 64, the same seed for both.\n")
    results = {}
    for name, bn in (("without BN", False), ("with BN", True)):
        model = make_model(bn, args.seed)
        results[name] = train(model, x, y, epochs=args.epochs, batch_size=64, lr=0.1, seed=args.seed,
                              target=args.target, name=name, out=out)
    out.write("\n" + _table(results, args.target) + "\n")
    if not args.no_plot:
        _write_plot(results, args.plot, out)
    one_at_a_time(model, x, y, out)
    return 0
