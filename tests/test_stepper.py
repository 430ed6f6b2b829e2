"""Stepping through backprop: the order of backward_steps is the order backward() runs, as a real
debugger sees it, and the `tinygrad-bn step` command walks it (terminal, --all, --svg-dir)."""
import bdb
import dis
import inspect
import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tinygrad_bn import Function, Tensor, graph, ops, stepper
from tinygrad_bn.cli import main
from tinygrad_bn.examples import LAYOUTS, batch_norm_example, lecture_example
from tinygrad_bn.functional import BatchNormFn
from tinygrad_bn.graph import backward_steps, topological_order
from tinygrad_bn.listing import node_line
from tinygrad_bn.stepper import example_graph, step_views

OP_CLASSES = [c for c in vars(ops).values() if isinstance(c, type) and issubclass(c, Function) and c is not Function]


def first_body_line(fn) -> int:
    """The line of the first statement inside fn: where a debugger user puts a breakpoint."""
    lines, start = inspect.getsourcelines(fn)
    def_line = start + next(i for i, line in enumerate(lines) if line.lstrip().startswith("def "))
    return min(line for _, line in dis.findlinestarts(fn.__code__) if line is not None and line > def_line)


class BreakpointRecorder(bdb.Bdb):
    """A debugger with a breakpoint in every op's backward; it records which node each hit is for."""

    def __init__(self, classes):
        super().__init__()
        self.where = {}
        for cls in classes:
            fn = cls.backward
            line = first_body_line(fn)
            self.where[(self.canonic(fn.__code__.co_filename), line)] = cls.__name__
            assert self.set_break(fn.__code__.co_filename, line) is None  # None: the breakpoint was set
        self.hits = []  # (op name, ctx) per breakpoint hit, in order

    def user_line(self, frame):
        key = (self.canonic(frame.f_code.co_filename), frame.f_lineno)
        if key in self.where:
            self.hits.append((self.where[key], frame.f_locals["ctx"]))
        self.set_continue()


def hit_nodes(recorder, output):
    by_ctx = {node._ctx: node for node in topological_order(output) if node._ctx is not None}
    return [(name, by_ctx[ctx]) for name, ctx in recorder.hits]


@pytest.mark.parametrize("make", [lecture_example, batch_norm_example], ids=["lecture", "bn"])
def test_breakpoints_in_backward_are_hit_in_the_order_backward_steps_yields(make):
    loss = make()  # built and already backpropagated once by the example
    expected = [step.node for step in backward_steps(loss) if not step.node.is_leaf]

    recorder = BreakpointRecorder(OP_CLASSES)
    recorder.runcall(loss.backward)

    hits = hit_nodes(recorder, loss)
    assert [node for _, node in hits] == expected
    assert [name for name, _ in hits] == [node.op for node in expected]  # each hit is in the node's own op
    assert len(hits) == sum(not n.is_leaf for n in topological_order(loss))


def test_a_breakpoint_in_the_fused_op_is_reached_when_its_step_comes():
    rng = np.random.default_rng(0)
    x = Tensor(rng.normal(size=(4, 3)), requires_grad=True, label="x")
    out = BatchNormFn.apply(x.exp(), None, None, 1e-5)
    loss = (out * rng.normal(size=(4, 3))).sum()
    recorder = BreakpointRecorder(OP_CLASSES + [BatchNormFn])
    recorder.runcall(loss.backward)
    assert [name for name, _ in hit_nodes(recorder, loss)] == ["Sum", "Mul", "BatchNormFn", "Exp"]


def test_stepping_hits_each_breakpoint_just_before_its_step_is_shown():
    """Under the debugger, iterating the stepper: the newest hit is always the step being shown."""
    loss = example_graph("lecture")
    recorder = BreakpointRecorder(OP_CLASSES)
    seen = []

    def walk():
        for view in step_views(loss):
            hits = hit_nodes(recorder, loss)
            seen.append((view.step.node, hits[-1][1] if hits else None, len(hits)))
    recorder.runcall(walk)
    non_leaf = [(node, last) for node, last, _ in seen if not node.is_leaf]
    assert non_leaf and all(node is last for node, last in non_leaf)
    counts = [count for node, _, count in seen if not node.is_leaf]
    assert counts == list(range(1, len(counts) + 1))  # exactly one backward call per step


