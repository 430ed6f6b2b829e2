"""The training demo: it runs, measures the lecture's claims, and handles the plot extra."""
import builtins
import io
import re
import subprocess
import sys

import numpy as np
import pytest

from tinygrad_bn import demo, nn
from tinygrad_bn.cli import main as cli_main


def _table_rows(text):
    rows = {}
    for name in ("without BN", "with BN"):
        match = re.search(rf"^{name}\s+(\S+(?: reached)?)\s+(\d+ ms|-)\s+([\d.]+)\s+([\d.]+)$", text, re.M)
        assert match, f"no table row for {name!r} in:\n{text}"
        epochs, took, per_epoch, final = match.groups()
        rows[name] = (epochs, final, per_epoch, took)
    return rows


def test_demo_trains_both_networks_and_batch_norm_gets_there_first():
    out = io.StringIO()
    assert demo.main(["--epochs", "60", "--no-plot"], out=out) == 0
    text = out.getvalue()
    rows = _table_rows(text)
    bn_epochs = int(rows["with BN"][0])
    plain = rows["without BN"][0]
    assert plain == "not reached" or bn_epochs < int(plain)
    assert float(rows["with BN"][1]) >= 0.95
    bn_ms, bn_epoch_ms = float(rows["with BN"][3].split()[0]), float(rows["with BN"][2])
    assert bn_ms == pytest.approx(bn_epochs * bn_epoch_ms, rel=0.75)  # the epochs' time: about their count x the median
    single, batch = re.search(r"accuracy one at a time: ([\d.]+); the whole set as one batch in eval\(\): ([\d.]+) "
                              r"\(the same", text).groups()
    assert single == batch


def test_eval_one_at_a_time_matches_batch_eval():
    x, y = demo.make_spirals(n_per_class=32, seed=1)
    model = demo.make_model(True, seed=1)
    demo.train(model, x, y, epochs=3, batch_size=16, lr=0.1, seed=1, target=0.9, name="t", out=io.StringIO())
    model.eval()
    singles = np.array([demo.accuracy(model, x[i:i + 1], y[i:i + 1]) for i in range(len(x))])
    assert singles.mean() == pytest.approx(demo.accuracy(model, x, y))
    assert any(isinstance(m, nn.BatchNorm1d) and m.num_batches_tracked == 12 for m in model)


def _shown(n, shown):
    """The indices of the inputs one_at_a_time prints for a set of n inputs (input i is (i / 100, 0))."""
    x = np.column_stack([np.arange(n) / 100, np.zeros(n)])
    out = io.StringIO()
    demo.one_at_a_time(demo.make_model(True, seed=0), x, np.zeros(n, dtype=np.int64), out, shown=shown)
    return [round(float(a) * 100) for a in re.findall(r"^  input \(([+-][\d.]+), ", out.getvalue(), re.M)]


def test_one_at_a_time_shows_the_number_asked_for_evenly_spaced():
    indices = _shown(512, 5)
    assert len(indices) == 5 and indices[0] == 0
    assert set(np.diff(indices)) <= {102, 103}  # 512 / 5 = 102.4 apart
    assert _shown(3, 5) == [0, 1, 2]  # fewer inputs than asked for: all of them
    assert _shown(7, 1) == [0]


def test_spirals_are_two_balanced_classes():
    x, y = demo.make_spirals(n_per_class=50, seed=3)
    assert x.shape == (100, 2) and np.bincount(y).tolist() == [50, 50]


def test_plot_is_written_with_matplotlib(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib (the plot extra) is not installed")
    path = tmp_path / "curves.png"
    out = io.StringIO()
    assert demo.main(["--epochs", "2", "--plot", str(path)], out=out) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


@pytest.mark.parametrize("name, start", [("curves.svg", b"<?xml"), ("curves.PDF", b"%PDF-")])
def test_the_plot_format_follows_the_suffix(name, start, tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib (the plot extra) is not installed")
    path = tmp_path / name
    assert demo.main(["--epochs", "1", "--plot", str(path)], out=io.StringIO()) == 0
    assert path.read_bytes().startswith(start)
    if name.endswith(".svg"):
        assert b"<svg" in path.read_bytes()


def test_a_plot_suffix_that_names_no_format_is_refused_before_training(tmp_path, capsys):
    out = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        demo.main(["--epochs", "1", "--plot", str(tmp_path / "p.jpg")], out=out)
    assert exit_info.value.code == 2
    assert out.getvalue() == ""  # no training started
    assert capsys.readouterr().err.endswith(f"error: --plot {tmp_path / 'p.jpg'}: the suffix must be one of .png, "
                                            f".svg, .pdf (it chooses the format)\n")
    assert demo.main(["--epochs", "1", "--plot", "p.jpg", "--no-plot"], out=out) == 0  # no plot: any name will do


@pytest.mark.parametrize("target, said", [("2", "2 is not an accuracy"), ("-1", "-1 is not an accuracy"),
                                          ("0", "0 is not an accuracy"), ("nan", "nan is not an accuracy"),
                                          ("95%", "'95%' is not a number")])
def test_a_target_that_is_not_an_accuracy_is_a_usage_error(target, said, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["demo", "--target", target, "--no-plot"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: tinygrad-bn demo") and f"error: argument --target: {said}" in err
    if "accuracy" in said:
        assert err.endswith(": it must be more than 0 and at most 1 (0.95 is 95%)\n")


def test_a_target_of_1_is_an_accuracy():
    out = io.StringIO()
    assert demo.main(["--epochs", "1", "--target", "1", "--no-plot"], out=out) == 0
    assert "epochs to 100%" in out.getvalue()


def test_an_unwritable_plot_path_is_reported_not_a_crash(tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib (the plot extra) is not installed")
    out = io.StringIO()
    assert demo.main(["--epochs", "1", "--plot", str(tmp_path / "missing" / "p.png")], out=out) == 0
    assert re.search(r"no plot: cannot write .*missing/p\.png: No such file or directory", out.getvalue())


def test_without_matplotlib_it_says_how_to_get_a_plot(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    out = io.StringIO()
    assert demo.main(["--epochs", "1", "--plot", str(tmp_path / "p.png")], out=out) == 0
    assert "pip install 'tinygrad_bn[plot]'" in out.getvalue()
    assert not (tmp_path / "p.png").exists()


def test_cli_demo_rejects_zero_epochs(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["demo", "--epochs", "0", "--no-plot"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("usage: tinygrad-bn demo") and "error: --epochs must be at least 1" in captured.err


def test_cli_version_and_help():
    version = subprocess.run([sys.executable, "-m", "tinygrad_bn", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and re.match(r"tinygrad-bn \d+\.\d+\.\d+", version.stdout)
    help_text = subprocess.run([sys.executable, "-m", "tinygrad_bn", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "demo" in help_text.stdout
