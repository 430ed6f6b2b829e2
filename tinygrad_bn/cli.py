"""The `tinygrad-bn` command: `tinygrad-bn --help` lists the subcommands."""
from __future__ import annotations

import argparse
import sys

from . import __version__, demo, draw_command, stepper
from .exercises import commands as exercises


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinygrad-bn",
        description="An educational autodiff engine: train with batch norm, draw and step through its graphs.")
    parser.add_argument("--version", action="version", version=f"tinygrad-bn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo_parser = commands.add_parser("demo", help="train the same MLP with and without batch norm",
                                      description=demo.__doc__.splitlines()[0])
    demo.add_arguments(demo_parser)
    demo_parser.set_defaults(run=demo.run)
    step_parser = commands.add_parser("step", help="walk a backward pass one node at a time",
                                      description=stepper.__doc__.splitlines()[0])
    stepper.add_arguments(step_parser)
    step_parser.set_defaults(run=stepper.run)
    draw_parser = commands.add_parser("draw", help="draw (and list) an example's graph after backward",
                                      description=draw_command.__doc__.splitlines()[0])
    draw_command.add_arguments(draw_parser)
    draw_parser.set_defaults(run=draw_command.run)
    exercises_parser = commands.add_parser("exercises", help="coursework checked by finite differences",
                                           description=exercises.__doc__.splitlines()[0])
    exercises.add_arguments(exercises_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
