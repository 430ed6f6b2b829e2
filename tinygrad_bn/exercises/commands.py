"""`tinygrad-bn exercises init | list | check N`: the student's side of the exercises.

    tinygrad-bn exercises init [DIR]        copy the five stubs into DIR (default ./exercises);
                                            a file already there is kept, never overwritten
    tinygrad-bn exercises list [--dir DIR]  each exercise with its status: unfinished, passing, wrong
    tinygrad-bn exercises check N [--dir DIR]
                                            the verdict; when a gradient is wrong, the node (label, op,
                                            shape), expected vs got, the largest difference, and a
                                            diagram DIR/exN-wrong.svg with that node marked in red
                                            (removed by a later check that draws none)

`check` exits with 0 when the exercise passes, 1 when it is wrong or unfinished, 2 when there is no
file to check, even when its output is cut short (`| head -1`).
"""
from __future__ import annotations

import sys
from pathlib import Path

from ..render import RenderError, render, write_atomic
from . import EXERCISES
from .checker import PASSING, WRONG, check

DEFAULT_DIR = "exercises"
STUBS = Path(__file__).parent


def add_arguments(parser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    init = actions.add_parser("init", help="copy the exercise stubs into a directory to work on")
    init.add_argument("dir", nargs="?", default=DEFAULT_DIR, help=f"where to put them (default ./{DEFAULT_DIR})")
    init.set_defaults(run=run_init)
    listing = actions.add_parser("list", help="list the exercises with their status")
    listing.add_argument("--dir", default=DEFAULT_DIR, help=f"your copies (default ./{DEFAULT_DIR})")
    listing.set_defaults(run=run_list)
    checking = actions.add_parser("check", help="check one exercise by finite differences")
    checking.add_argument("number", type=int, choices=[ex.number for ex in EXERCISES], help="which exercise")
    checking.add_argument("--dir", default=DEFAULT_DIR, help=f"your copies (default ./{DEFAULT_DIR})")
    checking.set_defaults(run=run_check)


def run_init(args) -> int:
    directory = Path(args.dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for ex in EXERCISES:
            target = directory / ex.filename
            if target.exists():
                print(f"kept   {target} (already there; delete it to start that exercise again)")
                continue
            write_atomic(target, (STUBS / ex.filename).read_bytes())
            print(f"copied {target}")
    except OSError as error:
        print(f"tinygrad-bn exercises init: cannot write to {directory}: {error}", file=sys.stderr)
        return 1
    print(f"next: fill in exercise 1, then `tinygrad-bn exercises check 1 --dir {directory}`")
    return 0


def run_list(args) -> int:
    directory = Path(args.dir)
    for ex in EXERCISES:
        status = check(ex.number, directory).status if (directory / ex.filename).is_file() else "missing"
        print(f"{ex.number}  {status:<10}  {ex.filename:<28}  {ex.title}")
    if not any((directory / ex.filename).is_file() for ex in EXERCISES):
        print(f"(no exercise files in {directory}: run `tinygrad-bn exercises init {directory}`)")
    return 0


def run_check(args) -> int:
    directory = Path(args.dir)
    try:
        verdict = check(args.number, directory)
    except FileNotFoundError as error:
        print(f"tinygrad-bn exercises check: {error}", file=sys.stderr)
        return 2
    args.exit_status = 0 if verdict.status == PASSING else 1  # decided before printing: see cli.py
    ex = verdict.exercise
    print(f"exercise {ex.number} ({ex.title}): {verdict.status.upper()}")
    print(verdict.message)
    path = directory / f"ex{ex.number}-wrong.svg"
    if verdict.status == WRONG and verdict.report is not None and verdict.report.first_bad is not None:
        try:
            render(verdict.output, path, highlight=verdict.report.first_bad)
        except (OSError, RenderError) as error:
            print(f"(could not write the diagram {path}: {error})", file=sys.stderr)
        else:  # a reader that went away (`| head`) is cli.main's to handle, not a diagram that failed
            print(f"diagram with the wrong node marked in red: {path}")
    elif path.is_file():  # drawn by an earlier wrong attempt: it no longer shows this file
        try:
            path.unlink()
        except OSError as error:
            print(f"(could not remove {path}, the diagram of an earlier attempt: {error.strerror})", file=sys.stderr)
        else:
            print(f"removed {path}, the diagram of an earlier attempt")
    return args.exit_status
