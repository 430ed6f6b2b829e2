"""Coursework: five exercises on backpropagation, checked by finite differences.

How a student works (see the README): `tinygrad-bn exercises init DIR` copies the five stub files
into DIR (never over a file that is already there); the student fills in the places marked
`exercise N` and runs `tinygrad-bn exercises check N --dir DIR`; `tinygrad-bn exercises list --dir DIR`
shows each one's status: unfinished, passing or wrong.

The checker (checker.py) builds a graph with the student's own Functions and runs `check_nodes` on
it: every node's gradient against a finite difference, never against a stored answer. A wrong
exercise is reported by the first wrong node in backward order and the op whose backward sent it.

The stubs ship inside the package so that the command works after `pip install`; the reference
solutions do not (they live with the tests, which prove each exercise solvable and each planted
mistake caught).
"""
from __future__ import annotations


class Exercise:
    """One exercise: its number, the stub file's name, and a one-line title."""
    __slots__ = ("number", "filename", "title")

    def __init__(self, number: int, filename: str, title: str):
        self.number, self.filename, self.title = number, filename, title

    def __repr__(self):
        return f"Exercise({self.number}, {self.filename!r})"


EXERCISES = (
    Exercise(1, "ex1_scalar_ops.py", "backward of mul, div and pow on the scalar engine"),
    Exercise(2, "ex2_unbroadcast.py", "unbroadcasting a gradient to an input's shape"),
    Exercise(3, "ex3_mean_var.py", "backward of mean and of the population var along an axis"),
    Exercise(4, "ex4_batchnorm_backward.py", "the batch-norm backward by hand, step by step, then closed form"),
    Exercise(5, "ex5_running_stats.py", "running statistics: what eval() uses, and a batch of one"),
)


def exercise(number: int) -> Exercise:
    """The exercise numbered `number` (1 to 5), or a ValueError."""
    for ex in EXERCISES:
        if ex.number == number:
            return ex
    raise ValueError(f"exercises: there is no exercise {number}; they are numbered 1 to {len(EXERCISES)}")
