"""One inference path: the module that the harness, ``speed`` and ``bench inference`` call.

:func:`inference_model` turns a model into the module to call for inference on a device. On a
CPU with float32 weights it returns a prepared copy that computes the same function in fp32,
faster:

* channels_last weights, so that oneDNN convolves in its native NHWC layout instead of
  reordering every activation to its blocked layout and back (a single-channel ILR and output
  are NCHW and NHWC at once, so no input or output conversion is needed);
* a batch-norm that only reads one convolution's output is folded into a copy of that
  convolution for this call site (DRRN's shared ``conv1`` gets one folded copy per unit, as
  every unit has its own BN statistics);
* a ReLU or an addition whose operand is a fresh tensor that nothing else reads runs in place:
  no new tensor, so no fresh pages for the kernel to fault in (a 128-channel 288 x 288 map is
  42 MB, beyond glibc's mmap threshold: every out-of-place ReLU of DRRN paid ~20 ms of page
  faults for ~1.5 ms of arithmetic);
* a convolution whose non-zero ``padding_mode`` pads by zero pixels (SRCNN 9-1-5's 1 x 1 layer)
  skips the padding copy;
* two convolutions oneDNN runs slowly as they are take another form: a 1 x 1 conv goes to
  oneDNN explicitly (:class:`PointwiseConv`), a conv to one output channel becomes a 1 x 1
  conv to one plane per kernel tap and a sum of shifted planes (:class:`TapSumConv`);
* every call runs within :func:`freed_memory_kept`: the tensor memory a forward frees is
  reused by its later tensors instead of going back to the OS (so conv outputs, too, land on
  pages already mapped), and handed back when the forward ends.

The rule (tests/test_inference.py): fp32 throughout, outputs within :data:`TOLERANCE` of the
eager model on [0, 1] inputs (:func:`output_difference`), checked here on a probe input
before the prepared module is returned (else the eager model is returned, with a warning).
torch.compile is not used:
measured by ``python -m benchmark bench inference`` (README, Performance), it does not pay on
the CPU for images of a hundred different sizes.

Elsewhere (CUDA, float64 methods such as bicubic, modules without weights) the model itself
is returned in eval mode.
"""

from __future__ import annotations

import copy
import inspect
import operator
import warnings
import weakref
from typing import Any, Callable, Iterator

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F
from torch.fx.passes.shape_prop import ShapeProp
from torch.nn.utils.fusion import fuse_conv_bn_eval

from benchmark.memory import freed_memory_kept

__all__ = ["TOLERANCE", "KeptMemory", "PointwiseConv", "TapSumConv", "freed_memory_kept",
           "inference_model", "output_difference"]

#: Largest difference from the eager model allowed on [0, 1] inputs (:func:`output_difference`).
TOLERANCE = 1e-4
#: Side of the random probe image the prepared module is checked on.
PROBE_SIZE = 16

#: Ops whose result is a new tensor, never a view or one of their inputs: only these may be
#: overwritten in place by the ReLU or addition that is their only reader.
_FRESH_MODULES: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.BatchNorm2d)
_FRESH_FUNCTIONS = {operator.add, operator.sub, operator.mul, torch.add, torch.sub, torch.mul,
                    F.relu, torch.relu, torch.relu_}
_RELUS = {F.relu, torch.relu}
_ADDS = {operator.add, torch.add}

#: model -> (its state when prepared, the prepared module); weak, so a dropped model frees both.
_CACHE: "weakref.WeakKeyDictionary[nn.Module, tuple[tuple, nn.Module]]" = (
    weakref.WeakKeyDictionary())


