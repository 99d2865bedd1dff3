"""Model size and cost: depth, parameter count and multiply-adds per output pixel."""

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
