"""Shared test settings and the hand-written finite-difference oracle.

`central_difference` is deliberately independent of the package: it perturbs plain numpy arrays
and calls a plain numpy function, so tests that use it do not lean on tinygrad_bn.gradcheck (whose
own tests live in test_gradcheck.py) or on the engine's forward pass.
"""
import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("tinygrad_bn", max_examples=30, deadline=None)
settings.load_profile("tinygrad_bn")


def _central_difference(f, arrays, eps=1e-6):
    """d f / d arrays[k][i] for every input k and element i, by (f(x + eps) - f(x - eps)) / (2 eps).

    f takes float64 arrays (0-d for a scalar) and returns one number. Returns one gradient array per
    input, each of its input's shape.
    """
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    grads = []
    for a in arrays:
        grad = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            x = a[i]
            a[i] = x + eps
            plus = float(f(*arrays))
            a[i] = x - eps
            minus = float(f(*arrays))
            a[i] = x
            grad[i] = (plus - minus) / (2 * eps)
        grads.append(grad)
    return grads


@pytest.fixture(scope="session")
def central_difference():
    """The hand-written finite-difference helper (session-scoped, so hypothesis tests may use it)."""
    return _central_difference

