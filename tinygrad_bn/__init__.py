"""tinygrad_bn: an educational autodiff engine whose graphs you can draw, list, check and step through.

Two engines, one graph: `Value` (a Python float per node, micrograd-like) and `Tensor` (a numpy
array per node, PyTorch-like). Ops are `Function`s with forward and backward side by side (ops.py).
"""
from .check_nodes import NodeReport, check_nodes
from .draw import draw_graph
from .function import Context, Function
from .gradcheck import GradcheckError, gradcheck
from .graph import Group, Node, Step, backward_steps, group, is_grad_enabled, no_grad, topological_order, unbroadcast
from .listing import format_graph
from .render import RenderError, render
from .tensor import Tensor
from .value import Value
from . import functional, nn, optim

__version__ = "0.1.0"

__all__ = ["Context", "Function", "GradcheckError", "Group", "Node", "NodeReport", "Step", "Tensor", "Value",
           "RenderError", "backward_steps", "check_nodes", "draw_graph", "format_graph", "gradcheck", "group",
           "is_grad_enabled", "no_grad", "render", "topological_order", "unbroadcast", "__version__"]
