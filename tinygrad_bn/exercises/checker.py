"""The exercise checker: runs a student's file and says passing, wrong (and where), or unfinished.

Every gradient is judged by `check_nodes`: the checker builds a graph with the student's own
Functions (or takes the gradients they derived by hand), and each node's gradient is compared with a
central finite difference. Nothing is compared with a stored answer. Exercise 5's running averages
and eval forward have no gradient to check; they are judged by their defining properties instead
(momentum 0 keeps the old statistics, momentum 1 gives the batch's; x = running_mean maps to beta).

A stub raises NotImplementedError("exercise N: ..."): that is reported as unfinished, not a crash.
Any other error in the student's code (a `sys.exit()` too) is reported as wrong, with the line of
their file it came from; Ctrl-C (KeyboardInterrupt) still stops the checker.
"""
from __future__ import annotations

import traceback
import types
from pathlib import Path

import numpy as np

from ..check_nodes import ChangedInPlace, check_nodes
from ..functional import _named
from ..tensor import Tensor
from ..value import Value
from . import exercise

PASSING, WRONG, UNFINISHED = "passing", "wrong", "unfinished"


class Mistake(ValueError):
    """Something the checker found wrong with what the student's code returned (its message says what)."""


class Verdict:
    """The outcome of one check: `status` (passing, wrong, unfinished), a `message` for the student,
    and for a wrong gradient the `report` and the graph's `output` (to draw with the node marked)."""
    __slots__ = ("exercise", "status", "message", "report", "output")

    def __init__(self, exercise, status, message, report=None, output=None):
        self.exercise, self.status, self.message = exercise, status, message
        self.report, self.output = report, output

    def __repr__(self):
        return f"<Verdict exercise {self.exercise.number}: {self.status}>"


def check(number: int, directory) -> Verdict:
    """Check the student's copy of exercise `number` in `directory` (a FileNotFoundError if absent)."""
    ex = exercise(number)
    path = Path(directory) / ex.filename
    if not path.is_file():
        if Path(ex.filename).is_file() and Path(directory).resolve() != Path.cwd():
            raise FileNotFoundError(f"exercises: no {path}, but there is {ex.filename} here: "
                                    f"add `--dir .` to check the copy in this directory")
        raise FileNotFoundError(f"exercises: no {path}; copy the exercises there first with "
                                f"`tinygrad-bn exercises init {directory}`")
    try:
        module = load(path)
        parts = _CHECKS[number](module)
    except NotImplementedError as error:
        return Verdict(ex, UNFINISHED, str(error))
    except Mistake as error:
        return Verdict(ex, WRONG, str(error))
    except (Exception, SystemExit) as error:  # the student's code failed, or called sys.exit(): say how, and where
        return Verdict(ex, WRONG, _crash(error, path))
    return _combine(ex, parts)


def load(path: Path) -> types.ModuleType:
    """Run a student's file as a fresh module (compiled from its current text: no stale bytecode)."""
    module = types.ModuleType(f"tinygrad_bn_exercise_{path.stem}")
    module.__file__ = str(path)
    exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), module.__dict__)
    return module


# ---------------------------------------------------------------- one result per part of an exercise

class _Part:
    """The result of one part (part A and part B, or one function): a status and its explanation."""
    __slots__ = ("name", "status", "message", "report", "output")

    def __init__(self, name, status, message, report=None, output=None):
        self.name, self.status, self.message, self.report, self.output = name, status, message, report, output


def _part(name, check_part, *args) -> _Part:
    """Run one part; a NotImplementedError left in it makes it unfinished, a Mistake wrong (the other
    parts still run)."""
    try:
        return check_part(name, *args)
    except NotImplementedError as error:
        return _Part(name, UNFINISHED, str(error))
    except Mistake as error:
        return _Part(name, WRONG, str(error))


TOLERANCE = dict(atol=1e-8, rtol=1e-6)  # check_nodes' defaults are 1e-5 and 1e-3; the finite differences
# here are good to about 1e-9, and a forgotten eps (1e-5 against a variance near 1) must not pass


