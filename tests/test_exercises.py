"""The exercises and their checker: every stub is unfinished, every reference solution passes, every
planted mistake is caught and located; the `tinygrad-bn exercises` commands around them."""
import re

import pytest

from exercise_solutions import MISTAKE_FOUND_AT, STUBS, solved_text, write_solution
from tinygrad_bn.cli import main
from tinygrad_bn.describe import number_text
from tinygrad_bn.exercises import EXERCISES, exercise
from tinygrad_bn.exercises.checker import _CHECKS, PASSING, UNFINISHED, WRONG, check, load

NUMBERS = [ex.number for ex in EXERCISES]


@pytest.mark.parametrize("number", NUMBERS)
def test_each_stub_raises_its_marked_not_implemented_error(number):
    text = (STUBS / exercise(number).filename).read_text()
    assert f'raise NotImplementedError("exercise {number}: ' in text
    assert f"# ---- exercise {number}" in text  # the marked place to fill in


@pytest.mark.parametrize("number", NUMBERS)
def test_a_stub_is_reported_unfinished_not_as_a_crash(number, tmp_path, capsys):
    assert main(["exercises", "init", str(tmp_path)]) == 0
    verdict = check(number, tmp_path)
    assert verdict.status == UNFINISHED
    assert f"exercise {number}: " in verdict.message
    assert main(["exercises", "check", str(number), "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"exercise {number} ({exercise(number).title}): UNFINISHED" in out
    assert "Traceback" not in out


@pytest.mark.parametrize("number", NUMBERS)
def test_the_reference_solution_passes(number, tmp_path, capsys):
    write_solution(number, tmp_path)
    verdict = check(number, tmp_path)
    assert verdict.status == PASSING, verdict.message
    assert main(["exercises", "check", str(number), "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"exercise {number} ({exercise(number).title}): PASSING" in out
    assert not list(tmp_path.glob("*.svg"))  # no diagram for a pass


@pytest.mark.parametrize("number", NUMBERS)
def test_a_planted_mistake_is_caught_and_the_wrong_node_named(number, tmp_path, capsys):
    write_solution(number, tmp_path, mistake=True)
    verdict = check(number, tmp_path)
    assert verdict.status == WRONG
    label, op = MISTAKE_FOUND_AT[number]
    report = verdict.report
    assert report.first_bad.label == label
    assert report.culprit_op == op

    assert main(["exercises", "check", str(number), "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    row = report.row(report.first_bad)
    assert f"exercise {number} ({exercise(number).title}): WRONG" in out
    assert f"first wrong gradient, in backward order: {report.names[row.node]} ({row.op}, {row.type})" in out
    assert f"expected (finite difference) {row.expected:.10g}, got {row.got:.10g}" in out
    assert f"largest difference {row.max_diff:.3g}" in out
    if op is not None:
        assert f"sent by {op}.backward" in out
    diagram = tmp_path / f"ex{number}-wrong.svg"
    assert f"diagram with the wrong node marked in red: {diagram}" in out
    ids = {node: i for i, node in enumerate(report.names)}
    assert red_node_titles(diagram.read_text()) == [f"n{ids[report.first_bad]}"]
    if number == 1:  # a Value graph: the diagram shows the (wrong) gradient the student's code gives
        assert f"grad {number_text(row.got)}" in diagram.read_text().replace("&#45;", "-")


def test_a_passing_check_removes_the_diagram_of_an_earlier_wrong_attempt(tmp_path, capsys):
    diagram, notes = tmp_path / "ex1-wrong.svg", tmp_path / "ex2-wrong.svg"  # another exercise's: kept
    notes.write_text("kept")
    write_solution(1, tmp_path, mistake=True)
    assert main(["exercises", "check", "1", "--dir", str(tmp_path)]) == 1
    assert diagram.is_file()
    capsys.readouterr()
    write_solution(1, tmp_path)
    assert main(["exercises", "check", "1", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.endswith(f"\nremoved {diagram}, the diagram of an earlier attempt\n") and "marked in red" not in out
    assert sorted(p.name for p in tmp_path.glob("*.svg")) == ["ex2-wrong.svg"]
    assert main(["exercises", "check", "1", "--dir", str(tmp_path)]) == 0
    assert "removed" not in capsys.readouterr().out  # nothing to remove: nothing said


def test_a_wrong_step_of_part_a_is_drawn_with_the_gradient_the_student_derived(tmp_path):
    write_solution(4, tmp_path, mistake=True)
    verdict = check(4, tmp_path)
    wrong = verdict.report.first_bad
    assert wrong.label == "bndiff" and wrong.grad is not None
    assert float(verdict.report.row(wrong).got) in wrong.grad  # the student's value, on the diagram's box


def test_the_checkers_own_loss_nodes_are_labelled_as_its_own(tmp_path):
    write_solution(3, tmp_path, mistake=True)
    rows = check(3, tmp_path).report.rows
    unlabelled = [r.name for r in rows if r.node.label is None and not r.node.is_leaf]
    assert [r for r in rows if (r.node.label or "").startswith("(checker)")]
    assert not unlabelled, unlabelled


def red_node_titles(svg):
    blocks = re.findall(r'<g id="[^"]*" class="node">\s*<title>([^<]*)</title>(.*?)</g>', svg, re.S)
    return [title for title, body in blocks if 'stroke="red"' in body]


# ---------------------------------------------------------------- the checker judges, it does not compare

def check_text(number, text, tmp_path):
    """Write `text` as exercise `number`'s file in tmp_path and check it: the verdict."""
    (tmp_path / exercise(number).filename).write_text(text)
    return check(number, tmp_path)


def test_a_different_but_correct_solution_passes(tmp_path):
    """No stored answer: Div's backward written another way (through the output) is right too."""
    text = solved_text(1).replace("return grad / b, -grad * a / b ** 2", "return grad * (1 / b), -(grad / b) * (a / b)")
    assert check_text(1, text, tmp_path).status == PASSING


@pytest.mark.parametrize("number, right, wrong, said", [
    (1, "(grad * out * math.log(a) if", "(out * math.log(a) if", "first wrong gradient"),  # grad forgotten: caught
    (4, 'dbnvar = -0.5 * (s["bnvar"] + eps) ** -1.5', 'dbnvar = -0.5 * s["bnvar"] ** -1.5', "first wrong gradient"),
    (3, "        return np.broadcast_to(g / ctx.n, ctx.shape), None, None",
        "        g /= ctx.n\n        return np.broadcast_to(g, ctx.shape), None, None",
        "Mean.backward (at node %17 y.mean(2)) changed the gradient it was given in place"),
    (5, "        ctx.x_hat = (x - running_mean) * ctx.r\n", "        x -= running_mean\n        ctx.x_hat = x * ctx.r\n",
        "(BatchNormEval): its forward changes its input %0 x in place"),
])
def test_small_mistakes_are_caught(number, right, wrong, said, tmp_path):
    """A Pow backward that forgets `grad` for the exponent (ex1's last op now gets a gradient that is
    not 1), a forgotten eps (the checker's tolerance is tight enough), and a gradient changed in place."""
    text = solved_text(number)
    assert right in text
    verdict = check_text(number, text.replace(right, wrong, 1), tmp_path)
    assert verdict.status == WRONG and said in verdict.message, verdict.message
    assert "your code raised" not in verdict.message


def test_part_a_of_exercise_4_can_be_checked_step_by_step(tmp_path):
    head, part_a = solved_text(4).split("def backward_by_steps")
    for name in ("dbnvar", "dbndiff2", "dbndiff", "dbnmeani", "dhprebn"):  # the last five steps left to do
        part_a = re.sub(rf"^(\s+){name} = .*$", rf"\1{name} = None", part_a, count=1, flags=re.M)
    text = head + "def backward_by_steps" + part_a
    verdict = check_text(4, text, tmp_path)
    assert verdict.status == UNFINISHED
    assert "4 of 9 steps right so far (bngain, bnbias, bnraw, bnvar_inv); still None: bnvar" in verdict.message


def test_a_gradient_of_the_wrong_shape_in_part_a_of_exercise_4_is_a_mistake_and_part_b_still_runs(tmp_path):
    text = solved_text(4).replace('dbngain = (dhpreact * s["bnraw"]).sum(0, keepdims=True)',
                                  'dbngain = (dhpreact * s["bnraw"]).sum(0)')
    verdict = check_text(4, text, tmp_path)
    assert verdict.status == WRONG
    assert verdict.message == ("part A (step by step): exercise 4: dbngain has shape (4,), but bngain has shape "
                               "(1, 4): a gradient has the shape of its value")
    part_a, part_b = _CHECKS[4](load(tmp_path / exercise(4).filename))
    assert (part_a.status, part_b.status) == (WRONG, PASSING)


def test_a_list_of_gradients_is_said_to_be_a_list_in_exercise_4(tmp_path):
    right = "return dhprebn, (g * bnraw).sum(0, keepdims=True), g.sum(0, keepdims=True), None"
    text = solved_text(4)
    assert right in text
    verdict = check_text(4, text.replace(right, "return [" + right[len("return "):] + "]"), tmp_path)
    assert verdict.status == WRONG
    assert "BatchNormClosedForm.backward returned a list; return a tuple, one gradient per input" in verdict.message


def test_exercise_1_reports_each_op_on_its_own(tmp_path):
    text = (STUBS / exercise(1).filename).read_text().replace(
        'raise NotImplementedError("exercise 1: Mul.backward is not written yet")', "return grad * b, grad * a")
    verdict = check_text(1, text, tmp_path)
    assert verdict.status == UNFINISHED
    assert verdict.message == "Div: exercise 1: Div.backward is not written yet\n(right so far: Mul)"


@pytest.mark.parametrize("number, right, wrong, message", [
    (2, "return grad.sum(axis=ones, keepdims=True)", "return grad.sum(axis=ones)",
     "unbroadcast: exercise 2: unbroadcast returned shape (4,) for a gradient of shape (2, 3, 4) and an input of "
     "shape (1, 4); it must return exactly (1, 4)"),
    # dbngain left (n, C): the engine would sum it to (1, C) by itself, hiding the sum the exercise is about
    (4, "return dhprebn, (g * bnraw).sum(0, keepdims=True), g.sum(0, keepdims=True), None",
     "return dhprebn, g * bnraw, g, None",
     "part B (closed form): exercise 4: BatchNormClosedForm.backward returned a gradient of shape (5, 3) for input "
     "1 (bngain), which has shape (1, 3): a gradient has the shape of its input, so sum over the batch axis where "
     "the input was broadcast"),
    (5, "(grad * ctx.x_hat).sum(0), grad.sum(0), None, None, None", "grad * ctx.x_hat, grad.sum(0), None, None, None",
     "BatchNormEval: exercise 5: BatchNormEval.backward returned a gradient of shape (5, 3) for input 1 (gamma), "
     "which has shape (3,): a gradient has the shape of its input, so sum over the batch axis"),
    (4, "return dhprebn, (g * bnraw).sum(0, keepdims=True), g.sum(0, keepdims=True), None",
     "return dhprebn.T, (g * bnraw).sum(0, keepdims=True), g.sum(0, keepdims=True), None",
     "part B (closed form): exercise 4: BatchNormClosedForm.backward returned a gradient of shape (3, 5) for input "
     "0 (hprebn), which has shape (5, 3): a gradient has the shape of its input, and this is its shape with the axes "
     "in another order: is it transposed?"),
    (5, "(grad * ctx.x_hat).sum(0), grad.sum(0), None, None, None",
     "(grad * ctx.x_hat).sum(0, keepdims=True), grad.sum(0), None, None, None",
     "BatchNormEval: exercise 5: BatchNormEval.backward returned a gradient of shape (1, 3) for input 1 (gamma), "
     "which has shape (3,): a gradient has the shape of its input, so give it exactly that shape (no kept axis"),
    (4, "return dhprebn, (g * bnraw).sum(0, keepdims=True), g.sum(0, keepdims=True), None",
     "return (g * bnraw).sum(0, keepdims=True), g.sum(0, keepdims=True), dhprebn, None",
     "part B (closed form): exercise 4: BatchNormClosedForm.backward returned a gradient of shape (1, 3) for input "
     "0 (hprebn), which has shape (5, 3): a gradient has the shape of its input, and this is the shape of input 1: "
     "are the gradients returned in forward's order?"),
    (4, "return dhprebn, (g * bnraw).sum(0, keepdims=True), g.sum(0, keepdims=True), None",
     "return dhprebn, (g * bnraw).sum(0, keepdims=True).T, g.sum(0, keepdims=True), None",
     "part B (closed form): exercise 4: BatchNormClosedForm.backward returned a gradient of shape (3, 1) for input "
     "1 (bngain), which has shape (1, 3): a gradient has the shape of its input, and this is its shape with the axes "
     "in another order: is it transposed?"),
    (4, "return dhprebn, (g * bnraw).sum(0, keepdims=True), g.sum(0, keepdims=True), None",
     "return dhprebn, (g * bnraw).sum(0), g.sum(0, keepdims=True), None",
     "part B (closed form): exercise 4: BatchNormClosedForm.backward returned a gradient of shape (3,) for input "
     "1 (bngain), which has shape (1, 3): a gradient has the shape of its input, so keep the axes you summed over"),
])
def test_a_gradient_of_the_wrong_shape_is_a_mistake_said_in_words(number, right, wrong, message, tmp_path):
    text = solved_text(number)
    assert right in text
    verdict = check_text(number, text.replace(right, wrong), tmp_path)
    assert verdict.status == WRONG
    assert verdict.message.startswith(message)


def test_a_wrong_unbroadcast_is_blamed_in_exercise_2_not_the_given_function(tmp_path):
    text = solved_text(2).replace("return grad.sum(axis=ones, keepdims=True)",
                                  "return grad.sum(axis=ones, keepdims=True) * 0.5")
    verdict = check_text(2, text, tmp_path)
    assert verdict.status == WRONG
    sender = verdict.report.culprits[0]
    assert (f"{sender.op} is given and right; its backward sends each input unbroadcast(gradient of shape "
            f"{sender.shape}, {verdict.report.first_bad.shape}), so your unbroadcast returns the wrong sums "
            f"for that pair of shapes") in verdict.message


def test_keras_momentum_in_exercise_5_is_said_to_be_keras_way_round(tmp_path):
    right = "new_mean = (1 - momentum) * running_mean + momentum * batch.mean(axis=0)"
    text = solved_text(5)
    assert right in text
    verdict = check_text(5, text.replace(right, "new_mean = momentum * running_mean + (1 - momentum) * batch.mean(axis=0)"),
                         tmp_path)
    assert verdict.status == WRONG
    assert "momentum=0 keeps the old running statistics, but running_mean is" in verdict.message
    assert "(that is Keras's way round, moving = momentum * moving + (1 - momentum) * batch; PyTorch's" in verdict.message


R = "ctx.gamma, ctx.r = gamma, 1 / np.sqrt(running_var + eps)"
SCALE = ("must give gamma + beta", "so the scale is off: multiply x - running_mean by gamma / sqrt(running_var + eps)")


@pytest.mark.parametrize("right, wrong, expected", [
    (R, "ctx.gamma, ctx.r = gamma, 1 / np.sqrt(running_var)", SCALE),          # eps forgotten
    (R, "ctx.gamma, ctx.r = gamma, 1 / (running_var + eps)", SCALE),           # the square root forgotten
    ("return gamma * ctx.x_hat + beta", "return ctx.x_hat + beta", SCALE),     # gamma forgotten
    ("return gamma * ctx.x_hat + beta", "return gamma * ctx.x_hat",            # beta forgotten
     ("x = running_mean must give beta", "subtract running_mean (not the batch's mean), then add beta")),
])
def test_exercise_5_says_which_part_of_the_eval_forward_is_off(right, wrong, expected, tmp_path):
    text = solved_text(5)
    assert right in text
    verdict = check_text(5, text.replace(right, wrong), tmp_path)
    assert verdict.status == WRONG
    assert all(part in verdict.message for part in expected), verdict.message


def test_eval_with_batch_statistics_is_wrong_in_exercise_5(tmp_path):
    text = solved_text(5).replace("ctx.x_hat = (x - running_mean) * ctx.r",
                                  "ctx.x_hat = (x - x.mean(0)) * ctx.r")
    verdict = check_text(5, text, tmp_path)
    assert verdict.status == WRONG
    assert "x = running_mean must give beta" in verdict.message
    assert "subtract running_mean (not the batch's mean), then add beta" in verdict.message


def test_a_biased_running_variance_is_wrong_in_exercise_5(tmp_path):
    text = solved_text(5).replace("batch.var(axis=0) * n / (n - 1)", "batch.var(axis=0)")
    verdict = check_text(5, text, tmp_path)
    assert verdict.status == WRONG
    assert "momentum=1 gives the batch's mean and its unbiased variance (n - 1), but running_var" in verdict.message


def test_an_error_in_the_students_code_names_their_line(tmp_path):
    text = solved_text(1).replace("return grad * b, grad * a", "return grad * b, grad * c")
    verdict = check_text(1, text, tmp_path)
    assert verdict.status == WRONG
    line = text.splitlines().index("        return grad * b, grad * c") + 1
    assert "your code raised NameError: name 'c' is not defined" in verdict.message
    assert f"at line {line} of ex1_scalar_ops.py, in backward: return grad * b, grad * c" in verdict.message


def test_a_file_that_does_not_parse_is_wrong_with_its_line(tmp_path):
    (tmp_path / exercise(3).filename).write_text("import numpy as np\ndef broken(:\n")
    verdict = check(3, tmp_path)
    assert verdict.status == WRONG
    assert verdict.message.startswith("your code raised SyntaxError: ")
    assert verdict.message.endswith("at line 2 of ex3_mean_var.py: def broken(:")


@pytest.mark.parametrize("call, said", [("sys.exit()", "SystemExit"), ("sys.exit(3)", "SystemExit: 3")])
def test_a_file_that_calls_sys_exit_is_wrong_with_its_line_and_list_still_lists(call, said, tmp_path, capsys):
    (tmp_path / exercise(2).filename).write_text(f"import sys\n{call}\n")
    assert main(["exercises", "check", "2", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.endswith(f"): WRONG\nyour code raised {said}\n  at line 2 of ex2_unbroadcast.py, in <module>: {call}\n")
    assert main(["exercises", "list", "--dir", str(tmp_path)]) == 0
    assert "2  wrong       ex2_unbroadcast.py" in capsys.readouterr().out


def test_ctrl_c_in_a_students_file_still_stops_the_checker(tmp_path):
    (tmp_path / exercise(2).filename).write_text("raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        check(2, tmp_path)


def test_the_checker_reads_the_file_as_it_is_now(tmp_path):
    """Checked twice within a second, with the same file size: no stale bytecode is used."""
    write_solution(1, tmp_path)
    assert check(1, tmp_path).status == PASSING
    write_solution(1, tmp_path, mistake=True)  # one character shorter...
    path = tmp_path / exercise(1).filename
    path.write_text(path.read_text() + " ")  # ... and now the same size again
    assert check(1, tmp_path).status == WRONG


# ---------------------------------------------------------------- the commands

def test_init_copies_the_stubs_and_never_overwrites(tmp_path, capsys):
    target = tmp_path / "work"
    assert main(["exercises", "init", str(target)]) == 0
    for ex in EXERCISES:
        assert (target / ex.filename).read_text() == (STUBS / ex.filename).read_text()
    (target / exercise(1).filename).write_text("# my work\n")
    assert main(["exercises", "init", str(target)]) == 0
    assert (target / exercise(1).filename).read_text() == "# my work\n"
    assert f"kept   {target / exercise(1).filename}" in capsys.readouterr().out


def test_list_shows_each_status(tmp_path, capsys):
    assert main(["exercises", "init", str(tmp_path)]) == 0
    write_solution(1, tmp_path)
    write_solution(2, tmp_path, mistake=True)
    (tmp_path / exercise(5).filename).unlink()
    capsys.readouterr()
    assert main(["exercises", "list", "--dir", str(tmp_path)]) == 0
    rows = {int(line.split()[0]): line.split()[1] for line in capsys.readouterr().out.splitlines()}
    assert rows == {1: "passing", 2: "wrong", 3: "unfinished", 4: "unfinished", 5: "missing"}


def test_check_without_the_file_says_how_to_start(tmp_path, capsys):
    assert main(["exercises", "check", "3", "--dir", str(tmp_path)]) == 2
    assert f"`tinygrad-bn exercises init {tmp_path}`" in capsys.readouterr().err


def test_check_from_inside_the_exercise_directory_says_to_add_dir_dot(tmp_path, capsys, monkeypatch):
    write_solution(3, tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["exercises", "check", "3"]) == 2  # the default --dir is ./exercises
    assert f"there is {exercise(3).filename} here: add `--dir .`" in capsys.readouterr().err
    assert main(["exercises", "check", "3", "--dir", "."]) == 0


def test_an_unknown_exercise_number_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["exercises", "check", "9"])
    assert exit_info.value.code == 2
    assert "invalid choice: 9" in capsys.readouterr().err
