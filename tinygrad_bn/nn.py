"""Modules: layers that own parameters, PyTorch's `torch.nn` habits on our Tensor engine.

    model = nn.Sequential(nn.Linear(2, 16, rng=0), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 2, rng=1))
    loss = functional.cross_entropy(model(x), y); loss.backward()
    [name for name, p in model.named_parameters()]  # ['0.weight', '0.bias', '1.weight', '1.bias', '3.weight', ...]
    model.eval()                                     # batch norm now uses its running statistics

How a Module finds what it owns: no registration step, only the attributes set in `__init__`,
read with `vars(self)` in the order they were set:

    a Tensor attribute     is a parameter   (learned; optimizers update it; its .grad is filled)
    a numpy array          is a buffer      (state that is not learned: batch norm's running stats)
    a Module attribute     is a child       (its parameters and buffers are ours too, names prefixed)

A parameter is a leaf, a Tensor you made (`Tensor(data, requires_grad=True)`): a Tensor that an op
made, such as an activation kept as `self.out = ...` for a plot, is left out, as PyTorch leaves out
a plain tensor attribute. So scale an initialization's numbers, `Tensor(w * 0.5, requires_grad=True)`,
not the Tensor: `Tensor(w, requires_grad=True) * 0.5` is an op's result, and no parameter. Layers in
a plain Python list are not looked into (as in PyTorch): hold them in a ModuleList or a Sequential.
Anything else (numbers, flags, None) is configuration.

Parameters are float64 unless a module is given `dtype=np.float32`: this is a teaching engine, and
float64 is what finite-difference checks need.
"""
from __future__ import annotations

