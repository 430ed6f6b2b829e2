"""tinygrad_bn.nn: Module bookkeeping, Linear, ReLU/Tanh, Sequential, BatchNorm1d/2d.

Batch norm is checked against its definition (numpy formulas), against finite differences, and
against PyTorch's modules over several training steps and then eval (when torch is installed).
"""
import numpy as np
import pytest

from tinygrad_bn import Tensor, functional as F, gradcheck, nn, no_grad, topological_order

TORCH = "PyTorch is the oracle for these comparisons; install torch==2.13.0 (CPU) to run them"


def mlp(fused=False, seed=0):
    """2 -> 3 -> BN -> ReLU -> 1, the model most tests use."""
    return nn.Sequential(nn.Linear(2, 3, rng=seed), nn.BatchNorm1d(3, fused=fused), nn.ReLU(),
                         nn.Linear(3, 1, rng=seed + 1))


def to_torch(torch, state):
    return {name: torch.from_numpy(np.array(value)) for name, value in state.items()}


def assert_same_as_torch(torch, ours, theirs, x_data, grad, rtol, atol):
    """One forward and backward through our module and torch's from the same x and output gradient:
    the same output and the same gradients for x and for every parameter."""
    ours.zero_grad(), theirs.zero_grad()
    x = Tensor(x_data, requires_grad=True)
    out = ours(x)
    out.backward(grad)
    tx = torch.tensor(x_data, requires_grad=True)
    tout = theirs(tx)
    tout.backward(torch.from_numpy(grad))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=rtol, atol=atol)
    for (name, p), tp in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=rtol, atol=atol, err_msg=name)


# ---------------------------------------------------------------- Module bookkeeping

def test_named_parameters_are_dotted_in_a_fixed_order_and_label_the_tensors():
    model = mlp()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"]
    assert [p.label for p in model.parameters()] == names
    assert model.parameters()[0] is model[0].weight
    assert all(p.requires_grad for p in model.parameters())
    assert nn.Linear(2, 3).weight.label == "weight"


