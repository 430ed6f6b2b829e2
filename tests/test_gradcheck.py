"""gradcheck: it passes on right gradients, and (the part that matters) it FAILS on wrong ones,
saying where. The hand-written finite-difference oracle of conftest.py is checked here too."""
import re

import numpy as np
import pytest

from tinygrad_bn import Function, GradcheckError, Tensor, Value, gradcheck, no_grad


def test_the_hand_written_oracle_is_right_on_a_known_gradient(central_difference):
    """d/dx sum(x**3 * y) = 3 x**2 y,  d/dy = column sums of x**3."""
    x, y = np.array([[0.5, -1.0], [2.0, 1.5]]), np.array([1.0, -2.0])
    gx, gy = central_difference(lambda x, y: np.sum(x ** 3 * y), [x, y])
    np.testing.assert_allclose(gx, 3 * x ** 2 * y, rtol=1e-6)
    np.testing.assert_allclose(gy, (x ** 3).sum(axis=0), rtol=1e-6)


def test_passes_on_right_gradients_with_several_inputs_and_outputs():
    rng = np.random.default_rng(0)
    a, b = Tensor(rng.normal(size=(2, 3)), requires_grad=True), Tensor(rng.normal(size=(3,)), requires_grad=True)
    constant = Tensor(rng.normal(size=(2, 3)))  # requires no grad: not checked, but used
    assert gradcheck(lambda a, b, c: [(a * b + c).tanh(), (a @ b).exp()], [a, b, constant])
    assert gradcheck(lambda p, q: (p * q + 1).tanh() / q, [Value(0.3), Value(-1.7)])


class WrongSquare(Function):
    """forward x**2, but backward claims 3x instead of 2x (a planted bug)"""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x


def numbers_in(message):
    return dict((key, float(value)) for key, value in re.findall(r"(analytic|numeric) (-?[\d.e+-]+)", message))


def test_fails_on_a_planted_wrong_backward_naming_input_element_and_values():
    x = Tensor([[0.5, 1.5], [2.0, -1.0]], requires_grad=True)
    with pytest.raises(GradcheckError, match=r"^gradcheck: gradient of output element 0 with respect to input 0, "
                                             r"element \(0, 0\): analytic .* vs numeric") as error:
        gradcheck(lambda x: WrongSquare.apply(x), [x])
    values = numbers_in(str(error.value))
    assert values["analytic"] == pytest.approx(3 * 0.5) and values["numeric"] == pytest.approx(2 * 0.5, rel=1e-6)
    assert isinstance(error.value, ValueError)


def test_names_the_second_input_and_its_wrong_element():
    class WrongAtOne(Function):
        """y = a * b; backward is right except at b's flat element 4, which is off by 1"""
        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx, grad):
            a, b = ctx.saved_tensors
            grad_b = grad * a
            grad_b.reshape(-1)[4] += 1.0
            return grad * b, grad_b

    rng = np.random.default_rng(1)
    a, b = (Tensor(rng.normal(size=(2, 3)), requires_grad=True) for _ in range(2))
    # seeding output element 0, the planted +1 shows at b[1, 1], whose true d out[0] / d b[1, 1] is 0
    with pytest.raises(GradcheckError, match=r"output element 0 with respect to input 1, element \(1, 1\): ") as error:
        gradcheck(lambda a, b: WrongAtOne.apply(a, b), [a, b])
    values = numbers_in(str(error.value))
    assert values["analytic"] == pytest.approx(1.0) and values["numeric"] == pytest.approx(0.0, abs=1e-9)


def test_fails_on_a_value_with_an_empty_element_index():
    with pytest.raises(GradcheckError, match=r"with respect to input 1, element \(\): analytic 6 vs numeric 4"):
        gradcheck(lambda c, x: c * WrongSquare.apply(x), [Value(1.0), Value(2.0)])


def test_tolerances_mean_what_they_say():
    class SlightlyOff(Function):
        """y = 2x, backward says 2x(1 + 1e-4)"""
        @staticmethod
        def forward(ctx, x):
            return 2 * x

        @staticmethod
        def backward(ctx, grad):
            return grad * 2 * (1 + 1e-4)

    x = Tensor([1.0, 2.0], requires_grad=True)
    assert gradcheck(SlightlyOff.apply, [x])  # rtol 1e-3 allows 2e-4
    with pytest.raises(GradcheckError):
        gradcheck(SlightlyOff.apply, [x], atol=0.0, rtol=1e-5)
    assert gradcheck(SlightlyOff.apply, [x], atol=1e-3, rtol=0.0)


def test_leaves_data_and_grad_as_they_were_whether_it_passes_or_fails():
    x = Tensor([[0.5, 1.5], [2.0, -1.0]], requires_grad=True)
    x.grad = np.full((2, 2), 7.0)
    data = x.data.copy()
    gradcheck(lambda x: (x * x).sum(), [x])
    with pytest.raises(GradcheckError):
        gradcheck(lambda x: WrongSquare.apply(x), [x])
    np.testing.assert_array_equal(x.data, data)
    np.testing.assert_array_equal(x.grad, np.full((2, 2), 7.0))
    v = Value(1.5)
    v.grad = 3.0
    with pytest.raises(GradcheckError):
        gradcheck(WrongSquare.apply, [v])
    assert (v.data, v.grad) == (1.5, 3.0)