def inference_model(model: nn.Module, device: str | torch.device | None = None) -> nn.Module:
    """The module to call for inference of ``model`` on ``device``.

    Parameters
    ----------
    model : nn.Module
        A registered method's model (any module mapping ``(N, 1, H, W)`` to the same shape),
        called as ``model(x)``. It is not modified (beyond being moved to ``device`` and put
        in eval mode).
    device : str or torch.device, optional
        Default: the device of the model's first parameter (the CPU for none).

    Returns
    -------
    nn.Module
        On a CPU with float32 weights: the prepared copy described in the module docstring,
        eval-mode semantics, within :data:`TOLERANCE` of ``model``; otherwise ``model``. A
        second call on the same, unchanged model returns the same module; a model whose
        weights changed since (training, ``load_state_dict``) is prepared again.
    """
    dev = torch.device(device) if device is not None else _device_of(model)
    if dev.type != "cpu" or not _is_float32(model):
        return model.to(dev).eval()
    cached = _CACHE.get(model)
    if cached is not None and cached[0] == _state_key(model, dev):
        return cached[1]
    model.to(dev).eval()
    # Built outside any caller's inference_mode: its weights must be ordinary tensors.
    with torch.inference_mode(False), torch.no_grad():
        prepared = _checked(model, _prepare_cpu(model))
    _CACHE[model] = (_state_key(model, dev), prepared)
    return prepared


