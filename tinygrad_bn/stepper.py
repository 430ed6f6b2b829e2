"""Stepping through backprop: `tinygrad-bn step lecture` (or `step bn`), one node at a time.

Each step is one Step of `backward_steps`, the generator that `backward()` itself exhausts, so the
order on screen is the order the real backward pass runs in. A step shows

    step 14 of 63: %49 x_hat : f64[] = Div %19 %33  # 2.064       (the node's line of the listing)
      grad arriving:  d loss / d %49 x_hat = 12                   (summed over every use of the node)
      sends to %19 x - mean:  1.769                               (its op's backward: one per input)
      sends to %33 std:  -3.652

and waits: Enter for the next step, q to quit. With --all, or when stdin is not a terminal (a pipe,
a test), every step is printed without waiting. --svg-dir DIR writes one diagram per step with the
current node marked in red (the orange path is where its gradient came from), and removes the step
files an earlier, longer run left there; --html FILE writes one page holding every step's diagram,
for a browser or a course page (step_page.py).
"""
from __future__ import annotations

import errno
import os
import re
import sys
from pathlib import Path

import numpy as np

from .describe import number_text, one_line, summary_text
from .draw import draw_graph
from .examples import add_example_arguments, example, example_from_args
from .graph import Node, backward_steps, topological_order
from .listing import node_line
from .render import RenderError, write_atomic
from .step_page import step_page

FULL = 24  # arrays with at most this many numbers are printed whole


class StepView:
    """One step as the user sees it: its number, the Step, its text, and the node's diagram id."""
    __slots__ = ("number", "total", "step", "text", "node_id", "svg")

    def __init__(self, number, total, step, text, node_id, svg=None):
        self.number, self.total, self.step, self.text, self.node_id, self.svg = number, total, step, text, node_id, svg


def example_graph(name: str, layout: str | None = None):
    """A built-in example's loss (examples.py) with every gradient cleared, ready to be stepped through."""
    return _without_grads(example(name, layout))


def _without_grads(loss):
    for node in topological_order(loss):
        node.zero_grad()
    return loss


def step_views(loss, *, svg: bool = False):
    """Run backward from `loss` one step at a time, yielding a StepView per step (with the step's
    diagram as SVG text when `svg` is set). The step's node holds its final gradient when it is yielded."""
    order = topological_order(loss)
    ids = {node: index for index, node in enumerate(order)}
    total = sum(1 for node in order if node.requires_grad)
    for number, step in enumerate(backward_steps(loss), start=1):
        text = step_text(step, ids, number, total)
        image = draw_graph(loss, highlight=step.node).pipe(format="svg").decode("utf-8") if svg else None
        yield StepView(number, total, step, text, f"n{ids[step.node]}", image)


def step_text(step, ids: dict, number: int, total: int) -> str:
    """The step as text: the node's listing line, the gradient arriving, what goes to each input."""
    node = step.node
    name = _name(node, ids)
    lines = [f"step {number} of {total}: {node_line(node, ids)}",
             _labelled(f"  grad arriving:  d loss / d {name} = ", step.grad)]
    if node.is_leaf:
        lines.append("  a leaf: its gradient is final here, nothing to send on")
    for parent, sent in zip(node.inputs, step.sends):
        if sent is not None:
            lines.append(_labelled(f"  sends to {_name(parent, ids)}:  ", sent))
        elif isinstance(parent, Node):
            lines.append(f"  sends to {_name(parent, ids)}:  nothing (it needs no gradient)")
    return "\n".join(lines)


def _name(node, ids) -> str:
    return f"%{ids[node]}" + (f" {one_line(node.label)}" if node.label else "")


def _labelled(prefix: str, x) -> str:
    """prefix + a gradient: the numbers themselves for a small 1-D or 2-D array (rows aligned under
    the first), else a summary (describe.summary_text, as in the diagrams)."""
    array = np.asarray(x)
    if array.ndim == 0 or array.ndim > 2 or array.size > FULL:
        return prefix + summary_text(array)
    text = np.array2string(array, max_line_width=100, formatter={"float_kind": number_text})
    return prefix + text.replace("\n", "\n" + " " * len(prefix))