def _graded(name, output, **kwargs) -> _Part:
    """Check every node of output's graph (or the claimed `grads`) by finite differences."""
    try:
        report = check_nodes(output, **TOLERANCE, **kwargs)
    except ChangedInPlace as error:
        raise Mistake(str(error).replace("check_nodes: ", "")) from None
    if report.ok:
        return _Part(name, PASSING, report.verdict(), report, output)
    if "grads" not in kwargs:
        output.backward()  # so that the diagram of the mistake shows the gradients the student's code gives
    else:  # the gradients derived by hand: the diagram shows those
        for node, grad in kwargs["grads"].items():
            node.grad = np.asarray(grad, dtype=node.data.dtype)
    return _Part(name, WRONG, f"{report.verdict()}\n\n{report.table()}", report, output)


def _combine(ex, parts) -> Verdict:
    """Wrong if any part is wrong (the first one is reported), else unfinished if any is, else passing."""
    for status in (WRONG, UNFINISHED):
        for p in parts:
            if p.status == status:
                done = [q.name for q in parts if q.status == PASSING]
                extra = f"\n(right so far: {', '.join(done)})" if done and status == UNFINISHED else ""
                return Verdict(ex, status, f"{p.name}: {p.message}{extra}", p.report, p.output)
    return Verdict(ex, PASSING, "\n".join(f"{p.name}: {p.message}" for p in parts))


def _crash(error, path) -> str:
    """`your code raised NameError: ...` and, below it, `at line 42 of ex1_scalar_ops.py, in backward:
    return grad * c`: the last line of the student's own file that the error passed through."""
    text = f"your code raised {type(error).__name__}" + (f": {error}" if str(error) else "")  # sys.exit() says nothing
    if isinstance(error, SyntaxError) and error.lineno is not None:
        return text + f"\n  at line {error.lineno} of {path.name}: {(error.text or '').strip()}"
    frames = []
    while error is not None:  # Function.apply re-raises forward's error naming the op: look at the cause too
        frames = frames + traceback.extract_tb(error.__traceback__)
        error = error.__cause__
    mine = [f for f in frames if Path(f.filename).resolve() == path.resolve()]
    if mine:
        f = mine[-1]
        text += f"\n  at line {f.lineno} of {path.name}, in {f.name}: {(f.line or '').strip()}"
    return text


def _leaf(rng, shape, label, low=None, high=None):
    """A float64 leaf that requires grad: normal values, or uniform in [low, high] (never all-ones:
    an init of zeros or ones can hide a wrong backward)."""
    data = rng.normal(size=shape) if low is None else rng.uniform(low, high, size=shape)
    return Tensor(data, requires_grad=True, label=label)


def _exact_shapes(fn, exercise_number: int):
    """fn, with a backward that must return each gradient in its input's shape. The engine would sum a
    gradient of the output's shape down to (1, C) or (C,) by itself (unbroadcast, as PyTorch does),
    which would hide the very reduction over the batch these exercises are about."""
    class Exact(fn):
        @staticmethod
        def backward(ctx, grad):
            grads = fn.backward(ctx, grad)
            if type(grads) is not tuple and len(ctx) > 1:  # a list, or one gradient for several inputs:
                return grads                                # the engine's own message says what is wrong
            for index, (x, g) in enumerate(zip(ctx, grads if type(grads) is tuple else (grads,))):
                if isinstance(x, Tensor) and g is not None and np.shape(g) != x.shape:
                    raise Mistake(f"exercise {exercise_number}: {fn.__name__}.backward returned a gradient of shape "
                                  f"{np.shape(g)} for input {index} ({x.label or 'unnamed'}), which has shape "
                                  f"{x.shape}: a gradient has the shape of its input, {_shape_hint(ctx, index, g)}")
            return grads
    Exact.__name__ = Exact.__qualname__ = fn.__name__  # diagrams and messages name the student's class
    return Exact


def _shape_hint(inputs, index, g) -> str:
    """What a gradient of the wrong shape for inputs[index] most likely means, in a few words."""
    x, shape = inputs[index], np.shape(g)
    if len(shape) == x.ndim and sorted(shape) == sorted(x.shape):
        return "and this is its shape with the axes in another order: is it transposed?"
    if [d for d in shape if d != 1] == [d for d in x.shape if d != 1]:  # the same but for axes of length 1
        return ("so keep the axes you summed over (keepdims=True)" if len(shape) < x.ndim
                else "so give it exactly that shape (no kept axis: keepdims=False)")
    if np.size(g) > x.data.size:
        return "so sum over the batch axis where the input was broadcast"
    others = [i for i, y in enumerate(inputs) if i != index and isinstance(y, Tensor) and y.shape == shape]
    if others:
        return f"and this is the shape of input {others[0]}: are the gradients returned in forward's order?"
    return "so sum only over the axes where the input was broadcast, not over its own"