def _device_of(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _is_float32(model: nn.Module) -> bool:
    floats = [t.dtype for t in _tensors(model) if t.is_floating_point()]
    return bool(floats) and all(d == torch.float32 for d in floats)


def _tensors(model: nn.Module) -> Iterator[torch.Tensor]:
    yield from model.parameters()
    yield from model.buffers()


def _state_key(model: nn.Module, device: torch.device) -> tuple:
    """What the prepared copy depends on: every weight tensor and its in-place version
    counter (an optimiser step or ``load_state_dict`` bumps it), and the device."""
    return (str(device), tuple((id(t), _version(t)) for t in _tensors(model)))


def _version(tensor: torch.Tensor) -> int:
    try:
        return tensor._version
    except RuntimeError:  # an inference tensor has none, and nothing outside inference mode
        return -1  # may write to it


def _prepare_cpu(model: nn.Module) -> nn.Module:
    """The CPU transforms of the module docstring on a copy of ``model``."""
    work = copy.deepcopy(model).eval()
    _skip_empty_padding(work)
    try:
        graph: fx.GraphModule | None = _trace(work)
    except Exception:  # noqa: BLE001 - a model FX cannot trace keeps the module transforms only
        graph = None
    if graph is not None:
        _fold_batch_norms(graph)  # before the convs below replace the Conv2d it looks for
        work = graph
    _use_fast_convs(work)
    if graph is not None:
        _run_in_place(graph)
        graph.recompile()
    return KeptMemory(work.to(memory_format=torch.channels_last))


def _skip_empty_padding(model: nn.Module) -> None:
    """A conv whose non-zero padding mode pads 0 pixels: its ``F.pad`` is a plain copy."""
    for module in model.modules():
        if (isinstance(module, nn.Conv2d) and module.padding_mode != "zeros"
                and isinstance(module.padding, tuple) and not any(module.padding)):
            module.padding_mode = "zeros"


def _pointwise(x: torch.Tensor, weight: torch.Tensor,
               bias: torch.Tensor | None = None) -> torch.Tensor:
    """A 1 x 1 convolution through oneDNN. On one thread PyTorch sends 1 x 1 convs to MKL's
    sgemm instead, which on AMD processors runs its AVX2 path: under half the rate."""
    # torch.compile traces with fake tensors, which the raw oneDNN op refuses; inductor
    # chooses its own kernel for F.conv2d anyway.
    if (torch.backends.mkldnn.is_available() and x.dtype == torch.float32 and x.is_cpu
            and not _compiling()):
        return torch.mkldnn_convolution(x, weight, bias, (0, 0), (1, 1), (1, 1), 1)
    return F.conv2d(x, weight, bias)


def _compiling() -> bool:
    is_compiling = getattr(torch.compiler, "is_compiling", None)  # torch >= 2.3
    return bool(is_compiling and is_compiling())


class PointwiseConv(nn.Module):
    """A plain 1 x 1 ``nn.Conv2d`` (stride 1, no padding) run by :func:`_pointwise`."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.weight, self.bias = conv.weight, conv.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _pointwise(x, self.weight, self.bias)


class TapSumConv(nn.Module):
    """A k x k conv to one output channel as a 1 x 1 conv to k^2 tap planes (one per kernel
    position), padded, and the sum of the k^2 planes each shifted by its tap.

    oneDNN has no fast kernel for one output channel (SRCNN's 5 x 5 32 -> 1 ran at 14
    GFLOP/s); a 1 x 1 conv commutes with padding (it is pointwise and has no bias), so the
    k^2 small planes are padded instead of the wide input.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        kh, kw = conv.kernel_size
        # Tap t = dy * kw + dx holds the input-channel weights of kernel position (dy, dx).
        taps = conv.weight.detach()[0].permute(1, 2, 0).reshape(kh * kw, -1, 1, 1)
        self.weight = nn.Parameter(taps.clone(), requires_grad=False)
        self.bias = conv.bias
        self.kernel = (kh, kw)
        ph, pw = conv.padding  # type: ignore[misc]
        self.pad = (pw, pw, ph, ph)
        self.mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        planes = _pad(_pointwise(x, self.weight).contiguous(), self.pad, self.mode)
        kh, kw = self.kernel
        h, w = planes.shape[-2] - kh + 1, planes.shape[-1] - kw + 1
        out = planes[:, :1, :h, :w].clone()
        for t in range(1, kh * kw):
            dy, dx = divmod(t, kw)
            out += planes[:, t:t + 1, dy:dy + h, dx:dx + w]
        if self.bias is not None:
            out += self.bias.view(1, -1, 1, 1)
        return out


def _pad(x: torch.Tensor, pad: tuple[int, int, int, int], mode: str) -> torch.Tensor:
    """``F.pad(x, pad, mode)`` of an NCHW tensor; replicate padding by five block copies
    (the same values: copies), as PyTorch's CPU replication kernel ran ~8 ms on 25 planes of
    288 x 288 that these copies fill in under 1 ms."""
    if mode != "replicate" or _compiling():
        return F.pad(x, pad, mode=mode)
    left, right, top, bottom = pad
    h, w = x.shape[-2:]
    out = x.new_empty((*x.shape[:-2], h + top + bottom, w + left + right))
    out[..., top:top + h, left:left + w] = x
    out[..., :top, left:left + w] = x[..., :1, :]
    out[..., top + h:, left:left + w] = x[..., -1:, :]
    out[..., :, :left] = out[..., :, left:left + 1]
    out[..., :, left + w:] = out[..., :, left + w - 1:left + w]
    return out


def _faster_conv(conv: nn.Module) -> nn.Module | None:
    """The replacement of a conv that oneDNN runs slowly as it is, if any."""
    if not isinstance(conv, nn.Conv2d) or conv.groups != 1 or conv.stride != (1, 1) \
            or conv.dilation != (1, 1) or not isinstance(conv.padding, tuple):
        return None
    if conv.kernel_size == (1, 1) and not any(conv.padding):
        return PointwiseConv(conv)
    if conv.out_channels == 1:
        return TapSumConv(conv)
    return None


def _use_fast_convs(root: nn.Module) -> int:
    """Swap every conv :func:`_faster_conv` has a replacement for. Returns how many."""
    swapped = 0
    for parent in list(root.modules()):
        for name, child in list(parent.named_children()):
            faster = _faster_conv(child)
            if faster is not None:
                setattr(parent, name, faster)
                swapped += 1
    return swapped


class _Tracer(fx.Tracer):
    """FX's tracer, keeping this module's conv replacements whole (one node each)."""

    def is_leaf_module(self, m: nn.Module, qualified_name: str) -> bool:
        return isinstance(m, (PointwiseConv, TapSumConv)) or super().is_leaf_module(
            m, qualified_name)


def _trace(model: nn.Module) -> fx.GraphModule:
    """FX graph of ``model(x)``, the forward's other arguments at their defaults, with every
    node's output shape recorded (``node.meta["tensor_meta"]``) on a probe input."""
    params = list(inspect.signature(model.forward).parameters.values())[1:]
    concrete = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}
    traced = _Tracer().trace(model, concrete_args=concrete or None)
    graph = fx.GraphModule(model, traced, type(model).__name__)
    ShapeProp(graph).propagate(_probe())
    return graph


def _probe() -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(1, 1, PROBE_SIZE, PROBE_SIZE, generator=gen)


def _module(graph: fx.GraphModule, node: fx.Node) -> nn.Module | None:
    return graph.get_submodule(str(node.target)) if node.op == "call_module" else None


