"""The `tinygrad-bn` command as a whole: what every subcommand shares."""
import os
import subprocess
import sys

import pytest


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