def test_a_shared_module_or_tensor_is_one_parameter_but_a_state_entry_under_each_name():
    """PyTorch's rules: named_parameters and named_modules list a shared part once, state_dict under each name."""
    shared = nn.Linear(2, 2, rng=0)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    assert [name for name, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [name for name, _ in model.named_modules()] == ["", "0", "1"]
    assert [name for name, _ in model.named_modules(remove_duplicate=False)] == ["", "0", "1", "2"]
    copy_of = nn.Sequential(nn.Linear(2, 2, rng=5), nn.ReLU(), nn.Linear(2, 2, rng=6))
    assert model.load_state_dict(copy_of.state_dict()) == ([], [])  # each name loads (the last one wins)
    np.testing.assert_array_equal(shared.weight.data, copy_of[2].weight.data)
    other = nn.Linear(2, 2, rng=1)
    other.bias = shared.bias  # a tied tensor held by two modules
    tied = nn.Sequential(shared, other)
    assert [name for name, _ in tied.named_parameters()] == ["0.weight", "0.bias", "1.weight"]
    assert list(tied.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_shared_parts_have_torchs_state_dict_keys():
    torch = pytest.importorskip("torch", reason=TORCH)
    shared, theirs_shared = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    ours = nn.Sequential(shared, nn.ReLU(), shared)
    theirs = torch.nn.Sequential(theirs_shared, torch.nn.ReLU(), theirs_shared)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_modules(remove_duplicate=False)] == \
        [n for n, _ in theirs.named_modules(remove_duplicate=False)]
    assert ours.load_state_dict(theirs.state_dict()) == ([], [])  # torch tensors that require grad load as they are
    np.testing.assert_array_equal(shared.weight.data, theirs_shared.weight.detach().numpy())


def test_an_activation_kept_on_a_module_is_not_a_parameter():
    """Karpathy's makemore layers keep `self.out` for plots: a Tensor an op made is no parameter (nor state)."""
    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(2, 2, rng=0)
            self.out = None

        def forward(self, x):
            self.out = self.linear(x).tanh()
            return self.out

    layer = Layer()
    layer(Tensor(np.ones((3, 2))))
    assert not layer.out.is_leaf
    assert [name for name, _ in layer.named_parameters()] == ["linear.weight", "linear.bias"]
    assert Layer().load_state_dict(layer.state_dict()) == ([], [])  # a fresh model loads what was saved


def test_a_module_list_holds_layers_whose_parameters_are_the_models():
    class Tower(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList(nn.Linear(2, 2, rng=seed) for seed in range(3))
            self.plain = [nn.Linear(2, 2, rng=9)]  # a plain list: not looked into, as in PyTorch

        def forward(self, x):
            for block in self.blocks:
                x = block(x).tanh()
            return x

    tower = Tower()
    assert [name for name, _ in tower.named_parameters()] == [f"blocks.{i}.{p}" for i in range(3) for p in ("weight", "bias")]
    assert tower.children() == [tower.blocks] and tower.modules()[2:] == list(tower.blocks)
    assert len(tower.blocks[1:]) == 2 and type(tower.blocks[1:]) is nn.ModuleList and tower.blocks[1:][0] is tower.blocks[1]
    tower.blocks.append(nn.Linear(2, 2, rng=4))
    assert len(tower.parameters()) == 8 and tower.blocks[-1] is tower.blocks.layers[3]
    tower(Tensor(np.ones((3, 2)))).sum().backward()
    assert gradcheck(lambda x: (tower(x) * np.arange(6.0).reshape(3, 2)).sum(),
                     [Tensor(np.random.default_rng(7).normal(size=(3, 2)), requires_grad=True)])  # float64: through every block
    assert all(p.grad is not None for p in tower.parameters())
    with pytest.raises(TypeError, match="ModuleList: argument 1 is a list, not a Module"):
        nn.ModuleList([nn.ReLU(), [nn.ReLU()]])


class Net(nn.Module):
    """A hand-written module: its parts are found from its attributes, in the order they were set."""

    def __init__(self):
        super().__init__()
        self.scale = Tensor(np.full(2, 1.5), requires_grad=True)
        self.body = nn.Sequential(nn.Linear(3, 2, rng=2), nn.BatchNorm1d(2))
        self.head = nn.Linear(2, 1, rng=3)
        self.name = "not a part"

    def forward(self, x):
        return self.head(self.body(x) * self.scale)


def test_a_custom_module_finds_its_parts_and_names_them_like_pytorch():
    net = Net()
    expected = ["scale", "body.0.weight", "body.0.bias", "body.1.weight", "body.1.bias", "head.weight", "head.bias"]
    assert [name for name, _ in net.named_parameters()] == expected
    assert [name for name, _ in net.named_buffers()] == ["body.1.running_mean", "body.1.running_var",
                                                         "body.1.num_batches_tracked"]
    assert [name for name, _ in net.named_modules()] == ["", "body", "body.0", "body.1", "head"]
    assert net.head.weight.label == "weight"
    net.label_parameters()
    assert [p.label for p in net.parameters()] == expected


def test_custom_module_names_match_torch():
    torch = pytest.importorskip("torch", reason=TORCH)

    class TorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(2))
            self.body = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
            self.head = torch.nn.Linear(2, 1)

    theirs = TorchNet()
    assert [n for n, _ in Net().named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(Net().state_dict()) == list(theirs.state_dict())


def test_zero_grad_forgets_every_parameter_gradient():
    model = mlp()
    model(Tensor(np.random.default_rng(0).normal(size=(5, 2)))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_train_and_eval_reach_every_submodule_and_return_the_module():
    net = Net()
    modules = [m for _, m in net.named_modules()]
    assert all(m.training for m in modules)
    assert net.eval() is net
    assert not any(m.training for m in modules)
    assert net.train() is net
    assert all(m.training for m in modules)
    net.train(False)
    assert not net.body[1].training
    with pytest.raises(TypeError, match=r"Net.train: mode must be True or False, got 'yes'"):
        net.train("yes")


def test_call_runs_forward_and_a_module_without_forward_says_so():
    x = Tensor(np.array([[-1.0, 2.0]]))
    np.testing.assert_array_equal(nn.ReLU()(x).data, [[0.0, 2.0]])
    np.testing.assert_allclose(nn.Tanh()(x).data, np.tanh([[-1.0, 2.0]]))
    with pytest.raises(NotImplementedError, match="Module must define forward"):
        nn.Module()(x)
    with pytest.raises(TypeError, match="ReLU: expected a Tensor, got list"):
        nn.ReLU()([1.0])
    with pytest.raises(TypeError, match="Tanh: expected a Tensor, got ndarray"):
        nn.Tanh()(np.ones(2))


def test_repr_shows_the_tree_and_each_configuration():
    text = repr(mlp())
    assert text.splitlines()[0] == "Sequential("
    assert "  (0): Linear(in_features=2, out_features=3, bias=True)" in text
    assert "  (1): BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=True" in text


# ---------------------------------------------------------------- Sequential

def test_sequential_applies_modules_in_order_and_is_indexable_and_iterable():
    first, second = nn.Linear(2, 3, rng=0), nn.Tanh()
    model = nn.Sequential(first, second)
    x = Tensor(np.random.default_rng(1).normal(size=(4, 2)))
    np.testing.assert_array_equal(model(x).data, second(first(x)).data)
    assert len(model) == 2 and list(model) == [first, second]
    assert model[0] is first and model[-1] is second
    with pytest.raises(IndexError, match="Sequential index 2 is out of range for 2 module"):
        model[2]
    head = model[1:]
    assert type(head) is nn.Sequential and list(head) == [second] and len(model) == 2
    np.testing.assert_array_equal(model[:1](x).data, first(x).data)
    assert [name for name, _ in nn.Sequential(nn.ReLU(), first)[1:].named_parameters()] == ["0.weight", "0.bias"]
    with pytest.raises(TypeError, match="Sequential indices must be integers or slices, got str"):
        model["0"]
    with pytest.raises(TypeError, match="Sequential: argument 1 is a ufunc, not a Module"):
        nn.Sequential(first, np.tanh)


# ---------------------------------------------------------------- Linear

def test_linear_init_is_uniform_within_one_over_sqrt_in_features_and_reproducible():
    layer = nn.Linear(400, 300, rng=0)
    bound = 1 / np.sqrt(400)
    assert layer.weight.shape == (300, 400) and layer.bias.shape == (300,)
    assert layer.weight.dtype == np.float64
    w = layer.weight.data
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.std() - bound / np.sqrt(3)) < 0.02 * bound / np.sqrt(3)  # the std of U(-k, k)
    assert np.abs(layer.bias.data).max() <= bound
    np.testing.assert_array_equal(nn.Linear(400, 300, rng=0).weight.data, w)
    np.testing.assert_array_equal(nn.Linear(4, 3, rng=np.random.default_rng(5)).weight.data,
                                  nn.Linear(4, 3, rng=5).weight.data)
    assert not np.array_equal(nn.Linear(4, 3, rng=1).weight.data, nn.Linear(4, 3, rng=2).weight.data)


def test_linear_without_bias_and_in_float32():
    layer = nn.Linear(3, 2, bias=False, rng=0, dtype=np.float32)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    out = layer(Tensor(x))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, x @ layer.weight.data.T, rtol=1e-6)


def test_linear_matches_torch_forward_and_backward():
    torch = pytest.importorskip("torch", reason=TORCH)
    ours = nn.Linear(4, 3, rng=0)
    theirs = torch.nn.Linear(4, 3, dtype=torch.float64)
    theirs.load_state_dict(to_torch(torch, ours.state_dict()))
    rng = np.random.default_rng(1)
    for shape in [(5, 4), (4,)]:
        x_data, g = rng.normal(size=shape), rng.normal(size=shape[:-1] + (3,))
        assert_same_as_torch(torch, ours, theirs, x_data, g, rtol=1e-13, atol=1e-13)


def test_linear_errors_name_the_layer_and_the_shapes():
    layer = nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"Linear\(in_features=3, out_features=2\): expected input of shape "
                                         r"\(N, 3\) or \(3,\), got \(4, 2\)"):
        layer(Tensor(np.ones((4, 2))))
    with pytest.raises(ValueError, match=r"got \(4, 5, 3\)"):
        layer(Tensor(np.ones((4, 5, 3))))
    with pytest.raises(TypeError, match=r"Linear\(in_features=3, out_features=2\): expected a Tensor, got ndarray"):
        layer(np.ones((4, 3)))
    with pytest.raises(ValueError, match="Linear: in_features must be at least 1, got 0"):
        nn.Linear(0, 2)
    with pytest.raises(TypeError, match="Linear: out_features must be an int, got float 2.0"):
        nn.Linear(3, 2.0)
    with pytest.raises(TypeError, match="Linear: dtype must be np.float32 or np.float64, got int32"):
        nn.Linear(3, 2, dtype=np.int32)
    with pytest.raises(TypeError, match="Linear: rng must be an int seed >= 0, a numpy Generator or None, got str 'x'"):
        nn.Linear(3, 2, rng="x")
    with pytest.raises(ValueError, match="Linear: rng must be an int seed >= 0, .* got int -1"):
        nn.Linear(3, 2, rng=-1)


