"""Exercise 4: the batch-norm backward by hand, step by step, then in one closed form.

Part A (the well-known manual-backprop-through-batchnorm exercise). `forward` below computes batch
norm of hprebn (n rows, C channels) in small named steps; the checker builds the same steps as a
graph and gives you dhpreact = d(loss)/d(hpreact). Go backwards through the steps, one local
derivative at a time, each gradient having the shape of its value:

    hpreact   = bngain * bnraw + bnbias   dbngain = (dhpreact * bnraw).sum(0, keepdims=True)
                                          dbnbias = dhpreact.sum(0, keepdims=True)
                                          dbnraw  = bngain * dhpreact
    bnraw     = bndiff * bnvar_inv        dbnvar_inv = (bndiff * dbnraw).sum(0, keepdims=True)
                                          bndiff gets bnvar_inv * dbnraw   (its first use)
    bnvar_inv = (bnvar + eps) ** -0.5     dbnvar  = -0.5 * (bnvar + eps) ** -1.5 * dbnvar_inv
    bnvar     = bndiff2.sum(0, ...) / n   dbndiff2 = ?  (every element of bndiff2 adds 1/n of itself)
    bndiff2   = bndiff ** 2               bndiff gets 2 * bndiff * dbndiff2  (its second use)
    bndiff    = hprebn - bnmeani          dbnmeani = ?  (bnmeani was broadcast over the n rows)
    bnmeani   = hprebn.sum(0, ...) / n    dhprebn = ?   (hprebn has TWO uses, like bndiff)

The rules you need: a sum over rows broadcasts its gradient back over the rows; broadcasting a
(1, C) value over n rows sums its gradient over the rows (exercise 2); a value used twice gets the
SUM of both gradients (forgetting one is the classic mistake). Fill the gradients in the order
above: `tinygrad-bn exercises check 4` tells you which are right so far; leave the rest None.

Part B: the same gradient in one expression. Write r = bnvar_inv, x_hat = bnraw, g = dhpreact,
sums over the n rows. x_hat_i depends on hprebn_j directly and through the mean and the variance:
d x_hat_i / d hprebn_j = r * (delta_ij - 1/n - x_hat_i * x_hat_j / n). Summing g_i * bngain * that
over i gives

    dhprebn = bngain * r / n * (n * g - g.sum(0) - x_hat * (g * x_hat).sum(0))     (keepdims sums)

Write it as the backward of BatchNormClosedForm (the fused op: one node, one backward).
"""
import numpy as np

from tinygrad_bn import Function

STEPS = ("bngain", "bnbias", "bnraw", "bnvar_inv", "bnvar", "bndiff2", "bndiff", "bnmeani", "hprebn")


def forward(hprebn, bngain, bnbias, eps=1e-5):
    """Given. Batch norm in named steps; works on numpy arrays and on Tensors (the checker's graph)."""
    n = hprebn.shape[0]
    bnmeani = hprebn.sum(0, keepdims=True) / n
    bndiff = hprebn - bnmeani
    bndiff2 = bndiff ** 2
    bnvar = bndiff2.sum(0, keepdims=True) / n   # the population variance (divide by n)
    bnvar_inv = (bnvar + eps) ** -0.5
    bnraw = bndiff * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    return {"bnmeani": bnmeani, "bndiff": bndiff, "bndiff2": bndiff2, "bnvar": bnvar,
            "bnvar_inv": bnvar_inv, "bnraw": bnraw, "hpreact": hpreact}


def backward_by_steps(hprebn, bngain, bnbias, dhpreact, eps=1e-5):
    """Part A: every step's gradient, from dhpreact (numpy arrays in, a dict of numpy arrays out)."""
    s = forward(hprebn, bngain, bnbias, eps)  # s["bnraw"], s["bndiff"], ...: the forward's values
    n = hprebn.shape[0]
    # ---- exercise 4, part A: your code here. Delete this raise, then replace each None, in order.
    raise NotImplementedError("exercise 4: part A (backward_by_steps) is not started")
    dbngain = None
    dbnbias = None
    dbnraw = None
    dbnvar_inv = None
    dbnvar = None
    dbndiff2 = None
    dbndiff = None
    dbnmeani = None
    dhprebn = None
    return {"bngain": dbngain, "bnbias": dbnbias, "bnraw": dbnraw, "bnvar_inv": dbnvar_inv, "bnvar": dbnvar,
            "bndiff2": dbndiff2, "bndiff": dbndiff, "bnmeani": dbnmeani, "hprebn": dhprebn}


class BatchNormClosedForm(Function):
    """Part B. hpreact = bngain * (hprebn - mean) / sqrt(var + eps) + bnbias as ONE op."""
    @staticmethod
    def forward(ctx, hprebn, bngain, bnbias, eps):
        bndiff = hprebn - hprebn.mean(0, keepdims=True)
        ctx.bnvar_inv = ((bndiff ** 2).mean(0, keepdims=True) + eps) ** -0.5
        ctx.bnraw = bndiff * ctx.bnvar_inv
        ctx.bngain, ctx.n = bngain, hprebn.shape[0]
        return bngain * ctx.bnraw + bnbias

    @staticmethod
    def backward(ctx, dhpreact):
        bnraw, bnvar_inv, bngain, n = ctx.bnraw, ctx.bnvar_inv, ctx.bngain, ctx.n
        # ---- exercise 4, part B: your code here: return (dhprebn, dbngain, dbnbias, None)
        raise NotImplementedError("exercise 4: part B (BatchNormClosedForm.backward) is not written yet")