import copy
import numbers
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from . import functional as F
from .tensor import Tensor


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict` returns, as in PyTorch: the model's keys the state_dict lacks, and the
    state_dict's keys the model has no place for. Both empty: every entry was loaded."""
    missing_keys: list
    unexpected_keys: list


class Module:
    """Base class: subclasses call `super().__init__()`, set their parts as attributes, and define
    `forward`. `module(x)` calls `module.forward(x)`."""

    def __init__(self):
        self.training = True

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    # ---- what a module owns

    def _own(self, kind) -> list:
        """This module's own attributes of one kind, as (name, value), in the order they were set
        (of Tensors, the leaves only: see the module's docstring)."""
        return [(name, value) for name, value in vars(self).items()
                if isinstance(value, kind) and (kind is not Tensor or value.is_leaf)]

    def named_children(self) -> list:
        """The direct submodules, as (name, module)."""
        return self._own(Module)

    def children(self) -> list:
        return [module for _, module in self.named_children()]

    def named_modules(self, prefix: str = "", remove_duplicate: bool = True):
        """This module and every submodule below it, as (dotted name, module), parents before
        children. A module reachable twice (shared, or twice in a Sequential) is listed once, under
        its first name; with remove_duplicate=False under each name, as state_dict lists it (PyTorch's rules)."""
        seen, stack = set(), [(prefix, self, ())]
        while stack:
            name, module, ancestors = stack.pop()
            if id(module) in seen or id(module) in ancestors:  # ancestors: a module inside itself ends the walk
                continue
            if remove_duplicate:
                seen.add(id(module))
            yield name, module
            children = [(f"{name}.{child_name}" if name else child_name, child, ancestors + (id(module),))
                        for child_name, child in module.named_children()]
            stack.extend(reversed(children))

    def modules(self) -> list:
        return [module for _, module in self.named_modules()]

    def _named_members(self, kind):
        """(dotted name, value) for every parameter (kind=Tensor) or buffer (kind=np.ndarray) of the
        module tree, module by module; an object shared by two modules is listed once."""
        seen = set()
        for prefix, module in self.named_modules():
            for name, value in module._own(kind):
                if id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{prefix}.{name}" if prefix else name), value

    def named_parameters(self):
        """Every parameter, as (dotted name, Tensor): "0.weight" is the weight of child "0"."""
        return self._named_members(Tensor)

    def parameters(self) -> list:
        """Every parameter Tensor, once each, in a fixed order: what an optimizer is given."""
        return [p for _, p in self.named_parameters()]

    def named_buffers(self):
        """Every buffer (a numpy array that is state, not learned), as (dotted name, array)."""
        return self._named_members(np.ndarray)

    def buffers(self) -> list:
        return [array for _, array in self.named_buffers()]

    def label_parameters(self):
        """Set each parameter's label to its dotted name, so diagrams show "0.weight". Sequential
        does this when it is built; call it at the end of your own module's __init__ if you like."""
        for name, p in self.named_parameters():
            p.label = name
        return self

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (set it to None, as PyTorch does by default)."""
        for p in self.parameters():
            p.zero_grad()

    # ---- training or evaluating

    def train(self, mode: bool = True):
        """Put this module and every submodule in training mode (or eval mode if mode=False)."""
        if not isinstance(mode, bool):
            raise TypeError(f"{type(self).__name__}.train: mode must be True or False, got {mode!r}")
        for _, module in self.named_modules():
            module.training = mode
        return self

    def eval(self):
        """Evaluation mode: batch norm uses its running statistics. Same as train(False)."""
        return self.train(False)

    # ---- saving and loading

    def _state(self) -> list:
        """(dotted name, array) for every entry of the state: per module, parameters then buffers. A
        module or a Tensor reachable under two names is an entry under each (as in PyTorch's state_dict)."""
        entries = []
        for prefix, module in self.named_modules(remove_duplicate=False):
            own = [(name, p.data) for name, p in module._own(Tensor)] + module._own(np.ndarray)
            entries += [((f"{prefix}.{name}" if prefix else name), array) for name, array in own]
        return entries

    def state_dict(self) -> dict:
        """Every parameter and buffer, as {dotted name: numpy copy}. Keys and order match PyTorch's
        (a shared module's entries under each of its names, though named_parameters lists them once)."""
        return {name: array.copy() for name, array in self._state()}

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy the arrays of `state_dict` into this module's parameters and buffers, in place, and
        return IncompatibleKeys(missing_keys, unexpected_keys), as PyTorch does.

        strict=True: every key must match (a missing or an unexpected key is a ValueError naming them).
        strict=False: those keys are only listed in the result; the keys present are loaded and the
        missing ones keep their values. Read that result: a state_dict whose keys all differ (each
        prefixed "model.", say) loads nothing and raises nothing.
        Either way, every key that is loaded must match in shape (ValueError naming the key and both
        shapes) and hold real numbers (TypeError). Everything is checked before anything is copied,
        so a failed load leaves the module as it was. Values may be numpy arrays, Tensors, or anything
        numpy can read (a CPU torch state_dict works as is).
        """
        where = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{where}: state_dict must be a dict of name -> array, got {type(state_dict).__name__}")
        if not isinstance(strict, bool):
            raise TypeError(f"{where}: strict must be True or False, got {strict!r}")
        state = dict(self._state())
        missing = [name for name in state if name not in state_dict]
        unexpected = [name for name in state_dict if name not in state]
        if strict and (missing or unexpected):
            raise ValueError(f"{where}: missing key(s) {missing}, unexpected key(s) {unexpected}")
        values = {}
        for name, target in state.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            if isinstance(value, Tensor):
                value = value.data
            elif hasattr(value, "detach"):  # a torch tensor: a torch model's parameters require grad
                value = value.detach()
            value = np.asarray(value)
            if value.dtype.kind not in "biuf":
                raise TypeError(f"{where}: {name!r} must hold real numbers, got dtype {value.dtype}")
            if value.shape != target.shape:
                raise ValueError(f"{where}: {name!r} has shape {value.shape} in the state_dict, "
                                 f"but {target.shape} in the model")
            values[name] = value
        for name, value in values.items():
            state[name][...] = value
        return IncompatibleKeys(missing, unexpected)

    # ---- printing

    def extra_repr(self) -> str:
        """The configuration shown between the parentheses of repr(module)."""
        return ""

    def __repr__(self):
        children = self.named_children()
        if not children:
            return f"{type(self).__name__}({self.extra_repr()})"
        lines = [f"  ({name}): " + repr(child).replace("\n", "\n  ") for name, child in children]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)"


def _positive_int(value, name: str, where: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"{where}: {name} must be at least 1, got {value}")
    return int(value)


def _number(value, name: str, where: str):
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{where}: {name} must be a number, got {type(value).__name__} {value!r}")
    return value


def _float_dtype(dtype, where: str) -> np.dtype:
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise TypeError(f"{where}: dtype must be np.float32 or np.float64, got {np.dtype(dtype)}")
    return np.dtype(dtype)


def _check_input(x, where: str):
    if not isinstance(x, Tensor):
        raise TypeError(f"{where}: expected a Tensor, got {type(x).__name__}")


class Linear(Module):
    """y = x @ W.T + b, with W of shape (out_features, in_features) and b of shape (out_features,).

    Initialized as PyTorch does: every weight and bias uniform in (-k, k) with k = 1/sqrt(in_features)
    (the kaiming-uniform rule with a = sqrt(5) works out to exactly this bound). `rng` makes the
    initialization reproducible: an int seed or a numpy Generator (None: fresh random numbers).
    `dtype` is float64 unless given (np.float32 for speed).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, rng=None, dtype=np.float64):
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features", "Linear")
        self.out_features = _positive_int(out_features, "out_features", "Linear")
        dtype = _float_dtype(dtype, "Linear")
        try:
            rng = np.random.default_rng(rng)
        except (TypeError, ValueError) as error:  # numpy's own message does not say which argument
            raise type(error)(f"Linear: rng must be an int seed >= 0, a numpy Generator or None, "
                              f"got {type(rng).__name__} {rng!r}") from None
        k = 1.0 / np.sqrt(in_features)
        self.weight = Tensor(rng.uniform(-k, k, (out_features, in_features)), requires_grad=True,
                             label="weight", dtype=dtype)
        self.bias = (Tensor(rng.uniform(-k, k, out_features), requires_grad=True, label="bias", dtype=dtype)
                     if bias else None)

    def forward(self, x: Tensor) -> Tensor:
        where = f"Linear(in_features={self.in_features}, out_features={self.out_features})"
        _check_input(x, where)
        if x.ndim not in (1, 2) or x.shape[-1] != self.in_features:
            raise ValueError(f"{where}: expected input of shape (N, {self.in_features}) or "
                             f"({self.in_features},), got {x.shape}")
        out = x @ self.weight.T
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class ReLU(Module):
    """y = max(x, 0), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, "ReLU")
        return x.relu()


class Tanh(Module):
    """y = tanh(x), elementwise."""

    def forward(self, x: Tensor) -> Tensor:
        _check_input(x, "Tanh")
        return x.tanh()


class ModuleList(Module):
    """Modules held in a list, whose parameters and buffers are the model's (the layers of a plain
    Python list are not looked into, as in PyTorch):

        self.blocks = nn.ModuleList(nn.Linear(8, 8) for _ in range(3))

    Children are named "0", "1", ... by position, so parameters are "0.weight", "0.bias", .... Index
    it (`blocks[0]`, `blocks[-1]`, a slice gives a new one of the same kind), iterate it, take its
    len(), append() to it. It has no forward: your module decides how its parts are called.
    """

    def __init__(self, modules=()):
        super().__init__()
        self.layers = []
        for module in modules:
            self.append(module)

    def append(self, module: Module):
        if not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: argument {len(self.layers)} is a {type(module).__name__}, "
                            f"not a Module")
        self.layers.append(module)
        return self

    def named_children(self) -> list:
        return [(str(index), module) for index, module in enumerate(self.layers)]

    def __getitem__(self, index):
        if isinstance(index, slice):
            part = copy.copy(self)  # the same kind and configuration, holding the slice (named from "0" again)
            part.layers = self.layers[index]
            return part
        if not isinstance(index, numbers.Integral):
            raise TypeError(f"{type(self).__name__} indices must be integers or slices, got {type(index).__name__}")
        if not -len(self.layers) <= index < len(self.layers):
            raise IndexError(f"{type(self).__name__} index {index} is out of range for {len(self.layers)} module(s)")
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)


class Sequential(ModuleList):
    """Modules applied one after the other: `Sequential(a, b, c)(x)` is `c(b(a(x)))`.

    A ModuleList with a forward: children named "0", "1", ..., indexed, sliced, iterated as there.
    The children's names become the parameters' labels ("0.weight", ...) when the Sequential is built.
    """

    def __init__(self, *modules: Module):
        super().__init__(modules)
        self.label_parameters()

    def forward(self, x):
        for module in self.layers:
            x = module(x)
        return x


class _BatchNorm(Module):
    """Batch normalization with PyTorch's semantics (BatchNorm1d and BatchNorm2d differ only in the
    input layouts they accept).

    Training (`model.train()`, the default), per channel over the batch (and any spatial axes):
        y = weight * (x - batch_mean) / sqrt(batch_var + eps) + bias      batch_var: divide by n
        running_mean = (1 - momentum) * running_mean + momentum * batch_mean
        running_var  = (1 - momentum) * running_var  + momentum * batch_var * n / (n - 1)
    The running variance takes the UNBIASED batch variance (Bessel's n - 1), the normalization the
    biased one: PyTorch's rule exactly. `momentum=None` averages all batches equally instead
    (cumulative moving average: the factor is 1 / num_batches_tracked).

    Evaluation (`model.eval()`): y = weight * (x - running_mean) / sqrt(running_var + eps) + bias,
    so a batch of one input works: the lecture's "at test time inputs come one by one".

    Keras writes the same average the other way round, moving = momentum * moving + (1 - momentum) *
    batch, so Keras's `momentum=0.99` is our `momentum=0.01` (= 1 - 0.99); Keras's default epsilon
    is 1e-3, ours (and PyTorch's) 1e-5.

    weight (gamma, init 1) and bias (beta, init 0) are parameters (None when affine=False).
    running_mean (init 0), running_var (init 1) and num_batches_tracked (init 0) are buffers: numpy
    arrays updated in place from the batch statistics' raw data, never part of the gradient graph.
    With track_running_stats=False there are no buffers (they are None) and batch statistics are used
    in eval mode too. `fused` chooses the training path: one BatchNormFn node with a hand-derived
    backward (True) or a cluster of primitive nodes you can draw (False); eval mode is always
    composed (the statistics are constants there).
    """
    _ndims = ()  # the numbers of dimensions of the accepted input layouts, set by each subclass

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, fused: bool = False, *, dtype=np.float64):
        super().__init__()
        name = type(self).__name__
        self.num_features = _positive_int(num_features, "num_features", name)
        if not _number(eps, "eps", name) >= 0:
            raise ValueError(f"{name}: eps must be a number >= 0, got {eps!r}")
        if momentum is not None and not 0 <= _number(momentum, "momentum", name) <= 1:
            raise ValueError(f"{name}: momentum must be in [0, 1] or None, got {momentum!r}")
        dtype = _float_dtype(dtype, name)
        self.eps, self.momentum = float(eps), momentum
        self.affine, self.track_running_stats, self.fused = bool(affine), bool(track_running_stats), bool(fused)
        self.weight = self.bias = None
        if affine:
            self.weight = Tensor(np.ones(num_features), requires_grad=True, label="weight", dtype=dtype)
            self.bias = Tensor(np.zeros(num_features), requires_grad=True, label="bias", dtype=dtype)
        self.running_mean = self.running_var = self.num_batches_tracked = None
        if track_running_stats:
            self.running_mean = np.zeros(num_features, dtype=dtype)
            self.running_var = np.ones(num_features, dtype=dtype)
            self.num_batches_tracked = np.array(0, dtype=np.int64)

    def _check(self, x: Tensor) -> str:
        where = f"{type(self).__name__}({self.num_features})"
        _check_input(x, where)
        layouts = F._layouts_text(self._ndims)
        if x.ndim not in self._ndims:
            raise ValueError(f"{where}: expected input of shape {layouts}, got {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{where}: expected {self.num_features} channels (axis 1 of {layouts}), "
                             f"got input of shape {x.shape}")
        return where

    def forward(self, x: Tensor) -> Tensor:
        where = self._check(x)
        if not self.training and self.track_running_stats:
            return F.batch_norm(x, self.weight, self.bias, eps=self.eps,
                                running_mean=self.running_mean, running_var=self.running_var)
        n = x.numel() // self.num_features
        if n < 2 and self.track_running_stats:
            raise ValueError(f"{where}: expected more than 1 value per channel when training, got input "
                             f"of shape {x.shape} (use eval() to normalize one input with the running statistics)")
        if n < 2:
            raise ValueError(f"{where}: expected more than 1 value per channel, got input of shape {x.shape} "
                             f"(with track_running_stats=False there are no running statistics: batch "
                             f"statistics are used in eval() too)")
        out, mean, var = F.batch_norm_train(x, self.weight, self.bias, self.eps, self.fused)
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            self.running_mean *= 1 - factor
            self.running_mean += factor * mean
            self.running_var *= 1 - factor
            self.running_var += factor * (var * n / (n - 1))
        return out

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}, fused={self.fused}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) input: statistics per channel C over N (and L).
    The arguments, the training/eval rules and Keras's momentum: see _BatchNorm."""
    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) input: statistics per channel C over N, H and W.
    The arguments, the training/eval rules and Keras's momentum: see _BatchNorm."""
    _ndims = (4,)
