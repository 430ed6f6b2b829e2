"""The `tinygrad-bn` command: `tinygrad-bn --help` lists the subcommands."""
from __future__ import annotations

import argparse
import os
import sys

from . import __version__, demo, draw_command, stepper
from .exercises import commands as exercises


# name, module, help: each module's add_arguments(parser) adds its arguments and sets `run`, the function
# that runs it (run(args) -> exit status); its docstring's first line describes it in `--help`. A command
# that knows its exit status before it prints (a check's verdict) sets args.exit_status first: that is
# the status when the reader goes away before the output is all written (`... | head -1`).
COMMANDS = (
    ("demo", demo, "train the same MLP with and without batch norm"),
    ("step", stepper, "walk a backward pass one node at a time"),
    ("draw", draw_command, "draw (and list) an example's graph after backward"),
    ("exercises", exercises, "coursework checked by finite differences"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinygrad-bn",
        description="An educational autodiff engine: train with batch norm, draw and step through its graphs.")
    parser.add_argument("--version", action="version", version=f"tinygrad-bn {__version__}")
    parser.set_defaults(exit_status=0)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, help in COMMANDS:
        module.add_arguments(commands.add_parser(name, help=help, description=module.__doc__.splitlines()[0]))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        args.exit_status = args.run(args)
        sys.stdout.flush()  # inside the try: a reader that went away is found here, not at exit
    except BrokenPipeError:  # `tinygrad-bn step bn --all | head -3`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the flush at exit cannot fail again
        return args.exit_status  # 0, unless the command had decided otherwise (a WRONG check is still 1)
    except KeyboardInterrupt:  # Ctrl-C: the usual way out of a walk or a demo, not a crash to show a traceback of
        print("\ntinygrad-bn: interrupted", file=sys.stderr)
        return 130  # the shell's code for a program stopped by Ctrl-C (128 + SIGINT)
    return args.exit_status


if __name__ == "__main__":
    sys.exit(main())