def test_backward_is_the_same_loop_as_backward_steps(monkeypatch):
    """Node.backward exhausts graph.backward_steps: replace that generator and backward follows it."""
    loss = lecture_example()
    calls = []
    real = graph.backward_steps

    def spy(output, grad=None):
        calls.append(output)
        yield from real(output, grad)
    monkeypatch.setattr(graph, "backward_steps", spy)
    loss.backward()
    assert calls == [loss]


# ---------------------------------------------------------------- the command

def headers(text):
    return re.findall(r"\bstep (\d+) of (\d+): (%\d+)", text)


@pytest.mark.parametrize("example", ["lecture", "bn"])
def test_step_all_prints_every_step_in_backward_order(capsys, example):
    assert main(["step", example, "--all"]) == 0
    out = capsys.readouterr().out
    loss = example_graph(example)
    order = topological_order(loss)
    ids = {node: i for i, node in enumerate(order)}
    steps = list(backward_steps(loss))
    found = headers(out)
    assert [f"%{ids[s.node]}" for s in steps] == [h[2] for h in found]
    assert [int(h[0]) for h in found] == list(range(1, len(steps) + 1))
    for step in steps:
        assert f": {node_line(step.node, ids)}\n" in out  # the listing line of each node
    assert f"grad arriving:  d loss / d %{ids[loss]} loss = 1" in out


def test_step_text_shows_what_each_node_sends_to_its_inputs():
    loss = example_graph("lecture")
    ids = {node: i for i, node in enumerate(topological_order(loss))}
    for view in step_views(loss):
        node = view.step.node
        if node.op == "Div" and node.label == "x_hat":
            numerator, denominator = node.inputs
            sent = view.step.sends
            assert f"sends to %{ids[numerator]} x - mean:  {float(sent[0]):.4g}" in view.text
            assert np.isclose(sent[0], view.step.grad / denominator.data)  # d(a/b)/da = 1/b
            break
    else:
        pytest.fail("the lecture graph has an x_hat node")


def test_a_label_with_a_newline_stays_on_its_one_line_escaped_in_the_step_text():
    x = Tensor([1.0, 2.0], requires_grad=True, label="line1\nline2")
    y = x * 3
    y.label = "total\u2028sum"
    views = list(step_views(y.sum()))
    assert views[1].text.splitlines() == ["step 2 of 3: %1 total\\u2028sum : f64[2] = Mul %0 3",
                                          "  grad arriving:  d loss / d %1 total\\u2028sum = [1 1]",
                                          "  sends to %0 line1\\nline2:  [3 3]"]
    assert views[2].text.splitlines()[0] == "step 3 of 3: %0 line1\\nline2 : f64[2] = param"


