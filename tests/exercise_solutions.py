"""Reference solutions to the exercises, and one planted mistake in each (used by test_exercises.py).

A solution is written as the student would write it: the packaged stub, with each marked place
filled in. SOLUTIONS[n] maps a line of stub n (each occurs exactly once) to what replaces it;
MISTAKES[n] then changes one line of the solved file into a plausible wrong version.

They live with the tests, not in the package: the checker needs no answers (it uses finite
differences), and a student who installs the package should not find the answers beside the stubs.
"""
from pathlib import Path

import tinygrad_bn.exercises as exercises

STUBS = Path(exercises.__file__).parent


def _raise(n, what):
    return f'raise NotImplementedError("exercise {n}: {what}")'


SOLUTIONS = {
    1: {
        _raise(1, "Mul.backward is not written yet"): "return grad * b, grad * a",
        _raise(1, "Div.backward is not written yet"): "return grad / b, -grad * a / b ** 2",
        _raise(1, "Pow.backward is not written yet"):
            "return grad * b * a ** (b - 1), (grad * out * math.log(a) if ctx.needs_input_grad[1] else None)",
    },
    2: {
        _raise(2, "unbroadcast is not written yet"):
            "grad = grad.sum(axis=tuple(range(grad.ndim - len(shape))))\n"
            "    ones = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)\n"
            "    return grad.sum(axis=ones, keepdims=True)",
    },
    3: {
        _raise(3, "Mean.backward is not written yet"):
            "g = grad if ctx.keepdims else np.expand_dims(grad, ctx.axis)\n"
            "        return np.broadcast_to(g / ctx.n, ctx.shape), None, None",
        _raise(3, "Var.backward is not written yet"):
            "g = grad if ctx.keepdims else np.expand_dims(grad, ctx.axis)\n"
            "        return g * 2 * ctx.centered / ctx.n, None, None",
    },
    4: {
        _raise(4, "part A (backward_by_steps) is not started"): "",
        "dbngain = None": 'dbngain = (dhpreact * s["bnraw"]).sum(0, keepdims=True)',
        "dbnbias = None": "dbnbias = dhpreact.sum(0, keepdims=True)",
        "dbnraw = None": "dbnraw = bngain * dhpreact",
        "dbnvar_inv = None": 'dbnvar_inv = (s["bndiff"] * dbnraw).sum(0, keepdims=True)',
        "dbnvar = None": 'dbnvar = -0.5 * (s["bnvar"] + eps) ** -1.5 * dbnvar_inv',
        "dbndiff2 = None": 'dbndiff2 = np.ones_like(s["bndiff2"]) / n * dbnvar',
        "dbndiff = None": 'dbndiff = s["bnvar_inv"] * dbnraw + 2 * s["bndiff"] * dbndiff2',
        "dbnmeani = None": "dbnmeani = -dbndiff.sum(0, keepdims=True)",
        "dhprebn = None": "dhprebn = dbndiff + np.ones_like(hprebn) / n * dbnmeani",
        _raise(4, "part B (BatchNormClosedForm.backward) is not written yet"):
            "g = dhpreact\n"
            "        dhprebn = bngain * bnvar_inv / n * (n * g - g.sum(0, keepdims=True)\n"
            "                                            - bnraw * (g * bnraw).sum(0, keepdims=True))\n"
            "        return dhprebn, (g * bnraw).sum(0, keepdims=True), g.sum(0, keepdims=True), None",
    },
    5: {
        _raise(5, "update_running_stats is not written yet"):
            "n = batch.shape[0]\n"
            "    new_mean = (1 - momentum) * running_mean + momentum * batch.mean(axis=0)\n"
            "    new_var = (1 - momentum) * running_var + momentum * batch.var(axis=0) * n / (n - 1)\n"
            "    return new_mean, new_var",
        _raise(5, "BatchNormEval.forward is not written yet"):
            "ctx.gamma, ctx.r = gamma, 1 / np.sqrt(running_var + eps)\n"
            "        ctx.x_hat = (x - running_mean) * ctx.r\n"
            "        return gamma * ctx.x_hat + beta",
        _raise(5, "BatchNormEval.backward is not written yet"):
            "return grad * ctx.gamma * ctx.r, (grad * ctx.x_hat).sum(0), grad.sum(0), None, None, None",
    },
}

# one classic mistake per exercise: (the right line, the wrong line); the checker must say "wrong"
MISTAKES = {
    1: ("-grad * a / b ** 2", "grad * a / b ** 2"),                                   # lost minus sign
    2: ("return grad.sum(axis=ones, keepdims=True)", "return grad.mean(axis=ones, keepdims=True)"),  # mean, not sum
    3: ("return g * 2 * ctx.centered / ctx.n, None, None",
        "return g * 2 * ctx.centered / (ctx.n - 1), None, None"),                     # Bessel's n - 1
    4: ('dbndiff = s["bnvar_inv"] * dbnraw + 2 * s["bndiff"] * dbndiff2',
        'dbndiff = s["bnvar_inv"] * dbnraw'),                                         # forgot bndiff's 2nd use
    5: ("return grad * ctx.gamma * ctx.r, (", "return grad * ctx.r, ("),              # forgot gamma in dx
}
# where each mistake must be found: the node named first_bad, and the op blamed for it (None: by hand)
MISTAKE_FOUND_AT = {1: ("b", "Div"), 2: ("d", "BroadcastAdd"), 3: ("y", "Var"), 4: ("bndiff", None), 5: ("x", "BatchNormEval")}


def _replace_once(text, old, new, what):
    count = text.count(old)
    if count != 1:
        raise AssertionError(f"{what}: {old!r} occurs {count} times, expected exactly once")
    return text.replace(old, new)


def solved_text(number, mistake=False):
    """Stub `number` with every marked place filled in (and the planted mistake if asked)."""
    ex = exercises.exercise(number)
    text = (STUBS / ex.filename).read_text()
    for old, new in SOLUTIONS[number].items():
        text = _replace_once(text, old, new, f"stub {number}")
    if mistake:
        text = _replace_once(text, *MISTAKES[number], f"solution {number}")
    return text


def write_solution(number, directory, mistake=False):
    """Write the solved (or mistaken) file where `tinygrad-bn exercises check` looks for it."""
    path = Path(directory) / exercises.exercise(number).filename
    path.write_text(solved_text(number, mistake))
    return path
