"""Model size and cost: depth, parameters counted two ways, multiply-adds and FLOPs per output
pixel and at the papers' sizes, and the measured peak memory of one forward pass."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from benchmark.registry import create_model


def conv_macs_per_pixel(model: nn.Module, probe: int = 8) -> int:
    """Multiply-adds per output pixel of all conv calls in one forward pass.

    Runs ``model`` on a ``(1, 1, probe, probe)`` zero input with forward hooks on every
    ``nn.Conv2d``; each call counts ``C_out * C_in / groups * k_h * k_w`` per pixel of its output
    (all built-in methods keep the spatial size). A model on the ``meta`` device costs nothing
    to probe (shapes only). Shared layers count once per call, so DRRN's
    recursions and DRCN's D reconstructions are all counted. Bias adds, BN, ReLU and the
    residual additions are not counted.
    """
    total = 0
    pixels = probe * probe

    def hook(mod: nn.Conv2d, _inp, out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = mod.kernel_size
        per_out = mod.in_channels // mod.groups * kh * kw
        # out.numel() / pixels = C_out x (output pixels / input pixels)
        total += per_out * out.numel() // pixels

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    was_training = model.training
    try:
        model.eval()
        param = next(model.parameters(), None)
        dtype = param.dtype if param is not None else torch.float32
        device = param.device if param is not None else torch.device("cpu")
        with torch.no_grad():
            model(torch.zeros(1, 1, probe, probe, dtype=dtype, device=device))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return total


def model_stats(name: str, **overrides: Any) -> dict[str, int | None]:
    """Depth, parameters and conv multiply-adds per output pixel of registered method ``name``.

    Returns
    -------
    dict
        ``depth``: the model's ``depth`` attribute (weight layers on the input-output path,
        recursions included, as the papers count it; None if the model does not say);
        ``params``: number of distinct parameters (shared weights once; BN running statistics
        are buffers, not parameters); ``conv_weights``: conv weights only (no biases/BN);
        ``macs_per_pixel``: see :func:`conv_macs_per_pixel`.
    """
    with torch.device("meta"):  # shapes only: no memory, no init, no arithmetic
        model = create_model(name, **overrides)
    return {
        "depth": getattr(model, "depth", None),
        "params": sum(p.numel() for p in model.parameters()),
        "conv_weights": sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Conv2d)),
        "macs_per_pixel": conv_macs_per_pixel(model),
    }


# ---------------------------------------------------------------------------- compute cost
#: Output sizes (height, width) at which papers state cost: DRRN's 288x288 and a 720p frame.
COST_SIZES = {"288x288": (288, 288), "1280x720": (720, 1280)}
#: The convention, said once wherever costs are printed.
CONVENTION = ("1 MAC (multiply-add) = 2 FLOPs; conv multiply-adds only (no bias, BN, ReLU or "
              "residual adds); per output pixel of the pre-upsampled Y")


def cost_table(name: str, ensemble: str = "", **overrides: Any) -> dict[str, Any]:
    """The compute accounting of one registered method (of its self-ensemble with ``"x8"``:
    8 forward passes, so 8 x the multiply-adds; parameters unchanged).

    Returns
    -------
    dict
        ``macs_per_pixel``, ``flops_per_pixel`` (2 x), ``gmacs_<size>`` and ``gflops_<size>``
        for each of :data:`COST_SIZES`; ``params`` (every distinct learnable parameter: shared
        convs once, BN scales and shifts per unit) and ``conv_weights`` (conv kernels only, the
        count DRRN's "297K" uses); ``depth``.
    """
    from benchmark.ensemble import ENSEMBLES

    stats = model_stats(name, **overrides)
    macs = int(stats["macs_per_pixel"] or 0) * ENSEMBLES[ensemble]
    out: dict[str, Any] = {**stats, "macs_per_pixel": macs, "flops_per_pixel": 2 * macs}
    for label, (h, w) in COST_SIZES.items():
        out[f"gmacs_{label}"] = macs * h * w / 1e9
        out[f"gflops_{label}"] = 2 * macs * h * w / 1e9
    return out


def _profiled_peak(model: nn.Module, x: torch.Tensor) -> int:
    """Peak bytes held by the tensors allocated during ``model(x)``, from the profiler's memory
    records: each op's own allocations at its start, each release at its time."""
    from itertools import accumulate

    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU],
                                         profile_memory=True) as prof:
        model(x)
    timeline = []
    for event in prof.events():
        if event.name == "[memory]":  # a release (or an allocation outside any op)
            timeline.append((event.time_range.start, event.cpu_memory_usage))
        elif event.self_cpu_memory_usage > 0:
            timeline.append((event.time_range.start, event.self_cpu_memory_usage))
    timeline.sort()
    return int(max(accumulate(v for _, v in timeline), default=0))


def peak_forward_bytes(name: str, size: tuple[int, int], device: torch.device,
                       inference: bool = False) -> int:
    """Measured peak memory of one forward pass of ``name`` on a ``size`` (H, W) zero input;
    with ``inference``, of the module :func:`benchmark.inference.inference_model` makes.

    The model weights and the input are not counted. On CUDA: the rise of
    ``torch.cuda.max_memory_allocated`` across the pass. On the CPU: the peak of the bytes
    that the pass's tensors hold, from ``torch.profiler``'s memory records, temporaries such
    as im2col buffers included (a single conv 1 -> 64 at 288x288 gives its 20.25 MiB output).
    """
    h, w = size
    model = create_model(name).to(device).eval()
    if inference:
        from benchmark.inference import inference_model

        model = inference_model(model, device)
    x = torch.zeros(1, 1, h, w, device=device)
    if device.type != "cuda":
        return _profiled_peak(model, x)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    with torch.inference_mode():
        model(x)
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device) - base)