def test_without_a_terminal_every_step_is_printed(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a tty: no waiting for Enter
    assert main(["step", "bn"]) == 0
    assert len(headers(capsys.readouterr().out)) == len(list(backward_steps(example_graph("bn"))))


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_enter_advances_and_q_quits(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", FakeTerminal("\n\nq\n"))
    assert main(["step", "lecture"]) == 0
    out = capsys.readouterr().out
    assert [h[0] for h in headers(out)] == ["1", "2", "3"]
    assert out.count("[Enter] next step, q quit:") == 3


def test_after_the_last_step_there_is_no_prompt(capsys, monkeypatch):
    steps = len(list(backward_steps(example_graph("bn"))))
    monkeypatch.setattr("sys.stdin", FakeTerminal("\n" * (steps + 5)))
    assert main(["step", "bn"]) == 0
    out = capsys.readouterr().out
    assert len(headers(out)) == steps
    assert out.count("[Enter] next step, q quit:") == steps - 1


def test_ctrl_c_ends_a_walk_without_a_traceback(capsys, monkeypatch):
    def interrupted(prompt):
        raise KeyboardInterrupt
    monkeypatch.setattr("sys.stdin", FakeTerminal(""))
    monkeypatch.setattr("builtins.input", interrupted)
    try:
        code = main(["step", "lecture"])
    except KeyboardInterrupt:  # let a regression fail this test, not interrupt the whole pytest run
        pytest.fail("Ctrl-C escaped tinygrad-bn's main, as a traceback")
    assert code == 130
    captured = capsys.readouterr()
    assert len(headers(captured.out)) == 1
    assert captured.err == "\ntinygrad-bn: interrupted\n"


def test_svg_dir_writes_one_diagram_per_step_with_the_step_node_marked(tmp_path, capsys):
    target = tmp_path / "steps"
    assert main(["step", "bn", "--all", "--svg-dir", str(target)]) == 0
    loss = example_graph("bn")
    ids = {node: i for i, node in enumerate(topological_order(loss))}
    expected = [f"n{ids[s.node]}" for s in backward_steps(loss)]
    files = sorted(target.glob("step-*.svg"))
    assert [f.name for f in files] == [f"step-{k:03d}.svg" for k in range(1, len(expected) + 1)]
    for path, node_id in zip(files, expected):
        assert red_nodes(path.read_text()) == [node_id]
    assert f"wrote {len(expected)} diagrams to {target}" in capsys.readouterr().out


def test_svg_dir_removes_the_step_files_a_longer_earlier_run_left_and_nothing_else(tmp_path, capsys):
    target = tmp_path / "steps"
    assert main(["step", "lecture", "--all", "--svg-dir", str(target)]) == 0
    assert capsys.readouterr().out.endswith(f"wrote 63 diagrams to {target}\n")
    others = ["notes.txt", "step-999.svg.bak", "step-x.svg", "my-step-020.svg", "step-0100.svg.txt"]
    for name in others:
        (target / name).write_text("mine")
    assert main(["step", "bn", "--all", "--svg-dir", str(target)]) == 0
    assert capsys.readouterr().out.endswith(f"wrote 14 diagrams to {target}; removed 49 step files numbered beyond "
                                            f"step-014.svg, left by an earlier run\n")
    assert sorted(p.name for p in target.iterdir()) == sorted(others + [f"step-{k:03d}.svg" for k in range(1, 15)])
    assert red_nodes((target / "step-014.svg").read_text()) == ["n0"]  # bn's last step: its input x
    assert main(["step", "bn", "--all", "--svg-dir", str(target)]) == 0
    assert capsys.readouterr().out.endswith(f"wrote 14 diagrams to {target}\n")  # nothing older: nothing said


def red_nodes(svg_text):
    """Titles of the node boxes drawn with a red border."""
    ns = {"svg": "http://www.w3.org/2000/svg"}
    root = ET.fromstring(svg_text)
    return [g.find("svg:title", ns).text for g in root.iter("{http://www.w3.org/2000/svg}g")
            if g.get("class") == "node" and any(p.get("stroke") == "red" for p in g.findall("svg:polygon", ns))]


def test_an_unwritable_svg_dir_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["step", "bn", "--all", "--svg-dir", str(blocker / "sub")]) == 1
    assert "tinygrad-bn step: cannot create --svg-dir" in capsys.readouterr().err


def test_an_unknown_example_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["step", "nope"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_layout_is_for_the_bn_example_only(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["step", "lecture", "--all", "--layout", next(iter(LAYOUTS))])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: tinygrad-bn step") and "error: --layout applies to the bn example only" in err


@pytest.mark.parametrize("where, reason", [("missing/page.html", "No such file or directory"),
                                           ("a_file/page.html", "Not a directory"),
                                           ("a_directory.svg", "Is a directory")])
def test_an_unwritable_html_path_is_refused_before_any_diagram_is_rendered(where, reason, tmp_path, capsys,
                                                                         monkeypatch):
    (tmp_path / "a_file").write_text("")
    (tmp_path / "a_directory.svg").mkdir()
    monkeypatch.setattr(stepper, "step_views", lambda *args, **kwargs: pytest.fail("rendered before refusing"))
    assert main(["step", "bn", "--html", str(tmp_path / where)]) == 1
    assert capsys.readouterr().err == f"tinygrad-bn step: cannot write {tmp_path / where}: {reason}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_directory.svg", "a_file"]  # no temporary file left


def test_a_step_diagram_that_cannot_be_written_is_said_as_draw_says_it(tmp_path, capsys):
    (tmp_path / "step-002.svg").mkdir()
    assert main(["step", "bn", "--all", "--svg-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"tinygrad-bn step: cannot write {tmp_path / 'step-002.svg'}: Is a directory\n"