def _loss(out, rng):
    """sum(out * w) for fixed random weights w: every element of out gets a different gradient. Its
    nodes are labelled as the checker's, so that a student reading the table can tell them from their own."""
    return _named(_named(out * rng.normal(size=out.shape), "(checker) out * w").sum(), "(checker) loss")


# ---------------------------------------------------------------- exercise 1: mul, div, pow on Values

def _check_1(m):
    """One small graph per op, so each can be finished (and is reported) on its own."""
    a, b, c, p = (Value(2.5, label="a"), Value(-1.5, label="b"), Value(0.8, label="c"), Value(1.7, label="p"))
    return [_part("Mul", _ex1_mul, m, a, b), _part("Div", _ex1_div, m, a, b, c), _part("Pow", _ex1_pow, m, b, p)]


def _ex1_mul(name, m, a, b):
    ab = _named(m.Mul.apply(a, b), "a * b")
    return _graded(name, _weighted(_named(m.Mul.apply(ab, a), "a * b * a")))         # a is used twice


def _ex1_div(name, m, a, b, c):
    q = _named(m.Div.apply(a, c), "a / c")
    return _graded(name, _weighted(_named(m.Div.apply(q, b), "a / c / b")))


def _ex1_pow(name, m, b, p):
    square = _named(m.Pow.apply(b, 2), "b ** 2")                                     # a constant exponent
    return _graded(name, _weighted(_named(m.Pow.apply(square, p), "(b ** 2) ** p")))  # an exponent that is a node


def _weighted(out):
    """out * 0.7 (the engine's own Mul), for an output of one number: the student's last op then gets a
    gradient that is not 1, so a backward that forgets to multiply by `grad` is caught there too."""
    return _named(out * 0.7, f"(checker) {out.label} * 0.7")


# ---------------------------------------------------------------- exercise 2: unbroadcast

def _check_2(m):
    return [_part("unbroadcast", _ex2_graph, m)]


def _ex2_graph(name, m):
    student = m.unbroadcast

    def unbroadcast(grad, shape):  # the engine would quietly fix a wrong shape: refuse it here
        out = student(grad, shape)
        if np.shape(out) != tuple(shape):
            raise Mistake(f"exercise 2: unbroadcast returned shape {np.shape(out)} for a gradient of shape "
                          f"{np.shape(grad)} and an input of shape {tuple(shape)}; it must return exactly "
                          f"{tuple(shape)}")
        return out
    m.unbroadcast = unbroadcast  # the given Functions look the name up in the module at call time
    rng = np.random.default_rng(2)
    x, b, c = _leaf(rng, (2, 3, 4), "x"), _leaf(rng, (4,), "b"), _leaf(rng, (3, 1), "c")
    d, s, k = _leaf(rng, (1, 4), "d"), _leaf(rng, (3, 4), "s"), _leaf(rng, (), "k")
    y = _named(m.BroadcastAdd.apply(x, b), "x + b")
    z = _named(m.BroadcastMul.apply(y, c), "(x + b) * c")
    u = _named(m.BroadcastAdd.apply(z, d), "(x + b) * c + d")
    v = _named(m.BroadcastMul.apply(s, u), "s * u")
    out = _named(m.BroadcastMul.apply(v, k), "s * u * k")
    result = _graded(name, _loss(out, rng))
    if result.status == WRONG and result.report.culprits:  # the given Functions only call unbroadcast
        wrong, sender = result.report.first_bad, result.report.culprits[0]
        result.message += (f"\n\n{sender.op} is given and right; its backward sends each input "
                           f"unbroadcast(gradient of shape {sender.shape}, {wrong.shape}), so your unbroadcast "
                           f"returns the wrong sums for that pair of shapes")
    return result


# ---------------------------------------------------------------- exercise 3: mean and var

def _check_3(m):
    return [_part("Mean and Var", _ex3_graph, m)]


