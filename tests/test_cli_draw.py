"""`tinygrad-bn draw` (draw_command.py): files written, the listing printed, usage errors (exit 2),
unwritable paths and impossible formats (exit 1, a message, no traceback), atomic replacement."""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tinygrad_bn import format_graph
from tinygrad_bn.cli import main
from tinygrad_bn.examples import batch_norm_example, lecture_example
from tinygrad_bn.render import FALLBACK_MARK, NO_SYSTEM_DOT

SVG = "{http://www.w3.org/2000/svg}"


def svg_texts(path) -> list:
    root = ET.parse(path).getroot()
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def test_draw_lecture_writes_an_svg_of_its_batch_norm(tmp_path, capsys):
    path = tmp_path / "lecture.svg"
    assert main(["draw", "lecture", "-o", str(path)]) == 0
    texts = svg_texts(path)
    assert {"batch_norm", "%13 mean", "data 46", "%62 loss", "grad 21"} <= set(texts)  # beta's grad: 1 + 2 + ... + 6
    assert str(path) in capsys.readouterr().out


def test_draw_bn_takes_layout_format_collapse_and_no_grad(tmp_path):
    path = tmp_path / "bn.dot"
    assert main(["draw", "bn", "--layout", "2d", "--format", "dot", "-o", str(path), "--collapse", "--no-grad"]) == 0
    source = path.read_text()
    assert "shape=box3d" in source and "batch_norm" in source
    assert "f64[2,3,2,2]" in source  # the (N, C, H, W) layout
    assert "grad" not in source
    assert main(["draw", "bn", "--layout", "1d-seq", "-o", str(path), "--rankdir", "TB"]) == 0
    assert "f64[2,3,4]" in path.read_text() and "rankdir=TB" in path.read_text()
    assert main(["draw", "bn", "-o", str(path), "--rankdir", "tb"]) == 0  # either case
    assert "rankdir=TB" in path.read_text()


def test_the_default_path_is_example_dot_format(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["draw", "bn", "--format", "dot"]) == 0
    assert (tmp_path / "bn.dot").read_text().startswith("digraph")


def test_listing_prints_the_listing_with_gradients_and_writes_nothing_without_o(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["draw", "lecture", "--listing"]) == 0
    assert capsys.readouterr().out == format_graph(lecture_example(), show_grad=True) + "\n"
    assert list(tmp_path.iterdir()) == []
    assert main(["draw", "bn", "--listing", "--no-grad"]) == 0
    assert capsys.readouterr().out == format_graph(batch_norm_example("1d")) + "\n"


def test_listing_with_format_writes_the_drawing_too_as_its_help_says(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        main(["draw", "--help"])
    assert "(and write a drawing only if -o or --format is given)" in " ".join(capsys.readouterr().out.split())
    assert main(["draw", "bn", "--listing", "--format", "dot"]) == 0
    assert capsys.readouterr().out.endswith("\nwrote bn.dot (dot, bn example)\n")
    assert [p.name for p in tmp_path.iterdir()] == ["bn.dot"]


@pytest.mark.parametrize("argv, message", [
    (["draw", "lecture", "--layout", "2d"], "--layout applies to the bn example only"),
    (["draw", "bn", "--layout", "5d"], "invalid choice: '5d'"),
    (["draw", "bn", "--format", "svg", "-o", "x.png"], "--format svg does not match -o x.png"),
    (["draw", "bn", "-o", "x.txt"], r"-o x.txt: the suffix must be one of .svg, .dot, .png, .pdf"),
    (["draw", "nothing"], "invalid choice: 'nothing'"),
])
def test_bad_arguments_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: tinygrad-bn draw") and message in err


def test_an_unwritable_path_is_a_clear_error(tmp_path, capsys):
    assert main(["draw", "bn", "-o", str(tmp_path / "missing" / "bn.svg")]) == 1
    err = capsys.readouterr().err
    assert err == f"tinygrad-bn draw: cannot write {tmp_path / 'missing' / 'bn.svg'}: No such file or directory\n"


def test_png_without_graphviz_fails_keeps_the_old_file_and_leaves_the_dot_source(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(NO_SYSTEM_DOT, "1")
    old = tmp_path / "bn.png"
    old.write_bytes(b"old picture")
    assert main(["draw", "bn", "-o", str(old)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"tinygrad-bn draw: cannot write {old}: PNG needs Graphviz's `dot`")  # one prefix, not two
    assert "apt-get install graphviz" in err and "brew install graphviz" in err
    assert err.endswith(f". The DOT source was written to {tmp_path / 'bn.dot'}\n")
    assert old.read_bytes() == b"old picture"  # replaced only by a complete new file: none was made
    assert (tmp_path / "bn.dot").read_text().startswith(FALLBACK_MARK + "digraph")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bn.dot", "bn.png"]  # no temporary file left


def test_png_without_graphviz_leaves_an_existing_dot_file_alone_and_says_how_to_get_the_dot(tmp_path, monkeypatch,
                                                                                              capsys):
    monkeypatch.setenv(NO_SYSTEM_DOT, "1")
    notes = tmp_path / "notes.dot"
    notes.write_text("notes\n")
    assert main(["draw", "lecture", "-o", str(tmp_path / "notes.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"tinygrad-bn draw: cannot write {tmp_path / 'notes.png'}: PNG needs Graphviz's `dot`")
    assert err.endswith(f". The DOT source was not written to {notes}: a file of that name exists (to get the DOT "
                        f"source: -o OTHER_NAME.dot, or --format dot without -o, which writes lecture.dot)\n")
    assert notes.read_text() == "notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.dot"]


def test_an_existing_file_is_replaced_when_the_new_one_is_complete(tmp_path):
    path = tmp_path / "bn.svg"
    path.write_text("old")
    assert main(["draw", "bn", "-o", str(path)]) == 0
    assert "%13 loss : f64[]" in svg_texts(path)


# ---------------------------------------------------------------- the real command, as a process

def run_command(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "tinygrad_bn", "draw", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def test_exit_codes_of_the_command(tmp_path):
    ok = run_command("lecture", "-o", "out.svg", cwd=tmp_path, env={NO_SYSTEM_DOT: "1"})
    assert ok.returncode == 0, ok.stderr
    assert "%13 mean" in svg_texts(tmp_path / "out.svg")
    usage = run_command("bn", "--format", "gif", cwd=tmp_path)
    assert usage.returncode == 2 and "invalid choice: 'gif'" in usage.stderr
    unwritable = run_command("bn", "-o", "missing/bn.svg", cwd=tmp_path)
    assert unwritable.returncode == 1
    assert "cannot write missing/bn.svg" in unwritable.stderr and "Traceback" not in unwritable.stderr


def test_the_readme_diagram_is_what_the_command_draws_today(tmp_path):
    """demos/lecture_bn.svg (shown in the README) has the same node texts as a fresh
    `tinygrad-bn draw lecture --rankdir TB`: regenerate it when the drawing or the order changes."""
    shipped = Path(__file__).resolve().parent.parent / "demos" / "lecture_bn.svg"
    fresh = tmp_path / "fresh.svg"
    assert main(["draw", "lecture", "--rankdir", "TB", "-o", str(fresh)]) == 0

    def texts(path):
        return sorted(t.text for t in ET.parse(path).iter("{http://www.w3.org/2000/svg}text") if t.text)

    assert texts(shipped) == texts(fresh)