def _fold_batch_norms(graph: fx.GraphModule) -> int:
    """conv -> BN, the BN the conv output's only reader: one folded conv for this call site.

    Returns the number of batch-norms folded.
    """
    folded = 0
    for node in list(graph.graph.nodes):
        bn = _module(graph, node)
        if not isinstance(bn, nn.BatchNorm2d) or bn.running_mean is None:
            continue
        source = node.args[0]
        conv = _module(graph, source) if isinstance(source, fx.Node) else None
        if not isinstance(conv, nn.Conv2d) or len(source.users) != 1:
            continue
        name = f"_folded_{folded}"
        graph.add_submodule(name, fuse_conv_bn_eval(conv, bn))
        source.target = name
        node.replace_all_uses_with(source)
        graph.graph.erase_node(node)
        folded += 1
    graph.delete_all_unused_submodules()
    return folded


def _is_fresh(graph: fx.GraphModule, node: Any) -> bool:
    """``node`` makes a new tensor that only one op reads (so that op may overwrite it)."""
    if not isinstance(node, fx.Node) or len(node.users) != 1:
        return False
    if node.op == "call_module":
        module = _module(graph, node)
        if isinstance(module, nn.ReLU):  # an in-place ReLU module returns its input
            return not module.inplace
        return isinstance(module, _FRESH_MODULES + (PointwiseConv, TapSumConv))
    if node.op == "call_method":  # an add_ made below: it wrote into a fresh operand
        return node.target == "add_"
    return node.op == "call_function" and node.target in _FRESH_FUNCTIONS


def _same_shape(a: Any, b: fx.Node) -> bool:
    meta_a, meta_b = (n.meta.get("tensor_meta") if isinstance(n, fx.Node) else None
                      for n in (a, b))
    return (meta_a is not None and meta_b is not None and meta_a.shape == meta_b.shape
            and meta_a.dtype == meta_b.dtype)


def _run_in_place(graph: fx.GraphModule) -> int:
    """ReLUs and additions of fresh, singly-read tensors in place. Returns how many."""
    changed = 0
    for node in list(graph.graph.nodes):
        relu = (node.op == "call_function" and node.target in _RELUS) or (
            isinstance(_module(graph, node), nn.ReLU))
        if relu and _is_fresh(graph, node.args[0]):
            node.op, node.target, node.args, node.kwargs = (
                "call_function", torch.relu_, (node.args[0],), {})
            changed += 1
        elif (node.op == "call_function" and node.target in _ADDS and len(node.args) == 2
              and not node.kwargs):
            # The result takes the fresh operand's storage: its shape must be the result's.
            a, b = node.args
            for into, other in ((a, b), (b, a)):
                if _is_fresh(graph, into) and _same_shape(into, node):
                    node.op, node.target, node.args = "call_method", "add_", (into, other)
                    changed += 1
                    break
    return changed


def output_difference(reference: Callable[[torch.Tensor], torch.Tensor],
                      candidate: Callable[[torch.Tensor], torch.Tensor],
                      x: torch.Tensor) -> float:
    """Largest absolute difference of ``candidate(x)`` from ``reference(x)``, divided by the
    reference output's largest magnitude when that exceeds 1.

    A trained SR model's output is the image, within about [0, 1]: the plain absolute
    difference. fp32 rounding grows with the values, and a randomly initialised deep net
    (DRRN_C reaches 1e3) is held to the same relative precision.
    """
    with torch.inference_mode():
        ref, out = reference(x).double(), candidate(x).double()
    return float((out - ref).abs().max() / max(1.0, float(ref.abs().max())))


def _checked(model: nn.Module, prepared: nn.Module) -> nn.Module:
    """``prepared`` if it is within :data:`TOLERANCE` of ``model`` on the probe, else
    ``model``."""
    try:
        error = output_difference(model, prepared, _probe())
    except Exception as exc:  # noqa: BLE001 - a prepared copy that fails is not used
        error, reason = float("inf"), f"{type(exc).__name__}: {exc}"
    else:
        reason = f"difference {error:.2g} on a {PROBE_SIZE}x{PROBE_SIZE} probe"
    if error <= TOLERANCE:
        return prepared
    warnings.warn(f"prepared inference of {type(model).__name__} is not within {TOLERANCE} of "
                  f"eager ({reason}); using the eager model")
    return model


class KeptMemory(nn.Module):
    """``module`` whose every call runs within :func:`freed_memory_kept`."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with freed_memory_kept():
            return self.module(x)
