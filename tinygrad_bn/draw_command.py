"""`tinygrad-bn draw`: draw (and list) a built-in example's graph after a backward pass.

    tinygrad-bn draw lecture -o lecture.svg               the lecture's six numbers, scalar engine
    tinygrad-bn draw bn --layout 2d --format svg -o bn.svg  a small Tensor batch norm
    tinygrad-bn draw bn --collapse --no-grad --listing     one box per batch norm; print the listing

The format comes from -o's suffix (.svg, .dot, .png, .pdf) or from --format (then the default path
is EXAMPLE.FORMAT). SVG and DOT work everywhere; PNG and PDF need a system Graphviz (see render.py).
An existing file is replaced only once the new one is complete.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .draw import RANKDIRS, draw_graph
from .examples import add_example_arguments, example_from_args
from .listing import format_graph
from .render import FORMATS, RenderError, render


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_example_arguments(parser)
    parser.add_argument("--format", choices=FORMATS, help="output format (default: from -o's suffix, else svg)")
    parser.add_argument("-o", "--output", metavar="PATH", help="file to write (default EXAMPLE.FORMAT)")
    parser.add_argument("--collapse", action="store_true", help="draw each batch norm as a single node")
    parser.add_argument("--no-grad", action="store_true", help="leave gradients out of the drawing and listing")
    parser.add_argument("--listing", action="store_true",
                        help="print the one-line-per-op listing (and write a drawing only if -o or --format is given)")
    parser.add_argument("--rankdir", choices=RANKDIRS, default="LR", type=str.upper,  # tb works as TB
                        help="LR: inputs on the left (default); TB: inputs at the top")
    parser.set_defaults(run=run, draw_parser=parser)


def run(args, out=None) -> int:
    """Build the example, run backward, then print the listing and/or write the drawing."""
    out = out or sys.stdout
    loss = example_from_args(args, args.draw_parser)
    path, format = _output(args, args.draw_parser)
    if args.listing:
        out.write(format_graph(loss, show_grad=not args.no_grad) + "\n")
        if path is None:
            return 0
    collapse = ("batch_norm",) if args.collapse else ()
    graph = draw_graph(loss, show_grad=not args.no_grad, rankdir=args.rankdir, collapse=collapse)
    try:
        written = render(graph, path)
    except RenderError as error:
        get_dot = "" if error.existing_dot is None else \
            f" (to get the DOT source: -o OTHER_NAME.dot, or --format dot without -o, which writes {args.example}.dot)"
        print(f"tinygrad-bn draw: {error}{get_dot}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"tinygrad-bn draw: cannot write {path}: {error.strerror or error}", file=sys.stderr)
        return 1
    out.write(f"wrote {written} ({format}, {args.example} example)\n")
    return 0


def _output(args, parser) -> tuple:
    """(path, format) from -o and --format, which must agree; path None when only listing."""
    if args.output is None:
        if args.listing and args.format is None:
            return None, None
        format = args.format or "svg"
        return Path(f"{args.example}.{format}"), format
    path = Path(args.output)
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        parser.error(f"-o {args.output}: the suffix must be one of {', '.join('.' + f for f in FORMATS)} "
                     f"(it chooses the format)")
    if args.format is not None and args.format != suffix:
        parser.error(f"--format {args.format} does not match -o {args.output}")
    return path, suffix