def _ex3_graph(name, m):
    rng = np.random.default_rng(3)
    x, y = _leaf(rng, (4, 3), "x"), _leaf(rng, (2, 3, 2), "y")
    terms = [
        _loss(_named(x - _named(m.Mean.apply(x, 0, True), "x.mean(0, keepdims)"), "x - x.mean(0, keepdims)"), rng),
        _loss(_named(m.Var.apply(x, 1, False), "x.var(1)"), rng),
        _weighted(_named(m.Mean.apply(x, None, False), "x.mean()")),
        _loss(_named(m.Var.apply(x, (0, 1), True), "x.var((0, 1), keepdims)"), rng),
        _loss(_named(m.Var.apply(y, (0, 2), True), "y.var((0, 2), keepdims)"), rng),
        _loss(_named(m.Mean.apply(y, 2, False), "y.mean(2)"), rng),
    ]
    total = terms[0]
    for term in terms[1:]:
        total = _named(total + term, "(checker) loss")
    return _graded(name, total)


# ---------------------------------------------------------------- exercise 4: batch norm by hand

def _check_4(m):
    return [_part("part A (step by step)", _ex4_steps, m), _part("part B (closed form)", _ex4_closed_form, m)]


def _ex4_inputs(rng, n=6, channels=4):
    hprebn = _leaf(rng, (n, channels), "hprebn")
    hprebn.data = hprebn.data * 2.0 + 0.5
    return hprebn, _leaf(rng, (1, channels), "bngain", 0.5, 1.5), _leaf(rng, (1, channels), "bnbias", -0.5, 0.5)


def _ex4_steps(name, m):
    rng = np.random.default_rng(4)
    hprebn, bngain, bnbias = _ex4_inputs(rng)
    steps = {step: _named(node, step) for step, node in m.forward(hprebn, bngain, bnbias).items()}
    nodes = dict(steps, hprebn=hprebn, bngain=bngain, bnbias=bnbias)
    dhpreact = rng.normal(size=hprebn.shape)
    loss = (steps["hpreact"] * dhpreact).sum()  # so d loss / d hpreact is exactly dhpreact
    claimed = m.backward_by_steps(hprebn.data.copy(), bngain.data.copy(), bnbias.data.copy(), dhpreact.copy())
    if not isinstance(claimed, dict):
        raise Mistake(f"exercise 4: backward_by_steps must return a dict of gradients, got {type(claimed).__name__}")
    unknown = sorted(set(claimed) - set(m.STEPS))
    if unknown:
        raise Mistake(f"exercise 4: backward_by_steps returned unknown step name(s) {unknown}; "
                      f"the steps are {list(m.STEPS)}")
    todo = [step for step in m.STEPS if claimed.get(step) is None]
    for step in m.STEPS:  # check_nodes would refuse a wrong shape too, but not in the student's words
        if step not in todo and np.shape(claimed[step]) != nodes[step].shape:
            raise Mistake(f"exercise 4: d{step} has shape {np.shape(claimed[step])}, but {step} has shape "
                          f"{nodes[step].shape}: a gradient has the shape of its value")
    given = {nodes[step]: claimed[step] for step in m.STEPS if step not in todo}
    if not given:
        return _Part(name, UNFINISHED, "exercise 4: no step of part A has a gradient yet (all are None)")
    result = _graded(name, loss, grads=given)
    if result.status == PASSING and todo:
        right = [step for step in m.STEPS if step not in todo]
        return _Part(name, UNFINISHED, f"{len(right)} of {len(m.STEPS)} steps right so far ({', '.join(right)}); "
                                       f"still None: {', '.join(todo)}", result.report, loss)
    return result


def _ex4_closed_form(name, m):
    rng = np.random.default_rng(40)
    hprebn, bngain, bnbias = _ex4_inputs(rng, n=5, channels=3)
    out = _named(_exact_shapes(m.BatchNormClosedForm, 4).apply(hprebn, bngain, bnbias, 1e-5), "hpreact")
    return _graded(name, _loss(out, rng))


# ---------------------------------------------------------------- exercise 5: running statistics, eval

def _check_5(m):
    return [_part("update_running_stats", _ex5_running, m), _part("BatchNormEval", _ex5_eval, m)]