# ---------------------------------------------------------------- the command

def add_arguments(parser) -> None:
    add_example_arguments(parser)
    parser.add_argument("--all", action="store_true", help="print every step without waiting for Enter")
    parser.add_argument("--svg-dir", metavar="DIR", help="write one diagram per step into DIR (step-001.svg, ...)")
    parser.add_argument("--html", metavar="FILE",
                        help="write one self-contained HTML page with every step's diagram (instead of the walk)")
    parser.set_defaults(run=run, step_parser=parser)


def run(args) -> int:
    loss = _without_grads(example_from_args(args, args.step_parser))
    problem = None if args.html is None else _unwritable(Path(args.html))
    if problem is not None:  # said now, not after every diagram is rendered
        print(f"tinygrad-bn step: cannot write {args.html}: {problem}", file=sys.stderr)
        return 1
    svg_dir = Path(args.svg_dir) if args.svg_dir else None
    if svg_dir is not None:
        try:
            svg_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            print(f"tinygrad-bn step: cannot create --svg-dir {svg_dir}: {error.strerror}", file=sys.stderr)
            return 1
    interactive = not args.all and args.html is None and sys.stdin.isatty()
    views, written = [], 0
    try:
        for view in step_views(loss, svg=svg_dir is not None or args.html is not None):
            if svg_dir is not None:
                write_atomic(svg_dir / f"step-{view.number:03d}.svg", view.svg)
                written += 1
            if args.html is not None:
                views.append(view)
                continue
            print(view.text + "\n", flush=True)
            if interactive and view.number < view.total and _quit_asked():  # no prompt after the last step
                break
        if args.html is not None:
            title = "Backprop, step by step: " + ("the lecture's batch norm" if args.example == "lecture"
                                                   else "a small batch norm")
            write_atomic(args.html, step_page(title, views))
            print(f"wrote {args.html}: {len(views)} steps")
    except BrokenPipeError:  # the reader went away (`| head`): cli.main ends quietly
        raise
    except OSError as error:  # from write_atomic, whose errors name the path it was given
        print(f"tinygrad-bn step: cannot write {error.filename}: {error.strerror}", file=sys.stderr)
        return 1
    except RenderError as error:
        print(f"tinygrad-bn step: {error}", file=sys.stderr)
        return 1
    if svg_dir is not None:
        try:
            removed = _remove_older_steps(svg_dir, written)
        except OSError as error:
            print(f"tinygrad-bn step: cannot remove {error.filename}: {error.strerror}", file=sys.stderr)
            return 1
        older = f"; removed {removed} step file{'s' if removed > 1 else ''} numbered beyond step-{written:03d}.svg, " \
                f"left by an earlier run" if removed else ""
        print(f"wrote {written} diagrams to {svg_dir}{older}")
    return 0


_STEP_FILE = re.compile(r"step-([0-9]+)\.svg")  # the names --svg-dir writes: step-001.svg, ...


def _remove_older_steps(svg_dir: Path, count: int) -> int:
    """Delete the step files in svg_dir numbered beyond `count`, which an earlier, longer run wrote, so
    that the directory holds this run's steps only; any other file is left alone. Returns how many."""
    older = [path for path in svg_dir.iterdir()
             if (match := _STEP_FILE.fullmatch(path.name)) and int(match[1]) > count and path.is_file()]
    for path in older:
        path.unlink()
    return len(older)


def _unwritable(path: Path) -> str | None:
    """Why a file cannot be written at `path`, in the system's words, when it can be told without
    writing: `path` is a directory, or its directory is missing (or a file). None when nothing is known to be wrong."""
    if path.is_dir():
        return os.strerror(errno.EISDIR)
    if not path.parent.exists():
        return os.strerror(errno.ENOENT)
    if not path.parent.is_dir():
        return os.strerror(errno.ENOTDIR)
    return None


def _quit_asked() -> bool:
    """Wait for Enter; True if the user typed q (or closed the input)."""
    try:
        answer = input("[Enter] next step, q quit: ")
    except EOFError:
        return True
    return answer.strip().lower() in ("q", "quit")