# ---------------------------------------------------------------- state_dict

def trained(model, steps=3, seed=0):
    """Run a few training forwards so running statistics and num_batches_tracked move off their init."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        model(Tensor(rng.normal(1.0, 2.0, size=(6, 2))))
    return model


def test_state_dict_holds_copies_of_parameters_and_buffers():
    model = trained(mlp())
    state = model.state_dict()
    assert list(state) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                           "1.num_batches_tracked", "3.weight", "3.bias"]
    assert all(isinstance(v, np.ndarray) for v in state.values())
    assert state["1.num_batches_tracked"] == 3 and state["1.num_batches_tracked"].dtype == np.int64
    np.testing.assert_array_equal(state["1.running_mean"], model[1].running_mean)
    state["0.weight"] += 1
    state["1.running_mean"] += 1
    assert not np.array_equal(state["0.weight"], model[0].weight.data)
    assert not np.array_equal(state["1.running_mean"], model[1].running_mean)


def test_state_dict_round_trip_reproduces_the_model():
    source = trained(mlp(seed=0))
    copy = mlp(seed=10)
    weight_array = copy[0].weight.data
    copy.load_state_dict(source.state_dict())
    assert copy[0].weight.data is weight_array  # loaded in place: optimizers keep working
    for name, value in source.state_dict().items():
        np.testing.assert_array_equal(copy.state_dict()[name], value)
    x = Tensor(np.random.default_rng(3).normal(size=(4, 2)))
    source.eval(), copy.eval()
    np.testing.assert_array_equal(copy(x).data, source(x).data)


def test_state_dict_keys_match_torch_and_a_torch_state_dict_loads():
    torch = pytest.importorskip("torch", reason=TORCH)
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3), torch.nn.ReLU(),
                                 torch.nn.Linear(3, 1)).double()
    theirs(torch.randn(6, 2, dtype=torch.float64))  # move the running statistics
    ours = mlp()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    for name, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[name], value.numpy())
    x = np.random.default_rng(0).normal(size=(5, 2))
    ours.eval(), theirs.eval()
    np.testing.assert_allclose(ours(Tensor(x)).data, theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)


def test_load_state_dict_errors_name_the_keys_and_shapes_and_change_nothing():
    model = trained(mlp())
    before = model.state_dict()
    state = model.state_dict()
    del state["1.running_var"]
    with pytest.raises(ValueError, match=r"Sequential.load_state_dict: missing key\(s\) \['1.running_var'\], "
                                         r"unexpected key\(s\) \[\]"):
        model.load_state_dict(state)
    state = dict(model.state_dict(), **{"1.extra": np.zeros(3)})
    with pytest.raises(ValueError, match=r"missing key\(s\) \[\], unexpected key\(s\) \['1.extra'\]"):
        model.load_state_dict(state)
    state = {name: value + 1 for name, value in model.state_dict().items()}  # all valid but ...
    state["3.weight"] = np.zeros((3, 1))                                     # ... one transposed
    with pytest.raises(ValueError, match=r"Sequential.load_state_dict: '3.weight' has shape \(3, 1\) in the "
                                         r"state_dict, but \(1, 3\) in the model"):
        model.load_state_dict(state)
    state["3.weight"] = np.array([["a", "b", "c"]])
    with pytest.raises(TypeError, match=r"'3.weight' must hold real numbers, got dtype <U1"):
        model.load_state_dict(state)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_load_state_dict_returns_the_missing_and_unexpected_keys_and_strict_false_loads_the_rest():
    model = trained(mlp())
    assert model.load_state_dict(model.state_dict()) == nn.IncompatibleKeys(missing_keys=[], unexpected_keys=[])
    state = trained(mlp(seed=5), seed=1).state_dict()
    del state["0.bias"], state["1.running_var"]
    state.update({"zz": np.zeros(1), "1.extra": "not numbers, never read", "0.weight.grad": np.zeros((3, 2))})
    with pytest.raises(ValueError, match=r"missing key\(s\) \['0.bias', '1.running_var'\], "
                                         r"unexpected key\(s\) \['zz', '1.extra', '0.weight.grad'\]"):
        model.load_state_dict(state)  # strict=True is the default
    kept = {name: model.state_dict()[name] for name in ("0.bias", "1.running_var")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert missing == ["0.bias", "1.running_var"]
    assert unexpected == ["zz", "1.extra", "0.weight.grad"]  # in the state_dict's order
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, kept[name] if name in kept else state[name])


def test_load_state_dict_not_strict_still_checks_shapes_and_numbers_and_changes_nothing():
    model = trained(mlp())
    before = model.state_dict()
    state = {name: value + 1 for name, value in before.items() if name != "0.bias"}
    state["3.weight"] = np.zeros((3, 1))
    with pytest.raises(ValueError, match=r"Sequential.load_state_dict: '3.weight' has shape \(3, 1\) in the "
                                         r"state_dict, but \(1, 3\) in the model"):
        model.load_state_dict(state, strict=False)
    state["3.weight"] = np.array([["a", "b", "c"]])
    with pytest.raises(TypeError, match=r"'3.weight' must hold real numbers, got dtype <U1"):
        model.load_state_dict(state, strict=False)
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_load_state_dict_wants_a_dict_and_a_bool_strict():
    model = mlp()
    with pytest.raises(TypeError, match=r"Sequential.load_state_dict: state_dict must be a dict of name -> array, "
                                        r"got list"):
        model.load_state_dict(list(model.state_dict().items()), strict=False)
    with pytest.raises(TypeError, match=r"Sequential.load_state_dict: strict must be True or False, got 'False'"):
        model.load_state_dict(model.state_dict(), strict="False")


def test_load_state_dict_not_strict_reports_and_loads_what_torch_does():
    torch = pytest.importorskip("torch", reason=TORCH)
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3), torch.nn.ReLU(),
                                 torch.nn.Linear(3, 1)).double()
    ours = mlp()
    state = trained(mlp(seed=3)).state_dict()
    del state["1.weight"], state["3.bias"]
    state.update({"1.extra": np.zeros(2), "9.weight": np.zeros(1), "0.weight.grad": np.zeros((3, 2)),
                  "top": np.zeros(1)})
    result = theirs.load_state_dict(to_torch(torch, state), strict=False)
    missing, unexpected = ours.load_state_dict(state, strict=False)
    assert missing == result.missing_keys  # the model's order, in both
    assert sorted(unexpected) == sorted(result.unexpected_keys)  # PyTorch lists these module by module
    theirs_state = theirs.state_dict()
    for name in ours.state_dict().keys() & state.keys():
        np.testing.assert_array_equal(ours.state_dict()[name], theirs_state[name].numpy(), err_msg=name)
    state["0.bias"] = np.zeros(4)  # a wrong shape is an error in both, strict or not
    with pytest.raises(RuntimeError, match="size mismatch for 0.bias"):
        theirs.load_state_dict(to_torch(torch, state), strict=False)
    with pytest.raises(ValueError, match=r"'0.bias' has shape \(4,\) in the state_dict, but \(3,\) in the model"):
        ours.load_state_dict(state, strict=False)


# ---------------------------------------------------------------- BatchNorm: definition

def test_batch_norm_starts_as_pytorch_does():
    bn = nn.BatchNorm2d(4)
    np.testing.assert_array_equal(bn.weight.data, np.ones(4))
    np.testing.assert_array_equal(bn.bias.data, np.zeros(4))
    np.testing.assert_array_equal(bn.running_mean, np.zeros(4))
    np.testing.assert_array_equal(bn.running_var, np.ones(4))
    assert bn.num_batches_tracked == 0
    assert bn.parameters() == [bn.weight, bn.bias]
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    plain = nn.BatchNorm1d(4, affine=False, track_running_stats=False)
    assert plain.parameters() == [] and plain.state_dict() == {}
    assert plain.weight is None and plain.running_mean is None


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
def test_training_normalizes_with_the_biased_batch_variance_and_updates_with_the_unbiased(shape, fused):
    rng = np.random.default_rng(0)
    bn = nn.BatchNorm1d(3, momentum=0.25, fused=fused)
    bn.weight.data[:] = rng.normal(size=3)
    bn.bias.data[:] = rng.normal(size=3)
    x = rng.normal(2.0, 3.0, size=shape)
    axes = (0,) + tuple(range(2, len(shape)))
    at = (1, 3) + (1,) * (len(shape) - 2)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    expected = (x - mean.reshape(at)) / np.sqrt(var.reshape(at) + 1e-5) * bn.weight.data.reshape(at) \
        + bn.bias.data.reshape(at)
    np.testing.assert_allclose(bn(Tensor(x)).data, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(bn.running_mean, 0.25 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, 0.75 + 0.25 * x.var(axis=axes, ddof=1), rtol=1e-12)
    assert bn.num_batches_tracked == 1


def test_momentum_none_is_the_cumulative_average_of_the_batch_statistics():
    rng = np.random.default_rng(1)
    bn = nn.BatchNorm1d(2, momentum=None)
    batches = [rng.normal(rng.normal(), 2.0, size=(5, 2)) for _ in range(4)]
    for x in batches:
        bn(Tensor(x))
    np.testing.assert_allclose(bn.running_mean, np.mean([x.mean(axis=0) for x in batches], axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, np.mean([x.var(axis=0, ddof=1) for x in batches], axis=0),
                               rtol=1e-12)
    assert bn.num_batches_tracked == 4


def test_eval_uses_the_running_statistics_and_a_batch_of_one_works():
    bn = nn.BatchNorm2d(3)
    rng = np.random.default_rng(2)
    for _ in range(3):
        bn(Tensor(rng.normal(1.0, 2.0, size=(4, 3, 2, 2))))
    bn.weight.data[:] = [0.5, 2.0, -1.0]
    bn.bias.data[:] = [0.1, 0.2, 0.3]
    bn.eval()
    stats = (bn.running_mean.copy(), bn.running_var.copy(), int(bn.num_batches_tracked))
    x = rng.normal(size=(1, 3, 2, 2))
    at = (1, 3, 1, 1)
    expected = ((x - bn.running_mean.reshape(at)) / np.sqrt(bn.running_var.reshape(at) + 1e-5)
                * bn.weight.data.reshape(at) + bn.bias.data.reshape(at))
    np.testing.assert_allclose(bn(Tensor(x)).data, expected, rtol=1e-12)
    np.testing.assert_array_equal(bn.running_mean, stats[0])  # eval never updates the statistics
    np.testing.assert_array_equal(bn.running_var, stats[1])
    assert bn.num_batches_tracked == stats[2]


def test_without_running_stats_eval_normalizes_with_the_batch():
    bn = nn.BatchNorm1d(3, track_running_stats=False)
    x = Tensor(np.random.default_rng(3).normal(size=(5, 3)))
    train_out = bn(x).data
    bn.eval()
    np.testing.assert_array_equal(bn(x).data, train_out)
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\): expected more than 1 value per channel, got input of "
                                         r"shape \(1, 3\) \(with track_running_stats=False there are no running "
                                         r"statistics: batch statistics are used in eval\(\) too\)"):
        bn(Tensor(np.ones((1, 3))))


@pytest.mark.parametrize("fused", [False, True])
def test_running_statistics_are_buffers_outside_the_graph(fused):
    rng = np.random.default_rng(4)
    bn = nn.BatchNorm1d(3, fused=fused)
    x = Tensor(rng.normal(size=(5, 3)), requires_grad=True)
    for training in (True, False):
        out = bn.train(training)(x)
        leaves = [node for node in topological_order(out) if node.is_leaf]
        assert {id(n) for n in leaves} <= {id(x), id(bn.weight), id(bn.bias)}
        assert isinstance(bn.running_mean, np.ndarray) and isinstance(bn.running_var, np.ndarray)
    # the update is the same with or without a graph being recorded
    twin = nn.BatchNorm1d(3, fused=fused)
    with no_grad():
        twin(Tensor(x.data))
    reference = nn.BatchNorm1d(3, fused=fused)
    reference(x)
    np.testing.assert_array_equal(twin.running_mean, reference.running_mean)
    np.testing.assert_array_equal(twin.running_var, reference.running_var)


def test_batch_norm_float32():
    bn = nn.BatchNorm2d(2, dtype=np.float32)
    x = Tensor(np.random.default_rng(5).normal(size=(3, 2, 2, 2)).astype(np.float32))
    assert bn(x).dtype == np.float32 and bn.running_var.dtype == np.float32


def test_batch_norm_errors_name_the_module_and_the_shapes():
    bn1, bn2 = nn.BatchNorm1d(3), nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\): expected more than 1 value per channel when "
                                         r"training, got input of shape \(1, 3\) \(use eval\(\)"):
        bn1(Tensor(np.ones((1, 3))))
    assert bn1.num_batches_tracked == 0  # a rejected batch does not count
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\): expected more than 1 value per channel"):
        bn2(Tensor(np.ones((1, 3, 1, 1))))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\): expected input of shape \(N, C\) or \(N, C, L\), "
                                         r"got \(2, 3, 4, 5\)"):
        bn1(Tensor(np.ones((2, 3, 4, 5))))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\): expected input of shape \(N, C, H, W\), got \(4, 3\)"):
        bn2(Tensor(np.ones((4, 3))))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\): expected 3 channels \(axis 1 of \(N, C\) or "
                                         r"\(N, C, L\)\), got input of shape \(4, 5\)"):
        bn1(Tensor(np.ones((4, 5))))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\): expected 3 channels .* got input of shape \(2, 4, 2, 2\)"):
        bn2.eval()(Tensor(np.ones((2, 4, 2, 2))))
    with pytest.raises(TypeError, match=r"BatchNorm1d\(3\): expected a Tensor, got ndarray"):
        bn1(np.ones((4, 3)))
    with pytest.raises(ValueError, match="BatchNorm1d: num_features must be at least 1, got 0"):
        nn.BatchNorm1d(0)
    with pytest.raises(ValueError, match="BatchNorm2d: eps must be a number >= 0, got -1"):
        nn.BatchNorm2d(3, eps=-1)
    with pytest.raises(ValueError, match=r"BatchNorm1d: momentum must be in \[0, 1\] or None, got 1.5"):
        nn.BatchNorm1d(3, momentum=1.5)
    with pytest.raises(TypeError, match="BatchNorm2d: eps must be a number, got str '1e-5'"):
        nn.BatchNorm2d(3, eps="1e-5")
    with pytest.raises(TypeError, match="BatchNorm1d: momentum must be a number, got str '0.1'"):
        nn.BatchNorm1d(3, momentum="0.1")
    with pytest.raises(TypeError, match="BatchNorm1d: momentum must be a number, got bool True"):
        nn.BatchNorm1d(3, momentum=True)
    with pytest.raises(TypeError, match="BatchNorm1d: dtype must be np.float32 or np.float64, got float16"):
        nn.BatchNorm1d(3, dtype=np.float16)


# ---------------------------------------------------------------- BatchNorm: against PyTorch

@pytest.mark.parametrize("fused", [False, True], ids=["composed", "fused"])
@pytest.mark.parametrize("momentum, affine, track", [(0.1, True, True), (None, True, True), (0.3, False, True),
                                                     (0.1, True, False)],
                         ids=["default", "momentum-None", "affine-False", "no-running-stats"])
@pytest.mark.parametrize("kind, shape", [("BatchNorm1d", (8, 3)), ("BatchNorm1d", (4, 3, 5)),
                                         ("BatchNorm2d", (4, 3, 2, 3))], ids=["NC", "NCL", "NCHW"])
def test_batch_norm_matches_torch_over_training_steps_then_eval(kind, shape, momentum, affine, track, fused):
    torch = pytest.importorskip("torch", reason=TORCH)
    rng = np.random.default_rng(7)
    ours = getattr(nn, kind)(3, momentum=momentum, affine=affine, track_running_stats=track, fused=fused)
    theirs = getattr(torch.nn, kind)(3, momentum=momentum, affine=affine, track_running_stats=track,
                                     dtype=torch.float64)
    if affine:  # not 1 and 0, so a wrong gamma/beta path cannot hide
        ours.weight.data[:] = rng.normal(1.0, 0.5, size=3)
        ours.bias.data[:] = rng.normal(size=3)
    theirs.load_state_dict(to_torch(torch, ours.state_dict()))

    def compare(x_data, grad):
        assert_same_as_torch(torch, ours, theirs, x_data, grad, rtol=1e-10, atol=1e-12)
        theirs_state = theirs.state_dict()
        assert list(ours.state_dict()) == list(theirs_state)
        for name, value in ours.state_dict().items():
            np.testing.assert_allclose(value, theirs_state[name].numpy(), rtol=1e-12, atol=1e-14, err_msg=name)

    for step in range(4):
        x = rng.normal(rng.normal(size=3).reshape((1, 3) + (1,) * (len(shape) - 2)), 2.0 + step, size=shape)
        compare(x, rng.normal(size=shape))
        if affine:  # move gamma and beta as an optimizer would, in both
            with torch.no_grad():
                for p, tp in zip(ours.parameters(), theirs.parameters()):
                    p.data -= 0.1 * p.grad
                    tp -= 0.1 * tp.grad
    if track:
        assert ours.num_batches_tracked == 4
    ours.eval(), theirs.eval()
    compare(rng.normal(size=shape), rng.normal(size=shape))
    if track:
        one = (1,) + shape[1:]
        compare(rng.normal(size=one), rng.normal(size=one))


# ---------------------------------------------------------------- finite differences

@pytest.mark.parametrize("fused", [False, True], ids=["composed", "fused"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_gradcheck_of_a_small_network_with_batch_norm(fused, mode):
    rng = np.random.default_rng(8)
    model = nn.Sequential(nn.Linear(3, 4, rng=1), nn.BatchNorm1d(4, fused=fused), nn.ReLU(), nn.Linear(4, 2, rng=2))
    model[1].weight.data[:] = rng.normal(1.0, 0.5, size=4)
    model[1].bias.data[:] = rng.normal(size=4)
    for _ in range(3):  # running statistics away from 0 and 1 for the eval case
        model(Tensor(rng.normal(size=(6, 3))))
    model.train(mode == "train")
    x = Tensor(rng.normal(size=(6, 3)), requires_grad=True)
    target = rng.normal(size=(6, 2))
    assert gradcheck(lambda x, *params: F.mse_loss(model(x), target), [x, *model.parameters()])
