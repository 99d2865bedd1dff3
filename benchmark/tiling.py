"""Memory-bounded inference: run a fully-convolutional SR model tile by tile.

Every output pixel of a stack of stride-1 'same' convolutions depends only on the input pixels
within its receptive-field radius r (one pixel per 3x3 conv application). A tile whose input
crop extends ``overlap >= r`` pixels past its core on every side that is not an image border
therefore computes its core exactly as the whole image would: the zero (or replicate) padding
the tile sees at its crop edge only corrupts the outer r pixels, which are discarded, and at an
image border the crop edge *is* the image edge, so the padding is the same. Batch-norm in eval
mode is a per-channel affine map, so it does not break this; in train mode (batch statistics)
tiling is not exact and is refused.
"""

from __future__ import annotations

import torch
import torch.nn as nn


def receptive_radius(model: nn.Module) -> int:
    """Receptive-field radius of ``model`` in pixels.

    Uses ``model.receptive_radius`` when the model defines it (all built-in methods do: for
    DRCN the deepest path, not every call). Otherwise runs a tiny forward pass and sums
    ``dilation * (kernel - 1) / 2`` over every conv *call*: an upper bound for models with
    parallel branches, exact for chains.
    """
    radius = getattr(model, "receptive_radius", None)
    if radius is not None:
        return int(radius)
    total = 0

    def hook(mod: nn.Module, _inp, _out) -> None:
        nonlocal total
        if mod.stride not in ((1, 1), 1):
            raise ValueError("forward_tiled needs stride-1 convolutions")
        total += max(d * (k - 1) // 2 for k, d in zip(mod.kernel_size, mod.dilation))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        param = next(model.parameters(), None)
        probe = torch.zeros(1, 1, 8, 8, dtype=param.dtype if param is not None else torch.float32,
                            device=param.device if param is not None else "cpu")
        with torch.no_grad():
            model(probe)
    finally:
        for h in handles:
            h.remove()
    return total


def forward_tiled(model: nn.Module, x: torch.Tensor, tile: int, overlap: int | None = None) -> torch.Tensor:
    """``model(x)`` computed on ``tile`` x ``tile`` output tiles; equal to the whole-image output.

    Parameters
    ----------
    model : nn.Module
        A 'same'-size, stride-1 fully convolutional model, in eval mode if it has batch-norm.
    x : Tensor
        ``(N, C, H, W)`` input.
    tile : int
        Side of the output core computed per call; each call sees at most
        ``(tile + 2 * overlap)^2`` input pixels, which bounds activation memory.
    overlap : int, optional
        Context added on every side of a core; defaults to :func:`receptive_radius`. Smaller
        values than the radius give approximate results near tile seams (allowed, not checked).

    Returns
    -------
    Tensor
        ``(N, C_out, H, W)``, equal to ``model(x)`` up to floating-point summation order.
    """
    if tile < 1:
        raise ValueError(f"tile must be positive, got {tile}")
    if any(m.training for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)):
        raise ValueError("forward_tiled with batch-norm in train mode is not exact; call model.eval()")
    if overlap is None:
        overlap = receptive_radius(model)
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0, got {overlap}")
    n, _, h, w = x.shape
    if h <= tile and w <= tile:
        return model(x)
    out: torch.Tensor | None = None
    for y0 in range(0, h, tile):
        y1 = min(y0 + tile, h)
        ya, yb = max(y0 - overlap, 0), min(y1 + overlap, h)
        for x0 in range(0, w, tile):
            x1 = min(x0 + tile, w)
            xa, xb = max(x0 - overlap, 0), min(x1 + overlap, w)
            y = model(x[:, :, ya:yb, xa:xb])
            if out is None:  # output channels/dtype known only after the first call
                out = y.new_empty((n, y.shape[1], h, w))
            out[:, :, y0:y1, x0:x1] = y[:, :, y0 - ya : y1 - ya, x0 - xa : x1 - xa]
    assert out is not None
    return out
