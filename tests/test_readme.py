"""The README's Python examples run as written, one after the other, as a reader would paste them."""
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def test_the_readme_has_examples_to_run():
    assert len(python_blocks()) >= 4


def test_every_python_example_in_the_readme_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # render(loss, "loss.svg") writes here
    namespace = {}
    for block in python_blocks():
        exec(compile(block, str(README), "exec"), namespace)
    printed = capsys.readouterr().out
    assert "[-1.03, -0.74, -0.29, -0.15, 0.15, 2.06]" in printed
    assert (tmp_path / "loss.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    assert namespace["report"].first_bad is not None and namespace["report"].first_bad.label == "h"
