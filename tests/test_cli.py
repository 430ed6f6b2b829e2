"""The `tinygrad-bn` command as a whole: what every subcommand shares."""
import os
import subprocess
import sys

import pytest

from exercise_solutions import write_solution


@pytest.mark.parametrize("argv", [["step", "bn", "--all"], ["draw", "bn", "--listing"]])
def test_a_closed_pipe_ends_the_command_quietly(argv):
    """`tinygrad-bn step bn --all | head -3`: once the reader has gone, stop without an error."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        done = subprocess.run([sys.executable, "-m", "tinygrad_bn", *argv], stdout=write_end,
                              stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(write_end)
    assert done.stderr.decode() == ""
    assert done.returncode == 0


@pytest.mark.parametrize("buffered", [True, False])
def test_a_closed_pipe_keeps_a_wrong_checks_exit_status(buffered, tmp_path):
    """`tinygrad-bn exercises check 1 | head -1`: the reader going away does not turn WRONG into success,
    whether the pipe is found closed at the first line (unbuffered) or at the final flush."""
    write_solution(1, tmp_path, mistake=True)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, *([] if buffered else ["-u"]), "-m", "tinygrad_bn", "exercises", "check",
                               "1", "--dir", str(tmp_path)], stdout=write_end, stderr=subprocess.PIPE, timeout=120)
    finally:
        os.close(write_end)
    assert done.stderr.decode() == ""
    assert done.returncode == 1