def _ex5_running(name, m):
    rng = np.random.default_rng(5)
    batch, mean0, var0 = rng.normal(size=(8, 3)) * 3 + 1, rng.normal(size=3), rng.uniform(0.5, 2.0, size=3)

    def update(momentum):
        result = m.update_running_stats(mean0.copy(), var0.copy(), batch.copy(), momentum)
        if not (isinstance(result, tuple) and len(result) == 2) or any(np.shape(r) != (3,) for r in result):
            raise Mistake(f"exercise 5: update_running_stats must return (running_mean, running_var), "
                          f"two arrays of shape (3,) for 3 channels, got {result!r:.200}")
        return np.asarray(result[0], dtype=np.float64), np.asarray(result[1], dtype=np.float64)
    rules = [
        ("momentum=0 keeps the old running statistics", update(0.0), (mean0, var0)),
        ("momentum=1 gives the batch's mean and its unbiased variance (n - 1)", update(1.0),
         (batch.mean(axis=0), batch.var(axis=0, ddof=1))),
        ("momentum=0.1 moves 10% of the way from the old statistics to the batch's", update(0.1),
         tuple(0.9 * old + 0.1 * new for old, new in zip((mean0, var0), update(1.0)))),
    ]
    keras = (np.allclose(update(0.0)[0], batch.mean(axis=0))  # momentum 0 gives the batch's and 1 the old:
             and np.allclose(update(1.0)[0], mean0))           # the roles of the two swapped
    for rule, got, expected in rules:
        for stat, g, e in zip(("running_mean", "running_var"), got, expected):
            if not np.allclose(g, e, rtol=1e-9, atol=1e-12):
                hint = (" (that is Keras's way round, moving = momentum * moving + (1 - momentum) * batch; PyTorch's, "
                        "asked for here, is running = (1 - momentum) * running + momentum * batch)") if keras else ""
                return _Part(name, WRONG, f"{rule}, but {stat} is {np.round(g, 6)} where that gives {np.round(e, 6)}{hint}")
    return _Part(name, PASSING, "momentum 0, 1 and 0.1 each give what they must")


def _ex5_eval(name, m):
    rng = np.random.default_rng(50)
    channels, eps = 3, 1e-5
    gamma, beta = _leaf(rng, (channels,), "gamma", 0.5, 1.5), _leaf(rng, (channels,), "beta", -0.5, 0.5)
    mean, var = rng.normal(size=channels), rng.uniform(0.5, 2.0, size=channels)

    batch_norm_eval = _exact_shapes(m.BatchNormEval, 5)

    def run(x):
        out = batch_norm_eval.apply(x, gamma, beta, mean.copy(), var.copy(), eps)
        if out.shape != x.shape:
            raise Mistake(f"exercise 5: BatchNormEval returned shape {out.shape} for input of shape {x.shape}")
        return _named(out, "y")
    # the forward's meaning: the running mean maps to beta, one running std above it to gamma + beta
    special = np.stack([mean, mean + np.sqrt(var + eps)])
    x = np.concatenate([special, rng.normal(size=(3, channels)) * 2])
    y = run(Tensor(x)).data
    rows = [("x = running_mean", "beta", beta.data,  # centering and the shift: x - running_mean is 0 here
             "y = gamma * (x - running_mean) * r + beta: subtract running_mean (not the batch's mean), then add beta"),
            ("x = running_mean + sqrt(running_var + eps)", "gamma + beta", gamma.data + beta.data,  # then the scale
             "centering and beta are right here, so the scale is off: multiply x - running_mean by "
             "gamma / sqrt(running_var + eps) (the running variance, eps inside the square root)")]
    for row, (what, should, expected, hint) in enumerate(rows):
        if not np.allclose(y[row], expected, rtol=1e-9, atol=1e-9):
            return _Part(name, WRONG, f"in eval, {what} must give {should} {np.round(expected, 6)}, "
                                      f"got {np.round(y[row], 6)}: {hint}")
    for row in range(len(x)):
        alone = run(Tensor(x[row:row + 1])).data[0]
        if not np.allclose(alone, y[row], rtol=1e-9, atol=1e-12):
            return _Part(name, WRONG, f"sample {row} alone (a batch of one) gives {np.round(alone, 6)} but "
                                      f"{np.round(y[row], 6)} inside a batch of {len(x)}: eval must not use "
                                      f"batch statistics")
    for n in (5, 1):  # a batch of several first: a gradient not summed over it then shows as such
        xs = _leaf(rng, (n, channels), "x")
        result = _graded(f"{name} backward, batch of {n}", _loss(run(xs), rng))
        if result.status != PASSING:
            return result
    return _Part(name, PASSING, "running statistics used, a batch of one works, and every gradient agrees "
                                "with its finite difference")


_CHECKS = {1: _check_1, 2: _check_2, 3: _check_3, 4: _check_4, 5: _check_5}
