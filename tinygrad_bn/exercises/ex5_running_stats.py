"""Exercise 5: running statistics, what eval() must use, and why a batch of one works there.

In training, batch norm normalizes each channel with the statistics of the batch in hand. At test
time there may be one input at a time, and an answer must not depend on which other inputs happen
to share its batch. So during training BatchNorm also keeps running averages, per channel:

    running_mean = (1 - momentum) * running_mean + momentum * batch_mean
    running_var  = (1 - momentum) * running_var  + momentum * batch_var * n / (n - 1)

(batch_var divides by n, the population variance used to normalize; the running average takes the
unbiased estimate, n - 1, PyTorch's rule.) In eval() those are the statistics used:

    y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta

Now every sample is normalized alone, with constants: a batch of one works. In training it cannot:
one value per channel has variance 0 and x - mean = 0, so every output would be beta and no
gradient would reach x (the engine refuses that case).

Because the running statistics are constants of the eval graph, its backward has no terms through a
mean or a variance (compare exercise 4). With x_hat = (x - running_mean) * r, r = 1/sqrt(running_var + eps):

    d loss / d x     = grad * gamma * r
    d loss / d gamma = (grad * x_hat).sum(0)        d loss / d beta = grad.sum(0)

x is (N, C); gamma, beta, running_mean and running_var are (C,). Fill in the three places marked
`exercise 5`, then run `tinygrad-bn exercises check 5`.
"""
import numpy as np

from tinygrad_bn import Function


def update_running_stats(running_mean, running_var, batch, momentum=0.1):
    """One training step's update: return (new running_mean, new running_var) as new (C,) arrays.

    batch is the (N, C) numpy array the layer just normalized.
    """
    # ---- exercise 5: your code here
    raise NotImplementedError("exercise 5: update_running_stats is not written yet")


class BatchNormEval(Function):
    """y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta, the statistics held constant."""
    @staticmethod
    def forward(ctx, x, gamma, beta, running_mean, running_var, eps):
        # ---- exercise 5: your code here (save what backward needs on ctx), return y of x's shape
        raise NotImplementedError("exercise 5: BatchNormEval.forward is not written yet")

    @staticmethod
    def backward(ctx, grad):
        # ---- exercise 5: your code here: return (dx, dgamma, dbeta, None, None, None)
        raise NotImplementedError("exercise 5: BatchNormEval.backward is not written yet")
