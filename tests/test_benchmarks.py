"""The benchmark scripts run and print their tables (with the fewest repeats; nothing is timed
here: speed is measured by running them, see the README's "Speed"). A change that breaks a
benchmark fails here, not when someone next wants a number."""
import importlib
import os
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(path.stem for path in BENCHMARKS.glob("*.py"))


@pytest.fixture
def benchmark(monkeypatch):
    """Import a script from benchmarks/ as a module (its main() takes argv); afterwards, undo what
    the scripts change for the whole process: the environment (OPENBLAS_NUM_THREADS), torch's
    thread count, and their modules in sys.modules."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    environment = dict(os.environ)
    try:
        import torch
        threads = torch.get_num_threads()
    except ImportError:
        torch = None
    yield importlib.import_module
    os.environ.clear()
    os.environ.update(environment)
    if torch is not None:
        torch.set_num_threads(threads)
    for name in SCRIPTS:
        sys.modules.pop(name, None)


def test_batch_norm_prints_every_shape_and_dtype_with_both_ratios(benchmark, capsys):
    benchmark("batch_norm").main(["--repeats", "1", "--calls", "1", "--no-torch"])
    out = capsys.readouterr().out
    assert "fused/numpy" in out and "composed/fused" in out and "minor page faults per call" in out
    for shape in ("(256, 64)", "(32, 16, 16, 16)"):
        assert sum(line.startswith(shape) for line in out.splitlines()) == 4  # 2 dtypes x (times, faults)


def test_training_step_prints_both_dtypes(benchmark, capsys):
    benchmark("training_step").main(["--repeats", "1", "--calls", "1"])
    out = capsys.readouterr().out
    assert "composed/fused" in out and "minor page faults per step" in out
    assert sum(line.startswith(("float32", "float64")) for line in out.splitlines()) == 4


def test_scalar_engine_prints_every_mode_and_the_collectors_work(benchmark, capsys, monkeypatch):
    module = benchmark("scalar_engine")
    monkeypatch.setattr(module, "MicrogradValue", None)  # ours only: a micrograd step takes over a second
    module.main(["--repeats", "1", "--loop-steps", "1", "--loop-repeats", "1"])
    out = capsys.readouterr().out
    for mode in ("collector on,  last loss alive", "collector off", "last loss dropped", "demo loop"):
        assert mode in out
    assert "micrograd is not installed" in out and "tinygrad_bn " in out and "full collection" in out
    (counted,) = [line for line in out.splitlines() if line.startswith("objects the collector tracks per graph node")]
    assert 1.9 < float(counted.rsplit(" ", 1)[1]) <= 2.0  # the node and its ctx (test_memory.py counts them too)


def test_check_nodes_benchmark_checks_every_graph(benchmark, capsys):
    module = benchmark("check_nodes")
    module.main(["--repeats", "1"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["graph", "nodes"] and len(lines) == 2 + len(module.SHAPES)  # + the lecture


def test_graph_tools_prints_its_timings(benchmark, capsys):
    benchmark("graph_tools").main(["--repeats", "1", "--no-render"])
    out = capsys.readouterr().out
    assert "topological_order" in out and "format_graph" in out