def test_perturbs_a_non_contiguous_input_too():
    """A leaf whose data is a transposed view: every element must really be perturbed."""
    x = Tensor(np.arange(6.0).reshape(2, 3)).T.detach()
    x.requires_grad = True
    assert not x.data.flags.c_contiguous
    assert gradcheck(lambda x: (x * x * np.array([1.0, 2.0])).sum(), [x])
    with pytest.raises(GradcheckError, match=r"input 0, element \(0, 1\): analytic 9 vs numeric 6"):
        gradcheck(lambda x: WrongSquare.apply(x).sum(), [x])


@pytest.mark.parametrize("which", ["first", "second"])
def test_refuses_float32_inputs(which):
    x32 = Tensor(np.ones(2, np.float32), requires_grad=True)
    inputs = [x32] if which == "first" else [Tensor(np.ones(2), requires_grad=True), x32]
    index = len(inputs) - 1
    with pytest.raises(TypeError, match=rf"^gradcheck: input {index} is float32; finite differences need float64"):
        gradcheck(lambda *xs: sum(x.sum() for x in xs), inputs)


def test_other_misuse():
    with pytest.raises(ValueError, match=r"^gradcheck: no input requires grad"):
        gradcheck(lambda x: x * 2, [Tensor([1.0])])
    with pytest.raises(TypeError, match=r"^gradcheck: fn must return a Value, a Tensor, or a list of them, got float"):
        gradcheck(lambda x: 2.0, [Value(1.0)])


def test_a_lone_value_or_tensor_is_one_input_as_in_torch():
    assert gradcheck(lambda x: (x * x).sum(), Tensor([[0.5, 1.5], [2.0, -1.0]], requires_grad=True))
    assert gradcheck(lambda v: v * v, Value(2.0))
    with pytest.raises(GradcheckError, match=r"with respect to input 0, element \(\): analytic 3 vs numeric 2"):
        gradcheck(WrongSquare.apply, Value(1.0))


def test_raise_exception_false_returns_false_on_a_mismatch_and_true_otherwise():
    x = Tensor([[0.5, 1.5], [2.0, -1.0]], requires_grad=True)
    x.grad = np.full((2, 2), 7.0)
    assert gradcheck(lambda x: WrongSquare.apply(x), [x], raise_exception=False) is False
    assert gradcheck(lambda x: WrongSquare.apply(x), x, atol=10.0, raise_exception=False) is True  # tolerances still apply
    np.testing.assert_array_equal(x.data, [[0.5, 1.5], [2.0, -1.0]])
    np.testing.assert_array_equal(x.grad, np.full((2, 2), 7.0))


def test_raise_exception_false_still_raises_on_misuse_as_torch_does():
    """torch only turns its GradcheckError into False; a wrong call raises either way."""
    with pytest.raises(TypeError, match=r"^gradcheck: input 0 is float32; finite differences need float64"):
        gradcheck(lambda x: x, Tensor(np.ones(2, np.float32), requires_grad=True), raise_exception=False)
    with pytest.raises(ValueError, match=r"^gradcheck: no input requires grad"):
        gradcheck(lambda x: x * 2, [Tensor([1.0])], raise_exception=False)
    with pytest.raises(TypeError, match=r"^gradcheck: fn must return a Value, a Tensor, or a list of them, got float"):
        gradcheck(lambda x: 2.0, [Value(1.0)], raise_exception=False)


def test_an_output_that_requires_no_grad_has_analytic_gradient_zero():
    """As in torch: fn's output depends on no input, so it passes when the finite differences are 0 as well
    (instead of backward's 'does not require grad'), alone or beside an output that does depend on x."""
    x = Tensor([1.0, 2.0], requires_grad=True)
    assert gradcheck(lambda x: Tensor(np.ones(2)), x)
    assert gradcheck(lambda x: [x * 2, Tensor(np.ones(3))], x)
    assert gradcheck(lambda v: Value(5.0, requires_grad=False), Value(2.0))


def test_an_output_cut_from_its_input_fails_since_its_finite_differences_are_not_zero():
    """x.detach() * 2 depends on x, but no gradient can flow back: analytic 0 against numeric 2."""
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GradcheckError, match=r"output element 0 with respect to input 0, element \(0,\): "
                                             r"analytic 0 vs numeric 2 "):
        gradcheck(lambda x: x.detach() * 2, x)
    # torch skips an output that requires no grad when another one does, and passes this; we check it
    assert gradcheck(lambda x: [x * 2, x.detach() * 2], x, raise_exception=False) is False
    with pytest.raises(GradcheckError, match=r"with respect to input 0, element \(\): analytic 0 vs numeric 3 "):
        gradcheck(lambda v: v.detach() * 3, [Value(2.0)])


def test_under_no_grad_gradcheck_says_so_even_with_raise_exception_false():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        for raising in (True, False):
            with pytest.raises(RuntimeError, match=r"^gradcheck: called under no_grad\(\), where no graph is recorded"):
                gradcheck(lambda x: x * x, x, raise_exception=raising)


def test_a_function_runs_the_same_way_in_both_passes_and_a_constant_it_sums_into_is_left_alone():
    """fn runs with the graph recorded in both passes: h = c; h += x * x is refused in both (it would
    make the constant c a node), never a change to c (under no_grad, += would change c in place)."""
    c = Tensor([1.0, 2.0])

    def f(x):
        h = c
        h += x * x
        return h.sum()

    with pytest.raises(RuntimeError, match=r"^Tensor \+= with a side that requires grad"):
        gradcheck(f, [Tensor([0.5, -1.0], requires_grad=True)])
    assert list(c.data) == [1.0, 2.0]
    assert gradcheck(lambda x: (c + x * x).sum(), [Tensor([0.5, -1.0], requires_grad=True)])
