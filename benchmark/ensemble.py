"""The x8 geometric self-ensemble: the 8 flips/rotations of the input, mapped back, averaged.

``run --self-ensemble`` evaluates a method as the mean of its outputs on the 8 dihedral
transforms of the ILR (4 rotations by 90 degrees, each with and without a left-right flip),
every output transformed back before the mean; the mean is then clipped and quantised like
any output (docs/protocol.md step 5), so the ensemble averages before quantisation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["ENSEMBLES", "TRANSFORMS", "apply", "geometric_x8"]

#: Ensemble names recorded in the ``ensemble`` column ("" is the plain method) -> passes.
ENSEMBLES = {"": 1, "x8": 8}
#: (quarter turns, flip) of each of the 8 transforms.
TRANSFORMS = tuple((k, flip) for k in range(4) for flip in (False, True))


def geometric_x8(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Mean of ``T^-1(model(T(x)))`` over the 8 dihedral transforms ``T`` of ``(N, C, H, W)``."""
    total = torch.zeros_like(x)
    for k, flip in TRANSFORMS:
        t = torch.rot90(x, k, dims=(2, 3))
        if flip:
            t = t.flip(3)
        y = model(t)
        if flip:
            y = y.flip(3)
        total += torch.rot90(y, -k, dims=(2, 3))
    return total / len(TRANSFORMS)


def apply(name: str, model: Callable[[torch.Tensor], torch.Tensor],
          x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` for the plain method (``name == ""``), the x8 ensemble for ``"x8"``."""
    if name == "":
        return model(x)
    if name == "x8":
        return geometric_x8(model, x)
    raise ValueError(f"unknown ensemble {name!r}; known: x8")
